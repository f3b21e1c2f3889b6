//! `exporterctl switch MANIFEST [--dry-run] [--json]`

use super::realise::{load_manifest, realise_locked, resolve, Resolved};
use super::{print_json, Ctx, Host, Outcome, UsageError};
use crate::cli::Mode;
use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::links::Links;
use crate::generation::profile::{self, Current, Profiles};
use crate::generation::state::{self, Change, ExporterState, ProfileState};
use crate::manifest::{Exporter, Manifest};
use crate::realise;
use crate::store::{self, EntryKind, Store, StorePath, HASH_TEXT_LEN};
use crate::switch::{self, crash, unitfile, Options};
use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

pub struct SwitchArgs<'a> {
    pub manifest: &'a Path,
    pub dry_run: bool,
    pub only: &'a [String],
    pub mode: Mode,
    pub atomic: bool,
    pub yes: bool,
    pub quiet: bool,
    pub json: bool,
    /// `--preflight`; `None`: `settings.preflight`.
    pub preflight: Option<crate::preflight::Mode>,
}

/// The state the host is in now: the current farm's, or empty.
pub fn live_state(store: &Store, current: &Current, manifest: &Manifest) -> Result<ProfileState> {
    Ok(match current.farm() {
        Some(f) => profile::read_farm_state(store, f)?,
        None => ProfileState::from_settings(manifest),
    })
}

/// A generated unit file of `e`: added to `store`, or without one (a dry
/// run) only the store path it would get.
fn unit_store_path(store: Option<&Store>, u: &GeneratedUnit) -> Result<StorePath> {
    let Some(store) = store else {
        return Ok(store::one_file_path(&u.rest, &u.file, u.text.as_bytes())?);
    };
    let mut build = |dir: &Path| std::fs::write(dir.join(&u.file), u.text.as_bytes());
    Ok(store.add_tree(&u.rest, EntryKind::Unit, None, &mut build)?)
}

/// One generated unit file: the name part of its store path, its file name
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedUnit {
    pub rest: String,
    pub file: String,
    pub text: String,
}

/// Why a unit file cannot be generated.
#[derive(Debug, thiserror::Error)]
pub enum UnitFileError {
    #[error(transparent)]
    Unsafe(#[from] unitfile::UnsafeValue),
    #[error("refusing to write the units of {exporter}: socket activation: {message}")]
    Socket { exporter: String, message: String },
}

/// The unit files exporterctl writes for `e`: its service, and its socket
/// when socket-activated (`switch::socket`).
pub fn generated_units(manifest: &Manifest, e: &Exporter) -> std::result::Result<Vec<GeneratedUnit>, UnitFileError> {
    let socket = if crate::switch::socket_activation::enabled(e, manifest.settings.service_manager) {
        let plan = crate::switch::socket_activation::plan(e).map_err(|message| UnitFileError::Socket {
            exporter: e.name.escape_debug().to_string(),
            message,
        })?;
        Some(plan)
    } else {
        None
    };
    let socket_name = crate::switch::socket_activation::socket_unit(&e.unit);
    // The sandbox reads the arguments the service runs with.
    let service_e;
    let run = match &socket {
        Some(plan) => {
            let mut with_socket = e.clone();
            with_socket.args = plan.args.clone();
            service_e = with_socket;
            &service_e
        }
        None => e,
    };
    let sandbox = crate::switch::sandbox::for_exporter(run);
    let text = unitfile::render_checked(&unitfile::UnitParams {
        exporter: &e.name,
        exec: &manifest.settings.bin_dir.join(&e.name),
        args: &run.args,
        user: e.user.as_deref(),
        environment: &e.environment,
        sandbox: sandbox.as_ref(),
        socket: socket.as_ref().map(|_| socket_name.as_str()),
    })?;
    let mut units = vec![GeneratedUnit {
        rest: format!("unit-{}", e.unit),
        file: e.unit.clone(),
        text,
    }];
    if let Some(plan) = socket {
        units.push(GeneratedUnit {
            rest: format!("unit-{socket_name}"),
            text: crate::switch::socket_activation::render(&e.name, &e.unit, &plan.listen),
            file: socket_name,
        });
    }
    Ok(units)
}

/// The generated service unit file of `e`: the name part of its store path
/// and its text; refused when a value cannot be carried into a unit file.
pub fn unit_file(manifest: &Manifest, e: &Exporter) -> std::result::Result<(String, String), UnitFileError> {
    let mut units = generated_units(manifest, e)?;
    let service = units.swap_remove(0);
    Ok((service.rest, service.text))
}

/// The text of `e`'s generated unit file (as [`unit_file`]; a value it
/// refuses is reported in place of the text, for ratings and tests).
pub fn unit_text(manifest: &Manifest, e: &Exporter) -> String {
    match unit_file(manifest, e) {
        Ok((_, text)) => text,
        Err(refused) => refused.to_string(),
    }
}

/// How `systemd-analyze security` rates each generated unit of `manifest`,
/// one line per unit, for the dry run and `check`.
pub fn unit_security_lines(manifest: &Manifest) -> Vec<String> {
    if manifest.settings.service_manager != crate::manifest::ServiceManagerKind::Systemd {
        return Vec::new();
    }
    let mut lines = Vec::new();
    for e in manifest.exporters.iter().filter(|e| e.manage_unit) {
        let how = if e.sandbox.enabled {
            "sandboxed"
        } else {
            "sandbox: false"
        };
        let line = match unit_file(manifest, e) {
            Err(refused) => format!("unit security: {} not rated ({how}): {refused}", e.unit),
            Ok((_, text)) => match crate::switch::sandbox::exposure(&e.unit, &text) {
                Ok(rating) => format!(
                    "unit security: {} {rating} ({how}; systemd-analyze security --offline)",
                    e.unit
                ),
                Err(why) => format!("unit security: {} not rated ({how}): {why}", e.unit),
            },
        };
        lines.push(line);
    }
    lines
}

/// The target state: the manifest's exporters at their realised store paths.
/// Generated units are added to `store`; without one (a dry run) only their
/// store paths are computed.
pub fn target_state(
    store: Option<&Store>,
    manifest: &Manifest,
    live: &ProfileState,
    paths: &[(String, StorePath)],
) -> Result<ProfileState> {
    let mut target = ProfileState::from_settings(manifest);
    for e in &manifest.exporters {
        let store_path = paths
            .iter()
            .find(|(n, _)| *n == e.name)
            .map(|(_, p)| p.clone())
            .with_context(|| format!("{} was not realised", e.name))?;
        let (unit_store_path, socket_store_path) = if e.manage_unit {
            let units = generated_units(manifest, e)?;
            let service = unit_store_path(store, &units[0])?;
            let socket = units.get(1).map(|u| unit_store_path(store, u)).transpose()?;
            (Some(service), socket)
        } else {
            // A unit file exporterctl already owns (adopted) stays owned: dropping
            // it would delete the unit the exporter runs under.
            let adopted = live
                .exporter(&e.name)
                .filter(|l| l.unit == e.unit)
                .and_then(|l| l.unit_store_path.clone());
            (adopted, None)
        };
        let mut state = ExporterState::from_manifest(e, e.version.clone(), store_path, unit_store_path);
        state.socket_store_path = socket_store_path;
        target.exporters.push(state);
    }
    Ok(target)
}

/// Every `--only NAME` is an exporter of the manifest.
pub(crate) fn check_only(manifest: &Manifest, path: &Path, only: &[String]) -> Result<()> {
    for name in only {
        if manifest.exporter(name).is_none() {
            return Err(UsageError(format!(
                "--only {name}: no such exporter in {} (it has: {})",
                path.display(),
                manifest
                    .exporters
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

pub fn run(ctx: &Ctx, a: &SwitchArgs) -> Result<Outcome> {
    let mut manifest = load_manifest(a.manifest)?;
    check_only(&manifest, a.manifest, a.only)?;
    manifest
        .check_dirs(&ctx.layout)
        .map_err(|e| UsageError(e.to_string()))?;
    if a.dry_run {
        // The real switch would refuse (exit 3): so does its plan.
        ctx.ensure_no_interrupted_switch()?;
        let up = resolve(ctx, &mut manifest, true)?;
        return dry_run(ctx, &manifest, a, &up);
    }
    let _lock = ctx.lock("switch")?;
    ctx.ensure_no_interrupted_switch()?;
    let host = Host::new(ctx, manifest.settings.service_manager, a.quiet)?;
    let store = ctx.store()?;
    let current = Profiles::new(&ctx.layout).current()?;
    let from = live_state(&store, &current, &manifest)?;
    // Before any download: the switch could not carry this out.
    manifest
        .check_installed_settings(&from)
        .map_err(|e| UsageError(e.to_string()))?;
    let realised = realise_locked(ctx, &mut manifest)?;
    crash::point("after-realise");
    let paths: Vec<(String, StorePath)> = realised
        .iter()
        .map(|r| (r.name.clone(), r.store_path.clone()))
        .collect();
    let target = narrow(
        &from,
        target_state(Some(&store), &manifest, &from, &paths)?,
        a.only,
        &manifest,
    );
    refuse_foreign(ctx, &target, a.manifest)?;
    if target == from {
        let message = format!("nothing to do: the host already matches {}", a.manifest.display());
        return nothing_done(&message, a.json, a.quiet);
    }
    let target_farm = profile::build_farm(&store, &target)?;
    let mut record = switch::new_record(
        "switch",
        Some(a.manifest.to_path_buf()),
        &current,
        &from,
        &target,
        target_farm,
        a.atomic,
    );
    let plan = Plan::new(&current, &from, &target, Vec::new()).text();
    // With --json stdout holds the record only; the plan goes with the progress lines.
    match (a.json, a.quiet) {
        (false, _) => print!("{plan}"),
        (true, false) => eprint!("{plan}"),
        (true, true) => {}
    }
    let engine = host.engine(ctx, &store);
    engine.preflight(&record, &target)?;
    // Before the first flip: the new releases started beside the running ones.
    let mode = a.preflight.unwrap_or(manifest.settings.preflight);
    if mode != crate::preflight::Mode::Off && !record.steps.is_empty() {
        if !a.quiet {
            eprintln!(
                "preflight ({}): starting the new releases beside the running ones …",
                mode.as_str()
            );
        }
        let summary = super::preflight::run_for(Some(&store), &manifest, &from, &target, mode)?;
        if !summary.exporters.is_empty() {
            let text = summary.text();
            match (a.json, a.quiet) {
                (false, _) => print!("{text}"),
                (true, false) => eprint!("{text}"),
                (true, true) => {}
            }
            if summary.refused {
                if a.json {
                    print_json(&summary)?;
                }
                return Ok(Outcome::Failed);
            }
            record.preflight = Some(summary);
        }
    }
    if a.mode == Mode::Standard && !a.yes && host.ui.interactive() && !record.steps.is_empty() {
        use crate::switch::Ui;
        if !host.ui.confirm("proceed?") {
            return nothing_done("nothing changed", a.json, a.quiet);
        }
    }
    let opts = Options {
        atomic: a.atomic,
        confirm_each: a.mode == Mode::Safe && !a.yes,
        pause: match a.mode {
            Mode::Safe => manifest.settings.pause_safe,
            Mode::Standard => manifest.settings.pause_standard,
            Mode::Fast => Duration::ZERO,
        },
    };
    engine.run(&mut record, &from, &target, &opts)?;
    report(&record, a.json)
}

/// `target` narrowed to `--only NAMES`: `live` with just those exporters changed.
pub(crate) fn narrow(live: &ProfileState, target: ProfileState, only: &[String], manifest: &Manifest) -> ProfileState {
    if only.is_empty() {
        return target;
    }
    let order: Vec<String> = manifest.exporters.iter().map(|e| e.name.clone()).collect();
    let mut narrowed = live.clone();
    for name in only {
        narrowed = narrowed.with_exporter(name, target.exporter(name), &order);
    }
    narrowed
}

/// A switch never replaces what it did not create in `bin_dir` or `unit_dir`.
fn refuse_foreign(ctx: &Ctx, target: &ProfileState, manifest_path: &Path) -> Result<()> {
    let foreign = Links::new(&ctx.layout).foreign_entries(target)?;
    if foreign.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|(p, what)| format!("{} is {what}", p.display()))
        .collect();
    bail!(
        "refusing to replace files exporterctl did not create: {}; run `exporterctl adopt {}` to import them \
         first (they become generation 1, so rollback can restore them), or move them away \
         (a hand-written unit can also stay in charge: `manage_unit: false`)",
        list.join("; "),
        manifest_path.display()
    );
}

/// Ends a command that ran the engine (switch, rollback, resume): the
/// finished record as JSON on stdout with `--json`, else its summary.
pub fn report(record: &SwitchRecord, json: bool) -> Result<Outcome> {
    if json {
        print_json(record)?;
    } else {
        print_summary(record);
    }
    Ok(outcome_of(record))
}

/// Ends such a command when it had nothing to do. There is no record then:
/// `--json` prints `null`, and the message goes to stderr (unless `-q`).
pub fn nothing_done(message: &str, json: bool, quiet: bool) -> Result<Outcome> {
    if json {
        if !quiet {
            eprintln!("{message}");
        }
        print_json(&serde_json::Value::Null)?;
    } else {
        println!("{message}");
    }
    Ok(Outcome::Ok)
}

fn outcome_of(record: &SwitchRecord) -> Outcome {
    if record.status == SwitchStatus::Stopped {
        Outcome::Stopped
    } else if record.steps.iter().any(|s| s.status == StepStatus::Failed) {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

fn print_summary(record: &SwitchRecord) {
    let c = record.counts();
    let succeeded = record
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .count();
    let generation = match record.result_generation {
        Some(n) => format!("generation {n}"),
        None => "no generation".into(),
    };
    println!(
        "{} {}: {}: {succeeded} succeeded, {} failed, {} skipped, {} unchanged → {generation}",
        record.kind,
        record.id,
        record.status.as_str(),
        c.failed,
        c.skipped,
        record.unchanged.len()
    );
    for s in &record.steps {
        let ms = s.duration_ms.map(|m| format!(" ({m} ms)")).unwrap_or_default();
        let status = format!("{:?}", s.status).to_lowercase();
        let reason = s.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        println!(
            "  {:<28} {:<22} {status}{ms}{reason}",
            s.name,
            switch::describe_action(s)
        );
    }
    if let Some(p) = &record.preflight {
        let found: Vec<String> = p
            .exporters
            .iter()
            .flat_map(|r| {
                preflight_findings(r)
                    .into_iter()
                    .map(move |l| format!("  {}: {l}", r.name))
            })
            .collect();
        if !found.is_empty() {
            println!("preflight ({}) found, and the switch went ahead:", p.mode.as_str());
            for l in found {
                println!("{l}");
            }
        }
    }
    if matches!(
        record.status,
        SwitchStatus::Failed | SwitchStatus::Partial | SwitchStatus::RolledBack
    ) {
        println!("details: exporterctl status; history: exporterctl generations");
    }
}

/// What a preflight found that the operator should know after the switch:
/// a failure, metric changes, flag changes.
fn preflight_findings(r: &crate::preflight::Report) -> Vec<String> {
    let mut out = Vec::new();
    if r.status == crate::preflight::Status::Failed {
        out.push(format!(
            "{} did not pass: {}",
            r.to_version,
            r.reason.as_deref().unwrap_or("")
        ));
    }
    out.extend(r.metrics.iter().flat_map(|m| m.lines()));
    out.extend(r.flag_changes.iter().map(|a| a.line(&r.name, &r.to_version)));
    out
}

/// What a switch from `from` to `target` does. The real switch prints it
/// before it starts; `--dry-run` prints it instead (as JSON with `--json`).
#[derive(Serialize)]
struct Plan {
    /// The host already matches the manifest: no step, no generation.
    nothing_to_do: bool,
    from_generation: Option<u64>,
    /// Exporters that need a step (flip, restart, health check), in order.
    steps: Vec<Change>,
    /// Exporters whose health settings change: the new generation records
    /// them without a restart.
    no_restart: Vec<String>,
    /// Exporters left as they are.
    unchanged: Vec<String>,
    /// Releases the store does not have: the switch downloads them first.
    downloads: Vec<Download>,
    /// The preflight of the releases the store has (absent with `--preflight off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    preflight: Option<crate::preflight::Summary>,
}

#[derive(Serialize)]
struct Download {
    name: String,
    version: String,
    /// Taken to be the binary running now, which has this version: only the
    /// download tells (an adopted binary may differ), and if it differs the
    /// switch reconfigures the exporter.
    assumed_unchanged: bool,
}

impl Plan {
    fn new(current: &Current, from: &ProfileState, target: &ProfileState, downloads: Vec<Download>) -> Plan {
        let steps = state::changes(from, target);
        let no_restart = state::changes_without_restart(from, target);
        let unchanged = target
            .exporters
            .iter()
            .map(|t| &t.name)
            .filter(|n| !steps.iter().any(|c| c.name == **n) && !no_restart.contains(n))
            .cloned()
            .collect();
        Plan {
            nothing_to_do: from == target,
            from_generation: current.generation(),
            steps,
            no_restart,
            unchanged,
            downloads,
            preflight: None,
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let n = self.steps.len();
        if n > 0 {
            out += &format!("plan ({n} step{}):\n", if n == 1 { "" } else { "s" });
            for c in &self.steps {
                let what = switch::describe(c.action, &c.from_version, &c.to_version);
                out += &format!("  {:<28} {what}\n", c.name);
            }
            if !self.unchanged.is_empty() {
                out += &format!("  unchanged: {}\n", self.unchanged.join(", "));
            }
        }
        if !self.no_restart.is_empty() {
            out += &format!(
                "new generation, no restart: health settings of {}\n",
                self.no_restart.join(", ")
            );
        }
        if !self.downloads.is_empty() {
            let list: Vec<String> = self
                .downloads
                .iter()
                .map(|d| {
                    let note = if d.assumed_unchanged {
                        " (the version running now: a step only if its binary differs)"
                    } else {
                        ""
                    };
                    format!("{} {}{note}", d.name, d.version)
                })
                .collect();
            out += &format!("would download: {}\n", list.join(", "));
        }
        out
    }
}

/// The plan of a switch without changing anything, not even the store: the
/// same target and changes as the real switch, with a release the store
/// lacks standing in as the running binary of the same version, else as a
/// path no store holds.
fn dry_run(ctx: &Ctx, manifest: &Manifest, a: &SwitchArgs, up: &Resolved) -> Result<Outcome> {
    let current = Profiles::new(&ctx.layout).current()?;
    // Opening the store creates it; a host without one has nothing live or realised.
    let store = if ctx.layout.store_dir().is_dir() {
        Some(ctx.store()?)
    } else {
        None
    };
    let from = match &store {
        Some(s) => live_state(s, &current, manifest)?,
        None => ProfileState::from_settings(manifest),
    };
    manifest
        .check_installed_settings(&from)
        .map_err(|e| UsageError(e.to_string()))?;
    let mut paths = Vec::new();
    let mut downloads = Vec::new();
    for e in &manifest.exporters {
        let src = e.resolve_source(&manifest.settings).map_err(UsageError)?;
        let locked = up.lock.as_ref().and_then(|l| l.entry(&e.name));
        let known =
            realise::known(store.as_ref(), e, &src, locked, &manifest.path).map_err(super::realise::bad_lock)?;
        let running = from.exporter(&e.name).filter(|l| l.version == e.version);
        if !known.as_ref().is_some_and(|k| k.in_store) {
            downloads.push(Download {
                name: e.name.clone(),
                version: e.version.clone(),
                assumed_unchanged: known.is_none() && running.is_some(),
            });
        }
        let path = match (known, running) {
            (Some(k), _) => k.store_path,
            (None, Some(l)) => l.store_path.clone(),
            // No tree hashes to zeros: this compares as a new binary.
            (None, None) => StorePath::parse(&format!("{}-{}-{}", "0".repeat(HASH_TEXT_LEN), e.name, e.version))?,
        };
        paths.push((e.name.clone(), path));
    }
    let target = narrow(&from, target_state(None, manifest, &from, &paths)?, a.only, manifest);
    refuse_foreign(ctx, &target, a.manifest)?;
    let mut plan = Plan::new(&current, &from, &target, downloads);
    let mode = a.preflight.unwrap_or(manifest.settings.preflight);
    if !plan.steps.is_empty() {
        let summary = super::preflight::run_for(store.as_ref(), manifest, &from, &target, mode)?;
        plan.preflight = (!summary.exporters.is_empty()).then_some(summary);
    }
    if a.json {
        print_json(&plan)?;
    } else if plan.nothing_to_do {
        println!(
            "dry run: nothing to do: the host already matches {}",
            a.manifest.display()
        );
        print!("{}", plan.text());
    } else {
        println!("dry run: nothing was changed; the switch would do this:");
        print!("{}", plan.text());
    }
    if !a.json {
        if let Some(p) = &plan.preflight {
            print!("{}", p.text());
        }
        for l in unit_security_lines(manifest) {
            println!("{l}");
        }
    }
    Ok(Outcome::Ok)
}

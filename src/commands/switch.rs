//! `exporterctl switch MANIFEST`

use super::realise::{load_manifest, realise_locked, resolve};
use super::{Ctx, Host, Outcome, UsageError};
use crate::cli::Mode;
use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::links::Links;
use crate::generation::profile::{self, Current, Profiles};
use crate::generation::state::{ExporterState, ProfileState};
use crate::manifest::{Exporter, Manifest};
use crate::store::{EntryKind, Store, StorePath};
use crate::switch::{self, crash, unitfile, Options};
use anyhow::{bail, Context as _, Result};
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
}

/// The state the host is in now: the current farm's, or empty.
pub fn live_state(store: &Store, current: &Current, manifest: &Manifest) -> Result<ProfileState> {
    Ok(match current.farm() {
        Some(f) => profile::read_farm_state(store, f)?,
        None => ProfileState::from_settings(manifest),
    })
}

/// Adds the generated unit file of `e` to the store.
fn unit_store_path(store: &Store, manifest: &Manifest, e: &Exporter) -> Result<StorePath> {
    let text = unitfile::render(&unitfile::UnitParams {
        exporter: &e.name,
        exec: &manifest.settings.bin_dir.join(&e.name),
        args: &e.args,
        user: e.user.as_deref(),
        environment: &e.environment,
    });
    let unit = e.unit.clone();
    let mut build = |dir: &Path| std::fs::write(dir.join(&unit), text.as_bytes());
    Ok(store.add_tree(&format!("unit-{}", e.unit), EntryKind::Unit, None, &mut build)?)
}

/// The target state: the manifest's exporters at their realised store paths.
pub fn target_state(
    store: &Store,
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
        let unit_store_path = if e.manage_unit {
            Some(unit_store_path(store, manifest, e)?)
        } else {
            // A unit file exporterctl already owns (adopted) stays owned: dropping
            // it would delete the unit the exporter runs under.
            live.exporter(&e.name)
                .filter(|l| l.unit == e.unit)
                .and_then(|l| l.unit_store_path.clone())
        };
        target.exporters.push(ExporterState::from_manifest(
            e,
            e.version.clone(),
            store_path,
            unit_store_path,
        ));
    }
    Ok(target)
}

pub fn run(ctx: &Ctx, a: &SwitchArgs) -> Result<Outcome> {
    let mut manifest = load_manifest(a.manifest)?;
    for name in a.only {
        if manifest.exporter(name).is_none() {
            return Err(UsageError(format!(
                "--only {name}: no such exporter in {} (it has: {})",
                a.manifest.display(),
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
    if a.dry_run {
        resolve(ctx, &mut manifest, true)?;
        return dry_run(ctx, &manifest, a.only);
    }
    let _lock = ctx.lock("switch")?;
    ctx.ensure_no_interrupted_switch()?;
    let host = Host::new(ctx, manifest.settings.service_manager, a.quiet)?;
    let realised = realise_locked(ctx, &mut manifest)?;
    crash::point("after-realise");
    let store = ctx.store()?;
    let current = Profiles::new(&ctx.layout).current()?;
    let from = live_state(&store, &current, &manifest)?;
    let paths: Vec<(String, StorePath)> = realised
        .iter()
        .map(|r| (r.name.clone(), r.store_path.clone()))
        .collect();
    let mut target = target_state(&store, &manifest, &from, &paths)?;
    if !a.only.is_empty() {
        let order: Vec<String> = manifest.exporters.iter().map(|e| e.name.clone()).collect();
        let mut narrowed = from.clone();
        for name in a.only {
            narrowed = narrowed.with_exporter(name, target.exporter(name), &order);
        }
        target = narrowed;
    }
    let foreign = Links::new(&ctx.layout).foreign_entries(&target)?;
    if !foreign.is_empty() {
        let list: Vec<String> = foreign
            .iter()
            .map(|(p, what)| format!("{} is {what}", p.display()))
            .collect();
        bail!(
            "refusing to replace files exporterctl did not create: {}; run `exporterctl adopt {}` to import them \
             first (they become generation 1, so rollback can restore them), or move them away \
             (a hand-written unit can also stay in charge: `manage_unit: false`)",
            list.join("; "),
            a.manifest.display()
        );
    }
    if target == from {
        println!("nothing to do: the host already matches {}", a.manifest.display());
        return Ok(Outcome::Ok);
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
    print_plan(&record);
    let engine = host.engine(ctx, &store);
    engine.preflight(&record, &target)?;
    if a.mode == Mode::Standard && !a.yes && host.ui.interactive() && !record.steps.is_empty() {
        use crate::switch::Ui;
        if !host.ui.confirm("proceed?") {
            println!("nothing changed");
            return Ok(Outcome::Ok);
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
    print_summary(&record);
    Ok(outcome_of(&record))
}

pub fn outcome_of(record: &SwitchRecord) -> Outcome {
    if record.steps.iter().any(|s| s.status == StepStatus::Failed) {
        Outcome::Failed
    } else {
        Outcome::Ok
    }
}

pub fn print_plan(record: &SwitchRecord) {
    if record.steps.is_empty() {
        return;
    }
    println!(
        "plan ({} step{}):",
        record.steps.len(),
        if record.steps.len() == 1 { "" } else { "s" }
    );
    for s in &record.steps {
        println!("  {:<28} {}", s.name, switch::describe_action(s));
    }
    if !record.unchanged.is_empty() {
        println!("  unchanged: {}", record.unchanged.join(", "));
    }
}

pub fn print_summary(record: &SwitchRecord) {
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
    if matches!(
        record.status,
        SwitchStatus::Failed | SwitchStatus::Partial | SwitchStatus::RolledBack
    ) {
        println!("details: exporterctl status; history: exporterctl generations");
    }
}

/// `latest`/range versions for a dry run: from the lock, else the forge.
/// The plan from what is known without touching anything: versions,
/// arguments, unit text and whether the store already has the release.
fn dry_run(ctx: &Ctx, manifest: &Manifest, only: &[String]) -> Result<Outcome> {
    let layout = &ctx.layout;
    let current = Profiles::new(layout).current()?;
    // Opening the store creates nothing when it exists; when it doesn't, there is nothing live.
    let live = if layout.store_dir().is_dir() {
        let store = ctx.store()?;
        Some((live_state(&store, &current, manifest)?, store))
    } else {
        None
    };
    let empty = ProfileState::from_settings(manifest);
    let live_state = live.as_ref().map(|(s, _)| s).unwrap_or(&empty);
    let mut lines = Vec::new();
    for e in &manifest.exporters {
        if !only.is_empty() && !only.contains(&e.name) {
            continue;
        }
        let src = e.resolve_source(&manifest.settings).map_err(UsageError)?;
        let in_store = match &live {
            Some((_, store)) => store.find_release(&e.name, &e.version, &src.url)?,
            None => None,
        };
        let fetch_note = if in_store.is_some() { "" } else { " (download)" };
        let what = match live_state.exporter(&e.name) {
            None => format!("add {}{fetch_note}", e.version),
            Some(l) if l.version != e.version => format!("{} → {}{fetch_note}", l.version, e.version),
            Some(l) => {
                let mut why = Vec::new();
                if in_store.as_ref() != Some(&l.store_path) {
                    why.push("binary");
                }
                if l.args != e.args || l.environment != e.environment {
                    why.push("arguments");
                }
                if l.unit != e.unit || e.manage_unit != l.unit_store_path.is_some() {
                    why.push("unit");
                }
                if why.is_empty() {
                    continue;
                }
                format!("reconfigure {} ({}){fetch_note}", e.version, why.join(", "))
            }
        };
        lines.push(format!("  {:<28} {what}", e.name));
    }
    if only.is_empty() {
        for l in &live_state.exporters {
            if manifest.exporter(&l.name).is_none() {
                lines.push(format!("  {:<28} remove {}", l.name, l.version));
            }
        }
    }
    if lines.is_empty() {
        println!("dry run: nothing to do");
    } else {
        println!("dry run: would switch {} exporter(s); nothing was changed", lines.len());
        for l in lines {
            println!("{l}");
        }
    }
    Ok(Outcome::Ok)
}

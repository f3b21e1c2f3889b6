//! `exporterctl switch MANIFEST [--dry-run] [--json]`

use super::{print_json, Ctx, ExitStatus, Host, UsageError};
use crate::cli::Mode;
use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use crate::manifest::Manifest;
use crate::monitoring::window::{ExporterTarget, Window};
use crate::plan::{self, Options, Plan, SwitchRequest};
use crate::rollout::{with_schema, SCHEMA_PLAN, SCHEMA_PREFLIGHT, SCHEMA_RECORD};
use crate::switch;
use crate::units::unit_security_lines;
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

pub struct SwitchArgs<'a> {
    pub manifest: &'a Path,
    pub dry_run: bool,
    pub only: &'a [String],
    pub mode: Mode,
    pub atomic: bool,
    /// `--parallel N` (fast mode only).
    pub parallel: Option<usize>,
    pub yes: bool,
    pub quiet: bool,
    pub json: bool,
    /// `--rollout-id`, already validated by the command line.
    pub rollout_id: Option<&'a str>,
    /// `--preflight`; `None`: `settings.preflight`.
    pub preflight: Option<crate::preflight::Mode>,
}

pub fn run(ctx: &Ctx, a: &SwitchArgs) -> Result<ExitStatus> {
    if a.parallel.is_some() && a.mode != Mode::Fast {
        return Err(UsageError(
            "--parallel needs --mode fast: the other modes ask or pause between steps, one at a time".into(),
        )
        .into());
    }
    let mut manifest = if a.manifest == Path::new("-") {
        let text = crate::rollout::read_manifest(std::io::stdin().lock()).map_err(|e| UsageError(e.to_string()))?;
        Manifest::parse(&text, Path::new("-"))?
    } else {
        Manifest::load(a.manifest)?
    };
    let options = Options {
        atomic: a.atomic,
        confirm_each: a.mode == Mode::Safe && !a.yes,
        pause: match a.mode {
            Mode::Safe => manifest.settings.pause_safe,
            Mode::Standard => manifest.settings.pause_standard,
            Mode::Fast => Duration::ZERO,
        },
        parallel: match a.mode {
            Mode::Fast => a.parallel.unwrap_or(manifest.settings.parallel),
            Mode::Safe | Mode::Standard => 1,
        },
        settle_cap: None,
        rollout_id: a.rollout_id.map(str::to_string),
    };
    let request = SwitchRequest {
        manifest_path: a.manifest,
        only: a.only,
        dry_run: a.dry_run,
        options,
    };
    if a.dry_run {
        // The real switch would refuse (exit 3): so does its plan.
        ctx.ensure_no_interrupted_switch()?;
        let mut plan = plan::switch(&ctx.layout, &mut manifest, &request)?;
        // Opening the store creates it; a host without one has nothing to start.
        let store = if ctx.layout.store_dir().is_dir() {
            Some(ctx.store()?)
        } else {
            None
        };
        let mode = a.preflight.unwrap_or(manifest.settings.preflight);
        if !plan.steps.is_empty() {
            let recorded = crate::preflight::record::of_generation(&ctx.layout, plan.current.generation());
            let summary = crate::preflight::for_switch(
                store.as_ref(),
                &manifest,
                &plan.from,
                &plan.target,
                mode,
                plan.options.atomic,
                &recorded,
            )?;
            plan.preflight = (!summary.exporters.is_empty()).then_some(summary);
        }
        return dry_run(&manifest, a, &plan);
    }
    let _lock = ctx.lock("switch")?;
    ctx.ensure_no_interrupted_switch()?;
    let host = Host::new(ctx, manifest.settings.service_manager, a.quiet)?;
    let plan = plan::switch(&ctx.layout, &mut manifest, &request)?;
    let window = manifest.settings.monitoring.clone().map(Window::new);
    if plan.nothing_to_do {
        if let Some(w) = &window {
            use crate::switch::Ui;
            w.sweep(&|m| host.ui.note(m));
        }
        let message = format!("nothing to do: the host already matches {}", a.manifest.display());
        return nothing_done(&message, a.json, a.quiet);
    }
    let store = ctx.store()?;
    let hooks = host.hooks(window.as_ref());
    let engine = host.watched_engine(ctx, &store, hooks.as_ref());
    let mut plan = plan;
    let mut record = engine.record(&plan)?;
    // With --json stdout holds the record only; the plan goes with the progress lines.
    match (a.json, a.quiet) {
        (false, _) => print!("{}", plan.text()),
        (true, false) => eprint!("{}", plan.text()),
        (true, true) => {}
    }
    engine.preflight(&record, &plan.target)?;
    // Before the first flip: the new releases started beside the running ones.
    let mode = a.preflight.unwrap_or(manifest.settings.preflight);
    if mode != crate::preflight::Mode::Off && !record.steps.is_empty() {
        if !a.quiet {
            eprintln!(
                "preflight ({}): starting the new releases beside the running ones …",
                mode.as_str()
            );
        }
        let recorded = crate::preflight::record::of_generation(&ctx.layout, plan.current.generation());
        let summary = crate::preflight::for_switch(
            Some(&store),
            &manifest,
            &plan.from,
            &plan.target,
            mode,
            plan.options.atomic,
            &recorded,
        )?;
        if !summary.exporters.is_empty() {
            let text = summary.text();
            match (a.json, a.quiet) {
                (false, _) => print!("{text}"),
                (true, false) => eprint!("{text}"),
                (true, true) => {}
            }
            if summary.refused {
                if a.json {
                    print_json(&with_schema(SCHEMA_PREFLIGHT, serde_json::to_value(&summary)?, None))?;
                }
                return Ok(ExitStatus::Failed);
            }
            crate::preflight::verdict::refuse_steps(&summary, &mut record);
            record.preflight = Some(summary.clone());
            plan.preflight = Some(summary);
        }
    }
    if a.mode == Mode::Standard && !a.yes && host.ui.interactive() && !record.steps.is_empty() {
        use crate::switch::Ui;
        if !host.ui.confirm("proceed?") {
            return nothing_done("nothing changed", a.json, a.quiet);
        }
    }
    engine.run(&mut record, &plan)?;
    refresh_textfile(ctx, &store, manifest.settings.monitoring.as_ref(), Some(&record));
    report(&record, a.json)
}

/// Rewrites the textfile of `settings.monitoring.textfile_dir`, if set,
/// after a command changed the host. A failure is a warning: the change
/// is made and recorded.
pub fn refresh_textfile(
    ctx: &Ctx,
    store: &crate::store::Store,
    settings: Option<&crate::monitoring::MonitoringSettings>,
    last: Option<&SwitchRecord>,
) {
    let Some(dir) = settings.and_then(|s| s.textfile_dir.as_ref()) else {
        return;
    };
    if let Err(e) = crate::monitoring::textfile::refresh(&ctx.layout, store, dir, last) {
        eprintln!("warning: monitoring: {e}");
    }
}

/// Ends a command that ran the engine (switch, rollback, resume): the
/// finished record as JSON on stdout with `--json`, else its summary.
pub fn report(record: &SwitchRecord, json: bool) -> Result<ExitStatus> {
    if json {
        print_json(&with_schema(SCHEMA_RECORD, serde_json::to_value(record)?, None))?;
    } else {
        print_summary(record);
    }
    Ok(ExitStatus::of_record(record))
}

/// Ends such a command when it had nothing to do. There is no record then:
/// `--json` prints `{"schema", "nothing_to_do": true, "message"}`, and the
/// message goes to stderr (unless `-q`).
pub fn nothing_done(message: &str, json: bool, quiet: bool) -> Result<ExitStatus> {
    if json {
        if !quiet {
            eprintln!("{message}");
        }
        print_json(&with_schema(SCHEMA_RECORD, serde_json::Value::Null, Some(message)))?;
    } else {
        println!("{message}");
    }
    Ok(ExitStatus::Success)
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
    for l in record
        .monitoring
        .as_ref()
        .map(|m| crate::monitoring::summary_lines(m, true))
        .unwrap_or_default()
    {
        println!("  monitoring: {l}");
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

/// The exporters `plan`'s steps start, as the monitoring sees them.
fn plan_targets(plan: &Plan) -> Vec<ExporterTarget> {
    plan.steps
        .iter()
        .filter(|c| c.action != crate::generation::state::Action::Remove)
        .filter_map(|c| plan.target.exporter(&c.name))
        .map(ExporterTarget::of)
        .collect()
}

/// Prints the plan of a switch that changed nothing, not even the store
/// (as JSON with `--json`).
fn dry_run(manifest: &Manifest, a: &SwitchArgs, plan: &Plan) -> Result<ExitStatus> {
    // What it would silence, annotate, notify, verify and write; nothing
    // when there is no step.
    let monitoring = match &manifest.settings.monitoring {
        Some(m) if !plan.steps.is_empty() => crate::monitoring::window::plan_lines(m, &plan_targets(plan)),
        _ => Vec::new(),
    };
    if a.json {
        let mut v = serde_json::to_value(plan)?;
        if !monitoring.is_empty() {
            v["monitoring"] = serde_json::json!(monitoring);
        }
        print_json(&with_schema(SCHEMA_PLAN, v, None))?;
    } else if plan.nothing_to_do {
        println!(
            "dry run: nothing to do: the host already matches {}",
            a.manifest.display()
        );
        print!("{}", plan.text());
    } else {
        println!("dry run: nothing was changed; the switch would do this:");
        print!("{}", plan.text());
        for l in &monitoring {
            println!("monitoring: {l}");
        }
    }
    if !a.json {
        if let Some(p) = &plan.preflight {
            print!("{}", p.text());
        }
        for l in unit_security_lines(manifest.unit_specs()) {
            println!("{l}");
        }
    }
    Ok(ExitStatus::Success)
}

//! `exporterctl status`

use super::{print_json, Ctx, ExitStatus};
use crate::generation::history::{Counts, History, StepStatus, SwitchRecord};
use crate::generation::profile::{self, Current, Profiles};
use crate::health::Probe;
use crate::service::manager_for;
use crate::switch::service_spec;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct ExporterRow {
    name: String,
    version: String,
    store_path: String,
    unit: String,
    active_state: String,
    main_pid: Option<u32>,
    /// `healthy`, `unhealthy: …`, or `unchecked` (no health URL).
    health: String,
}

#[derive(Serialize)]
struct LastSwitch {
    id: String,
    kind: String,
    started_at: String,
    ended_at: Option<String>,
    /// running / interrupted (journal present) or the recorded outcome.
    status: String,
    current_step: Option<String>,
    /// Every step in progress: several in a fast switch or a rollback,
    /// whose steps run side by side.
    steps_in_flight: Vec<String>,
    counts: Counts,
    failures: Vec<String>,
    /// Its silence (active while the switch runs, or left when it could
    /// not be expired), annotation, notifications, verification, problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    monitoring: Option<crate::monitoring::MonitoringRecord>,
}

#[derive(Serialize)]
struct Status {
    current_generation: Option<u64>,
    /// Set while `profiles/system` points at a transient farm.
    in_flight: bool,
    exporters: Vec<ExporterRow>,
    last_switch: Option<LastSwitch>,
    /// Set when `journal.json` cannot be read: what is known and what to do
    /// (`last_switch` is then the last finished one).
    journal_damaged: Option<String>,
    /// What a command that changes the host would say now (running,
    /// interrupted, damaged journal), the same words as theirs.
    in_flight_advice: Option<String>,
}

fn last_recorded(ctx: &Ctx) -> Result<Option<LastSwitch>> {
    Ok(History::new(&ctx.layout)
        .list()?
        .last()
        .map(|r| last_switch(r, r.status.as_str().into())))
}

fn last_switch(r: &SwitchRecord, status: String) -> LastSwitch {
    LastSwitch {
        id: r.id.clone(),
        kind: r.kind.clone(),
        started_at: r.started_at.clone(),
        ended_at: r.ended_at.clone(),
        status,
        current_step: r.current_step.and_then(|i| r.steps.get(i)).map(|s| s.name.clone()),
        steps_in_flight: r
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Running)
            .map(|s| s.name.clone())
            .collect(),
        counts: r.counts(),
        failures: r
            .steps
            .iter()
            .filter_map(|s| s.reason.as_ref().map(|reason| format!("{}: {reason}", s.name)))
            .collect(),
        monitoring: r.monitoring.clone(),
    }
}

pub fn run(ctx: &Ctx, json: bool) -> Result<ExitStatus> {
    let current = Profiles::new(&ctx.layout).current()?;
    let mut rows = Vec::new();
    if let Some(farm) = current.farm() {
        let store = ctx.store()?;
        let state = profile::read_farm_state(&store, farm)?;
        let svc = manager_for(state.service_manager, &ctx.layout);
        let probe = Probe::new()?;
        for e in &state.exporters {
            let spec = service_spec(&ctx.layout, &state, e);
            let (active_state, main_pid) = match svc.status(&spec) {
                Ok(s) => (s.active_state, s.main_pid),
                Err(err) => (format!("unknown ({err})"), None),
            };
            let health = if e.health.url.is_none() {
                "unchecked".to_string()
            } else {
                match probe.check_once(&e.health, &e.version) {
                    Ok(()) => "healthy".into(),
                    Err(f) => format!("unhealthy: {f}"),
                }
            };
            rows.push(ExporterRow {
                name: e.name.clone(),
                version: e.version.clone(),
                store_path: e.store_path.to_string(),
                unit: e.unit.clone(),
                active_state,
                main_pid,
                health,
            });
        }
    }
    // Never take the lock here: a read-only command must not make a
    // concurrent switch fail as busy, rewrite the lock file's text or need
    // write access. `InFlight::read` asks the kernel who holds it.
    let in_flight = crate::switch::recovery::InFlight::read(&ctx.layout)?;
    let advice = in_flight.refusal(&ctx.layout);
    let (last, journal_damaged) = match in_flight {
        crate::switch::recovery::InFlight::Running { record, .. } => {
            (Some(last_switch(&record, "running".into())), None)
        }
        crate::switch::recovery::InFlight::Interrupted(record) => {
            (Some(last_switch(&record, "interrupted".into())), None)
        }
        crate::switch::recovery::InFlight::Damaged(_) => (last_recorded(ctx)?, advice.clone()),
        crate::switch::recovery::InFlight::None => (last_recorded(ctx)?, None),
    };
    let status = Status {
        current_generation: current.generation(),
        in_flight: matches!(current, Current::Transient(_)),
        exporters: rows,
        last_switch: last,
        journal_damaged,
        in_flight_advice: advice,
    };
    if json {
        print_json(&crate::rollout::with_schema(
            crate::rollout::SCHEMA_STATUS,
            serde_json::to_value(&status)?,
            None,
        ))?;
    } else {
        match status.current_generation {
            Some(n) => println!("generation {n}"),
            None if status.in_flight => println!("generation: none (a switch is in flight)"),
            None => println!("generation: none yet"),
        }
        for e in &status.exporters {
            println!(
                "  {:<24} {:<12} {:<10} {:<20} {}",
                e.name,
                e.version,
                e.active_state,
                e.main_pid.map(|p| format!("pid {p}")).unwrap_or_default(),
                e.health
            );
            println!("  {:<24} {}", "", ctx.layout.store_dir().join(&e.store_path).display());
        }
        if let Some(l) = &status.last_switch {
            println!(
                "last {} {}: {} (started {}, ended {}); {} completed, {} failed, {} skipped, {} running, {} pending{}",
                l.kind,
                l.id,
                l.status,
                l.started_at,
                l.ended_at.as_deref().unwrap_or("-"),
                l.counts.completed,
                l.counts.failed,
                l.counts.skipped,
                l.counts.running,
                l.counts.pending,
                match (l.steps_in_flight.as_slice(), &l.current_step) {
                    ([_, _, ..], _) => format!("; at steps {}", l.steps_in_flight.join(", ")),
                    (_, Some(s)) => format!("; at step {s}"),
                    _ => String::new(),
                }
            );
            for f in &l.failures {
                println!("  {f}");
            }
            let finished = !matches!(l.status.as_str(), "running" | "interrupted");
            for m in l
                .monitoring
                .as_ref()
                .map(|m| crate::monitoring::summary_lines(m, finished))
                .unwrap_or_default()
            {
                println!("  monitoring: {m}");
            }
        }
        if let Some(why) = &status.in_flight_advice {
            println!("{why}");
        }
    }
    Ok(ExitStatus::Success)
}

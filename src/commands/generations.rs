//! `exporterctl generations`

use super::{print_json, Ctx, ExitStatus};
use crate::generation::history::{DamagedRecord, History, StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::profile::{self, Profiles};
use crate::generation::record::{DamagedGeneration, Generations};
use crate::switch::describe_action;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct GenerationRow {
    number: u64,
    current: bool,
    created_at: String,
    origin: String,
    outcome: String,
    switch_id: String,
    exporters: BTreeMap<String, String>,
    /// Steps of the switch that made it which failed and were rolled back.
    failed_steps: Vec<FailedStep>,
}

#[derive(Serialize)]
struct FailedStep {
    name: String,
    change: String,
    reason: String,
}

#[derive(Serialize)]
struct Attempt {
    id: String,
    kind: String,
    started_at: String,
    status: String,
    failed_steps: Vec<FailedStep>,
}

#[derive(Serialize)]
struct Listing {
    current: Option<u64>,
    generations: Vec<GenerationRow>,
    /// Switches that failed as a whole and so made no generation.
    failed_attempts: Vec<Attempt>,
    /// Generation records that cannot be read (skipped above).
    damaged_generations: Vec<DamagedGeneration>,
    /// Switch records that cannot be read (skipped above).
    damaged_switches: Vec<DamagedRecord>,
}

fn failed_steps(r: &SwitchRecord) -> Vec<FailedStep> {
    r.steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| FailedStep {
            name: s.name.clone(),
            change: describe_action(s),
            reason: s.reason.clone().unwrap_or_default(),
        })
        .collect()
}

pub fn run(ctx: &Ctx, json: bool) -> Result<ExitStatus> {
    let current = Profiles::new(&ctx.layout).current()?.generation();
    // One damaged record is reported, never a reason to hide the others.
    let (history, damaged_switches) = History::new(&ctx.layout).scan()?;
    let mut rows = Vec::new();
    let (records, damaged_generations) = Generations::new(&ctx.layout).scan()?;
    // A host without generations has no store to open (and a read command creates none).
    let store = if records.is_empty() { None } else { Some(ctx.store()?) };
    for g in records {
        let exporters = match store.as_ref().map(|s| profile::read_farm_state(s, &g.profile)) {
            Some(Ok(s)) => s.exporters.into_iter().map(|e| (e.name, e.version)).collect(),
            _ => BTreeMap::new(),
        };
        let failed = history
            .iter()
            .find(|h| h.id == g.switch_id)
            .map(failed_steps)
            .unwrap_or_default();
        rows.push(GenerationRow {
            number: g.number,
            current: Some(g.number) == current,
            created_at: g.created_at,
            origin: g.origin,
            outcome: g.outcome.as_str().to_string(),
            switch_id: g.switch_id,
            exporters,
            failed_steps: failed,
        });
    }
    let attempts: Vec<Attempt> = history
        .iter()
        .filter(|h| {
            matches!(
                h.status,
                SwitchStatus::Failed | SwitchStatus::RolledBack | SwitchStatus::Aborted
            )
        })
        // A failed switch that still made a generation is listed there.
        .filter(|h| !rows.iter().any(|g: &GenerationRow| g.switch_id == h.id))
        .map(|h| Attempt {
            id: h.id.clone(),
            kind: h.kind.clone(),
            started_at: h.started_at.clone(),
            status: h.status.as_str().into(),
            failed_steps: failed_steps(h),
        })
        .collect();
    let listing = Listing {
        current,
        generations: rows,
        failed_attempts: attempts,
        damaged_generations,
        damaged_switches,
    };
    if json {
        print_json(&listing)?;
        return Ok(ExitStatus::Success);
    }
    if listing.generations.is_empty() {
        println!("no generations yet: run `exporterctl switch MANIFEST` or `exporterctl adopt MANIFEST`");
    }
    // One time-ordered list: generations and the attempts that made none.
    let mut lines: Vec<(String, String)> = Vec::new();
    for g in &listing.generations {
        let versions: Vec<String> = g.exporters.iter().map(|(n, v)| format!("{n} {v}")).collect();
        let mut line = format!(
            "{} {:>4}  {}  {:<10} {:<9} {}",
            if g.current { "*" } else { " " },
            g.number,
            g.created_at,
            g.origin,
            g.outcome,
            versions.join(", ")
        );
        for f in &g.failed_steps {
            line.push_str(&format!("\n           failed: {} {}: {}", f.name, f.change, f.reason));
        }
        lines.push((g.created_at.clone(), line));
    }
    for a in &listing.failed_attempts {
        let mut line = format!(
            "     -  {}  {:<10} {:<9} (no generation)",
            a.started_at, a.kind, a.status
        );
        for f in &a.failed_steps {
            line.push_str(&format!("\n           failed: {} {}: {}", f.name, f.change, f.reason));
        }
        lines.push((a.started_at.clone(), line));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    if !lines.is_empty() {
        println!("  GEN  CREATED               ORIGIN     OUTCOME   EXPORTERS");
    }
    for (_, l) in lines {
        println!("{l}");
    }
    for d in &listing.damaged_generations {
        println!(
            "generation {}: not listed, its record {}; `exporterctl rollback --to {}` still works while \
             profiles/system-{}-link exists",
            d.number, d.record, d.number, d.number
        );
    }
    for d in &listing.damaged_switches {
        println!("switch record not listed: {d}");
    }
    Ok(ExitStatus::Success)
}

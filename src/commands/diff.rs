//! `exporterctl diff A B`

use super::{print_json, Ctx, ExitStatus, UsageError};
use crate::generation::profile::{self, Profiles};
use crate::generation::record::Generations;
use crate::generation::state::{changes, Action, ProfileState};
use crate::preflight::record::{self, Served};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Row {
    name: String,
    change: Action,
    from: Option<String>,
    to: Option<String>,
}

/// Generation `n`'s state: from its link, else (the link lost) from the farm
/// its record names; the error says which part is missing.
fn state_of(ctx: &Ctx, profiles: &Profiles, store: &Store, n: u64) -> Result<ProfileState> {
    if let Some(f) = profiles.generation_farm(n)? {
        return Ok(profile::read_farm_state(store, &f)?);
    }
    match Generations::new(&ctx.layout).load(n) {
        Ok(Some(r)) if store.is_valid(&r.profile) => Ok(profile::read_farm_state(store, &r.profile)?),
        Ok(Some(r)) => Err(UsageError(format!(
            "generation {n}: its link profiles/system-{n}-link is missing and its farm {} is not in the store",
            r.profile
        ))
        .into()),
        Ok(None) => Err(UsageError(format!("generation {n} does not exist")).into()),
        Err(e) => Err(UsageError(format!(
            "generation {n}: its link profiles/system-{n}-link is missing and its record is unreadable ({e})"
        ))
        .into()),
    }
}

/// The metric families each generation recorded (none for a record that
/// is missing, damaged or older than the recording).
fn served(generations: &Generations, n: u64) -> Served {
    match generations.load(n) {
        Ok(Some(r)) => r.metrics,
        _ => Served::default(),
    }
}

/// `NAME: families removed: …` lines (newline-terminated) for `a` → `b`.
pub fn metric_lines(generations: &Generations, a: u64, b: u64) -> Vec<String> {
    let (sa, sb) = (served(generations, a), served(generations, b));
    rows_text(&record::compare((a, &sa), (b, &sb)))
}

fn rows_text(rows: &[record::ExporterMetrics]) -> Vec<String> {
    let mut out = Vec::new();
    for m in rows {
        if let Some(why) = &m.not_recorded {
            out.push(format!("{}: families not compared: {why}\n", m.name));
        }
        for l in m.diff.iter().flat_map(|d| d.lines()) {
            out.push(format!("{}: {l}\n", m.name));
        }
    }
    out
}

pub fn run(ctx: &Ctx, a: u64, b: u64, metrics: bool, json: bool) -> Result<ExitStatus> {
    let profiles = Profiles::new(&ctx.layout);
    // A read command creates nothing: without a store there is no generation.
    if !ctx.layout.store_dir().is_dir() {
        return Err(UsageError(format!("generation {a} does not exist")).into());
    }
    let store = ctx.store()?;
    let sa = state_of(ctx, &profiles, &store, a)?;
    let sb = state_of(ctx, &profiles, &store, b)?;
    let rows: Vec<Row> = changes(&sa, &sb)
        .into_iter()
        .map(|c| Row {
            name: c.name,
            change: c.action,
            from: c.from_version,
            to: c.to_version,
        })
        .collect();
    let families = metrics.then(|| {
        let g = Generations::new(&ctx.layout);
        let (fa, fb) = (served(&g, a), served(&g, b));
        record::compare((a, &fa), (b, &fb))
    });
    if json {
        match &families {
            Some(f) => print_json(&serde_json::json!({ "exporters": rows, "metrics": f }))?,
            None => print_json(&rows)?,
        }
        return Ok(ExitStatus::Success);
    }
    if rows.is_empty() {
        println!("generations {a} and {b} run the same exporters");
    }
    for r in &rows {
        let what = match (r.change, &r.from, &r.to) {
            (Action::Add, _, Some(t)) => format!("added ({t})"),
            (Action::Remove, Some(f), _) => format!("removed ({f})"),
            (Action::Reconfigure, _, Some(t)) => format!("{t} (same version; binary, arguments or unit changed)"),
            (_, Some(f), Some(t)) => format!("{f} → {t}"),
            _ => String::new(),
        };
        println!("{:<28} {what}", r.name);
    }
    if let Some(f) = &families {
        let lines = rows_text(f);
        if lines.is_empty() {
            println!("metric families: the same in generations {a} and {b}");
        }
        for l in lines {
            print!("{l}");
        }
    }
    Ok(ExitStatus::Success)
}

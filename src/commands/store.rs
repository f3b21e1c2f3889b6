//! `exporterctl store verify`, `store repair` and `store ls`

use super::{print_json, Ctx, ExitStatus};
use crate::store::{Store, StoreMeta, StorePath, VerifyOutcome};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Problem {
    store_path: String,
    problem: String,
}

/// The store's valid entries; none (and nothing created) on a host where
/// exporterctl has not run yet.
fn entries(ctx: &Ctx) -> Result<Option<(Store, Vec<StoreMeta>)>> {
    if !ctx.layout.store_dir().is_dir() {
        return Ok(None);
    }
    let store = ctx.store()?;
    let entries = store.list()?;
    Ok(Some((store, entries)))
}

pub fn verify(ctx: &Ctx, json: bool) -> Result<ExitStatus> {
    let mut problems = Vec::new();
    let mut checked = 0;
    if let Some((store, entries)) = entries(ctx)? {
        checked = entries.len();
        for m in &entries {
            let problem = match store.verify(&StorePath::parse(&m.store_path)?)? {
                VerifyOutcome::Ok => continue,
                bad => bad.describe(),
            };
            problems.push(Problem {
                store_path: m.store_path.clone(),
                problem,
            });
        }
        // A path deleted by hand has no entry left to check: what the
        // generations still need shows it.
        // Unknown when a record it reads is damaged (the journal): said, and
        // the check of every listed path above still stands.
        match crate::gc::reachable(&ctx.layout, &store, &[]) {
            Ok(r) => {
                for sp in r.missing {
                    checked += 1;
                    problems.push(Problem {
                        store_path: sp.to_string(),
                        problem: "missing (a generation or the running state needs it)".into(),
                    });
                }
            }
            Err(e) => problems.push(Problem {
                store_path: "-".into(),
                problem: format!(
                    "cannot tell which store paths the generations need: {}",
                    crate::exit::error_report(&e.into())
                ),
            }),
        }
    }
    if json {
        print_json(&serde_json::json!({ "checked": checked, "problems": problems }))?;
    } else {
        for p in &problems {
            println!("{}: {}", p.store_path, p.problem);
        }
        eprintln!(
            "checked {} store paths: {} modified or missing",
            checked,
            problems.len()
        );
        if !problems.is_empty() {
            eprintln!("`exporterctl store repair [MANIFEST]` restores them");
        }
    }
    Ok(if problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

pub fn ls(ctx: &Ctx, json: bool) -> Result<ExitStatus> {
    let entries = entries(ctx)?.map(|(_, e)| e).unwrap_or_default();
    if json {
        print_json(&entries)?;
        return Ok(ExitStatus::Success);
    }
    println!(
        "{:<10} {:<28} {:<14} {:>10}  STORE PATH",
        "KIND", "NAME", "VERSION", "SIZE"
    );
    for m in &entries {
        println!(
            "{:<10} {:<28} {:<14} {:>10}  {}",
            format!("{:?}", m.kind).to_lowercase(),
            m.name,
            m.version.as_deref().unwrap_or("-"),
            human_bytes(m.size),
            m.store_path
        );
    }
    Ok(ExitStatus::Success)
}

pub use crate::source::space::human_bytes;

/// `exporterctl store repair [MANIFEST]` (see `crate::repair`).
pub fn repair(ctx: &Ctx, manifest_path: Option<&Path>, json: bool) -> Result<ExitStatus> {
    let _lock = ctx.lock("store repair")?;
    let done = crate::repair::repair(&ctx.layout, manifest_path)?;
    finish_repair(done, json)
}

fn finish_repair(done: Vec<crate::repair::Repaired>, json: bool) -> Result<ExitStatus> {
    let failed = done.iter().filter(|r| !r.repaired).count();
    if json {
        print_json(&done)?;
    } else {
        for r in &done {
            let verdict = if r.repaired { "repaired" } else { "NOT repaired" };
            println!("{}: {}: {verdict}: {}", r.store_path, r.problem, r.result);
        }
        println!("{} repaired, {failed} not", done.len() - failed);
        if done.iter().any(|r| r.repaired) {
            println!(
                "a running exporter keeps the binary it started from: restart those whose store path was repaired"
            );
        }
    }
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

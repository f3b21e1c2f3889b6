//! `exporterctl store verify` and `exporterctl store ls`

use super::{print_json, Ctx, Outcome};
use crate::store::{Store, StoreMeta, StorePath, VerifyOutcome};
use anyhow::Result;
use serde::Serialize;

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

pub fn verify(ctx: &Ctx, json: bool) -> Result<Outcome> {
    let mut problems = Vec::new();
    let mut checked = 0;
    if let Some((store, entries)) = entries(ctx)? {
        checked = entries.len();
        for m in &entries {
            let problem = match store.verify(&StorePath::parse(&m.store_path)?)? {
                VerifyOutcome::Ok => continue,
                VerifyOutcome::Modified { actual_hash } => format!("modified: content hashes to {actual_hash}"),
                VerifyOutcome::Missing => "missing".into(),
            };
            problems.push(Problem {
                store_path: m.store_path.clone(),
                problem,
            });
        }
        // A path deleted by hand has no entry left to check: what the
        // generations still need shows it.
        for sp in crate::gc::reachable(&ctx.layout, &store, &[])?.missing {
            checked += 1;
            problems.push(Problem {
                store_path: sp.to_string(),
                problem: "missing (a generation or the running state needs it)".into(),
            });
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
    }
    Ok(if problems.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

pub fn ls(ctx: &Ctx, json: bool) -> Result<Outcome> {
    let entries = entries(ctx)?.map(|(_, e)| e).unwrap_or_default();
    if json {
        print_json(&entries)?;
        return Ok(Outcome::Ok);
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
    Ok(Outcome::Ok)
}

pub use crate::source::space::human_bytes;

//! `exporterctl store verify` and `exporterctl store ls`

use super::{print_json, Ctx, Outcome};
use crate::store::{StorePath, VerifyOutcome};
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Problem {
    store_path: String,
    problem: String,
}

pub fn verify(ctx: &Ctx, json: bool) -> Result<Outcome> {
    let store = ctx.store()?;
    let entries = store.list()?;
    let mut problems = Vec::new();
    for m in &entries {
        let sp = StorePath::parse(&m.store_path)?;
        match store.verify(&sp)? {
            VerifyOutcome::Ok => {}
            VerifyOutcome::Modified { actual_hash } => problems.push(Problem {
                store_path: m.store_path.clone(),
                problem: format!("modified: content hashes to {actual_hash}"),
            }),
            VerifyOutcome::Missing => problems.push(Problem {
                store_path: m.store_path.clone(),
                problem: "missing".into(),
            }),
        }
    }
    if json {
        print_json(&serde_json::json!({ "checked": entries.len(), "problems": problems }))?;
    } else {
        for p in &problems {
            println!("{}: {}", p.store_path, p.problem);
        }
        eprintln!(
            "checked {} store paths: {} modified or missing",
            entries.len(),
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
    let store = ctx.store()?;
    let entries = store.list()?;
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

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

//! `exporterctl gc`

use super::store::human_bytes;
use super::{print_json, Ctx, ExitStatus};
use crate::gc::{self, Policy};
use anyhow::Result;

pub fn run(ctx: &Ctx, policy: &Policy, json: bool) -> Result<ExitStatus> {
    let _lock = ctx.lock("gc")?;
    // Like every command that changes the host: an interrupted switch is
    // resumed or aborted first (its generations are protected all the same).
    if !policy.dry_run {
        ctx.ensure_no_interrupted_switch()?;
    }
    let store = ctx.store()?;
    let report = gc::collect(&ctx.layout, &store, policy)?;
    if json {
        print_json(&report)?;
        return Ok(ExitStatus::Success);
    }
    let verb = if policy.dry_run { "would delete" } else { "deleted" };
    let gens: Vec<String> = report.generations_deleted.iter().map(|n| n.to_string()).collect();
    println!(
        "{verb} {} generation(s){}, {} store path(s) and {} cached download(s), freeing {}",
        gens.len(),
        if gens.is_empty() {
            String::new()
        } else {
            format!(" ({})", gens.join(", "))
        },
        report.store_paths_deleted.len(),
        report.downloads_deleted.len(),
        human_bytes(report.bytes_freed)
    );
    for p in &report.store_paths_deleted {
        println!("  {p}");
    }
    for d in &report.generations_damaged {
        println!(
            "kept generation {}: its record {}, so nothing proves it unreferenced; \
             fix or remove that file to let gc decide",
            d.number, d.record
        );
    }
    Ok(ExitStatus::Success)
}

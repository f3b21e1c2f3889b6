//! `exporterctl check MANIFEST`

use super::{print_json, Ctx, ExitStatus};
use crate::resolve::resolve;
use crate::resolve::Resolved;
use crate::resolve::{check_release, Upstream};
use anyhow::Result;
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path, json: bool) -> Result<ExitStatus> {
    let mut manifest = crate::manifest::Manifest::load(manifest_path)?;
    let Resolved { fetcher, tokens, .. } = resolve(&ctx.layout, &mut manifest, true)?;
    let up = Upstream {
        fetcher: &fetcher,
        tokens: &tokens,
        settings: &manifest.settings,
    };
    let checks: Vec<_> = manifest
        .exporters
        .iter()
        .map(|e| {
            let mut c = check_release(&up, &manifest, e);
            if let Some(entry) = e.catalogue_entry() {
                c.flag_changes = crate::preflight::flags::advise(&entry, &e.version, &e.args, &e.environment);
                for a in c.flag_changes.iter().filter(|a| a.breaking) {
                    c.problems.push(a.line(&e.name, &e.version));
                }
            }
            c
        })
        .collect();
    let failed = checks.iter().filter(|c| !c.problems.is_empty()).count();
    if json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            let status = if c.problems.is_empty() { "ok" } else { "FAIL" };
            println!("{status:<5} {} {}  {}", c.name, c.version, c.url);
            if let Some(sha) = &c.sha256 {
                println!("      sha256 {sha}");
            }
            for s in &c.signatures {
                println!("      signature (not verified): {s}");
            }
            for p in &c.problems {
                println!("      {p}");
            }
            for a in c.flag_changes.iter().filter(|a| !a.breaking) {
                println!("      {}", a.line(&c.name, &c.version));
            }
        }
        for l in crate::units::unit_security_lines(manifest.unit_specs()) {
            println!("{l}");
        }
        println!(
            "{}: {} exporter(s), {failed} with problems; nothing was installed",
            manifest_path.display(),
            checks.len()
        );
    }
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

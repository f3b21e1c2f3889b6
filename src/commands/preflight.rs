//! `exporterctl preflight MANIFEST`, and the preflight a switch (and its
//! dry run) runs before its first flip.

use super::realise::{load_manifest, realise_locked};
use super::switch::{check_only, live_state, narrow, target_state};
use super::{print_json, Ctx, Outcome, UsageError};
use crate::generation::profile::Profiles;
use crate::generation::state::ProfileState;
use crate::health::Probe;
use crate::manifest::Manifest;
use crate::preflight::{self, Mode, Summary};
use crate::store::{Store, StorePath};
use anyhow::Result;
use std::path::Path;

pub struct PreflightArgs<'a> {
    pub manifest: &'a Path,
    pub only: &'a [String],
    pub json: bool,
}

/// Realises MANIFEST (as `realise` does) and runs the preflight of every
/// exporter a switch would start anew. Exit 1 when one does not start or
/// drops a family `health.keep_metrics` keeps (what `require` refuses).
pub fn run(ctx: &Ctx, a: &PreflightArgs) -> Result<Outcome> {
    let mut manifest = load_manifest(a.manifest)?;
    check_only(&manifest, a.manifest, a.only)?;
    manifest
        .check_dirs(&ctx.layout)
        .map_err(|e| UsageError(e.to_string()))?;
    let _lock = ctx.lock("preflight")?;
    let store = ctx.store()?;
    let current = Profiles::new(&ctx.layout).current()?;
    let from = live_state(&store, &current, &manifest)?;
    let realised = realise_locked(ctx, &mut manifest)?;
    let paths: Vec<(String, StorePath)> = realised
        .iter()
        .map(|r| (r.name.clone(), r.store_path.clone()))
        .collect();
    let target = narrow(
        &from,
        target_state(Some(&store), &manifest, &from, &paths)?,
        a.only,
        &manifest,
    );
    let mode = match manifest.settings.preflight {
        Mode::Off => Mode::Warn,
        m => m,
    };
    let summary = run_for(Some(&store), &manifest, &from, &target, mode)?;
    let refuses = summary.exporters.iter().any(preflight::Report::refuses);
    if a.json {
        print_json(&summary)?;
    } else if summary.exporters.is_empty() {
        println!(
            "preflight: nothing to start: no exporter of {} changes",
            a.manifest.display()
        );
    } else {
        print!("{}", summary.text());
    }
    Ok(if refuses { Outcome::Failed } else { Outcome::Ok })
}

/// The preflight of a switch from `from` to `target` under `mode`.
pub fn run_for(
    store: Option<&Store>,
    manifest: &Manifest,
    from: &ProfileState,
    target: &ProfileState,
    mode: Mode,
) -> Result<Summary> {
    let mut jobs = preflight::jobs(store, manifest, from, target);
    if mode == Mode::Off {
        // A dry run still names the flag changes the catalogue knows.
        for j in &mut jobs {
            j.skip.get_or_insert_with(|| "--preflight off".into());
        }
    }
    let probe = Probe::new()?;
    Ok(preflight::run_all(&jobs, mode, &probe))
}

//! `exporterctl preflight MANIFEST`: the preflight of a switch, alone.

use super::{print_json, Ctx, ExitStatus};
use crate::manifest::Manifest;
use crate::plan::{self, Options, SwitchRequest};
use crate::preflight::{self, Mode};
use crate::rollout::{with_schema, SCHEMA_PREFLIGHT};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

pub struct PreflightArgs<'a> {
    pub manifest: &'a Path,
    pub only: &'a [String],
    pub json: bool,
}

/// Realises MANIFEST (as a switch's plan does) and runs the preflight of
/// every exporter a switch would start anew. Exit 1 when one does not start
/// or drops a family `health.keep_metrics` keeps (what `require` refuses).
pub fn run(ctx: &Ctx, a: &PreflightArgs) -> Result<ExitStatus> {
    let mut manifest = Manifest::load(a.manifest)?;
    let _lock = ctx.lock("preflight")?;
    ctx.ensure_no_interrupted_switch()?;
    let request = SwitchRequest {
        manifest_path: a.manifest,
        only: a.only,
        dry_run: false,
        options: Options {
            atomic: false,
            confirm_each: false,
            pause: Duration::ZERO,
            // Only the plan is used: nothing is switched.
            parallel: 1,
            settle_cap: None,
            rollout_id: None,
        },
    };
    let plan = plan::switch(&ctx.layout, &mut manifest, &request)?;
    let store = ctx.store()?;
    let mode = match manifest.settings.preflight {
        Mode::Off => Mode::Warn,
        m => m,
    };
    let recorded = preflight::record::of_generation(&ctx.layout, plan.current.generation());
    let summary = preflight::for_switch(
        Some(&store),
        &manifest,
        &plan.from,
        &plan.target,
        mode,
        false,
        &recorded,
    )?;
    let refuses = summary.exporters.iter().any(preflight::Report::refuses);
    if a.json {
        print_json(&with_schema(SCHEMA_PREFLIGHT, serde_json::to_value(&summary)?, None))?;
    } else if summary.exporters.is_empty() {
        println!(
            "preflight: nothing to start: no exporter of {} changes",
            a.manifest.display()
        );
    } else {
        print!("{}", summary.text());
    }
    Ok(if refuses {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    })
}

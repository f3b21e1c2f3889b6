//! `exporterctl resume [--abort] [--json]`

use super::switch::{nothing_done, report};
use super::{Ctx, Host, Outcome};
use crate::generation::history::StepStatus;
use crate::generation::journal;
use crate::generation::profile;
use crate::generation::state::ProfileState;
use crate::switch::Options;
use anyhow::{Context as _, Result};
use std::time::Duration;

pub fn run(ctx: &Ctx, abort: bool, quiet: bool, json: bool) -> Result<Outcome> {
    let _lock = ctx.lock("resume")?;
    let Some(mut record) = journal::load(&ctx.layout).context("reading journal.json")? else {
        return nothing_done("nothing to resume: no switch was interrupted", json, quiet);
    };
    let store = ctx.store()?;
    let target = profile::read_farm_state(&store, &record.target_profile)?;
    let from = match &record.from_profile {
        Some(f) => profile::read_farm_state(&store, f)?,
        None => ProfileState::empty_like(&target),
    };
    let host = Host::new(ctx, target.service_manager, quiet)?;
    let engine = host.engine(ctx, &store);
    // An atomic switch that had already failed was undoing itself: finish that.
    let failed_atomic = record.atomic && record.steps.iter().any(|s| s.status == StepStatus::Failed);
    if abort || failed_atomic {
        if !quiet {
            eprintln!("undoing interrupted {} {}", record.kind, record.id);
        }
        engine.abort(&mut record, &from)?;
    } else {
        if !quiet {
            eprintln!("finishing interrupted {} {}", record.kind, record.id);
        }
        record.resumed = true;
        let opts = Options {
            atomic: record.atomic,
            confirm_each: false,
            pause: Duration::ZERO,
        };
        engine.run(&mut record, &from, &target, &opts)?;
    }
    report(&record, json)
}

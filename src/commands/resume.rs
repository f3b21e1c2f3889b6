//! `exporterctl resume [--abort] [--json]`

use super::switch::{nothing_done, report};
use super::{print_json, BlockedError, Ctx, ExitStatus, Host};
use crate::generation::journal;
use crate::generation::profile::{self, Current, Profiles};
use crate::generation::state::ProfileState;
use crate::switch::recovery::Way;
use anyhow::Result;

pub fn run(ctx: &Ctx, abort: bool, quiet: bool, json: bool) -> Result<ExitStatus> {
    let _lock = ctx.lock("resume")?;
    let mut record = match journal::load(&ctx.layout) {
        Ok(Some(r)) => r,
        Ok(None) => return nothing_done("nothing to resume: no switch was interrupted", json, quiet),
        Err(e @ journal::JournalError::Damaged { .. }) if abort => return abort_damaged(ctx, &e, quiet, json),
        Err(e @ journal::JournalError::Damaged { .. }) => {
            return Err(BlockedError(format!(
                "{e}: what it was doing is unknown, so it cannot be finished; {}",
                crate::switch::recovery::damaged_advice(&ctx.layout)
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    let store = ctx.store()?;
    let target = profile::read_farm_state(&store, &record.target_profile)?;
    let from = match &record.from_profile {
        Some(f) => profile::read_farm_state(&store, f)?,
        None => ProfileState::empty_like(&target),
    };
    let host = Host::new(ctx, target.service_manager, quiet)?;
    let engine = host.engine(ctx, &store);
    let way = Way::of(&record, abort);
    if !quiet {
        let doing = match way {
            Way::Undo => "undoing",
            Way::Finish => "finishing",
        };
        eprintln!("{doing} interrupted {} {}", record.kind, record.id);
    }
    engine.recover(&mut record, &from, &target, way)?;
    report(&record, json)
}

/// `resume --abort` with a journal that cannot be read: it returns to the
/// generation the profile link still names (every exporter restarted and
/// checked) and sets the journal aside; with the link at a transient farm
/// the generation to return to is unknown, so it sets the journal aside and
/// says how to pick one.
fn abort_damaged(ctx: &Ctx, e: &journal::JournalError, quiet: bool, json: bool) -> Result<ExitStatus> {
    let current = Profiles::new(&ctx.layout).current()?;
    let mut outcome = ExitStatus::Success;
    let mut unhealthy = Vec::new();
    if let Current::Generation(n, farm) = &current {
        let store = ctx.store()?;
        let state = profile::read_farm_state(&store, farm)?;
        let host = Host::new(ctx, state.service_manager, quiet)?;
        if !quiet {
            eprintln!("{e}; returning every exporter to generation {n}");
        }
        unhealthy = host.engine(ctx, &store).return_to_generation(*n, &state)?;
        if !unhealthy.is_empty() {
            outcome = ExitStatus::Failed;
        }
    }
    let aside = journal::set_aside(&ctx.layout)?;
    let message = match &current {
        Current::Generation(n, _) if unhealthy.is_empty() => format!("back at generation {n}, healthy"),
        Current::Generation(n, _) => format!("back at generation {n}, but NOT healthy: {}", unhealthy.join("; ")),
        Current::None => "no generation was ever made: nothing to return to".into(),
        Current::Transient(farm) => format!(
            "profiles/system points at farm {farm}, not at a generation: run `exporterctl rollback --to N` \
             to return to generation N (`exporterctl generations` lists them)"
        ),
    };
    let aside = format!("the damaged journal was moved to {}", aside.display());
    if json {
        print_json(&serde_json::json!({ "aborted_damaged_journal": true, "message": message, "journal": aside }))?;
    } else {
        println!("{message}; {aside}");
    }
    Ok(outcome)
}

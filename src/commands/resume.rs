//! `exporterctl resume [--abort] [--json]`

use super::switch::{nothing_done, report};
use super::{print_json, BlockedError, Ctx, Host, Outcome};
use crate::generation::history::StepStatus;
use crate::generation::journal;
use crate::generation::profile::{self, Current, Profiles};
use crate::generation::state::ProfileState;
use crate::switch::Options;
use anyhow::Result;
use std::time::Duration;

pub fn run(ctx: &Ctx, abort: bool, quiet: bool, json: bool) -> Result<Outcome> {
    let _lock = ctx.lock("resume")?;
    let mut record = match journal::load(&ctx.layout) {
        Ok(Some(r)) => r,
        Ok(None) => return nothing_done("nothing to resume: no switch was interrupted", json, quiet),
        Err(e @ journal::JournalError::Damaged { .. }) if abort => return abort_damaged(ctx, &e, quiet, json),
        Err(e @ journal::JournalError::Damaged { .. }) => {
            return Err(BlockedError(format!(
                "{e}: what it was doing is unknown, so it cannot be finished; {}",
                journal::damaged_advice(&ctx.layout)
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
    // The manifest's monitoring settings if it can still be read, else
    // enough to expire the silence the journal names.
    let monitoring = record.manifest.as_deref().and_then(crate::monitoring::settings_of);
    let window = crate::monitoring::window::Window::for_record(monitoring.clone(), &record);
    let mut engine = host.engine(ctx, &store);
    engine.monitor = window.as_ref();
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
        // What is still to start must be intact, as for a switch.
        engine.verify_activated(&record, &target)?;
        record.resumed = true;
        let opts = Options {
            atomic: record.atomic,
            confirm_each: false,
            pause: Duration::ZERO,
        };
        engine.run(&mut record, &from, &target, &opts)?;
    }
    super::switch::refresh_textfile(ctx, &store, monitoring.as_ref(), Some(&record));
    report(&record, json)
}

/// `resume --abort` with a journal that cannot be read: it returns to the
/// generation the profile link still names (every exporter restarted and
/// checked) and sets the journal aside; with the link at a transient farm
/// the generation to return to is unknown, so it sets the journal aside and
/// says how to pick one.
fn abort_damaged(ctx: &Ctx, e: &journal::JournalError, quiet: bool, json: bool) -> Result<Outcome> {
    let current = Profiles::new(&ctx.layout).current()?;
    let mut outcome = Outcome::Ok;
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
            outcome = Outcome::Failed;
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

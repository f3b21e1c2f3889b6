//! `exporterctl resume [--abort | --parallel N] [--json]`

use super::switch::{nothing_done, report};
use super::{print_json, Ctx, ExitStatus, Host};
use crate::switch::recovery::{self, Interrupted, Way};
use anyhow::Result;

pub fn run(ctx: &Ctx, abort: bool, parallel: Option<usize>, quiet: bool, json: bool) -> Result<ExitStatus> {
    let _lock = ctx.lock("resume")?;
    let (mut record, from, target) = match recovery::interrupted(&ctx.layout, abort)? {
        Interrupted::Nothing => return nothing_done("nothing to resume: no switch was interrupted", json, quiet),
        Interrupted::Damaged {
            error,
            current,
            back_to,
        } => return abort_damaged(ctx, &error, &current, back_to, quiet, json),
        Interrupted::Switch { record, from, target } => (record, from, target),
    };
    let store = ctx.store()?;
    let host = Host::new(ctx, target.service_manager, quiet)?;
    // The manifest's monitoring settings if it can still be read, else
    // enough to expire the silence the journal names.
    let monitoring = record
        .manifest
        .as_deref()
        .and_then(crate::monitoring::window::settings_of);
    let window = crate::monitoring::window::Window::for_record(monitoring.clone(), &record);
    let hooks = host.hooks(window.as_ref());
    let engine = host.watched_engine(ctx, &store, hooks.as_ref());
    let way = Way::of(&record, abort);
    if !quiet {
        let doing = match way {
            Way::Undo => "undoing",
            Way::Finish => "finishing",
        };
        eprintln!("{doing} interrupted {} {}", record.kind, record.id);
    }
    engine.recover(&mut record, &from, &target, way, parallel)?;
    super::switch::refresh_textfile(ctx, &store, monitoring.as_ref(), Some(&record));
    report(&record, json)
}

/// `resume --abort` with a journal that cannot be read: it returns to the
/// generation the profile link still names (every exporter restarted and
/// checked) and sets the journal aside; with the link at a transient farm
/// the generation to return to is unknown, so it sets the journal aside and
/// says how to pick one.
fn abort_damaged(
    ctx: &Ctx,
    e: &crate::generation::journal::JournalError,
    current: &crate::generation::profile::Current,
    back_to: Option<(u64, crate::generation::state::ProfileState)>,
    quiet: bool,
    json: bool,
) -> Result<ExitStatus> {
    let mut unhealthy = Vec::new();
    if let Some((n, state)) = back_to {
        let store = ctx.store()?;
        let host = Host::new(ctx, state.service_manager, quiet)?;
        if !quiet {
            eprintln!("{e}; returning every exporter to generation {n}");
        }
        unhealthy = host.engine(ctx, &store).return_to_generation(n, &state)?;
    }
    let (message, aside) = recovery::set_damaged_journal_aside(&ctx.layout, current, &unhealthy)?;
    if json {
        // No record: the no-record shape of docs/json.md, plus what was set aside.
        let mut doc =
            crate::rollout::with_schema(crate::rollout::SCHEMA_RECORD, serde_json::Value::Null, Some(&message));
        doc["aborted_damaged_journal"] = true.into();
        doc["journal"] = serde_json::to_value(&aside)?;
        print_json(&doc)?;
    } else {
        println!("{message}; {aside}");
    }
    Ok(if unhealthy.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

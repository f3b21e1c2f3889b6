//! `exporterctl rollback [--to N] [--json]`

use super::switch::{nothing_done, report};
use super::{Ctx, Host, Outcome, UsageError};
use crate::generation::profile::{self, Profiles};
use crate::generation::record::Generations;
use crate::store::{Store, StorePath};
use crate::switch::{self, Options};
use anyhow::Result;
use std::time::Duration;

pub fn run(ctx: &Ctx, to: Option<u64>, quiet: bool, json: bool) -> Result<Outcome> {
    let _lock = ctx.lock("rollback")?;
    ctx.ensure_no_interrupted_switch()?;
    let store = ctx.store()?;
    let profiles = Profiles::new(&ctx.layout);
    let current = profiles.current()?;
    let generations = Generations::new(&ctx.layout);
    // Names only: damaged records count too (the previous generation is the
    // one before by number, and its profile link, not its record, says what
    // it ran, as with `--to N`), and no record is read but the target's farm.
    let numbers = generations.numbers()?;
    let n = match (current.generation(), to) {
        (Some(cur_n), _) if to == Some(cur_n) => {
            return nothing_done(&format!("generation {cur_n} is already current"), json, quiet)
        }
        (_, Some(n)) if current.farm().is_some() => n,
        (Some(cur_n), None) => *numbers.iter().filter(|&&n| n < cur_n).max().ok_or_else(|| {
            UsageError(format!(
                "generation {cur_n} is the oldest there is; nothing to roll back to"
            ))
        })?,
        // After a damaged journal was set aside, profiles/system can point at
        // a farm that is no generation: only --to says where to go.
        (None, None) if current.farm().is_some() => {
            return Err(UsageError(
                "profiles/system points at a farm that is not a generation (an interrupted switch): \
                 say which generation to return to with `--to N`"
                    .into(),
            )
            .into())
        }
        _ => return Err(UsageError("there is no current generation to roll back from".into()).into()),
    };
    // The target's record is the only one read: a damaged one is said, and
    // its profile link still says what ran.
    if let Some(Err(d)) = generations.read(n)? {
        tracing::warn!("generation {n} record {}; rolling back by its profile link", d.record);
    }
    let cur_n = current.generation();
    let target_farm = generation_farm(ctx, &store, &profiles, n, &numbers, quiet)?;
    let target = profile::read_farm_state(&store, &target_farm)?;
    let from = match current.farm() {
        Some(f) => profile::read_farm_state(&store, f)?,
        None => crate::generation::state::ProfileState::empty_like(&target),
    };
    let host = Host::new(ctx, target.service_manager, quiet)?;
    let mut record = switch::new_record("rollback", None, &current, &from, &target, target_farm, false);
    record.target_generation = Some(n);
    if !quiet {
        match cur_n {
            Some(c) => eprintln!("rolling back from generation {c} to generation {n}"),
            None => eprintln!("rolling back to generation {n}"),
        }
    }
    let engine = host.engine(ctx, &store);
    engine.preflight(&record, &target)?;
    let opts = Options {
        atomic: false,
        confirm_each: false,
        pause: Duration::ZERO,
    };
    engine.run(&mut record, &from, &target, &opts)?;
    let outcome = report(&record, json)?;
    if let (Some(c), Some(back)) = (cur_n, record.result_generation) {
        let lines = super::diff::metric_lines(&generations, c, back);
        let shown = !(json && quiet);
        if shown && !lines.is_empty() {
            let text = format!(
                "what Prometheus sees again (generation {c} → {back}):\n{}",
                lines.join("")
            );
            if json {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
    }
    Ok(outcome)
}

/// The farm of generation `n` from its link in `profiles/`. A link missing
/// while its record names a farm the store still holds (a crash between
/// writing the record and the link, or a link removed by hand) is made again
/// from the record; otherwise the error says which part is missing.
fn generation_farm(
    ctx: &Ctx,
    store: &Store,
    profiles: &Profiles,
    n: u64,
    numbers: &[u64],
    quiet: bool,
) -> Result<StorePath> {
    if let Some(farm) = profiles.generation_farm(n)? {
        return Ok(farm);
    }
    let link = ctx.layout.profiles_dir().join(format!("system-{n}-link"));
    let generations = Generations::new(&ctx.layout);
    let record = match generations.load(n) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let known: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
            return Err(UsageError(format!(
                "generation {n} does not exist (there are: {})",
                known.join(", ")
            ))
            .into());
        }
        Err(e) => {
            return Err(UsageError(format!(
            "cannot roll back to generation {n}: its profile link {} is missing and its record is unreadable ({e}), \
                 so nothing says what it ran",
            link.display()
        ))
            .into())
        }
    };
    if !store.is_valid(&record.profile) {
        return Err(UsageError(format!(
            "cannot roll back to generation {n}: its profile link {} is missing, and the farm its record {} names, \
             {}, is not in the store (deleted by hand?); roll back to another generation",
            link.display(),
            ctx.layout.generations_dir().join(format!("{n}.json")).display(),
            record.profile
        ))
        .into());
    }
    profiles.link_generation(n, &record.profile)?;
    if !quiet {
        eprintln!(
            "{} was missing: made again from generations/{n}.json (farm {})",
            link.display(),
            record.profile
        );
    }
    Ok(record.profile)
}

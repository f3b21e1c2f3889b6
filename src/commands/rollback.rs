//! `exporterctl rollback [--to N] [--json]`

use super::switch::{nothing_done, report};
use super::{Ctx, Host, Outcome, UsageError};
use crate::generation::profile::{self, Profiles};
use crate::generation::record::Generations;
use crate::switch::{self, Options};
use anyhow::Result;
use std::time::Duration;

pub fn run(ctx: &Ctx, to: Option<u64>, quiet: bool, json: bool) -> Result<Outcome> {
    let _lock = ctx.lock("rollback")?;
    ctx.ensure_no_interrupted_switch()?;
    let store = ctx.store()?;
    let profiles = Profiles::new(&ctx.layout);
    let current = profiles.current()?;
    let Some(cur_n) = current.generation() else {
        return Err(UsageError("there is no current generation to roll back from".into()).into());
    };
    // Names only: a rollback reads no record but its target's farm.
    let numbers = Generations::new(&ctx.layout).numbers()?;
    let n = match to {
        Some(n) => n,
        None => *numbers.iter().filter(|&&n| n < cur_n).max().ok_or_else(|| {
            UsageError(format!(
                "generation {cur_n} is the oldest there is; nothing to roll back to"
            ))
        })?,
    };
    if n == cur_n {
        return nothing_done(&format!("generation {n} is already current"), json, quiet);
    }
    let Some(target_farm) = profiles.generation_farm(n)? else {
        let known: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
        return Err(UsageError(format!(
            "generation {n} does not exist (there are: {})",
            known.join(", ")
        ))
        .into());
    };
    let target = profile::read_farm_state(&store, &target_farm)?;
    let from = match current.farm() {
        Some(f) => profile::read_farm_state(&store, f)?,
        None => crate::generation::state::ProfileState::empty_like(&target),
    };
    let host = Host::new(ctx, target.service_manager, quiet)?;
    let mut record = switch::new_record("rollback", None, &current, &from, &target, target_farm, false);
    record.target_generation = Some(n);
    if !quiet {
        eprintln!("rolling back from generation {cur_n} to generation {n}");
    }
    let engine = host.engine(ctx, &store);
    engine.preflight(&record, &target)?;
    let opts = Options {
        atomic: false,
        confirm_each: false,
        pause: Duration::ZERO,
    };
    engine.run(&mut record, &from, &target, &opts)?;
    report(&record, json)
}

//! The plan of `exporterctl rollback`: back to an existing generation, by
//! its profile link (its record is only read to say it is damaged).

use super::{Options, Plan, Result};
use crate::exit::UsageError;
use crate::generation::history::History;
use crate::generation::profile::{self, Profiles};
use crate::generation::record::Generations;
use crate::paths::Layout;
use crate::rollout::{self, RolloutTarget};
use crate::store::{Store, StorePath};

/// Where a rollback goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The generation before the current one.
    Previous,
    /// `--to N`.
    Generation(u64),
    /// `--rollout ID`: the generation current before that fleet rollout's
    /// first switch on this host.
    Rollout(&'a str),
}

pub enum Rollback {
    /// The host is where the rollback would take it (why, in words).
    NothingToDo(String),
    To(Box<Plan>),
}

/// The generation `target` names, or why there is nothing to do.
fn generation_of(layout: &Layout, current: Option<u64>, target: Target) -> Result<Result<Option<u64>, String>> {
    let id = match target {
        Target::Previous => return Ok(Ok(None)),
        Target::Generation(n) => return Ok(Ok(Some(n))),
        Target::Rollout(id) => id,
    };
    Ok(match rollout::rollback_target(&History::new(layout).list()?, id) {
        RolloutTarget::NeverReached => Err(format!("rollout {id} never switched this host")),
        RolloutTarget::Generation { number, .. } if current == Some(number) => {
            Err(format!("generation {number}, current before rollout {id}, is current"))
        }
        RolloutTarget::Generation { number, .. } => Ok(Some(number)),
        RolloutTarget::NoGenerationBefore { switch_id } => {
            return Err(UsageError(format!(
                "rollout {id} (switch {switch_id}) made this host's first generation: there is none before it \
                 to return to"
            ))
            .into())
        }
    })
}

/// Which generation a rollback returns to (`goal`), and the plan there;
/// a rollback of a rollout carries its id into the record. The caller holds the state lock. `say`:
/// what was repaired on the way (a missing generation link made again).
/// Every changed exporter returns side by side, `parallel` at a time
/// (default [`super::DEFAULT_PARALLEL`]), each checked with a settle window
/// of at most [`super::ROLLBACK_SETTLE`].
pub fn rollback(
    layout: &Layout,
    store: &Store,
    goal: Target,
    parallel: Option<usize>,
    say: &mut dyn FnMut(String),
) -> Result<Rollback> {
    let profiles = Profiles::new(layout);
    let current = profiles.current()?;
    let to = match generation_of(layout, current.generation(), goal)? {
        Ok(to) => to,
        Err(why) => return Ok(Rollback::NothingToDo(why)),
    };
    let generations = Generations::new(layout);
    // Names only: damaged records count too (the previous generation is the
    // one before by number, and its profile link, not its record, says what
    // it ran, as with `--to N`), and no record is read but the target's farm.
    let numbers = generations.numbers()?;
    let n = match (current.generation(), to) {
        (Some(cur_n), _) if to == Some(cur_n) => {
            return Ok(Rollback::NothingToDo(format!("generation {cur_n} is already current")))
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
    let target_farm = generation_farm(layout, store, &profiles, n, &numbers, say)?;
    let target = profile::read_farm_state(store, &target_farm)?;
    let from = match current.farm() {
        Some(f) => profile::read_farm_state(store, f)?,
        None => crate::generation::state::ProfileState::empty_like(&target),
    };
    let options = Options {
        parallel: parallel.unwrap_or(super::DEFAULT_PARALLEL),
        settle_cap: Some(super::ROLLBACK_SETTLE),
        rollout_id: match goal {
            Target::Rollout(id) => Some(id.to_string()),
            Target::Previous | Target::Generation(_) => None,
        },
        ..Options::default()
    };
    let mut plan = Plan::new("rollback", None, current, from, target, options).refusing_foreign(layout)?;
    plan.target_generation = Some(n);
    plan.target_farm = Some(target_farm);
    Ok(Rollback::To(Box::new(plan)))
}

/// The farm of generation `n` from its link in `profiles/`. A link missing
/// while its record names a farm the store still holds (a crash between
/// writing the record and the link, or a link removed by hand) is made again
/// from the record; otherwise the error says which part is missing.
fn generation_farm(
    layout: &Layout,
    store: &Store,
    profiles: &Profiles,
    n: u64,
    numbers: &[u64],
    say: &mut dyn FnMut(String),
) -> Result<StorePath> {
    if let Some(farm) = profiles.generation_farm(n)? {
        return Ok(farm);
    }
    let link = layout.profiles_dir().join(format!("system-{n}-link"));
    let generations = Generations::new(layout);
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
            layout.generations_dir().join(format!("{n}.json")).display(),
            record.profile
        ))
        .into());
    }
    profiles.link_generation(n, &record.profile)?;
    say(format!(
        "{} was missing: made again from generations/{n}.json (farm {})",
        link.display(),
        record.profile
    ));
    Ok(record.profile)
}

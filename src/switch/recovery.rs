//! Crash recovery: what an interrupted switch left, and how the host gets
//! out of it. The journal (`generation::journal`) is the record written
//! before every flip; this module reads it. A command that would change the
//! host is refused while a switch is in flight ([`refuse_if_interrupted`]);
//! `resume` finishes an interrupted switch ([`Engine::resume`]) or undoes it
//! ([`Engine::abort`]); a damaged journal is got out of by returning to the
//! generation the profile link names ([`Engine::return_to_generation`]).
//! The crash points that test all this are `crate::fault`.

use super::{io_err, Engine, EngineError, Live, Options};
use crate::exit::BlockedError;
use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::journal::{self, JournalError};
use crate::generation::links::Links;
use crate::generation::now_rfc3339;
use crate::generation::profile::{self, Current, ProfileError, Profiles};
use crate::generation::state::{ExporterState, ProfileState};
use crate::paths::Layout;
use crate::plan::{refuse_foreign, MAX_PARALLEL};
use crate::store::{Store, StoreError};

/// Why what a switch left could not be read, or a change is refused while
/// it is in flight: a `BlockedError` kept as the cause (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{0}")]
    Blocked(#[from] BlockedError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Refuses to start a new change while a switch is running, was
/// interrupted, or left a journal that cannot be read; says which (exit 3).
pub fn refuse_if_interrupted(layout: &Layout) -> Result<(), RecoveryError> {
    let in_flight = InFlight::read(layout)?;
    match in_flight.refusal(layout) {
        Some(why) => Err(BlockedError(why).into()),
        None => Ok(()),
    }
}

/// What `journal.json` says about the switch in flight, as every command
/// tells it (`status`, a dry run, a refused change): one wording for all.
pub enum InFlight {
    None,
    /// Another process holds the state lock: the switch is running now.
    Running {
        record: Box<SwitchRecord>,
        holder: String,
    },
    /// Nobody runs it: a crash or a kill cut it short.
    Interrupted(Box<SwitchRecord>),
    /// The journal cannot be read.
    Damaged(JournalError),
}

impl InFlight {
    /// Reads the journal and asks the kernel whether its switch still runs
    /// (never taking the lock: see `StateLock::holder`). The caller's own
    /// lock does not count as running.
    pub fn read(layout: &Layout) -> Result<InFlight, JournalError> {
        let record = match journal::load(layout) {
            Ok(None) => return Ok(InFlight::None),
            Ok(Some(r)) => r,
            Err(e @ JournalError::Damaged { .. }) => return Ok(InFlight::Damaged(e)),
            Err(e) => return Err(e),
        };
        let holder = crate::generation::statelock::StateLock::holder(layout)
            .map_err(|source| JournalError::Io {
                path: layout.lock_path(),
                source,
            })?
            .filter(|h| h.pid != std::process::id());
        Ok(match holder {
            Some(h) => InFlight::Running {
                record: Box::new(record),
                holder: h.description,
            },
            None => InFlight::Interrupted(Box::new(record)),
        })
    }

    /// Why a command that would change the host must not start now, and
    /// what to do; `None` when nothing is in flight.
    pub fn refusal(&self, layout: &Layout) -> Option<String> {
        match self {
            InFlight::None => None,
            InFlight::Running { record, holder } => Some(format!(
                "{} {} is running ({holder}){}; wait for it to finish",
                record.kind,
                record.id,
                at_step(record)
            )),
            InFlight::Interrupted(record) => Some(format!(
                "{} {} was interrupted{}; run `exporterctl resume` to finish it or `exporterctl resume --abort` to undo it",
                record.kind,
                record.id,
                at_step(record)
            )),
            InFlight::Damaged(e) => Some(format!("{e}; {}", damaged_advice(layout))),
        }
    }
}

/// Where the switch is: the step in flight, or the steps (several, side by
/// side, in a fast switch).
fn at_step(record: &SwitchRecord) -> String {
    let running: Vec<String> = record
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == StepStatus::Running)
        .map(|(i, s)| format!("{} ({})", i.saturating_add(1), s.name))
        .collect();
    if running.len() > 1 {
        return format!(" at steps {}", running.join(", "));
    }
    record
        .current_step
        .and_then(|i| Some((i, record.steps.get(i)?)))
        .map(|(i, s)| format!(" at step {} ({})", i.saturating_add(1), s.name))
        .unwrap_or_default()
}

/// What can still be done about a damaged journal, from what the profile
/// link says.
pub fn damaged_advice(layout: &Layout) -> String {
    use crate::generation::profile::{Current, Profiles};
    match Profiles::new(layout).current() {
        Ok(Current::Generation(n, _)) => format!(
            "profiles/system points at generation {n}: `exporterctl resume --abort` returns every exporter to it \
             (restarted and checked) and sets the journal aside"
        ),
        Ok(Current::None) => {
            "no generation was ever made and no link was flipped: `exporterctl resume --abort` sets the journal aside"
                .into()
        }
        Ok(Current::Transient(farm)) => format!(
            "profiles/system points at farm {farm}, not at a generation, so where the switch started is unknown: \
             `exporterctl resume --abort` sets the journal aside, then `exporterctl rollback --to N` returns to \
             generation N (`exporterctl generations` lists them)"
        ),
        Err(e) => format!(
            "and the profile link cannot be read either ({e}): move {} away and repair {} by hand",
            layout.journal_path().display(),
            layout.profile_link().display()
        ),
    }
}

/// What `resume` finds in the journal.
pub enum Interrupted {
    /// No switch was interrupted.
    Nothing,
    /// The interrupted switch, where it started and where it went.
    Switch {
        record: Box<SwitchRecord>,
        from: ProfileState,
        target: ProfileState,
    },
    /// The journal cannot be read (`--abort` only): what the profile link
    /// names now, and with a generation, that generation's state to return to.
    Damaged {
        error: JournalError,
        current: Current,
        back_to: Option<(u64, ProfileState)>,
    },
}

/// Reads what an interrupted switch left (the caller holds the state lock).
/// A damaged journal can only be aborted: without `abort` it is refused
/// (exit 3) with what can still be done.
pub fn interrupted(layout: &Layout, abort: bool) -> Result<Interrupted, RecoveryError> {
    let record = match journal::load(layout) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(Interrupted::Nothing),
        Err(error @ JournalError::Damaged { .. }) if abort => {
            let current = Profiles::new(layout).current()?;
            let back_to = match &current {
                Current::Generation(n, farm) => {
                    let store = Store::open(layout)?;
                    Some((*n, profile::read_farm_state(&store, farm)?))
                }
                _ => None,
            };
            return Ok(Interrupted::Damaged {
                error,
                current,
                back_to,
            });
        }
        Err(e @ JournalError::Damaged { .. }) => {
            return Err(BlockedError(format!(
                "{e}: what it was doing is unknown, so it cannot be finished; {}",
                damaged_advice(layout)
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    let store = Store::open(layout)?;
    let target = profile::read_farm_state(&store, &record.target_profile)?;
    let from = match &record.from_profile {
        Some(f) => profile::read_farm_state(&store, f)?,
        None => ProfileState::empty_like(&target),
    };
    Ok(Interrupted::Switch {
        record: Box::new(record),
        from,
        target,
    })
}

/// After `resume --abort` of a damaged journal returned to the generation
/// the profile link names (`unhealthy`: what is not healthy there), or could
/// not: sets the journal aside and says where the host is and where the
/// journal went.
pub fn set_damaged_journal_aside(
    layout: &Layout,
    current: &Current,
    unhealthy: &[String],
) -> Result<(String, String), RecoveryError> {
    let aside = journal::set_aside(layout)?;
    let message = match current {
        Current::Generation(n, _) if unhealthy.is_empty() => format!("back at generation {n}, healthy"),
        Current::Generation(n, _) => format!("back at generation {n}, but NOT healthy: {}", unhealthy.join("; ")),
        Current::None => "no generation was ever made: nothing to return to".into(),
        Current::Transient(farm) => format!(
            "profiles/system points at farm {farm}, not at a generation: run `exporterctl rollback --to N` \
             to return to generation N (`exporterctl generations` lists them)"
        ),
    };
    Ok((message, format!("the damaged journal was moved to {}", aside.display())))
}

/// How `resume` ends an interrupted switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// The steps not yet done run, then the generation is recorded.
    Finish,
    /// Every exporter it touched returns to where the switch started.
    Undo,
}

impl Way {
    /// Undo when asked (`--abort`), and for an atomic switch that had
    /// already failed (it was undoing itself); else finish.
    pub fn of(record: &SwitchRecord, abort: bool) -> Way {
        let failed_atomic = record.atomic && record.steps.iter().any(|s| s.status == StepStatus::Failed);
        if abort || failed_atomic {
            Way::Undo
        } else {
            Way::Finish
        }
    }
}

/// How `resume` finishes `record`: as many steps side by side as the
/// switch ran with — or `parallel` (`resume --parallel N`) — bounded like
/// `--parallel` (the journal is a file anyone can edit: a width it holds is
/// never trusted); a record older than the field, one at a time. A
/// rollback keeps its shorter settle.
pub fn finish_options(record: &SwitchRecord, parallel: Option<usize>) -> Options {
    Options {
        atomic: record.atomic,
        parallel: parallel.unwrap_or(record.parallel).clamp(1, MAX_PARALLEL),
        settle_cap: (record.kind == "rollback").then_some(crate::plan::ROLLBACK_SETTLE),
        ..Options::default()
    }
}

impl Engine<'_> {
    /// Ends the interrupted switch `record` (from the journal) `way`.
    /// Finishing first verifies what is still to start, as a switch does,
    /// then runs the steps left with [`finish_options`] (`parallel`: the
    /// width asked for instead of the record's); undoing ignores it.
    pub fn recover(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        target: &ProfileState,
        way: Way,
        parallel: Option<usize>,
    ) -> Result<(), EngineError> {
        match way {
            Way::Undo => self.abort(record, from),
            Way::Finish => {
                self.verify_activated(record, target)?;
                record.resumed = true;
                // Side by side as the switch ran: each interrupted step is
                // redone from the state before it for its own exporter
                // (`Engine::step`), whatever the others did. The record
                // (and the journal, should the resume itself be cut short)
                // says the width used.
                let opts = finish_options(record, parallel);
                record.parallel = opts.parallel;
                self.resume(record, from, target, &opts)
            }
        }
    }

    /// Finishes a record an interrupted run left in the journal: what is
    /// live is read again (a step may have flipped), `from` is where the
    /// switch started.
    pub fn resume(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        target: &ProfileState,
        opts: &Options,
    ) -> Result<(), EngineError> {
        self.prepare(&[from, target])?;
        let current = self.profiles().current()?;
        let live_state = match current.farm() {
            Some(f) => profile::read_farm_state(self.store, f)?,
            None => from.clone(),
        };
        let live_farm = match current.farm() {
            Some(f) => f.clone(),
            None => profile::build_farm(self.store, &live_state)?,
        };
        let live = Live {
            state: live_state,
            farm: live_farm,
        };
        self.run_steps(record, from, target, live, opts)
    }

    /// Makes the host run generation `n` (`state`) again when what its
    /// exporters run is not known (a damaged journal): the profile link and
    /// the stable links as `n` has them, then every exporter restarted and
    /// checked. Returns what is not healthy.
    pub fn return_to_generation(&self, n: u64, state: &ProfileState) -> Result<Vec<String>, EngineError> {
        refuse_foreign(self.layout, state, None)?;
        let links = Links::new(self.layout);
        self.profiles().flip_to_generation(n)?;
        links.install_all(state).map_err(io_err("creating stable links"))?;
        self.reload_units();
        let mut unhealthy = Vec::new();
        for e in &state.exporters {
            // What runs is not known: whatever it is listens where `e` will,
            // so its scrapes are drained; a socket is (re)bound as after a
            // plain listener.
            self.drain(state, e, e.health.drain, "restarting");
            if let Err(why) = self.restart_and_check(state, e, None, &mut None) {
                unhealthy.push(format!("{} {}: {why}", e.name, e.version));
            }
        }
        Ok(unhealthy)
    }

    /// Returns every exporter an interrupted switch touched to `from`.
    pub fn abort(&self, record: &mut SwitchRecord, from: &ProfileState) -> Result<(), EngineError> {
        let current = self.profiles().current()?;
        let live_state = match current.farm() {
            Some(f) => profile::read_farm_state(self.store, f)?,
            None => from.clone(),
        };
        let from_farm = match &record.from_profile {
            Some(f) => f.clone(),
            None => profile::build_farm(self.store, from)?,
        };
        record.live_profile = Some(from_farm.clone());
        self.save(record)?;
        let touched: Vec<usize> = (0..record.steps.len())
            .filter(|&i| !matches!(record.steps[i].status, StepStatus::Pending | StepStatus::Skipped))
            .collect();
        for &i in &touched {
            let name = &record.steps[i].name;
            self.stop_before_flip(&live_state, live_state.exporter(name), from.exporter(name));
        }
        self.flip(&live_state, from, &from_farm)?;
        let changed: Vec<&ExporterState> = touched
            .iter()
            .filter_map(|&i| from.exporter(&record.steps[i].name))
            .filter(|o| Self::units_changed(live_state.exporter(&o.name), Some(o)))
            .collect();
        self.reload_and_enable(from, changed);
        for &i in &touched {
            let name = record.steps[i].name.clone();
            if let Some(o) = from.exporter(&name) {
                if let Err(e) = self.restart_and_check(from, o, live_state.exporter(&name), &mut None) {
                    record.steps[i].reason = Some(format!("aborted, but {} {} is NOT healthy: {e}", o.name, o.version));
                }
            }
            if record.steps[i].status != StepStatus::Failed {
                record.steps[i].status = StepStatus::Undone;
            }
        }
        for s in &mut record.steps {
            if s.status == StepStatus::Pending {
                s.status = StepStatus::Skipped;
            }
        }
        match record.from_generation {
            Some(n) => self.profiles().flip_to_generation(n)?,
            None => self.profiles().remove_system_link()?,
        }
        record.result_generation = record.from_generation;
        record.status = SwitchStatus::Aborted;
        record.current_step = None;
        record.ended_at = Some(now_rfc3339());
        self.hooks.closing(record, &[&live_state, from]);
        journal::close(self.layout, record)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{error_report, ExitStatus};

    /// A journal as a version before `parallel` wrote it, with `extra`
    /// fields added.
    fn journal(extra: &str) -> SwitchRecord {
        let farm = format!("{}-profile", "0".repeat(crate::store::HASH_TEXT_LEN));
        let text = format!(
            r#"{{"id":"20261129T221500.000000001Z-1-1","kind":"switch","manifest":null,
            "started_at":"2026-11-29T22:15:00Z","ended_at":null,"status":"running","atomic":true,
            "from_generation":1,"from_profile":null,"target_profile":"{farm}","target_generation":null,
            "live_profile":null,"current_step":null,"steps":[],"unchanged":[],"result_generation":null,
            "resumed":false{extra}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_journal_without_a_width_resumes_one_at_a_time() {
        let old = journal("");
        assert_eq!(old.parallel, 0);
        let opts = finish_options(&old, None);
        assert_eq!((opts.parallel, opts.width(), opts.atomic), (1, 1, true));
        assert_eq!(opts.settle_cap, None);
        assert!(!opts.confirm_each && opts.pause.is_zero());
    }

    #[test]
    fn resume_takes_the_width_the_switch_ran_with_clamped_or_the_one_asked_for() {
        assert_eq!(finish_options(&journal(r#","parallel":5"#), None).parallel, 5);
        // Hand-edited: never more than --parallel allows.
        let huge = journal(&format!(r#","parallel":{}"#, usize::MAX));
        assert_eq!(finish_options(&huge, None).parallel, MAX_PARALLEL);
        assert_eq!(finish_options(&journal(r#","parallel":0"#), None).parallel, 1);
        // `resume --parallel N` wins, bounded the same way.
        assert_eq!(finish_options(&huge, Some(2)).parallel, 2);
        assert_eq!(finish_options(&journal(""), Some(3)).parallel, 3);
        assert_eq!(finish_options(&journal(""), Some(10_000)).parallel, MAX_PARALLEL);
        // A negative or fractional width is no width: the journal is damaged.
        let bad = serde_json::to_string(&journal(""))
            .unwrap()
            .replace(r#""parallel":0"#, r#""parallel":-1"#);
        assert!(bad.contains(r#""parallel":-1"#), "{bad}");
        assert!(serde_json::from_str::<SwitchRecord>(&bad).is_err());
    }

    #[test]
    fn a_resumed_rollback_keeps_its_short_settle_and_its_width() {
        let mut r = journal(r#","parallel":8"#);
        r.kind = "rollback".into();
        let opts = finish_options(&r, None);
        assert_eq!(opts.settle_cap, Some(crate::plan::ROLLBACK_SETTLE));
        assert_eq!(opts.parallel, 8);
    }

    #[test]
    fn a_refusal_while_a_switch_is_in_flight_exits_3_with_its_message() {
        let e = anyhow::Error::new(RecoveryError::from(BlockedError("a switch is in flight".into())));
        assert_eq!(ExitStatus::of_error(&e), ExitStatus::Blocked);
        assert_eq!(error_report(&e), "a switch is in flight");
        let e = anyhow::Error::new(RecoveryError::from(std::io::Error::other("disk on fire")));
        assert_eq!(ExitStatus::of_error(&e), ExitStatus::Failed);
    }
}

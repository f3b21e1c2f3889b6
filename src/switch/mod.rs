//! The switch engine: executes a [`Plan`] (`crate::plan`) — moves the host
//! from its live state to the plan's target one step per exporter — farm,
//! journal, flip, restart, health check — and flips back on failure; the
//! steps run one at a time, or side by side (`Options::parallel`). It
//! decides nothing the plan already decided. Rollback executes a plan too;
//! resume finishes a record from the journal.

pub mod drain;
pub mod interrupt;
pub mod recovery;

use crate::fault;
use crate::fsutil;
use crate::generation::history::{StepRecord, StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::links::Links;
use crate::generation::profile::{self, ProfileError, Profiles};
use crate::generation::record::{GenerationRecord, Generations, Outcome, RecordError};
use crate::generation::state::{Action, ExporterState, ProfileState};
use crate::generation::{journal, now_rfc3339};
use crate::health::Probe;
use crate::paths::Layout;
use crate::plan::{describe, ForeignCheck, Options, Plan};
use crate::service::{ServiceManager, ServiceSpec};
use crate::store::{Store, StorePath};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    History(#[from] crate::generation::history::HistoryError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error(
        "store path {0} is missing (deleted by hand?): nothing was changed; `exporterctl store verify` lists the damage, \
         and a switch to a manifest realises what is missing again"
    )]
    MissingStorePath(String),
    #[error(
        "store path {store_path} fails verification ({problem}): refusing to activate it; nothing was changed. \
         `exporterctl store repair` restores it (modified releases and units need the manifest: \
         `exporterctl store repair MANIFEST`)"
    )]
    Damaged { store_path: String, problem: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Foreign(#[from] ForeignCheck),
}

fn io_err(context: &str) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Io {
        context: context.to_string(),
        source,
    }
}

/// The reason recorded for the steps a stop request (Ctrl-C, SIGTERM) skipped.
pub const STOPPED: &str = "not attempted: stopped by the operator (SIGINT/SIGTERM)";

/// What the engine tells the person at the terminal, and asks them.
/// `Sync`: the steps of a fast switch report from their own threads.
pub trait Ui: Sync {
    fn step_started(&self, index: usize, total: usize, step: &StepRecord);
    fn step_finished(&self, index: usize, total: usize, step: &StepRecord);
    fn note(&self, message: &str);
    /// `true` to go ahead.
    fn confirm(&self, question: &str) -> bool;
    fn pause(&self, d: Duration);
}

/// What watches a run of the engine from outside (monitoring): called
/// around the steps. It cannot change what a step does; it may add to the
/// record (`opening`, `closing`: what it did with the monitoring) and fail
/// a healthy step (`step_healthy`: `prometheus.verify: require`). Each
/// method's default does nothing.
pub trait Hooks: Sync {
    /// The journal is written and no step has started: before the first
    /// flip or restart.
    fn before_first_step(&self, _record: &SwitchRecord) {}
    /// The record is filed: the run ended, whatever its status.
    fn after_end(&self, _record: &SwitchRecord) {}
    /// Before the journal is first written by this run (a switch, a
    /// rollback, a resume): what it adds to the record is in the journal
    /// before any flip or restart (the monitoring's silence id, which
    /// `resume` must find after a crash).
    fn opening(&self, _record: &mut SwitchRecord, _from: &ProfileState, _target: &ProfileState) {}
    /// A step's new version passed its health check. `Err(why)` fails the
    /// step, which is rolled back like a failed check
    /// (`prometheus.verify: require`).
    fn step_healthy(&self, _exporter: &ExporterState) -> Result<(), String> {
        Ok(())
    }
    /// The run is over (status and end set; `resume --abort` too), its
    /// record not filed yet: what it adds is in the record. `states` holds
    /// what the steps' exporters ran before and after.
    fn closing(&self, _record: &mut SwitchRecord, _states: &[&ProfileState]) {}
}

/// No hooks.
pub struct NoHooks;

impl Hooks for NoHooks {}

pub struct Engine<'a> {
    pub layout: &'a Layout,
    pub store: &'a Store,
    pub svc: &'a dyn ServiceManager,
    pub probe: &'a Probe,
    pub ui: &'a dyn Ui,
    pub hooks: &'a dyn Hooks,
}

/// The service as the manager sees it, for one exporter of one state.
pub fn service_spec(layout: &Layout, state: &ProfileState, e: &ExporterState) -> ServiceSpec {
    ServiceSpec {
        exporter: e.name.clone(),
        unit: e.unit.clone(),
        exec: layout.rooted(&state.bin_dir).join(&e.name),
        args: e.args.clone(),
        environment: e.environment.clone(),
        socket: e.socket_unit(),
    }
}

struct Live {
    state: ProfileState,
    farm: StorePath,
}

/// What the steps of a run share, behind one lock: the record the journal
/// holds and what the profile link points at. Every journal write and
/// every flip happens under it, so they are serialised and each journal
/// names the farm of the flip that follows it.
struct Shared<'r> {
    record: &'r mut SwitchRecord,
    live: &'r mut Live,
}

/// What every step of a run reads.
struct StepCtx<'c> {
    from: &'c ProfileState,
    target: &'c ProfileState,
    order: &'c [String],
    opts: &'c Options,
}

/// A step that panicked leaves the record as its last save wrote it: the
/// lock stays usable (the scope re-raises the panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine<'_> {
    fn profiles(&self) -> Profiles {
        Profiles::new(self.layout)
    }

    fn save(&self, record: &SwitchRecord) -> Result<(), EngineError> {
        journal::save(self.layout, record).map_err(io_err("writing journal.json"))
    }

    /// Flips from `live` to `target` (a complete farm): removes our entries
    /// that `target` will not resolve, renames the profile link, then makes
    /// the entries `target` adds. No entry dangles at any instant.
    fn flip(&self, live: &ProfileState, target: &ProfileState, farm: &StorePath) -> Result<(), EngineError> {
        self.disable_leaving(live, target);
        let links = Links::new(self.layout);
        links.prune_for(live, target).map_err(io_err("removing stable links"))?;
        fault::point("after-prune");
        self.profiles().flip_to_farm(farm)?;
        fault::point("after-flip");
        links.install_all(target).map_err(io_err("creating stable links"))?;
        fault::point("after-links");
        Ok(())
    }

    /// What an earlier crash left between creating a temp entry and renaming
    /// it, in every directory a switch writes to. Best effort: litter is
    /// never worth failing a switch for.
    fn remove_dead_temps(&self, states: &[&ProfileState]) {
        let l = self.layout;
        // State directories are ours alone; in bin_dir and unit_dir only the
        // temps of our own entries are.
        let mut dirs: Vec<(std::path::PathBuf, Option<Vec<String>>)> = [
            l.state_dir(),
            l.profiles_dir(),
            l.generations_dir(),
            l.switches_dir(),
            l.run_dir(),
        ]
        .into_iter()
        .map(|d| (d, None))
        .collect();
        for s in states {
            let names = s.exporters.iter().map(|e| e.name.clone()).collect();
            let units = s
                .exporters
                .iter()
                .flat_map(|e| std::iter::once(e.unit.clone()).chain(e.socket_unit()))
                .collect();
            dirs.push((l.rooted(&s.bin_dir), Some(names)));
            dirs.push((l.rooted(&s.unit_dir), Some(units)));
        }
        for (dir, only) in dirs {
            let only: Option<Vec<&str>> = only.as_ref().map(|v| v.iter().map(String::as_str).collect());
            match fsutil::remove_dead_temps(&dir, only.as_deref()) {
                Ok(0) => {}
                Ok(n) => tracing::info!("removed {n} temporary file(s) a crash left in {}", dir.display()),
                Err(e) => tracing::warn!("cleaning temporary files in {}: {e}", dir.display()),
            }
        }
    }

    /// Generated units `target` will not have: disabled while their file is
    /// still there for systemd to read, or their `*.wants/` link would dangle.
    fn disable_leaving(&self, live: &ProfileState, target: &ProfileState) {
        let managed = |s: &ProfileState, unit: &str| {
            s.exporters
                .iter()
                .any(|e| e.unit == unit && e.unit_store_path.is_some())
        };
        for e in live.exporters.iter().filter(|e| e.unit_store_path.is_some()) {
            if !managed(target, &e.unit) {
                if let Err(err) = self.svc.disable(&service_spec(self.layout, live, e)) {
                    self.ui.note(&format!("warning: disabling {}: {err}", e.unit));
                }
            } else if let Some(socket) = e.socket_unit() {
                // The service stays, its socket goes (socket activation turned off).
                let kept = target
                    .exporters
                    .iter()
                    .any(|t| t.socket_unit().as_ref() == Some(&socket));
                if !kept {
                    if let Err(err) = self.svc.disable_socket(&service_spec(self.layout, live, e)) {
                        self.ui.note(&format!("warning: disabling {socket}: {err}"));
                    }
                }
            }
        }
    }

    /// Before `old` is flipped to `new`: an exporter that goes is stopped,
    /// and so is a socket that goes or changes, with its service (it holds
    /// the listen address the next listener binds, and would start the
    /// service again on the next connection). Scrapes in flight are drained
    /// first; returns what that wait saw. Failures are warnings: the start
    /// that follows says what is wrong.
    fn stop_before_flip(
        &self,
        live: &ProfileState,
        old: Option<&ExporterState>,
        new: Option<&ExporterState>,
    ) -> Option<drain::DrainRecord> {
        let drained = self.drain_before_stop(live, old, new)?;
        if let Some(o) = old {
            self.stop(live, o);
        }
        drained
    }

    /// The wait for scrapes in flight that [`Engine::stop_before_flip`]
    /// does before its stop: `None` when no stop is needed, else what the
    /// wait saw. Apart so that a step of a fast switch waits outside the
    /// lock its flip takes.
    fn drain_before_stop(
        &self,
        live: &ProfileState,
        old: Option<&ExporterState>,
        new: Option<&ExporterState>,
    ) -> Option<Option<drain::DrainRecord>> {
        let o = old?;
        let stop = match new {
            None => true,
            Some(n) => o.socket_store_path.is_some() && !same_socket(o, n),
        };
        if !stop {
            return None;
        }
        Some(self.drain(live, o, new.map_or(o.health.drain, |n| n.health.drain), "stopping it"))
    }

    fn stop(&self, live: &ProfileState, o: &ExporterState) {
        if let Err(e) = self.svc.stop(&service_spec(self.layout, live, o)) {
            self.ui.note(&format!("warning: stopping {}: {e}", o.unit));
        }
    }

    /// After a flip that changed units: systemd reads them again, and the
    /// generated units of `changed` are enabled (with their sockets).
    fn reload_and_enable<'e>(&self, state: &ProfileState, changed: impl IntoIterator<Item = &'e ExporterState>) {
        self.reload_units();
        for n in changed.into_iter().filter(|n| n.unit_store_path.is_some()) {
            if let Err(e) = self.svc.enable(&service_spec(self.layout, state, n)) {
                self.ui.note(&format!("warning: enabling {}: {e}", n.unit));
            }
        }
    }

    fn units_changed(old: Option<&ExporterState>, new: Option<&ExporterState>) -> bool {
        let unit = |e: Option<&ExporterState>| {
            e.and_then(|e| {
                e.unit_store_path
                    .clone()
                    .map(|u| (e.unit.clone(), u, e.socket_store_path.clone()))
            })
        };
        unit(old) != unit(new)
    }

    /// Restarts `e` and waits until it is healthy at its version. `previous`
    /// is what runs now (as far as known): the restart first waits for the
    /// scrapes in flight on its ports (`drain` gets what that wait saw). A
    /// socket-activated `e` whose socket was not running then gets it first —
    /// the service is stopped (a plain listener holds the address), the
    /// socket binds, the service starts on it. With its socket already there,
    /// a restart is only the service's, behind the socket.
    fn restart_and_check(
        &self,
        state: &ProfileState,
        e: &ExporterState,
        previous: Option<&ExporterState>,
        drain: &mut Option<drain::DrainRecord>,
    ) -> Result<Duration, String> {
        let spec = service_spec(self.layout, state, e);
        // The bound is the target's: the manifest (or generation) being
        // applied says how long its restarts may wait.
        *drain = previous.and_then(|r| self.drain(state, r, e.health.drain, "restarting"));
        let started = Instant::now();
        if e.socket_store_path.is_some() && !previous.is_some_and(|p| same_socket(p, e)) {
            let service_only = ServiceSpec {
                socket: None,
                ..spec.clone()
            };
            self.svc.stop(&service_only).map_err(|err| err.to_string())?;
            self.svc.start_socket(&spec).map_err(|err| err.to_string())?;
        }
        self.svc.restart(&spec).map_err(|err| err.to_string())?;
        fault::point("after-restart");
        let baseline = self.svc.status(&spec).map_err(|err| err.to_string())?;
        let report = self
            .probe
            .wait_healthy(self.svc, &spec, &e.health, &e.version, started, &baseline)
            .map_err(|f| f.to_string())?;
        fault::point("after-health");
        Ok(report.elapsed)
    }

    /// Waits until no scrape is in flight on `running`'s ports (or, with
    /// none in flight, for a keep-alive scraper's next answer: the restart
    /// then follows an answer), for at most `bound` (a `health.drain`).
    /// Every restart and stop of the engine
    /// passes here; the `none` manager stops nothing, so nothing is drained
    /// for it. `doing`: what follows, for the messages (`restarting`).
    fn drain(
        &self,
        state: &ProfileState,
        running: &ExporterState,
        bound: Duration,
        doing: &str,
    ) -> Option<drain::DrainRecord> {
        if self.svc.kind() == crate::service::ServiceManagerKind::None {
            return None;
        }
        // Nothing serves a unit that is not active (a release that died at
        // start): the connections on its port are queued on its socket,
        // waiting for the process the restart brings, not in flight.
        if self
            .svc
            .status(&service_spec(self.layout, state, running))
            .is_ok_and(|st| !st.is_active())
        {
            return None;
        }
        // A hand-edited state.json is not validated like a manifest.
        let bound = bound.min(crate::health::MAX_DRAIN);
        match drain::wait(&drain::listen_ports(running), bound) {
            Ok(Some(d)) if d.timed_out => {
                self.ui.note(&format!(
                    "{}: scrapes still in flight on port {} after {}; {doing} anyway",
                    running.name,
                    d.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
                    humantime::format_duration(bound)
                ));
                Some(d)
            }
            Ok(d) => d,
            Err(e) => {
                self.ui.note(&format!(
                    "warning: {}: cannot see connections to its port, {doing} without waiting for scrapes: {e}",
                    running.name
                ));
                None
            }
        }
    }

    fn reload_units(&self) {
        if let Err(e) = self.svc.daemon_reload() {
            self.ui.note(&format!("warning: daemon-reload failed: {e}"));
        }
    }

    /// Before anything is touched: every store path the target needs must be
    /// there, no file exporterctl did not create may sit where a link goes,
    /// and every unit a step will start that exporterctl does not
    /// write itself must exist for the service manager, or the switch would
    /// flip links and then fail at each restart.
    ///
    /// The plan refused files exporterctl did not create already. This is
    /// the place for checks between realising and the first flip.
    pub fn preflight(&self, record: &SwitchRecord, target: &ProfileState) -> Result<(), EngineError> {
        // A store path deleted by hand would leave a link resolving to nothing.
        if let Some(sp) = target.references().find(|sp| !self.store.is_valid(sp)) {
            return Err(EngineError::MissingStorePath(sp.to_string()));
        }
        self.verify_activated(record, target)?;
        for step in record.steps.iter().filter(|s| s.action != Action::Remove) {
            if let Some(e) = target.exporter(&step.name).filter(|e| e.unit_store_path.is_none()) {
                self.svc.check_startable(&service_spec(self.layout, target, e))?;
            }
        }
        Ok(())
    }

    /// Re-hashes (and checks the modes of) what the steps not yet done would
    /// start: the binaries, units and sockets of the exporters they change, and the
    /// target farm. Exporters left alone are not re-read, so a switch that
    /// changes one exporter costs one hash, not one per store path.
    pub fn verify_activated(&self, record: &SwitchRecord, target: &ProfileState) -> Result<(), EngineError> {
        let mut paths = vec![&record.target_profile];
        for step in &record.steps {
            if !matches!(step.status, StepStatus::Pending | StepStatus::Running) {
                continue;
            }
            if let Some(e) = target.exporter(&step.name) {
                paths.push(&e.store_path);
                paths.extend(e.unit_store_path.as_ref());
                paths.extend(e.socket_store_path.as_ref());
            }
        }
        for sp in paths {
            match self.store.verify(sp)? {
                crate::store::VerifyOutcome::Ok => {}
                crate::store::VerifyOutcome::Missing => return Err(EngineError::MissingStorePath(sp.to_string())),
                bad => {
                    return Err(EngineError::Damaged {
                        store_path: sp.to_string(),
                        problem: bad.describe(),
                    })
                }
            }
        }
        Ok(())
    }

    /// The farm of `plan`'s target in the store and the switch record the
    /// journal starts from.
    pub fn record(&self, plan: &Plan) -> Result<SwitchRecord, EngineError> {
        let farm = match &plan.target_farm {
            Some(f) => f.clone(),
            None => profile::build_farm(self.store, &plan.target)?,
        };
        Ok(plan.new_record(farm))
    }

    /// Executes `plan` (made under the state lock this run still holds, so
    /// its live state is the host's): every step of `record`, then the
    /// outcome recorded.
    pub fn run(&self, record: &mut SwitchRecord, plan: &Plan) -> Result<(), EngineError> {
        self.prepare(&[&plan.from, &plan.target])?;
        let live_farm = match plan.current.farm() {
            Some(f) => f.clone(),
            None => profile::build_farm(self.store, &plan.from)?,
        };
        let live = Live {
            state: plan.from.clone(),
            farm: live_farm,
        };
        self.run_steps(record, &plan.from, &plan.target, live, &plan.options)
    }

    fn prepare(&self, states: &[&ProfileState]) -> Result<(), EngineError> {
        // Before the journal exists: from then on a stop request must find
        // the handler (a test, or an operator, may signal as soon as it appears).
        interrupt::install();
        // Everything the switch will read at its end, read now: a damaged
        // counter found after the flips would leave a journal to resume.
        Generations::new(self.layout).peek_next()?;
        self.profiles().ensure_dir()?;
        self.remove_dead_temps(states);
        Ok(())
    }

    /// Runs every step not yet finished, then records the outcome. `from` is
    /// the state the switch started from, `target` where it goes, `live`
    /// what runs now.
    fn run_steps(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        target: &ProfileState,
        mut live: Live,
        opts: &Options,
    ) -> Result<(), EngineError> {
        let order: Vec<String> = target
            .exporters
            .iter()
            .map(|e| e.name.clone())
            .chain(from.exporters.iter().map(|e| e.name.clone()))
            .collect();
        self.hooks.opening(record, from, target);
        self.save(record)?;
        fault::point("after-journal");
        let todo: Vec<usize> = (0..record.steps.len())
            .filter(|&i| matches!(record.steps[i].status, StepStatus::Pending | StepStatus::Running))
            .collect();
        let side_by_side = opts.width() > 1 && !opts.confirm_each;
        if side_by_side && todo.len() > 1 {
            self.back_before_steps_in_flight(record, from, &order, &mut live)?;
        }
        self.hooks.before_first_step(record);

        let failed_atomic = {
            let shared = Mutex::new(Shared {
                record: &mut *record,
                live: &mut live,
            });
            let ctx = StepCtx {
                from,
                target,
                order: &order,
                opts,
            };
            if side_by_side {
                self.steps_side_by_side(&shared, &todo, &ctx)?
            } else {
                self.steps_one_by_one(&shared, &todo, &ctx)?
            }
        };
        if failed_atomic {
            self.undo_all(record, from, &mut live, opts.width())?;
        }
        let why = if interrupt::requested() {
            STOPPED
        } else {
            "not attempted: an earlier step failed (--atomic)"
        };
        for s in &mut record.steps {
            if s.status == StepStatus::Pending {
                s.status = StepStatus::Skipped;
                s.reason.get_or_insert_with(|| why.into());
            }
        }
        record.current_step = None;
        // All or nothing: an atomic switch with a failed step keeps nothing,
        // not even the changes that needed no restart.
        let all_or_nothing_failed = record.atomic
            && record
                .steps
                .iter()
                .any(|s| matches!(s.status, StepStatus::Failed | StepStatus::Undone));
        if !all_or_nothing_failed && !record.steps.iter().any(|s| s.status == StepStatus::Undone) {
            self.take_unrestarted_changes(record, target, &order, &mut live)?;
        }
        self.finish(record, from, target, &live)?;
        self.hooks.after_end(record);
        Ok(())
    }

    /// Resuming side by side: the exporters of the steps a crash left in
    /// flight return to the state before them (`from`'s) in one flip,
    /// before any step runs. Each step does it for its own exporter
    /// (`Engine::step`), but only in the state the steps share, not on disk
    /// until its own flip: side by side, another step's flip in between
    /// would start from links that are not there — a stable link of an
    /// exporter such a step added (or a socket it turned on) would resolve
    /// to nothing until that step flipped again. After this flip what the
    /// steps take for live is what the links are. Nothing is restarted:
    /// each step restarts its own. One at a time it is not needed: each
    /// step's own flip follows its return at once.
    fn back_before_steps_in_flight(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        order: &[String],
        live: &mut Live,
    ) -> Result<(), EngineError> {
        let before = record
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Running)
            .fold(live.state.clone(), |state, s| {
                state.with_exporter(&s.name, from.exporter(&s.name), order)
            });
        if before == live.state {
            return Ok(());
        }
        let farm = profile::build_farm(self.store, &before)?;
        record.live_profile = Some(farm.clone());
        self.save(record)?;
        self.flip(&live.state, &before, &farm)?;
        *live = Live { state: before, farm };
        Ok(())
    }

    /// The steps `todo` one after the other (every mode but a fast one with
    /// `--parallel` above 1): asks before each with `--mode safe`, pauses
    /// between them. `Ok(true)` when a step of an atomic switch failed.
    fn steps_one_by_one(&self, shared: &Mutex<Shared>, todo: &[usize], ctx: &StepCtx) -> Result<bool, EngineError> {
        for (k, &i) in todo.iter().enumerate() {
            if interrupt::requested() {
                break;
            }
            let (step, total) = {
                let g = lock(shared);
                (g.record.steps[i].clone(), g.record.steps.len())
            };
            if ctx.opts.confirm_each {
                let q = format!(
                    "step {}/{total}: {} {}, go ahead?",
                    i + 1,
                    step.name,
                    describe_action(&step)
                );
                if !self.ui.confirm(&q) {
                    let mut g = lock(shared);
                    g.record.steps[i].status = StepStatus::Skipped;
                    g.record.steps[i].reason = Some("declined at the prompt".into());
                    continue;
                }
            }
            self.ui.step_started(i, total, &step);
            let ok = self.step(shared, i, ctx)?;
            self.ui.step_finished(i, total, &lock(shared).record.steps[i]);
            if !ok && ctx.opts.atomic {
                return Ok(true);
            }
            if k + 1 < todo.len() && !ctx.opts.pause.is_zero() {
                self.ui.pause(ctx.opts.pause);
            }
        }
        Ok(false)
    }

    /// The steps `todo` side by side, at most `--parallel` at a time: each
    /// flips, restarts and is checked on its own thread, and flips back
    /// alone when it fails. The flips take turns (one profile link), the
    /// waits overlap. A stop request, a failed step of an atomic switch or
    /// an error starts no further step; the ones in flight finish.
    /// `Ok(true)` when a step of an atomic switch failed.
    fn steps_side_by_side(&self, shared: &Mutex<Shared>, todo: &[usize], ctx: &StepCtx) -> Result<bool, EngineError> {
        let stop = AtomicBool::new(false);
        let total = lock(shared).record.steps.len();
        let results = self.side_by_side(ctx.opts.width(), todo, |engine, &i| {
            if stop.load(Ordering::SeqCst) || interrupt::requested() {
                return None;
            }
            let step = lock(shared).record.steps[i].clone();
            engine.ui.step_started(i, total, &step);
            let r = engine.step(shared, i, ctx);
            match &r {
                Ok(ok) => {
                    engine.ui.step_finished(i, total, &lock(shared).record.steps[i]);
                    if !ok && ctx.opts.atomic {
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                Err(_) => stop.store(true, Ordering::SeqCst),
            }
            Some(r)
        });
        let mut failed = false;
        for r in results.into_iter().flatten() {
            failed |= !r?;
        }
        Ok(failed && ctx.opts.atomic)
    }

    /// Runs `f` for every item, at most `width` at a time, each on a thread
    /// of its own with an engine of its own (sharing the hooks: a step's
    /// `step_healthy` is the step's own); the results in the items' order.
    fn side_by_side<T: Sync, R: Send>(&self, width: usize, items: &[T], f: impl Fn(&Engine, &T) -> R + Sync) -> Vec<R> {
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
        let (layout, store, svc, probe, ui, hooks) =
            (self.layout, self.store, self.svc, self.probe, self.ui, self.hooks);
        std::thread::scope(|s| {
            for _ in 0..width.clamp(1, items.len().max(1)) {
                s.spawn(|| {
                    let engine = Engine {
                        layout,
                        store,
                        svc,
                        probe,
                        ui,
                        hooks,
                    };
                    loop {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(k) else { return };
                        let r = f(&engine, item);
                        *lock(&results[k]) = Some(r);
                    }
                });
            }
        });
        // A thread that panicked made the scope panic above: every slot is filled.
        results
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Exporters whose change needs no restart (a new health check, say) take
    /// the target's description without a step, so the generation records it.
    fn take_unrestarted_changes(
        &self,
        record: &mut SwitchRecord,
        target: &ProfileState,
        order: &[String],
        live: &mut Live,
    ) -> Result<(), EngineError> {
        let mut achieved = live.state.clone();
        for t in &target.exporters {
            if achieved
                .exporter(&t.name)
                .is_some_and(|l| t.changed_without_restart_from(l))
            {
                achieved = achieved.with_exporter(&t.name, Some(t), order);
            }
        }
        if achieved == live.state {
            return Ok(());
        }
        let farm = profile::build_farm(self.store, &achieved)?;
        record.live_profile = Some(farm.clone());
        self.save(record)?;
        self.flip(&live.state, &achieved, &farm)?;
        *live = Live { state: achieved, farm };
        Ok(())
    }

    /// One step; `Ok(false)` when its check failed and it was flipped back.
    ///
    /// Only what touches the profile link and the journal holds `shared`'s
    /// lock — the farm "what runs now with this exporter changed", the
    /// journal, a stop the flip needs, the flip — so the steps of a fast
    /// switch wait for scrapes, restart and check side by side. Each step
    /// touches only its own exporter: what another step flipped in the
    /// meantime is kept, and a flip back returns only this one.
    fn step(&self, shared: &Mutex<Shared>, i: usize, ctx: &StepCtx) -> Result<bool, EngineError> {
        let (name, action, new, old, live_now) = {
            let mut g = lock(shared);
            let name = g.record.steps[i].name.clone();
            if g.record.steps[i].status == StepStatus::Running {
                // Resuming a step a crash interrupted: it may or may not have been
                // flipped. Redo it from the state before it, which for this one
                // exporter is `from` (each step touches only its own exporter).
                let before = g.live.state.with_exporter(&name, ctx.from.exporter(&name), ctx.order);
                if before != g.live.state {
                    let farm = profile::build_farm(self.store, &before)?;
                    *g.live = Live { state: before, farm };
                }
            }
            let new = ctx.target.exporter(&name).cloned();
            let old = g.live.state.exporter(&name).cloned();
            (name, g.record.steps[i].action, new, old, g.live.state.clone())
        };
        let started = Instant::now();
        // Waits for scrapes before a stop outside the lock: other steps go on.
        let stopping = self.drain_before_stop(&live_now, old.as_ref(), new.as_ref());
        let new_state = {
            let mut g = lock(shared);
            let new_state = g.live.state.with_exporter(&name, new.as_ref(), ctx.order);
            let farm = profile::build_farm(self.store, &new_state)?;
            g.record.steps[i].status = StepStatus::Running;
            g.record.current_step = Some(i);
            g.record.live_profile = Some(farm.clone());
            self.save(g.record)?;
            if let (Some(drained), Some(o)) = (stopping, &old) {
                self.stop(&g.live.state, o);
                if action == Action::Remove {
                    g.record.steps[i].drain = drained;
                }
            }
            self.flip(&g.live.state, &new_state, &farm)?;
            *g.live = Live {
                state: new_state.clone(),
                farm,
            };
            new_state
        };
        let units_changed = Self::units_changed(old.as_ref(), new.as_ref());
        if units_changed {
            self.reload_and_enable(&new_state, new.as_ref());
        }
        let mut drained = None;
        let outcome = match &new {
            None => Ok(started.elapsed()),
            Some(n) => {
                let n = ctx.opts.settled(n);
                self.restart_and_check(&new_state, &n, old.as_ref(), &mut drained)
                    .and_then(|d| self.hooks.step_healthy(&n).map(|()| d))
            }
        };
        let reason = match outcome {
            Ok(_) => {
                let mut g = lock(shared);
                let s = &mut g.record.steps[i];
                s.status = StepStatus::Succeeded;
                s.duration_ms = Some(started.elapsed().as_millis() as u64);
                if action != Action::Remove {
                    s.drain = drained;
                }
                self.save(g.record)?;
                return Ok(true);
            }
            Err(reason) => reason,
        };
        {
            let mut g = lock(shared);
            g.record.steps[i].duration_ms = Some(started.elapsed().as_millis() as u64);
            g.record.steps[i].drain = drained;
        }
        fault::point("before-revert");
        // Back to what ran before this step, for this exporter alone.
        let stopping = self.drain_before_stop(&new_state, new.as_ref(), old.as_ref());
        let back = {
            let mut g = lock(shared);
            let back = g.live.state.with_exporter(&name, old.as_ref(), ctx.order);
            let farm = profile::build_farm(self.store, &back)?;
            g.record.live_profile = Some(farm.clone());
            self.save(g.record)?;
            if let (Some(_), Some(n)) = (stopping, &new) {
                self.stop(&g.live.state, n);
            }
            self.flip(&g.live.state, &back, &farm)?;
            fault::point("after-revert-flip");
            *g.live = Live {
                state: back.clone(),
                farm,
            };
            back
        };
        if units_changed {
            self.reload_and_enable(&back, old.as_ref());
        }
        let mut reason = reason;
        match &old {
            Some(o) => match self.restart_and_check(&back, o, new.as_ref(), &mut None) {
                Ok(_) => reason.push_str(&format!("; rolled back to {} {}, healthy again", o.name, o.version)),
                Err(e) => reason.push_str(&format!(
                    "; rolled back to {} {}, but it is NOT healthy either: {e}",
                    o.name, o.version
                )),
            },
            None => reason.push_str("; removed again"),
        }
        let mut g = lock(shared);
        g.record.steps[i].status = StepStatus::Failed;
        g.record.steps[i].reason = Some(reason);
        self.save(g.record)?;
        Ok(false)
    }

    /// `--atomic`: returns every exporter to `from` in one flip, then
    /// restarts and checks them, `width` at a time.
    fn undo_all(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        live: &mut Live,
        width: usize,
    ) -> Result<(), EngineError> {
        let from_farm = match &record.from_profile {
            Some(f) => f.clone(),
            None => profile::build_farm(self.store, from)?,
        };
        let undo: Vec<usize> = (0..record.steps.len())
            .filter(|&i| record.steps[i].status == StepStatus::Succeeded)
            .collect();
        if undo.is_empty() {
            return Ok(());
        }
        self.ui.note("--atomic: undoing every step of this switch");
        record.live_profile = Some(from_farm.clone());
        self.save(record)?;
        for &i in &undo {
            let name = &record.steps[i].name;
            self.stop_before_flip(&live.state, live.state.exporter(name), from.exporter(name));
        }
        self.flip(&live.state, from, &from_farm)?;
        let changed: Vec<&ExporterState> = undo
            .iter()
            .filter_map(|&i| {
                let name = &record.steps[i].name;
                let o = from.exporter(name);
                Self::units_changed(live.state.exporter(name), o).then_some(o).flatten()
            })
            .collect();
        let units_changed = undo.iter().any(|&i| {
            let name = &record.steps[i].name;
            Self::units_changed(live.state.exporter(name), from.exporter(name))
        });
        if units_changed {
            self.reload_and_enable(from, changed);
        }
        let problems = self.restart_side_by_side(width, from, &live.state, &record.steps, &undo);
        for (&i, problem) in undo.iter().zip(problems) {
            record.steps[i].status = StepStatus::Undone;
            if let Some((o, e)) = problem {
                record.steps[i].reason = Some(format!("undone, but {} {} is NOT healthy: {e}", o.name, o.version));
            }
        }
        *live = Live {
            state: from.clone(),
            farm: from_farm,
        };
        self.save(record)
    }

    /// After a flip back to `to` (from `was`): restarts and checks the
    /// exporter of each step in `which`, `width` at a time; per step the
    /// exporter that is not healthy, and why.
    fn restart_side_by_side<'s>(
        &self,
        width: usize,
        to: &'s ProfileState,
        was: &ProfileState,
        steps: &[StepRecord],
        which: &[usize],
    ) -> Vec<Option<(&'s ExporterState, String)>> {
        self.side_by_side(width, which, |engine, &i| {
            let name = &steps[i].name;
            let o = to.exporter(name)?;
            engine
                .restart_and_check(to, o, was.exporter(name), &mut None)
                .err()
                .map(|e| (o, e))
        })
    }

    /// Makes the achieved state a generation (or returns to an existing
    /// one), files the switch record and removes the journal.
    fn finish(
        &self,
        record: &mut SwitchRecord,
        from: &ProfileState,
        target: &ProfileState,
        live: &Live,
    ) -> Result<(), EngineError> {
        let profiles = self.profiles();
        let failed = record.steps.iter().any(|s| s.status == StepStatus::Failed);
        let undone = record.steps.iter().any(|s| s.status == StepStatus::Undone);
        let succeeded = record.steps.iter().any(|s| s.status == StepStatus::Succeeded);
        let stopped = record.steps.iter().any(|s| s.reason.as_deref() == Some(STOPPED));
        fault::point("before-generation");
        let generations = Generations::new(self.layout);
        if let Some(n) = record.target_generation.filter(|_| live.state == *target) {
            profiles.flip_to_generation(n)?;
            record.result_generation = Some(n);
        } else if let Some(n) = record.from_generation.filter(|_| live.state == *from) {
            profiles.flip_to_generation(n)?;
            record.result_generation = Some(n);
        } else if live.state.exporters.is_empty() && record.from_generation.is_none() {
            // Nothing was ever achieved (a first switch whose every step failed).
            profiles.remove_system_link()?;
        } else if let Some(n) = record
            .resumed
            .then(|| generations.list())
            .transpose()?
            .and_then(|gens| gens.iter().find(|g| g.switch_id == record.id).map(|g| g.number))
        {
            // Resuming a switch that had already recorded its generation (a
            // switch not resumed has a new id no record can have: it reads none).
            profiles.link_generation(n, &live.farm)?;
            profiles.flip_to_generation(n)?;
            record.result_generation = Some(n);
        } else {
            let n = generations.allocate()?;
            generations.save(&GenerationRecord {
                number: n,
                created_at: now_rfc3339(),
                profile: live.farm.clone(),
                origin: record.kind.clone(),
                switch_id: record.id.clone(),
                manifest: record.manifest.clone(),
                rollout_id: record.rollout_id.clone(),
                outcome: if failed || stopped {
                    Outcome::Partial
                } else {
                    Outcome::Succeeded
                },
                metrics: crate::preflight::record::scrape(self.probe, &live.state),
            })?;
            fault::point("after-generation-record");
            profiles.link_generation(n, &live.farm)?;
            profiles.flip_to_generation(n)?;
            fault::point("after-generation-flip");
            record.result_generation = Some(n);
        }
        record.status = match (failed, succeeded, undone) {
            _ if stopped => SwitchStatus::Stopped,
            (false, _, _) => SwitchStatus::Succeeded,
            (true, _, true) => SwitchStatus::RolledBack,
            (true, true, false) => SwitchStatus::Partial,
            (true, false, false) => SwitchStatus::Failed,
        };
        record.ended_at = Some(now_rfc3339());
        record.live_profile = Some(live.farm.clone());
        self.hooks.closing(record, &[target, from]);
        journal::close(self.layout, record)?;
        Ok(())
    }
}

/// Do `a` and `b` run behind the same socket (same unit, same socket file)?
fn same_socket(a: &ExporterState, b: &ExporterState) -> bool {
    a.unit == b.unit && a.socket_store_path.is_some() && a.socket_store_path == b.socket_store_path
}

/// A step as the progress lines and `generations` show it (as the plan does).
pub fn describe_action(s: &StepRecord) -> String {
    describe(s.action, &s.from_version, &s.to_version)
}

#[cfg(test)]
mod socket_activation_tests;

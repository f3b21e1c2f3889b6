//! The plan of a switch, decided once: what the host runs now, where the
//! manifest (or a generation) takes it, and every step between. The dry run
//! prints a [`Plan`], the journal records its steps (the switch record made
//! by [`Plan::new_record`]) and the engine (`crate::switch`) executes it
//! unchanged.
//!
//! [`switch`] builds the plan of `exporterctl switch`: it reads the live
//! state once, resolves and realises the manifest (tokens read once, each
//! source resolved once), renders the unit files (`crate::units`), narrows
//! to `--only`, refuses files exporterctl did not create, and computes the
//! changes once. `rollback` builds its plan with [`Plan::new`] from the
//! target generation's state.

// `PlanError` keeps the typed errors below it whole, so that
// `ExitStatus::of_error` finds them among its causes; a plan is made once
// per command, so the size of its error does not matter.
#![allow(clippy::result_large_err)]

pub mod rollback;

use crate::exit::UsageError;
use crate::generation::history::{HistoryError, StepRecord, StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::links::Links;
use crate::generation::now_rfc3339;
use crate::generation::profile::{self, Current, ProfileError, Profiles};
use crate::generation::record::RecordError;
use crate::generation::state::{self, Action, Change, ExporterState, ProfileState};
use crate::manifest::{Manifest, ManifestError};
use crate::paths::Layout;
use crate::realise::{self, RealiseError};
use crate::resolve::{resolve, ResolveError};
use crate::store::{self, EntryKind, Store, StoreError, StorePath, HASH_TEXT_LEN};
use crate::units::{generated_units, GeneratedUnit, UnitFileError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why no plan was made. What the user fixes keeps its own type as the
/// cause (`UsageError`, `ManifestError`, `ResolveError`, `RealiseError`),
/// where `ExitStatus::of_error` finds it: bad input exits 2.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Usage(#[from] UsageError),
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    #[error("{0}")]
    Realise(#[from] RealiseError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unit(#[from] UnitFileError),
    #[error(transparent)]
    Foreign(#[from] ForeignCheck),
    #[error("{0} was not realised")]
    NotRealised(String),
}

type Result<T, E = PlanError> = std::result::Result<T, E>;

/// How the engine carries out a plan; the rollout id is copied into the
/// record by [`Plan::new_record`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub atomic: bool,
    /// Ask before each step (`--mode safe`).
    pub confirm_each: bool,
    /// Pause between steps.
    pub pause: Duration,
    /// How many steps run side by side (`--mode fast` with `--parallel N`
    /// or `settings.parallel`, and rollback); 0 and 1 are one at a time.
    pub parallel: usize,
    /// The longest settle window a step's health check waits: a rollback's
    /// return to a generation that was healthy before ([`ROLLBACK_SETTLE`]).
    pub settle_cap: Option<Duration>,
    /// The fleet rollout this switch belongs to (`switch --rollout-id`), or
    /// that a rollback undoes (`rollback --rollout`): copied into the record.
    pub rollout_id: Option<String>,
}

pub use crate::manifest::{DEFAULT_PARALLEL, MAX_PARALLEL};

/// The settle window of a rollback's health checks, at most: the release,
/// unit and arguments it returns to passed their whole settle window on
/// this host when their generation was made; see docs/design.md, "Rollback".
pub const ROLLBACK_SETTLE: Duration = Duration::from_millis(500);

impl Options {
    /// Steps side by side: at least one, at most [`MAX_PARALLEL`].
    pub fn width(&self) -> usize {
        self.parallel.clamp(1, MAX_PARALLEL)
    }

    /// `e` as its step checks it: the settle window capped by `settle_cap`.
    pub fn settled(&self, e: &ExporterState) -> ExporterState {
        let mut e = e.clone();
        if let Some(cap) = self.settle_cap {
            e.health.settle = e.health.settle.min(cap);
        }
        e
    }
}

/// What a switch from `from` to `target` does. Serialised (the dry run's
/// `--json`) only the fields operators read; the rest is what the engine
/// needs to carry it out.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// The host already matches the manifest: no step, no generation.
    pub nothing_to_do: bool,
    pub from_generation: Option<u64>,
    /// Exporters that need a step (flip, restart, health check), in order.
    pub steps: Vec<Change>,
    /// Exporters whose health settings change: the new generation records
    /// them without a restart.
    pub no_restart: Vec<String>,
    /// Exporters left as they are.
    pub unchanged: Vec<String>,
    /// Releases the store does not have: the switch downloads them first.
    pub downloads: Vec<Download>,
    /// What the preflight found: the dry run runs it on the releases the
    /// store has; a switch runs it before its first flip and keeps it in
    /// its record (`preflight::Summary`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<crate::generation::preflight::Summary>,
    /// `switch` or `rollback`: the record's kind.
    #[serde(skip)]
    pub kind: &'static str,
    /// The manifest it came from (none for a rollback).
    #[serde(skip)]
    pub manifest: Option<PathBuf>,
    /// The profile link when the plan was made (under the state lock).
    #[serde(skip)]
    pub current: Current,
    /// The live state: what runs now.
    #[serde(skip)]
    pub from: ProfileState,
    #[serde(skip)]
    pub target: ProfileState,
    /// A rollback returns to this existing generation.
    #[serde(skip)]
    pub target_generation: Option<u64>,
    /// The target's farm when the store has it already (a generation's);
    /// else the engine builds it.
    #[serde(skip)]
    pub target_farm: Option<StorePath>,
    #[serde(skip)]
    pub options: Options,
}

#[derive(Debug, Serialize)]
pub struct Download {
    pub name: String,
    pub version: String,
    /// Taken to be the binary running now, which has this version: only the
    /// download tells (an adopted binary may differ), and if it differs the
    /// switch reconfigures the exporter.
    pub assumed_unchanged: bool,
}

/// Files in `bin_dir` or `unit_dir` where a link goes that exporterctl did
/// not create: a switch never replaces them. With a manifest, `adopt` is
/// the way to take them over.
#[derive(Debug, thiserror::Error)]
pub struct ForeignFiles {
    /// `PATH is WHAT; …`
    pub list: String,
    pub manifest: Option<PathBuf>,
}

impl std::fmt::Display for ForeignFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to replace files exporterctl did not create: {}; ",
            self.list
        )?;
        match &self.manifest {
            Some(m) => write!(
                f,
                "run `exporterctl adopt {}` to import them first (they become generation 1, so rollback can \
                 restore them), or move them away (a hand-written unit can also stay in charge: `manage_unit: false`)",
                m.display()
            ),
            None => write!(f, "move them away first (nothing was changed)"),
        }
    }
}

/// Links are made with a rename over whatever is there: never over a file
/// someone put in bin_dir or unit_dir.
pub fn refuse_foreign(layout: &Layout, state: &ProfileState, manifest: Option<&Path>) -> Result<(), ForeignCheck> {
    let foreign = Links::new(layout).foreign_entries(state).map_err(ForeignCheck::Io)?;
    if foreign.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = foreign
        .iter()
        .map(|(p, what)| format!("{} is {what}", p.display()))
        .collect();
    Err(ForeignCheck::Found(ForeignFiles {
        list: list.join("; "),
        manifest: manifest.map(Path::to_path_buf),
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum ForeignCheck {
    #[error(transparent)]
    Found(ForeignFiles),
    #[error("looking at bin_dir and unit_dir: {0}")]
    Io(#[source] std::io::Error),
}

impl Plan {
    /// The plan from `from` to `target`, its changes computed once.
    pub fn new(
        kind: &'static str,
        manifest: Option<PathBuf>,
        current: Current,
        from: ProfileState,
        target: ProfileState,
        options: Options,
    ) -> Plan {
        let steps = state::changes(&from, &target);
        let no_restart = state::changes_without_restart(&from, &target);
        let unchanged = target
            .exporters
            .iter()
            .map(|t| &t.name)
            .filter(|n| !steps.iter().any(|c| c.name == **n) && !no_restart.contains(n))
            .cloned()
            .collect();
        Plan {
            nothing_to_do: from == target,
            from_generation: current.generation(),
            steps,
            no_restart,
            unchanged,
            downloads: Vec::new(),
            preflight: None,
            kind,
            manifest,
            current,
            from,
            target,
            target_generation: None,
            target_farm: None,
            options,
        }
    }

    /// The plan, once no file exporterctl did not create sits where one of
    /// its target's links goes.
    pub fn refusing_foreign(self, layout: &Layout) -> Result<Plan, ForeignCheck> {
        refuse_foreign(layout, &self.target, self.manifest.as_deref())?;
        Ok(self)
    }

    /// Exporters the plan removes.
    pub fn removed(&self) -> impl Iterator<Item = &str> {
        self.steps
            .iter()
            .filter(|c| c.action == Action::Remove)
            .map(|c| c.name.as_str())
    }

    /// The switch record the journal starts from: the plan's steps, pending.
    /// `target_profile`: the farm of the target state.
    pub fn new_record(&self, target_profile: StorePath) -> SwitchRecord {
        let unchanged = self
            .target
            .exporters
            .iter()
            .filter(|t| !self.steps.iter().any(|c| c.name == t.name))
            .map(|t| t.name.clone())
            .collect();
        SwitchRecord {
            id: SwitchRecord::new_id(),
            kind: self.kind.to_string(),
            manifest: self.manifest.clone(),
            started_at: now_rfc3339(),
            ended_at: None,
            status: SwitchStatus::Running,
            atomic: self.options.atomic,
            // What the engine runs with: a safe switch asks before each step.
            parallel: if self.options.confirm_each {
                1
            } else {
                self.options.width()
            },
            from_generation: self.current.generation(),
            from_profile: self.current.farm().cloned(),
            target_profile,
            target_generation: self.target_generation,
            live_profile: self.current.farm().cloned(),
            current_step: None,
            steps: self
                .steps
                .iter()
                .map(|c| StepRecord {
                    name: c.name.clone(),
                    action: c.action,
                    from_version: c.from_version.clone(),
                    to_version: c.to_version.clone(),
                    status: StepStatus::Pending,
                    reason: None,
                    duration_ms: None,
                    drain: None,
                })
                .collect(),
            unchanged,
            result_generation: None,
            resumed: false,
            rollout_id: self.options.rollout_id.clone(),
            preflight: self.preflight.clone(),
            monitoring: None,
        }
    }

    /// The plan as the switch prints it before it starts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let n = self.steps.len();
        if n > 0 {
            out += &format!("plan ({n} step{}):\n", if n == 1 { "" } else { "s" });
            for c in &self.steps {
                let what = describe(c.action, &c.from_version, &c.to_version);
                out += &format!("  {:<28} {what}\n", c.name);
            }
            if !self.unchanged.is_empty() {
                out += &format!("  unchanged: {}\n", self.unchanged.join(", "));
            }
        }
        if !self.no_restart.is_empty() {
            out += &format!(
                "new generation, no restart: health settings of {}\n",
                self.no_restart.join(", ")
            );
        }
        if !self.downloads.is_empty() {
            let list: Vec<String> = self
                .downloads
                .iter()
                .map(|d| {
                    let note = if d.assumed_unchanged {
                        " (the version running now: a step only if its binary differs)"
                    } else {
                        ""
                    };
                    format!("{} {}{note}", d.name, d.version)
                })
                .collect();
            out += &format!("would download: {}\n", list.join(", "));
        }
        out
    }
}

/// A step (or a planned change) as the plan, the progress lines and
/// `generations` show it: `add 1.0.0`, `1.0.0 → 2.0.0`, `reconfigure 1.0.0`.
pub fn describe(action: Action, from: &Option<String>, to: &Option<String>) -> String {
    match (action, from, to) {
        (Action::Add, _, Some(t)) => format!("add {t}"),
        (Action::Remove, Some(f), _) => format!("remove {f}"),
        (Action::Reconfigure, _, Some(t)) => format!("reconfigure {t}"),
        (_, Some(f), Some(t)) => format!("{f} → {t}"),
        _ => format!("{action:?}").to_lowercase(),
    }
}

/// What `exporterctl switch` was asked to do.
pub struct SwitchRequest<'a> {
    /// The manifest's path as given (for messages and the record).
    pub manifest_path: &'a Path,
    /// `--only NAMES`: the other exporters stay as they run.
    pub only: &'a [String],
    /// Change nothing, not even the store: releases the store lacks are
    /// listed as downloads, not fetched.
    pub dry_run: bool,
    pub options: Options,
}

/// The plan of `exporterctl switch`: the one place a switch is decided.
/// A real switch (the caller holds the state lock) realises the manifest
/// and adds its unit files to the store; a dry run changes nothing.
pub fn switch(layout: &Layout, manifest: &mut Manifest, req: &SwitchRequest) -> Result<Plan> {
    for name in req.only {
        if manifest.exporter(name).is_none() {
            return Err(UsageError(format!(
                "--only {name}: no such exporter in {} (it has: {})",
                req.manifest_path.display(),
                manifest
                    .exporters
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    manifest.check_dirs(layout)?;
    let current = Profiles::new(layout).current()?;
    // Opening the store creates it: a dry run on a host without one has
    // nothing live or realised.
    let store = if !req.dry_run || layout.store_dir().is_dir() {
        Some(Store::open(layout)?)
    } else {
        None
    };
    let from = match (&store, current.farm()) {
        (Some(s), Some(f)) => profile::read_farm_state(s, f)?,
        _ => manifest.settings.empty_state(),
    };
    // Before any download: the switch could not carry this out.
    manifest.check_installed_settings(&from)?;
    let up = resolve(layout, manifest, true)?;
    let (paths, downloads) = if req.dry_run {
        known_paths(store.as_ref(), manifest, &from, up.lock.as_ref())?
    } else {
        let realised = realise::realise_with(layout, manifest, &up)?;
        crate::fault::point("after-realise");
        let paths = realised.into_iter().map(|r| (r.name, r.store_path)).collect();
        (paths, Vec::new())
    };
    let unit_store = if req.dry_run { None } else { store.as_ref() };
    let target = narrow(
        &from,
        target_state(unit_store, manifest, &from, &paths)?,
        req.only,
        manifest,
    );
    let mut plan = Plan::new(
        "switch",
        Some(req.manifest_path.to_path_buf()),
        current,
        from,
        target,
        req.options.clone(),
    )
    .refusing_foreign(layout)?;
    plan.downloads = downloads;
    Ok(plan)
}

/// Each exporter's store path, by name.
type Realised = (String, StorePath);

/// A dry run's store paths: a release the store lacks stands in as the
/// running binary of the same version, else as a path no store holds.
fn known_paths(
    store: Option<&Store>,
    manifest: &Manifest,
    from: &ProfileState,
    lock: Option<&crate::manifest::lock::LockFile>,
) -> Result<(Vec<Realised>, Vec<Download>)> {
    let mut paths = Vec::new();
    let mut downloads = Vec::new();
    for e in &manifest.exporters {
        let src = e.resolved_source().map_err(UsageError)?;
        let locked = lock.and_then(|l| l.entry(&e.name));
        let known = realise::known(store, e, src, locked, &manifest.path)?;
        let running = from.exporter(&e.name).filter(|l| l.version == e.version);
        if !known.as_ref().is_some_and(|k| k.in_store) {
            downloads.push(Download {
                name: e.name.clone(),
                version: e.version.clone(),
                assumed_unchanged: known.is_none() && running.is_some(),
            });
        }
        let path = match (known, running) {
            (Some(k), _) => k.store_path,
            (None, Some(l)) => l.store_path.clone(),
            // No tree hashes to zeros: this compares as a new binary.
            (None, None) => StorePath::parse(&format!("{}-{}-{}", "0".repeat(HASH_TEXT_LEN), e.name, e.version))?,
        };
        paths.push((e.name.clone(), path));
    }
    Ok((paths, downloads))
}

/// A generated unit file of `e`: added to `store`, or without one (a dry
/// run) only the store path it would get.
fn unit_store_path(store: Option<&Store>, u: &GeneratedUnit) -> Result<StorePath> {
    let Some(store) = store else {
        return Ok(store::one_file_path(&u.rest, &u.file, u.text.as_bytes())?);
    };
    let mut build = |dir: &Path| std::fs::write(dir.join(&u.file), u.text.as_bytes());
    Ok(store.add_tree(&u.rest, EntryKind::Unit, None, &mut build)?)
}

/// The target state: the manifest's exporters at their realised store paths.
/// Generated units are added to `store`; without one (a dry run) only their
/// store paths are computed.
pub fn target_state(
    store: Option<&Store>,
    manifest: &Manifest,
    live: &ProfileState,
    paths: &[(String, StorePath)],
) -> Result<ProfileState> {
    let mut target = manifest.settings.empty_state();
    for e in &manifest.exporters {
        let store_path = paths
            .iter()
            .find(|(n, _)| *n == e.name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| PlanError::NotRealised(e.name.clone()))?;
        let (unit_store_path, socket_store_path) = if e.manage_unit {
            let units = generated_units(&e.unit_spec(&manifest.settings))?;
            let service = unit_store_path(store, &units[0])?;
            let socket = units.get(1).map(|u| unit_store_path(store, u)).transpose()?;
            (Some(service), socket)
        } else {
            // A unit file exporterctl already owns (adopted) stays owned: dropping
            // it would delete the unit the exporter runs under.
            let adopted = live
                .exporter(&e.name)
                .filter(|l| l.unit == e.unit)
                .and_then(|l| l.unit_store_path.clone());
            (adopted, None)
        };
        let mut state = e.state(e.version.clone(), store_path, unit_store_path);
        state.socket_store_path = socket_store_path;
        target.exporters.push(state);
    }
    Ok(target)
}

/// `target` narrowed to `--only NAMES`: `live` with just those exporters changed.
fn narrow(live: &ProfileState, target: ProfileState, only: &[String], manifest: &Manifest) -> ProfileState {
    if only.is_empty() {
        return target;
    }
    let order: Vec<String> = manifest.exporters.iter().map(|e| e.name.clone()).collect();
    let mut narrowed = live.clone();
    for name in only {
        narrowed = narrowed.with_exporter(name, target.exporter(name), &order);
    }
    narrowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{error_report, ExitStatus};

    #[test]
    fn plan_errors_keep_their_messages_and_what_the_user_fixes_exits_2() {
        let of = |e: PlanError| {
            let e = anyhow::Error::new(e);
            (ExitStatus::of_error(&e), error_report(&e))
        };
        let usage = PlanError::from(UsageError("--only x: no such exporter".into()));
        assert_eq!(of(usage), (ExitStatus::BadInput, "--only x: no such exporter".into()));
        let not_forge = ResolveError::NotForge { exporter: "x".into() };
        let text = not_forge.to_string();
        assert_eq!(of(not_forge.into()), (ExitStatus::BadInput, text.clone()));
        let realise = RealiseError::Resolve(ResolveError::NotForge { exporter: "x".into() });
        assert_eq!(of(realise.into()), (ExitStatus::BadInput, text));
        let io = RealiseError::Cache(std::io::Error::other("disk on fire"));
        assert_eq!(of(io.into()), (ExitStatus::Failed, "disk on fire".into()));
        assert_eq!(
            of(PlanError::NotRealised("x".into())),
            (ExitStatus::Failed, "x was not realised".into())
        );
    }

    #[test]
    fn a_settle_cap_shortens_only_longer_settle_windows_and_width_is_bounded() {
        let e = state(&[("a", "1.0.0", "30s")]).exporters[0].clone();
        let mut long = e.clone();
        long.health.settle = Duration::from_secs(2);
        let mut short = e.clone();
        short.health.settle = Duration::from_millis(100);
        let rollback = Options {
            settle_cap: Some(ROLLBACK_SETTLE),
            ..Options::default()
        };
        assert_eq!(rollback.settled(&long).health.settle, ROLLBACK_SETTLE);
        assert_eq!(rollback.settled(&short).health.settle, Duration::from_millis(100));
        assert_eq!(Options::default().settled(&long).health.settle, Duration::from_secs(2));
        assert_eq!(Options::default().width(), 1);
        let wide = Options {
            parallel: 10_000,
            ..Options::default()
        };
        assert_eq!(wide.width(), MAX_PARALLEL);
    }

    fn state(exporters: &[(&str, &str, &str)]) -> ProfileState {
        let list: Vec<String> = exporters
            .iter()
            .map(|(name, version, timeout)| {
                format!(
                    r#"{{"name":"{name}","version":"{version}","store_path":"0123456789abcdef0123456789abcdef-{name}-{version}",
                    "unit":"{name}.service","unit_store_path":null,"args":[],"environment":{{}},
                    "health":{{"url":null,"build_info":null,"build_info_label":"version","expect":[],"timeout":"{timeout}","settle":"2s"}}}}"#
                )
            })
            .collect();
        let json = format!(
            r#"{{"bin_dir":"/usr/local/bin","unit_dir":"/etc/systemd/system","service_manager":"systemd","exporters":[{}]}}"#,
            list.join(",")
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_record_carries_the_plans_steps_and_the_json_only_what_operators_read() {
        let from = state(&[
            ("node", "1.5.0", "30s"),
            ("blackbox", "0.24.0", "30s"),
            ("gone", "1.0.0", "30s"),
        ]);
        let target = state(&[
            ("node", "1.6.0", "30s"),
            ("blackbox", "0.24.0", "10s"),
            ("new", "2.0.0", "30s"),
        ]);
        let options = Options {
            atomic: true,
            ..Options::default()
        };
        let plan = Plan::new("switch", None, Current::None, from, target, options);
        let names: Vec<&str> = plan.steps.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["node", "new", "gone"]);
        assert_eq!(plan.no_restart, ["blackbox"]);
        assert!(plan.unchanged.is_empty());
        assert_eq!(plan.removed().collect::<Vec<_>>(), ["gone"]);
        let sp = StorePath::parse(&format!("{}-profile", "1".repeat(HASH_TEXT_LEN))).unwrap();
        let record = plan.new_record(sp);
        let steps: Vec<&str> = record.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(steps, names);
        assert!(record.steps.iter().all(|s| s.status == StepStatus::Pending));
        // A change without a restart is no step: the record lists it unchanged.
        assert_eq!(record.unchanged, ["blackbox"]);
        assert!(record.atomic);
        assert_eq!(record.parallel, 1, "the default options run one at a time");
        let json = serde_json::to_value(&plan).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "downloads",
                "from_generation",
                "no_restart",
                "nothing_to_do",
                "steps",
                "unchanged"
            ]
        );
    }

    #[test]
    fn the_record_keeps_the_width_the_engine_runs_with() {
        let record = |options: Options| {
            let target = state(&[("node", "1.6.0", "30s"), ("new", "2.0.0", "30s")]);
            let plan = Plan::new("switch", None, Current::None, state(&[]), target, options);
            plan.new_record(StorePath::parse(&format!("{}-profile", "1".repeat(HASH_TEXT_LEN))).unwrap())
        };
        let fast = |parallel| Options {
            parallel,
            ..Options::default()
        };
        assert_eq!(record(fast(5)).parallel, 5);
        assert_eq!(record(fast(0)).parallel, 1);
        assert_eq!(record(fast(10_000)).parallel, MAX_PARALLEL);
        // --mode safe asks before each step, so runs them one at a time.
        let safe = Options {
            confirm_each: true,
            ..fast(8)
        };
        assert_eq!(record(safe).parallel, 1);
    }

    #[test]
    fn files_not_created_by_exporterctl_are_refused_with_the_adopt_advice_when_a_manifest_is_known() {
        let found = |manifest: Option<&str>| {
            ForeignFiles {
                list: "/usr/local/bin/node is a regular file".into(),
                manifest: manifest.map(PathBuf::from),
            }
            .to_string()
        };
        assert!(found(Some("m.yaml")).contains("run `exporterctl adopt m.yaml` to import them first"));
        assert!(found(None).ends_with("move them away first (nothing was changed)"));
    }
}

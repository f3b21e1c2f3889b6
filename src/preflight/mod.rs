//! Preflight: prove a release starts with this host's arguments and
//! environment, and show what it changes in what Prometheus sees, before the
//! running exporter is touched.
//!
//! For each exporter a switch would start anew, the release is started from
//! the store beside the running one — same arguments and environment, same
//! user, its listen address moved to a free loopback port ([`listen`]) —
//! scraped once and stopped ([`child`] makes sure it is gone, whatever
//! happens), and its metric families are compared with a scrape of the
//! running exporter ([`families`]). The catalogue's knowledge of flag
//! changes ([`flags`]) is applied to the arguments. [`verdict`] holds the
//! modes and the `require` decision. Preflights of different exporters are
//! independent and run concurrently; the summary reports each one's time.
//!
//! The copy does not run under the unit's sandbox (a transient systemd unit
//! would, at the cost of a dependency on systemd and a unit a crash could
//! leave behind): what the sandbox takes away is still caught by the health
//! check after the flip.

pub mod child;
pub use crate::health::families;
pub mod flags;
pub mod listen;
pub mod record;
pub mod run;
pub mod verdict;

pub use crate::generation::preflight::{Control, Mode, Report, Status, Summary};
pub use verdict::KeepMetrics;

use crate::generation::state::{self, Action, ProfileState};
use crate::health::HealthSpec;
use crate::manifest::Manifest;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// One exporter to preflight.
/// Who a copy runs as in place of a unit's transient user.
pub const NOBODY: &str = "nobody";

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub from_version: Option<String>,
    pub to_version: String,
    /// The new release's binary in the store.
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub user: Option<String>,
    /// The target's health settings (URL path, build info, timeout, keep_metrics).
    pub health: HealthSpec,
    /// Where the running exporter serves, to compare with.
    pub running_url: Option<String>,
    /// The families the running exporter served when the live generation
    /// was made: compared with instead of scraping it again (no load on it).
    pub running_families: Option<Vec<families::Family>>,
    /// The exporter listens on a known default port without a listen flag.
    pub default_port: bool,
    /// Why it is not run (`preflight: false`, not in the store yet).
    pub skip: Option<String>,
    pub advice: Vec<flags::Advice>,
    /// The release running now, started the same way when the copy fails
    /// (the control, [`Report::control`]); `None` for a new exporter.
    pub running: Option<Running>,
}

/// The release running now, as its generation runs it.
#[derive(Debug, Clone)]
pub struct Running {
    pub version: String,
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
}

impl Job {
    /// The control of this job: the running release in the copy's place,
    /// with the same user and health settings. `None` without one.
    pub fn control(&self) -> Option<Job> {
        let r = self.running.as_ref()?;
        Some(Job {
            to_version: r.version.clone(),
            from_version: Some(r.version.clone()),
            exec: r.exec.clone(),
            args: r.args.clone(),
            environment: r.environment.clone(),
            running: None,
            advice: Vec::new(),
            ..self.clone()
        })
    }
}

/// The preflights a switch from `from` to `target` needs: every exporter
/// it starts anew (added, upgraded, downgraded, reconfigured). `store`
/// `None` (a dry run on a host without one) or a release not in it yet
/// makes a skipped job that says how to run it.
pub fn jobs(
    store: Option<&Store>,
    manifest: &Manifest,
    from: &ProfileState,
    target: &ProfileState,
    recorded: &record::Served,
) -> Vec<Job> {
    let mut out = Vec::new();
    for c in state::changes(from, target) {
        if c.action == Action::Remove {
            continue;
        }
        let (Some(t), Some(e)) = (target.exporter(&c.name), manifest.exporter(&c.name)) else {
            continue;
        };
        let live = from.exporter(&c.name);
        let entry = e.catalogue_entry();
        let exec_of = |sp: &crate::store::StorePath, name: &str| {
            store.map(|s| s.path_of(sp).join("bin").join(name)).unwrap_or_default()
        };
        let exec = exec_of(&t.store_path, &t.name);
        let skip = if !e.preflight {
            Some("preflight: false (a second copy cannot run beside the running one)".to_string())
        } else if !store.is_some_and(|s| s.is_valid(&t.store_path)) {
            Some(format!(
                "{} {} is not in the store yet: `exporterctl preflight {}` downloads it and runs the preflight",
                t.name,
                t.version,
                manifest.path.display()
            ))
        } else {
            None
        };
        // A sandboxed unit gets its credential files (`--config.my-cnf`)
        // through `LoadCredential=`, read by systemd as root: the copy reads
        // them as root too, as the user could not.
        let sandboxed = manifest.settings.service_manager == crate::service::ServiceManagerKind::Systemd
            && e.manage_unit
            && e.sandbox.enabled;
        let credentials = sandboxed
            && entry
                .as_ref()
                .is_some_and(|en| !crate::units::sandbox::credential_args(&en.sandbox, &t.args).is_empty());
        // The copy never has more rights than its unit will: a unit running
        // as a transient user (`DynamicUser=yes`, the default sandbox) is
        // stood in for by `nobody`, not by exporterctl's root.
        let dynamic = sandboxed
            && crate::units::sandbox::for_exporter(&e.unit_spec(&manifest.settings), &t.args)
                .is_some_and(|s| s.dynamic_user());
        let user = match (credentials, dynamic) {
            (true, _) => None,
            (false, true) => Some(NOBODY.to_string()),
            (false, false) => e.user.clone(),
        };
        out.push(Job {
            name: t.name.clone(),
            from_version: c.from_version.clone(),
            to_version: t.version.clone(),
            exec,
            args: t.args.clone(),
            environment: t.environment.clone(),
            user,
            health: t.health.clone(),
            running_url: live.and_then(|l| l.health.url.clone()),
            running_families: live.and_then(|_| recorded.get(&t.name).cloned()),
            default_port: entry.is_some(),
            skip,
            advice: entry
                .map(|en| flags::advise(&en, &t.version, &t.args, &t.environment))
                .unwrap_or_default(),
            running: live
                .filter(|l| store.is_some_and(|s| s.is_valid(&l.store_path)))
                .map(|l| Running {
                    version: l.version.clone(),
                    exec: exec_of(&l.store_path, &l.name),
                    args: l.args.clone(),
                    environment: l.environment.clone(),
                }),
        });
    }
    out
}

/// The preflight of a switch from `from` to `target` under `mode`: its jobs
/// run concurrently. `recorded`: the families the live generation recorded
/// (`record::of_generation`), compared with instead of a new scrape. With `off` nothing starts, but the jobs are listed (a
/// dry run still names the catalogue's flag changes). `atomic`: the switch
/// keeps all of its steps or none (`--atomic`), so a refused step refuses
/// it whole ([`verdict::decide`]).
pub fn for_switch(
    store: Option<&Store>,
    manifest: &Manifest,
    from: &ProfileState,
    target: &ProfileState,
    mode: Mode,
    atomic: bool,
    recorded: &record::Served,
) -> Result<Summary, crate::health::HealthFailure> {
    let mut jobs = jobs(store, manifest, from, target, recorded);
    if mode == Mode::Off {
        for j in &mut jobs {
            j.skip.get_or_insert_with(|| "--preflight off".into());
        }
    }
    let probe = crate::health::Probe::new()?;
    let steps = state::changes(from, target).len();
    Ok(run_all(&jobs, mode, &probe, |s| verdict::decide(s, steps, atomic)))
}

/// An empty report of `job` (skipped until run).
pub(crate) fn new_report(job: &Job) -> Report {
    Report {
        name: job.name.clone(),
        from_version: job.from_version.clone(),
        to_version: job.to_version.clone(),
        status: Status::Skipped,
        reason: None,
        args: Vec::new(),
        build_info_version: None,
        families: 0,
        metrics: None,
        compared_with: None,
        not_compared: None,
        kept_removed: Vec::new(),
        flag_changes: job.advice.clone(),
        control: None,
        duration_ms: 0,
    }
}

/// Runs `jobs` concurrently (one thread each); `decide` says what the
/// switch does with the findings ([`verdict::decide`]).
pub fn run_all(jobs: &[Job], mode: Mode, probe: &crate::health::Probe, decide: impl FnOnce(&mut Summary)) -> Summary {
    let started = Instant::now();
    let exporters: Vec<Report> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs.iter().map(|j| s.spawn(move || run::run_one(j, probe))).collect();
        handles
            .into_iter()
            .zip(jobs)
            .map(|(h, j)| {
                h.join().unwrap_or_else(|_| {
                    let mut r = new_report(j);
                    r.status = Status::Failed;
                    r.reason = Some("the preflight itself panicked".into());
                    r
                })
            })
            .collect()
    });
    let mut summary = Summary {
        mode,
        duration_ms: started.elapsed().as_millis() as u64,
        exporters,
        refused: false,
        refused_steps: Vec::new(),
    };
    decide(&mut summary);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorePath;

    fn manifest(settings: &str, exporters: &str) -> Manifest {
        let text = format!("apiVersion: exporterctl/v1\nsettings:\n  arch: amd64\n{settings}exporters:\n{exporters}");
        Manifest::parse(&text, std::path::Path::new("/m.yaml")).unwrap()
    }

    fn state(m: &Manifest, versions: &[(&str, &str)]) -> ProfileState {
        let mut s = ProfileState::empty(
            m.settings.bin_dir.clone(),
            m.settings.unit_dir.clone(),
            m.settings.service_manager,
        );
        for (name, version) in versions {
            let e = m.exporter(name).unwrap();
            let sp = StorePath::parse(&format!("{}-{name}-{version}", "0".repeat(32))).unwrap();
            s.exporters.push(e.state(version.to_string(), sp, None));
        }
        s
    }

    #[test]
    fn only_what_a_step_starts_gets_a_job_and_credentials_are_read_as_root() {
        let m = manifest(
            "  service_manager: systemd\n",
            "  node_exporter: { version: \"1.9.1\", manage_unit: true, user: prometheus }\n  \
             mysqld_exporter: { version: \"0.18.0\", manage_unit: true, user: prometheus, \
             args: [\"--config.my-cnf=/etc/my.cnf\"], environment: { DATA_SOURCE_NAME: \"u:p@/\" } }\n  \
             statsd_exporter: { version: \"0.28.0\", manage_unit: true }\n",
        );
        let from = state(&m, &[("node_exporter", "1.9.1"), ("statsd_exporter", "0.27.0")]);
        let to = state(
            &m,
            &[
                ("node_exporter", "1.9.1"),
                ("mysqld_exporter", "0.18.0"),
                ("statsd_exporter", "0.28.0"),
            ],
        );
        let recorded = record::Served::from([("statsd_exporter".to_string(), Vec::new())]);
        let jobs = jobs(None, &m, &from, &to, &recorded);
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["mysqld_exporter", "statsd_exporter"], "unchanged node: no job");
        let mysqld = &jobs[0];
        assert_eq!(mysqld.user, None, "its my.cnf comes by LoadCredential=, read as root");
        assert!(mysqld.skip.as_deref().unwrap().contains("not in the store yet"));
        assert_eq!(mysqld.advice.len(), 1, "DATA_SOURCE_NAME is named");
        assert!(mysqld.default_port);
        assert!(jobs[1].skip.as_deref().unwrap().starts_with("preflight: false"));
        assert_eq!(jobs[1].from_version.as_deref(), Some("0.27.0"));
        assert_eq!(
            jobs[1].running_families,
            Some(Vec::new()),
            "the live generation's record"
        );
        assert_eq!(mysqld.running_families, None, "nothing runs: nothing recorded");
    }

    #[test]
    fn a_copy_runs_as_the_unit_would_never_as_root_for_a_transient_user() {
        let m = manifest(
            "  service_manager: systemd\n",
            "  node_exporter: { version: \"1.9.1\", manage_unit: true }\n  \
             nginx_exporter: { version: \"1.4.0\", manage_unit: true, user: prometheus }\n  \
             blackbox_exporter: { version: \"0.25.0\", manage_unit: true, sandbox: false }\n",
        );
        let from = state(&m, &[]);
        let to = state(
            &m,
            &[
                ("node_exporter", "1.9.1"),
                ("nginx_exporter", "1.4.0"),
                ("blackbox_exporter", "0.25.0"),
            ],
        );
        let jobs = jobs(None, &m, &from, &to, &record::Served::new());
        let user = |n: &str| jobs.iter().find(|j| j.name == n).unwrap().user.clone();
        assert_eq!(
            user("node_exporter").as_deref(),
            Some(NOBODY),
            "DynamicUser=yes: nobody, not root"
        );
        assert_eq!(
            user("nginx_exporter").as_deref(),
            Some("prometheus"),
            "the manifest's user"
        );
        assert_eq!(user("blackbox_exporter"), None, "no sandbox: as the unit, root");
    }
}

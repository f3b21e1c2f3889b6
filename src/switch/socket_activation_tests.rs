//! The engine's service calls around socket activation, against a service
//! manager double that records them: the order of stops and starts when an
//! exporter moves from a plain listener to a socket and back.

use super::*;
use crate::generation::state::ExporterState;
use crate::health::HealthSpec;
use crate::plan::{Options, Plan};
use crate::service::ServiceManagerKind;
use crate::service::{ServiceError, UnitStatus};
use crate::store::EntryKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Records every call; `status` says `failed` after a restart of a
/// socket-activated service when `fail_socket` is set (a release that does
/// not accept `--web.systemd-socket`).
struct Recorder {
    unit_dir: PathBuf,
    calls: Mutex<Vec<String>>,
    fail_socket: bool,
    last_restart_had_socket: Mutex<bool>,
}

impl Recorder {
    fn new(unit_dir: PathBuf, fail_socket: bool) -> Recorder {
        Recorder {
            unit_dir,
            calls: Mutex::new(Vec::new()),
            fail_socket,
            last_restart_had_socket: Mutex::new(false),
        }
    }
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    /// `+` when the unit file is linked in unit_dir at the time of the call.
    fn present(&self, unit: &str) -> &'static str {
        if std::fs::symlink_metadata(self.unit_dir.join(unit)).is_ok() {
            "+"
        } else {
            "-"
        }
    }
    fn units(spec: &ServiceSpec) -> String {
        let mut s = spec.unit.clone();
        if let Some(sock) = &spec.socket {
            s.push(' ');
            s.push_str(sock);
        }
        s
    }
}

impl ServiceManager for Recorder {
    fn kind(&self) -> ServiceManagerKind {
        ServiceManagerKind::Systemd
    }
    fn preflight(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    fn daemon_reload(&self) -> Result<(), ServiceError> {
        self.log("daemon-reload".into());
        Ok(())
    }
    fn enable(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.log(format!("enable {}", Recorder::units(spec)));
        Ok(())
    }
    fn disable(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.log(format!("disable {}", Recorder::units(spec)));
        Ok(())
    }
    fn disable_socket(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let sock = spec.socket.clone().unwrap_or_default();
        self.log(format!("disable-socket {sock} (file {})", self.present(&sock)));
        Ok(())
    }
    fn start_socket(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let sock = spec.socket.clone().unwrap_or_default();
        self.log(format!("start-socket {sock} (file {})", self.present(&sock)));
        Ok(())
    }
    fn restart(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        *self.last_restart_had_socket.lock().unwrap() = spec.socket.is_some();
        self.log(format!("restart {}", Recorder::units(spec)));
        Ok(())
    }
    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let file = match &spec.socket {
            Some(s) => format!(" (socket file {})", self.present(s)),
            None => String::new(),
        };
        self.log(format!("stop {}{file}", Recorder::units(spec)));
        Ok(())
    }
    fn status(&self, _spec: &ServiceSpec) -> Result<UnitStatus, ServiceError> {
        let failed = self.fail_socket && *self.last_restart_had_socket.lock().unwrap();
        Ok(UnitStatus {
            active_state: if failed { "failed" } else { "active" }.into(),
            sub_state: if failed { "failed" } else { "running" }.into(),
            n_restarts: 0,
            main_pid: (!failed).then_some(4242),
        })
    }
}

struct Quiet;
impl Ui for Quiet {
    fn step_started(&self, _: usize, _: usize, _: &StepRecord) {}
    fn step_finished(&self, _: usize, _: usize, _: &StepRecord) {}
    fn note(&self, _: &str) {}
    fn confirm(&self, _: &str) -> bool {
        true
    }
    fn pause(&self, _: Duration) {}
}

struct Host {
    _dir: tempfile::TempDir,
    layout: Layout,
    store: Store,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let store = Store::open(&layout).unwrap();
        Host {
            _dir: dir,
            layout,
            store,
        }
    }

    fn file(&self, rest: &str, kind: EntryKind, path: &str, text: &str) -> StorePath {
        let mut build = |d: &Path| {
            if let Some(parent) = Path::new(path).parent() {
                std::fs::create_dir_all(d.join(parent))?;
            }
            std::fs::write(d.join(path), text)
        };
        self.store.add_tree(rest, kind, None, &mut build).unwrap()
    }

    /// node_exporter at `version`, plain or behind `node.socket`
    /// (`socket`: its ListenStream).
    fn state(&self, version: &str, socket: Option<&str>) -> ProfileState {
        let bin = self.file(
            &format!("node-{version}"),
            EntryKind::Adopted,
            "bin/node",
            &format!("#!/bin/sh\n# {version}\n"),
        );
        let unit_text = match socket {
            Some(_) => "[Service]\nExecStart=/usr/local/bin/node --web.systemd-socket\n",
            None => "[Service]\nExecStart=/usr/local/bin/node\n",
        };
        let unit = self.file("unit-node.service", EntryKind::Unit, "node.service", unit_text);
        let socket_store_path = socket.map(|l| {
            self.file(
                "unit-node.socket",
                EntryKind::Unit,
                "node.socket",
                &format!("ListenStream={l}\n"),
            )
        });
        ProfileState {
            bin_dir: "/usr/local/bin".into(),
            unit_dir: "/etc/systemd/system".into(),
            service_manager: ServiceManagerKind::Systemd,
            exporters: vec![ExporterState {
                name: "node".into(),
                version: version.into(),
                store_path: bin,
                unit: "node.service".into(),
                unit_store_path: Some(unit),
                socket_store_path,
                args: vec![],
                environment: Default::default(),
                health: HealthSpec {
                    timeout: Duration::from_millis(300),
                    settle: Duration::ZERO,
                    ..HealthSpec::default()
                },
            }],
        }
    }

    /// Switches the host from what it runs to `target`; the record's steps.
    fn switch(&self, svc: &Recorder, target: &ProfileState) -> SwitchRecord {
        self.switch_with(svc, target, &NoHooks)
    }

    fn switch_with(&self, svc: &Recorder, target: &ProfileState, hooks: &dyn Hooks) -> SwitchRecord {
        let probe = Probe::new().unwrap();
        let engine = Engine {
            layout: &self.layout,
            store: &self.store,
            svc,
            probe: &probe,
            ui: &Quiet,
            hooks,
        };
        let current = Profiles::new(&self.layout).current().unwrap();
        let from = match current.farm() {
            Some(f) => profile::read_farm_state(&self.store, f).unwrap(),
            None => ProfileState::empty_like(target),
        };
        let farm = profile::build_farm(&self.store, target).unwrap();
        let plan = Plan::new("switch", None, current, from, target.clone(), Options::default());
        let mut record = plan.new_record(farm);
        engine.run(&mut record, &plan).unwrap();
        record
    }
}

fn restarts_and_stops(calls: &[String]) -> Vec<&str> {
    calls
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("daemon-reload"))
        .collect()
}

#[test]
fn plain_to_socket_stops_the_listener_then_binds_then_starts() {
    let h = Host::new();
    let unit_dir = h.layout.rooted(Path::new("/etc/systemd/system"));
    let svc = Recorder::new(unit_dir.clone(), false);
    h.switch(&svc, &h.state("1.5.0", None));
    svc.take();

    let r = h.switch(&svc, &h.state("1.5.0", Some("9100")));
    assert_eq!(r.status, SwitchStatus::Succeeded, "{r:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "enable node.service node.socket",
            // The old process holds the port: stopped first, without the socket.
            "stop node.service",
            "start-socket node.socket (file +)",
            "restart node.service node.socket",
        ]
    );
    assert!(std::fs::symlink_metadata(unit_dir.join("node.socket")).is_ok());

    // An upgrade behind the same socket restarts the service alone.
    let r = h.switch(&svc, &h.state("1.6.0", Some("9100")));
    assert_eq!(r.status, SwitchStatus::Succeeded, "{r:?}");
    assert_eq!(restarts_and_stops(&svc.take()), ["restart node.service node.socket"]);

    // Another address: the old socket goes with the service before the flip.
    let r = h.switch(&svc, &h.state("1.6.0", Some("127.0.0.1:9100")));
    assert_eq!(r.status, SwitchStatus::Succeeded, "{r:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "stop node.service node.socket (socket file +)",
            "enable node.service node.socket",
            "stop node.service",
            "start-socket node.socket (file +)",
            "restart node.service node.socket",
        ]
    );

    // And back to plain: socket and service stopped while the socket's
    // file is still there, the socket disabled, the service started alone.
    let r = h.switch(&svc, &h.state("1.6.0", None));
    assert_eq!(r.status, SwitchStatus::Succeeded, "{r:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "stop node.service node.socket (socket file +)",
            "disable-socket node.socket (file +)",
            "enable node.service",
            "restart node.service",
        ]
    );
    assert!(std::fs::symlink_metadata(unit_dir.join("node.socket")).is_err());
}

#[test]
fn a_failed_switch_to_a_socket_goes_back_to_the_plain_listener() {
    let h = Host::new();
    let unit_dir = h.layout.rooted(Path::new("/etc/systemd/system"));
    let svc = Recorder::new(unit_dir.clone(), true);
    h.switch(&svc, &h.state("1.4.0", None));
    svc.take();

    let r = h.switch(&svc, &h.state("1.4.0", Some("9100")));
    assert_eq!(r.status, SwitchStatus::Failed, "{r:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "enable node.service node.socket",
            "stop node.service",
            "start-socket node.socket (file +)",
            "restart node.service node.socket",
            // Back: the socket is let go before the plain listener binds.
            "stop node.service node.socket (socket file +)",
            "disable-socket node.socket (file +)",
            "enable node.service",
            "restart node.service",
        ]
    );
    assert!(std::fs::symlink_metadata(unit_dir.join("node.socket")).is_err());
    let reason = r.steps[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("healthy again"), "{reason}");
}

impl Host {
    /// What a crash leaves after a step to `target` flipped and linked but
    /// did nothing else: the journal's record with that step `Running`.
    fn crashed_after_flip(&self, target: &ProfileState) -> (SwitchRecord, ProfileState) {
        let current = Profiles::new(&self.layout).current().unwrap();
        let from = profile::read_farm_state(&self.store, current.farm().unwrap()).unwrap();
        let farm = profile::build_farm(&self.store, target).unwrap();
        let plan = Plan::new(
            "switch",
            None,
            current,
            from.clone(),
            target.clone(),
            Options::default(),
        );
        let mut record = plan.new_record(farm.clone());
        record.steps[0].status = StepStatus::Running;
        record.current_step = Some(0);
        record.live_profile = Some(farm.clone());
        journal::save(&self.layout, &record).unwrap();
        let links = Links::new(&self.layout);
        links.prune_for(&from, target).unwrap();
        Profiles::new(&self.layout).flip_to_farm(&farm).unwrap();
        links.install_all(target).unwrap();
        (record, from)
    }

    fn engine<'a>(&'a self, svc: &'a Recorder, probe: &'a Probe) -> Engine<'a> {
        Engine {
            layout: &self.layout,
            store: &self.store,
            svc,
            probe,
            ui: &Quiet,
            hooks: &NoHooks,
        }
    }
}

#[test]
fn a_step_to_a_socket_cut_short_by_a_crash_is_resumed_or_aborted_in_order() {
    let probe = Probe::new().unwrap();
    let opts = Options {
        atomic: false,
        confirm_each: false,
        pause: Duration::ZERO,
        ..Options::default()
    };
    // resume: the step is redone from the plain listener, socket first.
    let h = Host::new();
    let svc = Recorder::new(h.layout.rooted(Path::new("/etc/systemd/system")), false);
    h.switch(&svc, &h.state("1.5.0", None));
    let target = h.state("1.5.0", Some("9100"));
    let (mut record, from) = h.crashed_after_flip(&target);
    svc.take();
    h.engine(&svc, &probe)
        .resume(&mut record, &from, &target, &opts)
        .unwrap();
    assert_eq!(record.status, SwitchStatus::Succeeded, "{record:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "enable node.service node.socket",
            "stop node.service",
            "start-socket node.socket (file +)",
            "restart node.service node.socket",
        ]
    );

    // abort: what may hold the port (either listener) is stopped with the
    // socket while its file is there, then the plain listener starts.
    let h = Host::new();
    let unit_dir = h.layout.rooted(Path::new("/etc/systemd/system"));
    let svc = Recorder::new(unit_dir.clone(), false);
    h.switch(&svc, &h.state("1.5.0", None));
    let (mut record, from) = h.crashed_after_flip(&h.state("1.5.0", Some("9100")));
    svc.take();
    h.engine(&svc, &probe).abort(&mut record, &from).unwrap();
    assert_eq!(record.status, SwitchStatus::Aborted, "{record:?}");
    assert_eq!(
        restarts_and_stops(&svc.take()),
        [
            "stop node.service node.socket (socket file +)",
            "disable-socket node.socket (file +)",
            "enable node.service",
            "restart node.service",
        ]
    );
    assert!(std::fs::symlink_metadata(unit_dir.join("node.socket")).is_err());
}

#[test]
fn a_modified_socket_file_is_refused_before_anything_moves() {
    use std::os::unix::fs::PermissionsExt;
    let probe = Probe::new().unwrap();
    let h = Host::new();
    let svc = Recorder::new(h.layout.rooted(Path::new("/etc/systemd/system")), false);
    h.switch(&svc, &h.state("1.5.0", None));
    let target = h.state("1.5.0", Some("9100"));
    let sp = target.exporters[0].socket_store_path.clone().unwrap();
    let file = h.store.path_of(&sp).join("node.socket");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&file, "[Socket]\nListenStream=0.0.0.0:22\nExecStartPre=/bin/sh\n").unwrap();
    let current = Profiles::new(&h.layout).current().unwrap();
    let from = profile::read_farm_state(&h.store, current.farm().unwrap()).unwrap();
    let farm = profile::build_farm(&h.store, &target).unwrap();
    let record = Plan::new("switch", None, current, from, target.clone(), Options::default()).new_record(farm);
    svc.take();
    match h.engine(&svc, &probe).preflight(&record, &target) {
        Err(EngineError::Damaged { store_path, .. }) => assert_eq!(store_path, sp.to_string()),
        other => panic!("a modified socket unit was not refused: {other:?}"),
    }
    assert!(svc.take().is_empty());
}

#[test]
fn a_unit_that_is_not_running_is_not_drained() {
    // A scrape queued on a dead release's socket: the kernel holds it with
    // its request unread, which looks like a scrape in flight; waiting for it
    // would only lengthen the gap before the rollback answers it.
    let queue = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = queue.local_addr().unwrap().port();
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut client, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let host = Host::new();
    let mut state = host.state("1.0.0", Some("127.0.0.1:9100"));
    state.exporters[0].args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
    let running = &state.exporters[0];
    let probe = Probe::new().unwrap();
    let bound = Duration::from_millis(200);

    // Active: the request counts as in flight and is waited for.
    let up = Recorder::new(host.layout.rooted(Path::new("/etc/systemd/system")), false);
    let d = host.engine(&up, &probe).drain(&state, running, bound, "restarting");
    assert!(d.as_ref().is_some_and(|d| d.in_flight >= 1), "{d:?}");

    // Not active (the double says `failed` after a socket restart).
    let down = Recorder::new(host.layout.rooted(Path::new("/etc/systemd/system")), true);
    down.restart(&service_spec(&host.layout, &state, running)).unwrap();
    assert_eq!(
        host.engine(&down, &probe).drain(&state, running, bound, "restarting"),
        None
    );
}

/// Hooks that log into the service double's call list, so their place
/// among the engine's service calls shows.
struct LoggingHooks<'a>(&'a Recorder, &'a Layout);

impl Hooks for LoggingHooks<'_> {
    fn before_first_step(&self, record: &SwitchRecord) {
        let journal = journal::load(self.1).ok().flatten();
        self.0.log(format!(
            "hook before-first-step: {} step(s), journal {}",
            record.steps.len(),
            if journal.is_some_and(|j| j.id == record.id) {
                "written"
            } else {
                "missing"
            }
        ));
    }
    fn after_end(&self, record: &SwitchRecord) {
        self.0.log(format!(
            "hook after-end: {} → generation {:?}",
            record.status.as_str(),
            record.result_generation
        ));
    }
}

#[test]
fn hooks_run_once_the_journal_is_written_and_once_the_record_is_filed() {
    let h = Host::new();
    let svc = Recorder::new(h.layout.rooted(Path::new("/etc/systemd/system")), false);
    h.switch(&svc, &h.state("1.5.0", None));
    svc.take();
    let r = h.switch_with(&svc, &h.state("1.6.0", None), &LoggingHooks(&svc, &h.layout));
    assert_eq!(r.status, SwitchStatus::Succeeded, "{r:?}");
    let calls = svc.take();
    let hooks: Vec<&String> = calls.iter().filter(|c| c.starts_with("hook")).collect();
    assert_eq!(
        hooks,
        [
            "hook before-first-step: 1 step(s), journal written",
            &format!("hook after-end: succeeded → generation {:?}", r.result_generation),
        ]
    );
    // Before the first restart, after the last service call.
    assert!(calls.first().is_some_and(|c| c.starts_with("hook before")), "{calls:?}");
    assert!(calls.last().is_some_and(|c| c.starts_with("hook after")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("restart node.service")), "{calls:?}");
}

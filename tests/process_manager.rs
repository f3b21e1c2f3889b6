//! The `process` service manager with real processes, and `wait_healthy`
//! against the in-process demo exporter and real child processes.
//!
//! Nothing external is built: the processes are small `#!/bin/sh` scripts
//! (`sleep`, and `python3 -m http.server` where python3 exists).

use exporterctl::demo::exporter::{self, Behaviour, ExporterOpts};
use exporterctl::demo::http::{self, ServerHandle};
use exporterctl::health::HealthSpec;
use exporterctl::health::{HealthFailure, Probe};
use exporterctl::service::pidfile::{read_proc_stat, PidRecord};
use exporterctl::service::{NoneManager, ProcessManager, ServiceManager, ServiceSpec, UnitStatus};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Fixture {
    dir: tempfile::TempDir,
    pm: ProcessManager,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pm = ProcessManager::new(dir.path().join("run")).with_grace(Duration::from_secs(3));
        Fixture { dir, pm }
    }

    /// Writes an executable `#!/bin/sh` script and returns a spec running it.
    fn script(&self, name: &str, body: &str) -> ServiceSpec {
        let path = self.dir.path().join(format!("{name}.sh"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        ServiceSpec {
            exporter: name.to_string(),
            unit: format!("{name}.service"),
            exec: path,
            args: Vec::new(),
            environment: BTreeMap::new(),
            socket: None,
        }
    }
}

/// Stops whatever the spec runs even when a test fails half-way.
struct StopOnDrop<'a>(&'a ProcessManager, ServiceSpec);
impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.stop(&self.1);
    }
}

fn running(pid: u32) -> bool {
    matches!(read_proc_stat(pid), Ok(Some(st)) if !st.is_dead())
}

fn gone_or_zombie(pid: u32) -> bool {
    !running(pid)
}

/// Polls `cond` for up to 20 s (generous: only a broken implementation hits it).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn free_port() -> u16 {
    exporterctl::demo::free_port().unwrap()
}

fn main_pid(pm: &ProcessManager, spec: &ServiceSpec) -> u32 {
    let st = pm.status(spec).unwrap();
    assert_eq!(st.active_state, "active", "{st}");
    st.main_pid.expect("an active process has a main PID")
}

#[test]
fn start_status_stop() {
    let f = Fixture::new();
    let mut spec = f.script("sleeper", "echo \"out $FOO $1\"\necho err >&2\nexec sleep 60");
    spec.args = vec!["arg1".into()];
    spec.environment.insert("FOO".into(), "bar".into());
    let pm = &f.pm;
    let _guard = StopOnDrop(pm, spec.clone());

    assert_eq!(pm.status(&spec).unwrap().active_state, "inactive");
    pm.restart(&spec).unwrap();
    let pid = main_pid(pm, &spec);
    let st = pm.status(&spec).unwrap();
    assert_eq!(
        st,
        UnitStatus {
            active_state: "active".into(),
            sub_state: "running".into(),
            n_restarts: 0,
            main_pid: Some(pid),
        }
    );

    // The pid file records the pid and its start time.
    let rec = PidRecord::read(&pm.pid_path("sleeper")).unwrap().unwrap();
    assert_eq!(rec.pid, pid);
    assert_eq!(rec.start_time, read_proc_stat(pid).unwrap().unwrap().start_time);
    assert_eq!(rec.exec, spec.exec);

    // Detached: its own session and process group, working directory `/`.
    let stat = read_proc_stat(pid).unwrap().unwrap();
    assert_eq!(stat.session, pid);
    assert_eq!(stat.pgrp, pid);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        PathBuf::from("/")
    );

    // stdout and stderr go to the log, with the environment and arguments.
    let log = pm.log_path("sleeper");
    eventually("log output", || {
        let s = std::fs::read_to_string(&log).unwrap_or_default();
        s.contains("out bar arg1\n") && s.contains("err\n")
    });
    // `exec` kept the pid: the script became `sleep`.
    eventually("exec into sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });

    pm.stop(&spec).unwrap();
    assert!(gone_or_zombie(pid));
    assert!(read_proc_stat(pid).unwrap().is_none(), "stop reaps its own child");
    assert!(!pm.pid_path("sleeper").exists());
    let st = pm.status(&spec).unwrap();
    assert_eq!((st.active_state.as_str(), st.main_pid), ("inactive", None));
    // Stopping again is fine.
    pm.stop(&spec).unwrap();
}

#[test]
fn restart_replaces_the_process() {
    let f = Fixture::new();
    let spec = f.script("restarter", "exec sleep 60");
    let pm = &f.pm;
    let _guard = StopOnDrop(pm, spec.clone());
    pm.restart(&spec).unwrap();
    let first = main_pid(pm, &spec);
    pm.restart(&spec).unwrap();
    let second = main_pid(pm, &spec);
    assert_ne!(first, second);
    assert!(gone_or_zombie(first));
    assert!(running(second));
    // The log is appended to, one header line per start.
    let log = std::fs::read_to_string(pm.log_path("restarter")).unwrap();
    assert_eq!(log.matches("--- exporterctl: starting").count(), 2);
}

#[test]
fn a_process_that_died_is_failed_and_reaped() {
    let f = Fixture::new();
    let spec = f.script("victim", "exec sleep 60");
    let pm = &f.pm;
    let _guard = StopOnDrop(pm, spec.clone());
    pm.restart(&spec).unwrap();
    let pid = main_pid(pm, &spec);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    // A killed child of ours is a zombie and still answers kill(pid, 0):
    // status must not take it for alive.
    eventually("status failed", || pm.status(&spec).unwrap().active_state == "failed");
    assert_eq!(pm.status(&spec).unwrap().main_pid, None);
    eventually("zombie reaped", || read_proc_stat(pid).unwrap().is_none());
    // A restart brings it back.
    pm.restart(&spec).unwrap();
    assert!(running(main_pid(pm, &spec)));
}

#[test]
fn a_reused_pid_is_never_taken_for_ours() {
    let f = Fixture::new();
    let spec = f.script("reused", "exec sleep 60");
    let pm = &f.pm;
    // An unrelated process that got "our" pid.
    let mut stranger = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    let pid = stranger.id();
    let real_start = read_proc_stat(pid).unwrap().unwrap().start_time;
    std::fs::create_dir_all(pm.run_dir()).unwrap();
    PidRecord {
        pid,
        start_time: real_start + 1,
        exec: spec.exec.clone(),
        args: vec![],
    }
    .write(&pm.pid_path("reused"))
    .unwrap();

    let st = pm.status(&spec).unwrap();
    assert_eq!(st.active_state, "failed", "{st}");
    assert_eq!(st.main_pid, None);
    pm.stop(&spec).unwrap();
    assert!(running(pid), "stop must not signal a process that is not ours");
    assert!(!pm.pid_path("reused").exists());

    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[test]
fn a_process_ignoring_sigterm_gets_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let pm = ProcessManager::new(dir.path().join("run")).with_grace(Duration::from_millis(300));
    let f = Fixture { dir, pm: pm.clone() };
    let spec = f.script("stubborn", "trap '' TERM\nwhile :; do sleep 0.05; done");
    let _guard = StopOnDrop(&pm, spec.clone());
    pm.restart(&spec).unwrap();
    let pid = main_pid(&pm, &spec);
    pm.stop(&spec).unwrap();
    assert!(gone_or_zombie(pid));
    assert_eq!(pm.status(&spec).unwrap().active_state, "inactive");
}

#[test]
fn a_missing_executable_is_a_clear_error() {
    let f = Fixture::new();
    let mut spec = f.script("missing", "exit 0");
    spec.exec = f.dir.path().join("does-not-exist");
    let e = f.pm.restart(&spec).unwrap_err().to_string();
    assert!(e.starts_with("missing.service: cannot run `"), "{e}");
    assert!(e.contains("does-not-exist"), "{e}");
    assert_eq!(f.pm.status(&spec).unwrap().active_state, "inactive");
}

// ---- wait_healthy ---------------------------------------------------------

fn demo_server(version: &str, behaviour: Behaviour) -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let opts = ExporterOpts {
        name: "demo".into(),
        version: version.into(),
        listen: listener.local_addr().unwrap(),
        behaviour,
    };
    http::spawn(listener, exporter::handler(&opts)).unwrap()
}

fn health(url: String, timeout: Duration, settle: Duration) -> HealthSpec {
    HealthSpec {
        url: Some(url),
        build_info: Some("demo_build_info".into()),
        expect: vec![exporterctl::health::Expect::parse("demo_up 1").unwrap()],
        timeout,
        settle,
        ..HealthSpec::default()
    }
}

fn none_spec() -> ServiceSpec {
    ServiceSpec {
        exporter: "demo".into(),
        unit: "demo.service".into(),
        exec: "/nonexistent".into(),
        args: vec![],
        environment: BTreeMap::new(),
        socket: None,
    }
}

fn wait_none(spec: &HealthSpec, version: &str) -> Result<exporterctl::health::HealthReport, HealthFailure> {
    let probe = Probe::new().unwrap();
    probe.wait_healthy(
        &NoneManager,
        &none_spec(),
        spec,
        version,
        Instant::now(),
        &UnitStatus::unknown(),
    )
}

#[test]
fn healthy_demo_exporter_passes() {
    let srv = demo_server("1.0.0", Behaviour::Ok);
    let spec = health(
        format!("{}/metrics", srv.url()),
        Duration::from_secs(30),
        Duration::ZERO,
    );
    let report = wait_none(&spec, "1.0.0").unwrap();
    assert_eq!(report.attempts, 1);
    Probe::new().unwrap().check_once(&spec, "1.0.0").unwrap();
}

#[test]
fn wrong_version_times_out_saying_what_it_saw() {
    let srv = demo_server("1.0.0", Behaviour::WrongVersion);
    let spec = health(format!("{}/metrics", srv.url()), Duration::from_secs(1), Duration::ZERO);
    let e = wait_none(&spec, "1.0.0").unwrap_err();
    assert!(matches!(e, HealthFailure::TimedOut { .. }), "{e}");
    assert_eq!(
        e.last_seen().to_string(),
        "demo_build_info{version=\"1.0.0-wrong\"} but expected 1.0.0"
    );
}

#[test]
fn http_500_times_out_saying_so() {
    let srv = demo_server("1.0.0", Behaviour::Http500);
    let url = format!("{}/metrics", srv.url());
    let spec = health(url.clone(), Duration::from_secs(1), Duration::ZERO);
    let e = wait_none(&spec, "1.0.0").unwrap_err();
    assert_eq!(e.last_seen().to_string(), format!("GET {url}: HTTP 500"));
}

#[test]
fn a_failing_expectation_names_the_sample() {
    let srv = demo_server("1.0.0", Behaviour::Ok);
    let mut spec = health(format!("{}/metrics", srv.url()), Duration::from_secs(1), Duration::ZERO);
    spec.expect = vec![exporterctl::health::Expect::parse("demo_up 0").unwrap()];
    let e = Probe::new().unwrap().check_once(&spec, "1.0.0").unwrap_err();
    assert_eq!(e.to_string(), "expected sample `demo_up 0` not found (demo_up is 1)");
}

#[test]
fn a_slow_start_is_waited_for() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let opts = ExporterOpts {
            name: "demo".into(),
            version: "2.0.0".into(),
            listen: listener.local_addr().unwrap(),
            behaviour: Behaviour::Ok,
        };
        http::spawn(listener, exporter::handler(&opts)).unwrap()
    });
    let spec = health(url, Duration::from_secs(30), Duration::ZERO);
    let report = wait_none(&spec, "2.0.0").unwrap();
    assert!(report.attempts > 1);
    drop(late.join().unwrap());
}

#[test]
fn process_unit_active_and_settled_passes() {
    let f = Fixture::new();
    let spec = f.script("settler", "exec sleep 60");
    let _guard = StopOnDrop(&f.pm, spec.clone());
    let srv = demo_server("3.0.0", Behaviour::Ok);
    let hs = health(
        format!("{}/metrics", srv.url()),
        Duration::from_secs(30),
        Duration::from_millis(200),
    );
    f.pm.restart(&spec).unwrap();
    let restarted_at = Instant::now();
    let baseline = f.pm.status(&spec).unwrap();
    let report = Probe::new()
        .unwrap()
        .wait_healthy(&f.pm, &spec, &hs, "3.0.0", restarted_at, &baseline)
        .unwrap();
    assert!(report.elapsed >= hs.settle, "passed before the settle time: {report:?}");
}

#[test]
fn a_dying_process_fails_fast_not_at_the_timeout() {
    let f = Fixture::new();
    let spec = f.script("dier", "echo 'fatal: bad flag' >&2\nsleep 0.3\nexit 1");
    let _guard = StopOnDrop(&f.pm, spec.clone());
    // Nobody listens there: only the unit's death can end the wait early.
    let hs = health(
        format!("http://127.0.0.1:{}/metrics", free_port()),
        Duration::from_secs(600),
        Duration::from_secs(1),
    );
    f.pm.restart(&spec).unwrap();
    let restarted_at = Instant::now();
    let baseline = f.pm.status(&spec).unwrap();
    let e = Probe::new()
        .unwrap()
        .wait_healthy(&f.pm, &spec, &hs, "1", restarted_at, &baseline)
        .unwrap_err();
    match &e {
        HealthFailure::UnitDown { unit, status, .. } => {
            assert_eq!(unit, "dier.service");
            assert_eq!(status.active_state, "failed");
        }
        other => panic!("expected a fast UnitDown failure, got: {other}"),
    }
    assert_eq!(
        e.to_string(),
        "dier.service is not running: its process exited (failed); it printed: fatal: bad flag"
    );
}

fn have_python3() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import http.server"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_real_http_server_process_end_to_end() {
    // python3 is part of this project's test requirements (tests/run-all.sh
    // installs it): a missing one is a broken setup, not a reason to pass.
    assert!(have_python3(), "python3 with http.server is required by this test");
    let f = Fixture::new();
    let port = free_port();
    let www = f.dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("metrics"), exporter::metrics_body("py", "0.1.0", 1, 1.7e9)).unwrap();
    let spec = f.script(
        "pyhttp",
        &format!(
            "exec python3 -m http.server --bind 127.0.0.1 --directory '{}' {port}",
            www.display()
        ),
    );
    let _guard = StopOnDrop(&f.pm, spec.clone());
    let hs = HealthSpec {
        url: Some(format!("http://127.0.0.1:{port}/metrics")),
        build_info: Some("py_build_info".into()),
        expect: vec![exporterctl::health::Expect::parse("py_up 1").unwrap()],
        timeout: Duration::from_secs(60),
        settle: Duration::from_millis(100),
        ..HealthSpec::default()
    };
    let probe = Probe::new().unwrap();
    for _ in 0..2 {
        f.pm.restart(&spec).unwrap();
        let restarted_at = Instant::now();
        let baseline = f.pm.status(&spec).unwrap();
        probe
            .wait_healthy(&f.pm, &spec, &hs, "0.1.0", restarted_at, &baseline)
            .unwrap_or_else(|e| panic!("{e}\nlog:\n{}", log(&f.pm.log_path("pyhttp"))));
    }
    f.pm.stop(&spec).unwrap();
    let e = probe.check_once(&hs, "0.1.0").unwrap_err();
    // A connect racing the listener's close can be reset instead of refused;
    // either way nothing answers any more.
    let e = e.to_string();
    assert!(
        e.ends_with("connection refused") || e.ends_with("connection reset"),
        "{e}"
    );
}

fn log(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn a_process_started_without_its_pid_file_is_stopped_by_the_next_restart() {
    // exporterctl killed between spawning an exporter and writing its pid
    // file (a kill -9 while another step of a fast switch was in flight):
    // the process runs untracked, and would hold the exporter's port.
    let f = Fixture::new();
    let spec = f.script("stray", "exec sleep 300");
    let _stop = StopOnDrop(&f.pm, spec.clone());
    let first = f.pm.start(&spec).unwrap().pid;
    std::fs::remove_file(f.pm.pid_path("stray")).unwrap();
    // Another exporter's process is no stray of this one.
    let other = f.script("other", "exec sleep 300");
    let _stop_other = StopOnDrop(&f.pm, other.clone());
    let other_pid = f.pm.start(&other).unwrap().pid;

    f.pm.restart(&spec).unwrap();
    eventually("the untracked process is stopped", || gone_or_zombie(first));
    let second = main_pid(&f.pm, &spec);
    assert_ne!(second, first);
    assert!(running(other_pid), "the other exporter's process was stopped too");
}

//! The `process` manager: runs an exporter as a plain detached process, for
//! the README demo and for hosts (and tests) without systemd.
//!
//! - start: `exec args…` with the manifest's environment added, in its own
//!   session (`setsid`), working directory `/`, stdin `/dev/null`, stdout
//!   and stderr appended to `run_dir/<exporter>.log`; the pid and the
//!   process start time go to `run_dir/<exporter>.pid` (written atomically).
//!   The process outlives exporterctl; a later invocation finds it through
//!   the pid file.
//! - stop: SIGTERM to the process group, up to a grace period, then
//!   SIGKILL; exited children of this process are reaped.
//! - status: `active` if the recorded process runs (same pid *and* start
//!   time), `failed` if a pid file exists but its process is gone,
//!   `inactive` if there is no pid file (never started, or stopped).

use super::pidfile::{read_proc_stat, reap_if_child, PidRecord};
use super::{ServiceError, ServiceManager, ServiceSpec, UnitStatus};
use crate::service::ServiceManagerKind;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often `stop` looks whether the process is gone.
const POLL: Duration = Duration::from_millis(10);
/// How long to wait for a SIGKILLed process to disappear.
const KILL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ProcessManager {
    run_dir: PathBuf,
    grace: Duration,
}

impl ProcessManager {
    /// Pid and log files live in `run_dir` (`Layout::run_dir()`); SIGTERM
    /// grace period 5 s.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        ProcessManager {
            run_dir: run_dir.into(),
            grace: Duration::from_secs(5),
        }
    }

    /// How long `stop` waits after SIGTERM before it sends SIGKILL.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn pid_path(&self, exporter: &str) -> PathBuf {
        self.run_dir.join(format!("{exporter}.pid"))
    }

    pub fn log_path(&self, exporter: &str) -> PathBuf {
        self.run_dir.join(format!("{exporter}.log"))
    }

    fn check_name(spec: &ServiceSpec) -> Result<(), ServiceError> {
        if crate::names::is_safe_name(&spec.exporter) {
            Ok(())
        } else {
            Err(ServiceError::BadName {
                unit: spec.unit.clone(),
                exporter: spec.exporter.clone(),
            })
        }
    }

    fn io_err(spec: &ServiceSpec, action: &str, path: &Path) -> impl FnOnce(std::io::Error) -> ServiceError {
        let unit = spec.unit.clone();
        let action = action.to_string();
        let path = path.to_path_buf();
        move |source| ServiceError::Io {
            unit,
            action,
            path,
            source,
        }
    }

    fn read_record(&self, spec: &ServiceSpec) -> Result<Option<PidRecord>, ServiceError> {
        let path = self.pid_path(&spec.exporter);
        PidRecord::read(&path).map_err(Self::io_err(spec, "cannot read pid file", &path))
    }

    /// Starts the exporter (without looking whether one already runs) and
    /// records it; returns the record.
    pub fn start(&self, spec: &ServiceSpec) -> Result<PidRecord, ServiceError> {
        Self::check_name(spec)?;
        crate::fsutil::create_dir_all_durable(&self.run_dir).map_err(Self::io_err(
            spec,
            "cannot create run directory",
            &self.run_dir,
        ))?;
        let log_path = self.log_path(&spec.exporter);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(Self::io_err(spec, "cannot open log file", &log_path))?;
        let command_line = std::iter::once(spec.exec.display().to_string())
            .chain(spec.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(log, "{START_MARK}{command_line}");
        let log_err = log
            .try_clone()
            .map_err(Self::io_err(spec, "cannot open log file", &log_path))?;

        let mut cmd = Command::new(&spec.exec);
        cmd.args(&spec.args)
            .envs(&spec.environment)
            .env(MARK, self.pid_path(&spec.exporter))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // SAFETY: setsid(2) is async-signal-safe and touches no memory of the
        // parent; it detaches the child from our session and terminal so it
        // outlives exporterctl and gets no SIGHUP/SIGINT meant for us.
        unsafe {
            cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
        }
        let child = crate::fsutil::retry_text_busy(|| cmd.spawn()).map_err(|source| ServiceError::Spawn {
            unit: spec.unit.clone(),
            command: command_line.clone(),
            source,
        })?;
        let pid = child.id();
        // Not waited for: it must outlive us. If it exits while we still
        // run, `stop`/`status` reap it.
        drop(child);

        // An unreaped child always has a /proc entry, even if it exited already.
        let start_time = match read_proc_stat(pid) {
            Ok(Some(st)) => st.start_time,
            Ok(None) => {
                return Err(ServiceError::Io {
                    unit: spec.unit.clone(),
                    action: "started process vanished".into(),
                    path: PathBuf::from(format!("/proc/{pid}/stat")),
                    source: std::io::ErrorKind::NotFound.into(),
                })
            }
            Err(e) => {
                kill_and_reap(pid);
                return Err(Self::io_err(
                    spec,
                    "cannot read",
                    Path::new(&format!("/proc/{pid}/stat")),
                )(e));
            }
        };
        let record = PidRecord {
            pid,
            start_time,
            exec: spec.exec.clone(),
            args: spec.args.clone(),
        };
        let pid_path = self.pid_path(&spec.exporter);
        if let Err(e) = record.write(&pid_path) {
            // An untracked exporter would hold the port forever: take it down.
            kill_and_reap(pid);
            return Err(Self::io_err(spec, "cannot write pid file", &pid_path)(e));
        }
        tracing::debug!(unit = %spec.unit, pid, "started");
        Ok(record)
    }

    /// Terminates the recorded process: SIGTERM, grace period, SIGKILL.
    fn terminate(&self, spec: &ServiceSpec, rec: &PidRecord) -> Result<(), ServiceError> {
        if !signal_ours(rec, Signal::SIGTERM) {
            return Ok(());
        }
        if wait_gone(rec, self.grace) {
            return Ok(());
        }
        tracing::warn!(unit = %spec.unit, pid = rec.pid, grace = ?self.grace, "did not exit after SIGTERM; sending SIGKILL");
        signal_ours(rec, Signal::SIGKILL);
        if wait_gone(rec, KILL_WAIT) {
            Ok(())
        } else {
            Err(ServiceError::StopTimeout {
                unit: spec.unit.clone(),
                pid: rec.pid,
            })
        }
    }
}

/// Reaps the recorded process if it is an exited child of ours with the
/// recorded start time.
fn reap_ours(rec: &PidRecord) {
    if let Ok(Some(st)) = read_proc_stat(rec.pid) {
        if st.start_time == rec.start_time && st.is_dead() {
            reap_if_child(rec.pid);
        }
    }
}

/// Sends `sig` to the recorded process — to its whole process group when it
/// leads one (it does: we `setsid`) — if it is still the same, live process.
/// Returns whether a signal was sent.
fn signal_ours(rec: &PidRecord, sig: Signal) -> bool {
    let Ok(raw) = i32::try_from(rec.pid) else {
        return false;
    };
    let st = match read_proc_stat(rec.pid) {
        Ok(Some(st)) if st.start_time == rec.start_time && !st.is_dead() => st,
        _ => return false,
    };
    let pid = Pid::from_raw(raw);
    let sent = if st.pgrp == rec.pid {
        killpg(pid, sig)
    } else {
        kill(pid, sig)
    };
    sent.is_ok()
}

/// Polls until the recorded process is gone (reaping it if it is our child).
fn wait_gone(rec: &PidRecord, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        reap_ours(rec);
        if !rec.is_alive() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Every process this manager starts carries `EXPORTERCTL_PROCESS=<its pid
/// file>` in its environment (kept across the `exec` of a wrapper script,
/// unlike its command line): what tells a stray of ours (see [`strays`]).
const MARK: &str = "EXPORTERCTL_PROCESS";

/// Processes this manager started for the exporter whose pid file is
/// `pid_path` that the pid file does not record: exporterctl was killed
/// (kill -9, or a crash while another step of a fast switch was in flight)
/// between spawning one and writing its pid file. Such a process holds the
/// exporter's port, so every later start would fail. Recognised exactly: it
/// leads its own session (we `setsid`), its environment carries our mark
/// for this pid file, and it is not `recorded`.
fn strays(pid_path: &Path, recorded: Option<u32>) -> Vec<PidRecord> {
    let mut want = format!("{MARK}=").into_bytes();
    want.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(pid_path.as_os_str()));
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid > 1 && pid != me && Some(pid) != recorded)
        .filter_map(|pid| {
            let st = read_proc_stat(pid).ok()??;
            if st.session != pid || st.is_dead() {
                return None;
            }
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .any(|kv| kv == want.as_slice())
                .then(|| PidRecord {
                    pid,
                    start_time: st.start_time,
                    exec: PathBuf::new(),
                    args: Vec::new(),
                })
        })
        .collect()
}

fn kill_and_reap(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(raw), None);
    }
}

impl ServiceManager for ProcessManager {
    fn kind(&self) -> ServiceManagerKind {
        ServiceManagerKind::Process
    }

    fn preflight(&self) -> Result<(), ServiceError> {
        let me = std::process::id();
        match read_proc_stat(me) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(ServiceError::Io {
                unit: "process manager".into(),
                action: "cannot read".into(),
                path: PathBuf::from(format!("/proc/{me}/stat")),
                source: std::io::ErrorKind::NotFound.into(),
            }),
            Err(source) => Err(ServiceError::Io {
                unit: "process manager".into(),
                action: "cannot read".into(),
                path: PathBuf::from(format!("/proc/{me}/stat")),
                source,
            }),
        }
    }

    fn restart(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.stop(spec)?;
        self.start(spec).map(drop)
    }

    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        Self::check_name(spec)?;
        for stray in strays(&self.pid_path(&spec.exporter), self.read_record(spec)?.map(|r| r.pid)) {
            tracing::warn!(unit = %spec.unit, pid = stray.pid, "stopping a process of this exporter that no pid file records (a kill -9 between its start and its pid file)");
            self.terminate(spec, &stray)?;
            reap_ours(&stray);
        }
        let Some(rec) = self.read_record(spec)? else {
            return Ok(());
        };
        self.terminate(spec, &rec)?;
        reap_ours(&rec);
        let path = self.pid_path(&spec.exporter);
        match std::fs::remove_file(&path) {
            // Durably gone: after a power loss a stale pid file could name a reused pid.
            Ok(()) => crate::fsutil::fsync_dir(&self.run_dir).map_err(Self::io_err(spec, "cannot sync", &self.run_dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io_err(spec, "cannot remove pid file", &path)(e)),
        }
    }

    fn status(&self, spec: &ServiceSpec) -> Result<UnitStatus, ServiceError> {
        Self::check_name(spec)?;
        let status = |active: &str, sub: &str, pid: Option<u32>| UnitStatus {
            active_state: active.into(),
            sub_state: sub.into(),
            n_restarts: 0,
            main_pid: pid,
        };
        Ok(match self.read_record(spec)? {
            None => status("inactive", "dead", None),
            Some(rec) => {
                reap_ours(&rec);
                if rec.is_alive() {
                    status("active", "running", Some(rec.pid))
                } else {
                    status("failed", "failed", None)
                }
            }
        })
    }

    fn recent_output(&self, spec: &ServiceSpec) -> Option<String> {
        Self::check_name(spec).ok()?;
        let text = read_tail(&self.log_path(&spec.exporter), LOG_TAIL_BYTES).ok()?;
        // Only what the latest start printed, not an earlier run's words.
        let run = text.rsplit_once(START_MARK).map_or(text.as_str(), |(_, after)| after);
        let run = run.split_once('\n').map_or("", |(_, rest)| rest);
        super::last_lines(run)
    }
}

/// The line written to the log before each start.
const START_MARK: &str = "--- exporterctl: starting ";
/// How much of the end of a log is read for [`ProcessManager::recent_output`].
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The last `max` bytes of the file at `path`, lossily decoded.
fn read_tail(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

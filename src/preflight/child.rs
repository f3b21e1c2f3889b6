//! Running the preflight copy of an exporter, and making sure it is gone
//! afterwards whatever happens.
//!
//! The copy is exporterctl's own child, not a service of the service
//! manager (a transient `systemd-run` unit would carry the unit's sandbox,
//! but needs systemd, a bus round trip per start and a unit name that a
//! crash could leave behind):
//! - it leads its own process group, so one `killpg` reaches whatever it
//!   forked, and a Ctrl-C at the terminal is not delivered to it;
//! - `PR_SET_PDEATHSIG(SIGKILL)`, set after the user change (which clears
//!   it), makes the kernel kill it when the thread that started it dies —
//!   also when exporterctl is killed with SIGKILL, where no code of ours runs;
//! - stopping sends SIGTERM to the group, waits a bounded grace, then
//!   SIGKILL to the group while the leader is still an unreaped zombie (so
//!   its pid, the group's id, cannot have been reused), and only then reaps;
//! - [`Drop`] does the same, so an early return or a panic leaves nothing;
//! - its output goes to an unnamed temporary file (`O_TMPFILE`): nothing to
//!   clean up after a crash;
//! - it runs [`NICE`] steps nicer than exporterctl, so on a busy host its
//!   start yields the CPU to the running exporter's scrapes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What the copy runs.
pub struct Launch<'a> {
    pub exec: &'a Path,
    pub args: &'a [String],
    pub environment: &'a BTreeMap<String, String>,
    /// `(uid, gid)` to run as; `None`: exporterctl's own user.
    pub user: Option<(u32, u32)>,
}

/// The `PATH` a systemd service gets: the copy's environment is the unit's,
/// not the shell's exporterctl was started from.
const SERVICE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How much nicer than exporterctl the copy runs (capped at 19).
pub const NICE: libc::c_int = 10;

/// How long a stopped copy gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

pub struct Running {
    child: std::process::Child,
    /// The process group (= the child's pid), > 1.
    pgid: i32,
    output: File,
    reaped: Option<ExitStatus>,
}

/// Starts the copy.
pub fn spawn(l: &Launch) -> io::Result<Running> {
    let output = tempfile::tempfile()?;
    let mut cmd = Command::new(l.exec);
    cmd.args(l.args)
        .env_clear()
        .env("PATH", SERVICE_PATH)
        .envs(l.environment)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output.try_clone()?)
        .process_group(0);
    if let Some((uid, gid)) = l.user {
        cmd.uid(uid).gid(gid);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl(2), getppid(2), _exit(2), getpriority(2) and
    // setpriority(2) are async-signal-safe system calls that touch no memory
    // of the parent (errno is the child's own). This runs after the user
    // change, which would clear the parent-death signal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the prctl: nobody would stop us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // Best effort: a copy at the same priority is no failure.
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, 0);
            if *libc::__errno_location() == 0 {
                libc::setpriority(libc::PRIO_PROCESS, 0, (now + NICE).min(19));
            }
            Ok(())
        });
    }
    let child = crate::fsutil::retry_text_busy(|| cmd.spawn())?;
    let pgid = i32::try_from(child.id()).map_err(|_| io::Error::other("child pid out of range"))?;
    let mut running = Running {
        child,
        pgid,
        output,
        reaped: None,
    };
    if running.pgid <= 1 {
        // Never signal pid 0, 1 or a negative one: stop by reaping only.
        running.reaped = running.child.wait().ok();
        return Err(io::Error::other("child got an impossible pid"));
    }
    Ok(running)
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Has the copy exited? Leaves it unreaped (a zombie keeps its pid,
    /// the group's id, from being reused before [`Running::stop`]).
    pub fn exited(&self) -> Option<i32> {
        if let Some(s) = self.reaped {
            return Some(s.code().unwrap_or(-1));
        }
        // SAFETY: waitid with WNOWAIT only reads the child's state into `info`.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pgid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid/si_status are valid for a WEXITED result.
        if rc == 0 && unsafe { info.si_pid() } != 0 {
            return Some(unsafe { info.si_status() });
        }
        None
    }

    /// The last lines the copy printed (stdout and stderr together).
    pub fn output_tail(&mut self) -> Option<String> {
        const TAIL: u64 = 16 * 1024;
        let len = self.output.seek(SeekFrom::End(0)).ok()?;
        self.output.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
        let mut buf = Vec::new();
        (&self.output).take(TAIL).read_to_end(&mut buf).ok()?;
        crate::service::last_lines(&String::from_utf8_lossy(&buf))
    }

    /// Stops the whole group (SIGTERM, [`STOP_GRACE`], SIGKILL) and reaps
    /// the copy. Idempotent.
    pub fn stop(&mut self) {
        if self.reaped.is_some() {
            return;
        }
        if self.exited().is_none() {
            self.signal_group(libc::SIGTERM);
            let until = Instant::now() + STOP_GRACE;
            while self.exited().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // The leader is unreaped here: the group id is still ours.
        self.signal_group(libc::SIGKILL);
        self.reaped = self.child.wait().ok();
    }

    fn signal_group(&self, sig: libc::c_int) {
        if self.pgid > 1 {
            // SAFETY: killpg on our own child's group (checked > 1).
            unsafe {
                libc::killpg(self.pgid, sig);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Running {
        let args = vec!["-c".to_string(), script.to_string()];
        spawn(&Launch {
            exec: Path::new("/bin/sh"),
            args: &args,
            environment: &BTreeMap::from([("X".to_string(), "from-state".to_string())]),
            user: None,
        })
        .unwrap()
    }

    fn alive(pid: i32) -> bool {
        // A zombie counts as gone.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(false)
    }

    #[test]
    fn an_exited_copy_reports_its_status_and_last_lines() {
        let mut r = sh("echo \"x=$X\"; echo 'error: unknown long flag --socket' >&2; exit 3");
        let mut code = None;
        for _ in 0..500 {
            code = r.exited();
            if code.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(code, Some(3));
        let tail = r.output_tail().unwrap();
        assert!(
            tail.contains("x=from-state") && tail.contains("unknown long flag"),
            "{tail}"
        );
        r.stop();
        assert_eq!(r.reaped.and_then(|s| s.code()), Some(3));
    }

    /// Field 19 of /proc/PID/stat: the nice value.
    fn nice_of(pid: &str) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit(')').next().unwrap();
        after.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn the_copy_runs_nicer_than_exporterctl() {
        let mut r = sh("sleep 300");
        let ours = nice_of("self");
        assert_eq!(nice_of(&r.pid().to_string()), (ours + NICE).min(19));
        r.stop();
    }

    #[test]
    fn stop_kills_what_the_copy_forked_too() {
        // The shell ignores SIGTERM and has a child of its own.
        let mut r = sh("trap '' TERM; sleep 300 & echo $! ; wait");
        let mut grandchild = None;
        for _ in 0..500 {
            if let Some(t) = r.output_tail() {
                grandchild = t.trim().parse::<i32>().ok();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let grandchild = grandchild.expect("the shell printed its child's pid");
        let leader = r.pgid;
        assert!(alive(grandchild) && alive(leader));
        drop(r);
        assert!(!alive(leader), "leader left");
        // The grandchild is ours to wait for only through its parent; it is
        // killed (a zombie until init reaps it) or gone.
        for _ in 0..500 {
            if !alive(grandchild) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(grandchild), "grandchild {grandchild} left behind");
    }
}

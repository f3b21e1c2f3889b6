//! Pid files of the `process` manager and `/proc/PID/stat` reading.
//!
//! A pid alone is not an identity: pids are reused. The record keeps the
//! process start time too (`/proc/PID/stat` field 22, clock ticks since
//! boot), and a process is "ours" only if both match. A zombie (state `Z`)
//! still answers `kill(pid, 0)`, so liveness is read from `/proc` as well.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// What `run_dir()/<exporter>.pid` holds (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidRecord {
    pub pid: u32,
    /// `/proc/PID/stat` field 22 (`starttime`) when the process was started.
    pub start_time: u64,
    /// What was started, for humans reading the file.
    #[serde(default)]
    pub exec: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
}

impl PidRecord {
    /// Writes the record atomically (temp file, fsync, rename, fsync dir).
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        json.push(b'\n');
        crate::fsutil::write_atomic(path, &json)
    }

    /// `Ok(None)` when there is no pid file.
    pub fn read(path: &Path) -> io::Result<Option<PidRecord>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not a pid record: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Is the recorded process still running — the same process, not a
    /// zombie, not another one that got the pid later?
    pub fn is_alive(&self) -> bool {
        match read_proc_stat(self.pid) {
            Ok(Some(st)) => st.start_time == self.start_time && !st.is_dead(),
            _ => false,
        }
    }
}

/// The fields of `/proc/PID/stat` this crate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), …
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcStat {
    /// Exited (a zombie waiting to be reaped, or being torn down).
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses one `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so the fields
/// after it are counted from the last `)`.
pub fn parse_proc_stat(line: &str) -> Option<ProcStat> {
    let rest = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // f[0] is field 3 (state), so field N is f[N - 3].
    let field = |n: usize| f.get(n - 3).copied();
    let mut state = field(3)?.chars();
    let st = ProcStat {
        state: state.next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    };
    state.next().is_none().then_some(st)
}

/// `Ok(None)` when no process has this pid.
pub fn read_proc_stat(pid: u32) -> io::Result<Option<ProcStat>> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    match std::fs::read_to_string(&path) {
        Ok(s) => parse_proc_stat(&s)
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("cannot parse {}", path.display()))),
        // ESRCH can show up when the process goes away mid-read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(nix::libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reaps `pid` if it is an exited child of this process; does nothing
/// otherwise (not our child, still running, already reaped).
pub fn reap_if_child(pid: u32) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let Ok(raw) = i32::try_from(pid) else { return };
    let _ = waitpid(nix::unistd::Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG));
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (node_exporter) S 1 4242 4242 0 -1 4194560 1234 0 0 0 12 5 0 0 20 0 8 0 987654 \
                        734003200 4321 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn parses_stat_fields() {
        let st = parse_proc_stat(STAT).unwrap();
        assert_eq!(
            st,
            ProcStat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                session: 4242,
                start_time: 987654
            }
        );
        assert!(!st.is_dead());
    }

    #[test]
    fn command_names_with_spaces_and_parens_do_not_shift_fields() {
        let line = STAT.replace("(node_exporter)", "(a) b (c) Z 9)");
        let st = parse_proc_stat(&line).unwrap();
        assert_eq!(st.state, 'S');
        assert_eq!(st.start_time, 987654);
    }

    #[test]
    fn zombies_are_dead() {
        let st = parse_proc_stat(&STAT.replace(") S ", ") Z ")).unwrap();
        assert!(st.is_dead());
    }

    #[test]
    fn rejects_truncated_lines() {
        assert!(parse_proc_stat("").is_none());
        assert!(parse_proc_stat("1 (x) S 1 1 1").is_none());
        assert!(parse_proc_stat("1 x S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").is_none());
    }

    #[test]
    fn reads_our_own_stat() {
        let me = read_proc_stat(std::process::id()).unwrap().unwrap();
        assert!(!me.is_dead());
        assert!(me.start_time > 0);
        assert_eq!(read_proc_stat(u32::MAX - 1).unwrap(), None);
    }

    #[test]
    fn record_round_trips_and_checks_the_start_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(PidRecord::read(&p).unwrap(), None);
        let me = read_proc_stat(std::process::id()).unwrap().unwrap();
        let rec = PidRecord {
            pid: std::process::id(),
            start_time: me.start_time,
            exec: "/bin/x".into(),
            args: vec!["--a".into()],
        };
        rec.write(&p).unwrap();
        assert_eq!(PidRecord::read(&p).unwrap(), Some(rec.clone()));
        assert!(rec.is_alive());
        // Same pid, another start time: a reused pid is not ours.
        let reused = PidRecord {
            start_time: me.start_time + 1,
            ..rec
        };
        assert!(!reused.is_alive());
    }

    #[test]
    fn corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        std::fs::write(&p, b"12 34").unwrap();
        assert_eq!(PidRecord::read(&p).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}

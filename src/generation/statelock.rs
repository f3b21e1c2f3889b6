//! The exclusive state lock (`flock` on `<state>/lock`): one switch, rollback,
//! gc, realise or adopt at a time. A second one fails at once, never waits or
//! interleaves.
//!
//! The lock file's text (`pid N running `CMD``) is advisory: the holder
//! truncates and rewrites it in place after taking the lock (a write to a temp
//! file + rename would put a new inode under the path, and a later `flock` on
//! it would not exclude the holder of the old one). Readers may see it empty,
//! half-written or naming a holder that is long gone.

use crate::fsutil;
use crate::paths::Layout;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another exporterctl is already changing this host ({holder}); try again when it has finished")]
    Busy { holder: String },
    #[error("cannot open the state lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held until dropped; the kernel releases it if the process dies.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(layout: &Layout, what: &str) -> Result<StateLock, LockError> {
        let path = layout.lock_path();
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fsutil::create_dir_all_durable(&layout.state_dir()).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(LockError::Busy {
                    holder: if holder.is_empty() {
                        "unknown process".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the message a second invocation prints; advisory only.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {} running `{what}`", std::process::id());
        Ok(StateLock { _file: file })
    }
}

/// Who holds the state lock right now (see [`StateLock::holder`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The lock file's text when it names `pid` (`pid N running `switch``),
    /// else `pid N`.
    pub description: String,
}

impl StateLock {
    /// The process holding the state lock now, without taking it, opening the
    /// lock file for writing or changing it: for read-only commands (`status`)
    /// that must neither contend with a switch nor need write access.
    ///
    /// How: the kernel's own list of held locks, `/proc/locks`, searched for a
    /// `FLOCK` on the lock file's inode. Why not the alternatives:
    /// - trying the lock (even shared, even released at once) makes a
    ///   concurrent `switch`/`rollback` fail with "busy", and needs write
    ///   access to create the file;
    /// - `F_OFD_GETLK`/`F_GETLK` see only `fcntl` locks; on Linux they never
    ///   report a `flock`, which is what [`StateLock::acquire`] takes;
    /// - the pid the lock file names, checked with `kill(pid, 0)`, is wrong
    ///   after a crash once the pid is reused (likely after a reboot, when
    ///   pids start again from 1) and during the instant between `flock` and
    ///   the holder rewriting the text.
    ///
    /// `/proc/locks` is world-readable, so this works for non-root users too.
    /// On btrfs (and some stacked filesystems) the device it shows differs
    /// from `stat`'s `st_dev`, so an entry on the right inode but another
    /// device also counts when its pid is the one the lock file names.
    /// Without a readable `/proc/locks` (no procfs mounted), it falls back to
    /// that pid and `kill(pid, 0)`.
    pub fn holder(layout: &Layout) -> std::io::Result<Option<Holder>> {
        let path = layout.lock_path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let recorded = recorded_pid(&path);
        match std::fs::read_to_string("/proc/locks") {
            Ok(locks) => {
                use std::os::unix::fs::MetadataExt;
                Ok(
                    holder_in_proc_locks(&locks, meta.dev(), meta.ino(), recorded.as_ref().map(|r| r.0))
                        .map(|pid| describe(pid, recorded)),
                )
            }
            Err(_) => Ok(recorded
                .filter(|(pid, _)| crate::fsutil::pid_alive(*pid))
                .map(|(pid, text)| describe(pid, Some((pid, text))))),
        }
    }
}

fn describe(pid: u32, recorded: Option<(u32, String)>) -> Holder {
    let description = match recorded {
        Some((p, text)) if p == pid => text,
        _ => format!("pid {pid}"),
    };
    Holder { pid, description }
}

/// The pid and text the lock file names (`pid N running `CMD``), if any.
fn recorded_pid(path: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim().to_string();
    let pid = text.strip_prefix("pid ")?.split_whitespace().next()?.parse().ok()?;
    Some((pid, text))
}

/// The pid of a `FLOCK` in `locks` (the text of `/proc/locks`) on inode `ino`
/// of device `dev`, or on inode `ino` of any device held by `recorded`.
/// Lines look like `1: FLOCK  ADVISORY  WRITE 1234 fe:00:10010652 0 EOF`
/// (major and minor in hex); waiters (`1: -> FLOCK …`) hold nothing.
fn holder_in_proc_locks(locks: &str, dev: u64, ino: u64, recorded: Option<u32>) -> Option<u32> {
    let (major, minor) = dev_parts(dev);
    let mut weak = None;
    for line in locks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" {
            continue;
        }
        let Ok(pid) = f[4].parse::<u32>() else { continue };
        let mut id = f[5].splitn(3, ':');
        let (Some(maj), Some(min), Some(i)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        if i.parse::<u64>().ok() != Some(ino) {
            continue;
        }
        let same_dev =
            u64::from_str_radix(maj, 16).ok() == Some(major) && u64::from_str_radix(min, 16).ok() == Some(minor);
        if same_dev {
            return Some(pid);
        }
        if recorded == Some(pid) {
            weak = Some(pid);
        }
    }
    weak
}

/// Linux's split of a `dev_t` into major and minor numbers.
fn dev_parts(dev: u64) -> (u64, u64) {
    (
        ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff),
        ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        (dir, layout)
    }

    #[test]
    fn no_lock_file_no_holder() {
        let (_d, layout) = layout();
        assert_eq!(StateLock::holder(&layout).unwrap(), None);
        assert!(!layout.lock_path().exists(), "holder must not create the lock file");
    }

    #[test]
    fn a_held_lock_has_a_holder_and_reading_it_changes_nothing() {
        let (_d, layout) = layout();
        let lock = StateLock::acquire(&layout, "switch").unwrap();
        let before = std::fs::read(layout.lock_path()).unwrap();
        let h = StateLock::holder(&layout).unwrap().expect("a holder");
        assert_eq!(h.pid, std::process::id());
        assert_eq!(h.description, format!("pid {} running `switch`", std::process::id()));
        assert_eq!(std::fs::read(layout.lock_path()).unwrap(), before);
        drop(lock);
        // Released: the text still names this (live) process, but nobody holds it.
        assert_eq!(StateLock::holder(&layout).unwrap(), None);
        assert_eq!(std::fs::read(layout.lock_path()).unwrap(), before);
        // And asking did not take it.
        StateLock::acquire(&layout, "rollback").unwrap();
    }

    #[test]
    fn proc_locks_lines() {
        let dev = (0xfe << 8) | 0x01; // fe:01
        let locks = "1: POSIX  ADVISORY  WRITE 10 fe:01:42 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 11 fe:01:42 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 12 fe:01:43 0 EOF\n\
                     4: FLOCK  ADVISORY  WRITE 13 fe:01:42 0 EOF\n";
        assert_eq!(holder_in_proc_locks(locks, dev, 42, None), Some(13));
        assert_eq!(holder_in_proc_locks(locks, dev, 44, None), None);
        // Another device (btrfs subvolume): only with the recorded pid.
        let other = "1: FLOCK  ADVISORY  WRITE 13 00:2f:42 0 EOF\n";
        assert_eq!(holder_in_proc_locks(other, dev, 42, None), None);
        assert_eq!(holder_in_proc_locks(other, dev, 42, Some(12)), None);
        assert_eq!(holder_in_proc_locks(other, dev, 42, Some(13)), Some(13));
        assert_eq!(dev_parts(dev), (0xfe, 0x01));
    }

    #[test]
    fn recorded_pid_is_parsed_and_checked() {
        let (_d, layout) = layout();
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        std::fs::write(layout.lock_path(), "pid 4242 running `gc`\n").unwrap();
        assert_eq!(
            recorded_pid(&layout.lock_path()),
            Some((4242, "pid 4242 running `gc`".into()))
        );
        std::fs::write(layout.lock_path(), "").unwrap();
        assert_eq!(recorded_pid(&layout.lock_path()), None);
        assert!(crate::fsutil::pid_alive(std::process::id()));
        assert!(!crate::fsutil::pid_alive(0));
    }
}

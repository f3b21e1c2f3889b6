//! The few dangerous file-system operations, done crash-safely in one place:
//! write-to-temp + fsync + rename + fsync(dir), and atomic symlink replacement.
//! Everything else that must survive a crash calls these.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a sibling temp file that no other process or thread will pick.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Whether process `pid` exists (`kill(pid, 0)`: only ESRCH says no; EPERM
/// means it exists under another user).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else { return false };
    raw > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

/// The final name and pid of a [`temp_sibling`] name (`.NAME.tmp-PID-N`),
/// if it is one.
fn temp_owner(file_name: &str) -> Option<(&str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let (head, n) = rest.rsplit_once('-')?;
    let (head, pid) = head.rsplit_once('-')?;
    let name = head.strip_suffix(".tmp")?;
    if name.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((name, pid.parse().ok().filter(|p| *p > 0)?))
}

/// Removes the [`temp_sibling`] files and links in `dir` whose process is
/// gone: what a crash between creating a temp entry and renaming it left.
/// Callers hold the state lock, so no live exporterctl is mid-rename here;
/// a temp of a live pid is left alone all the same. A missing `dir` is fine.
/// With `only`, just the temps of those final names: in a directory other
/// tools write to (`bin_dir`), a name that merely looks like ours is theirs.
pub fn remove_dead_temps(dir: &Path, only: Option<&[&str]>) -> io::Result<usize> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in rd {
        let entry = entry?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some((name, pid)) = temp_owner(&file_name) else {
            continue;
        };
        if only.is_some_and(|names| !names.contains(&name)) || pid_alive(pid) || entry.file_type()?.is_dir() {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// Runs `spawn` again, briefly, while it fails with `ETXTBSY`. An executable
/// written a moment ago can still be open for writing in a child that another
/// thread of this process has just forked (until that child's `exec` closes
/// it): executing it then fails although nothing is wrong.
pub fn retry_text_busy<T>(mut spawn: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut delay = std::time::Duration::from_millis(5);
    for _ in 0..6 {
        match spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) => std::thread::sleep(delay),
            other => return other,
        }
        delay *= 2;
    }
    spawn()
}

/// fsync a directory so that a rename or create inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replace `path` with `bytes` so that a reader (or a crash) sees either the old
/// content or the new one, never a mix or an empty file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, 0o644)
}

pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fsync_dir(parent_of(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Point `link` at `target` atomically: create the new link under a temp name
/// beside it, then `rename(2)` over the old one, then fsync the directory.
/// At every instant `link` is either the old link or the new one.
pub fn symlink_atomic(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = temp_sibling(link);
    std::os::unix::fs::symlink(target, &tmp)?;
    if let Err(e) = fs::rename(&tmp, link) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(parent_of(link))
}

/// `create_dir_all`, then fsync each directory created and its parent, so a
/// freshly created state directory survives power loss.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = parent_of(dir);
    create_dir_all_durable(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => fsync_dir(parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove a file or an empty-or-not directory tree; a missing path is fine.
/// Read-only store trees are made writable first (0444 files in 0555 dirs).
/// Whether `a` and `b` are regular files (after symlinks) with the same
/// bytes; a missing file is simply not the same.
pub fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    use std::io::Read;
    let open = |p: &Path| match std::fs::File::open(p) {
        Ok(f) if f.metadata()?.is_file() => Ok(Some(f)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    let (Some(fa), Some(fb)) = (open(a)?, open(b)?) else {
        return Ok(false);
    };
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (io::BufReader::new(fa), io::BufReader::new(fb));
    let (mut ba, mut bb) = ([0u8; 64 * 1024], [0u8; 64 * 1024]);
    loop {
        let n = ra.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        rb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// Removes a file or a whole tree, read-only store directories included.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    // Root may remove entries of a 0555 directory: try that first, and walk
    // the tree making it writable only when refused (half the syscalls of gc
    // otherwise). A refused first try has removed only what it was allowed to.
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_writable(path)?;
            fs::remove_dir_all(path)
        }
        other => other,
    }
}

fn make_writable(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn symlink_atomic_replaces_an_existing_link() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("l");
        symlink_atomic(Path::new("a"), &l).unwrap();
        symlink_atomic(Path::new("b"), &l).unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), PathBuf::from("b"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_tree_handles_read_only_trees() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        fs::create_dir_all(t.join("bin")).unwrap();
        fs::write(t.join("bin/x"), b"x").unwrap();
        fs::set_permissions(t.join("bin"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(&t, fs::Permissions::from_mode(0o555)).unwrap();
        remove_tree(&t).unwrap();
        assert!(!t.exists());
    }

    #[test]
    fn same_contents_compares_bytes_of_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&a, &big).unwrap();
        fs::write(&b, &big).unwrap();
        assert!(same_contents(&a, &b).unwrap());
        let mut other = big.clone();
        other[150_000] ^= 1;
        fs::write(&c, &other).unwrap();
        assert!(!same_contents(&a, &c).unwrap());
        assert!(!same_contents(&a, &dir.path().join("missing")).unwrap());
        assert!(!same_contents(&a, dir.path()).unwrap(), "a directory is not a file");
    }

    #[test]
    fn temps_of_dead_processes_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A pid that cannot be running: above the kernel's pid_max limit.
        let dead = ".node_exporter.tmp-99999999-0";
        let mine = temp_sibling(&d.join("x"))
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::os::unix::fs::symlink("/nowhere", d.join(dead)).unwrap();
        fs::write(d.join(&mine), b"in flight").unwrap();
        fs::write(d.join("node_exporter"), b"a real file").unwrap();
        fs::write(d.join(".hidden.tmp-x-1"), b"not ours").unwrap();
        // Restricted to other names, even a dead temp stays.
        assert_eq!(remove_dead_temps(d, Some(&["blackbox_exporter"])).unwrap(), 0);
        assert_eq!(remove_dead_temps(d, Some(&["node_exporter"])).unwrap(), 1);
        assert!(fs::symlink_metadata(d.join(dead)).is_err());
        for kept in [mine.as_str(), "node_exporter", ".hidden.tmp-x-1"] {
            assert!(d.join(kept).exists(), "{kept}");
        }
        assert_eq!(remove_dead_temps(&d.join("missing"), None).unwrap(), 0);
        assert_eq!(temp_owner(".a.tmp-12-3"), Some(("a", 12)));
        assert_eq!(temp_owner(".a-b.tmp-12-3"), Some(("a-b", 12)));
        assert_eq!(temp_owner("a.tmp-12-3"), None);
        assert_eq!(temp_owner(".a.tmp-12-"), None);
    }

    #[test]
    fn text_busy_is_retried_other_errors_are_not() {
        let busy = || io::Error::from_raw_os_error(nix::libc::ETXTBSY);
        let mut calls = 0;
        let r = retry_text_busy(|| {
            calls += 1;
            if calls < 3 {
                Err(busy())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: io::Result<()> = retry_text_busy(|| {
            calls += 1;
            Err(io::ErrorKind::NotFound.into())
        });
        assert_eq!((r.unwrap_err().kind(), calls), (io::ErrorKind::NotFound, 1));
        let r: io::Result<()> = retry_text_busy(|| Err(busy()));
        assert_eq!(r.unwrap_err().raw_os_error(), Some(nix::libc::ETXTBSY));
    }
}

/// Durations as humane strings (`30s`, `2m`) in every JSON record.
pub mod humantime_serde_compat {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

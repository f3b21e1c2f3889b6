//! The atomic add: a tree built in `store/.tmp/` is normalised (modes 0444 /
//! 0555, mtime 1), fsynced, renamed into `store/<name>` without replacing
//! anything, and only then recorded as valid. Everything that can leave a
//! half-done add behind lives here, and what it leaves is either a temp dir
//! under `.tmp/` or a store directory without metadata.

use std::fs::{self, File, FileTimes};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::nar;
use crate::fsutil;

/// The modification time every store file and directory gets (as Nix does):
/// one second after the epoch.
pub fn store_mtime() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1)
}

/// A fresh directory under `.tmp/`, removed (read-only modes and all) when
/// dropped unless [`TempTree::disarm`] was called after a successful rename.
pub struct TempTree {
    path: PathBuf,
    armed: bool,
}

impl TempTree {
    pub fn new(tmp_dir: &Path) -> io::Result<TempTree> {
        let dir = tempfile::Builder::new().prefix("add-").tempdir_in(tmp_dir)?;
        Ok(TempTree {
            path: dir.keep(),
            armed: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = fsutil::remove_tree(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove temp dir; `clean_leftovers` will");
            }
        }
    }
}

fn set_mtime(f: &File) -> io::Result<()> {
    f.set_times(FileTimes::new().set_modified(store_mtime()))
}

/// Normalises everything below `root` (not `root` itself, see [`seal_root`]):
/// regular files 0444, or 0555 when the owner-execute bit was set; directories
/// 0555; mtime 1 on files, directories and symlinks (via `utimensat` with
/// `AT_SYMLINK_NOFOLLOW`); every file and directory fsynced. Returns the bytes
/// of regular-file content. Exotic files are an `InvalidData` error.
pub fn normalise_below(root: &Path) -> io::Result<u64> {
    let mut size = 0;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            size += normalise_below(&path)?;
            let d = File::open(&path)?;
            d.set_permissions(fs::Permissions::from_mode(0o555))?;
            set_mtime(&d)?;
            d.sync_all()?;
        } else if ft.is_file() {
            let f = File::open(&path)?;
            let meta = f.metadata()?;
            let mode = if nar::is_executable(meta.permissions().mode()) {
                0o555
            } else {
                0o444
            };
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            set_mtime(&f)?;
            f.sync_all()?;
            size += meta.len();
        } else if ft.is_symlink() {
            set_symlink_mtime(&path)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is neither a file, a directory nor a symlink", path.display()),
            ));
        }
    }
    Ok(size)
}

fn set_symlink_mtime(path: &Path) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::new(1, 0),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Makes a store path's top directory 0555 with mtime 1 and fsyncs it. Done
/// after the rename: moving a directory to a new parent needs write
/// permission on it (to update its `..`) when not running as root.
pub fn seal_root(dir: &Path) -> io::Result<()> {
    let d = File::open(dir)?;
    d.set_permissions(fs::Permissions::from_mode(0o555))?;
    set_mtime(&d)?;
    d.sync_all()
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing
/// an existing `to` (an empty directory would otherwise be replaced).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => Ok(()),
            // Filesystems without RENAME_NOREPLACE: the caller holds the state
            // lock and the install mutex, so check-then-rename is race-free.
            Err(nix::errno::Errno::EINVAL) => rename_checked(from, to),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        rename_checked(from, to)
    }
}

fn rename_checked(from: &Path, to: &Path) -> io::Result<()> {
    if fs::symlink_metadata(to).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", to.display()),
        ));
    }
    fs::rename(from, to)
}

/// Bytes of regular-file content under `path` (0 if it does not exist).
pub fn content_size(path: &Path) -> io::Result<u64> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if meta.is_file() {
        return Ok(meta.len());
    }
    if !meta.is_dir() {
        return Ok(0);
    }
    let mut size = 0;
    for entry in fs::read_dir(path)? {
        size += content_size(&entry?.path())?;
    }
    Ok(size)
}

/// Files and directories under `root` (itself included) whose mode is not the
/// store's: directories 0555, regular files 0444 or 0555 (setuid, setgid,
/// sticky and every write bit are never there). Paths are relative to
/// `root` (`.` for the root); symlinks have no meaningful mode.
pub fn wrong_modes(root: &Path) -> io::Result<Vec<(PathBuf, u32)>> {
    let mut out = Vec::new();
    wrong_modes_in(root, Path::new("."), &mut out)?;
    Ok(out)
}

fn wrong_modes_in(path: &Path, rel: &Path, out: &mut Vec<(PathBuf, u32)>) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() {
        if mode != 0o555 {
            out.push((rel.to_path_buf(), mode));
        }
        let mut names: Vec<_> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            wrong_modes_in(&path.join(&name), &rel.join(&name), out)?;
        }
    } else if meta.is_file() && mode != 0o444 && mode != 0o555 {
        out.push((rel.to_path_buf(), mode));
    }
    Ok(())
}

/// Swaps the complete tree `from` with the store directory `to` in one
/// `rename(2)` (`RENAME_EXCHANGE`): `to` names a complete tree at every
/// instant, and `from` ends up holding the old one. Where the exchange is not
/// supported, two renames: a crash between them leaves `to` missing, which
/// `store verify` reports and a repair restores.
pub fn exchange(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let aside = from.with_extension("old");
    fs::rename(to, &aside)?;
    fs::rename(from, to)?;
    fs::rename(&aside, from)
}

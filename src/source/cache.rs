//! The download cache: `cache/downloads/<sha256hex>`, one verified file per
//! digest, read-only. Files arrive through a temp file in the same directory
//! (`.download.tmp-<pid>-<n>`), which is fsynced and renamed into place only
//! after its digest has been checked.

use super::checksums::to_hex;
use crate::fsutil;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Read/write chunk size when streaming and hashing.
pub const CHUNK: usize = 128 * 1024;

/// Prefix of temp files; anything in the cache starting with it is a
/// leftover or an in-flight download.
pub const TEMP_PREFIX: &str = ".download.tmp-";

pub struct DownloadCache {
    dir: PathBuf,
}

impl DownloadCache {
    pub fn new(dir: PathBuf) -> Self {
        DownloadCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_for(&self, sha256_hex: &str) -> PathBuf {
        self.dir.join(sha256_hex)
    }

    /// The cached file for `sha256_hex` after re-hashing it, with its size;
    /// `None` if absent. A file whose content no longer matches its name is
    /// removed (and `None` returned).
    pub fn lookup(&self, sha256_hex: &str) -> io::Result<Option<(PathBuf, u64)>> {
        let path = self.path_for(sha256_hex);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            let (actual, size) = hash_file(&path)?;
            if actual == sha256_hex {
                return Ok(Some((path, size)));
            }
            tracing::warn!(
                "cached download {} is corrupt (sha256 is now {actual}); discarding it",
                path.display()
            );
        } else {
            tracing::warn!("{} is not a regular file; discarding it", path.display());
        }
        fsutil::remove_tree(&path)?;
        Ok(None)
    }

    /// A new temp file in the cache directory (created if needed), removed
    /// again when dropped unless committed.
    pub fn temp(&self) -> io::Result<TempDownload> {
        fsutil::create_dir_all_durable(&self.dir)?;
        // `.download.tmp-<pid>-<n>`: the shape `fsutil::remove_dead_temps` knows.
        let path = fsutil::temp_sibling(&self.dir.join("download"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(TempDownload {
            path,
            writer: Some(BufWriter::with_capacity(2 * CHUNK, file)),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Removes temp files left by runs that are no longer alive (killed,
    /// crashed). Temps of live processes, this one included, are kept.
    /// Returns how many were removed.
    pub fn clean_leftovers(&self) -> io::Result<usize> {
        let removed = fsutil::remove_dead_temps(&self.dir, None)?;
        if removed > 0 {
            tracing::info!("removed {removed} partial download(s) from {}", self.dir.display());
        }
        Ok(removed)
    }
}

/// sha256 (hex) and size of a file, read in one pass.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((to_hex(&hasher.finalize()), size))
}

/// A download in progress: bytes are hashed as they are written.
pub struct TempDownload {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    size: u64,
}

impl TempDownload {
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        match self.writer.as_mut() {
            Some(w) => w.write_all(bytes),
            None => Err(io::Error::other("temp download already finished")),
        }
    }

    /// Starts over (a retried transfer): empties the file and the hash.
    pub fn reset(&mut self) -> io::Result<()> {
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("temp download finished"))?;
        w.flush()?;
        let f = w.get_mut();
        f.set_len(0)?;
        io::Seek::seek(f, io::SeekFrom::Start(0))?;
        self.hasher = Sha256::new();
        self.size = 0;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The sha256 (hex) of everything written; flushes the buffer.
    pub fn finish_hash(&mut self) -> io::Result<String> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(to_hex(&self.hasher.clone().finalize()))
    }

    /// Makes the (already verified) file durable and read-only, and renames it
    /// to `dest`, then fsyncs the directory.
    pub fn commit(mut self, dest: &Path) -> io::Result<()> {
        let w = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("temp download finished"))?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.set_permissions(fs::Permissions::from_mode(0o444))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&self.path, dest)?;
        // Renamed: nothing for Drop to remove any more.
        self.path = PathBuf::new();
        let dir = dest.parent().unwrap_or(Path::new("."));
        fsutil::fsync_dir(dir)
    }
}

impl Drop for TempDownload {
    fn drop(&mut self) {
        self.writer.take();
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_commit_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("downloads"));
        let mut t = cache.temp().unwrap();
        t.write(b"hello ").unwrap();
        t.reset().unwrap();
        t.write(b"hello").unwrap();
        let hex = t.finish_hash().unwrap();
        assert_eq!(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        t.commit(&cache.path_for(&hex)).unwrap();
        let (p, size) = cache.lookup(&hex).unwrap().unwrap();
        assert_eq!(size, 5);
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(fs::read_dir(cache.dir()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_temp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().to_path_buf());
        let mut t = cache.temp().unwrap();
        t.write(b"partial").unwrap();
        drop(t);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_entry_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().to_path_buf());
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        fs::write(cache.path_for(hex), b"HELLO").unwrap();
        assert!(cache.lookup(hex).unwrap().is_none());
        assert!(!cache.path_for(hex).exists());
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().to_path_buf());
        // A pid that cannot be alive (above the kernel's pid_max limit of 2^22).
        let dead = dir.path().join(format!("{TEMP_PREFIX}99999999-0"));
        fs::write(&dead, b"x").unwrap();
        let mine = cache.temp().unwrap();
        fs::write(dir.path().join("keep"), b"k").unwrap();
        assert_eq!(cache.clean_leftovers().unwrap(), 1);
        assert!(!dead.exists());
        assert!(mine.path.exists());
        assert!(dir.path().join("keep").exists());
    }
}

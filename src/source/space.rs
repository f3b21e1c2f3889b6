//! Free space, checked before a download writes its first byte.
//!
//! A download needs room for the archive in the cache and then for what
//! unpacking makes of it in the store: exporter archives are gzip'd Go
//! binaries that expand about 2.3× (node_exporter 1.9.1: 13.4 MB → 31 MiB),
//! and the tree is built in `store/.tmp/` before its rename. Failing up
//! front says so plainly; running out halfway would leave the same
//! unchanged store (every write is to a temp name) but a vaguer error.

use std::io;
use std::path::Path;

/// Free space wanted per byte of archive: the archive, its unpacked tree,
/// and room to spare.
pub const FACTOR: u64 = 4;

/// Bytes available to an unprivileged writer on the file system of `dir`.
pub fn available(dir: &Path) -> io::Result<u64> {
    let s = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
    // Both are `u64` on Linux (`fsblkcnt_t`, `c_ulong`).
    Ok(s.blocks_available().saturating_mul(s.fragment_size()))
}

/// `Err(needed)` when `available` bytes are too few for an archive of `len`.
pub fn check(len: u64, available: u64) -> Result<(), u64> {
    let needed = len.saturating_mul(FACTOR);
    if available < needed {
        Err(needed)
    } else {
        Ok(())
    }
}

/// A size for people: `13.4 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_four_times_the_archive() {
        assert_eq!(check(10, 40), Ok(()));
        assert_eq!(check(10, 39), Err(40));
        assert_eq!(check(u64::MAX, u64::MAX), Ok(()));
    }

    #[test]
    fn reads_the_free_space_of_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available(dir.path()).unwrap() > 0);
        assert!(available(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(13_400_000), "12.8 MiB");
    }
}

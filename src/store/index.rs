//! `store/.releases/`: which store paths hold release `<name>-<version>`, so
//! `find_release` reads one small file instead of listing `.meta/` — a
//! listing whose cost grows with every release and farm the store keeps.
//!
//! The index is a hint, never the truth: a path it names is only used when
//! its record says it is that release (so an entry written before its path
//! became valid, or left behind by gc, is harmless). An entry is written
//! before the release's record, so a valid release is never missing from a
//! complete index because of a crash. A store written before the index
//! existed has no `.complete` marker: lookups list `.meta/` as before until
//! the next realise builds the index from one listing and writes the marker.

use crate::fsutil;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::StorePath;

/// Written once every valid release has its entry.
const COMPLETE: &str = ".complete";

/// An entry larger than this is not read past (a file on disk is input).
const MAX_ENTRY_BYTES: u64 = 1 << 20;

pub(super) struct ReleaseIndex {
    dir: PathBuf,
}

impl ReleaseIndex {
    pub(super) fn new(dir: PathBuf) -> ReleaseIndex {
        ReleaseIndex { dir }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, rest: &str) -> PathBuf {
        self.dir.join(rest)
    }

    /// Whether every valid release has its entry (the index was built).
    pub(super) fn is_complete(&self) -> bool {
        self.dir.join(COMPLETE).is_file()
    }

    pub(super) fn mark_complete(&self) -> io::Result<()> {
        fsutil::create_dir_all_durable(&self.dir)?;
        fsutil::write_atomic(&self.dir.join(COMPLETE), b"")
    }

    /// The store paths the entry for `rest` names: only well-formed store
    /// path names ending in `-<rest>`; anything else in the file is ignored.
    pub(super) fn get(&self, rest: &str) -> io::Result<Vec<StorePath>> {
        let mut text = String::new();
        match fs::File::open(self.entry_path(rest)) {
            Ok(f) => {
                if let Err(e) = f.take(MAX_ENTRY_BYTES).read_to_string(&mut text) {
                    if e.kind() != io::ErrorKind::InvalidData {
                        return Err(e);
                    }
                    tracing::warn!(entry = %self.entry_path(rest).display(), "release index entry is not UTF-8; ignored");
                    return Ok(Vec::new());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        Ok(parse(&text, rest))
    }

    /// Adds `sp` to the entry for `rest` (its name ends in `-<rest>`); the
    /// caller serialises writers.
    pub(super) fn add(&self, rest: &str, sp: &StorePath) -> io::Result<()> {
        let mut paths = self.get(rest)?;
        if paths.contains(sp) {
            return Ok(());
        }
        paths.push(sp.clone());
        self.write(rest, &paths)
    }

    fn write(&self, rest: &str, paths: &[StorePath]) -> io::Result<()> {
        let path = self.entry_path(rest);
        if paths.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text: String = paths.iter().map(|p| format!("{p}\n")).collect();
        // Created here, not when the store is opened: a dry run opens a store
        // it may not write to.
        fsutil::create_dir_all_durable(&self.dir)?;
        fsutil::write_atomic(&path, text.as_bytes())
    }

    /// Drops from every entry the paths `keep` refuses, and the temp files
    /// of interrupted entry writes. For gc, which lists the store anyway.
    /// Returns whether anything was removed.
    pub(super) fn prune(&self, keep: impl Fn(&StorePath) -> bool) -> io::Result<bool> {
        let mut changed = false;
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue; // not ours: the index writes only files
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                if name != COMPLETE && name.contains(".tmp-") {
                    fs::remove_file(entry.path())?;
                    changed = true;
                }
                continue;
            }
            let paths = self.get(&name)?;
            let kept: Vec<StorePath> = paths.iter().filter(|p| keep(p)).cloned().collect();
            if kept.len() != paths.len() || kept.is_empty() {
                self.write(&name, &kept)?;
                changed = true;
            }
        }
        Ok(changed)
    }
}

fn parse(text: &str, rest: &str) -> Vec<StorePath> {
    text.lines()
        .filter_map(|l| StorePath::parse(l.trim()).ok())
        .filter(|sp| sp.rest() == rest)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(h: char, rest: &str) -> StorePath {
        StorePath::parse(&format!("{}-{rest}", h.to_string().repeat(32))).unwrap()
    }

    #[test]
    fn an_entry_keeps_only_paths_of_its_release() {
        let text = format!("{}\nnot a path\n{}\n../../etc\n", sp('a', "x-1"), sp('b', "x-2"));
        assert_eq!(parse(&text, "x-1"), vec![sp('a', "x-1")]);
    }

    #[test]
    fn add_is_idempotent_and_prune_removes_empty_entries_and_temps() {
        let t = tempfile::tempdir().unwrap();
        let idx = ReleaseIndex::new(t.path().to_path_buf());
        idx.add("x-1", &sp('a', "x-1")).unwrap();
        idx.add("x-1", &sp('a', "x-1")).unwrap();
        idx.add("x-1", &sp('b', "x-1")).unwrap();
        assert_eq!(idx.get("x-1").unwrap(), vec![sp('a', "x-1"), sp('b', "x-1")]);
        idx.mark_complete().unwrap();
        fs::write(t.path().join(".x-1.tmp-1-0"), "").unwrap();
        fs::create_dir(t.path().join("stray")).unwrap();
        assert!(idx.prune(|p| *p == sp('b', "x-1")).unwrap());
        assert_eq!(idx.get("x-1").unwrap(), vec![sp('b', "x-1")]);
        assert!(idx.prune(|_| false).unwrap());
        assert!(!t.path().join("x-1").exists());
        assert!(!t.path().join(".x-1.tmp-1-0").exists());
        assert!(idx.is_complete());
        assert!(!idx.prune(|_| true).unwrap());
    }
}

//! The stable entries in `bin_dir` and `unit_dir`: `<bin_dir>/<name> ->
//! <state>/profiles/system/bin/<name>` (and likewise for owned units). They
//! never change once made; flipping the profile changes what they resolve to.

use super::state::ProfileState;
use crate::fsutil;
use crate::paths::Layout;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Our stable link.
    Ours,
    Missing,
    /// A file, directory or other link we did not make.
    Foreign(String),
}

pub struct Links<'a> {
    layout: &'a Layout,
}

impl<'a> Links<'a> {
    pub fn new(layout: &'a Layout) -> Self {
        Links { layout }
    }

    pub fn bin_entry(&self, state: &ProfileState, name: &str) -> PathBuf {
        self.layout.rooted(&state.bin_dir).join(name)
    }
    pub fn unit_entry(&self, state: &ProfileState, unit: &str) -> PathBuf {
        self.layout.rooted(&state.unit_dir).join(unit)
    }
    fn bin_target(&self, name: &str) -> PathBuf {
        self.layout.profile_link().join("bin").join(name)
    }
    fn unit_target(&self, unit: &str) -> PathBuf {
        self.layout.profile_link().join("units").join(unit)
    }

    pub fn status(entry: &Path, expected_target: &Path) -> io::Result<LinkStatus> {
        match std::fs::symlink_metadata(entry) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(LinkStatus::Missing),
            Err(e) => Err(e),
            Ok(m) if m.file_type().is_symlink() => {
                let t = std::fs::read_link(entry)?;
                if t == expected_target {
                    Ok(LinkStatus::Ours)
                } else {
                    Ok(LinkStatus::Foreign(format!("a symlink to {}", t.display())))
                }
            }
            Ok(m) if m.is_dir() => Ok(LinkStatus::Foreign("a directory".into())),
            Ok(_) => Ok(LinkStatus::Foreign("a regular file".into())),
        }
    }

    pub fn bin_status(&self, state: &ProfileState, name: &str) -> io::Result<LinkStatus> {
        Self::status(&self.bin_entry(state, name), &self.bin_target(name))
    }
    pub fn unit_status(&self, state: &ProfileState, unit: &str) -> io::Result<LinkStatus> {
        Self::status(&self.unit_entry(state, unit), &self.unit_target(unit))
    }

    /// Every stable entry `state` needs: (entry path, link target).
    pub fn needed(&self, state: &ProfileState) -> Vec<(PathBuf, PathBuf)> {
        let mut out = Vec::new();
        for e in &state.exporters {
            out.push((self.bin_entry(state, &e.name), self.bin_target(&e.name)));
            if e.unit_store_path.is_some() {
                out.push((self.unit_entry(state, &e.unit), self.unit_target(&e.unit)));
            }
            if let Some(socket) = e.socket_unit() {
                out.push((self.unit_entry(state, &socket), self.unit_target(&socket)));
            }
        }
        out
    }

    /// Before flipping from `live` to `target`: removes our entries that
    /// `target` will not resolve, so none of them ever dangles.
    pub fn prune_for(&self, live: &ProfileState, target: &ProfileState) -> io::Result<Vec<PathBuf>> {
        let keep = self.needed(target);
        let mut removed = Vec::new();
        for (entry, link_target) in self.needed(live) {
            if keep.iter().any(|(e, _)| *e == entry) {
                continue;
            }
            if Self::status(&entry, &link_target)? == LinkStatus::Ours {
                std::fs::remove_file(&entry)?;
                if let Some(dir) = entry.parent() {
                    fsutil::fsync_dir(dir)?;
                }
                removed.push(entry);
            }
        }
        Ok(removed)
    }

    /// After flipping to `state`: makes every entry it needs (idempotent).
    /// Replaces what is there: callers checked for foreign files first.
    pub fn install_all(&self, state: &ProfileState) -> io::Result<()> {
        for (entry, link_target) in self.needed(state) {
            if Self::status(&entry, &link_target)? != LinkStatus::Ours {
                fsutil::create_dir_all_durable(entry.parent().unwrap_or(Path::new("/")))?;
                fsutil::symlink_atomic(&link_target, &entry)?;
            }
        }
        Ok(())
    }

    /// Entries `state` needs that hold a regular file with exactly the bytes
    /// our link would resolve to: copies left by an interrupted `adopt`,
    /// safe to replace. `Err` when another entry is foreign.
    pub fn unlinked_copies(&self, state: &ProfileState) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for (entry, link_target) in self.needed(state) {
            match Self::status(&entry, &link_target)? {
                LinkStatus::Ours | LinkStatus::Missing => {}
                LinkStatus::Foreign(_) if fsutil::same_contents(&entry, &link_target)? => out.push(entry),
                LinkStatus::Foreign(what) => {
                    return Err(io::Error::other(format!(
                        "{} is {what} that exporterctl did not create",
                        entry.display()
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Entries `state` needs that are occupied by something we did not make.
    pub fn foreign_entries(&self, state: &ProfileState) -> io::Result<Vec<(PathBuf, String)>> {
        let mut out = Vec::new();
        for (entry, link_target) in self.needed(state) {
            if let LinkStatus::Foreign(what) = Self::status(&entry, &link_target)? {
                out.push((entry, what));
            }
        }
        Ok(out)
    }
}

//! The content-addressed store: immutable, read-only directories named
//! `<hash>-<name>`, added atomically, each made valid by a metadata record in
//! `.meta/`. See `store-layout/` for the exact on-disk format.
//!
//! STUB: signatures fixed by the lead; bodies to be implemented.

use crate::manifest::ArchiveKind;
use crate::paths::Layout;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A hostile or broken archive; names the entry.
    #[error("refusing archive {archive}: entry `{entry}`: {reason}")]
    BadEntry { archive: String, entry: String, reason: String },
    #[error("archive {archive} does not contain the binary `{binary}`{hint}")]
    BinaryMissing { archive: String, binary: String, hint: String },
    #[error("archive {archive} expands past the limit of {limit} bytes")]
    TooLarge { archive: String, limit: u64 },
    #[error("store path name `{0}` is not `<hash>-<name>`")]
    BadName(String),
}

/// A store path's directory name, `<hash>-<rest>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorePath(String);

impl StorePath {
    pub fn parse(name: &str) -> Result<StorePath, StoreError> {
        todo!("validate `<hash>-<rest>` and wrap {name}")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> &str {
        todo!()
    }
    /// The part after `<hash>-`, e.g. `node_exporter-1.9.1`.
    pub fn rest(&self) -> &str {
        todo!()
    }
}

impl std::fmt::Display for StorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a store path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// An exporter release: `bin/<name>`.
    Release,
    /// A binary or unit imported by `adopt`.
    Adopted,
    /// A generated unit file: `<unit>`.
    Unit,
    /// A profile symlink farm: `bin/`, `units/`, `state.json`.
    Profile,
}

/// `.meta/<store path>.json`: its existence is what makes a store path valid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoreMeta {
    pub layout_version: u32,
    pub store_path: String,
    pub kind: EntryKind,
    pub name: String,
    pub version: Option<String>,
    pub origin_url: Option<String>,
    pub archive_sha256: Option<String>,
    pub archive_size: Option<u64>,
    /// Bytes of regular-file content in the tree.
    pub size: u64,
    /// RFC 3339 UTC.
    pub added_at: String,
}

/// A downloaded, sha256-verified release to add.
pub struct AddRelease<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub archive: &'a Path,
    pub kind: ArchiveKind,
    /// Path of the binary inside a tar.gz (ignored for raw downloads).
    pub binary: Option<&'a str>,
    pub origin_url: &'a str,
    pub archive_sha256: &'a str,
    pub archive_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    Ok,
    /// Content no longer hashes to the name.
    Modified { actual_hash: String },
    /// The directory or its metadata is missing.
    Missing,
}

pub struct Store {
    dir: PathBuf,
    meta_dir: PathBuf,
    tmp_dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `layout`.
    pub fn open(layout: &Layout) -> Result<Store, StoreError> {
        let _ = (&layout,);
        todo!()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, sp: &StorePath) -> PathBuf {
        self.dir.join(sp.as_str())
    }

    /// Safely unpacks the release's binary into the store as `bin/<name>`
    /// (verifying every archive entry), hashes it canonically, and adds it
    /// atomically; returns the existing path if identical content is there.
    pub fn add_release(&self, req: &AddRelease) -> Result<StorePath, StoreError> {
        let _ = (req, &self.meta_dir, &self.tmp_dir);
        todo!()
    }

    /// Adds a tree that `build` writes into the temp directory it is given
    /// (a unit file, a profile farm, an adopted binary). `rest` is the name
    /// part after the hash.
    pub fn add_tree(
        &self,
        rest: &str,
        kind: EntryKind,
        version: Option<&str>,
        build: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> Result<StorePath, StoreError> {
        let _ = (rest, kind, version, build);
        todo!()
    }

    /// Valid = directory present and its metadata record present.
    pub fn is_valid(&self, sp: &StorePath) -> bool {
        let _ = sp;
        todo!()
    }

    pub fn meta(&self, sp: &StorePath) -> Result<Option<StoreMeta>, StoreError> {
        let _ = sp;
        todo!()
    }

    /// A valid release path previously added from exactly this origin.
    pub fn find_release(&self, name: &str, version: &str, origin_url: &str) -> Result<Option<StorePath>, StoreError> {
        let _ = (name, version, origin_url);
        todo!()
    }

    /// Every valid store path with its metadata, sorted by name.
    pub fn list(&self) -> Result<Vec<StoreMeta>, StoreError> {
        todo!()
    }

    /// Re-hashes a store path against its name.
    pub fn verify(&self, sp: &StorePath) -> Result<VerifyOutcome, StoreError> {
        let _ = sp;
        todo!()
    }

    /// Marks the path invalid (removes and syncs its metadata) and then deletes
    /// its files; returns bytes freed.
    pub fn delete(&self, sp: &StorePath) -> Result<u64, StoreError> {
        let _ = sp;
        todo!()
    }

    /// Removes leftovers of interrupted adds: `.tmp/*` and directories without
    /// metadata. Call only while holding the state lock.
    pub fn clean_leftovers(&self) -> Result<usize, StoreError> {
        todo!()
    }
}

/// The canonical BLAKE3 tree hash (lowercase hex, full length) of `path`.
pub fn hash_tree(path: &Path) -> io::Result<String> {
    let _ = path;
    todo!()
}

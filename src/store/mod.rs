//! The content-addressed store: immutable, read-only directories named
//! `<hash>-<name>`, added atomically, each made valid by a metadata record in
//! `.meta/`. See `store-layout/README.md` for the exact on-disk format and
//! `docs/design/store.md` for the reasons behind it.
//!
//! Rooms: `name` (what a store path may be called), `nar` (the canonical
//! tree hash), `unpack` (checking archives and streaming the binary out),
//! `install` (normalise, fsync, rename, the temp-dir guard); this file holds
//! the public API and the validity records.

mod index;
mod install;
mod name;
mod nar;
mod unpack;

pub use name::HASH_TEXT_LEN;
pub use nar::hash_tree;

use crate::fsutil;

use crate::paths::Layout;
use crate::redact::url_without_userinfo;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Default limit on the bytes an archive may expand to (the sum of all its
/// entries' sizes); a single entry above it is refused before it is read.
pub const MAX_EXPANDED_SIZE: u64 = 1 << 30;

/// `layout_version` of the metadata records this code writes.
pub const LAYOUT_VERSION: u32 = 1;

/// Serialises the rename-and-record step of adds within this process (e.g.
/// parallel realises adding identical content); other processes are kept out
/// by the state lock the caller holds.
static INSTALL: Mutex<()> = Mutex::new(());

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
    BadEntry {
        archive: String,
        entry: String,
        reason: String,
    },
    #[error("archive {archive} does not contain the binary `{binary}`{hint}")]
    BinaryMissing {
        archive: String,
        binary: String,
        hint: String,
    },
    #[error("archive {archive} expands past the limit of {limit} bytes")]
    TooLarge { archive: String, limit: u64 },
    #[error("store path name `{0}` is not `<hash>-<name>`")]
    BadName(String),
    #[error("{store_path}: rebuilt from {from}, it hashes to {actual}, not to its name; it was left as it is")]
    NotReproduced {
        store_path: String,
        from: String,
        actual: String,
    },
}

impl StoreError {
    /// The same error naming the archive as `shown` (its URL) rather than
    /// the download cache's file name, which tells a reader nothing.
    fn naming_archive(self, shown: &str) -> StoreError {
        match self {
            StoreError::BadEntry { entry, reason, .. } => StoreError::BadEntry {
                archive: shown.to_string(),
                entry,
                reason,
            },
            StoreError::BinaryMissing { binary, hint, .. } => StoreError::BinaryMissing {
                archive: shown.to_string(),
                binary,
                hint,
            },
            StoreError::TooLarge { limit, .. } => StoreError::TooLarge {
                archive: shown.to_string(),
                limit,
            },
            other => other,
        }
    }
}

/// A store path's directory name, `<hash>-<rest>`: `<hash>` is the first
/// [`HASH_TEXT_LEN`] lowercase hex digits of the canonical tree hash, `<rest>`
/// a safe file name (letters, digits, `_-.@+`). Deserialising checks it too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StorePath(String);

impl StorePath {
    pub fn parse(name: &str) -> Result<StorePath, StoreError> {
        if name::is_store_name(name) {
            Ok(StorePath(name.to_string()))
        } else {
            Err(StoreError::BadName(name.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The hash text, e.g. `3f…` (32 hex digits).
    pub fn hash(&self) -> &str {
        &self.0[..HASH_TEXT_LEN]
    }
    /// The part after `<hash>-`, e.g. `node_exporter-1.9.1`.
    pub fn rest(&self) -> &str {
        &self.0[HASH_TEXT_LEN + 1..]
    }
    /// The store path for content with full tree hash `full_hex` named `rest`.
    fn from_hash(full_hex: &str, rest: &str) -> Result<StorePath, StoreError> {
        StorePath::parse(&format!("{}-{rest}", name::hash_text(full_hex)))
    }
}

impl TryFrom<String> for StorePath {
    type Error = StoreError;
    fn try_from(s: String) -> Result<StorePath, StoreError> {
        StorePath::parse(&s)
    }
}

impl From<StorePath> for String {
    fn from(sp: StorePath) -> String {
        sp.0
    }
}

impl std::fmt::Display for StorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The store path `add_tree(rest, …)` gives a directory holding just `file`
/// with `content` (not executable), without adding anything: a dry run knows
/// a generated unit's store path this way.
pub fn one_file_path(rest: &str, file: &str, content: &[u8]) -> Result<StorePath, StoreError> {
    check_part("store name", rest)?;
    StorePath::from_hash(&nar::hash_one_file(file, false, content), rest)
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
    /// Without user name and password (see [`url_without_userinfo`]).
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
    Modified {
        actual_hash: String,
    },
    /// The directory or its metadata is missing.
    Missing,
    /// The content is intact but modes are not the store's (a file made
    /// setuid or writable, say): `(path inside the store path, mode)`.
    BadModes {
        modes: Vec<(PathBuf, u32)>,
    },
}

impl VerifyOutcome {
    /// One line for a person: what is wrong.
    pub fn describe(&self) -> String {
        match self {
            VerifyOutcome::Ok => "ok".into(),
            VerifyOutcome::Modified { actual_hash } => format!("modified: content hashes to {actual_hash}"),
            VerifyOutcome::Missing => "missing".into(),
            VerifyOutcome::BadModes { modes } => {
                let list: Vec<String> = modes
                    .iter()
                    .map(|(p, m)| format!("{} is {m:04o}", p.display()))
                    .collect();
                format!(
                    "modes changed: {} (the store has 0444/0555 files and 0555 directories)",
                    list.join(", ")
                )
            }
        }
    }
}

pub struct Store {
    dir: PathBuf,
    meta_dir: PathBuf,
    tmp_dir: PathBuf,
    releases: index::ReleaseIndex,
    max_expanded: u64,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

fn check_part(what: &str, s: &str) -> Result<(), StoreError> {
    match name::unsafe_reason(s) {
        None => Ok(()),
        Some(reason) => Err(StoreError::Io {
            context: format!("{what} `{s}` cannot be part of a store path name"),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason),
        }),
    }
}

impl Store {
    /// Opens (creating if needed) the store under `layout`.
    pub fn open(layout: &Layout) -> Result<Store, StoreError> {
        let store = Store {
            dir: layout.store_dir(),
            meta_dir: layout.meta_dir(),
            tmp_dir: layout.tmp_dir(),
            releases: index::ReleaseIndex::new(layout.store_dir().join(".releases")),
            max_expanded: MAX_EXPANDED_SIZE,
        };
        for d in [&store.dir, &store.meta_dir, &store.tmp_dir] {
            fsutil::create_dir_all_durable(d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        Ok(store)
    }

    /// The same store with another expansion limit (see [`MAX_EXPANDED_SIZE`]).
    pub fn with_max_expanded(mut self, bytes: u64) -> Store {
        self.max_expanded = bytes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, sp: &StorePath) -> PathBuf {
        self.dir.join(sp.as_str())
    }

    fn meta_path(&self, sp: &StorePath) -> PathBuf {
        self.meta_dir.join(format!("{sp}.json"))
    }

    /// Safely unpacks the release's binary into the store as `bin/<name>`
    /// (verifying every archive entry), hashes it canonically, and adds it
    /// atomically; returns the existing path if identical content is there.
    pub fn add_release(&self, req: &AddRelease) -> Result<StorePath, StoreError> {
        check_part("exporter name", req.name)?;
        check_part("version", req.version)?;
        let rest = format!("{}-{}", req.name, req.version);
        check_part("store name", &rest)?;
        let tmp = install::TempTree::new(&self.tmp_dir)
            .map_err(io_err(format!("creating a temp dir in {}", self.tmp_dir.display())))?;
        let hash = self.unpack_release(req, tmp.path())?;
        // Indexed before its record is written: a crash between the two
        // leaves an entry naming an invalid path, which lookups skip, never
        // a valid release the index does not know.
        let sp = StorePath::from_hash(&hash, &rest)?;
        {
            let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.releases
                .add(&rest, &sp)
                .map_err(io_err(format!("indexing {sp} in {}", self.releases.dir().display())))?;
        }
        self.install(tmp, &hash, &rest, |sp, size| StoreMeta {
            layout_version: LAYOUT_VERSION,
            store_path: sp.to_string(),
            kind: EntryKind::Release,
            name: req.name.to_string(),
            version: Some(req.version.to_string()),
            // Never the credentials: `.meta/` is world-readable and `store ls`
            // prints it. Without them, `find_release` still matches.
            origin_url: Some(url_without_userinfo(req.origin_url)),
            archive_sha256: Some(req.archive_sha256.to_string()),
            archive_size: Some(req.archive_size),
            size,
            added_at: now_rfc3339(),
        })
    }

    /// Unpacks the release's binary into `dir` as `bin/<name>`; returns the
    /// tree hash (full hex).
    fn unpack_release(&self, req: &AddRelease, dir: &Path) -> Result<String, StoreError> {
        let unpacked = match (req.kind, req.binary) {
            (ArchiveKind::TarGz, Some(binary)) => unpack::tar_gz(req.archive, binary, req.name, dir, self.max_expanded),
            (ArchiveKind::TarGz, None) => Err(StoreError::BinaryMissing {
                archive: String::new(),
                binary: req.name.to_string(),
                hint: "; no path of the binary inside the archive was given".into(),
            }),
            (ArchiveKind::Raw, _) => unpack::raw(req.archive, req.name, dir, self.max_expanded),
        }
        .map_err(|e| e.naming_archive(&url_without_userinfo(req.origin_url)))?;
        Ok(unpacked.hash.to_hex().to_string())
    }

    /// Adds a tree that `build` writes into the temp directory it is given
    /// (a unit file, a profile farm, an adopted binary). `rest` is the name
    /// part after the hash. Files whose owner-execute bit is set become 0555,
    /// other files 0444, directories 0555; symlinks are kept as written
    /// (relative targets such as `../../<hash>-x-1/bin/x` are fine). The
    /// metadata's `name` is `rest` without a trailing `-<version>`.
    pub fn add_tree(
        &self,
        rest: &str,
        kind: EntryKind,
        version: Option<&str>,
        build: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> Result<StorePath, StoreError> {
        check_part("store name", rest)?;
        let tmp = install::TempTree::new(&self.tmp_dir)
            .map_err(io_err(format!("creating a temp dir in {}", self.tmp_dir.display())))?;
        build(tmp.path()).map_err(io_err(format!(
            "building store tree `{rest}` in {}",
            tmp.path().display()
        )))?;
        let hash = hash_tree(tmp.path()).map_err(io_err(format!(
            "hashing store tree `{rest}` in {}",
            tmp.path().display()
        )))?;
        let name = version
            .and_then(|v| rest.strip_suffix(v))
            .and_then(|r| r.strip_suffix('-'))
            .filter(|n| !n.is_empty())
            .unwrap_or(rest);
        self.install(tmp, &hash, rest, |sp, size| StoreMeta {
            layout_version: LAYOUT_VERSION,
            store_path: sp.to_string(),
            kind,
            name: name.to_string(),
            version: version.map(str::to_string),
            origin_url: None,
            archive_sha256: None,
            archive_size: None,
            size,
            added_at: now_rfc3339(),
        })
    }

    /// Normalises the temp tree, renames it to `<hash>-<rest>` and writes its
    /// metadata record; or discards it when that path is already valid.
    fn install(
        &self,
        mut tmp: install::TempTree,
        full_hash: &str,
        rest: &str,
        meta: impl FnOnce(&StorePath, u64) -> StoreMeta,
    ) -> Result<StorePath, StoreError> {
        let sp = StorePath::from_hash(full_hash, rest)?;
        if self.is_valid(&sp) {
            return Ok(sp); // identical content is already there; `tmp` is removed
        }
        let size =
            install::normalise_below(tmp.path()).map_err(io_err(format!("normalising {}", tmp.path().display())))?;
        let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.is_valid(&sp) {
            return Ok(sp);
        }
        let dest = self.path_of(&sp);
        if fs::symlink_metadata(&dest).is_ok() {
            // A directory without metadata: the leftover of an interrupted add
            // or delete. Ours is complete and fsynced, so replace it.
            tracing::warn!(path = %dest.display(), "replacing a store directory that has no metadata (an interrupted add)");
            fsutil::remove_tree(&dest).map_err(io_err(format!("removing leftover {}", dest.display())))?;
        }
        install::rename_noreplace(tmp.path(), &dest).map_err(io_err(format!(
            "renaming {} to {}",
            tmp.path().display(),
            dest.display()
        )))?;
        tmp.disarm();
        // From here on a failure leaves a directory without metadata: invalid,
        // and removed by `clean_leftovers` or replaced by the next add.
        install::seal_root(&dest).map_err(io_err(format!("sealing {}", dest.display())))?;
        fsutil::fsync_dir(&self.dir).map_err(io_err(format!("syncing {}", self.dir.display())))?;
        let record = meta(&sp, size);
        let mut bytes = serde_json::to_vec_pretty(&record).map_err(|e| StoreError::Io {
            context: format!("serialising the metadata of {sp}"),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        let meta_path = self.meta_path(&sp);
        fsutil::write_atomic(&meta_path, &bytes).map_err(io_err(format!("writing {}", meta_path.display())))?;
        tracing::debug!(store_path = %sp, size, "added to the store");
        Ok(sp)
    }

    /// Valid = directory present and its metadata record present.
    pub fn is_valid(&self, sp: &StorePath) -> bool {
        self.meta_path(sp).is_file() && fs::symlink_metadata(self.path_of(sp)).is_ok_and(|m| m.is_dir())
    }

    /// The metadata record of `sp`, if it has one.
    pub fn meta(&self, sp: &StorePath) -> Result<Option<StoreMeta>, StoreError> {
        let path = self.meta_path(sp);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io_err(format!("parsing {}", path.display()))(e.into()))
    }

    /// A valid release path previously added from this origin (credentials
    /// in the URL aside).
    ///
    /// Reads the release index's entry for `<name>-<version>` and the
    /// records it names, never a listing: the cost does not grow with the
    /// store. Reads only (a dry run may call it): on a store whose index is
    /// not complete yet (see [`Store::index_releases`]) it reads the records
    /// named `<hash>-<name>-<version>` from a listing of `.meta/` instead.
    pub fn find_release(&self, name: &str, version: &str, origin_url: &str) -> Result<Option<StorePath>, StoreError> {
        let rest = format!("{name}-{version}");
        if name::unsafe_reason(&rest).is_some() {
            return Ok(None); // `add_release` refuses such a name: never in the store
        }
        let is_it = |m: &StoreMeta| {
            m.kind == EntryKind::Release
                && m.name == name
                && m.version.as_deref() == Some(version)
                // Compared without credentials: they are not stored (records
                // written before that still have them, hence both sides).
                && m.origin_url.as_deref().map(url_without_userinfo) == Some(url_without_userinfo(origin_url))
        };
        if !self.releases.is_complete() {
            let named = |n: &str| n.len() == HASH_TEXT_LEN + 1 + rest.len() && n.ends_with(&rest);
            return match self.list_matching(named)?.into_iter().find(is_it) {
                Some(m) => StorePath::parse(&m.store_path).map(Some),
                None => Ok(None),
            };
        }
        let index_err = io_err(format!("reading the release index {}", self.releases.dir().display()));
        for sp in self.releases.get(&rest).map_err(index_err)? {
            if !fs::symlink_metadata(self.path_of(&sp)).is_ok_and(|m| m.is_dir()) {
                continue; // an entry whose add was interrupted, or a path gc deleted
            }
            let Some(m) = self.meta(&sp)? else { continue };
            if m.store_path == sp.as_str() && is_it(&m) {
                return Ok(Some(sp));
            }
        }
        Ok(None)
    }

    /// Makes the release index complete: on a store written before it
    /// existed, indexes every valid release from one listing of `.meta/`
    /// and marks it complete; else does nothing (one `stat`). Call while
    /// holding the state lock, before realising.
    pub fn index_releases(&self) -> Result<(), StoreError> {
        if self.releases.is_complete() {
            return Ok(());
        }
        let index_err = || io_err(format!("writing the release index {}", self.releases.dir().display()));
        let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for m in self.list()? {
            if m.kind != EntryKind::Release {
                continue;
            }
            let Ok(sp) = StorePath::parse(&m.store_path) else {
                continue;
            };
            self.releases.add(sp.rest(), &sp).map_err(index_err())?;
        }
        self.releases.mark_complete().map_err(index_err())?;
        tracing::info!(index = %self.releases.dir().display(), "indexed the store's releases");
        Ok(())
    }

    /// Every valid store path with its metadata, sorted by name. A record that
    /// cannot be read or parsed is skipped with a warning (`verify` reports it).
    pub fn list(&self) -> Result<Vec<StoreMeta>, StoreError> {
        self.list_matching(|_| true)
    }

    /// [`Store::list`] of the paths whose name passes `want`: the others are
    /// known from their file name alone, never parsed nor opened.
    fn list_matching(&self, want: impl Fn(&str) -> bool) -> Result<Vec<StoreMeta>, StoreError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.meta_dir).map_err(io_err(format!("listing {}", self.meta_dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_err(format!("listing {}", self.meta_dir.display())))?;
            let file_name = entry.file_name();
            let Some(sp) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|n| want(n))
                .and_then(|n| StorePath::parse(n).ok())
            else {
                continue; // temp files of write_atomic, strays, paths not wanted
            };
            if !fs::symlink_metadata(self.path_of(&sp)).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            match self.meta(&sp) {
                Ok(Some(m)) if m.store_path == sp.as_str() => out.push(m),
                Ok(Some(m)) => {
                    tracing::warn!(store_path = %sp, recorded = %m.store_path, "metadata names another store path; skipped")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(store_path = %sp, error = %e, "unreadable metadata; skipped")
                }
            }
        }
        out.sort_by(|a, b| a.store_path.cmp(&b.store_path));
        Ok(out)
    }

    /// Re-hashes a store path against its name.
    pub fn verify(&self, sp: &StorePath) -> Result<VerifyOutcome, StoreError> {
        if !self.is_valid(sp) {
            return Ok(VerifyOutcome::Missing);
        }
        let path = self.path_of(sp);
        let actual = match hash_tree(&path) {
            Ok(h) => h,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(VerifyOutcome::Missing),
            Err(e) => return Err(io_err(format!("hashing {}", path.display()))(e)),
        };
        let actual = name::hash_text(&actual);
        if actual != sp.hash() {
            return Ok(VerifyOutcome::Modified {
                actual_hash: actual.to_string(),
            });
        }
        // The hash covers only the owner-execute bit: a setuid or
        // world-writable file hashes the same, so modes are checked too.
        let modes = install::wrong_modes(&path).map_err(io_err(format!("reading modes in {}", path.display())))?;
        if modes.is_empty() {
            Ok(VerifyOutcome::Ok)
        } else {
            Ok(VerifyOutcome::BadModes { modes })
        }
    }

    /// Gives every file and directory of `sp` the store's modes again (and
    /// mtime 1); the content is not touched. For [`VerifyOutcome::BadModes`].
    pub fn restore_modes(&self, sp: &StorePath) -> Result<(), StoreError> {
        let path = self.path_of(sp);
        install::normalise_below(&path).map_err(io_err(format!("restoring modes in {}", path.display())))?;
        install::seal_root(&path).map_err(io_err(format!("restoring the mode of {}", path.display())))
    }

    /// Rebuilds the damaged release `sp` from its archive (the one its
    /// metadata's sha256 names, fetched by the caller) and puts it in place
    /// of the damaged tree in one rename, if it hashes to `sp`'s name.
    pub fn repair_release(&self, sp: &StorePath, req: &AddRelease) -> Result<(), StoreError> {
        let tmp = install::TempTree::new(&self.tmp_dir)
            .map_err(io_err(format!("creating a temp dir in {}", self.tmp_dir.display())))?;
        let hash = self.unpack_release(req, tmp.path())?;
        self.replace(tmp, &hash, sp, &url_without_userinfo(req.origin_url))
    }

    /// Rebuilds `sp` with `build` (as [`Store::add_tree`] would) and puts it
    /// in place of the damaged tree in one rename, if it hashes to `sp`'s name.
    pub fn repair_tree(
        &self,
        sp: &StorePath,
        from: &str,
        build: &mut dyn FnMut(&Path) -> io::Result<()>,
    ) -> Result<(), StoreError> {
        let tmp = install::TempTree::new(&self.tmp_dir)
            .map_err(io_err(format!("creating a temp dir in {}", self.tmp_dir.display())))?;
        build(tmp.path()).map_err(io_err(format!("rebuilding {sp} in {}", tmp.path().display())))?;
        let hash = hash_tree(tmp.path()).map_err(io_err(format!("hashing {}", tmp.path().display())))?;
        self.replace(tmp, &hash, sp, from)
    }

    /// The exchange of a rebuilt tree with the damaged one: the path stays
    /// valid throughout (its record is untouched), and the damaged tree
    /// leaves with the temp dir.
    fn replace(&self, tmp: install::TempTree, full_hash: &str, sp: &StorePath, from: &str) -> Result<(), StoreError> {
        let actual = name::hash_text(full_hash);
        if actual != sp.hash() {
            return Err(StoreError::NotReproduced {
                store_path: sp.to_string(),
                from: from.to_string(),
                actual: actual.to_string(),
            });
        }
        install::normalise_below(tmp.path()).map_err(io_err(format!("normalising {}", tmp.path().display())))?;
        let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dest = self.path_of(sp);
        // Moving a directory to another parent needs write access to it
        // (its `..` changes) unless root: the damaged one is discarded anyway.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&dest, fs::Permissions::from_mode(0o755));
        install::exchange(tmp.path(), &dest).map_err(io_err(format!(
            "exchanging {} with {}",
            tmp.path().display(),
            dest.display()
        )))?;
        install::seal_root(&dest).map_err(io_err(format!("sealing {}", dest.display())))?;
        fsutil::fsync_dir(&self.dir).map_err(io_err(format!("syncing {}", self.dir.display())))?;
        fsutil::fsync_dir(&self.tmp_dir).map_err(io_err(format!("syncing {}", self.tmp_dir.display())))?;
        tracing::info!(store_path = %sp, "repaired from {from}");
        Ok(())
    }

    /// Marks the path invalid (removes and syncs its metadata) and then deletes
    /// its files; returns bytes freed (regular-file content, as `StoreMeta::size`).
    pub fn delete(&self, sp: &StorePath) -> Result<u64, StoreError> {
        let path = self.path_of(sp);
        let size = install::content_size(&path).map_err(io_err(format!("measuring {}", path.display())))?;
        self.delete_many(std::slice::from_ref(sp))?;
        Ok(size)
    }

    /// Deletes `paths` with two directory syncs in all, not two per path:
    /// every record is removed and `.meta/` synced before the first file of
    /// any of them goes, then the trees are removed and `store/` synced. A
    /// crash anywhere leaves each path either valid and complete or invalid
    /// (a directory without a record, removed by `clean_leftovers`).
    pub fn delete_many(&self, paths: &[StorePath]) -> Result<(), StoreError> {
        if paths.is_empty() {
            return Ok(());
        }
        for sp in paths {
            let meta_path = self.meta_path(sp);
            match fs::remove_file(&meta_path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", meta_path.display()))(e)),
            }
        }
        fsutil::fsync_dir(&self.meta_dir).map_err(io_err(format!("syncing {}", self.meta_dir.display())))?;
        crate::fault::point("gc-after-invalidate");
        for (i, sp) in paths.iter().enumerate() {
            let path = self.path_of(sp);
            fsutil::remove_tree(&path).map_err(io_err(format!("removing {}", path.display())))?;
            if i == 0 {
                crate::fault::point("gc-mid-delete");
            }
        }
        fsutil::fsync_dir(&self.dir).map_err(io_err(format!("syncing {}", self.dir.display())))
    }

    /// Removes `.tmp/*`, the temp trees of interrupted adds: the one sweep a
    /// realise makes, as `.tmp/` holds only what interrupted runs left. Call
    /// only while holding the state lock. Returns how many were removed.
    pub fn clean_tmp(&self) -> Result<usize, StoreError> {
        let mut removed = 0;
        for (_, path) in list_names(&self.tmp_dir)? {
            remove_leftover(&path)?;
            removed += 1;
        }
        if removed > 0 {
            fsutil::fsync_dir(&self.tmp_dir).map_err(io_err(format!("syncing {}", self.tmp_dir.display())))?;
        }
        Ok(removed)
    }

    /// Removes leftovers of interrupted adds and deletes: `.tmp/*` and
    /// directories without metadata. Call only while holding the state lock.
    /// Also removes temp files of interrupted metadata writes, records whose
    /// directory is gone, and index entries of paths no longer valid.
    /// Returns how many entries were removed; names that are not store paths
    /// are left alone.
    ///
    /// gc runs it, not every realise: it lists `store/` and `.meta/`, which
    /// grow with history, and none of these leftovers is in an add's way —
    /// `install` replaces a directory that has no record and overwrites a
    /// record whose directory is gone, and lookups skip both.
    pub fn clean_leftovers(&self) -> Result<usize, StoreError> {
        let mut removed = self.clean_tmp()?;
        let remove = remove_leftover;
        let list = list_names;
        // Two listings compared by name, not a stat per entry each way.
        let store_entries = list(&self.dir)?;
        let meta_entries = list(&self.meta_dir)?;
        let recorded: HashSet<&str> = meta_entries
            .iter()
            .filter_map(|(n, _)| n.strip_suffix(".json"))
            .collect();
        let present: HashSet<&str> = store_entries.iter().map(|(n, _)| n.as_str()).collect();
        let mut store_changed = false;
        for (file_name, path) in &store_entries {
            if file_name.starts_with('.') {
                continue;
            }
            match StorePath::parse(file_name) {
                Ok(sp) if !recorded.contains(sp.as_str()) => {
                    tracing::info!(path = %path.display(), "removing a store directory without metadata");
                    remove(path)?;
                    removed += 1;
                    store_changed = true;
                }
                Ok(_) => {}
                Err(_) => tracing::warn!(path = %path.display(), "not a store path; left alone"),
            }
        }
        let mut meta_changed = false;
        for (file_name, path) in &meta_entries {
            let orphan = match file_name.strip_suffix(".json").map(StorePath::parse) {
                Some(Ok(sp)) => !present.contains(sp.as_str()),
                _ => file_name.starts_with('.'), // write_atomic's temp files
            };
            if orphan {
                remove(path)?;
                removed += 1;
                meta_changed = true;
            }
        }
        let valid = |sp: &StorePath| recorded.contains(sp.as_str()) && present.contains(sp.as_str());
        let index_changed = self.releases.prune(valid).map_err(io_err(format!(
            "pruning the release index {}",
            self.releases.dir().display()
        )))?;
        for (changed, dir) in [
            (index_changed, self.releases.dir()),
            (store_changed, &self.dir),
            (meta_changed, &self.meta_dir),
        ] {
            if changed {
                fsutil::fsync_dir(dir).map_err(io_err(format!("syncing {}", dir.display())))?;
            }
        }
        Ok(removed)
    }
}

/// The names in `dir` with their paths.
fn list_names(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(format!("listing {}", dir.display())))? {
        let e = e.map_err(io_err(format!("listing {}", dir.display())))?;
        v.push((e.file_name().to_string_lossy().into_owned(), e.path()));
    }
    Ok(v)
}

fn remove_leftover(p: &Path) -> Result<(), StoreError> {
    fsutil::remove_tree(p).map_err(io_err(format!("removing leftover {}", p.display())))
}

/// Now as RFC 3339 UTC with seconds, e.g. `2026-05-01T12:00:00Z`.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// How a release archive is unpacked into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    TarGz,
    /// The download is the executable itself.
    Raw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_path_is_the_path_add_tree_gives() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&Layout::new(t.path().to_path_buf())).unwrap();
        let text = b"[Unit]\nDescription=x\n";
        let mut build = |dir: &Path| fs::write(dir.join("x.service"), text);
        let added = store
            .add_tree("unit-x.service", EntryKind::Unit, None, &mut build)
            .unwrap();
        assert_eq!(one_file_path("unit-x.service", "x.service", text).unwrap(), added);
        assert_ne!(one_file_path("unit-x.service", "x.service", b"other").unwrap(), added);
    }
}

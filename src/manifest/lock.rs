//! `<manifest>.lock`: the manifest resolved to exact URLs, archive sha256 and
//! store paths. JSON, so any tool can read it; written atomically.

use super::{Exporter, Manifest, ResolvedSource};
use crate::fsutil;
use crate::redact::url_without_userinfo;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub lock_version: u32,
    pub arch: String,
    pub exporters: Vec<LockedExporter>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedExporter {
    pub name: String,
    pub version: String,
    pub url: String,
    /// sha256 of the downloaded file (archive or raw binary), lowercase hex.
    pub sha256: String,
    /// Store path name, `<hash>-<name>-<version>`.
    pub store_path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read lock file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock file {} is not valid: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write lock file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock file {} no longer matches its manifest: {reason}; run `exporterctl lock {}` to update it", path.display(), manifest.display())]
    Stale {
        path: PathBuf,
        manifest: PathBuf,
        reason: String,
    },
    #[error("lock file {} is not valid: `{exporter}` {version}: {reason}; run `exporterctl lock {}` to write a correct one", path.display(), manifest.display())]
    BadEntry {
        path: PathBuf,
        manifest: PathBuf,
        exporter: String,
        version: String,
        reason: String,
    },
}

impl LockedExporter {
    /// What a lock entry must look like before anything uses it: a hand-edited
    /// `store_path` of another shape (`../../etc`, a line break) is bad input,
    /// refused naming the key, not a store error after downloads began.
    fn check_shape(&self) -> Result<(), String> {
        let shown = |s: &str| s.escape_debug().to_string();
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "sha256 `{}` is not 64 lowercase hex digits",
                shown(&self.sha256)
            ));
        }
        let sp = crate::store::StorePath::parse(&self.store_path).map_err(|_| {
            format!(
                "store_path `{}` is not a store path name `<hash>-<name>`",
                shown(&self.store_path)
            )
        })?;
        let want = format!("{}-{}", self.name, self.version);
        if sp.rest() != want {
            return Err(format!(
                "store_path `{}` is not a path of {} {} (it would end in `-{want}`)",
                shown(&self.store_path),
                self.name,
                self.version
            ));
        }
        Ok(())
    }
}

/// `manifests/x.yaml` → `manifests/x.yaml.lock`.
pub fn lock_path_for(manifest: &Path) -> PathBuf {
    let mut s = manifest.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl LockFile {
    /// Reads the lock beside `manifest`, if there is one.
    pub fn load_for(manifest: &Path) -> Result<Option<LockFile>, LockError> {
        // A manifest read from stdin (`switch -`) has no file beside it.
        if manifest == Path::new("-") {
            return Ok(None);
        }
        let path = lock_path_for(manifest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| LockError::Parse { path, source })
    }

    pub fn write_for(&self, manifest: &Path) -> Result<PathBuf, LockError> {
        let path = lock_path_for(manifest);
        let mut bytes = serde_json::to_vec_pretty(self).expect("a lock file always serialises");
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes).map_err(|source| LockError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    pub fn entry(&self, name: &str) -> Option<&LockedExporter> {
        self.exporters.iter().find(|e| e.name == name)
    }

    /// Checks that this lock still describes `manifest` (same exporters,
    /// versions, URLs and architecture) and returns a stale error if not.
    pub fn check_matches(&self, manifest: &Manifest) -> Result<(), LockError> {
        let stale = |reason: String| LockError::Stale {
            path: lock_path_for(&manifest.path),
            manifest: manifest.path.clone(),
            reason,
        };
        if self.lock_version != LOCK_VERSION {
            return Err(stale(format!(
                "lock_version {} is not {LOCK_VERSION}",
                self.lock_version
            )));
        }
        if self.arch != manifest.settings.arch {
            return Err(stale(format!(
                "locked for {}, this host is {}",
                self.arch, manifest.settings.arch
            )));
        }
        for e in &manifest.exporters {
            let Some(l) = self.entry(&e.name) else {
                return Err(stale(format!("exporter `{}` is not in the lock", e.name)));
            };
            if let Err(reason) = l.check_shape() {
                return Err(LockError::BadEntry {
                    path: lock_path_for(&manifest.path),
                    manifest: manifest.path.clone(),
                    exporter: e.name.clone(),
                    version: l.version.clone(),
                    reason,
                });
            }
            if !e.resolved {
                // `latest` or a range: the lock holds what it resolved to.
                if !e.requested.admits(&l.version) {
                    return Err(stale(format!(
                        "`{}`: manifest asks for {}, lock has {}",
                        e.name, e.version, l.version
                    )));
                }
                continue;
            }
            if l.version != e.version {
                return Err(stale(format!(
                    "`{}`: manifest says {}, lock says {}",
                    e.name, e.version, l.version
                )));
            }
            let url = resolved(e).map(|r| r.url.clone()).unwrap_or_default();
            // The lock holds the URL without its credentials (a rotated
            // token is the same source); one written before may hold them.
            let (was, now) = (url_without_userinfo(&l.url), url_without_userinfo(&url));
            // The same release file from another base URL (a mirror made by
            // `exporterctl mirror`) is the same download: the sha256 is locked.
            let same_file = e
                .release_path(&manifest.settings)
                .is_some_and(|rel| was.ends_with(&format!("/{}", url_without_userinfo(&rel))));
            if was != now && !same_file {
                return Err(stale(format!("`{}`: source URL changed from {was} to {now}", e.name)));
            }
            if let Some(pinned) = &e.source.sha256 {
                if *pinned != l.sha256 {
                    return Err(stale(format!(
                        "`{}`: manifest pins sha256 {}, lock has {}",
                        e.name, pinned, l.sha256
                    )));
                }
            }
        }
        if let Some(extra) = self.exporters.iter().find(|l| manifest.exporter(&l.name).is_none()) {
            return Err(stale(format!(
                "exporter `{}` is locked but no longer in the manifest",
                extra.name
            )));
        }
        Ok(())
    }
}

fn resolved(e: &Exporter) -> Result<&ResolvedSource, String> {
    e.resolved_source()
}

//! Offline bundles: every verified archive and checksum file of a manifest,
//! laid out under a directory exactly as the forge serves them
//! (`DIR/<owner>/<repo>/releases/download/<tag>/<file>` for GitHub,
//! `DIR/<group>/<project>/-/releases/<tag>/downloads/<file>` for GitLab), so
//! any static HTTP server, or `file://DIR`, can stand in for the forge:
//! point `settings.github.download_url` (and `gitlab.download_url`) at it.

use crate::fsutil;
use crate::manifest::lock::LockFile;
use crate::manifest::{Exporter, Manifest};
use crate::realise::{download_headers, expected_for};
use crate::source::forge::Tokens;
use crate::source::{FetchError, FetchRequest, Fetcher, TextRequest};
use serde::Serialize;
use std::io;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error("{exporter} {version}: {message}")]
    Source {
        exporter: String,
        version: String,
        message: String,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exporters could not be mirrored:\n  {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Several(Vec<MirrorError>),
}

/// What was mirrored for one exporter.
#[derive(Debug, Clone, Serialize)]
pub struct Mirrored {
    pub name: String,
    pub version: String,
    /// Files written, relative to the mirror directory.
    pub files: Vec<String>,
    /// Why nothing was mirrored (a `url` source has no forge layout).
    pub skipped: Option<String>,
}

/// A relative path with only normal components (no `..`, not absolute).
fn safe_relative(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(rel);
    p.components().all(|c| matches!(c, Component::Normal(_))).then_some(p)
}

fn copy_atomic(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(dir) = to.parent() {
        fsutil::create_dir_all_durable(dir)?;
    }
    let tmp = fsutil::temp_sibling(to);
    let result = (|| {
        std::fs::copy(from, &tmp)?;
        let f = std::fs::OpenOptions::new().write(true).open(&tmp)?;
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)?;
        if let Some(dir) = to.parent() {
            fsutil::fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Downloads (through the verified download cache) every exporter's
/// archive and its checksum file into `dir`. `manifest` must have exact
/// versions (resolve them first); `lock`, when given, supplies the sha256.
pub fn mirror(
    manifest: &Manifest,
    lock: Option<&LockFile>,
    fetcher: &Fetcher,
    tokens: &Tokens,
    dir: &Path,
) -> Result<Vec<Mirrored>, MirrorError> {
    let src_err = |e: &Exporter, message: String| MirrorError::Source {
        exporter: e.name.clone(),
        version: e.version.clone(),
        message,
    };
    let mut out = Vec::new();
    let mut jobs = Vec::new();
    for e in &manifest.exporters {
        let src = e.resolved_source().map_err(|m| src_err(e, m))?;
        let Some(rel) = e.release_path(&manifest.settings) else {
            out.push(Mirrored {
                name: e.name.clone(),
                version: e.version.clone(),
                files: Vec::new(),
                skipped: Some("a `url` source has no forge layout to mirror".into()),
            });
            continue;
        };
        let rel_path = safe_relative(&rel).ok_or_else(|| src_err(e, format!("`{rel}` is not a safe relative path")))?;
        let locked = lock.and_then(|l| l.entry(&e.name));
        let req = FetchRequest {
            allow_http: e.allow_http,
            headers: download_headers(e, &src.url, manifest, tokens),
            ..FetchRequest::new(&e.name, &e.version, &src.url, expected_for(src, locked))
        };
        jobs.push((e, src, rel_path, req));
    }
    let reqs: Vec<FetchRequest> = jobs.iter().map(|(_, _, _, r)| r.clone()).collect();
    let results = if reqs.is_empty() {
        Vec::new()
    } else {
        fetcher.fetch_all(&reqs)
    };
    let mut errors = Vec::new();
    for ((e, src, rel_path, req), result) in jobs.into_iter().zip(results) {
        let fetched = match result {
            Ok(f) => f,
            Err(err) => {
                errors.push(MirrorError::Fetch(Box::new(err)));
                continue;
            }
        };
        let dest = dir.join(&rel_path);
        copy_atomic(&fetched.path, &dest).map_err(|source| MirrorError::Write {
            path: dest.clone(),
            source,
        })?;
        let mut files = vec![rel_path.display().to_string()];
        // The checksum file, when it lives in the same release (a forge
        // `checksums` name): it goes beside the archive.
        let release_dir_url = src.url.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
        if let Some(curl) = &src.checksums_url {
            if let Some(name) = curl
                .strip_prefix(&format!("{release_dir_url}/"))
                .filter(|n| !n.contains('/'))
            {
                let text = fetcher
                    .get_text(&TextRequest {
                        allow_http: e.allow_http,
                        headers: req.headers.clone(),
                        ..TextRequest::new(&e.name, &e.version, curl.clone())
                    })
                    .map_err(|err| MirrorError::Fetch(Box::new(err)))?;
                let rel_sums = rel_path.with_file_name(name);
                let path = dir.join(&rel_sums);
                fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| MirrorError::Write { path, source })?;
                files.push(rel_sums.display().to_string());
            }
        }
        tracing::info!("mirrored {} {}: {}", e.name, e.version, files.join(", "));
        out.push(Mirrored {
            name: e.name.clone(),
            version: e.version.clone(),
            files,
            skipped: None,
        });
    }
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.remove(0)),
        _ => Err(MirrorError::Several(errors)),
    }
}

//! Realise: turn a manifest (and its lock, if any) into verified store paths.
//! Shared by `realise`, `lock`, `store repair` and the switch plan.

use crate::manifest::lock::{LockError, LockFile, LockedExporter};
use crate::manifest::{Exporter, Manifest, ResolvedSource};
use crate::paths::Layout;
pub use crate::resolve::download_headers;
use crate::resolve::{explain_not_found, resolve, ResolveError, Resolved, Upstream};
use crate::source::forge::Tokens;
use crate::source::{Expected, FetchError, FetchRequest, Fetcher};
use crate::store::{AddRelease, EntryKind, Store, StoreError, StorePath};

#[derive(Debug, thiserror::Error)]
pub enum RealiseError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error("{exporter} {version}: {source}")]
    Store {
        exporter: String,
        version: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("{exporter} {version}: {message}")]
    Source {
        exporter: String,
        version: String,
        message: String,
    },
    #[error("{exporter} {version}: the download matches the locked sha256 but unpacks to {actual}, not the locked {locked}; the store or the lock was tampered with")]
    LockedPathMismatch {
        exporter: String,
        version: String,
        locked: String,
        actual: String,
    },
    /// `detail`: which entry names which path, and what that path really is.
    #[error(
        "lock file {}: {detail}; refusing to install it. Run `exporterctl lock` on the manifest to write a correct lock",
        lock_file.display()
    )]
    LockedPathForeign {
        lock_file: std::path::PathBuf,
        detail: String,
    },
    #[error("{} exporters failed to realise:\n  {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Several(Vec<RealiseError>),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Opening the store or clearing what interrupted runs left in it.
    #[error(transparent)]
    StoreOpen(#[from] StoreError),
    /// Clearing what interrupted downloads left in the cache.
    #[error(transparent)]
    Cache(#[from] std::io::Error),
    /// What the user fixes (a version upstream does not publish, with the
    /// nearest ones; a lock naming the wrong path), one line each, with
    /// whatever else failed beside it.
    #[error("{}", .0.join("\n"))]
    Refused(Vec<String>),
}

impl RealiseError {
    /// Exit status 2: the lock or the manifest is to be fixed.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RealiseError::LockedPathForeign { .. } | RealiseError::Refused(_) => true,
            RealiseError::Resolve(r) => r.is_bad_input(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Realised {
    pub name: String,
    pub version: String,
    /// The source URL as stored (lock file): without credentials, secret
    /// query values redacted ([`crate::redact::url_without_userinfo`]).
    pub url: String,
    pub sha256: String,
    pub store_path: StorePath,
    /// False when the store already had it (no request made).
    pub fetched: bool,
}

/// The lock beside the manifest, checked against it.
pub fn load_lock(manifest: &Manifest) -> Result<Option<LockFile>, LockError> {
    let lock = LockFile::load_for(&manifest.path)?;
    if let Some(l) = &lock {
        l.check_matches(manifest)?;
    }
    Ok(lock)
}

/// Realises every exporter of the manifest, reusing the store and the
/// download cache; downloads run in parallel.
pub fn realise_all(
    store: &Store,
    fetcher: &Fetcher,
    manifest: &Manifest,
    lock: Option<&LockFile>,
    tokens: &Tokens,
) -> Result<Vec<Realised>, RealiseError> {
    let mut done: Vec<Option<Realised>> = vec![None; manifest.exporters.len()];
    let mut to_fetch: Vec<(usize, FetchRequest)> = Vec::new();
    for (i, e) in manifest.exporters.iter().enumerate() {
        let src = source_of(e)?;
        let locked = lock.and_then(|l| l.entry(&e.name));
        if let Some(k) = known(Some(store), e, &src, locked, &manifest.path)?.filter(|k| k.in_store) {
            done[i] = Some(Realised {
                name: e.name.clone(),
                version: e.version.clone(),
                url: crate::redact::url_without_userinfo(&src.url),
                sha256: k.sha256,
                store_path: k.store_path,
                fetched: false,
            });
            continue;
        }
        let expected = expected_for(&src, locked);
        to_fetch.push((
            i,
            FetchRequest {
                allow_http: e.allow_http,
                headers: download_headers(e, &src.url, manifest, tokens),
                ..FetchRequest::new(&e.name, &e.version, &src.url, expected)
            },
        ));
    }

    let reqs: Vec<FetchRequest> = to_fetch.iter().map(|(_, r)| r.clone()).collect();
    let results = if reqs.is_empty() {
        Vec::new()
    } else {
        fetcher.fetch_all(&reqs)
    };
    let mut errors = Vec::new();
    let mut fetched = Vec::new();
    for ((i, _), r) in to_fetch.iter().zip(results) {
        match r {
            Ok(f) => fetched.push((*i, f)),
            Err(e) => errors.push(RealiseError::Fetch(Box::new(e))),
        }
    }
    // Unpack in parallel too: on a multi-core host several archives
    // decompress at once.
    let added: Vec<(usize, Result<Realised, RealiseError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = fetched
            .iter()
            .map(|(i, f)| {
                let e = &manifest.exporters[*i];
                let locked = lock.and_then(|l| l.entry(&e.name));
                (
                    *i,
                    s.spawn(move || -> Result<Realised, RealiseError> {
                        let src = source_of(e)?;
                        let sp = store
                            .add_release(&AddRelease {
                                name: &e.name,
                                version: &e.version,
                                archive: &f.path,
                                kind: src.archive,
                                binary: src.binary.as_deref(),
                                origin_url: &src.url,
                                archive_sha256: &f.sha256,
                                archive_size: f.size,
                            })
                            .map_err(|source| store_err(e, source))?;
                        if let Some(l) = locked {
                            if l.store_path != sp.as_str() {
                                return Err(RealiseError::LockedPathMismatch {
                                    exporter: e.name.clone(),
                                    version: e.version.clone(),
                                    locked: l.store_path.clone(),
                                    actual: sp.to_string(),
                                });
                            }
                        }
                        tracing::info!("{} {}: {}", e.name, e.version, sp);
                        Ok(Realised {
                            name: e.name.clone(),
                            version: e.version.clone(),
                            url: crate::redact::url_without_userinfo(&src.url),
                            sha256: f.sha256.clone(),
                            store_path: sp,
                            fetched: true,
                        })
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(i, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(RealiseError::Source {
                        exporter: manifest.exporters[i].name.clone(),
                        version: manifest.exporters[i].version.clone(),
                        message: "unpacking panicked".into(),
                    })
                });
                (i, r)
            })
            .collect()
    });
    for (i, r) in added {
        match r {
            Ok(x) => done[i] = Some(x),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(done.into_iter().flatten().collect()),
        1 => Err(errors.remove(0)),
        _ => Err(RealiseError::Several(errors)),
    }
}

/// What is known of `e`'s store path before anything is downloaded.
#[derive(Debug, Clone)]
pub struct Known {
    pub store_path: StorePath,
    pub sha256: String,
    /// The store has it; else realising downloads it (and must arrive here).
    pub in_store: bool,
}

/// The store path `e` realises to, when that is known without a download:
/// the lock's (whether or not the store has it yet), else a release the store
/// holds from the same URL (with the manifest's sha256 pin, if any). `None`:
/// only the download tells. Reads the store, changes nothing. A locked path
/// the store holds must be the locked release (see [`check_locked_path`]).
pub fn known(
    store: Option<&Store>,
    e: &Exporter,
    src: &ResolvedSource,
    locked: Option<&LockedExporter>,
    manifest_path: &std::path::Path,
) -> Result<Option<Known>, RealiseError> {
    if let Some(l) = locked {
        let sp = StorePath::parse(&l.store_path).map_err(|source| store_err(e, source))?;
        if let Some(store) = store.filter(|s| s.is_valid(&sp)) {
            check_locked_path(store, e, l, &sp, manifest_path)?;
        }
        return Ok(Some(Known {
            in_store: store.is_some_and(|s| s.is_valid(&sp)),
            store_path: sp,
            sha256: l.sha256.clone(),
        }));
    }
    let Some(store) = store else { return Ok(None) };
    let Some(sp) = store
        .find_release(&e.name, &e.version, &src.url)
        .map_err(|source| store_err(e, source))?
    else {
        return Ok(None);
    };
    let meta = store.meta(&sp).map_err(|source| store_err(e, source))?;
    let sha = meta.and_then(|m| m.archive_sha256).unwrap_or_default();
    Ok(src.sha256.as_ref().is_none_or(|p| *p == sha).then_some(Known {
        store_path: sp,
        sha256: sha,
        in_store: true,
    }))
}

/// A lock's `store_path` names a valid path: its metadata must say it is the
/// locked release (name, version, archive sha256), or a lock edited to name
/// another path of the store (2.0.0 under a 1.0.0 entry) would install it
/// while every record says the locked version.
fn check_locked_path(
    store: &Store,
    e: &Exporter,
    l: &LockedExporter,
    sp: &StorePath,
    manifest_path: &std::path::Path,
) -> Result<(), RealiseError> {
    let meta = store.meta(sp).map_err(|source| store_err(e, source))?;
    let actual = match &meta {
        None => "not in the store".to_string(),
        Some(m) if m.kind != EntryKind::Release => format!("a store path of kind {:?}", m.kind).to_lowercase(),
        Some(m) if m.name != e.name || m.version.as_deref() != Some(l.version.as_str()) => {
            format!("{} {}", m.name, m.version.as_deref().unwrap_or("(no version)"))
        }
        Some(m) if m.archive_sha256.as_deref() != Some(l.sha256.as_str()) => format!(
            "{} {} from an archive with sha256 {}",
            m.name,
            l.version,
            m.archive_sha256.as_deref().unwrap_or("(none)")
        ),
        Some(_) => return Ok(()),
    };
    Err(RealiseError::LockedPathForeign {
        lock_file: crate::manifest::lock::lock_path_for(manifest_path),
        detail: format!(
            "`{}` {}: its store_path {sp} is {actual}, not {} {} with sha256 {}",
            e.name, l.version, e.name, l.version, l.sha256
        ),
    })
}

fn source_of(e: &Exporter) -> Result<crate::manifest::ResolvedSource, RealiseError> {
    e.resolved_source().cloned().map_err(|message| RealiseError::Source {
        exporter: e.name.clone(),
        version: e.version.clone(),
        message,
    })
}

/// How the download of `src` is verified, strongest first: the lock, the
/// manifest's pin, the release's checksum file; else not at all.
pub fn expected_for(src: &ResolvedSource, locked: Option<&LockedExporter>) -> Expected {
    if let Some(l) = locked {
        Expected::Locked(l.sha256.clone())
    } else if let Some(sha) = &src.sha256 {
        Expected::Pinned(sha.clone())
    } else if let Some(url) = &src.checksums_url {
        Expected::ChecksumFile {
            url: url.clone(),
            file_name: src.file_name.clone(),
        }
    } else {
        Expected::Unverified
    }
}

fn store_err(e: &Exporter, source: StoreError) -> RealiseError {
    RealiseError::Store {
        exporter: e.name.clone(),
        version: e.version.clone(),
        source: Box::new(source),
    }
}

/// Resolves `latest`/range versions (from the lock when it has them), checks
/// the lock against the manifest, and realises it under the state lock the
/// caller holds. A download that upstream does not have (404) is explained
/// with the nearest versions that exist.
pub fn realise_locked(layout: &Layout, manifest: &mut Manifest) -> Result<Vec<Realised>, RealiseError> {
    let up = resolve(layout, manifest, true)?;
    realise_with(layout, manifest, &up)
}

/// Realises a resolved manifest, first clearing the temp trees and partial
/// downloads interrupted runs left. Other store leftovers (a directory without
/// a record, a record without its directory) wait for gc: an add replaces
/// them, and listing the store for them would cost more as history grows.
pub fn realise_with(layout: &Layout, manifest: &Manifest, up: &Resolved) -> Result<Vec<Realised>, RealiseError> {
    let store = Store::open(layout)?;
    store.clean_tmp()?;
    store.index_releases()?;
    up.fetcher.clean_leftovers()?;
    realise_all(&store, &up.fetcher, manifest, up.lock.as_ref(), &up.tokens)
        .map_err(|e| explain_realise_error(e, manifest, &up.fetcher, &up.tokens))
}

/// Turns "404" for a forge download into "VERSION does not exist; nearest: …".
pub fn explain_realise_error(e: RealiseError, manifest: &Manifest, fetcher: &Fetcher, tokens: &Tokens) -> RealiseError {
    let up = Upstream {
        fetcher,
        tokens,
        settings: &manifest.settings,
    };
    let errors = match e {
        RealiseError::Several(v) => v,
        other => vec![other],
    };
    let mut missing = Vec::new();
    let mut rest = Vec::new();
    for err in errors {
        let explained = match &err {
            RealiseError::Fetch(f) => fetch_exporter(f)
                .and_then(|name| manifest.exporter(name))
                .and_then(|ex| explain_not_found(&up, ex, f)),
            _ => None,
        };
        match explained {
            Some(m) => missing.push(m.to_string()),
            None => rest.push(err),
        }
    }
    if missing.is_empty() {
        if rest.iter().any(|e| matches!(e, RealiseError::LockedPathForeign { .. })) {
            return RealiseError::Refused(rest.iter().map(|e| e.to_string()).collect());
        }
        return match rest.len() {
            1 => rest.remove(0),
            _ => RealiseError::Several(rest),
        };
    }
    missing.extend(rest.iter().map(|e| e.to_string()));
    RealiseError::Refused(missing)
}

fn fetch_exporter(e: &FetchError) -> Option<&str> {
    match e {
        FetchError::NotFound { exporter, .. } => Some(exporter),
        _ => None,
    }
}

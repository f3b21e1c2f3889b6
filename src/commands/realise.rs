//! `exporterctl realise MANIFEST`

use super::{print_json, Ctx, ExitStatus, UsageError};
use crate::manifest::lock::LockFile;
use crate::manifest::Manifest;
use crate::realise::{self, RealiseError, Realised};
use crate::resolve::{explain_not_found, resolve_versions, ResolveError, Upstream};
use crate::source::forge::Tokens;
use crate::source::{FetchError, Fetcher};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    version: &'a str,
    store_path: String,
    path: String,
    sha256: &'a str,
    fetched: bool,
}

/// Loads a manifest, mapping its errors to exit status 2.
pub fn load_manifest(path: &Path) -> Result<Manifest> {
    Manifest::load(path).map_err(|e| UsageError(e.to_string()).into())
}

/// Resolves `latest`/range versions (from the lock when it has them), checks
/// the lock against the manifest, and realises it under the state lock the
/// caller holds. A download that upstream does not have (404) is explained
/// with the nearest versions that exist.
pub fn realise_locked(ctx: &Ctx, manifest: &mut Manifest) -> Result<Vec<Realised>> {
    let up = resolve(ctx, manifest, true)?;
    realise_with(ctx, manifest, &up)
}

/// What a command that talks to upstream works with: the fetcher, the forge
/// tokens, and the lock the manifest was checked against (if used).
pub struct Resolved {
    pub fetcher: Fetcher,
    pub tokens: Tokens,
    pub lock: Option<LockFile>,
}

/// Resolves `latest`/range versions — from the lock beside the manifest when
/// `use_lock` and it has them, else by asking the forge — and checks that lock
/// against the manifest.
pub fn resolve(ctx: &Ctx, manifest: &mut Manifest, use_lock: bool) -> Result<Resolved> {
    let lock = if use_lock {
        LockFile::load_for(&manifest.path).map_err(|e| UsageError(e.to_string()))?
    } else {
        None
    };
    let fetcher = Fetcher::new(&ctx.layout)?.with_limits(manifest.settings.download);
    let tokens = Tokens::from_env();
    resolve_versions(manifest, &fetcher, &tokens, lock.as_ref()).map_err(resolve_error)?;
    if let Some(l) = &lock {
        l.check_matches(manifest).map_err(|e| UsageError(e.to_string()))?;
    }
    Ok(Resolved { fetcher, tokens, lock })
}

/// Realises a resolved manifest, first clearing what interrupted runs left in
/// the store and the download cache.
pub fn realise_with(ctx: &Ctx, manifest: &Manifest, up: &Resolved) -> Result<Vec<Realised>> {
    let store = ctx.store()?;
    store.clean_leftovers()?;
    up.fetcher.clean_leftovers()?;
    realise::realise_all(&store, &up.fetcher, manifest, up.lock.as_ref())
        .map_err(|e| explain_realise_error(e, manifest, &up.fetcher, &up.tokens))
}

/// Bad input (exit 2) for what the user can fix in the manifest; other
/// failures (network, rate limits) stay ordinary errors (exit 1).
pub fn resolve_error(e: ResolveError) -> anyhow::Error {
    match e {
        ResolveError::Forge { .. } => e.into(),
        other => UsageError(other.to_string()).into(),
    }
}

/// A lock naming the wrong store path is bad input (exit 2); other realise
/// errors stay as they are.
pub fn bad_lock(e: RealiseError) -> anyhow::Error {
    match e {
        e @ RealiseError::LockedPathForeign { .. } => UsageError(e.to_string()).into(),
        other => other.into(),
    }
}

/// Turns "404" for a forge download into "VERSION does not exist; nearest: …".
pub fn explain_realise_error(
    e: RealiseError,
    manifest: &Manifest,
    fetcher: &Fetcher,
    tokens: &Tokens,
) -> anyhow::Error {
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
            let text: Vec<String> = rest.iter().map(|e| e.to_string()).collect();
            return UsageError(text.join("\n")).into();
        }
        return match rest.len() {
            1 => rest.remove(0).into(),
            _ => RealiseError::Several(rest).into(),
        };
    }
    missing.extend(rest.iter().map(|e| e.to_string()));
    UsageError(missing.join("\n")).into()
}

fn fetch_exporter(e: &FetchError) -> Option<&str> {
    match e {
        FetchError::NotFound { exporter, .. } => Some(exporter),
        _ => None,
    }
}

pub fn run(ctx: &Ctx, manifest_path: &Path, json: bool) -> Result<ExitStatus> {
    let mut manifest = load_manifest(manifest_path)?;
    let _lock = ctx.lock("realise")?;
    let realised = realise_locked(ctx, &mut manifest)?;
    let store = ctx.store()?;
    let rows: Vec<Row> = realised
        .iter()
        .map(|r| Row {
            name: &r.name,
            version: &r.version,
            store_path: r.store_path.to_string(),
            path: store.path_of(&r.store_path).display().to_string(),
            sha256: &r.sha256,
            fetched: r.fetched,
        })
        .collect();
    if json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            println!("{}", r.path);
        }
    }
    Ok(ExitStatus::Success)
}

//! `exporterctl realise MANIFEST`

use super::{print_json, Ctx, Outcome, UsageError};
use crate::manifest::lock::LockFile;
use crate::manifest::Manifest;
use crate::realise::{self, Realised};
use crate::source::Fetcher;
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

/// Realises `manifest` (verified against its lock file, if any) under the
/// state lock the caller holds.
pub fn realise_locked(ctx: &Ctx, manifest: &Manifest) -> Result<Vec<Realised>> {
    let lock = realise::load_lock(manifest).map_err(|e| UsageError(e.to_string()))?;
    realise_with(ctx, manifest, lock.as_ref())
}

/// Realises `manifest` against `lock` (none: resolve afresh), first clearing
/// what interrupted runs left in the store and the download cache.
pub fn realise_with(ctx: &Ctx, manifest: &Manifest, lock: Option<&LockFile>) -> Result<Vec<Realised>> {
    let store = ctx.store()?;
    store.clean_leftovers()?;
    let fetcher = Fetcher::new(&ctx.layout)?;
    fetcher.clean_leftovers()?;
    Ok(realise::realise_all(&store, &fetcher, manifest, lock)?)
}

pub fn run(ctx: &Ctx, manifest_path: &Path, json: bool) -> Result<Outcome> {
    let manifest = load_manifest(manifest_path)?;
    let _lock = ctx.lock("realise")?;
    let realised = realise_locked(ctx, &manifest)?;
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
    Ok(Outcome::Ok)
}

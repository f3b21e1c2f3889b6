//! `exporterctl lock MANIFEST`

use super::realise::{explain_realise_error, load_manifest, resolve_error};
use super::{Ctx, Outcome};
use crate::manifest::lock::{lock_path_for, LockFile, LockedExporter, LOCK_VERSION};
use crate::realise;
use crate::resolve::resolve_versions;
use crate::source::forge::Tokens;
use crate::source::Fetcher;
use anyhow::Result;
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path) -> Result<Outcome> {
    let mut manifest = load_manifest(manifest_path)?;
    let _lock = ctx.lock("lock")?;
    // A stale lock is what `lock` is for: resolve afresh (`latest` asks the
    // forge again), ignoring it.
    let fetcher = Fetcher::new(&ctx.layout)?;
    let tokens = Tokens::from_env();
    resolve_versions(&mut manifest, &fetcher, &tokens, None).map_err(resolve_error)?;
    let store = ctx.store()?;
    store.clean_leftovers()?;
    let realised = realise::realise_all(&store, &fetcher, &manifest, None)
        .map_err(|e| explain_realise_error(e, &manifest, &fetcher, &tokens))?;
    let lock = LockFile {
        lock_version: LOCK_VERSION,
        arch: manifest.settings.arch.clone(),
        exporters: realised
            .iter()
            .map(|r| LockedExporter {
                name: r.name.clone(),
                version: r.version.clone(),
                url: r.url.clone(),
                sha256: r.sha256.clone(),
                store_path: r.store_path.to_string(),
            })
            .collect(),
    };
    let path = lock.write_for(manifest_path)?;
    debug_assert_eq!(path, lock_path_for(manifest_path));
    println!("{}", path.display());
    Ok(Outcome::Ok)
}

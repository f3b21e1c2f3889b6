//! `exporterctl lock MANIFEST`

use super::{Ctx, ExitStatus};
use crate::manifest::lock::{LockFile, LockedExporter, LOCK_VERSION};
use crate::realise::realise_with;
use crate::resolve::resolve;
use anyhow::Result;
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path) -> Result<ExitStatus> {
    let mut manifest = crate::manifest::Manifest::load(manifest_path)?;
    let _lock = ctx.lock("lock")?;
    // A stale lock is what `lock` is for: resolve afresh (`latest` asks the
    // forge again), ignoring it.
    let up = resolve(&ctx.layout, &mut manifest, false)?;
    let realised = realise_with(&ctx.layout, &manifest, &up)?;
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
    println!("{}", path.display());
    Ok(ExitStatus::Success)
}

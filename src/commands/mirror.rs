//! `exporterctl mirror MANIFEST DIR`

use super::realise::{load_manifest, resolve_error};
use super::{Ctx, Outcome, UsageError};
use crate::manifest::lock::LockFile;
use crate::mirror::mirror;
use crate::resolve::resolve_versions;
use crate::source::forge::Tokens;
use crate::source::Fetcher;
use anyhow::{Context as _, Result};
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path, dir: &Path) -> Result<Outcome> {
    let mut manifest = load_manifest(manifest_path)?;
    let lock = LockFile::load_for(manifest_path).map_err(|e| UsageError(e.to_string()))?;
    let fetcher = Fetcher::new(&ctx.layout)?;
    let tokens = Tokens::from_env();
    resolve_versions(&mut manifest, &fetcher, &tokens, lock.as_ref()).map_err(resolve_error)?;
    if let Some(l) = &lock {
        l.check_matches(&manifest).map_err(|e| UsageError(e.to_string()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let done = mirror(&manifest, lock.as_ref(), &fetcher, &tokens, dir)?;
    for m in &done {
        match &m.skipped {
            Some(why) => println!("skipped  {} {}: {why}", m.name, m.version),
            None => {
                for f in &m.files {
                    println!("{}", dir.join(f).display());
                }
            }
        }
    }
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    eprintln!(
        "to use it: set settings.github.download_url (and gitlab.download_url) to file://{} or to a static HTTP server of it",
        abs.display()
    );
    Ok(Outcome::Ok)
}

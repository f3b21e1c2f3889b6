//! `exporterctl mirror MANIFEST DIR`

use super::{Ctx, ExitStatus};
use crate::mirror::mirror;
use crate::resolve::resolve;
use crate::resolve::Resolved;
use anyhow::{Context as _, Result};
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path, dir: &Path) -> Result<ExitStatus> {
    let mut manifest = crate::manifest::Manifest::load(manifest_path)?;
    let Resolved { fetcher, tokens, lock } = resolve(&ctx.layout, &mut manifest, true)?;
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
    Ok(ExitStatus::Success)
}

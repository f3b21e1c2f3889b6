//! `exporterctl adopt MANIFEST`

use super::{Ctx, ExitStatus};
use crate::adopt::{adopt, Said};
use crate::manifest::Manifest;
use anyhow::Result;
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path) -> Result<ExitStatus> {
    let manifest = Manifest::load(manifest_path)?;
    manifest.check_dirs(&ctx.layout)?;
    let _lock = ctx.lock("adopt")?;
    ctx.ensure_no_interrupted_switch()?;
    adopt(&ctx.layout, &manifest, manifest_path, &mut |said| match said {
        Said::Done(line) => println!("{line}"),
        Said::Warning(line) => eprintln!("{line}"),
    })?;
    super::switch::refresh_textfile(ctx, &ctx.store()?, manifest.settings.monitoring.as_ref(), None);
    Ok(ExitStatus::Success)
}

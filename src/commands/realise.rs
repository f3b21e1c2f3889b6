//! `exporterctl realise MANIFEST`

use super::{print_json, Ctx, ExitStatus};
use crate::manifest::Manifest;
use crate::realise::realise_locked;
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

pub fn run(ctx: &Ctx, manifest_path: &Path, json: bool) -> Result<ExitStatus> {
    let mut manifest = Manifest::load(manifest_path)?;
    let _lock = ctx.lock("realise")?;
    let realised = realise_locked(&ctx.layout, &mut manifest)?;
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

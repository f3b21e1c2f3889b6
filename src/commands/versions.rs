//! `exporterctl versions NAME`

use super::{print_json, Ctx, ExitStatus, UsageError};
use crate::catalogue::Catalogue;
use crate::manifest::Manifest;
use crate::resolve::Upstream;
use crate::source::forge::Tokens;
use crate::source::Fetcher;
use anyhow::Result;
use std::path::Path;

/// A one-exporter manifest for catalogue entry `name` (default settings).
fn catalogue_manifest(name: &str) -> Result<Manifest> {
    let catalogue = Catalogue::builtin();
    if catalogue.get(name).is_none() {
        return Err(UsageError(format!(
            "`{name}` is not in the catalogue (known: {}); for another exporter, give --manifest FILE with its source",
            catalogue.names().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let text = format!(
        "apiVersion: exporterctl/v1\nsettings: {{ arch: amd64 }}\nexporters:\n  \"{name}\": {{ version: latest }}\n"
    );
    Manifest::parse(&text, Path::new("(catalogue)")).map_err(|e| UsageError(e.to_string()).into())
}

pub fn run(ctx: &Ctx, name: &str, manifest: Option<&Path>, json: bool) -> Result<ExitStatus> {
    let m = match manifest {
        Some(p) => crate::manifest::Manifest::load(p)?,
        None => catalogue_manifest(name)?,
    };
    let Some(e) = m.exporter(name) else {
        return Err(UsageError(format!(
            "no exporter `{name}` in {}",
            manifest.map(|p| p.display().to_string()).unwrap_or_default()
        ))
        .into());
    };
    let fetcher = Fetcher::new(&ctx.layout)?.with_limits(m.settings.download);
    let tokens = Tokens::from_env();
    let up = Upstream {
        fetcher: &fetcher,
        tokens: &tokens,
        settings: &m.settings,
    };
    let versions = up.versions(e)?;
    if json {
        print_json(&versions)?;
        return Ok(ExitStatus::Success);
    }
    let latest = versions
        .iter()
        .find(|v| !v.prerelease && !v.retracted)
        .map(|v| v.version.clone());
    for v in &versions {
        let mut notes = Vec::new();
        if Some(&v.version) == latest.as_ref() {
            notes.push("latest");
        }
        if v.prerelease {
            notes.push("pre-release");
        }
        if v.retracted {
            notes.push("retracted: never installed");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join(", "))
        };
        println!("{:<14} {}{notes}", v.version, v.tag);
    }
    Ok(ExitStatus::Success)
}

//! `store repair`: puts back what `store verify` reports — modes restored,
//! releases rebuilt from their archive, generated units rendered again,
//! farms rebuilt from their state.json, missing paths realised again. It
//! sits above the store (it realises and renders), beside the plan.

use crate::gc::ReachError;
use crate::generation::profile;
use crate::manifest::{Manifest, ManifestError};
use crate::paths::Layout;
use crate::realise::realise_with;
use crate::resolve::{resolve, ResolveError, Resolved};
use crate::source::{Expected, FetchRequest};
use crate::store::{AddRelease, EntryKind, Store, StoreError, StoreMeta, StorePath, VerifyOutcome};
use serde::Serialize;
use std::path::Path;

/// Why repair stopped before looking at every path (a path it cannot
/// repair is a [`Repaired`] entry, not an error). A manifest that does not
/// load or resolve stays the cause `ExitStatus::of_error` finds: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("{0}")]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reach(#[from] ReachError),
}

/// One store path repair looked at.
#[derive(Debug, Serialize)]
pub struct Repaired {
    pub store_path: String,
    pub problem: String,
    /// What was done (`Ok`) or why it could not be (`Err`).
    pub repaired: bool,
    pub result: String,
}

/// Puts back what `verify` reports, each path in place with one rename (the
/// path stays valid throughout). The caller holds the state lock. It runs
/// even while a switch is interrupted: `resume` refuses a damaged path, and
/// this is how it gets repaired. With the manifest, modified releases and
/// units are rebuilt and missing paths realised again.
pub fn repair(layout: &Layout, manifest_path: Option<&Path>) -> Result<Vec<Repaired>, RepairError> {
    // None (and nothing created) on a host where exporterctl has not run yet.
    if !layout.store_dir().is_dir() {
        return Ok(Vec::new());
    }
    let store = Store::open(layout)?;
    let entries = store.list()?;
    let mut manifest = manifest_path.map(crate::manifest::Manifest::load).transpose()?;
    let up = match manifest.as_mut() {
        Some(m) => Some(resolve(layout, m, true)?),
        None => None,
    };
    let source = manifest.as_ref().zip(up.as_ref());
    let mut done = Vec::new();
    for m in &entries {
        let sp = StorePath::parse(&m.store_path)?;
        let found = store.verify(&sp)?;
        let attempt = match &found {
            VerifyOutcome::Ok | VerifyOutcome::Missing => continue,
            VerifyOutcome::BadModes { .. } => store
                .restore_modes(&sp)
                .map(|()| "modes restored".to_string())
                .map_err(|e| e.to_string()),
            VerifyOutcome::Modified { .. } => match m.kind {
                EntryKind::Release => repair_release(&store, m, &sp, source, manifest_path),
                EntryKind::Unit => repair_unit(&store, &sp, manifest.as_ref(), manifest_path),
                EntryKind::Profile => profile::repair_farm(&store, &sp)
                    .map(|()| "rebuilt from its state.json".to_string())
                    .map_err(|e| e.to_string()),
                EntryKind::Adopted => Err(
                    "adopted from a hand-installed file, of which exporterctl has no other copy: \
                     restore it from a backup, or roll back to a generation that does not use it"
                        .to_string(),
                ),
            },
        };
        // Trust nothing: a repair counts when verify says so.
        let result = attempt.and_then(|what| match store.verify(&sp) {
            Ok(VerifyOutcome::Ok) => Ok(what),
            Ok(still) => Err(format!("still {}", still.describe())),
            Err(e) => Err(e.to_string()),
        });
        done.push(Repaired {
            store_path: sp.to_string(),
            problem: found.describe(),
            repaired: result.is_ok(),
            result: result.unwrap_or_else(|e| e),
        });
    }
    // Paths deleted by hand that something still needs: a realise of the
    // manifest adds the releases among them again.
    let missing = crate::gc::reachable(layout, &store, &[])?.missing;
    if !missing.is_empty() {
        if let (Some(m), Some(up)) = (manifest.as_ref(), up.as_ref()) {
            if let Err(e) = realise_with(layout, m, up) {
                tracing::warn!(
                    "realising {}: {}",
                    m.path.display(),
                    crate::exit::error_report(&e.into())
                );
            }
        }
        for sp in missing {
            let back = store.is_valid(&sp);
            done.push(Repaired {
                store_path: sp.to_string(),
                problem: "missing (a generation or the running state needs it)".into(),
                repaired: back,
                result: match (back, manifest_path) {
                    (true, Some(p)) => format!("realised again from {}", p.display()),
                    (false, Some(p)) => format!("{} does not realise it", p.display()),
                    (_, None) => "pass the manifest that installed it: `exporterctl store repair MANIFEST`".into(),
                },
            });
        }
    }
    Ok(done)
}

/// A release is rebuilt from its archive: the metadata's sha256 names it, the
/// manifest says where it comes from and how to unpack it; the download cache
/// serves it when it has it, else it is downloaded and checked against that
/// sha256.
fn repair_release(
    store: &Store,
    m: &StoreMeta,
    sp: &StorePath,
    source: Option<(&Manifest, &Resolved)>,
    manifest_path: Option<&Path>,
) -> std::result::Result<String, String> {
    let Some((manifest, up)) = source else {
        return Err(format!(
            "content modified: pass the manifest that installed {} {} (`exporterctl store repair MANIFEST`) \
             to rebuild it from its archive",
            m.name,
            m.version.as_deref().unwrap_or("?")
        ));
    };
    let Some(e) = manifest
        .exporters
        .iter()
        .find(|e| e.name == m.name && m.version.as_deref() == Some(e.version.as_str()))
    else {
        return Err(format!(
            "{} does not install {} {}: pass the manifest that did",
            manifest_path.map(|p| p.display().to_string()).unwrap_or_default(),
            m.name,
            m.version.as_deref().unwrap_or("?")
        ));
    };
    let Some(sha256) = m.archive_sha256.clone() else {
        return Err("its metadata records no archive sha256 to check a download against".into());
    };
    let src = e.resolved_source()?;
    let req = FetchRequest {
        allow_http: e.allow_http,
        headers: crate::realise::download_headers(e, &src.url, manifest, &up.tokens),
        ..FetchRequest::new(&e.name, &e.version, &src.url, Expected::Locked(sha256))
    };
    let fetched = up.fetcher.fetch(&req).map_err(|e| e.to_string())?;
    store
        .repair_release(
            sp,
            &AddRelease {
                name: &e.name,
                version: &e.version,
                archive: &fetched.path,
                kind: src.archive,
                binary: src.binary.as_deref(),
                origin_url: &src.url,
                archive_sha256: &fetched.sha256,
                archive_size: fetched.size,
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(if fetched.downloaded {
        "rebuilt from a new download of its archive (sha256 checked)".into()
    } else {
        "rebuilt from its archive in the download cache".into()
    })
}

/// A generated unit is rendered again from the manifest's exporter whose
/// unit it is.
fn repair_unit(
    store: &Store,
    sp: &StorePath,
    manifest: Option<&Manifest>,
    manifest_path: Option<&Path>,
) -> std::result::Result<String, String> {
    let Some(manifest) = manifest else {
        return Err(
            "content modified: pass the manifest that generated it (`exporterctl store repair MANIFEST`)".into(),
        );
    };
    let mut units = Vec::new();
    for e in manifest.exporters.iter().filter(|e| e.manage_unit) {
        units.extend(crate::units::generated_units(&e.unit_spec(&manifest.settings)).map_err(|e| e.to_string())?);
    }
    for u in units {
        if crate::store::one_file_path(&u.rest, &u.file, u.text.as_bytes())
            .ok()
            .as_ref()
            != Some(sp)
        {
            continue;
        }
        let mut build = |dir: &Path| std::fs::write(dir.join(&u.file), u.text.as_bytes());
        store
            .repair_tree(sp, "its manifest", &mut build)
            .map_err(|e| e.to_string())?;
        return Ok(format!("rendered again from {}", manifest.path.display()));
    }
    Err(format!(
        "no exporter of {} generates this unit: pass the manifest that did",
        manifest_path.map(|p| p.display().to_string()).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{error_report, ExitStatus};

    #[test]
    fn a_manifest_that_does_not_load_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        Store::open(&layout).unwrap();
        let missing = dir.path().join("nowhere.yaml");
        let e = anyhow::Error::new(repair(&layout, Some(&missing)).unwrap_err());
        assert_eq!(ExitStatus::of_error(&e), ExitStatus::BadInput);
        let text = error_report(&e);
        assert!(
            text.starts_with(&format!("cannot read manifest {}: ", missing.display())),
            "{text}"
        );
        assert_eq!(text.matches("cannot read manifest").count(), 1, "{text}");
    }
}

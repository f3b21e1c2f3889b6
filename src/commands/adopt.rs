//! `exporterctl adopt MANIFEST`

use super::realise::load_manifest;
use super::{Ctx, Outcome, UsageError};
use crate::adopt::{check_importable, copy_importable, read_version, Found};
use crate::catalogue::Catalogue;
use crate::generation::history::{History, SwitchRecord, SwitchStatus};
use crate::generation::links::Links;
use crate::generation::now_rfc3339;
use crate::generation::profile::{self, Profiles};
use crate::generation::record::{GenerationRecord, Generations};
use crate::generation::state::{ExporterState, ProfileState};
use crate::store::{EntryKind, StorePath};
use crate::switch::crash;
use anyhow::{bail, Context as _, Result};
use std::path::Path;

pub fn run(ctx: &Ctx, manifest_path: &Path) -> Result<Outcome> {
    let manifest = load_manifest(manifest_path)?;
    manifest
        .check_dirs(&ctx.layout)
        .map_err(|e| UsageError(e.to_string()))?;
    let _lock = ctx.lock("adopt")?;
    ctx.ensure_no_interrupted_switch()?;
    let profiles = Profiles::new(&ctx.layout);
    let current = profiles.current()?;
    if let Some(farm) = current.farm() {
        return finish_interrupted(ctx, current.generation(), farm);
    }
    let store = ctx.store()?;
    store.clean_leftovers()?;
    let mut state = ProfileState::from_settings(&manifest);
    let links = Links::new(&ctx.layout);
    // Every file is checked before anything is imported: a refusal for the
    // last exporter must not leave the first one's copy in the store.
    let mut found = Vec::new();
    for e in &manifest.exporters {
        let bin = links.bin_entry(&state, &e.name);
        let what = format!("{}'s binary", e.name);
        match check_importable(&bin, &what).map_err(UsageError)? {
            Found::File => {}
            Found::Nothing => {
                eprintln!("{}: nothing installed at {}; skipped", e.name, bin.display());
                continue;
            }
            Found::NotAFile(kind) => {
                eprintln!(
                    "{}: {} is {kind}, not an installed binary; skipped",
                    e.name,
                    bin.display()
                );
                continue;
            }
        }
        let unit_file = links.unit_entry(&state, &e.unit);
        let unit_found = if std::fs::symlink_metadata(&unit_file).is_ok_and(|m| m.is_file()) {
            check_importable(&unit_file, &format!("{}'s unit file", e.name)).map_err(UsageError)?
        } else {
            Found::Nothing
        };
        found.push((e, bin, unit_file, unit_found == Found::File));
    }
    for (e, bin, unit_file, adopt_unit) in found {
        let version_args = e
            .catalogue
            .as_deref()
            .and_then(|n| Catalogue::builtin().get(n))
            .map(|c| c.for_version(&e.version).version_args)
            .unwrap_or_default();
        let version = match read_version(&bin, &version_args) {
            Some(v) => v,
            None if !e.resolved => {
                return Err(UsageError(format!(
                    "{}: could not read a version from `{} --version`, and the manifest asks for `{}`, not an exact version",
                    e.name,
                    bin.display(),
                    e.version
                ))
                .into());
            }
            None => {
                eprintln!(
                    "{}: could not read a version from `{} --version`; recording the manifest's {}",
                    e.name,
                    bin.display(),
                    e.version
                );
                e.version.clone()
            }
        };
        let mut copy_bin = |dir: &Path| -> std::io::Result<()> {
            std::fs::create_dir(dir.join("bin"))?;
            copy_importable(&bin, &dir.join("bin").join(&e.name))
        };
        let store_path = store.add_tree(
            &format!("{}-{version}", e.name),
            EntryKind::Adopted,
            Some(&version),
            &mut copy_bin,
        )?;
        let unit_store_path = if adopt_unit {
            let mut copy_unit = |dir: &Path| copy_importable(&unit_file, &dir.join(&e.unit));
            Some(store.add_tree(&format!("unit-{}", e.unit), EntryKind::Adopted, None, &mut copy_unit)?)
        } else {
            None
        };
        println!("{}: adopted {} {version} from {}", e.name, e.name, bin.display());
        state
            .exporters
            .push(ExporterState::from_manifest(e, version, store_path, unit_store_path));
    }
    if state.exporters.is_empty() {
        bail!(
            "nothing to adopt: none of the manifest's exporters is installed under {}",
            ctx.layout.rooted(&manifest.settings.bin_dir).display()
        );
    }
    let farm = profile::build_farm(&store, &state)?;
    profiles.ensure_dir()?;
    let generations = Generations::new(&ctx.layout);
    let n = generations.allocate()?;
    let id = SwitchRecord::new_id();
    generations.save(&GenerationRecord {
        number: n,
        created_at: now_rfc3339(),
        profile: farm.clone(),
        origin: "adopt".into(),
        switch_id: id.clone(),
        manifest: Some(manifest_path.to_path_buf()),
        outcome: "succeeded".into(),
        metrics: Default::default(),
    })?;
    profiles.link_generation(n, &farm)?;
    profiles.flip_to_generation(n)?;
    crash::point("adopt-after-flip");
    // The hand-placed files are in the store now: replace each with our link
    // (a rename over it, so the path never disappears). Running processes keep
    // the inode they started from.
    links.install_all(&state).context("linking adopted exporters")?;
    let record = adopt_record(id, Some(manifest_path), &farm, &state, n);
    History::new(&ctx.layout).finish(&ctx.layout, &record)?;
    println!(
        "generation {n}: {} exporter(s) adopted; `exporterctl rollback --to {n}` returns here",
        state.exporters.len()
    );
    Ok(Outcome::Ok)
}

/// The history record of an adopt that made generation `n`.
fn adopt_record(id: String, manifest: Option<&Path>, farm: &StorePath, state: &ProfileState, n: u64) -> SwitchRecord {
    SwitchRecord {
        id,
        kind: "adopt".into(),
        manifest: manifest.map(Path::to_path_buf),
        started_at: now_rfc3339(),
        ended_at: Some(now_rfc3339()),
        status: SwitchStatus::Succeeded,
        atomic: false,
        from_generation: None,
        from_profile: None,
        target_profile: farm.clone(),
        target_generation: None,
        live_profile: Some(farm.clone()),
        current_step: None,
        steps: Vec::new(),
        unchanged: state.exporters.iter().map(|e| e.name.clone()).collect(),
        result_generation: Some(n),
        resumed: false,
        preflight: None,
    }
}

/// A host exporterctl already manages: adopting again is refused, unless an
/// adopt was killed after recording its generation but before replacing the
/// hand-placed files. Those files are byte for byte in the store, so
/// replacing them with our links now loses nothing; that finishes it.
fn finish_interrupted(ctx: &Ctx, generation: Option<u64>, farm: &StorePath) -> Result<Outcome> {
    let already = || UsageError("exporterctl already manages this host; adopt only makes the first generation".into());
    let Some(n) = generation else {
        return Err(already().into());
    };
    let Some(gen) = Generations::new(&ctx.layout).load(n)? else {
        return Err(already().into());
    };
    let store = ctx.store()?;
    let state = profile::read_farm_state(&store, farm)?;
    let links = Links::new(&ctx.layout);
    let left = links.unlinked_copies(&state)?;
    if gen.origin != "adopt" || left.is_empty() {
        return Err(already().into());
    }
    links.install_all(&state).context("linking adopted exporters")?;
    let record = adopt_record(gen.switch_id, gen.manifest.as_deref(), farm, &state, n);
    History::new(&ctx.layout).finish(&ctx.layout, &record)?;
    for p in &left {
        println!("{}: replaced by its link into the store", p.display());
    }
    println!("generation {n}: finished the interrupted adopt");
    Ok(Outcome::Ok)
}

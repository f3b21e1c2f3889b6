//! Adopting what was installed by hand: whether a file may be imported into
//! the store at all, an exporter binary's version from its own `--version`
//! output, and the adopt transaction that makes them generation 1.

use crate::catalogue::Catalogue;
use crate::exit::UsageError;
use crate::fault;
use crate::generation::history::{HistoryError, SwitchRecord, SwitchStatus};
use crate::generation::journal;
use crate::generation::links::Links;
use crate::generation::now_rfc3339;
use crate::generation::profile::{self, ProfileError, Profiles};
use crate::generation::record::{GenerationRecord, Generations, Outcome, RecordError};
use crate::generation::state::ProfileState;
use crate::manifest::Manifest;
use crate::names::is_version;
use crate::paths::Layout;
use crate::store::{EntryKind, Store, StoreError, StorePath};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why adopting failed. What the user fixes is a `UsageError` kept as the
/// cause (exit 2, found by `ExitStatus::of_error`).
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("{0}")]
    Usage(#[from] UsageError),
    #[error("nothing to adopt: none of the manifest's exporters is installed under {}", .0.display())]
    NothingInstalled(PathBuf),
    /// Replacing the hand-placed files with links into the store.
    #[error("linking adopted exporters")]
    Link(#[source] std::io::Error),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

type Result<T, E = AdoptError> = std::result::Result<T, E>;

/// What sits at a path `adopt` would import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Nothing,
    /// A regular file others may read: safe to copy into the store.
    File,
    /// Something else (a directory, a device): not an installed file.
    NotAFile(&'static str),
}

/// Checks a file `adopt` would copy into the store. Refused (with what to
/// do): a symlink, since the store would get whatever it points to, which
/// may be a file its owner never meant to publish (adopt only imports
/// regular files); and a regular file other users cannot read, since every
/// store path is world-readable (0444/0555) and importing it would publish
/// it — a unit file can hold secrets in `Environment=`. `what` names it.
pub fn check_importable(path: &Path, what: &str) -> Result<Found, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(format!("cannot look at {what} {}: {e}", path.display())),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_or_else(|_| "?".into(), |t| t.display().to_string());
        return Err(format!(
            "{what} {} is a symlink (to {target}); adopt imports only regular files, so that what it records \
             is exactly the file at that path. Replace the link with a copy of the file it points to (after \
             checking that it may be world-readable) and adopt again; nothing was changed",
            path.display()
        ));
    }
    if meta.is_dir() {
        return Ok(Found::NotAFile("a directory"));
    }
    if !meta.is_file() {
        return Ok(Found::NotAFile("not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o004 == 0 {
        return Err(format!(
            "{what} {} is not readable by other users (mode {mode:04o}), but the store is world-readable: \
             adopting it would publish it to every user. If it holds nothing secret, `chmod o+r` it and adopt \
             again; nothing was changed",
            path.display()
        ));
    }
    Ok(Found::File)
}

/// Copies the file [`check_importable`] accepted, opened without following a
/// symlink and checked again on the open file: it cannot be swapped for a
/// link, or made private, between the check and the copy. The copy keeps
/// only the execute bits that matter to the store.
pub fn copy_importable(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut src = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(from)?;
    let meta = src.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    if !meta.is_file() || mode & 0o004 == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} changed while it was being adopted", from.display()),
        ));
    }
    let mut dst = std::fs::File::create(to)?;
    std::io::copy(&mut src, &mut dst)?;
    dst.set_permissions(std::fs::Permissions::from_mode(mode & 0o755))
}

/// Runs `bin ARGS` with a time limit and returns stdout + stderr.
fn output_of(bin: &Path, args: &[&str], limit: Duration) -> Option<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = crate::fsutil::retry_text_busy(|| cmd.spawn()).ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut text);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut text);
    }
    Some(text)
}

/// Finds the version in `--version` output: the word after `version`
/// (`node_exporter, version 1.9.1 (branch: …)`), else the first word that is
/// a version (`0.10.3`, `php-fpm_exporter 2.2.0, commit …`).
pub fn parse_version(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_start_matches('v').to_string())
        .collect();
    let after_version = words
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("version") && is_version(&w[1]))
        .map(|w| w[1].clone());
    after_version.or_else(|| words.into_iter().find(|w| is_version(w) && w.contains('.')))
}

/// The binary's own idea of its version: `preferred` first (the catalogue
/// entry's `version_args`), then `--version`, then `version`.
pub fn read_version(bin: &Path, preferred: &[String]) -> Option<String> {
    let preferred: Vec<&str> = preferred.iter().map(String::as_str).collect();
    let fallbacks: [&[&str]; 2] = [&["--version"], &["version"]];
    let tries = std::iter::once(preferred.as_slice())
        .filter(|p| !p.is_empty())
        .chain(fallbacks.into_iter().filter(|f| *f != preferred.as_slice()));
    for args in tries {
        if let Some(v) = output_of(bin, args, Duration::from_secs(5))
            .as_deref()
            .and_then(parse_version)
        {
            return Some(v);
        }
    }
    None
}

/// What adopting says as it goes: progress (stdout) and warnings (stderr).
pub enum Said {
    Done(String),
    Warning(String),
}

/// The adopt transaction: imports the binaries (and unit files) of
/// `manifest`'s exporters that were installed by hand into the store as
/// generation 1, then replaces each with its link. The caller holds the
/// state lock. A host exporterctl already manages is refused, unless an
/// adopt was interrupted: that one is finished.
pub fn adopt(layout: &Layout, manifest: &Manifest, manifest_path: &Path, say: &mut dyn FnMut(Said)) -> Result<()> {
    let profiles = Profiles::new(layout);
    let current = profiles.current()?;
    if let Some(farm) = current.farm() {
        return finish_interrupted(layout, current.generation(), farm, say);
    }
    let store = Store::open(layout)?;
    store.clean_leftovers()?;
    let mut state = manifest.settings.empty_state();
    let links = Links::new(layout);
    // Every file is checked before anything is imported: a refusal for the
    // last exporter must not leave the first one's copy in the store.
    let mut found = Vec::new();
    for e in &manifest.exporters {
        let bin = links.bin_entry(&state, &e.name);
        let what = format!("{}'s binary", e.name);
        match check_importable(&bin, &what).map_err(UsageError)? {
            Found::File => {}
            Found::Nothing => {
                say(Said::Warning(format!(
                    "{}: nothing installed at {}; skipped",
                    e.name,
                    bin.display()
                )));
                continue;
            }
            Found::NotAFile(kind) => {
                say(Said::Warning(format!(
                    "{}: {} is {kind}, not an installed binary; skipped",
                    e.name,
                    bin.display()
                )));
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
                say(Said::Warning(format!(
                    "{}: could not read a version from `{} --version`; recording the manifest's {}",
                    e.name,
                    bin.display(),
                    e.version
                )));
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
        say(Said::Done(format!(
            "{}: adopted {} {version} from {}",
            e.name,
            e.name,
            bin.display()
        )));
        state.exporters.push(e.state(version, store_path, unit_store_path));
    }
    if state.exporters.is_empty() {
        return Err(AdoptError::NothingInstalled(layout.rooted(&manifest.settings.bin_dir)));
    }
    let farm = profile::build_farm(&store, &state)?;
    profiles.ensure_dir()?;
    let generations = Generations::new(layout);
    let n = generations.allocate()?;
    let id = SwitchRecord::new_id();
    generations.save(&GenerationRecord {
        number: n,
        created_at: now_rfc3339(),
        profile: farm.clone(),
        origin: "adopt".into(),
        switch_id: id.clone(),
        manifest: Some(manifest_path.to_path_buf()),
        outcome: Outcome::Succeeded,
        rollout_id: None,
        metrics: Default::default(),
    })?;
    profiles.link_generation(n, &farm)?;
    profiles.flip_to_generation(n)?;
    fault::point("adopt-after-flip");
    // The hand-placed files are in the store now: replace each with our link
    // (a rename over it, so the path never disappears). Running processes keep
    // the inode they started from.
    links.install_all(&state).map_err(AdoptError::Link)?;
    let record = adopt_record(id, Some(manifest_path), &farm, &state, n);
    journal::close(layout, &record)?;
    say(Said::Done(format!(
        "generation {n}: {} exporter(s) adopted; `exporterctl rollback --to {n}` returns here",
        state.exporters.len()
    )));
    Ok(())
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
        parallel: 1,
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
        rollout_id: None,
        preflight: None,
        monitoring: None,
    }
}

/// A host exporterctl already manages: adopting again is refused, unless an
/// adopt was killed after recording its generation but before replacing the
/// hand-placed files. Those files are byte for byte in the store, so
/// replacing them with our links now loses nothing; that finishes it.
fn finish_interrupted(
    layout: &Layout,
    generation: Option<u64>,
    farm: &StorePath,
    say: &mut dyn FnMut(Said),
) -> Result<()> {
    let already = || UsageError("exporterctl already manages this host; adopt only makes the first generation".into());
    let Some(n) = generation else {
        return Err(already().into());
    };
    let Some(gen) = Generations::new(layout).load(n)? else {
        return Err(already().into());
    };
    let store = Store::open(layout)?;
    let state = profile::read_farm_state(&store, farm)?;
    let links = Links::new(layout);
    let left = links.unlinked_copies(&state)?;
    if gen.origin != "adopt" || left.is_empty() {
        return Err(already().into());
    }
    links.install_all(&state).map_err(AdoptError::Link)?;
    let record = adopt_record(gen.switch_id, gen.manifest.as_deref(), farm, &state, n);
    journal::close(layout, &record)?;
    for p in &left {
        say(Said::Done(format!(
            "{}: replaced by its link into the store",
            p.display()
        )));
    }
    say(Said::Done(format!("generation {n}: finished the interrupted adopt")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{error_report, ExitStatus};

    #[test]
    fn adopt_errors_keep_their_messages_and_a_refusal_exits_2() {
        let of = |e: AdoptError| {
            let e = anyhow::Error::new(e);
            (ExitStatus::of_error(&e), error_report(&e))
        };
        let already = UsageError("exporterctl already manages this host".into());
        assert_eq!(
            of(already.into()),
            (ExitStatus::BadInput, "exporterctl already manages this host".into())
        );
        assert_eq!(
            of(AdoptError::NothingInstalled("/r/usr/local/bin".into())),
            (
                ExitStatus::Failed,
                "nothing to adopt: none of the manifest's exporters is installed under /r/usr/local/bin".into()
            )
        );
        assert_eq!(
            of(AdoptError::Link(std::io::Error::other("disk on fire"))),
            (ExitStatus::Failed, "linking adopted exporters: disk on fire".into())
        );
    }

    #[test]
    fn parses_the_upstream_version_outputs() {
        assert_eq!(
            parse_version("node_exporter, version 1.9.1 (branch: HEAD, revision: abc)\n  build user: x\n").as_deref(),
            Some("1.9.1")
        );
        assert_eq!(parse_version("0.10.3\n").as_deref(), Some("0.10.3"));
        assert_eq!(
            parse_version("php-fpm_exporter 2.2.0, commit 1234").as_deref(),
            Some("2.2.0")
        );
        assert_eq!(
            parse_version("nginx_exporter, version v1.5.1 (x)").as_deref(),
            Some("1.5.1")
        );
        assert_eq!(parse_version("usage: foo [flags]"), None);
    }

    #[test]
    fn only_world_readable_regular_files_are_importable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        assert_eq!(check_importable(&file, "binary"), Ok(Found::Nothing));
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_importable(&file, "binary"), Ok(Found::File));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o750)).unwrap();
        let err = check_importable(&file, "binary").unwrap_err();
        assert!(err.contains("mode 0750") && err.contains("chmod o+r"), "{err}");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let err = check_importable(&link, "binary").unwrap_err();
        assert!(err.contains("is a symlink"), "{err}");
        // The copy re-checks what it opened: a link swapped in, or a file
        // made private, after the check is not copied.
        let copy = dir.path().join("copy");
        assert!(copy_importable(&link, &copy).is_err());
        assert!(copy_importable(&file, &copy).is_err(), "0750 is private");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
        copy_importable(&file, &copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), b"x");
        assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o7777, 0o755);
        assert_eq!(
            check_importable(dir.path(), "binary"),
            Ok(Found::NotAFile("a directory"))
        );
    }

    #[test]
    fn the_catalogues_version_args_are_tried_first() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("x_exporter");
        // Like php-fpm_exporter: `version` is a subcommand; `--version` here
        // answers something else on purpose, to tell the two apart.
        std::fs::write(
            &bin,
            "#!/bin/sh\ncase \"$1\" in\n  version) echo 'x_exporter 2.2.0' ;;\n  --version) echo 'x_exporter, version 9.9.9' ;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(read_version(&bin, &["version".into()]).as_deref(), Some("2.2.0"));
        assert_eq!(read_version(&bin, &[]).as_deref(), Some("9.9.9"));
    }
}

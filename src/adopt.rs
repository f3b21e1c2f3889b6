//! Reading what is already installed by hand: whether a file may be imported
//! into the store at all, and an exporter binary's version, from its own
//! `--version` output.

use crate::manifest::is_version;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Reading what is already installed by hand: an exporter binary's version,
//! from its own `--version` output.

use crate::manifest::is_version;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

//! Generated unit files as the real systemd reads them (`systemd-analyze
//! verify`): odd but legal values — spaces, quotes, backslashes, `$`, `%`,
//! `;` — must pass without a warning, and the executable's path, which
//! verify looks up, must arrive as written.
//!
//! Where `systemd-analyze` is missing the tests say so and pass, unless
//! `EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE=1` (tests/run-all.sh sets it when it
//! runs as root, after installing the `systemd` package if needed).

use exporterctl::manifest::Manifest;
use exporterctl::switch::unitfile::{render_checked, UnitParams};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn systemd_analyze() -> Option<PathBuf> {
    let found = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE").as_deref() != Ok("1"),
            "systemd-analyze is missing but EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE=1 (apt-get install systemd)"
        );
        eprintln!(
            "SKIPPED: systemd-analyze is not installed (apt-get install systemd), so unit files were not verified"
        );
    }
    found
}

/// Runs `systemd-analyze verify` on `text` saved as `dir/unit`: (success, stderr).
fn verify(analyze: &Path, dir: &Path, unit: &str, text: &str) -> (bool, String) {
    let path = dir.join(unit);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "--generators=no"])
        .arg(&path)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Lines of verify's output about our unit file (not about system units it loads too).
fn about<'a>(stderr: &'a str, dir: &Path, unit: &str) -> Vec<&'a str> {
    let dir = dir.to_string_lossy();
    stderr
        .lines()
        .filter(|l| l.contains(dir.as_ref()) || l.contains(unit))
        .collect()
}

#[test]
fn odd_but_legal_values_pass_systemd_analyze_verify() {
    let Some(analyze) = systemd_analyze() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // A bin_dir with every character that needs quoting or escaping: verify
    // looks the executable up, so a path that arrives changed fails.
    // (systemd refuses `"`, `'` and `\` there; so does validation.)
    let bin_dir = tmp.path().join("odd dir %h $HOME ${HOME} ; %%");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let exe = bin_dir.join("odd_exporter");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = format!(
        r#"apiVersion: exporterctl/v1
settings:
  bin_dir: '{}'
  manage_units: true
exporters:
  odd_exporter:
    version: "1.0.0"
    source:
      url: "https://example.org/x-{{version}}"
      sha256: "{}"
    environment:
      DATA_SOURCE_NAME: 'user:pa$s w%d\; "q" ''single'' $HOME ${{HOME}}'
      EMPTY: ""
    args: ["--a b", "$HOME", "${{HOME}}", "%h", "%%", ";", "\\", "\\;", "\"", "'", "x\"y\\z", "", "--web.listen-address=:9100"]
"#,
        bin_dir.display(),
        "0".repeat(64)
    );
    let m = Manifest::parse(&yaml, Path::new("m.yaml")).unwrap();
    let e = &m.exporters[0];
    let text = render_checked(&UnitParams {
        exporter: &e.name,
        exec: &m.settings.bin_dir.join(&e.name),
        args: &e.args,
        user: e.user.as_deref(),
        environment: &e.environment,
        sandbox: None,
        socket: None,
    })
    .unwrap();
    let units = tempfile::tempdir().unwrap();
    let (ok, stderr) = verify(&analyze, units.path(), "odd_exporter.service", &text);
    let ours = about(&stderr, units.path(), "odd_exporter.service");
    assert!(
        ok && ours.is_empty(),
        "systemd-analyze verify:\n{stderr}\nunit:\n{text}"
    );

    // The check can fail: the same unit with one specifier left unescaped
    // is refused, and an unescaped quote is warned about.
    let broken = text.replacen("\"%%h\"", "\"%z\"", 1);
    assert_ne!(broken, text);
    let (ok, stderr) = verify(&analyze, units.path(), "broken_exporter.service", &broken);
    assert!(!ok, "verify passed a unit with `%z`:\n{stderr}");
    let broken = text.replacen("DATA_SOURCE_NAME=", "DATA-SOURCE=", 1);
    let (_, stderr) = verify(&analyze, units.path(), "name_exporter.service", &broken);
    assert!(
        !about(&stderr, units.path(), "name_exporter.service").is_empty(),
        "verify did not warn about an invalid environment name:\n{stderr}"
    );
}

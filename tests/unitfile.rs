//! Generated unit files as the real systemd reads them (`systemd-analyze
//! verify`): odd but legal values — spaces, quotes, backslashes, `$`, `%`,
//! `;` — must pass without a warning, and the executable's path, which
//! verify looks up, must arrive as written.
//!
//! Where `systemd-analyze` is missing the tests say so and pass, unless
//! `EXPORTERCTL_REQUIRE_SYSTEMD_ANALYZE=1` (tests/run-all.sh sets it when it
//! runs as root, after installing the `systemd` package if needed).

use exporterctl::manifest::Manifest;
use exporterctl::units::unitfile::{render_checked, UnitParams};
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

/// The units of the manifest's first exporter, as the switch generates them.
fn units_of(yaml: &str) -> Vec<exporterctl::units::GeneratedUnit> {
    let m = Manifest::parse(yaml, Path::new("m.yaml")).unwrap();
    exporterctl::units::generated_units(&m.exporters[0].unit_spec(&m.settings)).unwrap()
}

fn exporter_yaml(bin_dir: &Path, body: &str) -> String {
    format!(
        "apiVersion: exporterctl/v1\nsettings:\n  bin_dir: '{}'\n  manage_units: true\nexporters:\n{body}",
        bin_dir.display()
    )
}

#[test]
fn socket_activated_units_render_and_pass_systemd_analyze_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    for name in ["node_exporter", "blackbox_exporter", "nginx_exporter"] {
        let exe = bin_dir.join(name);
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Debian's 1.5.0 build, its address in both spellings of the flag.
    let node = units_of(&exporter_yaml(
        &bin_dir,
        "  node_exporter:\n    version: \"1.5.0\"\n    args: [\"--collector.systemd\", \"--web.listen-address\", \"127.0.0.1:9100\", \"--web.listen-address=[::1]:9100\", \"--web.telemetry-path=/metrics\"]\n",
    ));
    assert_eq!(node.len(), 2);
    let (service, socket) = (&node[0], &node[1]);
    assert_eq!(
        (service.file.as_str(), service.rest.as_str()),
        ("node_exporter.service", "unit-node_exporter.service")
    );
    assert_eq!(
        (socket.file.as_str(), socket.rest.as_str()),
        ("node_exporter.socket", "unit-node_exporter.socket")
    );
    let exec = format!(
        "ExecStart={:?} \"--collector.systemd\" \"--web.telemetry-path=/metrics\" \"--web.systemd-socket\"\n",
        bin_dir.join("node_exporter").display().to_string()
    );
    assert!(service.text.contains(&exec), "want {exec}in\n{}", service.text);
    assert!(!service.text.contains("listen-address"), "{}", service.text);
    assert!(
        service
            .text
            .contains("\nRequires=node_exporter.socket\nAfter=node_exporter.socket\n"),
        "{}",
        service.text
    );
    assert!(
        socket
            .text
            .contains("\n[Socket]\nListenStream=127.0.0.1:9100\nListenStream=[::1]:9100\n"),
        "{}",
        socket.text
    );
    assert!(
        socket.text.contains("\nService=node_exporter.service\n"),
        "{}",
        socket.text
    );

    // blackbox: the catalogue's port, and the external URL it cannot infer.
    let blackbox = units_of(&exporter_yaml(
        &bin_dir,
        "  blackbox_exporter:\n    version: \"0.25.0\"\n",
    ));
    assert!(
        blackbox[1].text.contains("\nListenStream=9115\n"),
        "{}",
        blackbox[1].text
    );
    assert!(
        blackbox[0]
            .text
            .contains("\"--web.systemd-socket\" \"--web.external-url=http://localhost:9115/\"\n"),
        "{}",
        blackbox[0].text
    );
    // Before the flag (nginx 0.11), and turned off: no socket, the args as written.
    let nginx = units_of(&exporter_yaml(&bin_dir, "  nginx_exporter:\n    version: \"0.11.0\"\n"));
    assert_eq!(nginx.len(), 1);
    assert!(!nginx[0].text.contains("socket"), "{}", nginx[0].text);
    let off = units_of(&exporter_yaml(
        &bin_dir,
        "  node_exporter:\n    version: \"1.9.1\"\n    socket_activation: false\n    args: [\"--web.listen-address=localhost:9100\"]\n",
    ));
    assert_eq!(off.len(), 1);
    assert!(
        off[0].text.contains("\"--web.listen-address=localhost:9100\""),
        "{}",
        off[0].text
    );

    let Some(analyze) = systemd_analyze() else { return };
    for units in [&node, &blackbox] {
        let dir = tempfile::tempdir().unwrap();
        // Both files in one directory: verify loads the socket's service from it.
        std::fs::write(dir.path().join(&units[0].file), &units[0].text).unwrap();
        for u in units.iter().rev() {
            let (ok, stderr) = verify(&analyze, dir.path(), &u.file, &u.text);
            let ours = about(&stderr, dir.path(), &u.file);
            assert!(
                ok && ours.is_empty(),
                "systemd-analyze verify {}:\n{stderr}\nunit:\n{}",
                u.file,
                u.text
            );
        }
    }
    // The check can fail: a socket with a host name is refused.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&node[0].file), &node[0].text).unwrap();
    let broken = node[1]
        .text
        .replace("ListenStream=127.0.0.1:9100", "ListenStream=localhost:9100");
    let (ok, stderr) = verify(&analyze, dir.path(), "node_exporter.socket", &broken);
    assert!(
        !ok || !about(&stderr, dir.path(), "node_exporter.socket").is_empty(),
        "verify passed:\n{broken}"
    );
}

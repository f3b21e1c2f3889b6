//! Bad manifests are refused before anything is touched, with an error
//! naming the file, line, column and key, and exit status 2.

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_exporterctl");

const GOOD_SOURCE: &str = r#"    source:
      url: "https://example.org/x-{version}.linux-{arch}.tar.gz"
      checksums_url: "https://example.org/sha256sums.txt"
      binary: "x-{version}.linux-{arch}/x"
"#;

fn check(yaml: &str, want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, yaml).unwrap();
    let root = dir.path().join("root");
    for cmd in ["switch", "realise", "lock"] {
        let out = Command::new(EXE)
            .arg("--root")
            .arg(&root)
            .args([cmd, m.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        let want = format!("{}:{want}", m.display());
        assert!(err.contains(&want), "{cmd}: expected `{want}` in:\n{err}");
        assert!(!root.join("var").exists(), "{cmd} touched the state directory");
        assert!(!dir.path().join("m.yaml.lock").exists());
    }
}

fn manifest(exporter_body: &str) -> String {
    format!("apiVersion: exporterctl/v1\nexporters:\n  x:\n    version: \"1.0.0\"\n{exporter_body}")
}

#[test]
fn unknown_key() {
    check(
        &manifest(&format!("{GOOD_SOURCE}    restart_policy: always\n")),
        "9:5: exporters.x.restart_policy: unknown field",
    );
}

#[test]
fn send_token_over_plain_http_is_refused() {
    let settings = "apiVersion: exporterctl/v1\nsettings:\n  gitlab:\n    api_url: \"http://gitlab.internal.example/api/v4\"\n    send_token: true\n";
    check(
        &format!("{settings}exporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"),
        "5:17: settings.gitlab.send_token: would send GITLAB_TOKEN in clear text to `http://gitlab.internal.example/api/v4`",
    );
    let settings = "apiVersion: exporterctl/v1\nsettings:\n  github:\n    send_token: true\n    token: abc\n";
    check(
        &format!("{settings}exporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"),
        "5:5: settings.github.token: unknown field",
    );
}

#[test]
fn wrong_type() {
    check(
        &manifest(&format!("{GOOD_SOURCE}    args: 7\n")),
        "9:11: exporters.x.args: expected sequence",
    );
}

#[test]
fn bad_duration() {
    check(
        &manifest(&format!(
            "{GOOD_SOURCE}    health:\n      url: http://127.0.0.1:1/metrics\n      timeout: 3 fortnights\n"
        )),
        "11:16: exporters.x.health.timeout: `3 fortnights` is not a duration",
    );
}

#[test]
fn version_that_is_not_a_version() {
    let yaml = format!("apiVersion: exporterctl/v1\nexporters:\n  x:\n    version: \"v1.9.1\"\n{GOOD_SOURCE}");
    check(
        &yaml,
        "4:14: exporters.x.version: `v1.9.1` is not a version, `latest` or a range like `~1.9` (write `1.9.1` without the leading `v`)",
    );
    let yaml = format!("apiVersion: exporterctl/v1\nexporters:\n  x:\n    version: \"next week\"\n{GOOD_SOURCE}");
    check(&yaml, "4:14: exporters.x.version: `next week` is not a version");
}

#[test]
fn duplicate_exporter_names() {
    let one = format!("  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}");
    check(
        &format!("apiVersion: exporterctl/v1\nexporters:\n{one}{one}"),
        "9:3: exporters.x: duplicate key `x`",
    );
}

#[test]
fn relative_bin_dir() {
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  bin_dir: usr/local/bin\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
    );
    check(
        &yaml,
        "3:12: settings.bin_dir: `usr/local/bin` must be an absolute path",
    );
}

#[test]
fn bad_expectation() {
    check(
        &manifest(&format!(
            "{GOOD_SOURCE}    health:\n      url: http://127.0.0.1:1/metrics\n      expect: [\"nginx_up one\"]\n"
        )),
        "11:16: exporters.x.health.expect[0]: `nginx_up one` is not a sample",
    );
}

#[test]
fn args_for_a_hand_written_systemd_unit_are_refused_not_ignored() {
    // Default manager is systemd: `args` would never reach the unit.
    check(
        &manifest(&format!(
            "{GOOD_SOURCE}    manage_unit: false\n    args: [\"--web.listen-address=:9200\"]\n"
        )),
        "10:11: exporters.x.args: would not be applied",
    );
    check(
        &manifest(&format!("{GOOD_SOURCE}    manage_unit: false\n    user: prometheus\n")),
        "10:11: exporters.x.user: would not be applied",
    );
}

#[test]
fn unverifiable_source_is_refused_unless_insecure() {
    let src = "    source:\n      url: \"https://example.org/x\"\n";
    check(&manifest(src), "3:3: exporters.x.source: no way to verify the download");
}

#[test]
fn plain_http_needs_loopback_or_allow_http_at_download_time_not_parse_time() {
    // Parsing accepts any URL scheme that downloads understand; policy is
    // enforced by the fetcher (tests/fetch.rs). Here: a template typo.
    let src = "    source:\n      url: \"https://example.org/x-{os}\"\n      sha256: \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
    check(&manifest(src), "3:3: exporters.x.source: unknown placeholder `{os}`");
}

#[test]
fn unquoted_versions_keep_their_text() {
    let text = format!("apiVersion: exporterctl/v1\nexporters:\n  x:\n    version: 1.10\n{GOOD_SOURCE}");
    let m = exporterctl::manifest::Manifest::parse(&text, std::path::Path::new("m.yaml")).unwrap();
    assert_eq!(m.exporters[0].version, "1.10");
}

#[test]
fn an_empty_build_info_turns_the_catalogue_check_off() {
    let parse = |extra: &str| {
        let text = format!("apiVersion: exporterctl/v1\nexporters:\n  node_exporter:\n    version: \"1.9.1\"\n{extra}");
        exporterctl::manifest::Manifest::parse(&text, std::path::Path::new("m.yaml")).unwrap()
    };
    let default = parse("");
    assert_eq!(
        default.exporters[0].health.build_info.as_deref(),
        Some("node_exporter_build_info")
    );
    let off = parse("    health: { build_info: \"\" }\n");
    assert_eq!(off.exporters[0].health.build_info, None);
    assert!(off.exporters[0].health.url.is_some(), "the scrape itself stays");
}

#[test]
fn a_read_command_with_a_missing_root_is_an_error_not_an_empty_host() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("no-such-root");
    for args in [&["status"][..], &["generations"], &["store", "verify"]] {
        let out = Command::new(EXE).arg("--root").arg(&typo).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no such directory"), "{args:?}: {err}");
        assert!(!typo.exists(), "{args:?} created the root");
    }
    // A dry run reads the host if it is there, and creates nothing either way.
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, manifest(GOOD_SOURCE)).unwrap();
    let out = Command::new(EXE)
        .arg("--root")
        .arg(&typo)
        .args(["switch", m.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!typo.exists(), "the dry run created the root");
}

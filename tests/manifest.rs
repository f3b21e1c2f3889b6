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

/// An exporter whose unit exporterctl writes, with `extra` after `manage_unit` (from line 10).
fn managed(extra: &str) -> String {
    manifest(&format!("{GOOD_SOURCE}    manage_unit: true\n{extra}"))
}

#[test]
fn control_characters_that_would_reach_a_unit_are_refused() {
    // A carriage return ends a unit file line: the rest would be a directive.
    check(
        &managed("    args: [\"--a\", \"b\\rExecStartPre=/bin/sh -c id\"]\n"),
        "10:19: exporters.x.args[1]: `b\\rExecStartPre=/bin/sh -c id` contains the control character U+000D",
    );
    // A NUL cannot be passed to exec: it failed only after the flip.
    check(
        &managed("    environment:\n      A: \"x\\0y\"\n"),
        "11:10: exporters.x.environment.A: `x\\0y` contains the control character U+0000",
    );
    check(
        &managed("    environment:\n      A: \"x\\ny\"\n"),
        "11:10: exporters.x.environment.A: `x\\ny` contains the control character U+000A",
    );
    let settings = |k: &str| {
        format!(
            "apiVersion: exporterctl/v1\nsettings:\n  {k}: \"/usr/local\\r/bin\"\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
        )
    };
    check(
        &settings("bin_dir"),
        "3:12: settings.bin_dir: `/usr/local\\r/bin` contains the control character U+000D",
    );
    check(
        &settings("unit_dir"),
        "3:13: settings.unit_dir: `/usr/local\\r/bin` contains the control character U+000D",
    );
    // systemd refuses these in an executable's path.
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  bin_dir: '/opt/a\"b'\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
    );
    check(
        &yaml,
        "3:12: settings.bin_dir: `/opt/a\\\"b` contains `\"`, which systemd refuses in the path of an executable",
    );
    // The `process` manager passes args and environment to exec as well.
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  service_manager: process\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}    args: [\"a\\u0000b\"]\n"
    );
    check(
        &yaml,
        "11:12: exporters.x.args[0]: `a\\0b` contains the control character U+0000",
    );
}

#[test]
fn environment_names_must_be_names() {
    // `A=B: v` became `A` = `B=v` in the unit.
    check(
        &managed("    environment:\n      A=B: v\n"),
        "11:7: exporters.x.environment: `A=B` is not an environment variable name",
    );
    check(
        &managed("    environment:\n      \"\": v\n"),
        "11:7: exporters.x.environment: `` is not an environment variable name",
    );
    check(
        &managed("    environment:\n      \"A\\nB\": v\n"),
        "11:7: exporters.x.environment: `A\\nB` is not an environment variable name",
    );
    check(
        &managed("    environment:\n      1A: v\n"),
        "11:7: exporters.x.environment: `1A` is not an environment variable name",
    );
}

#[test]
fn odd_but_legal_values_are_kept_as_written() {
    let text = managed(
        "    environment:\n      DATA_SOURCE_NAME: \"user:pa$s w%d\\\\;\\\"q\"\n      _x9: \"\"\n    args: [\"--x=a b\", \"$HOME\", \"%h\", \";\"]\n",
    );
    let m = exporterctl::manifest::Manifest::parse(&text, std::path::Path::new("m.yaml")).unwrap();
    let e = &m.exporters[0];
    assert_eq!(e.environment["DATA_SOURCE_NAME"], "user:pa$s w%d\\;\"q");
    assert_eq!(e.environment["_x9"], "");
    assert_eq!(e.args, ["--x=a b", "$HOME", "%h", ";"]);
}

#[test]
fn two_exporters_sharing_one_unit_are_refused() {
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  manage_units: true\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}  y:\n    version: \"1.0.0\"\n    unit: x.service\n{GOOD_SOURCE}"
    );
    check(
        &yaml,
        "13:11: exporters.y.unit: `x.service` is also the unit of `x`; every exporter needs a unit of its own",
    );
    // The default unit name counts too.
    let yaml = format!(
        "apiVersion: exporterctl/v1\nexporters:\n  x:\n    version: \"1.0.0\"\n    unit: y.service\n{GOOD_SOURCE}  y:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
    );
    check(&yaml, "10:3: exporters.y.unit: `y.service` is also the unit of `x`");
}

#[test]
fn durations_are_bounded() {
    // These passed, then the switch panicked after the flip (and on resume).
    check(
        &manifest(&format!("{GOOD_SOURCE}    health:\n      timeout: 400000000000y\n")),
        "10:16: exporters.x.health.timeout: `400000000000y` is longer than the maximum of 1h",
    );
    check(
        &manifest(&format!("{GOOD_SOURCE}    health:\n      settle: 2h\n")),
        "10:15: exporters.x.health.settle: `2h` is longer than the maximum of 1h",
    );
    for (key, col) in [("pause_standard", 19), ("pause_safe", 15)] {
        let yaml = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  {key}: 400000000000y\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
        );
        check(
            &yaml,
            &format!("3:{col}: settings.{key}: `400000000000y` is longer than the maximum of 1day"),
        );
    }
    // The maxima themselves are fine.
    let text = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  pause_safe: 24h\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}    health:\n      timeout: 1h\n      settle: 60m\n"
    );
    exporterctl::manifest::Manifest::parse(&text, std::path::Path::new("m.yaml")).unwrap();
}

#[test]
fn drain_is_a_bounded_duration() {
    check(
        &manifest(&format!("{GOOD_SOURCE}    health:\n      drain: 2m\n")),
        "10:14: exporters.x.health.drain: `2m` is longer than the maximum of 1m",
    );
    check(
        &manifest(&format!("{GOOD_SOURCE}    health:\n      drain: soon\n")),
        "10:14: exporters.x.health.drain: `soon` is not a duration",
    );
    let parse = |extra: &str| {
        let text = manifest(&format!("{GOOD_SOURCE}{extra}"));
        exporterctl::manifest::Manifest::parse(&text, std::path::Path::new("m.yaml")).unwrap()
    };
    assert_eq!(parse("").exporters[0].health.drain, std::time::Duration::from_secs(2));
    assert_eq!(
        parse("    health:\n      drain: 0s\n").exporters[0].health.drain,
        std::time::Duration::ZERO
    );
    assert_eq!(
        parse("    health:\n      drain: 1m\n").exporters[0].health.drain,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn bin_dir_or_unit_dir_inside_the_state_directory_is_refused() {
    for (key, col, dir) in [
        ("bin_dir", 12, "/var/lib/exporterctl/profiles"),
        ("unit_dir", 13, "/var/lib/exporterctl"),
        ("bin_dir", 12, "/var/lib/exporterctl/store/"),
    ] {
        let yaml = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  {key}: {dir}\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
        );
        check(
            &yaml,
            &format!("3:{col}: settings.{key}: `{dir}` is inside exporterctl's state directory /var/lib/exporterctl"),
        );
    }
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  bin_dir: /var/lib/exporterctl-bin\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
    );
    exporterctl::manifest::Manifest::parse(&yaml, std::path::Path::new("m.yaml")).unwrap();
}

/// node_exporter (in the catalogue) at `version`, its unit written by exporterctl, `extra` from line 6.
fn node(version: &str, extra: &str) -> String {
    format!(
        "apiVersion: exporterctl/v1\nexporters:\n  node_exporter:\n    version: \"{version}\"\n    manage_unit: true\n{extra}"
    )
}

#[test]
fn socket_activation_needs_an_address_a_socket_unit_can_take() {
    // Outside the catalogue, the port is not known.
    check(
        &managed("    socket_activation: true\n"),
        "10:24: exporters.x.socket_activation: no `--web.listen-address=ADDRESS` in `args`, and `x` is not in the \
         catalogue",
    );
    // systemd resolves no host names in ListenStream=.
    check(
        &managed("    socket_activation: true\n    args: [\"--web.listen-address=localhost:9100\"]\n"),
        "10:24: exporters.x.socket_activation: listen address `localhost:9100` is not IP:PORT, [IPv6]:PORT or :PORT",
    );
    check(
        &managed("    socket_activation: true\n    args: [\"--web.listen-address\", \":0\"]\n"),
        "10:24: exporters.x.socket_activation: listen address `:0`: `0` is not a port",
    );
    // On by default where the catalogue says the version accepts the flag:
    // the address is checked then too, and the way out named.
    check(
        &node("1.5.0", "    args: [\"--web.listen-address=localhost:9100\"]\n"),
        "6:11: exporters.node_exporter.socket_activation: listen address `localhost:9100` is not IP:PORT",
    );
    let yaml = node("1.5.0", "    args: [\"--web.listen-address=localhost:9100\"]\n");
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(&m, &yaml).unwrap();
    let out = Command::new(EXE)
        .args(["--root", dir.path().to_str().unwrap(), "switch", m.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the catalogue turns socket activation on for this version; `socket_activation: false` keeps"),
        "{err}"
    );
}

#[test]
fn socket_activation_is_refused_where_it_cannot_apply() {
    check(
        &node("1.4.0", "    socket_activation: true\n"),
        "6:24: exporters.node_exporter.socket_activation: node_exporter 1.4.0 would not start with \
         `--web.systemd-socket` (it accepts `--web.systemd-socket` from 1.5.0 on)",
    );
    check(
        &managed("    args: [\"--web.systemd-socket\"]\n"),
        "10:12: exporters.x.args[0]: exporterctl adds `--web.systemd-socket` itself",
    );
    let yaml = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  service_manager: process\nexporters:\n  x:\n    version: \"1.0.0\"\n{GOOD_SOURCE}    socket_activation: true\n"
    );
    check(
        &yaml,
        "11:24: exporters.x.socket_activation: would not be applied: the socket unit is written with the service unit",
    );
    check(
        &manifest(&format!(
            "{GOOD_SOURCE}    manage_unit: false\n    socket_activation: true\n"
        )),
        "10:24: exporters.x.socket_activation: would not be applied",
    );
}

#[test]
fn a_control_character_in_any_refused_value_is_shown_escaped_never_raw() {
    // A raw carriage return in the message let the terminal hide what came
    // before it (`nobody\rExecStartPre=…` printed as `ExecStartPre=…`).
    check(
        &managed("    user: \"nobody\\rExecStartPre=/bin/sh\"\n"),
        "10:11: exporters.x.user: `nobody\\rExecStartPre=/bin/sh` is not a user name",
    );
    check(
        &managed("    unit: \"x\\r.service\"\n"),
        "10:11: exporters.x.unit: `x\\r.service` is not a service unit name like `x.service`",
    );
}

#[test]
fn an_exporter_whose_link_would_be_the_state_directory_is_refused() {
    // Refused only after downloading, as "a directory exporterctl did not
    // create" with advice to adopt it.
    for (dir, name) in [("/var/lib", "exporterctl"), ("/var", "lib")] {
        let yaml = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  bin_dir: {dir}\nexporters:\n  {name}:\n    version: \"1.0.0\"\n{GOOD_SOURCE}"
        );
        check(
            &yaml,
            &format!(
                "5:3: exporters.{name}: its link {dir}/{name} in bin_dir would take the place of exporterctl's state directory"
            ),
        );
    }
}

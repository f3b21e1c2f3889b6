//! The built-in catalogue against a fake forge on 127.0.0.1 that answers like
//! GitHub and GitLab: every entry realises for amd64 and arm64 from two-line
//! manifests, `latest` and ranges resolve, missing versions name the nearest
//! ones, tokens are sent (to a forge opted in with `send_token`, never to a
//! mirror) but never shown, rate limits give advice, a moved repository still
//! works, and a mirror serves hosts cut off from the forge.

mod common;

use common::fixture::EXE;
use common::forge::{fake_binary, real_layout, release_bytes, Forge};
use common::server::Fault;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Catalogue entry → the version the tests publish.
const ENTRIES: &[(&str, &str)] = &[
    ("node_exporter", "1.9.1"),
    ("nginx_exporter", "1.5.1"),
    ("mysqld_exporter", "0.18.0"),
    ("php-fpm_exporter", "2.2.0"),
    ("fail2ban_exporter", "0.10.3"),
    ("blackbox_exporter", "0.25.0"),
    ("postgres_exporter", "0.17.1"),
    ("redis_exporter", "1.67.0"),
    ("statsd_exporter", "0.28.0"),
];

const TOKEN: &str = "ghp_T0pS3cr3tT0k3nValue";
const GL_TOKEN: &str = "glpat-S3cr3tGitLabT0k3n";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(EXE);
    cmd.arg("--root").arg(root).args(args);
    for v in ["GITHUB_TOKEN", "GITLAB_TOKEN", "EXPORTERCTL_CA_BUNDLE", "RUST_LOG"] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn expect(root: &Path, args: &[&str], env: &[(&str, &str)], code: i32) -> Run {
    let r = run(root, args, env);
    assert_eq!(
        r.code,
        Some(code),
        "exporterctl {args:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    r
}

fn manifest(dir: &Path, file: &str, settings: &str, exporters: &str) -> PathBuf {
    let text =
        format!("apiVersion: exporterctl/v1\nsettings:\n  service_manager: none\n{settings}exporters:\n{exporters}");
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

fn realised(root: &Path, m: &Path, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let r = expect(root, &["realise", m.to_str().unwrap(), "--json"], env, 0);
    serde_json::from_str::<Vec<serde_json::Value>>(&r.stdout).unwrap()
}

/// The binary realised for `name` says it is `version` for `arch`.
fn assert_binary(rows: &[serde_json::Value], name: &str, version: &str, arch: &str, entry: &str) {
    let row = rows
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not realised"));
    assert_eq!(row["version"], version, "{name}");
    let bin = Path::new(row["path"].as_str().unwrap()).join("bin").join(name);
    let got = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert_eq!(
        got,
        fake_binary(entry, version, arch),
        "{name}: wrong binary in {}",
        bin.display()
    );
}

#[test]
fn every_catalogue_entry_realises_for_amd64_and_arm64() {
    let forge = Forge::start();
    for (name, version) in ENTRIES {
        forge.publish(name, version, &["amd64", "arm64"]);
    }
    // fail2ban before 0.8: tags without `v`, `checksums.txt`, a wrapping directory.
    forge.publish("fail2ban_exporter", "0.7.1", &["amd64", "arm64"]);
    let tmp = tempfile::tempdir().unwrap();
    for arch in ["amd64", "arm64"] {
        let mut exporters: String = ENTRIES
            .iter()
            .map(|(n, v)| format!("  {n}: {{ version: \"{v}\" }}\n"))
            .collect();
        exporters.push_str("  f2b_old: { catalogue: fail2ban_exporter, version: \"0.7.1\" }\n");
        let m = manifest(
            tmp.path(),
            &format!("{arch}.yaml"),
            &format!("  arch: {arch}\n{}", forge.settings_yaml()),
            &exporters,
        );
        let root = tmp.path().join(format!("root-{arch}"));
        let rows = realised(&root, &m, &[]);
        for (name, version) in ENTRIES {
            assert_binary(&rows, name, version, arch, name);
        }
        assert_binary(&rows, "f2b_old", "0.7.1", arch, "fail2ban_exporter");
    }
    // Pinned versions need no API call.
    assert!(forge.api_requests().is_empty(), "{:?}", forge.api_requests());
}

/// Old releases as upstream's release tooling laid them out (the audit in
/// issue 14): each realises from the fake forge, which serves nothing else.
#[test]
fn old_release_layouts_realise() {
    let forge = Forge::start();
    // fail2ban 0.5.0: tag `0.5.0` (no `v`), the old project name.
    forge.publish("fail2ban_exporter", "0.5.0", &["amd64", "386"]);
    // nginx 0.8.0: dashes, i386 for 386, sha256sums.txt; 0.11.0: goreleaser names, sha256sums.txt.
    forge.publish("nginx_exporter", "0.8.0", &["amd64", "386"]);
    forge.publish("nginx_exporter", "0.11.0", &["amd64", "386"]);
    // postgres 0.8.0: mage build, no checksum file (pinned below).
    forge.publish("postgres_exporter", "0.8.0", &["amd64", "386"]);
    // redis 1.0.0: 386 and amd64 only.
    forge.publish("redis_exporter", "1.0.0", &["amd64", "386"]);
    let tmp = tempfile::tempdir().unwrap();
    for arch in ["amd64", "386"] {
        let pg = real_layout("postgres_exporter", "0.8.0", arch);
        let pg_sha = common::fixture::sha256_hex(&release_bytes(&pg, "postgres_exporter", "0.8.0", arch));
        let exporters = format!(
            "  fail2ban_exporter: {{ version: \"0.5.0\" }}\n  nginx_exporter: {{ version: \"0.8.0\" }}\n  \
             nginx_new: {{ catalogue: nginx_exporter, version: \"0.11.0\" }}\n  \
             postgres_exporter: {{ version: \"0.8.0\", source: {{ sha256: \"{pg_sha}\" }} }}\n  \
             redis_exporter: {{ version: \"1.0.0\" }}\n"
        );
        let m = manifest(
            tmp.path(),
            &format!("old-{arch}.yaml"),
            &format!("  arch: \"{arch}\"\n{}", forge.settings_yaml()),
            &exporters,
        );
        let rows = realised(&tmp.path().join(format!("root-{arch}")), &m, &[]);
        assert_binary(&rows, "fail2ban_exporter", "0.5.0", arch, "fail2ban_exporter");
        assert_binary(&rows, "nginx_exporter", "0.8.0", arch, "nginx_exporter");
        assert_binary(&rows, "nginx_new", "0.11.0", arch, "nginx_exporter");
        assert_binary(&rows, "postgres_exporter", "0.8.0", arch, "postgres_exporter");
        assert_binary(&rows, "redis_exporter", "1.0.0", arch, "redis_exporter");
    }
    // fail2ban 0.5.0 was fetched by its real tag.
    let reqs: Vec<String> = forge.server.recorded().into_iter().map(|r| r.path).collect();
    assert!(
        reqs.iter().any(|p| p.contains("/-/releases/0.5.0/downloads/")),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|p| p.contains("/v0.5.0/")), "{reqs:?}");
}

#[test]
fn latest_and_ranges_resolve_and_the_lock_pins_them() {
    let forge = Forge::start();
    for v in ["1.9.1", "1.8.2"] {
        forge.publish("node_exporter", v, &["amd64"]);
    }
    forge.publish("fail2ban_exporter", "0.10.3", &["amd64"]);
    forge.publish("nginx_exporter", "1.5.1", &["amd64"]);
    forge.list_releases(
        "node_exporter",
        &[
            ("1.10.0-rc.0", true),
            ("1.9.1", false),
            ("1.8.2", false),
            ("1.7.0", false),
        ],
    );
    forge.list_releases(
        "fail2ban_exporter",
        &[("0.10.3", false), ("0.7.1", false), ("0.5.0", false), ("0.4.0", false)],
    );
    // 1.5.2 is retracted: `latest` must never pick it.
    forge.list_releases(
        "nginx_exporter",
        &[("1.5.2", false), ("1.5.1", false), ("1.1.0", false)],
    );
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "latest.yaml",
        &format!("  arch: amd64\n{}", forge.settings_yaml()),
        "  node_exporter: { version: latest }\n  node_old: { catalogue: node_exporter, version: \"~1.8\" }\n  fail2ban_exporter: { version: latest }\n  nginx_exporter: { version: latest }\n",
    );
    let root = tmp.path().join("root");
    let rows = realised(&root, &m, &[]);
    assert_binary(&rows, "node_exporter", "1.9.1", "amd64", "node_exporter");
    assert_binary(&rows, "node_old", "1.8.2", "amd64", "node_exporter");
    assert_binary(&rows, "fail2ban_exporter", "0.10.3", "amd64", "fail2ban_exporter");
    assert_binary(&rows, "nginx_exporter", "1.5.1", "amd64", "nginx_exporter");

    expect(&root, &["lock", m.to_str().unwrap()], &[], 0);
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("latest.yaml.lock")).unwrap()).unwrap();
    let versions: Vec<&str> = lock["exporters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.9.1", "1.8.2", "0.10.3", "1.5.1"]);

    // With the lock, `latest` needs no API: a rate-limited API changes nothing.
    forge.server.clear_requests();
    let r = real_layout("node_exporter", "0", "amd64");
    forge
        .server
        .fail_next(&forge.api_path(&r), 100, Fault::RateLimited { reset: 4_000_000_000 });
    let fresh = tmp.path().join("fresh");
    let rows = realised(&fresh, &m, &[]);
    assert_binary(&rows, "node_exporter", "1.9.1", "amd64", "node_exporter");
    assert!(forge.api_requests().is_empty(), "{:?}", forge.api_requests());

    // Without a lock, the rate limit is reported with its reset time and advice.
    std::fs::remove_file(tmp.path().join("latest.yaml.lock")).unwrap();
    let out = expect(&tmp.path().join("fresh2"), &["realise", m.to_str().unwrap()], &[], 1);
    assert!(out.stderr.contains("rate limit"), "{}", out.stderr);
    assert!(out.stderr.contains("2096-10-02T07:06:40Z"), "{}", out.stderr);
    assert!(
        out.stderr.contains("GITHUB_TOKEN") && out.stderr.contains("mirror"),
        "{}",
        out.stderr
    );
    // Said once: the cause is not repeated after a message that already holds it.
    assert_eq!(out.stderr.matches("2096-10-02T07:06:40Z").count(), 1, "{}", out.stderr);
}

#[test]
fn missing_and_retracted_versions_are_refused_with_the_nearest_ones() {
    let forge = Forge::start();
    forge.publish("php-fpm_exporter", "2.2.0", &["amd64"]);
    forge.publish("fail2ban_exporter", "0.5.0", &["amd64"]);
    forge.list_releases(
        "php-fpm_exporter",
        &[("2.2.0", false), ("2.1.4", false), ("2.0.0", false)],
    );
    forge.list_releases(
        "fail2ban_exporter",
        &[("0.10.3", false), ("0.7.1", false), ("0.5.0", false), ("0.4.0", false)],
    );
    let tmp = tempfile::tempdir().unwrap();
    let settings = format!("  arch: amd64\n{}", forge.settings_yaml());
    let m = manifest(
        tmp.path(),
        "missing.yaml",
        &settings,
        "  php-fpm_exporter: { version: \"2.3.0\" }\n  fail2ban_exporter: { version: \"0.4.1\" }\n",
    );
    let root = tmp.path().join("root");
    let out = expect(&root, &["check", m.to_str().unwrap()], &[], 1);
    assert!(
        out.stdout.contains("php-fpm_exporter 2.3.0 does not exist upstream")
            && out.stdout.contains("nearest existing: 2.2.0"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("nearest existing: 0.4.0, 0.5.0"), "{}", out.stdout);
    let out = expect(&root, &["realise", m.to_str().unwrap()], &[], 2);
    assert!(out.stderr.contains("nearest existing: 2.2.0"), "{}", out.stderr);
    assert!(
        out.stderr.contains("fail2ban_exporter 0.4.1 does not exist"),
        "{}",
        out.stderr
    );

    let m = manifest(
        tmp.path(),
        "retracted.yaml",
        &settings,
        "  nginx_exporter: { version: \"1.5.2\" }\n",
    );
    let out = expect(&root, &["check", m.to_str().unwrap()], &[], 2);
    assert!(
        out.stderr
            .contains("retracted.yaml:8:30: exporters.nginx_exporter.version")
            && out.stderr.contains("retracted upstream"),
        "{}",
        out.stderr
    );

    // `versions` lists what exists, newest first, and marks the retracted one.
    forge.list_releases(
        "nginx_exporter",
        &[("1.5.1", false), ("1.5.3", false), ("1.5.2", false)],
    );
    let m = manifest(
        tmp.path(),
        "ok.yaml",
        &settings,
        "  nginx_exporter: { version: \"1.5.1\" }\n",
    );
    let out = expect(
        &root,
        &["versions", "nginx_exporter", "--manifest", m.to_str().unwrap()],
        &[],
        0,
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("1.5.3") && lines[0].contains("latest"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("1.5.2") && lines[1].contains("retracted"),
        "{}",
        out.stdout
    );
    let out = expect(
        &root,
        &[
            "versions",
            "nginx_exporter",
            "--manifest",
            m.to_str().unwrap(),
            "--json",
        ],
        &[],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[1]["version"], "1.5.2");
    assert_eq!(v[1]["retracted"], true);
    assert_eq!(v[0]["tag"], "v1.5.3");
}

#[test]
fn check_resolves_assets_without_installing() {
    let forge = Forge::start();
    forge.publish("node_exporter", "1.9.1", &["amd64"]);
    forge.publish("fail2ban_exporter", "0.10.3", &["amd64"]);
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "m.yaml",
        &format!("  arch: amd64\n{}", forge.settings_yaml()),
        "  node_exporter: { version: \"1.9.1\" }\n  fail2ban_exporter: { version: \"0.10.3\" }\n",
    );
    let root = tmp.path().join("root");
    let out = expect(&root, &["check", m.to_str().unwrap(), "--json"], &[], 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|c| c["problems"].as_array().unwrap().is_empty()),
        "{v}"
    );
    assert!(v[0]["sha256"].as_str().unwrap().len() == 64);
    // HEAD for the assets, GET for the checksum files; nothing stored.
    let heads = forge.server.recorded().iter().filter(|r| r.method == "HEAD").count()
        + forge.objects.recorded().iter().filter(|r| r.method == "HEAD").count();
    assert!(heads >= 2, "{:?}", forge.server.recorded());
    assert!(!root.join("var/lib/exporterctl/store").exists());
    assert!(!root.join("var/lib/exporterctl/cache/downloads").exists());
    assert!(forge.api_requests().is_empty());

    // Generated units are rated (or say why they are not); hand-written ones are not.
    let m = tmp.path().join("units.yaml");
    std::fs::write(
        &m,
        format!(
            "apiVersion: exporterctl/v1\nsettings:\n  service_manager: systemd\n  arch: amd64\n{}exporters:\n  \
             node_exporter: {{ version: \"1.9.1\", manage_unit: true }}\n  fail2ban_exporter: {{ version: \"0.10.3\" }}\n",
            forge.settings_yaml()
        ),
    )
    .unwrap();
    let out = expect(&root, &["check", m.to_str().unwrap()], &[], 0);
    assert!(
        out.stdout.contains("unit security: node_exporter.service ") && out.stdout.contains("(sandboxed"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("fail2ban_exporter.service"), "{}", out.stdout);
}

/// A GitHub and a GitLab exporter at `latest` (API calls, downloads and
/// checksum files) from the fake forge, with the settings `settings` gives.
fn token_setup(settings: impl Fn(&Forge) -> String) -> (Forge, tempfile::TempDir, std::path::PathBuf) {
    let forge = Forge::start();
    forge.publish("node_exporter", "1.9.1", &["amd64"]);
    forge.publish("fail2ban_exporter", "0.10.3", &["amd64"]);
    forge.list_releases("node_exporter", &[("1.9.1", false)]);
    forge.list_releases("fail2ban_exporter", &[("0.10.3", false)]);
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "m.yaml",
        &format!("  arch: amd64\n{}", settings(&forge)),
        "  node_exporter: { version: latest }\n  fail2ban_exporter: { version: latest }\n",
    );
    (forge, tmp, m)
}

#[test]
fn tokens_are_sent_as_headers_and_never_shown() {
    let (forge, tmp, m) = token_setup(|f: &Forge| f.settings_yaml());
    let root = tmp.path().join("root");
    let env = [
        ("GITHUB_TOKEN", TOKEN),
        ("GITLAB_TOKEN", GL_TOKEN),
        ("RUST_LOG", "trace"),
    ];
    let out = expect(&root, &["-vv", "realise", m.to_str().unwrap()], &env, 0);
    for secret in [TOKEN, GL_TOKEN] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "token leaked:\n{}",
            out.stderr
        );
    }
    let api = forge.api_requests();
    let gh = api
        .iter()
        .find(|r| r.path.starts_with("/api/github/"))
        .expect("GitHub API used");
    assert_eq!(gh.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let gl = api
        .iter()
        .find(|r| r.path.starts_with("/gitlab/api/"))
        .expect("GitLab API used");
    assert_eq!(gl.header("private-token"), Some(GL_TOKEN));
    // The download from github.com carries it; GitHub's object storage (another origin) never sees it.
    assert!(forge.objects.request_count() > 0);
    assert!(forge
        .objects
        .recorded()
        .iter()
        .all(|r| r.header("authorization").is_none()));

    // A rate limit with a token set: reported, with advice, still without the token.
    let r = real_layout("node_exporter", "0", "amd64");
    forge
        .server
        .fail_next(&forge.api_path(&r), 10, Fault::RateLimited { reset: 4_000_000_000 });
    let out = expect(
        &root,
        &["-vv", "versions", "node_exporter", "--manifest", m.to_str().unwrap()],
        &env,
        1,
    );
    assert!(
        out.stderr.contains("rate limit") && out.stderr.contains("GITHUB_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN),
        "{}",
        out.stderr
    );
}

/// Any request to either server that carried a token header.
fn token_requests(forge: &Forge) -> Vec<String> {
    forge
        .server
        .recorded()
        .into_iter()
        .chain(forge.objects.recorded())
        .filter(|r| r.header("authorization").is_some() || r.header("private-token").is_some())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn tokens_are_not_sent_to_a_mirror_without_send_token() {
    let (forge, tmp, m) = token_setup(|f: &Forge| f.mirror_settings_yaml());
    let root = tmp.path().join("root");
    let env = [("GITHUB_TOKEN", TOKEN), ("GITLAB_TOKEN", GL_TOKEN)];
    let m = m.to_str().unwrap();
    // API calls (latest), downloads and checksum files; then HEADs and checksum files.
    for args in [vec!["-vv", "realise", m], vec!["-vv", "check", m]] {
        let out = expect(&root, &args, &env, 0);
        for secret in [TOKEN, GL_TOKEN] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{args:?}: token leaked:\n{}",
                out.stderr
            );
        }
        // Said once per forge and run, naming the origin only.
        let origin = forge.server.url();
        for var in ["GITHUB_TOKEN", "GITLAB_TOKEN"] {
            let line = format!("{var} is set but not sent to {origin}");
            assert_eq!(out.stderr.matches(&line).count(), 1, "{args:?}: {line}\n{}", out.stderr);
        }
    }
    assert!(forge.api_requests().len() >= 2, "{:?}", forge.server.requests());
    assert!(forge.objects.request_count() > 0);
    assert_eq!(token_requests(&forge), Vec::<String>::new());
}

#[test]
fn a_checksum_file_on_another_origin_gets_no_token() {
    let forge = Forge::start();
    forge.publish("node_exporter", "1.9.1", &["amd64"]);
    // The release's checksum file named by its full URL on the object server.
    let sums = forge
        .objects
        .url_of("/objects/prometheus/node_exporter/v1.9.1/sha256sums.txt");
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "m.yaml",
        &format!("  arch: amd64\n{}", forge.settings_yaml()),
        &format!("  node_exporter:\n    version: \"1.9.1\"\n    source: {{ checksums: \"{sums}\" }}\n"),
    );
    let root = tmp.path().join("root");
    let env = [("GITHUB_TOKEN", TOKEN)];
    for cmd in ["realise", "check"] {
        expect(&root, &[cmd, m.to_str().unwrap()], &env, 0);
    }
    let direct = forge.objects.recorded();
    assert!(direct.iter().any(|r| r.path.ends_with("/sha256sums.txt")), "{direct:?}");
    assert!(direct.iter().all(|r| r.header("authorization").is_none()));
    // The asset itself, on the opted-in forge, still carries it.
    assert!(forge
        .server
        .recorded()
        .iter()
        .any(|r| r.path.ends_with(".tar.gz") && r.header("authorization").is_some()));
}

#[test]
fn a_moved_repository_is_followed() {
    let forge = Forge::start();
    forge.publish("nginx_exporter", "1.5.1", &["amd64"]);
    forge.list_releases("nginx_exporter", &[("1.5.1", false), ("1.1.0", false)]);
    // nginxinc/… moved to nginx/…: the old paths redirect, API and downloads alike.
    forge.server.redirect_prefix(
        "/nginxinc/nginx-prometheus-exporter/",
        "/nginx/nginx-prometheus-exporter/",
    );
    forge.server.redirect_prefix(
        "/api/github/repos/nginxinc/nginx-prometheus-exporter/",
        "/api/github/repos/nginx/nginx-prometheus-exporter/",
    );
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "moved.yaml",
        &format!("  arch: amd64\n{}", forge.settings_yaml()),
        "  nginx_exporter:\n    version: latest\n    source: { github: nginxinc/nginx-prometheus-exporter }\n",
    );
    let rows = realised(&tmp.path().join("root"), &m, &[("GITHUB_TOKEN", TOKEN)]);
    assert_binary(&rows, "nginx_exporter", "1.5.1", "amd64", "nginx_exporter");
    assert!(forge
        .server
        .requests()
        .iter()
        .any(|p| p.starts_with("/api/github/repos/nginxinc/")));
}

#[test]
fn a_mirror_serves_hosts_cut_off_from_the_forge() {
    let forge = Forge::start();
    forge.publish("node_exporter", "1.9.1", &["arm64"]);
    forge.publish("php-fpm_exporter", "2.2.0", &["arm64"]);
    forge.publish("fail2ban_exporter", "0.10.3", &["arm64"]);
    let tmp = tempfile::tempdir().unwrap();
    let exporters = "  node_exporter: { version: \"1.9.1\" }\n  php-fpm_exporter: { version: \"2.2.0\" }\n  fail2ban_exporter: { version: \"0.10.3\" }\n";
    let online = tmp.path().join("online");
    std::fs::create_dir(&online).unwrap();
    let m = manifest(
        &online,
        "m.yaml",
        &format!("  arch: arm64\n{}", forge.settings_yaml()),
        exporters,
    );
    let root = tmp.path().join("root");
    expect(&root, &["lock", m.to_str().unwrap()], &[], 0);
    let dir = tmp.path().join("mirror");
    expect(&root, &["mirror", m.to_str().unwrap(), dir.to_str().unwrap()], &[], 0);
    for f in [
        "prometheus/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-arm64.tar.gz",
        "prometheus/node_exporter/releases/download/v1.9.1/sha256sums.txt",
        "hipages/php-fpm_exporter/releases/download/v2.2.0/php-fpm_exporter_2.2.0_linux_arm64",
        "hctrdev/fail2ban-prometheus-exporter/-/releases/v0.10.3/downloads/fail2ban_exporter_0.10.3_linux_arm64.tar.gz",
        "hctrdev/fail2ban-prometheus-exporter/-/releases/v0.10.3/downloads/fail2ban_exporter_0.10.3_checksums.txt",
    ] {
        assert!(dir.join(f).is_file(), "{f} not mirrored");
    }
    // Cut the network to the forge.
    let dead = forge.server.url();
    drop(forge);
    let offline = tmp.path().join("offline");
    std::fs::create_dir(&offline).unwrap();
    let url = format!("file://{}", dir.display());
    let settings = format!(
        "  arch: arm64\n  github: {{ api_url: \"{dead}/api\", download_url: \"{url}\" }}\n  gitlab: {{ api_url: \"{dead}/api\", download_url: \"{url}\" }}\n"
    );
    // Without a lock: verified by the mirrored checksum files.
    let m2 = manifest(&offline, "m.yaml", &settings, exporters);
    let rows = realised(&tmp.path().join("root2"), &m2, &[]);
    assert_binary(&rows, "node_exporter", "1.9.1", "arm64", "node_exporter");
    assert_binary(&rows, "php-fpm_exporter", "2.2.0", "arm64", "php-fpm_exporter");
    assert_binary(&rows, "fail2ban_exporter", "0.10.3", "arm64", "fail2ban_exporter");
    // With the lock made online: the same files from another base are the same release.
    std::fs::copy(online.join("m.yaml.lock"), offline.join("m.yaml.lock")).unwrap();
    let rows = realised(&tmp.path().join("root3"), &m2, &[]);
    assert_binary(&rows, "node_exporter", "1.9.1", "arm64", "node_exporter");
}

#[test]
fn a_rate_limit_reset_past_year_9999_is_reported_not_a_panic() {
    // `X-RateLimit-Reset: 300000000000` made `versions` and `latest` panic
    // while formatting the date (exit 101).
    let (forge, tmp, m) = token_setup(|f: &Forge| f.settings_yaml());
    let root = tmp.path().join("root");
    let r = real_layout("node_exporter", "0", "amd64");
    forge
        .server
        .fail_next(&forge.api_path(&r), 100, Fault::RateLimited { reset: 300_000_000_000 });
    let versions = ["versions", "node_exporter", "--manifest", m.to_str().unwrap()];
    for args in [&versions[..], &["realise", m.to_str().unwrap()][..]] {
        let out = expect(&root, args, &[], 1);
        assert!(
            out.stderr.contains("rate limit") && out.stderr.contains("300000000000"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn check_names_a_catalogued_flag_change_and_the_args_to_use() {
    let forge = Forge::start();
    forge.publish("fail2ban_exporter", "0.10.3", &["amd64"]);
    forge.publish("nginx_exporter", "1.5.1", &["amd64"]);
    let tmp = tempfile::tempdir().unwrap();
    let m = manifest(
        tmp.path(),
        "m.yaml",
        &format!("  arch: amd64\n{}", forge.settings_yaml()),
        "  fail2ban_exporter: { version: \"0.10.3\", args: [\"--socket=/run/fail2ban/fail2ban.sock\"] }\n  \
         nginx_exporter: { version: \"1.5.1\", args: [\"-nginx.scrape-uri=http://127.0.0.1:8080/stub_status\"] }\n",
    );
    let root = tmp.path().join("root");
    let out = expect(&root, &["check", m.to_str().unwrap()], &[], 1);
    assert!(
        out.stdout.contains(
            "flag change fail2ban_exporter 0.10.3: `--socket=/run/fail2ban/fail2ban.sock`: 0.6.0 renamed --socket \
             to --collector.f2b.socket (and requires two dashes); use args: [\"--collector.f2b.socket=/run/fail2ban/fail2ban.sock\"]"
        ),
        "{}",
        out.stdout
    );
    // A single-dash flag still works in nginx 1.5: a warning, not a problem.
    assert!(
        out.stdout.contains("flag warning nginx_exporter 1.5.1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 with problems"), "{}", out.stdout);
    let out = expect(&root, &["check", m.to_str().unwrap(), "--json"], &[], 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v[0]["flag_changes"][0]["args"][0],
        "--collector.f2b.socket=/run/fail2ban/fail2ban.sock"
    );
    assert_eq!(v[1]["flag_changes"][0]["breaking"], false);
}

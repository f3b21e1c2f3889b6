//! Manifests that lean on the built-in catalogue.

use super::*;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("m.yaml"))
}

fn with(settings: &str, exporters: &str) -> String {
    format!("apiVersion: exporterctl/v1\nsettings:\n  arch: amd64\n{settings}exporters:\n{exporters}")
}

#[test]
fn two_line_entries_fetch_the_right_assets() {
    let m = parse(&with(
        "",
        "  node_exporter: { version: \"1.9.1\" }\n  nginx_exporter: { version: \"1.5.1\" }\n  php-fpm_exporter: { version: \"2.2.0\" }\n  fail2ban_exporter: { version: \"0.10.3\" }\n",
    ))
    .unwrap();
    let r = |n: &str| m.exporter(n).unwrap().resolved_source().cloned().unwrap();
    let node = r("node_exporter");
    assert_eq!(
        node.url,
        "https://github.com/prometheus/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-amd64.tar.gz"
    );
    assert_eq!(
        node.checksums_url.as_deref(),
        Some("https://github.com/prometheus/node_exporter/releases/download/v1.9.1/sha256sums.txt")
    );
    assert_eq!(
        node.binary.as_deref(),
        Some("node_exporter-1.9.1.linux-amd64/node_exporter")
    );
    let nginx = r("nginx_exporter");
    assert!(nginx.url.ends_with(
        "/nginx/nginx-prometheus-exporter/releases/download/v1.5.1/nginx-prometheus-exporter_1.5.1_linux_amd64.tar.gz"
    ));
    assert_eq!(nginx.binary.as_deref(), Some("nginx-prometheus-exporter"));
    let php = r("php-fpm_exporter");
    assert_eq!(php.archive, ArchiveKind::Raw);
    let f2b = r("fail2ban_exporter");
    assert_eq!(
        f2b.url,
        "https://gitlab.com/hctrdev/fail2ban-prometheus-exporter/-/releases/v0.10.3/downloads/fail2ban_exporter_0.10.3_linux_amd64.tar.gz"
    );
    // Health defaults: the port and build-info metric of each entry; "up" is opt-in.
    let h = &m.exporter("nginx_exporter").unwrap().health;
    assert_eq!(h.url.as_deref(), Some("http://127.0.0.1:9113/metrics"));
    assert_eq!(h.build_info.as_deref(), Some("nginx_exporter_build_info"));
    assert!(h.expect.is_empty());
    let h = &m.exporter("fail2ban_exporter").unwrap().health;
    assert_eq!(
        (h.build_info.as_deref(), h.build_info_label.as_str()),
        (Some("f2b_version"), "exporter")
    );
    assert_eq!(m.exporter("php-fpm_exporter").unwrap().health.build_info, None);
}

#[test]
fn version_overrides_apply() {
    let m = parse(&with(
        "",
        "  old: { version: \"0.7.1\", catalogue: fail2ban_exporter }\n  older: { version: \"0.5.0\", catalogue: fail2ban_exporter }\n  nginx_exporter: { version: \"0.11.0\" }\n",
    ))
    .unwrap();
    let old = m.exporter("old").unwrap().resolved_source().cloned().unwrap();
    assert!(old.url.contains("/-/releases/0.7.1/downloads/"), "{}", old.url);
    assert!(old.checksums_url.unwrap().ends_with("/checksums.txt"));
    assert_eq!(
        old.binary.as_deref(),
        Some("fail2ban_exporter_0.7.1_linux_amd64/fail2ban_exporter")
    );
    let older = m.exporter("older").unwrap().resolved_source().cloned().unwrap();
    assert_eq!(older.binary.as_deref(), Some("fail2ban-prometheus-exporter"));
    assert_eq!(
        m.exporter("nginx_exporter").unwrap().health.build_info.as_deref(),
        Some("nginxexporter_build_info")
    );
}

#[test]
fn overrides_apply_to_pre_releases_and_distro_builds_of_their_versions() {
    let m = parse(&with(
        "",
        "  nginx_exporter: { version: \"0.11.0-1+b4\" }\n  rc: { version: \"0.7.0-rc1\", catalogue: fail2ban_exporter }\n",
    ))
    .unwrap();
    assert_eq!(
        m.exporter("nginx_exporter").unwrap().health.build_info.as_deref(),
        Some("nginxexporter_build_info")
    );
    let rc = m.exporter("rc").unwrap().resolved_source().cloned().unwrap();
    assert!(rc.url.contains("/-/releases/0.7.0-rc1/downloads/"), "{}", rc.url);
}

#[test]
fn own_keys_override_the_catalogue() {
    let m = parse(&with(
        "  github: { download_url: \"https://mirror.example/gh\" }\n",
        r#"  node_exporter:
    version: "1.9.1"
    source: { github: myorg/node_exporter, checksums: SHA256SUMS }
    health: { url: "http://127.0.0.1:9200/metrics", up: false }
  nginx_exporter:
    version: "1.5.1"
    health: { up: true, build_info_label: ver }
  mirror_node:
    catalogue: node_exporter
    version: "1.9.1"
    source: { url: "https://internal/n-{version}-{arch}.tar.gz", sha256: "0000000000000000000000000000000000000000000000000000000000000000" }
"#,
    ))
    .unwrap();
    let node = m.exporter("node_exporter").unwrap();
    let src = node.resolved_source().cloned().unwrap();
    assert_eq!(
        src.url,
        "https://mirror.example/gh/myorg/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-amd64.tar.gz"
    );
    assert!(src.checksums_url.unwrap().ends_with("/SHA256SUMS"));
    assert_eq!(node.health.url.as_deref(), Some("http://127.0.0.1:9200/metrics"));
    assert_eq!(node.health.build_info.as_deref(), Some("node_exporter_build_info"));
    let nginx = m.exporter("nginx_exporter").unwrap();
    assert_eq!(nginx.health.expect, vec!["nginx_up 1".to_string()]);
    assert_eq!(nginx.health.build_info_label, "ver");
    let mirror = m.exporter("mirror_node").unwrap();
    let src = mirror.resolved_source().cloned().unwrap();
    assert_eq!(src.url, "https://internal/n-1.9.1-amd64.tar.gz");
    assert_eq!(src.checksums_url, None);
    assert_eq!(
        src.binary.as_deref(),
        Some("node_exporter-1.9.1.linux-amd64/node_exporter")
    );
}

#[test]
fn catalogue_mistakes_name_file_line_and_key() {
    let e = parse(&with("", "  x:\n    catalogue: nodeexporter\n    version: \"1.0.0\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("m.yaml:6:16: exporters.x.catalogue: no catalogue entry `nodeexporter`"),
        "{e}"
    );
    let e = parse(&with("", "  unknown_exporter: { version: \"1.0.0\" }\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exporters.unknown_exporter.source: missing `source`"), "{e}");
    let e = parse(&with("", "  nginx_exporter:\n    version: \"1.5.2\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("m.yaml:6:14: exporters.nginx_exporter.version:") && e.contains("retracted"),
        "{e}"
    );
    let e = parse(&with(
        "",
        "  node_exporter: { version: \"1.9.1\", health: { up: true } }\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("health.up") && e.contains("no \"up\" metric"), "{e}");
    let e = parse(
        "apiVersion: exporterctl/v1\nsettings: { arch: armv7 }\nexporters:\n  php-fpm_exporter: { version: \"2.2.0\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no linux build for `armv7`"), "{e}");
    let e = parse(&with("", "  x:\n    version: latest\n    source: { url: \"https://h/x-{version}\", sha256: \"0000000000000000000000000000000000000000000000000000000000000000\" }\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a `github` or `gitlab` source"), "{e}");
}

#[test]
fn latest_and_ranges_resolve_later() {
    let mut m = parse(&with(
        "",
        "  f2b:\n    catalogue: fail2ban_exporter\n    version: latest\n  node_exporter: { version: \"~1.9\" }\n",
    ))
    .unwrap();
    let f2b = &m.exporters[0];
    assert!(!f2b.resolved);
    assert_eq!(f2b.requested, VersionRequest::Latest);
    assert!(
        f2b.resolved_source().cloned().is_err(),
        "unresolved versions cannot be fetched"
    );
    let settings = m.settings.clone();
    // Overrides follow the resolved version.
    m.exporters[0].set_version("0.7.1", &settings).unwrap();
    let src = m.exporters[0].resolved_source().cloned().unwrap();
    assert!(src.url.contains("/releases/0.7.1/"), "{}", src.url);
    m.exporters[0].set_version("0.10.3", &settings).unwrap();
    let src = m.exporters[0].resolved_source().cloned().unwrap();
    assert!(src.url.contains("/releases/v0.10.3/"), "{}", src.url);
    assert_eq!(m.exporters[0].tag_for("0.6.0", &settings).as_deref(), Some("0.6.0"));
    assert_eq!(m.exporters[1].requested, VersionRequest::Range("~1.9".into()));
}

#[test]
fn arch_maps_spell_the_asset() {
    let m = parse(
        "apiVersion: exporterctl/v1\nsettings: { arch: armv7 }\nexporters:\n  redis_exporter: { version: \"1.67.0\" }\n",
    )
    .unwrap();
    let src = m.exporters[0].resolved_source().cloned().unwrap();
    assert!(
        src.url.ends_with("/v1.67.0/redis_exporter-v1.67.0.linux-arm.tar.gz"),
        "{}",
        src.url
    );
    assert_eq!(
        src.binary.as_deref(),
        Some("redis_exporter-v1.67.0.linux-arm/redis_exporter")
    );
}

#[test]
fn phase1_manifest_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/phase1.yaml");
    let m = Manifest::load(&path).unwrap();
    let names: Vec<&str> = m.exporters.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "node_exporter",
            "nginx_exporter",
            "mysqld_exporter",
            "php-fpm_exporter",
            "fail2ban_exporter"
        ]
    );
    assert_eq!(m.exporter("nginx_exporter").unwrap().health.expect, ["nginx_up 1"]);
    assert_eq!(m.exporter("mysqld_exporter").unwrap().health.expect, ["mysql_up 1"]);
    assert_eq!(m.exporter("php-fpm_exporter").unwrap().health.expect, ["phpfpm_up 1"]);
    assert_eq!(
        m.exporter("fail2ban_exporter").unwrap().health.build_info_label,
        "exporter"
    );
}

#[test]
fn units_are_managed_when_asked_per_exporter_or_for_all() {
    let entry = "  node_exporter: { version: \"1.9.1\" }\n  own: { version: \"1.9.1\", catalogue: node_exporter, manage_unit: true }\n";
    let m = parse(&with("", entry)).unwrap();
    assert!(!m.exporter("node_exporter").unwrap().manage_unit);
    assert!(m.exporter("own").unwrap().manage_unit);
    let entry = "  node_exporter: { version: \"1.9.1\" }\n  own: { version: \"1.9.1\", catalogue: node_exporter, manage_unit: false }\n";
    let m = parse(&with("  manage_units: true\n", entry)).unwrap();
    assert!(m.exporter("node_exporter").unwrap().manage_unit);
    assert!(!m.exporter("own").unwrap().manage_unit);
    // Without systemd no unit file runs the exporter: args apply either way.
    let p = "  p: { version: \"1.9.1\", catalogue: node_exporter, args: [\"-x\"] }\n";
    let m = parse(&with("  service_manager: process\n", p)).unwrap();
    assert_eq!(m.exporter("p").unwrap().args, ["-x"]);
    // It runs them as whoever runs exporterctl: a `user` would be ignored.
    let p = "  p: { version: \"1.9.1\", catalogue: node_exporter, user: nobody }\n";
    let e = parse(&with("  service_manager: process\n", p)).unwrap_err().to_string();
    assert!(e.contains("exporters.p.user: would not be applied"), "{e}");
}

/// The audit of issue 14: what each old release looks like, per version.
#[test]
fn old_releases_resolve_as_upstream_published_them() {
    let on = |arch: &str, exporters: &str| {
        Manifest::parse(
            &format!("apiVersion: exporterctl/v1\nsettings:\n  arch: \"{arch}\"\nexporters:\n{exporters}"),
            Path::new("m.yaml"),
        )
    };
    let src = |arch: &str, line: &str| {
        let m = on(arch, line).unwrap();
        let e = &m.exporters[0];
        (e.resolved_source().cloned().unwrap(), e.catalogue_entry().unwrap())
    };
    // fail2ban: no `v` up to 0.7.2, `v` from 0.8.0.
    let (s, _) = src("amd64", "  fail2ban_exporter: { version: \"0.5.0\" }\n");
    assert!(
        s.url
            .contains("/-/releases/0.5.0/downloads/fail2ban-prometheus-exporter_0.5.0_linux_amd64.tar.gz"),
        "{}",
        s.url
    );
    assert!(s.checksums_url.unwrap().ends_with("/0.5.0/downloads/checksums.txt"));
    let (s, _) = src("amd64", "  fail2ban_exporter: { version: \"0.7.2\" }\n");
    assert!(s.url.contains("/-/releases/0.7.2/"), "{}", s.url);
    let (s, _) = src("amd64", "  fail2ban_exporter: { version: \"0.8.0\" }\n");
    assert!(s.url.contains("/-/releases/v0.8.0/"), "{}", s.url);
    assert!(s
        .checksums_url
        .unwrap()
        .ends_with("/fail2ban_exporter_0.8.0_checksums.txt"));

    // nginx: dashes and i386 up to 0.8.0, sha256sums.txt and no signature before 1.0.0.
    let (s, e) = src("386", "  nginx_exporter: { version: \"0.8.0\" }\n");
    assert!(
        s.url
            .ends_with("/v0.8.0/nginx-prometheus-exporter-0.8.0-linux-i386.tar.gz"),
        "{}",
        s.url
    );
    assert!(s.checksums_url.unwrap().ends_with("/v0.8.0/sha256sums.txt"));
    assert_eq!(e.signature, None);
    let (s, e) = src("amd64", "  nginx_exporter: { version: \"0.11.0\" }\n");
    assert!(
        s.url.ends_with("/nginx-prometheus-exporter_0.11.0_linux_amd64.tar.gz"),
        "{}",
        s.url
    );
    assert!(s.checksums_url.unwrap().ends_with("/v0.11.0/sha256sums.txt"));
    assert_eq!(e.signature, None);
    let (s, e) = src("amd64", "  nginx_exporter: { version: \"1.0.0\" }\n");
    assert!(s
        .checksums_url
        .unwrap()
        .ends_with("/nginx-prometheus-exporter_1.0.0_checksums.txt"));
    assert!(e.signature.unwrap().files[0].ends_with(".sig"));
    assert!(src("riscv64", "  nginx_exporter: { version: \"1.4.0\" }\n")
        .0
        .url
        .ends_with("_linux_riscv64.tar.gz"));

    // postgres up to 0.8.0: the mage build, no checksum file.
    let pin = "0000000000000000000000000000000000000000000000000000000000000000";
    let (s, _) = src(
        "386",
        &format!("  postgres_exporter: {{ version: \"0.8.0\", source: {{ sha256: \"{pin}\" }} }}\n"),
    );
    assert!(
        s.url.ends_with("/v0.8.0/postgres_exporter_v0.8.0_linux-386.tar.gz"),
        "{}",
        s.url
    );
    assert_eq!(
        s.binary.as_deref(),
        Some("postgres_exporter_v0.8.0_linux-386/postgres_exporter")
    );
    assert_eq!(s.checksums_url, None);
    let (s, _) = src("amd64", "  postgres_exporter: { version: \"0.9.0\" }\n");
    assert!(
        s.url.ends_with("/postgres_exporter-0.9.0.linux-amd64.tar.gz"),
        "{}",
        s.url
    );
    let e = on("amd64", "  postgres_exporter: { version: \"0.8.0\" }\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("exporters.postgres_exporter.source") && e.contains("no way to verify the download"),
        "{e}"
    );

    // php-fpm: the raw binary in every 2.x release; arm64 from 2.0.1.
    let (s, _) = src("arm64", "  php-fpm_exporter: { version: \"2.0.1\" }\n");
    assert_eq!(s.archive, ArchiveKind::Raw);

    // Architectures upstream did not build for are refused, saying which exist.
    for (arch, line, has) in [
        ("arm64", "  nginx_exporter: { version: \"0.8.0\" }\n", "amd64, 386"),
        ("riscv64", "  nginx_exporter: { version: \"1.3.0\" }\n", "amd64, arm64, armv7, armv6, 386, ppc64le, s390x"),
        ("arm64", "  postgres_exporter: { version: \"0.8.0\", source: { sha256: \"0000000000000000000000000000000000000000000000000000000000000000\" } }\n", "amd64, 386"),
        ("arm64", "  redis_exporter: { version: \"1.0.0\" }\n", "amd64, 386"),
        ("arm64", "  php-fpm_exporter: { version: \"2.0.0\" }\n", "amd64"),
    ] {
        let e = on(arch, line).unwrap_err().to_string();
        assert!(
            e.contains(&format!("upstream publishes no linux build for `{arch}` (it has: {has})")),
            "{line}: {e}"
        );
    }
    assert!(on("arm64", "  redis_exporter: { version: \"1.0.1\" }\n").is_ok());
}

#[test]
fn versions_the_catalogue_cannot_place_are_refused() {
    let on = |exporters: &str| {
        Manifest::parse(
            &format!("apiVersion: exporterctl/v1\nsettings: {{ arch: amd64 }}\nexporters:\n{exporters}"),
            Path::new("m.yaml"),
        )
    };
    for (line, says) in [
        // Tagged without `v` before 0.13.0.
        ("  node_exporter: { version: \"0.12.0\" }\n", "from 0.13.0 on"),
        // redis before 1.0.0: two- and four-part tags.
        ("  redis_exporter: { version: \"0.13.0\" }\n", "from 1.0.0 on"),
        ("  redis_exporter: { version: \"0.21.1.1\" }\n", "not one"),
        ("  node_exporter: { version: \"1.9\" }\n", "not one"),
    ] {
        let e = on(line).unwrap_err().to_string();
        assert!(
            e.contains(".version:") && e.contains(says) && e.contains("give `source`"),
            "{line}: {e}"
        );
    }
    // With its own source the manifest says where the release is: accepted.
    let m = on("  redis_exporter:\n    version: \"0.21.1.1\"\n    source: { github: oliver006/redis_exporter, tag: \"v{version}\", asset: \"redis_exporter-v{version}.linux-{arch}.tar.gz\" }\n").unwrap();
    assert!(m.exporters[0]
        .resolved_source()
        .cloned()
        .unwrap()
        .url
        .contains("/v0.21.1.1/"));
    // A latest/range request is checked once resolved.
    let mut m = on("  node_exporter: { version: latest }\n").unwrap();
    let settings = m.settings.clone();
    let e = m.exporters[0].set_version("0.11.0", &settings).unwrap_err().to_string();
    assert!(e.contains("from 0.13.0 on"), "{e}");
}

#[test]
fn sandbox_key_is_validated() {
    let on = |exporter: &str| {
        Manifest::parse(
            &format!("apiVersion: exporterctl/v1\nsettings: {{ arch: amd64, manage_units: true }}\nexporters:\n  node_exporter:\n    version: \"1.9.1\"\n{exporter}"),
            Path::new("m.yaml"),
        )
    };
    let m = on("").unwrap();
    assert!(m.exporters[0].sandbox.enabled, "sandboxed by default");
    assert!(!on("    sandbox: false\n").unwrap().exporters[0].sandbox.enabled);
    let m = on("    sandbox:\n      read_write_paths: [/var/lib/x]\n      groups: [adm]\n      address_families: [AF_PACKET]\n      capabilities: [CAP_NET_RAW]\n").unwrap();
    let s = &m.exporters[0].sandbox;
    assert!(s.enabled);
    assert_eq!(s.read_write_paths, vec!["/var/lib/x"]);
    assert_eq!(s.groups.as_deref(), Some(&["adm".to_string()][..]));
    assert_eq!((s.address_families.len(), s.capabilities.len()), (1, 1));
    for (yaml, key, says) in [
        (
            "    sandbox: { read_write_paths: [\"/a\\rExecStartPre=/bin/sh\"] }\n",
            "sandbox.read_write_paths[0]",
            "syntax",
        ),
        (
            "    sandbox: { read_write_paths: [relative] }\n",
            "sandbox.read_write_paths[0]",
            "absolute",
        ),
        (
            "    sandbox: { read_write_paths: [\"/a b\"] }\n",
            "sandbox.read_write_paths[0]",
            "syntax",
        ),
        (
            "    sandbox: { groups: [\"a b\"] }\n",
            "sandbox.groups[0]",
            "not a group name",
        ),
        (
            "    sandbox: { address_families: [\"AF_INET AF_PACKET\"] }\n",
            "sandbox.address_families[0]",
            "not an address family",
        ),
        (
            "    sandbox: { capabilities: [CAP_SYS_ADMIN, \"all\"] }\n",
            "sandbox.capabilities[1]",
            "not a capability",
        ),
    ] {
        let e = on(yaml).unwrap_err().to_string();
        assert!(
            e.starts_with("m.yaml:") && e.contains(&format!("exporters.node_exporter.{key}:")) && e.contains(says),
            "{yaml}: {e}"
        );
    }
    assert!(on("    sandbox: { colour: red }\n")
        .unwrap_err()
        .to_string()
        .contains("colour"));
    // Not applied to a hand-written unit, nor by the `process` manager: refused.
    let e = Manifest::parse(
        "apiVersion: exporterctl/v1\nexporters:\n  node_exporter:\n    version: \"1.9.1\"\n    sandbox: false\n",
        Path::new("m.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("exporters.node_exporter.sandbox") && e.contains("would not be applied"),
        "{e}"
    );
    // A credential file must be a path the unit can carry.
    let e = Manifest::parse(
        "apiVersion: exporterctl/v1\nsettings: { manage_units: true }\nexporters:\n  mysqld_exporter:\n    version: \"0.18.0\"\n    args: [\"--config.my-cnf=my.cnf\"]\n",
        Path::new("m.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("exporters.mysqld_exporter.args[0]") && e.contains("LoadCredential"),
        "{e}"
    );
}

/// `set_version` resolves from the own keys validated at load and the
/// catalogue's overrides for that version: the version's fields follow it,
/// the own keys keep winning, and what depends on the version is checked
/// with the place it was written.
#[test]
fn resolving_a_version_merges_its_overrides_under_the_own_keys() {
    let mut m = parse(&with(
        "",
        "  nginx_exporter:\n    version: latest\n    health: { build_info_label: ver, up: true, keep_metrics: [nginx_up] }\n",
    ))
    .unwrap();
    let settings = m.settings.clone();
    let e = &mut m.exporters[0];
    e.set_version("0.11.0", &settings).unwrap();
    assert_eq!(e.health.build_info.as_deref(), Some("nginxexporter_build_info"));
    assert_eq!(e.health.build_info_label, "ver");
    assert_eq!(e.health.expect, vec!["nginx_up 1"]);
    assert_eq!(e.source.checksums.as_deref(), Some("sha256sums.txt"));
    e.set_version("1.4.0", &settings).unwrap();
    assert_eq!(e.health.build_info.as_deref(), Some("nginx_exporter_build_info"));
    assert_eq!(e.health.build_info_label, "ver");
    assert_eq!(e.health.expect, vec!["nginx_up 1"], "the up sample is added once");
    assert!(
        matches!(&e.health.keep_metrics, crate::health::keep::KeepMetrics::Names(n) if n == &["nginx_up"]),
        "{:?}",
        e.health.keep_metrics
    );
    assert_eq!(
        e.source.checksums.as_deref(),
        Some("nginx-prometheus-exporter_{version}_checksums.txt")
    );
    // Retraction is the version's: reported at `version:`.
    let err = e.set_version("1.5.2", &settings).unwrap_err().to_string();
    assert!(
        err.starts_with("m.yaml:6:14: exporters.nginx_exporter.version:") && err.contains("retracted"),
        "{err}"
    );

    // Verifiability is the version's too: postgres_exporter up to 0.8.0
    // published no checksum file.
    let text = "  postgres_exporter:\n    version: latest\n";
    let mut m = parse(&with("", text)).unwrap();
    let err = m.exporters[0].set_version("0.8.0", &settings).unwrap_err().to_string();
    assert!(
        err.starts_with("m.yaml:5:3: exporters.postgres_exporter.source: no way to verify the download"),
        "{err}"
    );
    m.exporters[0].set_version("0.9.0", &settings).unwrap();
    let text = "  postgres_exporter:\n    version: latest\n    insecure_skip_verify: true\n";
    let mut m = parse(&with("", text)).unwrap();
    m.exporters[0].set_version("0.8.0", &settings).unwrap();
    assert_eq!(m.exporters[0].source.arches, Some(vec!["amd64".into(), "386".into()]));
}

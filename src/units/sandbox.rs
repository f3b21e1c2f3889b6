//! The sandbox of a generated unit. An exporter reads metrics and serves
//! them over HTTP: it needs no root, no capability, no write access to the
//! host and few system calls. Every generated unit therefore runs the
//! exporter as a transient user (`DynamicUser=yes`, or the manifest's
//! `user:`) under systemd's sandbox, loosened only where the catalogue entry
//! says the exporter needs more (node_exporter: netlink, all of `/proc`, the
//! file systems under `/home`; mysqld_exporter: its root-only my.cnf through
//! `LoadCredential=`; …) or where the manifest's `sandbox:` adds something.
//! `sandbox: false` writes the unit as before (root, `NoNewPrivileges=` only).

use super::UnitSpec;
use crate::catalogue::SandboxNeeds;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What the manifest says about a generated unit's sandbox: on by default;
/// the rest adds to what the catalogue entry asks for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SandboxSpec {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read_write_paths: Vec<String>,
    /// Replaces the catalogue's groups when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address_families: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        SandboxSpec {
            enabled: true,
            read_write_paths: Vec::new(),
            groups: None,
            address_families: Vec::new(),
            capabilities: Vec::new(),
        }
    }
}

/// The sandbox directives of one unit, and the `ExecStart=` words it
/// replaces (a credential file's path becomes `%d/ID`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// `[Service]` lines, without the trailing newline.
    pub directives: Vec<String>,
    /// Argument index → the quoted word to write instead.
    pub exec_words: BTreeMap<usize, String>,
}

impl Sandbox {
    /// The unit runs as a transient user (`DynamicUser=yes`).
    pub fn dynamic_user(&self) -> bool {
        self.directives.iter().any(|d| d == "DynamicUser=yes")
    }
}

/// A path that may reach a unit file: absolute, no `..`, and none of the
/// characters systemd reads as syntax in a path list (space, quotes,
/// backslash, `%` specifiers, `$`, `;`) nor any control character.
pub fn check_path(p: &str) -> Result<(), String> {
    let shown = p.escape_debug();
    if !p.starts_with('/') {
        return Err(format!("`{shown}` must be an absolute path"));
    }
    if Path::new(p)
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("`{shown}` must not contain `..`"));
    }
    if let Some(c) = p
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "\"'\\%$;".contains(*c))
    {
        return Err(format!(
            "`{shown}` contains {:?}, which a unit file would read as syntax; use a path without it",
            c
        ));
    }
    Ok(())
}

/// The arguments that name a credential file (`--config.my-cnf=PATH` or
/// `--config.my-cnf PATH`): the index of the argument holding the path, and
/// the path.
pub fn credential_args<'a>(needs: &SandboxNeeds, args: &'a [String]) -> Vec<(usize, &'a str)> {
    flag_values(&needs.credential_flags, args)
        .into_iter()
        .map(|(i, _, p)| (i, p))
        .collect()
}

/// `(index of the value's argument, flag, value)` for every `FLAG=VALUE` or
/// `FLAG VALUE` of one of `flags` in `args`.
fn flag_values<'a, 'f>(flags: &'f [String], args: &'a [String]) -> Vec<(usize, &'f str, &'a str)> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        for f in flags {
            if let Some(v) = a.strip_prefix(f.as_str()).and_then(|r| r.strip_prefix('=')) {
                out.push((i, f.as_str(), v));
            } else if a == f {
                if let Some(v) = args.get(i + 1) {
                    out.push((i + 1, f.as_str(), v.as_str()));
                }
            }
        }
    }
    out
}

/// The credential ID of a flag: `--config.my-cnf` → `config.my-cnf`.
fn credential_id(flag: &str) -> &str {
    flag.trim_start_matches('-')
}

/// The sandbox of `e`'s generated unit running `args`; `None` with
/// `sandbox: false`.
pub fn for_exporter(e: &UnitSpec, args: &[String]) -> Option<Sandbox> {
    let needs = e.catalogue.as_ref().map(|c| c.sandbox.clone()).unwrap_or_default();
    plan(&needs, e.sandbox, e.user, args, &|g| {
        matches!(nix::unistd::Group::from_name(g), Ok(Some(_)))
    })
}

/// The sandbox for these needs and manifest additions. `group_exists` says
/// which of the catalogue's groups the host has (the catalogue's are hints
/// for a typical host; the manifest's are applied as written).
pub fn plan(
    needs: &SandboxNeeds,
    spec: &SandboxSpec,
    user: Option<&str>,
    args: &[String],
    group_exists: &dyn Fn(&str) -> bool,
) -> Option<Sandbox> {
    if !spec.enabled {
        return None;
    }
    let mut d: Vec<String> = Vec::new();
    let mut exec_words = BTreeMap::new();
    // Root without capabilities reaches a root-only socket (fail2ban's) and
    // the system bus (which dbus-daemon refuses to dynamic users); a
    // `user:` of the manifest is honoured as it is (User= is written by the
    // caller).
    let on_bus = args.iter().any(|a| needs.system_bus_flags.iter().any(|f| a == f));
    let root = needs.root || on_bus;
    if user.is_none() && !root {
        d.push("DynamicUser=yes".into());
    }
    let groups: Vec<&str> = match &spec.groups {
        Some(g) => g.iter().map(String::as_str).collect(),
        None => needs
            .groups
            .iter()
            .map(String::as_str)
            .filter(|g| group_exists(g))
            .collect(),
    };
    if !groups.is_empty() {
        d.push(format!("SupplementaryGroups={}", groups.join(" ")));
    }
    for (i, flag, path) in flag_values(&needs.credential_flags, args) {
        // Validation refuses other paths; a relative one would be looked up
        // in systemd's credential store, not where the manifest meant.
        if check_path(path).is_err() {
            continue;
        }
        let id = credential_id(flag);
        d.push(format!("LoadCredential={id}:{path}"));
        // `%d` is the unit's credentials directory; the rest is literal.
        let word = if args[i] == path {
            format!("\"%d/{id}\"")
        } else {
            format!("\"{flag}=%d/{id}\"")
        };
        exec_words.insert(i, word);
    }
    let caps: Vec<&str> = needs
        .capabilities
        .iter()
        .chain(&spec.capabilities)
        .map(String::as_str)
        .collect();
    d.push(format!("CapabilityBoundingSet={}", caps.join(" ")));
    if !caps.is_empty() && !root {
        d.push(format!("AmbientCapabilities={}", caps.join(" ")));
    }
    // Directories the exporter reads (node's textfile directory) stay
    // reachable: PrivateTmp would hide one below /tmp, ProtectHome=yes one
    // below /home.
    let read_dirs: Vec<&str> = flag_values(&needs.path_flags, args)
        .into_iter()
        .map(|(_, _, p)| p)
        .collect();
    let below = |roots: &[&str]| {
        read_dirs.iter().any(|p| {
            roots
                .iter()
                .any(|r| p.strip_prefix(r).is_some_and(|x| x.is_empty() || x.starts_with('/')))
        })
    };
    d.push("ProtectSystem=strict".into());
    let home_read = needs.read_home || below(&["/home", "/root", "/run/user"]);
    d.push(format!("ProtectHome={}", if home_read { "read-only" } else { "yes" }));
    if !below(&["/tmp", "/var/tmp"]) {
        d.push("PrivateTmp=yes".into());
    }
    for p in &spec.read_write_paths {
        d.push(format!("ReadWritePaths={p}"));
    }
    for x in [
        "PrivateDevices=yes",
        "PrivateMounts=yes",
        "PrivateIPC=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
    ] {
        d.push(x.into());
    }
    // Not `ProcSubset=pid`: Go's process collector reads the boot time from
    // /proc/stat for `process_start_time_seconds` (measured: mysqld_exporter
    // loses it).
    if !needs.full_proc {
        d.push("ProtectProc=invisible".into());
    }
    // A user namespace would keep capabilities from reaching the host's
    // network and groups from mapping; node needs other processes' /proc.
    if !needs.full_proc && !root && caps.is_empty() && groups.is_empty() {
        d.push("PrivateUsers=yes".into());
    }
    let mut families = vec!["AF_INET", "AF_INET6", "AF_UNIX"];
    for f in needs.address_families.iter().chain(&spec.address_families) {
        if !families.contains(&f.as_str()) {
            families.push(f);
        }
    }
    d.push(format!("RestrictAddressFamilies={}", families.join(" ")));
    for x in [
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "RemoveIPC=yes",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        // A refused call fails with EPERM instead of killing the exporter:
        // Go's runtime tries setrlimit at start and carries on without it.
        "SystemCallErrorNumber=EPERM",
        "UMask=0077",
    ] {
        d.push(x.into());
    }
    Some(Sandbox {
        directives: d,
        exec_words,
    })
}

/// How `systemd-analyze security --offline=true` rates a unit file
/// (`"1.7 OK"`), run on a copy named `unit` in a temporary directory.
/// An error says why there is no rating (no systemd-analyze, too old).
pub fn exposure(unit: &str, text: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let path = dir.path().join(unit);
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let out = std::process::Command::new("systemd-analyze")
        .arg("security")
        .arg("--offline=true")
        .arg("--no-pager")
        .arg(&path)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .map_err(|e| format!("systemd-analyze not available ({e})"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rating = stdout.lines().find_map(|l| {
        let rest = l.split_once("Overall exposure level for ")?.1;
        let words: Vec<&str> = rest.split_once(": ")?.1.split_whitespace().take(2).collect();
        (words.len() == 2).then(|| words.join(" "))
    });
    match rating {
        Some(r) => Ok(r),
        None => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or("no rating in its output").trim();
            Err(format!("systemd-analyze security --offline cannot rate it: {first}"))
        }
    }
}

/// The numeric part of a rating (`"1.7 OK"` → 1.7).
pub fn exposure_value(rating: &str) -> Option<f64> {
    rating.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    fn needs(name: &str) -> SandboxNeeds {
        Catalogue::builtin().get(name).unwrap().sandbox.clone()
    }

    fn on(name: &str, user: Option<&str>, args: &[&str]) -> Sandbox {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        plan(&needs(name), &SandboxSpec::default(), user, &args, &|_| true).unwrap()
    }

    fn has(s: &Sandbox, line: &str) -> bool {
        s.directives.iter().any(|d| d == line)
    }

    #[test]
    fn default_is_a_dynamic_user_in_a_strict_sandbox() {
        let s = on("nginx_exporter", None, &[]);
        for l in [
            "DynamicUser=yes",
            "CapabilityBoundingSet=",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "ProtectProc=invisible",
            "PrivateUsers=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service",
            "UMask=0077",
        ] {
            assert!(has(&s, l), "{l}: {:?}", s.directives);
        }
        assert!(
            !s.directives.iter().any(|d| d.starts_with("ProcSubset")),
            "hides /proc/stat"
        );
        assert!(!s.directives.iter().any(|d| d.starts_with("AmbientCapabilities")));
        // `user:` is honoured: no DynamicUser (the caller writes User=).
        assert!(!has(&on("nginx_exporter", Some("prometheus"), &[]), "DynamicUser=yes"));
        // sandbox: false
        let off = SandboxSpec {
            enabled: false,
            ..SandboxSpec::default()
        };
        assert_eq!(plan(&needs("nginx_exporter"), &off, None, &[], &|_| true), None);
    }

    #[test]
    fn node_keeps_what_its_collectors_read() {
        let s = on("node_exporter", None, &["--collector.textfile.directory=/tmp/textfile"]);
        assert!(has(&s, "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK"));
        assert!(has(&s, "ProtectHome=read-only"));
        assert!(!s
            .directives
            .iter()
            .any(|d| d.starts_with("ProtectProc") || d.starts_with("ProcSubset")));
        assert!(!has(&s, "PrivateUsers=yes"));
        // The textfile directory below /tmp stays the host's.
        assert!(!has(&s, "PrivateTmp=yes"));
        assert!(has(&on("node_exporter", None, &[]), "PrivateTmp=yes"));
        assert!(has(&on("node_exporter", None, &[]), "DynamicUser=yes"));
        // The systemd collector talks to the system bus: root without any capability.
        let s = on("node_exporter", None, &["--collector.systemd"]);
        assert!(!has(&s, "DynamicUser=yes") && has(&s, "CapabilityBoundingSet="));
        assert!(has(
            &on("node_exporter", None, &["--no-collector.systemd"]),
            "DynamicUser=yes"
        ));
    }

    #[test]
    fn mysqld_reads_its_my_cnf_as_a_credential() {
        let s = on(
            "mysqld_exporter",
            None,
            &[
                "--config.my-cnf=/etc/mysqld_exporter/.my.cnf",
                "--web.listen-address=:9104",
            ],
        );
        assert!(has(&s, "LoadCredential=config.my-cnf:/etc/mysqld_exporter/.my.cnf"));
        assert_eq!(s.exec_words.get(&0).unwrap(), "\"--config.my-cnf=%d/config.my-cnf\"");
        let s = on("mysqld_exporter", None, &["--config.my-cnf", "/root/my.cnf"]);
        assert!(has(&s, "LoadCredential=config.my-cnf:/root/my.cnf"));
        assert_eq!(s.exec_words.get(&1).unwrap(), "\"%d/config.my-cnf\"");
        assert!(!s.exec_words.contains_key(&0));
    }

    #[test]
    fn groups_root_and_capabilities() {
        let args: Vec<String> = Vec::new();
        // The catalogue's group only where the host has it.
        let s = plan(&needs("php-fpm_exporter"), &SandboxSpec::default(), None, &args, &|g| {
            g == "www-data"
        })
        .unwrap();
        assert!(has(&s, "SupplementaryGroups=www-data"));
        assert!(!has(&s, "PrivateUsers=yes"));
        let s = plan(
            &needs("php-fpm_exporter"),
            &SandboxSpec::default(),
            None,
            &args,
            &|_| false,
        )
        .unwrap();
        assert!(!s.directives.iter().any(|d| d.starts_with("SupplementaryGroups")));
        // The manifest's groups replace them, as written.
        let spec = SandboxSpec {
            groups: Some(vec!["nginx".into()]),
            ..SandboxSpec::default()
        };
        let s = plan(&needs("php-fpm_exporter"), &spec, None, &args, &|_| false).unwrap();
        assert!(has(&s, "SupplementaryGroups=nginx"));
        // fail2ban: root without any capability.
        let s = on("fail2ban_exporter", None, &[]);
        assert!(!has(&s, "DynamicUser=yes") && has(&s, "CapabilityBoundingSet="));
        // blackbox: CAP_NET_RAW only.
        let s = on("blackbox_exporter", None, &[]);
        assert!(has(&s, "CapabilityBoundingSet=CAP_NET_RAW") && has(&s, "AmbientCapabilities=CAP_NET_RAW"));
    }

    #[test]
    fn paths_that_a_unit_would_misread_are_refused() {
        assert!(check_path("/var/lib/node_exporter/textfile").is_ok());
        for bad in [
            "relative",
            "/a/../b",
            "/a b",
            "/a\nExecStartPre=/bin/sh",
            "/a%n",
            "/a\\",
            "/a\"b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}

/// The target of issue 14: the node, nginx and mysqld units rate ≤ 2.0 with
/// `systemd-analyze security` (9.4 UNSAFE before), where systemd-analyze
/// can rate unit files offline (systemd ≥ 250).
#[cfg(test)]
mod rating {
    use super::*;
    use crate::manifest::Manifest;

    #[test]
    fn node_nginx_and_mysqld_units_rate_at_most_2() {
        if std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIP: no systemd-analyze on this host");
            return;
        }
        let manifest = |extra: &str| {
            Manifest::parse(
                &format!(
                    "apiVersion: exporterctl/v1\nsettings: {{ arch: amd64, manage_units: true }}\nexporters:\n  \
                     node_exporter: {{ version: \"1.9.1\"{extra} }}\n  nginx_exporter: {{ version: \"1.5.1\"{extra} }}\n  \
                     mysqld_exporter: {{ version: \"0.18.0\", args: [\"--config.my-cnf=/etc/mysqld_exporter/.my.cnf\"]{extra} }}\n"
                ),
                Path::new("m.yaml"),
            )
            .unwrap()
        };
        let m = manifest("");
        let mysqld = crate::units::unit_text(&m.exporters[2].unit_spec(&m.settings));
        assert!(
            mysqld.contains("ExecStart=\"/usr/local/bin/mysqld_exporter\" \"--config.my-cnf=%d/config.my-cnf\"")
                && mysqld.contains("\nLoadCredential=config.my-cnf:/etc/mysqld_exporter/.my.cnf\n")
                && mysqld.contains("\nDynamicUser=yes\n"),
            "{mysqld}"
        );
        for e in &m.exporters {
            let text = crate::units::unit_text(&e.unit_spec(&m.settings));
            let rating = exposure(&e.unit, &text).unwrap();
            let v = exposure_value(&rating).unwrap();
            assert!(v <= 2.0, "{}: {rating}\n{text}", e.unit);
        }
        // The measure tells the difference: the same units unsandboxed, as root.
        let m = manifest(", sandbox: false");
        for e in &m.exporters {
            let rating = exposure(&e.unit, &crate::units::unit_text(&e.unit_spec(&m.settings))).unwrap();
            assert!(exposure_value(&rating).unwrap() > 9.0, "{}: {rating}", e.unit);
        }
    }
}

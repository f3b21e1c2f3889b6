//! The built-in catalogue of widely used exporters (`catalogue/exporters.yaml`,
//! embedded at build time): where each one's releases live, how its assets
//! are named and laid out, how they are verified, and how to tell a running
//! instance works. Data, not code paths per exporter: the manifest validator
//! merges an entry under a manifest entry's own keys.
//!
//! Versions are compared as semver after padding (`1.9` → `1.9.0`), which is
//! how every catalogued exporter numbers its releases.

use crate::source::forge::Forge;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The catalogue as shipped.
pub const BUILTIN_YAML: &str = include_str!("../catalogue/exporters.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchiveFormat {
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "raw")]
    Raw,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumFormat {
    /// GNU coreutils `<hex>  <name>` lines.
    #[default]
    Sha256sum,
    /// BSD `SHA256 (<name>) = <hex>` lines.
    Bsd,
}

/// Signature material upstream publishes. Recorded (and mirrored by name in
/// the docs), never verified by exporterctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// `cosign`, `gpg`, `minisign`, …
    pub kind: String,
    /// File name templates in the same release.
    pub files: Vec<String>,
}

/// One catalogue entry (after [`Entry::for_version`], with its overrides applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub description: String,
    pub forge: Forge,
    /// `owner/repository` (GitHub) or `group/project` (GitLab).
    pub repo: String,
    #[serde(default)]
    pub former_repos: Vec<String>,
    #[serde(default = "default_tag")]
    pub tag: String,
    pub asset: String,
    /// Go architecture names upstream publishes linux builds for.
    pub arches: Vec<String>,
    /// `settings.arch` → the asset's spelling, where they differ.
    #[serde(default)]
    pub arch_map: BTreeMap<String, String>,
    pub archive: ArchiveFormat,
    #[serde(default)]
    pub binary: Option<String>,
    #[serde(default)]
    pub checksums: Option<String>,
    #[serde(default)]
    pub checksums_format: ChecksumFormat,
    #[serde(default)]
    pub signature: Option<Signature>,
    pub port: u16,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default)]
    pub build_info: Option<String>,
    #[serde(default = "default_label")]
    pub build_info_label: String,
    /// The watched service's "up" sample (`nginx_up 1`): opt-in.
    #[serde(default)]
    pub up: Option<String>,
    /// Arguments that make the binary print its version.
    #[serde(default)]
    pub version_args: Vec<String>,
    #[serde(default)]
    pub retracted: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// The oldest version whose release layout this entry records: older
    /// releases had other tags or asset names, and the catalogue refuses
    /// them rather than guess a URL.
    #[serde(default)]
    pub known_from: Option<String>,
    /// What the exporter needs from the host under the generated unit's sandbox.
    #[serde(default)]
    pub sandbox: SandboxNeeds,
    /// From which version the exporter accepts `--web.systemd-socket`
    /// (exporter-toolkit): its generated unit is then socket-activated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_activation: Option<SocketSupport>,
    /// Flags (and environment) upstream changed between versions: `check`,
    /// the dry run and preflight name the change and the arguments to use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flag_changes: Vec<FlagChange>,
    /// `false`: a second copy cannot run beside the running one (it binds
    /// more than its metrics port, or locks something), so no preflight.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub preflight: bool,
}

/// One change of an exporter's command line from version `since` on. Exactly
/// one of `flag` (renamed or folded into `to`), `env` (an environment
/// variable no longer read; `to` is the flag that replaces it) or
/// `single_dash` (single-dash flags read with a warning) says what it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagChange {
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_dash: bool,
    /// The flag that replaces `flag` or `env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// How `flag`'s value becomes `to`'s (`:{value}`); default the value itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What changed, in upstream's words where possible.
    pub note: String,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// `--web.systemd-socket` support of an exporter (see `switch::socket`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketSupport {
    /// The first release that accepts the flag (compared on
    /// major.minor.patch, so a distro build `1.5.0-1+b4` counts as 1.5.0).
    pub from: String,
    /// The exporter cannot infer its external URL from a passed socket and
    /// exits without `--web.external-url` (blackbox_exporter).
    #[serde(default)]
    pub external_url: bool,
}

/// What an exporter needs that the default sandbox of a generated unit
/// (`DynamicUser=yes`, `ProtectSystem=strict`, …; see `units::sandbox`) would
/// take away.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxNeeds {
    /// Address families besides `AF_INET AF_INET6 AF_UNIX` (node: `AF_NETLINK`).
    #[serde(default)]
    pub address_families: Vec<String>,
    /// Reads all of `/proc` and other processes' entries (`/proc/1/mounts`):
    /// no `ProtectProc=` or `PrivateUsers=`.
    #[serde(default)]
    pub full_proc: bool,
    /// Reports on the file systems under `/home`: `ProtectHome=read-only`
    /// (the real file system, read-only) instead of an empty one.
    #[serde(default)]
    pub read_home: bool,
    /// Flags whose value is a file the exporter reads that may be readable by
    /// root only (a password): passed with `LoadCredential=` and the flag
    /// pointed at the credential.
    #[serde(default)]
    pub credential_flags: Vec<String>,
    /// Flags whose value is a directory the exporter reads (node's textfile
    /// directory): kept reachable when it is below `/home` or `/tmp`.
    #[serde(default)]
    pub path_flags: Vec<String>,
    /// Supplementary groups, applied when the group exists on the host
    /// (php-fpm's socket belongs to `www-data` on Debian).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Capabilities the exporter needs (blackbox ICMP: `CAP_NET_RAW`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Runs as root, without any capability: for a root-only socket
    /// (fail2ban's `/run/fail2ban/fail2ban.sock`, mode 0700).
    #[serde(default)]
    pub root: bool,
    /// Flags that make the exporter talk to the system bus (node's
    /// `--collector.systemd`). The classic dbus-daemon (Debian 12) drops a
    /// dynamic user's connection, so with one of them the unit runs as
    /// root without any capability, as with `root`, unless `user:` is given.
    #[serde(default)]
    pub system_bus_flags: Vec<String>,
}

/// Fields that differ for the versions matching `versions` (a semver
/// requirement such as `>=0.6.0, <0.8.0`). Every matching override applies,
/// in order; later ones win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub versions: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub asset: Option<String>,
    #[serde(default)]
    pub archive: Option<ArchiveFormat>,
    #[serde(default)]
    pub binary: Option<String>,
    #[serde(default)]
    pub checksums: Option<String>,
    #[serde(default)]
    pub signature: Option<Signature>,
    #[serde(default)]
    pub build_info: Option<String>,
    #[serde(default)]
    pub build_info_label: Option<String>,
    #[serde(default)]
    pub version_args: Option<Vec<String>>,
    /// The architectures upstream built in this range.
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<BTreeMap<String, String>>,
    /// Fields that these versions do not have: `checksums`, `signature`.
    #[serde(default)]
    pub without: Vec<String>,
}

/// The fields an override may remove with `without:`.
const REMOVABLE: &[&str] = &["checksums", "signature"];

fn default_tag() -> String {
    "v{version}".into()
}
fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_label() -> String {
    "version".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    catalogue_version: u32,
    exporters: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
pub struct Catalogue {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, thiserror::Error)]
#[error("catalogue: {0}")]
pub struct CatalogueError(pub String);

impl Catalogue {
    /// Parses and validates a catalogue file.
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let file: CatalogueFile = serde_saphyr::from_str(text).map_err(|e| CatalogueError(e.to_string()))?;
        if file.catalogue_version != 1 {
            return Err(CatalogueError(format!(
                "catalogue_version {} is not 1",
                file.catalogue_version
            )));
        }
        let c = Catalogue {
            entries: file.exporters,
        };
        for (name, e) in &c.entries {
            e.validate().map_err(|m| CatalogueError(format!("{name}: {m}")))?;
        }
        Ok(c)
    }

    /// The embedded catalogue (validated by this module's tests).
    pub fn builtin() -> &'static Catalogue {
        static C: OnceLock<Catalogue> = OnceLock::new();
        C.get_or_init(|| match Catalogue::parse(BUILTIN_YAML) {
            Ok(c) => c,
            // Unreachable in a tested build: `builtin_catalogue_is_valid` parses the same text.
            Err(e) => panic!("the built-in catalogue is invalid: {e}"),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(n, e)| (n.as_str(), e))
    }
}

impl Entry {
    /// This entry with every override whose range contains `version` applied.
    pub fn for_version(&self, version: &str) -> Entry {
        let mut e = self.clone();
        e.overrides.clear();
        let Some(v) = semver_of(version) else { return e };
        // Ranges name upstream's releases: a pre-release or a distro build of
        // 0.11.0 (`0.11.0-1+b4`) is laid out like 0.11.0, and semver would
        // otherwise never match a pre-release against a plain range.
        let v = semver::Version::new(v.major, v.minor, v.patch);
        for o in &self.overrides {
            let Ok(req) = semver::VersionReq::parse(&o.versions) else {
                continue;
            };
            if !req.matches(&v) {
                continue;
            }
            if let Some(x) = &o.tag {
                e.tag = x.clone();
            }
            if let Some(x) = &o.asset {
                e.asset = x.clone();
            }
            if let Some(x) = o.archive {
                e.archive = x;
            }
            if let Some(x) = &o.binary {
                e.binary = Some(x.clone());
            }
            if let Some(x) = &o.checksums {
                e.checksums = Some(x.clone());
            }
            if let Some(x) = &o.signature {
                e.signature = Some(x.clone());
            }
            if let Some(x) = &o.build_info {
                e.build_info = Some(x.clone());
            }
            if let Some(x) = &o.build_info_label {
                e.build_info_label = x.clone();
            }
            if let Some(x) = &o.version_args {
                e.version_args = x.clone();
            }
            if let Some(x) = &o.arches {
                e.arches = x.clone();
            }
            if let Some(x) = &o.arch_map {
                e.arch_map = x.clone();
            }
            for w in &o.without {
                match w.as_str() {
                    "checksums" => e.checksums = None,
                    "signature" => e.signature = None,
                    _ => {}
                }
            }
        }
        e
    }

    /// Can this entry say where `version` was published? Refuses a version
    /// older than [`Entry::known_from`] and one that is not
    /// `major.minor.patch` (with an optional suffix): upstream tagged such
    /// releases differently (no `v`, two or four parts), and a guessed URL
    /// would only 404 or, worse, name another file.
    pub fn check_version(&self, name: &str, version: &str) -> Result<(), String> {
        let core = version.split(['-', '+']).next().unwrap_or_default();
        let three_parts = core.split('.').count() == 3;
        let Some(v) = semver_of(version).filter(|_| three_parts) else {
            return Err(format!(
                "the catalogue entry `{name}` places releases by a major.minor.patch version; \
                 `{version}` is not one (upstream tagged such releases its own way): give `source` \
                 (`tag` and `asset`, or `url`) for it"
            ));
        };
        if let Some(from) = self.known_from.as_deref().and_then(semver_of) {
            if semver::Version::new(v.major, v.minor, v.patch) < from {
                return Err(format!(
                    "the catalogue entry `{name}` knows upstream's release layout from {from} on; \
                     {version} is older (other tags or asset names): give `source` (`tag` and `asset`, \
                     or `url`) for it, or pick {from} or later"
                ));
            }
        }
        Ok(())
    }

    /// Every tag template this entry uses (base and overrides), for reading
    /// versions back from tags.
    pub fn tag_templates(&self) -> Vec<&str> {
        let mut t = vec![self.tag.as_str()];
        for o in &self.overrides {
            if let Some(x) = &o.tag {
                if !t.contains(&x.as_str()) {
                    t.push(x);
                }
            }
        }
        t
    }

    /// Does `version` accept `--web.systemd-socket`? (A version that is not
    /// one does not.)
    pub fn accepts_systemd_socket(&self, version: &str) -> bool {
        let Some(support) = &self.socket_activation else {
            return false;
        };
        match (semver_of(version), semver_of(&support.from)) {
            (Some(v), Some(from)) => semver::Version::new(v.major, v.minor, v.patch) >= from,
            _ => false,
        }
    }

    pub fn is_retracted(&self, version: &str) -> bool {
        self.retracted.iter().any(|r| r == version)
    }

    /// The asset's spelling of `arch`.
    pub fn asset_arch<'a>(&'a self, arch: &'a str) -> &'a str {
        self.arch_map.get(arch).map(String::as_str).unwrap_or(arch)
    }

    /// The default metrics URL on this host.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.metrics_path)
    }

    fn validate(&self) -> Result<(), String> {
        use crate::template::{expand, Vars, KNOWN_ARCHES};
        if self.repo.split('/').filter(|p| !p.is_empty()).count() < 2 {
            return Err(format!("repo `{}` is not owner/repository", self.repo));
        }
        if self.port == 0 {
            return Err("port 0".into());
        }
        if !self.metrics_path.starts_with('/') {
            return Err(format!("metrics_path `{}` must start with /", self.metrics_path));
        }
        if self.arches.is_empty() {
            return Err("no arches".into());
        }
        for a in self.arches.iter().chain(self.arch_map.keys()) {
            if !KNOWN_ARCHES.contains(&a.as_str()) {
                return Err(format!("unknown architecture `{a}`"));
            }
        }
        for r in &self.retracted {
            if semver_of(r).is_none() {
                return Err(format!("retracted `{r}` is not a version"));
            }
        }
        if let Some(up) = &self.up {
            crate::health::parse_expectation(up).map_err(|e| format!("up: {e}"))?;
        }
        for o in &self.overrides {
            semver::VersionReq::parse(&o.versions).map_err(|e| format!("override `{}`: {e}", o.versions))?;
            for a in o
                .arches
                .iter()
                .flatten()
                .chain(o.arch_map.iter().flat_map(|m| m.keys()))
            {
                if !KNOWN_ARCHES.contains(&a.as_str()) {
                    return Err(format!("override `{}`: unknown architecture `{a}`", o.versions));
                }
            }
            if let Some(w) = o.without.iter().find(|w| !REMOVABLE.contains(&w.as_str())) {
                return Err(format!(
                    "override `{}`: `without: {w}` (only {} can be removed)",
                    o.versions,
                    REMOVABLE.join(", ")
                ));
            }
        }
        if let Some(k) = &self.known_from {
            if semver_of(k).is_none() {
                return Err(format!("known_from `{k}` is not a version"));
            }
        }
        self.sandbox.validate()?;
        if let Some(s) = &self.socket_activation {
            if semver_of(&s.from).is_none() {
                return Err(format!("socket_activation.from `{}` is not a version", s.from));
            }
        }
        for c in &self.flag_changes {
            c.validate()
                .map_err(|m| format!("flag_changes (since {}): {m}", c.since))?;
        }
        // Every version an override can select, at every arch: templates
        // expand, and the asset's name agrees with the archive kind.
        let mut probes: Vec<&str> = vec!["99.0.0", "0.0.1"];
        probes.extend(self.overrides.iter().map(|o| o.versions.as_str()));
        for probe in probes {
            let version = probe_version(probe);
            let e = self.for_version(&version);
            for arch in &e.arches {
                let arch = e.asset_arch(arch);
                let tag = expand(
                    &e.tag,
                    &Vars {
                        version: &version,
                        arch,
                        tag: "",
                    },
                )?;
                let vars = Vars {
                    version: &version,
                    arch,
                    tag: &tag,
                };
                let asset = expand(&e.asset, &vars)?;
                let is_tgz = asset.ends_with(".tar.gz") || asset.ends_with(".tgz");
                match (e.archive, is_tgz, &e.binary) {
                    (ArchiveFormat::TarGz, true, Some(b)) => {
                        expand(b, &vars)?;
                    }
                    (ArchiveFormat::TarGz, _, _) => {
                        return Err(format!("`{asset}`: a tar.gz entry needs a .tar.gz asset and `binary`"))
                    }
                    (ArchiveFormat::Raw, false, _) => {}
                    (ArchiveFormat::Raw, true, _) => return Err(format!("`{asset}` is an archive, not raw")),
                }
                if let Some(c) = &e.checksums {
                    expand(c, &vars)?;
                }
                if let Some(s) = &e.signature {
                    for f in &s.files {
                        expand(f, &vars)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl FlagChange {
    fn validate(&self) -> Result<(), String> {
        if semver_of(&self.since).is_none() {
            return Err("`since` is not a version".into());
        }
        let kinds = usize::from(self.flag.is_some()) + usize::from(self.env.is_some()) + usize::from(self.single_dash);
        if kinds != 1 {
            return Err("give exactly one of `flag`, `env`, `single_dash`".into());
        }
        if self.env.is_some() && self.to.is_none() {
            return Err("`env` needs `to`, the flag that replaces it".into());
        }
        if self.value.is_some() && (self.flag.is_none() || self.to.is_none()) {
            return Err("`value` needs `flag` and `to`".into());
        }
        if self.note.trim().is_empty() {
            return Err("`note` is empty".into());
        }
        Ok(())
    }

    /// Does this change apply to `version`?
    pub fn applies_to(&self, version: &str) -> bool {
        match (semver_of(version), semver_of(&self.since)) {
            (Some(v), Some(since)) => semver::Version::new(v.major, v.minor, v.patch) >= since,
            _ => false,
        }
    }
}

impl SandboxNeeds {
    fn validate(&self) -> Result<(), String> {
        let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        for f in self.address_families.iter() {
            if !f.starts_with("AF_") || !word(f) {
                return Err(format!("sandbox: `{f}` is not an address family"));
            }
        }
        for c in &self.capabilities {
            if !c.starts_with("CAP_") || !word(c) {
                return Err(format!("sandbox: `{c}` is not a capability"));
            }
        }
        for f in self
            .credential_flags
            .iter()
            .chain(&self.path_flags)
            .chain(&self.system_bus_flags)
        {
            if !f.starts_with("--") || !word(f) {
                return Err(format!("sandbox: `{f}` is not a --flag"));
            }
        }
        for g in &self.groups {
            if !crate::names::is_safe_name(g) {
                return Err(format!("sandbox: `{g}` is not a group name"));
            }
        }
        Ok(())
    }
}

/// A version inside the range of `req` (for validating override templates).
fn probe_version(req: &str) -> String {
    let candidates = [
        "0.0.1", "0.5.0", "0.6.0", "0.7.0", "0.9.0", "1.0.0", "1.5.0", "2.0.0", "99.0.0",
    ];
    let Ok(r) = semver::VersionReq::parse(req) else {
        return "1.0.0".into();
    };
    candidates
        .iter()
        .find(|c| semver_of(c).is_some_and(|v| r.matches(&v)))
        .map(|c| c.to_string())
        .unwrap_or_else(|| req.trim_start_matches(['<', '>', '=', '~', '^', ' ']).to_string())
}

/// `1.9` → 1.9.0, `1.9.1` → 1.9.1, `2.0.0-rc.1` → 2.0.0-rc.1; `None` if not a version.
pub fn semver_of(v: &str) -> Option<semver::Version> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let split = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    semver::Version::parse(&format!("{padded}{rest}")).ok()
}

/// What a manifest asks for in `version:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum VersionRequest {
    /// A literal version.
    Exact,
    /// The highest release that is not a pre-release and not retracted.
    Latest,
    /// The highest such release matching a semver requirement (`~1.9`, `^1`, `>=1.5, <2`).
    Range(String),
}

impl VersionRequest {
    /// `latest`, a requirement (starts with `~ ^ < > = *`), or `Exact` for anything else.
    pub fn parse(s: &str) -> Result<VersionRequest, String> {
        let t = s.trim();
        if t == "latest" {
            return Ok(VersionRequest::Latest);
        }
        if t.starts_with(['~', '^', '<', '>', '=', '*']) {
            return semver::VersionReq::parse(t)
                .map(|_| VersionRequest::Range(t.to_string()))
                .map_err(|e| format!("`{s}` is not a version range ({e}); write e.g. `~1.9`, `^1`, `>=1.5, <2`"));
        }
        Ok(VersionRequest::Exact)
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, VersionRequest::Exact)
    }

    /// Does `version` satisfy this request? (`Exact` is checked by the caller.)
    pub fn admits(&self, version: &str) -> bool {
        let Some(v) = semver_of(version) else { return false };
        match self {
            VersionRequest::Exact => true,
            VersionRequest::Latest => v.pre.is_empty(),
            VersionRequest::Range(r) => semver::VersionReq::parse(r).is_ok_and(|r| r.matches(&v)),
        }
    }
}

/// Versions sorted ascending by semver (unparsable ones dropped).
pub fn sort_versions(versions: &mut Vec<String>) {
    versions.retain(|v| semver_of(v).is_some());
    versions.sort_by_key(|v| semver_of(v));
    versions.dedup();
}

/// The existing versions nearest to a missing one: the closest below and
/// the closest above (either may be absent).
pub fn nearest(existing: &[String], wanted: &str) -> Vec<String> {
    let mut sorted = existing.to_vec();
    sort_versions(&mut sorted);
    let Some(w) = semver_of(wanted) else {
        return sorted.last().cloned().into_iter().collect();
    };
    let below = sorted
        .iter()
        .rev()
        .find(|v| semver_of(v).is_some_and(|x| x < w))
        .cloned();
    let above = sorted.iter().find(|v| semver_of(v).is_some_and(|x| x > w)).cloned();
    below.into_iter().chain(above).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_activation_follows_the_version() {
        let c = Catalogue::builtin();
        let accepts = |name: &str, v: &str| c.get(name).unwrap().accepts_systemd_socket(v);
        // Debian's node_exporter 1.5.0 (and its builds) qualify; 1.4.x does not.
        assert!(accepts("node_exporter", "1.5.0") && accepts("node_exporter", "1.5.0-1+b4"));
        assert!(accepts("node_exporter", "1.9.1") && !accepts("node_exporter", "1.4.9"));
        assert!(!accepts("nginx_exporter", "0.11.0-1+b4") && accepts("nginx_exporter", "1.0.0"));
        assert!(!accepts("mysqld_exporter", "0.14.0") && accepts("mysqld_exporter", "0.15.0"));
        assert!(!accepts("postgres_exporter", "0.11.1") && accepts("postgres_exporter", "0.12.0"));
        assert!(!accepts("blackbox_exporter", "0.22.0") && accepts("blackbox_exporter", "0.23.0"));
        for name in [
            "php-fpm_exporter",
            "fail2ban_exporter",
            "redis_exporter",
            "statsd_exporter",
        ] {
            assert!(!accepts(name, "99.0.0"), "{name}");
        }
        assert!(!accepts("node_exporter", "latest"));
        let blackbox = c.get("blackbox_exporter").unwrap();
        assert!(blackbox.socket_activation.as_ref().unwrap().external_url);
        assert!(
            !c.get("node_exporter")
                .unwrap()
                .socket_activation
                .as_ref()
                .unwrap()
                .external_url
        );
        let bad = include_str!("../catalogue/exporters.yaml").replacen(
            "socket_activation: { from: \"1.5.0\" }",
            "socket_activation: { from: \"one\" }",
            1,
        );
        let e = Catalogue::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("socket_activation.from `one` is not a version"), "{e}");
    }

    #[test]
    fn builtin_catalogue_is_valid() {
        let c = Catalogue::parse(BUILTIN_YAML).unwrap();
        for name in [
            "node_exporter",
            "nginx_exporter",
            "mysqld_exporter",
            "php-fpm_exporter",
            "fail2ban_exporter",
        ] {
            assert!(c.get(name).is_some(), "{name} missing");
        }
        assert!(c.names().count() >= 8);
        for (name, e) in c.entries() {
            assert!(crate::names::is_safe_name(name), "{name}");
            assert!(e.arches.iter().any(|a| a == "amd64"), "{name}: no amd64");
            assert!(
                e.checksums.is_some(),
                "{name}: every catalogued exporter publishes checksums"
            );
            assert!(!e.version_args.is_empty(), "{name}: version_args");
        }
        // Distinct default ports: two catalogued exporters can run side by side.
        let mut ports: Vec<u16> = c.entries().map(|(_, e)| e.port).collect();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), c.names().count());
    }

    #[test]
    fn overrides_follow_upstream_history() {
        let c = Catalogue::builtin();
        let f = c.get("fail2ban_exporter").unwrap();
        assert_eq!(
            f.for_version("0.5.0").binary.as_deref(),
            Some("fail2ban-prometheus-exporter")
        );
        assert_eq!(f.for_version("0.7.1").tag, "{version}");
        assert_eq!(f.for_version("0.7.1").checksums.as_deref(), Some("checksums.txt"));
        let new = f.for_version("0.8.0");
        assert_eq!(new.tag, "v{version}");
        assert_eq!(new.binary.as_deref(), Some("fail2ban_exporter"));
        assert_eq!(
            new.checksums.as_deref(),
            Some("fail2ban_exporter_{version}_checksums.txt")
        );
        let n = c.get("nginx_exporter").unwrap();
        assert_eq!(
            n.for_version("0.11.0").build_info.as_deref(),
            Some("nginxexporter_build_info")
        );
        assert_eq!(
            n.for_version("1.0.0").build_info.as_deref(),
            Some("nginx_exporter_build_info")
        );
        assert!(n.for_version("1.5.1").signature.unwrap().files[0].ends_with(".sig"));
        assert!(n.for_version("1.5.3").signature.unwrap().files[0].ends_with(".bundle"));
        assert!(n.is_retracted("1.5.2"));
        assert_eq!(f.tag_templates(), vec!["v{version}", "{version}"]);
    }

    #[test]
    fn broken_entries_are_refused() {
        let base = "catalogue_version: 1\nexporters:\n  x:\n    description: d\n    forge: github\n    repo: a/b\n    asset: \"x-{version}.tar.gz\"\n    arches: [amd64]\n    archive: tar.gz\n    port: 1\n";
        assert!(Catalogue::parse(base).unwrap_err().to_string().contains("binary"));
        let bad_tpl = format!("{base}    binary: \"{{os}}/x\"\n");
        assert!(Catalogue::parse(&bad_tpl).unwrap_err().to_string().contains("{os}"));
        let bad_range = format!("{base}    binary: x\n    overrides: [{{ versions: \"nope\", binary: y }}]\n");
        assert!(Catalogue::parse(&bad_range).is_err());
        let unknown = format!("{base}    binary: x\n    colour: red\n");
        assert!(Catalogue::parse(&unknown).is_err());
    }

    #[test]
    fn version_requests() {
        assert_eq!(VersionRequest::parse("1.9.1").unwrap(), VersionRequest::Exact);
        assert_eq!(VersionRequest::parse("latest").unwrap(), VersionRequest::Latest);
        assert_eq!(
            VersionRequest::parse("~1.9").unwrap(),
            VersionRequest::Range("~1.9".into())
        );
        assert!(VersionRequest::parse("~x").is_err());
        let r = VersionRequest::parse("~1.9").unwrap();
        assert!(r.admits("1.9.7") && !r.admits("1.10.0"));
        assert!(!VersionRequest::Latest.admits("2.0.0-rc.1"));
    }

    #[test]
    fn nearest_versions() {
        let v: Vec<String> = ["0.4.0", "0.5.0", "0.10.3", "0.9.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nearest(&v, "0.4.1"), vec!["0.4.0", "0.5.0"]);
        assert_eq!(nearest(&v, "2.3.0"), vec!["0.10.3"]);
        assert_eq!(semver_of("1.10").unwrap().to_string(), "1.10.0");
        assert!(semver_of("1.2.3.4").is_none());
    }
}

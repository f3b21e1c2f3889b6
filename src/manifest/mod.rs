//! The manifest (`exporterctl/v1`): parsing with precise errors, validation,
//! and the validated model the rest of the tool works from.

pub mod lock;
mod raw;
pub mod template;

use crate::catalogue::{Catalogue, Entry, Forge, VersionRequest};
use raw::{RawExporter, RawHealth, RawManifest, RawSettings, RawSource, S};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const API_VERSION: &str = "exporterctl/v1";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {key}{}{message}", path.display(), if key.is_empty() { "" } else { ": " })]
    Invalid {
        path: PathBuf,
        line: u64,
        column: u64,
        /// Dotted key path, e.g. `exporters.node_exporter.health.timeout`.
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceManagerKind {
    Systemd,
    Process,
    None,
}

impl ServiceManagerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceManagerKind::Systemd => "systemd",
            ServiceManagerKind::Process => "process",
            ServiceManagerKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ForgeUrls {
    pub api_url: String,
    pub download_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Absolute host path (not yet under `--root`).
    pub bin_dir: PathBuf,
    pub unit_dir: PathBuf,
    pub service_manager: ServiceManagerKind,
    /// Go architecture name that `{arch}` expands to.
    pub arch: String,
    #[serde(with = "humantime_serde_compat")]
    pub pause_safe: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub pause_standard: Duration,
    pub github: ForgeUrls,
    pub gitlab: ForgeUrls,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bin_dir: PathBuf::from("/usr/local/bin"),
            unit_dir: PathBuf::from("/etc/systemd/system"),
            service_manager: ServiceManagerKind::Systemd,
            arch: template::host_arch().to_string(),
            pause_safe: Duration::from_secs(30),
            pause_standard: Duration::from_secs(10),
            github: ForgeUrls {
                api_url: "https://api.github.com".into(),
                download_url: "https://github.com".into(),
            },
            gitlab: ForgeUrls {
                api_url: "https://gitlab.com/api/v4".into(),
                download_url: "https://gitlab.com".into(),
            },
        }
    }
}

/// Durations as humane strings (`30s`, `2m`) in every JSON record.
pub mod humantime_serde_compat {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

/// Where a release comes from, before template expansion.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum SourceKind {
    /// `url:` template (any HTTP server, a mirror, `file://`).
    Url { url: String },
    /// GitHub releases of `owner/repo`.
    Github { repo: String, tag: String, asset: String },
    /// GitLab releases of `group/project`.
    Gitlab {
        project: String,
        tag: String,
        asset: String,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// Checksum file: a full URL template (`checksums_url`) or, for forges,
    /// a file name in the same release (`checksums`).
    pub checksums: Option<String>,
    pub sha256: Option<String>,
    /// Path of the binary inside the archive (templated); `None` for raw downloads.
    pub binary: Option<String>,
    /// `settings.arch` → how this source's assets spell it (`armv7` → `arm`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub arch_map: BTreeMap<String, String>,
    /// Architectures upstream publishes (from the catalogue); `None`: not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveKind {
    TarGz,
    /// The download is the executable itself.
    Raw,
}

/// A source with every template expanded for one version and architecture.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResolvedSource {
    pub url: String,
    pub checksums_url: Option<String>,
    /// Name to look up in the checksum file: the archive's file name.
    pub file_name: String,
    pub sha256: Option<String>,
    pub binary: Option<String>,
    pub archive: ArchiveKind,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HealthSpec {
    pub url: Option<String>,
    pub build_info: Option<String>,
    pub build_info_label: String,
    pub expect: Vec<String>,
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub settle: Duration,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            url: None,
            build_info: None,
            build_info_label: "version".into(),
            expect: Vec::new(),
            timeout: Duration::from_secs(30),
            settle: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Exporter {
    pub name: String,
    /// The exact version once resolved; before that, `latest` or the range as written.
    pub version: String,
    /// What `version:` asked for; a `latest` or range request is resolved
    /// to an exact version (by the forge's release list, or from the lock)
    /// before anything is realised.
    pub requested: VersionRequest,
    /// False until a `latest`/range request is resolved ([`Exporter::set_version`]).
    pub resolved: bool,
    /// The catalogue entry merged under this exporter's own keys, if any.
    pub catalogue: Option<String>,
    /// What is needed to rebuild source and health for another version
    /// (catalogue overrides depend on the version).
    #[serde(skip)]
    pending: Option<Box<Pending>>,
    pub source: Source,
    /// systemd unit name (`<name>.service` by default).
    pub unit: String,
    /// exporterctl writes the unit file and links it into `unit_dir`.
    pub manage_unit: bool,
    pub user: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub args: Vec<String>,
    pub health: HealthSpec,
    pub insecure_skip_verify: bool,
    /// Allow plain `http://` to a non-loopback host for this exporter.
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    #[serde(skip)]
    pub path: PathBuf,
    pub settings: Settings,
    pub exporters: Vec<Exporter>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (used in error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let message = e.without_snippet().to_string();
            // saphyr appends the location, which our prefix already shows.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            let message = match message.strip_prefix("duplicate mapping key: ") {
                Some(rest) => format!("duplicate key `{}`", rest.split(',').next().unwrap_or(rest)),
                None => message,
            };
            ManifestError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                key: key_path_at(text, line, column),
                message,
            }
        })?;
        Validator { path }.manifest(raw)
    }

    pub fn exporter(&self, name: &str) -> Option<&Exporter> {
        self.exporters.iter().find(|e| e.name == name)
    }
}

/// The dotted key path of the block-style YAML node at `line`:`column`
/// (1-based), found from indentation: saphyr's type errors give the place
/// but not the key, and a user wants both.
fn key_path_at(text: &str, line: u64, column: u64) -> String {
    fn key_of(l: &str) -> Option<(usize, &str)> {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim_start().trim_start_matches("- ");
        let (k, _) = t.split_once(':')?;
        let k = k.trim().trim_matches(['"', '\'']);
        let ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b));
        ok.then_some((indent, k))
    }
    let lines: Vec<&str> = text.lines().collect();
    let Some(idx) = (line as usize).checked_sub(1).filter(|i| *i < lines.len()) else {
        return String::new();
    };
    let mut keys = Vec::new();
    let mut limit = match key_of(lines[idx]) {
        Some((indent, k)) if indent < column as usize => {
            keys.push(k);
            indent
        }
        _ => column.saturating_sub(1) as usize,
    };
    for l in lines[..idx].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if let Some((indent, k)) = key_of(l) {
            if indent < limit {
                keys.push(k);
                limit = indent;
            }
        }
        if limit == 0 {
            break;
        }
    }
    keys.reverse();
    keys.join(".")
}

/// The parts of a manifest entry kept to rebuild it for a resolved version.
#[derive(Debug, Clone)]
struct Pending {
    path: PathBuf,
    key: String,
    name: S<String>,
    version_at: serde_saphyr::Location,
    entry: Option<String>,
    source: Option<RawSource>,
    health: RawHealth,
    insecure_skip_verify: bool,
}

impl Exporter {
    /// Expands the source templates for this exporter's version.
    pub fn resolve_source(&self, settings: &Settings) -> Result<ResolvedSource, String> {
        if !self.resolved {
            return Err(format!(
                "version `{}` is not resolved to an exact version yet (internal error: resolve versions first)",
                self.version
            ));
        }
        resolve_source(&self.source, &self.version, settings)
    }

    /// The catalogue entry this exporter uses, with its overrides for the
    /// current version applied (base entry while unresolved).
    pub fn catalogue_entry(&self) -> Option<Entry> {
        let e = Catalogue::builtin().get(self.catalogue.as_deref()?)?;
        Some(if self.resolved {
            e.for_version(&self.version)
        } else {
            e.for_version("")
        })
    }

    /// The forge (`github`/`gitlab`) and repository of a forge source.
    pub fn forge(&self) -> Option<(Forge, &str)> {
        match &self.source.kind {
            SourceKind::Github { repo, .. } => Some((Forge::Github, repo)),
            SourceKind::Gitlab { project, .. } => Some((Forge::Gitlab, project)),
            SourceKind::Url { .. } => None,
        }
    }

    /// The tag template of a forge source.
    pub fn tag_template(&self) -> Option<&str> {
        match &self.source.kind {
            SourceKind::Github { tag, .. } | SourceKind::Gitlab { tag, .. } => Some(tag),
            SourceKind::Url { .. } => None,
        }
    }

    /// The tag of `version` under this exporter's source (and catalogue overrides).
    pub fn tag_for(&self, version: &str, settings: &Settings) -> Option<String> {
        let template = match self.pending.as_ref().and_then(|p| p.entry.as_deref()) {
            Some(entry) if self.own_tag().is_none() => Catalogue::builtin().get(entry)?.for_version(version).tag,
            _ => self.tag_template()?.to_string(),
        };
        template::expand(
            &template,
            &template::Vars {
                version,
                arch: &settings.arch,
                tag: "",
            },
        )
        .ok()
    }

    fn own_tag(&self) -> Option<&str> {
        let p = self.pending.as_ref()?;
        p.source.as_ref()?.tag.as_ref().map(|t| t.value.as_str())
    }

    /// Every tag template that may name a release of this exporter.
    pub fn tag_templates(&self) -> Vec<String> {
        if let Some(t) = self.own_tag() {
            return vec![t.to_string()];
        }
        match Catalogue::builtin().get(self.catalogue.as_deref().unwrap_or_default()) {
            Some(e) => e.tag_templates().into_iter().map(str::to_string).collect(),
            None => self.tag_template().map(|t| vec![t.to_string()]).unwrap_or_default(),
        }
    }

    /// Fixes the version of a `latest`/range exporter (or changes an exact
    /// one) and rebuilds its source and health for it: catalogue overrides
    /// depend on the version. Errors name the manifest's file and line.
    pub fn set_version(&mut self, version: &str, settings: &Settings) -> Result<(), ManifestError> {
        let Some(p) = self.pending.clone() else {
            self.version = version.to_string();
            self.resolved = true;
            return Ok(());
        };
        let v = Validator { path: &p.path };
        if !is_version(version) {
            return v.err(
                &p.version_at,
                format!("{}.version", p.key),
                format!("`{version}` is not a version"),
            );
        }
        let (source, health) = v.build(&p, Some(version))?;
        self.version = version.to_string();
        self.source = source;
        self.health = health;
        self.resolved = true;
        v.check_release(settings, self, &p)?;
        Ok(())
    }

    /// The path of the download below the forge's download base URL
    /// (`owner/repo/releases/download/TAG/FILE`), for forge sources.
    pub fn release_path(&self, settings: &Settings) -> Option<String> {
        let url = self.resolve_source(settings).ok()?.url;
        let base = match self.forge()?.0 {
            Forge::Github => &settings.github.download_url,
            Forge::Gitlab => &settings.gitlab.download_url,
        };
        url.strip_prefix(base.trim_end_matches('/'))
            .map(|p| p.trim_start_matches('/').to_string())
    }
}

pub fn resolve_source(source: &Source, version: &str, settings: &Settings) -> Result<ResolvedSource, String> {
    if let Some(arches) = &source.arches {
        if !arches.contains(&settings.arch) {
            return Err(format!(
                "upstream publishes no linux build for `{}` (it has: {}); set `settings.arch` or give `source.url`",
                settings.arch,
                arches.join(", ")
            ));
        }
    }
    let arch = source
        .arch_map
        .get(&settings.arch)
        .map(String::as_str)
        .unwrap_or(&settings.arch);
    let tag_template = match &source.kind {
        SourceKind::Url { .. } => "v{version}",
        SourceKind::Github { tag, .. } | SourceKind::Gitlab { tag, .. } => tag.as_str(),
    };
    let tag = template::expand(tag_template, &template::Vars { version, arch, tag: "" })?;
    let vars = template::Vars {
        version,
        arch,
        tag: &tag,
    };
    let release_base = match &source.kind {
        SourceKind::Url { .. } => None,
        SourceKind::Github { repo, .. } => Some(format!(
            "{}/{}/releases/download/{}",
            settings.github.download_url.trim_end_matches('/'),
            repo,
            tag
        )),
        SourceKind::Gitlab { project, .. } => Some(format!(
            "{}/{}/-/releases/{}/downloads",
            settings.gitlab.download_url.trim_end_matches('/'),
            project,
            tag
        )),
    };
    let url = match (&source.kind, &release_base) {
        (SourceKind::Url { url }, _) => template::expand(url, &vars)?,
        (SourceKind::Github { asset, .. } | SourceKind::Gitlab { asset, .. }, Some(base)) => {
            format!("{base}/{}", template::expand(asset, &vars)?)
        }
        _ => unreachable!("forge sources always have a release base"),
    };
    let checksums_url = match &source.checksums {
        None => None,
        Some(c) => {
            let c = template::expand(c, &vars)?;
            Some(match &release_base {
                Some(base) if !c.contains("://") => format!("{base}/{c}"),
                _ => c,
            })
        }
    };
    let file_name = url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    let archive = archive_kind(&file_name)?;
    let binary = match (&source.binary, archive) {
        (Some(b), ArchiveKind::TarGz) => Some(template::expand(b, &vars)?),
        (None, ArchiveKind::TarGz) => {
            return Err(format!(
                "`{file_name}` is an archive: say which file in it is the binary with `source.binary`"
            ))
        }
        (_, ArchiveKind::Raw) => None,
    };
    Ok(ResolvedSource {
        url,
        checksums_url,
        file_name,
        sha256: source.sha256.clone(),
        binary,
        archive,
    })
}

fn archive_kind(file_name: &str) -> Result<ArchiveKind, String> {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Ok(ArchiveKind::TarGz)
    } else if [".zip", ".tar.xz", ".tar.bz2", ".tar.zst", ".tar", ".gz"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        Err(format!(
            "`{file_name}`: unsupported archive format (supported: .tar.gz, .tgz, or a raw binary)"
        ))
    } else {
        Ok(ArchiveKind::Raw)
    }
}

/// Is `s` a release version: digits separated by dots, optionally followed by
/// a pre-release or build suffix (`1.9.1`, `0.10.3`, `2.0.0-rc.1`)?
pub fn is_version(s: &str) -> bool {
    let (core, suffix) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let core_ok = !core.is_empty()
        && core.split('.').count() <= 4
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok =
        suffix.is_none_or(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    core_ok && suffix_ok
}

/// Is `s` a name that is safe as a file name, a unit stem and a store path part?
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

struct Validator<'a> {
    path: &'a Path,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        at: &serde_saphyr::Location,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, ManifestError> {
        Err(ManifestError::Invalid {
            path: self.path.to_path_buf(),
            line: at.line(),
            column: at.column(),
            key: key.into(),
            message: message.into(),
        })
    }

    fn manifest(&self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        if raw.api_version.value != API_VERSION {
            return self.err(
                &raw.api_version.referenced,
                "apiVersion",
                format!("unsupported `{}` (expected `{API_VERSION}`)", raw.api_version.value),
            );
        }
        let settings = self.settings(raw.settings.unwrap_or_default())?;
        if raw.exporters.value.0.is_empty() {
            return self.err(&raw.exporters.referenced, "exporters", "declares no exporter");
        }
        let mut exporters = Vec::new();
        for (name, e) in raw.exporters.value.0 {
            exporters.push(self.exporter(&settings, name, e)?);
        }
        Ok(Manifest {
            path: self.path.to_path_buf(),
            settings,
            exporters,
        })
    }

    fn abs_path(&self, v: &S<String>, key: &str) -> Result<PathBuf, ManifestError> {
        let p = PathBuf::from(&v.value);
        if !p.is_absolute() {
            return self.err(&v.referenced, key, format!("`{}` must be an absolute path", v.value));
        }
        if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return self.err(&v.referenced, key, format!("`{}` must not contain `..`", v.value));
        }
        Ok(p)
    }

    fn duration(&self, v: &S<String>, key: &str) -> Result<Duration, ManifestError> {
        match humantime::parse_duration(v.value.trim()) {
            Ok(d) => Ok(d),
            Err(e) => self.err(
                &v.referenced,
                key,
                format!("`{}` is not a duration ({e}); write e.g. `30s`, `500ms`, `2m`", v.value),
            ),
        }
    }

    fn base_url(&self, v: &Option<S<String>>, key: &str, default: &str) -> Result<String, ManifestError> {
        match v {
            None => Ok(default.to_string()),
            Some(v)
                if v.value.starts_with("https://")
                    || v.value.starts_with("http://")
                    || v.value.starts_with("file://") =>
            {
                Ok(v.value.trim_end_matches('/').to_string())
            }
            Some(v) => self.err(
                &v.referenced,
                key,
                format!("`{}` is not an http(s):// or file:// URL", v.value),
            ),
        }
    }

    fn settings(&self, raw: RawSettings) -> Result<Settings, ManifestError> {
        let mut s = Settings::default();
        if let Some(v) = &raw.bin_dir {
            s.bin_dir = self.abs_path(v, "settings.bin_dir")?;
        }
        if let Some(v) = &raw.unit_dir {
            s.unit_dir = self.abs_path(v, "settings.unit_dir")?;
        }
        if let Some(v) = &raw.service_manager {
            s.service_manager = match v.value.as_str() {
                "systemd" => ServiceManagerKind::Systemd,
                "process" => ServiceManagerKind::Process,
                "none" => ServiceManagerKind::None,
                other => {
                    return self.err(
                        &v.referenced,
                        "settings.service_manager",
                        format!("unknown service manager `{other}` (expected systemd, process or none)"),
                    )
                }
            };
        }
        if let Some(v) = &raw.arch {
            if !template::KNOWN_ARCHES.contains(&v.value.as_str()) {
                return self.err(
                    &v.referenced,
                    "settings.arch",
                    format!(
                        "unknown architecture `{}` (expected one of {})",
                        v.value,
                        template::KNOWN_ARCHES.join(", ")
                    ),
                );
            }
            s.arch = v.value.clone();
        }
        if let Some(v) = &raw.pause_safe {
            s.pause_safe = self.duration(v, "settings.pause_safe")?;
        }
        if let Some(v) = &raw.pause_standard {
            s.pause_standard = self.duration(v, "settings.pause_standard")?;
        }
        if let Some(g) = &raw.github {
            s.github.api_url = self.base_url(&g.api_url, "settings.github.api_url", &s.github.api_url)?;
            s.github.download_url =
                self.base_url(&g.download_url, "settings.github.download_url", &s.github.download_url)?;
        }
        if let Some(g) = &raw.gitlab {
            s.gitlab.api_url = self.base_url(&g.api_url, "settings.gitlab.api_url", &s.gitlab.api_url)?;
            s.gitlab.download_url =
                self.base_url(&g.download_url, "settings.gitlab.download_url", &s.gitlab.download_url)?;
        }
        Ok(s)
    }

    fn exporter(&self, settings: &Settings, name: S<String>, raw: RawExporter) -> Result<Exporter, ManifestError> {
        let key = format!("exporters.{}", name.value);
        if !is_safe_name(&name.value) {
            return self.err(
                &name.referenced,
                &key,
                "exporter names may contain only letters, digits, `_`, `-`, `.` and `@`, and must not start with `.` or `-`",
            );
        }
        let Some(version) = raw.version else {
            return self.err(&name.referenced, format!("{key}.version"), "missing `version`");
        };
        let requested = match VersionRequest::parse(&version.value) {
            Ok(r) => r,
            Err(msg) => return self.err(&version.referenced, format!("{key}.version"), msg),
        };
        if requested.is_exact() && !is_version(&version.value) {
            let hint = if version.value.starts_with('v') && is_version(&version.value[1..]) {
                format!(" (write `{}` without the leading `v`)", &version.value[1..])
            } else {
                String::new()
            };
            return self.err(
                &version.referenced,
                format!("{key}.version"),
                format!(
                    "`{}` is not a version, `latest` or a range like `~1.9`{hint}",
                    version.value
                ),
            );
        }
        let catalogue = Catalogue::builtin();
        let entry = match &raw.catalogue {
            Some(c) if catalogue.get(&c.value).is_none() => {
                return self.err(
                    &c.referenced,
                    format!("{key}.catalogue"),
                    format!(
                        "no catalogue entry `{}` (known: {})",
                        c.value,
                        catalogue.names().collect::<Vec<_>>().join(", ")
                    ),
                )
            }
            Some(c) => Some(c.value.clone()),
            None => catalogue.get(&name.value).map(|_| name.value.clone()),
        };
        let insecure_skip_verify = raw.insecure_skip_verify.unwrap_or(false);
        let pending = Pending {
            path: self.path.to_path_buf(),
            key: key.clone(),
            name: name.clone(),
            version_at: version.referenced,
            entry: entry.clone(),
            source: raw.source,
            health: raw.health.unwrap_or_default(),
            insecure_skip_verify,
        };
        let exact = requested.is_exact().then_some(version.value.as_str());
        let (source, health) = self.build(&pending, exact)?;
        if !requested.is_exact() && matches!(source.kind, SourceKind::Url { .. }) {
            return self.err(
                &version.referenced,
                format!("{key}.version"),
                format!(
                    "`{}` needs a `github` or `gitlab` source to list releases; a `url` source takes an exact version",
                    version.value
                ),
            );
        }
        let unit = match raw.unit {
            None => format!("{}.service", name.value),
            Some(u) => {
                let stem_ok = u.value.strip_suffix(".service").is_some_and(is_safe_name);
                if !stem_ok {
                    return self.err(
                        &u.referenced,
                        format!("{key}.unit"),
                        format!("`{}` is not a service unit name like `{}.service`", u.value, name.value),
                    );
                }
                u.value
            }
        };
        let user = match raw.user {
            Some(u) if !is_safe_name(&u.value) => {
                return self.err(
                    &u.referenced,
                    format!("{key}.user"),
                    format!("`{}` is not a user name", u.value),
                )
            }
            u => u.map(|u| u.value),
        };
        let exporter = Exporter {
            name: name.value.clone(),
            version: version.value.clone(),
            resolved: requested.is_exact(),
            requested,
            catalogue: entry,
            pending: Some(Box::new(pending)),
            source,
            unit,
            manage_unit: raw.manage_unit.unwrap_or(false),
            user,
            environment: raw.environment.unwrap_or_default(),
            args: raw.args.unwrap_or_default(),
            health,
            insecure_skip_verify,
            allow_http: raw.allow_http.unwrap_or(false),
        };
        if let Some(p) = exporter.pending.as_deref() {
            self.check_release(settings, &exporter, p)?;
        }
        Ok(exporter)
    }

    /// Source and health of an entry for `version` (`None`: not known yet,
    /// the catalogue entry without its version overrides): the catalogue
    /// entry's fields under the manifest's own keys.
    fn build(&self, p: &Pending, version: Option<&str>) -> Result<(Source, HealthSpec), ManifestError> {
        let entry = p
            .entry
            .as_deref()
            .and_then(|n| Catalogue::builtin().get(n))
            .map(|e| e.for_version(version.unwrap_or_default()));
        let own = p.source.as_ref();
        let uses_catalogue_asset = own.is_none_or(|s| s.url.is_none() && s.asset.is_none());
        let Some(raw) = merge_source(entry.as_ref(), p.source.clone(), &p.name) else {
            return self.err(
                &p.name.referenced,
                format!("{}.source", p.key),
                format!(
                    "missing `source` (`{}` is not in the catalogue; set `catalogue: NAME` to use an entry under another name)",
                    p.name.value
                ),
            );
        };
        let mut source = self.source(&p.key, &p.name, raw)?;
        if let (Some(e), true) = (&entry, uses_catalogue_asset) {
            source.arches = Some(e.arches.clone());
        }
        let health = self.health(&p.key, entry.as_ref(), p.health.clone())?;
        Ok((source, health))
    }

    /// Checks what needs the version: retraction, template expansion,
    /// verifiability (with a placeholder version while unresolved).
    fn check_release(&self, settings: &Settings, e: &Exporter, p: &Pending) -> Result<(), ManifestError> {
        let key = &p.key;
        if e.resolved {
            if let Some(entry) = e.catalogue_entry() {
                if entry.is_retracted(&e.version) {
                    let others = entry.retracted.join(", ");
                    return self.err(
                        &p.version_at,
                        format!("{key}.version"),
                        format!(
                            "{} {} was retracted upstream and must not be installed (retracted: {others}); \
                             pick another version (`exporterctl versions {}` lists them)",
                            e.name,
                            e.version,
                            e.catalogue.as_deref().unwrap_or(&e.name)
                        ),
                    );
                }
            }
        }
        // Expanding now turns template mistakes into manifest errors, before anything runs.
        let version = if e.resolved { e.version.as_str() } else { "0.0.0" };
        if let Err(msg) = resolve_source(&e.source, version, settings) {
            return self.err(&p.name.referenced, format!("{key}.source"), msg);
        }
        let verifiable = e.source.sha256.is_some() || e.source.checksums.is_some();
        if !verifiable && !p.insecure_skip_verify {
            return self.err(
                &p.name.referenced,
                format!("{key}.source"),
                "no way to verify the download: give `sha256`, `checksums_url` (or `checksums` for a forge), \
                 or set `insecure_skip_verify: true` for this exporter",
            );
        }
        Ok(())
    }

    fn source(&self, key: &str, name: &S<String>, raw: RawSource) -> Result<Source, ManifestError> {
        let key = format!("{key}.source");
        let kinds = [raw.url.is_some(), raw.github.is_some(), raw.gitlab.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if kinds != 1 {
            return self.err(
                &name.referenced,
                &key,
                "give exactly one of `url`, `github` or `gitlab`",
            );
        }
        if let Some(sha) = &raw.sha256 {
            if sha.value.len() != 64 || !sha.value.bytes().all(|b| b.is_ascii_hexdigit()) {
                return self.err(
                    &sha.referenced,
                    format!("{key}.sha256"),
                    "must be 64 hexadecimal digits",
                );
            }
        }
        let kind = if let Some(url) = raw.url {
            for (field, v) in [("asset", &raw.asset), ("checksums", &raw.checksums), ("tag", &raw.tag)] {
                if let Some(v) = v {
                    return self.err(
                        &v.referenced,
                        format!("{key}.{field}"),
                        format!("`{field}` is for `github`/`gitlab` sources; a `url` source takes `checksums_url`"),
                    );
                }
            }
            SourceKind::Url { url: url.value }
        } else {
            let Some(asset) = raw.asset else {
                return self.err(
                    &name.referenced,
                    format!("{key}.asset"),
                    "a forge source needs `asset` (the release file name template)",
                );
            };
            let tag = raw.tag.map(|t| t.value).unwrap_or_else(|| "v{version}".into());
            if let Some(g) = raw.github {
                if g.value.split('/').count() != 2 {
                    return self.err(
                        &g.referenced,
                        format!("{key}.github"),
                        format!("`{}` is not `owner/repository`", g.value),
                    );
                }
                SourceKind::Github {
                    repo: g.value,
                    tag,
                    asset: asset.value,
                }
            } else if let Some(g) = raw.gitlab {
                SourceKind::Gitlab {
                    project: g.value,
                    tag,
                    asset: asset.value,
                }
            } else {
                unreachable!("exactly one source kind was checked above")
            }
        };
        if raw.checksums.is_some() && raw.checksums_url.is_some() {
            return self.err(&name.referenced, &key, "give `checksums` or `checksums_url`, not both");
        }
        Ok(Source {
            kind,
            checksums: raw.checksums_url.or(raw.checksums).map(|c| c.value),
            sha256: raw.sha256.map(|s| s.value.to_ascii_lowercase()),
            binary: raw.binary.map(|b| b.value),
            arch_map: raw.arch_map.unwrap_or_default(),
            arches: None,
        })
    }

    fn health(&self, key: &str, entry: Option<&Entry>, raw: RawHealth) -> Result<HealthSpec, ManifestError> {
        let key = format!("{key}.health");
        let mut h = HealthSpec::default();
        if let Some(u) = raw.url {
            if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
                return self.err(
                    &u.referenced,
                    format!("{key}.url"),
                    format!("`{}` is not an http(s) URL", u.value),
                );
            }
            h.url = Some(u.value);
        } else if let Some(e) = entry {
            h.url = Some(e.metrics_url());
        }
        if let Some(b) = raw.build_info {
            // `build_info: ""` turns the catalogue's version check off (a
            // distro build reporting `0.11.0-1+b4`, say).
            if b.value.is_empty() {
                h.build_info = None;
            } else if h.url.is_none() {
                return self.err(
                    &b.referenced,
                    format!("{key}.build_info"),
                    "needs `health.url` to scrape",
                );
            } else {
                h.build_info = Some(b.value);
            }
        } else if let Some(e) = entry {
            h.build_info = e.build_info.clone();
            h.build_info_label = e.build_info_label.clone();
        }
        if let Some(l) = raw.build_info_label {
            h.build_info_label = l.value;
        }
        for (i, e) in raw.expect.unwrap_or_default().into_iter().enumerate() {
            let k = format!("{key}.expect[{i}]");
            if h.url.is_none() {
                return self.err(&e.referenced, k, "needs `health.url` to scrape");
            }
            if let Err(msg) = crate::health::parse_expectation(&e.value) {
                return self.err(&e.referenced, k, msg);
            }
            h.expect.push(e.value);
        }
        if let Some(up) = raw.up.filter(|u| u.value) {
            match entry.and_then(|e| e.up.clone()) {
                Some(sample) if h.url.is_some() => {
                    if !h.expect.contains(&sample) {
                        h.expect.push(sample);
                    }
                }
                Some(_) => return self.err(&up.referenced, format!("{key}.up"), "needs `health.url` to scrape"),
                None => {
                    return self.err(
                        &up.referenced,
                        format!("{key}.up"),
                        "no \"up\" metric is known for this exporter (no catalogue entry has one); \
                         write the sample in `health.expect` instead",
                    )
                }
            }
        }
        if let Some(t) = &raw.timeout {
            h.timeout = self.duration(t, &format!("{key}.timeout"))?;
        }
        if let Some(t) = &raw.settle {
            h.settle = self.duration(t, &format!("{key}.settle"))?;
        }
        Ok(h)
    }
}

/// The catalogue entry's source fields under the manifest's own `source`
/// keys (any key the manifest gives wins). A manifest `url` replaces the
/// forge, tag, asset and checksum file; a manifest `github`/`gitlab` keeps
/// the entry's templates (a fork or a mirror with the same layout). Values
/// taken from the catalogue carry the exporter name's location for errors.
fn merge_source(entry: Option<&Entry>, own: Option<RawSource>, at: &S<String>) -> Option<RawSource> {
    let Some(e) = entry else { return own };
    let mut s = own.unwrap_or_default();
    let sp = |v: &str| S::new(v.to_string(), at.referenced, at.referenced);
    if s.url.is_none() && s.github.is_none() && s.gitlab.is_none() {
        match e.forge {
            Forge::Github => s.github = Some(sp(&e.repo)),
            Forge::Gitlab => s.gitlab = Some(sp(&e.repo)),
        }
    }
    if s.url.is_none() {
        if s.tag.is_none() {
            s.tag = Some(sp(&e.tag));
        }
        if s.asset.is_none() {
            s.asset = Some(sp(&e.asset));
        }
        if s.checksums.is_none() && s.checksums_url.is_none() {
            s.checksums = e.checksums.as_deref().map(sp);
        }
    }
    if s.binary.is_none() {
        s.binary = e.binary.as_deref().map(sp);
    }
    if s.arch_map.is_none() && !e.arch_map.is_empty() {
        s.arch_map = Some(e.arch_map.clone());
    }
    Some(s)
}

#[cfg(test)]
mod catalogue_tests;

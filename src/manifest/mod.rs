//! The manifest (`exporterctl/v1`): parsing with precise errors, validation,
//! and the validated model the rest of the tool works from.

pub mod lock;
mod raw;
pub mod template;

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
    pub version: String,
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

impl Exporter {
    /// Expands the source templates for this exporter's version.
    pub fn resolve_source(&self, settings: &Settings) -> Result<ResolvedSource, String> {
        resolve_source(&self.source, &self.version, settings)
    }
}

pub fn resolve_source(source: &Source, version: &str, settings: &Settings) -> Result<ResolvedSource, String> {
    let tag_template = match &source.kind {
        SourceKind::Url { .. } => "v{version}",
        SourceKind::Github { tag, .. } | SourceKind::Gitlab { tag, .. } => tag.as_str(),
    };
    let tag = template::expand(
        tag_template,
        &template::Vars {
            version,
            arch: &settings.arch,
            tag: "",
        },
    )?;
    let vars = template::Vars {
        version,
        arch: &settings.arch,
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
        if !is_version(&version.value) {
            let hint = if version.value.starts_with('v') && is_version(&version.value[1..]) {
                format!(" (write `{}` without the leading `v`)", &version.value[1..])
            } else {
                String::new()
            };
            return self.err(
                &version.referenced,
                format!("{key}.version"),
                format!("`{}` is not a version{hint}", version.value),
            );
        }
        let Some(raw_source) = raw.source else {
            return self.err(&name.referenced, format!("{key}.source"), "missing `source`");
        };
        let source = self.source(&key, &name, raw_source)?;
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
        let health = self.health(&key, raw.health.unwrap_or_default())?;
        let exporter = Exporter {
            name: name.value.clone(),
            version: version.value.clone(),
            source,
            unit,
            manage_unit: raw.manage_unit.unwrap_or(false),
            user,
            environment: raw.environment.unwrap_or_default(),
            args: raw.args.unwrap_or_default(),
            health,
            insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
            allow_http: raw.allow_http.unwrap_or(false),
        };
        // Expanding now turns template mistakes into manifest errors, before anything runs.
        if let Err(msg) = exporter.resolve_source(settings) {
            return self.err(&name.referenced, format!("{key}.source"), msg);
        }
        let verifiable = exporter.source.sha256.is_some() || exporter.source.checksums.is_some();
        if !verifiable && !exporter.insecure_skip_verify {
            return self.err(
                &name.referenced,
                format!("{key}.source"),
                "no way to verify the download: give `sha256`, `checksums_url` (or `checksums` for a forge), \
                 or set `insecure_skip_verify: true` for this exporter",
            );
        }
        Ok(exporter)
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
        })
    }

    fn health(&self, key: &str, raw: RawHealth) -> Result<HealthSpec, ManifestError> {
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
        }
        if let Some(b) = raw.build_info {
            if h.url.is_none() {
                return self.err(
                    &b.referenced,
                    format!("{key}.build_info"),
                    "needs `health.url` to scrape",
                );
            }
            h.build_info = Some(b.value);
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
        if let Some(t) = &raw.timeout {
            h.timeout = self.duration(t, &format!("{key}.timeout"))?;
        }
        if let Some(t) = &raw.settle {
            h.settle = self.duration(t, &format!("{key}.settle"))?;
        }
        Ok(h)
    }
}

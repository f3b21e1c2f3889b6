//! The manifest (`exporterctl/v1`): parsing with precise errors, validation,
//! and the validated model the rest of the tool works from.

mod download;
mod host;
pub mod lock;
mod monitoring;
mod own;
mod raw;
mod validate;

use validate::Validator;

// Vocabulary that lives below the manifest, re-exported where callers
// found it before.
pub use crate::names::{is_safe_name, is_version};
pub use crate::template;
pub use crate::units::SandboxSpec;

use crate::catalogue::{Catalogue, Entry, VersionRequest};
use crate::source::forge::{Forge, ForgeUrls};
use raw::{RawHealth, RawManifest, RawSource, S};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fsutil::humantime_serde_compat;
use crate::generation::state::{ExporterState, ProfileState};
use crate::health::{HealthSpec, MAX_HEALTH_WAIT};
use crate::service::ServiceManagerKind;
use crate::store::{ArchiveKind, StorePath};

pub const API_VERSION: &str = "exporterctl/v1";

/// Longest `settings.pause_safe` and `settings.pause_standard`.
pub const MAX_PAUSE: Duration = Duration::from_secs(24 * 60 * 60);

/// How many steps a fast switch (`settings.parallel`) and a rollback run
/// side by side unless told otherwise.
pub const DEFAULT_PARALLEL: usize = 8;

/// Most steps side by side (`--parallel`, `settings.parallel`): each is a
/// thread waiting on a restart; more is a typo, not a wish.
pub const MAX_PARALLEL: usize = 64;

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

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Absolute host path (not yet under `--root`).
    pub bin_dir: PathBuf,
    pub unit_dir: PathBuf,
    pub service_manager: ServiceManagerKind,
    /// The default of every exporter's `manage_unit`.
    pub manage_units: bool,
    /// Go architecture name that `{arch}` expands to.
    pub arch: String,
    #[serde(with = "humantime_serde_compat")]
    pub pause_safe: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub pause_standard: Duration,
    /// How many exporters `--mode fast` switches side by side.
    pub parallel: usize,
    pub github: ForgeUrls,
    pub gitlab: ForgeUrls,
    /// `settings.download`: size, time and rate limits of every download.
    pub download: crate::source::DownloadLimits,
    /// `settings.preflight`: the default of `switch --preflight`.
    pub preflight: crate::generation::preflight::Mode,
    /// `settings.monitoring`: silences, annotations, notifications,
    /// Prometheus' verification, the textfile (`crate::monitoring`).
    pub monitoring: Option<crate::monitoring::MonitoringSettings>,
}

impl Settings {
    /// `settings.github` or `settings.gitlab`.
    pub fn forge(&self, forge: Forge) -> &ForgeUrls {
        match forge {
            Forge::Github => &self.github,
            Forge::Gitlab => &self.gitlab,
        }
    }
}

impl Settings {
    /// The state of a host with these settings and no exporter yet.
    pub fn empty_state(&self) -> ProfileState {
        ProfileState::empty(self.bin_dir.clone(), self.unit_dir.clone(), self.service_manager)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bin_dir: PathBuf::from("/usr/local/bin"),
            unit_dir: PathBuf::from("/etc/systemd/system"),
            service_manager: ServiceManagerKind::Systemd,
            manage_units: false,
            arch: template::host_arch().to_string(),
            pause_safe: Duration::from_secs(30),
            pause_standard: Duration::from_secs(10),
            parallel: DEFAULT_PARALLEL,
            github: ForgeUrls::public(Forge::Github),
            gitlab: ForgeUrls::public(Forge::Gitlab),
            download: Default::default(),
            preflight: Default::default(),
            monitoring: None,
        }
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
    /// Its own keys, validated: what source and health are resolved from
    /// for another version (catalogue overrides depend on the version).
    #[serde(skip)]
    own: Option<Box<own::Own>>,
    pub source: Source,
    /// `source` expanded for `version` once it is exact ([`Exporter::resolved_source`]).
    #[serde(skip)]
    resolved_source: Option<ResolvedSource>,
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
    /// The sandbox of a generated unit (`units::sandbox`).
    pub sandbox: SandboxSpec,
    /// `socket_activation:` as written; `None`: the catalogue decides
    /// (`units::socket_activation::enabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_activation: Option<bool>,
    /// Run a preflight copy before its first flip (`preflight:`; default
    /// the catalogue entry's, else `true`).
    pub preflight: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    #[serde(skip)]
    pub path: PathBuf,
    pub settings: Settings,
    pub exporters: Vec<Exporter>,
    /// Where the settings checked against the host were written.
    #[serde(skip)]
    at: SettingsAt,
}

/// The places of settings that are checked again at run time (against the
/// installed state, the real state directory); `None`: not written.
#[derive(Debug, Clone, Copy, Default)]
struct SettingsAt {
    bin_dir: Option<serde_saphyr::Location>,
    unit_dir: Option<serde_saphyr::Location>,
    service_manager: Option<serde_saphyr::Location>,
}

impl Manifest {
    /// What the unit files of each exporter are made from, in manifest order.
    pub fn unit_specs(&self) -> impl Iterator<Item = crate::units::UnitSpec<'_>> {
        self.exporters.iter().map(|e| e.unit_spec(&self.settings))
    }

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
    /// The source with its templates expanded for this exporter's version:
    /// expanded once, when the version became exact (at validation, or by
    /// [`Exporter::set_version`]), and read from here by the lock check,
    /// the realise, the dry run and the mirror.
    pub fn resolved_source(&self) -> Result<&ResolvedSource, String> {
        match &self.resolved_source {
            Some(s) if self.resolved => Ok(s),
            _ => Err(format!(
                "version `{}` is not resolved to an exact version yet (internal error: resolve versions first)",
                self.version
            )),
        }
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

    /// This exporter as a state entry, running `store_path` at `version`
    /// (with `unit_store_path` its generated or adopted unit file).
    pub fn state(&self, version: String, store_path: StorePath, unit_store_path: Option<StorePath>) -> ExporterState {
        ExporterState {
            name: self.name.clone(),
            version,
            store_path,
            unit: self.unit.clone(),
            unit_store_path,
            socket_store_path: None,
            args: self.args.clone(),
            environment: self.environment.clone(),
            health: self.health.clone(),
        }
    }

    /// What its unit files are made from (`units::generated_units`).
    pub fn unit_spec<'a>(&'a self, settings: &Settings) -> crate::units::UnitSpec<'a> {
        crate::units::UnitSpec {
            name: &self.name,
            version: &self.version,
            unit: &self.unit,
            exec: settings.bin_dir.join(&self.name),
            service_manager: settings.service_manager,
            manage_unit: self.manage_unit,
            user: self.user.as_deref(),
            environment: &self.environment,
            args: &self.args,
            sandbox: &self.sandbox,
            socket_activation: self.socket_activation,
            catalogue: self.catalogue_entry(),
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
        let template = match self.own.as_ref().and_then(|o| o.entry.as_deref()) {
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
        self.own.as_ref()?.source.tag.as_deref()
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
    /// one) and resolves its source and health for it from its validated
    /// own keys and the catalogue's overrides for that version; checks only
    /// what depends on the version. Errors name the manifest's file and line.
    pub fn set_version(&mut self, version: &str, settings: &Settings) -> Result<(), ManifestError> {
        let Some(own) = self.own.as_deref() else {
            self.version = version.to_string();
            self.resolved = true;
            self.resolved_source = resolve_source(&self.source, version, settings).ok();
            return Ok(());
        };
        let v = Validator { path: &own.path };
        if !is_version(version) {
            return v.err(
                &own.version_at,
                format!("{}.version", own.key),
                format!("`{version}` is not a version"),
            );
        }
        let (source, health) = own.merge(Some(version));
        self.version = version.to_string();
        self.source = source;
        self.health = health;
        self.resolved = true;
        self.resolved_source = None;
        self.resolved_source = v.check_release(settings, self, own)?;
        Ok(())
    }

    /// The path of the download below the forge's download base URL
    /// (`owner/repo/releases/download/TAG/FILE`), for forge sources.
    pub fn release_path(&self, settings: &Settings) -> Option<String> {
        let url = &self.resolved_source().ok()?.url;
        let base = &settings.forge(self.forge()?.0).download_url;
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

#[cfg(test)]
mod catalogue_tests;

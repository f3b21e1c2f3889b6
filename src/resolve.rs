//! Upstream versions: resolving `latest` and ranges to exact versions
//! (from the lock when it has one, else from the forge's release list),
//! listing what upstream publishes, and naming the nearest existing versions
//! when a requested one does not exist.

use crate::catalogue::{self, VersionRequest};
use crate::manifest::lock::{LockError, LockFile};
use crate::manifest::{Exporter, Manifest, ManifestError, Settings};
use crate::paths::Layout;
use crate::redact::url_without_password;
use crate::source::forge::{version_from_tag, Forge, ForgeClient, ForgeError, Tokens};
use crate::source::{FetchError, Fetcher, SecretHeaders};
use serde::Serialize;

/// What the user can fix in the manifest or its lock is bad input (exit 2,
/// [`ResolveError::is_bad_input`]); the forge failing (network, rate
/// limits) and the download directory are not.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The lock beside the manifest does not load or no longer matches it.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Setting up the download cache.
    #[error(transparent)]
    Fetcher(Box<FetchError>),
    #[error("{exporter}: {source}")]
    Forge {
        exporter: String,
        #[source]
        source: Box<ForgeError>,
    },
    #[error(
        "{exporter} {version}: {url} was not found (HTTP 404); check `version` and the source's URL templates \
         in the manifest"
    )]
    NotPublished {
        exporter: String,
        version: String,
        url: String,
    },
    #[error("{exporter}: has a `url` source; only `github`/`gitlab` sources (or catalogue entries) list versions")]
    NotForge { exporter: String },
    #[error("{exporter}: no release of {repo} matches `{request}` (newest: {newest})")]
    NoMatch {
        exporter: String,
        repo: String,
        request: String,
        newest: String,
    },
    #[error("{exporter} {version} does not exist upstream ({forge} {repo}); nearest existing: {nearest}")]
    Missing {
        exporter: String,
        version: String,
        forge: &'static str,
        repo: String,
        nearest: String,
    },
}

impl ResolveError {
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ResolveError::Forge { .. } | ResolveError::Fetcher(_))
    }
}

/// One version upstream publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamVersion {
    pub version: String,
    pub tag: String,
    pub prerelease: bool,
    /// Listed as retracted in the catalogue: never selected, refused when asked for.
    pub retracted: bool,
}

/// Reads upstream release lists for the exporters of one manifest.
pub struct Upstream<'a> {
    pub fetcher: &'a Fetcher,
    pub tokens: &'a Tokens,
    pub settings: &'a Settings,
}

impl Upstream<'_> {
    /// Every version of `e`'s repository, newest first. Tags that do not
    /// fit the exporter's tag templates (other components, `nightly`) are
    /// left out.
    pub fn versions(&self, e: &Exporter) -> Result<Vec<UpstreamVersion>, ResolveError> {
        let Some((forge, repo)) = e.forge() else {
            return Err(ResolveError::NotForge {
                exporter: e.name.clone(),
            });
        };
        let entry = e.catalogue_entry();
        let former: Vec<String> = entry
            .as_ref()
            .filter(|c| c.repo == repo)
            .map(|c| c.former_repos.clone())
            .unwrap_or_default();
        let (kind, urls) = (forge, self.settings.forge(forge));
        let client = ForgeClient {
            fetcher: self.fetcher,
            tokens: self.tokens,
        };
        let releases = client
            .releases(kind, urls, repo, &former, &e.name)
            .map_err(|source| ResolveError::Forge {
                exporter: e.name.clone(),
                source: Box::new(source),
            })?;
        let templates = e.tag_templates();
        let mut out: Vec<UpstreamVersion> = Vec::new();
        for r in releases.into_iter().filter(|r| !r.draft) {
            let version = templates
                .iter()
                .filter_map(|t| version_from_tag(t, &r.tag))
                .find(|v| e.tag_for(v, self.settings).as_deref() == Some(r.tag.as_str()));
            let Some(version) = version else { continue };
            if catalogue::semver_of(&version).is_none() || out.iter().any(|o| o.version == version) {
                continue;
            }
            let prerelease = r.prerelease || catalogue::semver_of(&version).is_some_and(|v| !v.pre.is_empty());
            out.push(UpstreamVersion {
                retracted: entry.as_ref().is_some_and(|c| c.is_retracted(&version)),
                version,
                tag: r.tag,
                prerelease,
            });
        }
        out.sort_by_key(|v| std::cmp::Reverse(catalogue::semver_of(&v.version)));
        Ok(out)
    }

    /// The version `e`'s request selects: the highest one it admits that is
    /// neither a pre-release (unless the range names one) nor retracted.
    pub fn select(&self, e: &Exporter) -> Result<String, ResolveError> {
        let versions = self.versions(e)?;
        let pick = versions.iter().find(|v| {
            !v.retracted
                && match &e.requested {
                    VersionRequest::Latest => !v.prerelease,
                    // semver ranges admit a pre-release only when they name one; a
                    // forge's "prerelease" flag on a plain version counts too.
                    r => {
                        r.admits(&v.version)
                            && (!v.prerelease || catalogue::semver_of(&v.version).is_some_and(|x| !x.pre.is_empty()))
                    }
                }
        });
        match pick {
            Some(v) => Ok(v.version.clone()),
            None => Err(ResolveError::NoMatch {
                exporter: e.name.clone(),
                repo: e.forge().map(|(_, r)| r.to_string()).unwrap_or_default(),
                request: e.version.clone(),
                newest: versions
                    .iter()
                    .take(5)
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// `Ok` when `e`'s exact version is published upstream; otherwise
    /// [`ResolveError::Missing`] naming the nearest existing versions.
    pub fn check_exists(&self, e: &Exporter) -> Result<(), ResolveError> {
        let versions = self.versions(e)?;
        if versions.iter().any(|v| v.version == e.version) {
            return Ok(());
        }
        let usable: Vec<String> = versions
            .iter()
            .filter(|v| !v.retracted)
            .map(|v| v.version.clone())
            .collect();
        let near = catalogue::nearest(&usable, &e.version);
        let (forge, repo) = e
            .forge()
            .map(|(f, r)| (f, r.to_string()))
            .unwrap_or((Forge::Github, String::new()));
        Err(ResolveError::Missing {
            exporter: e.name.clone(),
            version: e.version.clone(),
            forge: forge.name(),
            repo,
            nearest: if near.is_empty() {
                "none (the repository lists no release)".into()
            } else {
                near.join(", ")
            },
        })
    }
}

/// Resolves every `latest`/range exporter of `manifest` to an exact version:
/// the lock's version when the lock has the exporter and it satisfies the
/// request (no API call: a locked manifest is reproducible), else the
/// forge's newest matching release. Exact versions are left alone.
pub fn resolve_versions(
    manifest: &mut Manifest,
    fetcher: &Fetcher,
    tokens: &Tokens,
    lock: Option<&LockFile>,
) -> Result<(), ResolveError> {
    let settings = manifest.settings.clone();
    let up = Upstream {
        fetcher,
        tokens,
        settings: &settings,
    };
    for e in manifest.exporters.iter_mut().filter(|e| !e.resolved) {
        let locked = lock
            .and_then(|l| l.entry(&e.name))
            .map(|l| l.version.clone())
            .filter(|v| e.requested.admits(v));
        let version = match locked {
            Some(v) => v,
            None => {
                let v = up.select(e)?;
                tracing::info!("{}: {} is {v}", e.name, e.version);
                v
            }
        };
        e.set_version(&version, &settings)?;
    }
    Ok(())
}

/// When a download of a pinned version was not found (404), asks the forge
/// whether that version exists, so the error can name the nearest ones.
/// `None` when the version does exist (the 404 was something else) or the
/// forge cannot say.
pub fn explain_not_found(up: &Upstream<'_>, e: &Exporter, err: &FetchError) -> Option<ResolveError> {
    let FetchError::NotFound { url, .. } = err else {
        return None;
    };
    if e.forge().is_none() {
        // A plain URL source has no release list to ask: a 404 there is a
        // version it does not publish or a mistyped template, both the
        // manifest's to fix.
        return Some(ResolveError::NotPublished {
            exporter: e.name.clone(),
            version: e.version.clone(),
            url: url.clone(),
        });
    }
    match up.check_exists(e) {
        Err(missing @ ResolveError::Missing { .. }) => Some(missing),
        Err(other) => {
            tracing::debug!("could not list the releases of {}: {other}", e.name);
            None
        }
        Ok(()) => None,
    }
}

/// What `exporterctl check` found for one exporter.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseCheck {
    pub name: String,
    pub version: String,
    pub catalogue: Option<String>,
    pub url: String,
    /// Size from the `HEAD` answer, when the server sent one.
    pub size: Option<u64>,
    pub checksums_url: Option<String>,
    /// The archive's sha256 from the checksum file (or the pin).
    pub sha256: Option<String>,
    /// Signature files upstream publishes (recorded, not verified).
    pub signatures: Vec<String>,
    pub problems: Vec<String>,
    /// Catalogued command-line changes that hit this exporter's arguments
    /// or environment at this version (a breaking one is also a problem).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flag_changes: Vec<crate::generation::preflight::Advice>,
}

/// Checks that `e`'s release resolves upstream without downloading it: a
/// `HEAD` of the asset, a `GET` of the checksum file and its line for the
/// asset. A missing asset is explained with the nearest existing versions.
pub fn check_release(up: &Upstream<'_>, manifest: &Manifest, e: &Exporter) -> ReleaseCheck {
    let mut c = ReleaseCheck {
        name: e.name.clone(),
        version: e.version.clone(),
        catalogue: e.catalogue.clone(),
        url: String::new(),
        size: None,
        checksums_url: None,
        sha256: None,
        signatures: Vec::new(),
        problems: Vec::new(),
        flag_changes: Vec::new(),
    };
    let src = match e.resolved_source() {
        Ok(s) => s,
        Err(m) => {
            c.problems.push(m);
            return c;
        }
    };
    // Printed and in `--json`: credentials and secret query values redacted.
    c.url = url_without_password(&src.url);
    c.checksums_url = src.checksums_url.as_deref().map(url_without_password);
    let bare = src.url.split(['?', '#']).next().unwrap_or_default();
    if let (Some(entry), Some(base)) = (e.catalogue_entry(), bare.rsplit_once('/').map(|(d, _)| d)) {
        if let Some(sig) = &entry.signature {
            let vars = crate::template::Vars {
                version: &e.version,
                arch: entry.asset_arch(&up.settings.arch),
                tag: &e.tag_for(&e.version, up.settings).unwrap_or_default(),
            };
            c.signatures = sig
                .files
                .iter()
                .filter_map(|f| crate::template::expand(f, &vars).ok())
                .map(|f| format!("{} ({})", url_without_password(&format!("{base}/{f}")), sig.kind))
                .collect();
        }
    }
    let headers = download_headers(e, &src.url, manifest, up.tokens);
    let head = crate::source::TextRequest {
        allow_http: e.allow_http,
        headers,
        ..crate::source::TextRequest::new(&e.name, &e.version, src.url.clone())
    };
    match up.fetcher.head(&head) {
        Ok(size) => c.size = size,
        Err(err) => match explain_not_found(up, e, &err) {
            Some(missing) => c.problems.push(missing.to_string()),
            None => c.problems.push(err.to_string()),
        },
    }
    if let Some(url) = &src.checksums_url {
        let req = crate::source::TextRequest {
            allow_http: e.allow_http,
            headers: download_headers(e, url, manifest, up.tokens),
            ..crate::source::TextRequest::new(&e.name, &e.version, url.clone())
        };
        let url = url_without_password(url);
        match up.fetcher.get_text(&req) {
            Ok(text) => match crate::source::checksums::lookup(&text, &src.file_name) {
                Ok(hex) => {
                    if let Some(pin) = &src.sha256 {
                        if *pin != hex {
                            c.problems.push(format!(
                                "the manifest pins sha256 {pin}, but {url} says {hex} for {}",
                                src.file_name
                            ));
                        }
                    }
                    c.sha256 = Some(hex);
                }
                Err(crate::source::checksums::LookupError::Missing) => {
                    c.problems.push(format!("{url} has no line for `{}`", src.file_name))
                }
                Err(crate::source::checksums::LookupError::Conflict { first, second }) => c.problems.push(format!(
                    "{url} has conflicting lines for `{}` ({first} and {second})",
                    src.file_name
                )),
            },
            // The asset's own 404 already says what is wrong.
            Err(FetchError::NotFound { .. }) if !c.problems.is_empty() => {}
            Err(err) => c.problems.push(err.to_string()),
        }
    } else {
        c.sha256 = src.sha256.clone();
    }
    c
}

/// What a command that talks to upstream works with: the fetcher, the forge
/// tokens (read from the environment once, here), and the lock the manifest
/// was checked against (if used).
pub struct Resolved {
    pub fetcher: Fetcher,
    pub tokens: Tokens,
    pub lock: Option<LockFile>,
}

/// Resolves `latest`/range versions — from the lock beside the manifest when
/// `use_lock` and it has them, else by asking the forge — and checks that lock
/// against the manifest. What the user can fix is bad input (exit 2).
pub fn resolve(layout: &Layout, manifest: &mut Manifest, use_lock: bool) -> Result<Resolved, ResolveError> {
    let lock = if use_lock {
        LockFile::load_for(&manifest.path)?
    } else {
        None
    };
    let fetcher = Fetcher::new(layout)
        .map_err(|e| ResolveError::Fetcher(Box::new(e)))?
        .with_limits(manifest.settings.download);
    let tokens = Tokens::from_env();
    resolve_versions(manifest, &fetcher, &tokens, lock.as_ref())?;
    if let Some(l) = &lock {
        l.check_matches(manifest)?;
    }
    Ok(Resolved { fetcher, tokens, lock })
}

/// The forge token for a download of a forge source (a private repository
/// needs it), where [`Tokens::headers_for`] lets it go; nothing for `url`
/// sources. The HTTP layer sends it to that URL's origin only, never along a
/// redirect to another host.
pub fn download_headers(e: &Exporter, url: &str, m: &Manifest, tokens: &Tokens) -> SecretHeaders {
    match e.forge() {
        Some((forge, _)) => tokens.headers_for(forge, url, m.settings.forge(forge)),
        None => SecretHeaders::new(),
    }
}

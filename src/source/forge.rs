//! Forge API clients (GitHub, GitLab): the list of a repository's releases.
//!
//! The API is needed only to resolve `latest` or a range, to list versions,
//! and to say which versions exist when a pinned one does not; a pinned
//! version is downloaded from URLs built from templates, with no API call.
//! Tokens (`GITHUB_TOKEN` as `Authorization: Bearer`, `GITLAB_TOKEN` as
//! `PRIVATE-TOKEN`) travel as [`SecretHeaders`]: never logged, never in an
//! error, and only to the API's (or the download base's) own origin.

use super::{FetchError, Fetcher, SecretHeaders, TextRequest};
use serde::{Deserialize, Serialize};

/// Pages of 100 releases read at most (1000 releases).
pub const MAX_PAGES: u32 = 10;
const PER_PAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Gitlab,
}

impl ForgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::Github => "GitHub",
            ForgeKind::Gitlab => "GitLab",
        }
    }
    fn token_var(self) -> &'static str {
        match self {
            ForgeKind::Github => "GITHUB_TOKEN",
            ForgeKind::Gitlab => "GITLAB_TOKEN",
        }
    }
    fn settings_key(self) -> &'static str {
        match self {
            ForgeKind::Github => "settings.github.api_url",
            ForgeKind::Gitlab => "settings.gitlab.api_url",
        }
    }
}

/// API tokens from the environment. `Debug` never shows them.
#[derive(Clone, Default)]
pub struct Tokens {
    github: Option<String>,
    gitlab: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("github", &self.github.as_ref().map(|_| "<redacted>"))
            .field("gitlab", &self.gitlab.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Tokens {
    /// `GITHUB_TOKEN` and `GITLAB_TOKEN` (empty values count as unset).
    pub fn from_env() -> Tokens {
        let var = |n: &str| {
            std::env::var(n)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Tokens {
            github: var("GITHUB_TOKEN"),
            gitlab: var("GITLAB_TOKEN"),
        }
    }

    pub fn new(github: Option<String>, gitlab: Option<String>) -> Tokens {
        Tokens { github, gitlab }
    }

    /// The header carrying the token for `forge`, if there is a token.
    pub fn headers(&self, forge: ForgeKind) -> SecretHeaders {
        match forge {
            ForgeKind::Github => match &self.github {
                Some(t) => SecretHeaders::new().with("Authorization", format!("Bearer {t}")),
                None => SecretHeaders::new(),
            },
            ForgeKind::Gitlab => match &self.gitlab {
                Some(t) => SecretHeaders::new().with("PRIVATE-TOKEN", t.clone()),
                None => SecretHeaders::new(),
            },
        }
    }

    pub fn has(&self, forge: ForgeKind) -> bool {
        match forge {
            ForgeKind::Github => self.github.is_some(),
            ForgeKind::Gitlab => self.gitlab.is_some(),
        }
    }
}

/// One release as a forge lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForgeRelease {
    pub tag: String,
    pub prerelease: bool,
    pub draft: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(
        "{forge} API rate limit reached ({url}){reset}. Set {token_var} (sent as a header, never logged){token_note}, \
         pin exact versions (a pinned version needs no API call), or point {settings_key} at a mirror"
    )]
    RateLimited {
        forge: &'static str,
        url: String,
        reset: String,
        token_var: &'static str,
        token_note: &'static str,
        settings_key: &'static str,
    },
    #[error("{forge} repository {repo} was not found at {api} (tried {tried})")]
    RepoNotFound {
        forge: &'static str,
        repo: String,
        api: String,
        tried: String,
    },
    #[error("{url}: the {forge} API answered something that is not a release list: {message}")]
    Parse {
        forge: &'static str,
        url: String,
        message: String,
    },
    #[error(transparent)]
    Fetch(Box<FetchError>),
}

impl From<FetchError> for ForgeError {
    fn from(e: FetchError) -> Self {
        ForgeError::Fetch(Box::new(e))
    }
}

fn reset_text(reset: Option<u64>) -> String {
    let Some(epoch) = reset else { return String::new() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    format!(
        "; it resets at {} (in {} s)",
        humantime::format_rfc3339_seconds(at),
        epoch.saturating_sub(now)
    )
}

#[derive(Deserialize)]
struct GithubRelease {
    tag_name: String,
    #[serde(default)]
    prerelease: bool,
    #[serde(default)]
    draft: bool,
}

#[derive(Deserialize)]
struct GitlabRelease {
    tag_name: String,
    #[serde(default)]
    upcoming_release: bool,
}

/// Percent-encodes a GitLab project path for `/projects/:id`.
fn encode_project(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lists releases through a forge's API.
pub struct ForgeClient<'a> {
    pub fetcher: &'a Fetcher,
    pub tokens: &'a Tokens,
}

impl ForgeClient<'_> {
    /// Every release of `repo` (newest first as the forge sends them),
    /// trying `former` names when the repository is not found. `api_url`
    /// is the API base (`https://api.github.com`, `https://gitlab.com/api/v4`).
    pub fn releases(
        &self,
        forge: ForgeKind,
        api_url: &str,
        repo: &str,
        former: &[String],
        exporter: &str,
    ) -> Result<Vec<ForgeRelease>, ForgeError> {
        let mut tried = Vec::new();
        for r in std::iter::once(repo).chain(former.iter().map(String::as_str)) {
            match self.releases_of(forge, api_url, r, exporter) {
                Err(ForgeError::Fetch(e)) if matches!(*e, FetchError::NotFound { .. }) => {
                    tracing::debug!("{} {r}: not found", forge.as_str());
                    tried.push(r.to_string());
                }
                Ok(list) => {
                    if r != repo {
                        tracing::warn!(
                            "{exporter}: {} repository {repo} not found; using its former name {r}",
                            forge.as_str()
                        );
                    }
                    return Ok(list);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ForgeError::RepoNotFound {
            forge: forge.as_str(),
            repo: repo.to_string(),
            api: api_url.to_string(),
            tried: tried.join(", "),
        })
    }

    fn releases_of(
        &self,
        forge: ForgeKind,
        api_url: &str,
        repo: &str,
        exporter: &str,
    ) -> Result<Vec<ForgeRelease>, ForgeError> {
        let api = api_url.trim_end_matches('/');
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = match forge {
                ForgeKind::Github => format!("{api}/repos/{repo}/releases?per_page={PER_PAGE}&page={page}"),
                ForgeKind::Gitlab => format!(
                    "{api}/projects/{}/releases?per_page={PER_PAGE}&page={page}",
                    encode_project(repo)
                ),
            };
            let req = TextRequest {
                headers: self.tokens.headers(forge),
                ..TextRequest::new(exporter, "(versions)", url.clone())
            };
            let text = self.fetcher.get_text(&req).map_err(|e| self.classify(forge, e))?;
            let parse_err = |e: serde_json::Error| ForgeError::Parse {
                forge: forge.as_str(),
                url: url.clone(),
                message: e.to_string(),
            };
            let batch: Vec<ForgeRelease> = match forge {
                ForgeKind::Github => serde_json::from_str::<Vec<GithubRelease>>(&text)
                    .map_err(parse_err)?
                    .into_iter()
                    .map(|r| ForgeRelease {
                        tag: r.tag_name,
                        prerelease: r.prerelease,
                        draft: r.draft,
                    })
                    .collect(),
                ForgeKind::Gitlab => serde_json::from_str::<Vec<GitlabRelease>>(&text)
                    .map_err(parse_err)?
                    .into_iter()
                    .map(|r| ForgeRelease {
                        tag: r.tag_name,
                        prerelease: r.upcoming_release,
                        draft: false,
                    })
                    .collect(),
            };
            let n = batch.len();
            out.extend(batch);
            if n < PER_PAGE {
                break;
            }
        }
        Ok(out)
    }

    fn classify(&self, forge: ForgeKind, e: FetchError) -> ForgeError {
        let (url, reset) = match &e {
            FetchError::RateLimited { url, reset, .. } => (url.clone(), *reset),
            FetchError::Http { url, status: 429, .. } => (url.clone(), None),
            _ => return e.into(),
        };
        ForgeError::RateLimited {
            forge: forge.as_str(),
            url,
            reset: reset_text(reset),
            token_var: forge.token_var(),
            token_note: if self.tokens.has(forge) {
                " (one is set: its own limit is used up too)"
            } else {
                ""
            },
            settings_key: forge.settings_key(),
        }
    }
}

/// The version a tag names under `template` (`v{version}` and `v1.9.1` → `1.9.1`).
pub fn version_from_tag(template: &str, tag: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{version}")?;
    let v = tag.strip_prefix(prefix)?.strip_suffix(suffix)?;
    crate::manifest::is_version(v).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        let t = Tokens::new(Some("ghp_secret".into()), Some("glpat_secret".into()));
        let dbg = format!(
            "{t:?} {:?} {:?}",
            t.headers(ForgeKind::Github),
            t.headers(ForgeKind::Gitlab)
        );
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    #[test]
    fn tags_to_versions() {
        assert_eq!(version_from_tag("v{version}", "v1.9.1").as_deref(), Some("1.9.1"));
        assert_eq!(version_from_tag("{version}", "0.7.1").as_deref(), Some("0.7.1"));
        assert_eq!(version_from_tag("v{version}", "0.7.1"), None);
        assert_eq!(version_from_tag("v{version}", "vnext"), None);
        assert_eq!(
            encode_project("hctrdev/fail2ban-prometheus-exporter"),
            "hctrdev%2Ffail2ban-prometheus-exporter"
        );
    }

    #[test]
    fn rate_limit_advice() {
        let e = ForgeError::RateLimited {
            forge: "GitHub",
            url: "https://api.github.com/x".into(),
            reset: reset_text(Some(2_000_000_000)),
            token_var: "GITHUB_TOKEN",
            token_note: "",
            settings_key: "settings.github.api_url",
        };
        let m = e.to_string();
        assert!(
            m.contains("GITHUB_TOKEN") && m.contains("2033-05-18T03:33:20Z") && m.contains("mirror"),
            "{m}"
        );
    }
}

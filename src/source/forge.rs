//! Forge API clients (GitHub, GitLab): the list of a repository's releases.
//!
//! The API is needed only to resolve `latest` or a range, to list versions,
//! and to say which versions exist when a pinned one does not; a pinned
//! version is downloaded from URLs built from templates, with no API call.
//! Tokens (`GITHUB_TOKEN` as `Authorization: Bearer`, `GITLAB_TOKEN` as
//! `PRIVATE-TOKEN`) travel as [`SecretHeaders`]: never logged, never in an
//! error, and only where [`token_may_go`] allows.

use super::{is_loopback_host, FetchError, Fetcher, SecretHeaders, TextRequest};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

/// Pages of 100 releases read at most (1000 releases).
pub const MAX_PAGES: u32 = 10;
const PER_PAGE: usize = 100;

/// Where a forge's API and downloads are (`settings.github`, `settings.gitlab`).
#[derive(Debug, Clone, Serialize)]
pub struct ForgeUrls {
    pub api_url: String,
    pub download_url: String,
    /// Send the forge's token to `api_url`'s and `download_url`'s origins
    /// too (a self-hosted forge or a proxy), not just to the forge's own hosts.
    pub send_token: bool,
}

impl ForgeUrls {
    /// The public forge's own URLs: what `settings.github`/`settings.gitlab`
    /// default to.
    pub fn public(forge: Forge) -> ForgeUrls {
        let (api_url, download_url) = match forge {
            Forge::Github => ("https://api.github.com", "https://github.com"),
            Forge::Gitlab => ("https://gitlab.com/api/v4", "https://gitlab.com"),
        };
        ForgeUrls {
            api_url: api_url.into(),
            download_url: download_url.into(),
            send_token: false,
        }
    }
}

/// The forges exporterctl knows: the manifest's `github:`/`gitlab:` sources,
/// the catalogue's `forge:`, the API client and the tokens all use this one
/// enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    Github,
    Gitlab,
}

impl Forge {
    /// As the manifest and the catalogue spell it: `github`, `gitlab`.
    pub fn as_str(self) -> &'static str {
        match self {
            Forge::Github => "github",
            Forge::Gitlab => "gitlab",
        }
    }
    /// As messages name it: `GitHub`, `GitLab`.
    pub fn name(self) -> &'static str {
        match self {
            Forge::Github => "GitHub",
            Forge::Gitlab => "GitLab",
        }
    }
    fn token_var(self) -> &'static str {
        match self {
            Forge::Github => "GITHUB_TOKEN",
            Forge::Gitlab => "GITLAB_TOKEN",
        }
    }
    fn settings_key(self) -> &'static str {
        match self {
            Forge::Github => "settings.github.api_url",
            Forge::Gitlab => "settings.gitlab.api_url",
        }
    }
    /// The hosts the forge itself runs: its token is theirs to see.
    fn official_hosts(self) -> &'static [&'static str] {
        match self {
            Forge::Github => &["github.com", "api.github.com"],
            Forge::Gitlab => &["gitlab.com"],
        }
    }
}

/// Whether `forge`'s token may be sent to `url`. The token is a credential
/// for the forge, not for whoever serves its files, so by default it goes
/// only to the forge's own hosts over https on port 443 (the parsed host
/// compared whole: `github.com.evil.example` is not GitHub). With
/// `send_token` (a self-hosted forge, an internal proxy) it also goes to the
/// origins of the configured `api_url` and `download_url`, but never over
/// plain http to a remote host, where anyone on the path could read it.
pub fn token_may_go(forge: Forge, url: &Url, urls: &ForgeUrls) -> bool {
    let host = url.host_str().unwrap_or_default();
    let https = url.scheme() == "https";
    if https && url.port_or_known_default() == Some(443) && forge.official_hosts().contains(&host) {
        return true;
    }
    let secure = https || (url.scheme() == "http" && is_loopback_host(host));
    urls.send_token
        && secure
        && url.origin().is_tuple()
        && [&urls.api_url, &urls.download_url]
            .iter()
            .any(|base| Url::parse(base).is_ok_and(|b| b.origin() == url.origin()))
}

/// Says once per forge and run that a token was held back, so that a 401 or
/// 404 from a mirror that needs it can be understood. Names the origin only.
fn held_back(forge: Forge, url: &Url) {
    static SAID: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    if SAID[forge as usize].swap(true, Ordering::Relaxed) {
        return;
    }
    let key = match forge {
        Forge::Github => "settings.github.send_token",
        Forge::Gitlab => "settings.gitlab.send_token",
    };
    tracing::debug!(
        "{} is set but not sent to {}: only {} over https get it unless `{key}: true` trusts the configured api_url and download_url",
        forge.token_var(),
        url.origin().ascii_serialization(),
        forge.official_hosts().join(" and "),
    );
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

    /// The header carrying `forge`'s token for a request to `url`, when there
    /// is a token and [`token_may_go`] there. `file://` needs none.
    pub fn headers_for(&self, forge: Forge, url: &str, urls: &ForgeUrls) -> SecretHeaders {
        let Ok(u) = Url::parse(url) else {
            return SecretHeaders::new();
        };
        if !self.has(forge) || !matches!(u.scheme(), "http" | "https") {
            return SecretHeaders::new();
        }
        if token_may_go(forge, &u, urls) {
            return self.headers(forge);
        }
        held_back(forge, &u);
        SecretHeaders::new()
    }

    /// Private: every request goes through [`Tokens::headers_for`]'s scope check.
    fn headers(&self, forge: Forge) -> SecretHeaders {
        match forge {
            Forge::Github => match &self.github {
                Some(t) => SecretHeaders::new().with("Authorization", format!("Bearer {t}")),
                None => SecretHeaders::new(),
            },
            Forge::Gitlab => match &self.gitlab {
                Some(t) => SecretHeaders::new().with("PRIVATE-TOKEN", t.clone()),
                None => SecretHeaders::new(),
            },
        }
    }

    pub fn has(&self, forge: Forge) -> bool {
        match forge {
            Forge::Github => self.github.is_some(),
            Forge::Gitlab => self.gitlab.is_some(),
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

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z): a reset
/// time after it comes from a broken or hostile server and is shown as the
/// number it is, not formatted (formatting it panics).
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

fn reset_text(reset: Option<u64>) -> String {
    let Some(epoch) = reset else { return String::new() };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if epoch > LAST_RFC3339_SECOND {
        return format!("; the server says it resets at unix time {epoch}, which is not a plausible time");
    }
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
    /// trying `former` names when the repository is not found, from
    /// `urls.api_url` (`https://api.github.com`, `https://gitlab.com/api/v4`).
    pub fn releases(
        &self,
        forge: Forge,
        urls: &ForgeUrls,
        repo: &str,
        former: &[String],
        exporter: &str,
    ) -> Result<Vec<ForgeRelease>, ForgeError> {
        let mut tried = Vec::new();
        for r in std::iter::once(repo).chain(former.iter().map(String::as_str)) {
            match self.releases_of(forge, urls, r, exporter) {
                Err(ForgeError::Fetch(e)) if matches!(*e, FetchError::NotFound { .. }) => {
                    tracing::debug!("{} {r}: not found", forge.name());
                    tried.push(r.to_string());
                }
                Ok(list) => {
                    if r != repo {
                        tracing::warn!(
                            "{exporter}: {} repository {repo} not found; using its former name {r}",
                            forge.name()
                        );
                    }
                    return Ok(list);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ForgeError::RepoNotFound {
            forge: forge.name(),
            repo: repo.to_string(),
            api: crate::redact::url_without_password(&urls.api_url),
            tried: tried.join(", "),
        })
    }

    fn releases_of(
        &self,
        forge: Forge,
        urls: &ForgeUrls,
        repo: &str,
        exporter: &str,
    ) -> Result<Vec<ForgeRelease>, ForgeError> {
        let api = urls.api_url.trim_end_matches('/');
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = match forge {
                Forge::Github => format!("{api}/repos/{repo}/releases?per_page={PER_PAGE}&page={page}"),
                Forge::Gitlab => format!(
                    "{api}/projects/{}/releases?per_page={PER_PAGE}&page={page}",
                    encode_project(repo)
                ),
            };
            let req = TextRequest {
                headers: self.tokens.headers_for(forge, &url, urls),
                ..TextRequest::new(exporter, "(versions)", url.clone())
            };
            let sent = !req.headers.is_empty();
            let text = self.fetcher.get_text(&req).map_err(|e| self.classify(forge, e, sent))?;
            let parse_err = |e: serde_json::Error| ForgeError::Parse {
                forge: forge.name(),
                url: crate::redact::url_without_password(&url),
                message: e.to_string(),
            };
            let batch: Vec<ForgeRelease> = match forge {
                Forge::Github => serde_json::from_str::<Vec<GithubRelease>>(&text)
                    .map_err(parse_err)?
                    .into_iter()
                    .map(|r| ForgeRelease {
                        tag: r.tag_name,
                        prerelease: r.prerelease,
                        draft: r.draft,
                    })
                    .collect(),
                Forge::Gitlab => serde_json::from_str::<Vec<GitlabRelease>>(&text)
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

    /// `sent`: the request carried the token (it may be set but held back).
    fn classify(&self, forge: Forge, e: FetchError, sent: bool) -> ForgeError {
        let (url, reset) = match &e {
            FetchError::RateLimited { url, reset, .. } => (url.clone(), *reset),
            FetchError::Http { url, status: 429, .. } => (url.clone(), None),
            _ => return e.into(),
        };
        ForgeError::RateLimited {
            forge: forge.name(),
            url,
            reset: reset_text(reset),
            token_var: forge.token_var(),
            token_note: match (self.tokens.has(forge), sent) {
                (_, true) => " (one is set: its own limit is used up too)",
                (true, false) => {
                    " (one is set but not sent to this host: set `send_token: true` beside the api_url to trust it)"
                }
                (false, false) => "",
            },
            settings_key: forge.settings_key(),
        }
    }
}

/// The version a tag names under `template` (`v{version}` and `v1.9.1` → `1.9.1`).
pub fn version_from_tag(template: &str, tag: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{version}")?;
    let v = tag.strip_prefix(prefix)?.strip_suffix(suffix)?;
    crate::names::is_version(v).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_show() {
        let t = Tokens::new(Some("ghp_secret".into()), Some("glpat_secret".into()));
        let dbg = format!("{t:?} {:?} {:?}", t.headers(Forge::Github), t.headers(Forge::Gitlab));
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    fn urls(api: &str, download: &str, send_token: bool) -> ForgeUrls {
        ForgeUrls {
            api_url: api.into(),
            download_url: download.into(),
            send_token,
        }
    }

    fn may_go(forge: Forge, url: &str, urls: &ForgeUrls) -> bool {
        token_may_go(forge, &Url::parse(url).unwrap(), urls)
    }

    #[test]
    fn tokens_go_to_the_forges_own_hosts_only() {
        let (gh, gl) = (&ForgeUrls::public(Forge::Github), &ForgeUrls::public(Forge::Gitlab));
        for url in [
            "https://github.com/o/r/releases/download/v1/a.tar.gz",
            "https://api.github.com/repos/o/r/releases",
            "https://GitHub.com:443/o/r",
        ] {
            assert!(may_go(Forge::Github, url, gh), "{url}");
        }
        assert!(may_go(Forge::Gitlab, "https://gitlab.com/api/v4/projects", gl));
        for url in [
            "https://github.com.evil.example/o/r",
            "https://api.github.com.evil.example/repos",
            "https://evilgithub.com/o/r",
            "https://github.com@evil.example/o/r",
            "https://evil.example/github.com/o/r",
            "https://evil.example/?https://github.com/",
            "https://objects.githubusercontent.com/x",
            "https://github.com:8443/o/r",
            "http://github.com/o/r",
            "http://api.github.com/repos",
            "https://gitlab.com/o/r",
            "https://127.0.0.1/o/r",
        ] {
            assert!(!may_go(Forge::Github, url, gh), "{url}");
        }
        for url in [
            "https://gitlab.com.evil.example/x",
            "https://github.com/x",
            "http://gitlab.com/x",
        ] {
            assert!(!may_go(Forge::Gitlab, url, gl), "{url}");
        }
    }

    #[test]
    fn send_token_trusts_the_configured_origins_only() {
        let mirror = urls("https://ghe.example.org/api/v3", "http://127.0.0.1:8080/gh", false);
        assert!(!may_go(Forge::Github, "https://ghe.example.org/api/v3/repos", &mirror));
        assert!(!may_go(Forge::Github, "http://127.0.0.1:8080/gh/x", &mirror));
        let opted = ForgeUrls {
            send_token: true,
            ..mirror
        };
        assert!(may_go(Forge::Github, "https://ghe.example.org/api/v3/repos", &opted));
        assert!(may_go(Forge::Github, "http://127.0.0.1:8080/other/path", &opted));
        assert!(may_go(Forge::Github, "https://github.com/o/r", &opted));
        for url in [
            "https://ghe.example.org.evil.example/api/v3",
            "https://ghe.example.org:8443/api/v3",
            "http://ghe.example.org/api/v3",
            "http://127.0.0.1:8081/gh/x",
            "https://127.0.0.1:8080/gh/x",
        ] {
            assert!(!may_go(Forge::Github, url, &opted), "{url}");
        }
        // Even opted in, never in clear text to a remote host (validation refuses it too).
        let clear = urls("http://mirror.example.org/api", "file:///srv/mirror", true);
        assert!(!may_go(Forge::Github, "http://mirror.example.org/api/repos", &clear));
        assert!(!may_go(Forge::Github, "file:///srv/mirror/o/r", &clear));
    }

    #[test]
    fn held_back_tokens_send_no_header() {
        let t = Tokens::new(Some("ghp_secret".into()), Some("glpat_secret".into()));
        let (github, gitlab) = (ForgeUrls::public(Forge::Github), ForgeUrls::public(Forge::Gitlab));
        assert!(t.headers_for(Forge::Github, "http://127.0.0.1:1/x", &github).is_empty());
        assert!(t
            .headers_for(Forge::Gitlab, "https://gitlab.com.evil.example/x", &gitlab)
            .is_empty());
        assert!(t.headers_for(Forge::Github, "file:///srv/x", &github).is_empty());
        assert!(!t
            .headers_for(Forge::Github, "https://api.github.com/x", &github)
            .is_empty());
        assert!(Tokens::default()
            .headers_for(Forge::Github, "https://api.github.com/x", &github)
            .is_empty());
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

    #[test]
    fn reset_times_past_year_9999_are_not_formatted() {
        // Formatting these panicked ("date must be before year 9999").
        for reset in [300_000_000_000, LAST_RFC3339_SECOND + 1, u64::MAX] {
            let t = reset_text(Some(reset));
            assert!(
                t.contains(&reset.to_string()) && t.contains("not a plausible time"),
                "{t}"
            );
        }
        assert!(reset_text(Some(LAST_RFC3339_SECOND)).contains("9999-12-31T23:59:59Z"));
    }
}

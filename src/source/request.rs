//! What is asked of the fetcher (what to download, how its digest is known,
//! which secret headers go with it) and what it answers.

use std::fmt;
use std::path::PathBuf;

/// How the downloaded file's sha256 is known, strongest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// From the lock file.
    Locked(String),
    /// `source.sha256` in the manifest.
    Pinned(String),
    /// The line for `file_name` in the checksum file at `url`.
    ChecksumFile { url: String, file_name: String },
    /// `insecure_skip_verify: true`.
    Unverified,
}

/// Request headers whose values are secret (e.g. `Authorization: Bearer …`).
/// They are sent, marked sensitive, to the request's own origin only (not
/// along a redirect to another host), and never printed: `Debug` shows the
/// names only, and no error or log line contains a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretHeaders(Vec<(String, String)>);

impl SecretHeaders {
    pub fn new() -> Self {
        SecretHeaders(Vec::new())
    }
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| format!("{n}: <redacted>")))
            .finish()
    }
}

impl From<Vec<(String, String)>> for SecretHeaders {
    fn from(v: Vec<(String, String)>) -> Self {
        SecretHeaders(v)
    }
}

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub exporter: String,
    pub version: String,
    pub url: String,
    pub expected: Expected,
    /// Plain http:// to a non-loopback host is allowed for this request.
    pub allow_http: bool,
    /// Extra request headers (e.g. a GitHub token), sent for the file, and
    /// for its checksum file when that has the file's origin. Never logged.
    pub headers: SecretHeaders,
}

impl FetchRequest {
    /// A request with `allow_http: false` and no extra headers.
    pub fn new(
        exporter: impl Into<String>,
        version: impl Into<String>,
        url: impl Into<String>,
        expected: Expected,
    ) -> Self {
        FetchRequest {
            exporter: exporter.into(),
            version: version.into(),
            url: url.into(),
            expected,
            allow_http: false,
            headers: SecretHeaders::new(),
        }
    }
}

/// A text resource to get (checksum file, forge API), same policy and retries.
#[derive(Debug, Clone, Default)]
pub struct TextRequest {
    /// For error messages: which exporter and version this is for.
    pub exporter: String,
    pub version: String,
    pub url: String,
    pub allow_http: bool,
    pub headers: SecretHeaders,
}

impl TextRequest {
    pub fn new(exporter: impl Into<String>, version: impl Into<String>, url: impl Into<String>) -> Self {
        TextRequest {
            exporter: exporter.into(),
            version: version.into(),
            url: url.into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fetched {
    /// The verified file in `cache/downloads/<sha256>`.
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// False when the cache already had it (no request made for the file).
    pub downloaded: bool,
}

//! Everything a download can fail with, each naming the exporter, the
//! version and the URL.

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{exporter} {version}: {url} was not found (HTTP 404)")]
    NotFound {
        exporter: String,
        version: String,
        url: String,
    },
    #[error("{exporter} {version}: {url}: HTTP {status}{detail}")]
    Http {
        exporter: String,
        version: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{exporter} {version}: {url}: {message}")]
    Transport {
        exporter: String,
        version: String,
        url: String,
        message: String,
    },
    #[error("{exporter} {version}: refusing plain http:// to a non-loopback host ({url}); use https, or set `allow_http: true` for this exporter")]
    InsecureUrl {
        exporter: String,
        version: String,
        url: String,
    },
    #[error(
        "{exporter} {version}: sha256 mismatch for {url}: expected {expected}, got {actual} (from {expected_from})"
    )]
    ChecksumMismatch {
        exporter: String,
        version: String,
        url: String,
        expected: String,
        actual: String,
        expected_from: String,
    },
    #[error("{exporter} {version}: checksum file {checksums_url} has no line for `{file_name}`")]
    ChecksumMissing {
        exporter: String,
        version: String,
        checksums_url: String,
        file_name: String,
    },
    #[error("{exporter} {version}: {context}: {source}")]
    Io {
        exporter: String,
        version: String,
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{exporter} {version}: {url}: {} to download needs about {} free in {}, but only {} is left; \
         free some space (`exporterctl gc` deletes old generations and unused downloads)",
        super::space::human_bytes(*.size), super::space::human_bytes(*.needed), .dir.display(),
        super::space::human_bytes(*.available)
    )]
    NoSpace {
        exporter: String,
        version: String,
        url: String,
        size: u64,
        needed: u64,
        available: u64,
        dir: std::path::PathBuf,
    },
    /// HTTP 403 with `X-RateLimit-Remaining: 0` (GitHub); never retried.
    #[error("{exporter} {version}: {url}: rate limited (HTTP 403){}", reset_hint(.reset))]
    RateLimited {
        exporter: String,
        version: String,
        url: String,
        reset: Option<u64>,
    },
    /// Unparsable URL, unsupported scheme, no host, `file://` not absolute.
    #[error("{exporter} {version}: {url}: {message}")]
    BadUrl {
        exporter: String,
        version: String,
        url: String,
        message: String,
    },
    /// A lock file or manifest sha256 that is not 64 hex digits.
    #[error("{exporter} {version}: `{value}` from the {from} is not a sha256 (64 hex digits)")]
    InvalidSha256 {
        exporter: String,
        version: String,
        value: String,
        from: String,
    },
    #[error("{exporter} {version}: checksum file {checksums_url} has conflicting lines for `{file_name}` ({first} and {second})")]
    ChecksumConflict {
        exporter: String,
        version: String,
        checksums_url: String,
        file_name: String,
        first: String,
        second: String,
    },
    /// A limit of `settings.download` stopped the download.
    #[error("{exporter} {version}: {url}: {hit}")]
    Limit {
        exporter: String,
        version: String,
        url: String,
        hit: super::limits::LimitHit,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {message}")]
    Init { message: String },
}

fn reset_hint(reset: &Option<u64>) -> String {
    match reset {
        Some(epoch) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!(
                "; the limit resets at unix time {epoch} (in {} s)",
                epoch.saturating_sub(now)
            )
        }
        None => String::new(),
    }
}

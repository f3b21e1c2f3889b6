//! Release sources: verified downloads over HTTP(S) (and `file://`) into the
//! download cache, checksum files, retries, URL policy, progress.
//!
//! Every file is hashed (sha256) while it streams into a temp file in
//! `cache/downloads/`, checked against what is expected (lock file, manifest
//! pin, or the release's checksum file), fsynced and only then renamed to
//! `cache/downloads/<sha256>`. A file already in the cache is re-hashed and
//! reused without a request whenever its digest is known beforehand.
//!
//! Submodules: [`http`] (client, URL policy, redirects, retries),
//! [`checksums`] (checksum file parsing), [`cache`] (the download cache),
//! [`progress`] (bars or log lines).

// `FetchError` carries exporter, version, URL and both digests as owned
// strings (the lead's fixed variants are ~150 bytes). Errors are the cold
// path of a network download; boxing them would only obscure the API.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod checksums;
mod error;
pub mod forge;
pub mod http;
pub mod limits;
pub mod progress;
mod request;
pub mod space;

pub use error::FetchError;
pub use request::{Expected, FetchRequest, Fetched, SecretHeaders, TextRequest};

use crate::paths::Layout;
use cache::{DownloadCache, TempDownload, CHUNK};
use http::{with_retries, Allowed, AttemptError, Http, PolicyViolation};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use http::{is_loopback_host, RetryPolicy, Timeouts};
use limits::Meter;
pub use limits::{DownloadLimits, LimitHit};
pub use progress::ProgressMode;

/// Text resources (checksum files, forge API answers) larger than this are refused.
pub const MAX_TEXT_BYTES: u64 = 16 * 1024 * 1024;

/// Downloads running at once by default.
pub const DEFAULT_PARALLELISM: usize = 4;

/// Error context: which exporter, version and URL an error is about.
#[derive(Debug, Clone)]
pub(crate) struct Ctx<'a> {
    pub exporter: &'a str,
    pub version: &'a str,
    pub url: String,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(exporter: &'a str, version: &'a str, url: &str) -> Self {
        Ctx {
            exporter,
            version,
            url: without_password(url),
        }
    }
    pub(crate) fn not_found(&self) -> FetchError {
        FetchError::NotFound {
            exporter: self.e(),
            version: self.v(),
            url: self.url.clone(),
        }
    }
    pub(crate) fn http(&self, status: u16, detail: String) -> FetchError {
        FetchError::Http {
            exporter: self.e(),
            version: self.v(),
            url: self.url.clone(),
            status,
            detail,
        }
    }
    pub(crate) fn transport(&self, message: String) -> FetchError {
        FetchError::Transport {
            exporter: self.e(),
            version: self.v(),
            url: self.url.clone(),
            message,
        }
    }
    pub(crate) fn rate_limited(&self, reset: Option<u64>) -> FetchError {
        FetchError::RateLimited {
            exporter: self.e(),
            version: self.v(),
            url: self.url.clone(),
            reset,
        }
    }
    pub(crate) fn limit(&self, hit: LimitHit) -> FetchError {
        FetchError::Limit {
            exporter: self.e(),
            version: self.v(),
            url: self.url.clone(),
            hit,
        }
    }
    /// A limit hit as the outcome of an attempt: retried only when another
    /// attempt may fare better.
    pub(crate) fn limit_attempt(&self, hit: LimitHit) -> AttemptError {
        if hit.retryable() {
            AttemptError::retry(self.limit(hit))
        } else {
            AttemptError::Fatal(self.limit(hit))
        }
    }
    pub(crate) fn io(&self, context: impl Into<String>, source: io::Error) -> FetchError {
        FetchError::Io {
            exporter: self.e(),
            version: self.v(),
            context: context.into(),
            source,
        }
    }
    pub(crate) fn policy(&self, v: PolicyViolation) -> FetchError {
        match v {
            PolicyViolation::InsecureHttp => FetchError::InsecureUrl {
                exporter: self.e(),
                version: self.v(),
                url: self.url.clone(),
            },
            PolicyViolation::Bad(message) => FetchError::BadUrl {
                exporter: self.e(),
                version: self.v(),
                url: self.url.clone(),
                message,
            },
        }
    }
    fn e(&self) -> String {
        self.exporter.to_string()
    }
    fn v(&self) -> String {
        self.version.to_string()
    }
}

// `url` with any password replaced, so it can go into errors and logs.
use crate::redact::url_without_password as without_password;

/// The last path segment of a URL, for messages and progress bars.
fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path).to_string()
}

pub struct Fetcher {
    cache: DownloadCache,
    http: Http,
    extra_roots: Vec<reqwest::Certificate>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    limits: DownloadLimits,
    parallelism: usize,
    progress: ProgressMode,
}

/// Checksum files already fetched during one `fetch_all`, by URL; the
/// per-URL mutex makes parallel requests for one file wait for one fetch.
type ChecksumMemo = Mutex<HashMap<String, Arc<Mutex<Option<String>>>>>;

impl Fetcher {
    /// A fetcher writing into `layout.downloads_dir()` (created on first use),
    /// with the default retry policy, timeouts and parallelism.
    pub fn new(layout: &Layout) -> Result<Fetcher, FetchError> {
        let timeouts = Timeouts::default();
        let extra_roots = http::extra_roots_from_env().map_err(|message| FetchError::Init { message })?;
        Ok(Fetcher {
            cache: DownloadCache::new(layout.downloads_dir()),
            http: Http::new(timeouts, &extra_roots).map_err(|e| FetchError::Init {
                message: http::describe_reqwest(e),
            })?,
            extra_roots,
            retry: RetryPolicy::default(),
            timeouts,
            limits: DownloadLimits::default(),
            parallelism: DEFAULT_PARALLELISM,
            progress: ProgressMode::Auto,
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Rebuilds the HTTP client with these timeouts (resets the request count).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Result<Self, FetchError> {
        self.http = Http::new(timeouts, &self.extra_roots).map_err(|e| FetchError::Init {
            message: http::describe_reqwest(e),
        })?;
        self.timeouts = timeouts;
        Ok(self)
    }

    /// Bounds on the size, total time and rate of every download (and on
    /// the time and rate of text resources, which have their own size cap).
    pub fn with_limits(mut self, limits: DownloadLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &DownloadLimits {
        &self.limits
    }

    /// At most `n` downloads at once (at least 1).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    pub fn with_progress(mut self, mode: ProgressMode) -> Self {
        self.progress = mode;
        self
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// `cache/downloads/`.
    pub fn downloads_dir(&self) -> &Path {
        self.cache.dir()
    }

    /// HTTP requests sent by this fetcher so far (each attempt and each
    /// redirect hop counts; `file://` reads and cache hits do not).
    pub fn requests_made(&self) -> u64 {
        self.http.requests()
    }

    /// Removes partial downloads left in the cache by runs that were killed
    /// (temp files of processes no longer alive). Returns how many.
    pub fn clean_leftovers(&self) -> io::Result<usize> {
        self.cache.clean_leftovers()
    }

    /// Fetches every request in parallel (bounded), each verified before it
    /// lands in the cache; results in request order.
    pub fn fetch_all(&self, reqs: &[FetchRequest]) -> Vec<Result<Fetched, FetchError>> {
        let progress = progress::Progress::new(self.progress);
        let memo: ChecksumMemo = Mutex::new(HashMap::new());
        let workers = self.parallelism.clamp(1, reqs.len().max(1));
        let next = AtomicUsize::new(0);
        let mut results: Vec<Option<Result<Fetched, FetchError>>> = reqs.iter().map(|_| None).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(req) = reqs.get(i) else { break };
                            done.push((i, self.fetch_one(req, &progress, &memo)));
                        }
                        done
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(done) => {
                        for (i, r) in done {
                            results[i] = Some(r);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        results
            .into_iter()
            .zip(reqs)
            .map(|(r, req)| {
                r.unwrap_or_else(|| {
                    Err(Ctx::new(&req.exporter, &req.version, &req.url).transport("no result (internal error)".into()))
                })
            })
            .collect()
    }

    /// Fetches one request (see [`Fetcher::fetch_all`]).
    pub fn fetch(&self, req: &FetchRequest) -> Result<Fetched, FetchError> {
        let progress = progress::Progress::new(self.progress);
        self.fetch_one(req, &progress, &Mutex::new(HashMap::new()))
    }

    /// GETs a text resource (UTF-8, at most [`MAX_TEXT_BYTES`]) with the same
    /// URL policy, redirects, timeouts and retries as downloads; `file://` is
    /// read from disk.
    pub fn get_text(&self, req: &TextRequest) -> Result<String, FetchError> {
        let ctx = Ctx::new(&req.exporter, &req.version, &req.url);
        let allowed = http::check_url(&req.url, req.allow_http).map_err(|v| ctx.policy(v))?;
        // The text cap is the size limit here; time and rate are the downloads'.
        let mut meter = Meter::new(DownloadLimits {
            max_size: u64::MAX,
            ..self.limits
        });
        let bytes = match allowed {
            Allowed::File(path) => {
                let f = std::fs::File::open(&path).map_err(|e| open_error(&ctx, &path, e))?;
                read_capped(f, &mut meter).map_err(|e| match e {
                    Capped::TooBig => ctx.transport(format!("larger than {MAX_TEXT_BYTES} bytes")),
                    Capped::Limit(hit) => ctx.limit(hit),
                    Capped::Io(e) => ctx.io(format!("reading {}", path.display()), e),
                })?
            }
            Allowed::Remote(url) => {
                let what = format!("{} {}: GET {}", req.exporter, req.version, ctx.url);
                with_retries(&self.retry, &what, |_| {
                    meter.start_attempt().map_err(|hit| ctx.limit_attempt(hit))?;
                    let resp = self.http.get(&ctx, &url, req.allow_http, &req.headers)?;
                    read_capped(resp, &mut meter).map_err(|e| match e {
                        Capped::TooBig => {
                            AttemptError::Fatal(ctx.transport(format!("larger than {MAX_TEXT_BYTES} bytes")))
                        }
                        Capped::Limit(hit) => ctx.limit_attempt(hit),
                        Capped::Io(e) => AttemptError::retry(ctx.transport(read_error_text(&e, &self.timeouts))),
                    })
                })?
            }
        };
        String::from_utf8(bytes).map_err(|_| ctx.transport("response is not valid UTF-8".into()))
    }

    /// Does the resource exist? A `HEAD` request (same policy, redirects
    /// and retries as [`Fetcher::get_text`]); `file://` looks at the file.
    /// Returns the size when known. A missing resource is `NotFound`.
    pub fn head(&self, req: &TextRequest) -> Result<Option<u64>, FetchError> {
        let ctx = Ctx::new(&req.exporter, &req.version, &req.url);
        let allowed = http::check_url(&req.url, req.allow_http).map_err(|v| ctx.policy(v))?;
        match allowed {
            Allowed::File(path) => match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(m.len())),
                Ok(_) => Err(ctx.not_found()),
                Err(e) => Err(open_error(&ctx, &path, e)),
            },
            Allowed::Remote(url) => {
                let what = format!("{} {}: HEAD {}", req.exporter, req.version, ctx.url);
                with_retries(&self.retry, &what, |_| {
                    let resp = self
                        .http
                        .send(reqwest::Method::HEAD, &ctx, &url, req.allow_http, &req.headers)?;
                    Ok(resp.content_length())
                })
            }
        }
    }

    fn fetch_one(
        &self,
        req: &FetchRequest,
        progress: &progress::Progress,
        memo: &ChecksumMemo,
    ) -> Result<Fetched, FetchError> {
        let ctx = Ctx::new(&req.exporter, &req.version, &req.url);
        // The URL policy first: nothing is requested for a refused URL.
        let allowed = http::check_url(&req.url, req.allow_http).map_err(|v| ctx.policy(v))?;
        let expected = self.expected_sha256(req, memo)?;
        let name = file_name_of(&req.url);
        if let Some((hex, _)) = &expected {
            let hit = self
                .cache
                .lookup(hex)
                .map_err(|e| ctx.io(format!("checking the download cache for {name}"), e))?;
            if let Some((path, size)) = hit {
                tracing::info!("using cached {name} sha256={hex}");
                return Ok(Fetched {
                    path,
                    sha256: hex.clone(),
                    size,
                    downloaded: false,
                });
            }
        } else {
            tracing::warn!(
                "{} {}: {name} is NOT verified (insecure_skip_verify: true)",
                req.exporter,
                req.version
            );
        }
        self.download(req, &ctx, &allowed, expected.as_ref(), progress, &name)
    }

    /// The expected digest (lower-case hex) and where it comes from, or
    /// `None` for an unverified download.
    fn expected_sha256(&self, req: &FetchRequest, memo: &ChecksumMemo) -> Result<Option<(String, String)>, FetchError> {
        let pinned = |value: &str, from: &str| {
            let v = value.trim();
            if checksums::is_sha256_hex(v) {
                Ok(Some((v.to_ascii_lowercase(), from.to_string())))
            } else {
                Err(FetchError::InvalidSha256 {
                    exporter: req.exporter.clone(),
                    version: req.version.clone(),
                    value: value.to_string(),
                    from: from.to_string(),
                })
            }
        };
        match &req.expected {
            Expected::Locked(h) => pinned(h, "lock file"),
            Expected::Pinned(h) => pinned(h, "manifest"),
            Expected::Unverified => Ok(None),
            Expected::ChecksumFile { url, file_name } => {
                let text = self.checksum_text(req, url, memo)?;
                let checksums_url = without_password(url);
                match checksums::lookup(&text, file_name) {
                    Ok(hex) => Ok(Some((hex, checksums_url))),
                    Err(checksums::LookupError::Missing) => Err(FetchError::ChecksumMissing {
                        exporter: req.exporter.clone(),
                        version: req.version.clone(),
                        checksums_url,
                        file_name: file_name.clone(),
                    }),
                    Err(checksums::LookupError::Conflict { first, second }) => Err(FetchError::ChecksumConflict {
                        exporter: req.exporter.clone(),
                        version: req.version.clone(),
                        checksums_url,
                        file_name: file_name.clone(),
                        first,
                        second,
                    }),
                }
            }
        }
    }

    fn checksum_text(&self, req: &FetchRequest, url: &str, memo: &ChecksumMemo) -> Result<String, FetchError> {
        let slot = {
            let mut map = memo.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(map.entry(url.to_string()).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(text) = slot.as_ref() {
            return Ok(text.clone());
        }
        let text = self.get_text(&TextRequest {
            exporter: req.exporter.clone(),
            version: req.version.clone(),
            url: url.to_string(),
            allow_http: req.allow_http,
            // The headers were chosen for the file's origin; a checksum file
            // elsewhere (a full `checksums_url`) must not see its token.
            headers: if http::same_origin_str(&req.url, url) {
                req.headers.clone()
            } else {
                SecretHeaders::new()
            },
        })?;
        *slot = Some(text.clone());
        Ok(text)
    }

    fn download(
        &self,
        req: &FetchRequest,
        ctx: &Ctx<'_>,
        allowed: &Allowed,
        expected: Option<&(String, String)>,
        progress: &progress::Progress,
        name: &str,
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let mut tmp = self
            .cache
            .temp()
            .map_err(|e| ctx.io(format!("creating a temp file in {}", self.cache.dir().display()), e))?;
        let bar = progress.bar(name);
        if !progress.uses_bars() {
            tracing::info!("downloading {}", ctx.url);
        }
        let what = format!("{} {}: downloading {}", req.exporter, req.version, ctx.url);
        let mut buf = vec![0u8; CHUNK];
        let mut meter = Meter::new(self.limits);
        let result = with_retries(&self.retry, &what, |attempt| {
            meter.start_attempt().map_err(|hit| ctx.limit_attempt(hit))?;
            if attempt > 1 {
                tmp.reset()
                    .map_err(|e| AttemptError::Fatal(ctx.io("resetting the temp file", e)))?;
                bar.message(&format!("retry {attempt}"));
            }
            let (reader, len, remote): (Box<dyn Read>, Option<u64>, bool) = match allowed {
                Allowed::File(path) => {
                    let f = std::fs::File::open(path).map_err(|e| AttemptError::Fatal(open_error(ctx, path, e)))?;
                    // A device (`/dev/zero`) has no length: the size limit stops it.
                    let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                    (Box::new(f), len, false)
                }
                Allowed::Remote(url) => {
                    let resp = self.http.get(ctx, url, req.allow_http, &req.headers)?;
                    let len = resp.content_length();
                    (Box::new(resp), len, true)
                }
            };
            meter.check_declared(len).map_err(|hit| ctx.limit_attempt(hit))?;
            self.check_space(ctx, len).map_err(AttemptError::Fatal)?;
            bar.start(len);
            let mut s = Stream {
                tmp: &mut tmp,
                buf: &mut buf,
                bar: &bar,
                ctx,
                meter: &mut meter,
                timeouts: &self.timeouts,
            };
            s.copy(reader, remote)
        });
        if let Err(e) = result {
            bar.fail("failed");
            return Err(e);
        }
        let actual = tmp.finish_hash().map_err(|e| ctx.io("writing the temp file", e))?;
        if let Some((want, from)) = expected {
            if *want != actual {
                bar.fail("sha256 mismatch");
                // `tmp` is dropped (and removed) here: nothing enters the cache.
                return Err(FetchError::ChecksumMismatch {
                    exporter: req.exporter.clone(),
                    version: req.version.clone(),
                    url: ctx.url.clone(),
                    expected: want.clone(),
                    actual,
                    expected_from: from.clone(),
                });
            }
        }
        let size = tmp.size();
        let dest = self.cache.path_for(&actual);
        tmp.commit(&dest)
            .map_err(|e| ctx.io(format!("moving the download to {}", dest.display()), e))?;
        let ms = started.elapsed().as_millis();
        if expected.is_some() {
            bar.finish("verified");
            tracing::info!("verified {name} sha256={actual} in {ms} ms");
        } else {
            bar.finish("UNVERIFIED");
            tracing::warn!("downloaded {name} without verification: sha256={actual} in {ms} ms");
        }
        Ok(Fetched {
            path: dest,
            sha256: actual,
            size,
            downloaded: true,
        })
    }
}

impl Fetcher {
    /// Before the first byte of an archive of `len` (when known) is written.
    fn check_space(&self, ctx: &Ctx<'_>, len: Option<u64>) -> Result<(), FetchError> {
        let (Some(len), dir) = (len, self.cache.dir()) else {
            return Ok(());
        };
        let available =
            space::available(dir).map_err(|e| ctx.io(format!("reading the free space of {}", dir.display()), e))?;
        space::check(len, available).map_err(|needed| FetchError::NoSpace {
            exporter: ctx.e(),
            version: ctx.v(),
            url: ctx.url.clone(),
            size: len,
            needed,
            available,
            dir: dir.to_path_buf(),
        })
    }
}

fn open_error(ctx: &Ctx<'_>, path: &Path, e: io::Error) -> FetchError {
    if e.kind() == io::ErrorKind::NotFound {
        ctx.not_found()
    } else {
        ctx.io(format!("opening {}", path.display()), e)
    }
}

/// One attempt's copy of a body into the temp file.
struct Stream<'s, 'c> {
    tmp: &'s mut TempDownload,
    buf: &'s mut [u8],
    bar: &'s progress::Bar,
    ctx: &'s Ctx<'c>,
    meter: &'s mut Meter,
    timeouts: &'s Timeouts,
}

impl Stream<'_, '_> {
    /// Copies `reader` into the temp file (hashing on the way), within the
    /// limits. A read error from the network is retryable (the body was cut
    /// off or stalled); a local one is not.
    fn copy(&mut self, mut reader: impl Read, remote: bool) -> Result<(), AttemptError> {
        let ctx = self.ctx;
        loop {
            let n = match reader.read(self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if remote => {
                    return Err(AttemptError::retry(ctx.transport(format!(
                        "{} after {} bytes",
                        read_error_text(&e, self.timeouts),
                        self.tmp.size()
                    ))))
                }
                Err(e) => return Err(AttemptError::Fatal(ctx.io("reading", e))),
            };
            // Counted before it is written: nothing past the limit lands on disk.
            self.meter.add(n).map_err(|hit| ctx.limit_attempt(hit))?;
            self.tmp
                .write(&self.buf[..n])
                .map_err(|e| AttemptError::Fatal(ctx.io("writing the temp file", e)))?;
            self.bar.inc(n as u64);
        }
    }
}

/// A body read that failed, in words: reqwest calls a read timeout "error
/// decoding response body", which sends a reader looking for a bad gzip.
fn read_error_text(e: &io::Error, timeouts: &Timeouts) -> String {
    let timed_out = e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(|r| r.is_timeout());
    if timed_out {
        format!(
            "the transfer stalled: no data for {} (the read timeout)",
            humantime::format_duration(timeouts.read)
        )
    } else {
        format!("connection broken: {e}")
    }
}

enum Capped {
    TooBig,
    Limit(LimitHit),
    Io(io::Error),
}

/// Reads all of `r`, at most [`MAX_TEXT_BYTES`], within the meter's limits.
fn read_capped(mut r: impl Read, meter: &mut Meter) -> Result<Vec<u8>, Capped> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Capped::Io(e)),
        };
        meter.add(n).map_err(Capped::Limit)?;
        if out.len().saturating_add(n) as u64 > MAX_TEXT_BYTES {
            return Err(Capped::TooBig);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_never_show_values() {
        let h = SecretHeaders::new().with("Authorization", "Bearer ghp_secret");
        let req = FetchRequest {
            headers: h,
            ..FetchRequest::new("e", "1", "https://x/y", Expected::Unverified)
        };
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("ghp_secret"), "{dbg}");
        assert!(dbg.contains("Authorization"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(without_password("https://u:pw@h/a"), "https://u:redacted@h/a");
        assert_eq!(without_password("https://h/a?x=1"), "https://h/a?x=1");
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name_of("https://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(file_name_of("file:///srv/m/c.tar.gz"), "c.tar.gz");
    }
}

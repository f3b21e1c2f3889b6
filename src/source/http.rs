//! The HTTP side: URL policy (HTTPS, or plain HTTP only to loopback), the
//! client with its timeouts, manual redirect following that re-applies the
//! policy at every hop, error classification and retry with backoff.

use super::{Ctx, FetchError, SecretHeaders};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// At most this many redirects are followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// How failed requests are retried: `attempts` tries in all (1 = no retry),
/// sleeping `base_delay * 2^(n-1)` (plus up to 25 % jitter, at most
/// `max_delay`) after the n-th failure. Connection errors, timeouts, bodies
/// cut short, 5xx and 429 are retried; other 4xx never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after the `failures`-th failed attempt (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let base = self.base_delay.saturating_mul(1u32 << exp);
        let jitter_ms = (base.as_millis() as u64) / 4;
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(random_u64() % (jitter_ms + 1))
        };
        (base + jitter).min(self.max_delay)
    }
}

fn random_u64() -> u64 {
    // std-only randomness: RandomState is seeded per instance from the OS.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// Connect and read/idle timeouts. The read timeout bounds the wait for the
/// response head and for every single read of the body, so a stalled
/// transfer fails while a slow but moving one does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
        }
    }
}

/// Is `host` (as in a URL: IPv6 in brackets) a loopback address or `localhost`?
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyViolation {
    /// Plain http:// to a host that is not loopback, without `allow_http`.
    InsecureHttp,
    /// Anything else: unparsable, unsupported scheme, no host.
    Bad(String),
}

/// What a URL is, once allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Remote(Url),
    File(std::path::PathBuf),
}

/// The URL policy for a URL given by the user (manifest, lock file): https
/// always; http to loopback, or anywhere with `allow_http`; `file://` paths.
pub fn check_url(url: &str, allow_http: bool) -> Result<Allowed, PolicyViolation> {
    let parsed = Url::parse(url).map_err(|e| PolicyViolation::Bad(format!("invalid URL: {e}")))?;
    if parsed.scheme() == "file" {
        return parsed
            .to_file_path()
            .map(Allowed::File)
            .map_err(|()| PolicyViolation::Bad("file:// URL is not an absolute local path".into()));
    }
    check_remote(&parsed, allow_http)?;
    Ok(Allowed::Remote(parsed))
}

/// The policy for a remote URL, also applied to every redirect target (where
/// `file://` and other schemes are refused).
pub fn check_remote(url: &Url, allow_http: bool) -> Result<(), PolicyViolation> {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| PolicyViolation::Bad("URL has no host".into()))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback_host(host) => Ok(()),
        "http" => Err(PolicyViolation::InsecureHttp),
        other => Err(PolicyViolation::Bad(format!("unsupported URL scheme `{other}`"))),
    }
}

/// A redirect may lead to http(s) only: `file://` (a local file the server
/// chose) and every other scheme are refused, and said so, rather than
/// reported as whatever part of a URL that scheme lacks.
fn check_redirect_scheme(url: &Url) -> Result<(), PolicyViolation> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(PolicyViolation::Bad(format!(
            "refusing a redirect to a non-http(s) URL (`{other}:`); only http:// and https:// redirects are followed"
        ))),
    }
}

/// Same scheme, host and port: credentials may be sent along a redirect only then.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// [`same_origin`] for two URL strings; false when either does not parse.
pub(crate) fn same_origin_str(a: &str, b: &str) -> bool {
    matches!((Url::parse(a), Url::parse(b)), (Ok(a), Ok(b)) if same_origin(&a, &b))
}

/// The URL without user info (password) and without a query string, for logs.
pub fn display_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.set_query(None);
            u.to_string()
        }
        Err(_) => crate::redact::url_without_userinfo(url),
    }
}

/// The outcome of one failed attempt: try again, or give up now.
#[derive(Debug)]
pub(crate) enum AttemptError {
    Retry {
        error: FetchError,
        retry_after: Option<Duration>,
    },
    Fatal(FetchError),
}

impl AttemptError {
    pub fn retry(error: FetchError) -> Self {
        AttemptError::Retry {
            error,
            retry_after: None,
        }
    }
}

/// Runs `op` until it succeeds, fails fatally, or the attempts are used up.
pub(crate) fn with_retries<T>(
    policy: &RetryPolicy,
    what: &str,
    mut op: impl FnMut(u32) -> Result<T, AttemptError>,
) -> Result<T, FetchError> {
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        match op(attempt) {
            Ok(v) => return Ok(v),
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(AttemptError::Retry { error, retry_after }) => {
                if attempt >= attempts {
                    return Err(error);
                }
                let mut delay = policy.delay(attempt);
                if let Some(ra) = retry_after {
                    delay = delay.max(ra.min(policy.max_delay));
                }
                tracing::warn!(
                    "{what}: attempt {attempt}/{attempts} failed: {error}; retrying in {} ms",
                    delay.as_millis()
                );
                std::thread::sleep(delay);
                attempt += 1;
            }
        }
    }
}

/// Why https cannot work on a host without a CA store, and what to do.
pub const NO_CA_STORE: &str = "this host has no CA certificates (no system CA store was found), so no https server \
     can be verified; install the ca-certificates package, or name a PEM file with the CA certificates to trust \
     in EXPORTERCTL_CA_BUNDLE (or SSL_CERT_FILE)";

/// A blocking client, and why https cannot work with it, if it cannot.
pub struct TlsClient {
    pub client: Client,
    /// Set when the system has no CA store and no bundle was given: https
    /// is refused with this message, before connecting; http still works.
    pub no_https: Option<String>,
}

impl TlsClient {
    /// The client from `builder`, trusting the system's CA store plus
    /// `extra_roots`. Building reads the system's store and fails without
    /// one (a minimal container, "No CA certificates were loaded from the
    /// system"): plain http and file:// must still work there, and https to
    /// servers a bundle vouches for, so the client then trusts the bundle
    /// alone, and https without a bundle fails when it is used, saying so.
    pub fn build(
        builder: impl Fn() -> reqwest::blocking::ClientBuilder,
        extra_roots: &[reqwest::Certificate],
    ) -> Result<TlsClient, reqwest::Error> {
        let system = match builder().tls_certs_merge(extra_roots.iter().cloned()).build() {
            Ok(client) => return Ok(TlsClient { client, no_https: None }),
            Err(e) => e,
        };
        match builder().tls_certs_only(extra_roots.iter().cloned()).build() {
            Ok(client) => {
                tracing::debug!(
                    "system CA certificates unusable ({}); {}",
                    describe_reqwest(system),
                    if extra_roots.is_empty() {
                        "https is refused"
                    } else {
                        "trusting only the CA bundle"
                    }
                );
                Ok(TlsClient {
                    client,
                    no_https: extra_roots.is_empty().then(|| NO_CA_STORE.to_string()),
                })
            }
            Err(_) => Err(system),
        }
    }

    /// `Err(why)` when `url` is https and https cannot work.
    pub fn check_https(&self, url: &Url) -> Result<(), &str> {
        match &self.no_https {
            Some(why) if url.scheme() == "https" => Err(why),
            _ => Ok(()),
        }
    }
}

/// A reqwest blocking client that follows redirects itself.
pub(crate) struct Http {
    client: TlsClient,
    requests: AtomicU64,
    /// The read timeout, for messages.
    timeout: Duration,
}

impl Http {
    /// The client. Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`
    /// and `NO_PROXY` (reqwest's system proxy support); the certificates of
    /// `extra_roots` are trusted in addition to the system's CA store (or
    /// alone when the machine has none).
    pub fn new(timeouts: Timeouts, extra_roots: &[reqwest::Certificate]) -> Result<Http, reqwest::Error> {
        let builder = || {
            Client::builder()
                .user_agent(concat!("exporterctl/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(timeouts.connect)
                .timeout(timeouts.read)
        };
        let client = TlsClient::build(builder, extra_roots)?;
        Ok(Http {
            client,
            requests: AtomicU64::new(0),
            timeout: timeouts.read,
        })
    }

    /// HTTP requests sent so far (every attempt and every redirect hop).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One attempt: GET `url`, following up to [`MAX_REDIRECTS`] redirects,
    /// each checked against the URL policy before it is requested. Returns
    /// the successful (2xx) response with its body unread. `headers` go to
    /// the original origin only, never along a redirect to another one.
    pub(crate) fn get(
        &self,
        ctx: &Ctx<'_>,
        url: &Url,
        allow_http: bool,
        headers: &SecretHeaders,
    ) -> Result<Response, AttemptError> {
        self.send(reqwest::Method::GET, ctx, url, allow_http, headers)
    }

    /// As [`Http::get`], with any method (`HEAD` to check that a file exists).
    pub(crate) fn send(
        &self,
        method: reqwest::Method,
        ctx: &Ctx<'_>,
        url: &Url,
        allow_http: bool,
        headers: &SecretHeaders,
    ) -> Result<Response, AttemptError> {
        let header_map = build_headers(ctx, headers).map_err(AttemptError::Fatal)?;
        let mut current = url.clone();
        for hop in 0..=MAX_REDIRECTS {
            if hop > 0 {
                check_redirect_scheme(&current).map_err(|v| AttemptError::Fatal(ctx.policy(v)))?;
            }
            check_remote(&current, allow_http).map_err(|v| AttemptError::Fatal(ctx.policy(v)))?;
            self.client
                .check_https(&current)
                .map_err(|why| AttemptError::Fatal(ctx.transport(why.to_string())))?;
            let mut rb = self.client.client.request(method.clone(), current.clone());
            if same_origin(&current, url) {
                rb = rb.headers(header_map.clone());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let resp = rb.send().map_err(|e| {
                // A certificate that fails verification fails the same way
                // on every attempt: retrying only delays the error.
                let certificate = certificate_error(&e).cloned();
                let fatal = e.is_builder() || certificate.is_some();
                let timed_out = e.is_timeout();
                let mut message = describe_reqwest(e);
                if timed_out {
                    message = format!(
                        "no response within {} (the read timeout): {message}",
                        humantime::format_duration(self.timeout)
                    );
                }
                if matches!(certificate, Some(rustls::CertificateError::UnknownIssuer)) {
                    message.push_str(UNTRUSTED_HINT);
                }
                let err = ctx.transport(message);
                if fatal {
                    AttemptError::Fatal(err)
                } else {
                    AttemptError::retry(err)
                }
            })?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| current.join(loc).ok());
                match next {
                    Some(next) => {
                        tracing::debug!(
                            "{}: redirected to {}",
                            display_url(current.as_str()),
                            display_url(next.as_str())
                        );
                        current = next;
                        continue;
                    }
                    None => {
                        return Err(AttemptError::Fatal(
                            ctx.http(status.as_u16(), " (redirect without a usable Location)".into()),
                        ))
                    }
                }
            }
            if status.is_success() {
                return Ok(resp);
            }
            return Err(classify_status(ctx, &resp));
        }
        Err(AttemptError::Fatal(
            ctx.transport(format!("more than {MAX_REDIRECTS} redirects")),
        ))
    }
}

fn build_headers(ctx: &Ctx<'_>, headers: &SecretHeaders) -> Result<HeaderMap, FetchError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ctx.transport(format!("invalid header name `{name}`")))?;
        // Never echo the value: it may be a token.
        let mut v =
            HeaderValue::from_str(value).map_err(|_| ctx.transport(format!("invalid value for header `{name}`")))?;
        v.set_sensitive(true);
        map.append(n, v);
    }
    Ok(map)
}

fn classify_status(ctx: &Ctx<'_>, resp: &Response) -> AttemptError {
    let status = resp.status();
    let code = status.as_u16();
    let h = resp.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if status == StatusCode::NOT_FOUND {
        return AttemptError::Fatal(ctx.not_found());
    }
    if code == 403 && header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
        return AttemptError::Fatal(ctx.rate_limited(reset));
    }
    let reason = status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = h
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return AttemptError::Retry {
            error: ctx.http(code, reason),
            retry_after,
        };
    }
    AttemptError::Fatal(ctx.http(code, reason))
}

/// Appended to the error for a server certificate that no trusted CA signed.
pub const UNTRUSTED_HINT: &str =
    " (the server's certificate is not signed by a trusted CA; name a PEM file with that CA in EXPORTERCTL_CA_BUNDLE)";

/// The certificate error that failed a TLS handshake, if that is what `e` is.
fn certificate_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::CertificateError> {
    let mut next = Some(e);
    while let Some(mut err) = next {
        // `io::Error::source` skips the error it wraps, and the TLS layer
        // puts rustls' error in an io::Error (itself in another one): look
        // inside by hand.
        while let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            err = inner;
        }
        if let Some(rustls::Error::InvalidCertificate(c)) = err.downcast_ref::<rustls::Error>() {
            return Some(c);
        }
        next = err.source();
    }
    None
}

/// Environment variables naming a PEM bundle of extra CA certificates, first set wins.
pub const CA_BUNDLE_VARS: &[&str] = &["EXPORTERCTL_CA_BUNDLE", "SSL_CERT_FILE"];

/// The extra CA certificates named by [`CA_BUNDLE_VARS`] (none if unset).
pub fn extra_roots_from_env() -> Result<Vec<reqwest::Certificate>, String> {
    for var in CA_BUNDLE_VARS {
        let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
            continue;
        };
        let path = std::path::PathBuf::from(path);
        let pem = std::fs::read(&path).map_err(|e| format!("{var}={}: {e}", path.display()))?;
        let certs = parse_ca_bundle(&pem).map_err(|e| format!("{var}={}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{var}={}: no certificate in the file", path.display()));
        }
        tracing::debug!(
            "trusting {} extra CA certificate(s) from {}",
            certs.len(),
            path.display()
        );
        return Ok(certs);
    }
    Ok(Vec::new())
}

/// The certificates of a PEM bundle, each checked to be X.509 DER: reqwest
/// checks only the PEM framing, and a block that is no certificate would
/// fail later, when the client is built, without naming the file.
fn parse_ca_bundle(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut certs = Vec::new();
    for (i, der) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = der.map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| format!("certificate {} is not a valid CA certificate: {e:?}", i + 1))?;
        certs.push(reqwest::Certificate::from_der(&der).map_err(describe_reqwest)?);
    }
    Ok(certs)
}

/// A reqwest error as text: its chain of causes, without the URL (the
/// caller names the URL; a redirect target may carry signed query strings).
pub fn describe_reqwest(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "LOCALHOST",
            "localhost.",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "128.0.0.1",
            "example.com",
            "localhost.example.com",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(is_loopback_host("[::ffff:127.0.0.1]"));
    }

    #[test]
    fn url_policy() {
        assert!(matches!(
            check_url("https://example.com/a", false),
            Ok(Allowed::Remote(_))
        ));
        assert!(check_url("http://127.0.0.1:8080/a", false).is_ok());
        assert!(check_url("http://[::1]:8080/a", false).is_ok());
        assert!(check_url("http://localhost/a", false).is_ok());
        assert_eq!(
            check_url("http://example.com/a", false),
            Err(PolicyViolation::InsecureHttp)
        );
        assert_eq!(
            check_url("http://127.0.0.1.example.com/a", false),
            Err(PolicyViolation::InsecureHttp)
        );
        assert!(check_url("http://example.com/a", true).is_ok());
        assert_eq!(
            check_url("file:///srv/mirror/a.tar.gz", false),
            Ok(Allowed::File("/srv/mirror/a.tar.gz".into()))
        );
        assert!(matches!(
            check_url("ftp://example.com/a", true),
            Err(PolicyViolation::Bad(_))
        ));
        assert!(matches!(check_url("not a url", true), Err(PolicyViolation::Bad(_))));
    }

    #[test]
    fn redirect_targets_cannot_be_files() {
        let u = Url::parse("file:///etc/passwd").unwrap();
        assert!(matches!(check_remote(&u, true), Err(PolicyViolation::Bad(_))));
        let Err(PolicyViolation::Bad(m)) = check_redirect_scheme(&u) else {
            panic!("file:// redirect allowed")
        };
        assert!(m.contains("non-http(s)") && m.contains("`file:`"), "{m}");
        assert!(check_redirect_scheme(&Url::parse("ftp://h/x").unwrap()).is_err());
        assert!(check_redirect_scheme(&Url::parse("https://h/x").unwrap()).is_ok());
    }

    #[test]
    fn without_a_ca_store_only_https_is_refused() {
        let tls = TlsClient {
            client: Client::builder().tls_certs_only([]).build().unwrap(),
            no_https: Some(NO_CA_STORE.into()),
        };
        let why = tls
            .check_https(&Url::parse("https://example.com/a").unwrap())
            .unwrap_err();
        assert!(
            why.contains("ca-certificates") && why.contains("EXPORTERCTL_CA_BUNDLE"),
            "{why}"
        );
        assert!(tls.check_https(&Url::parse("http://127.0.0.1/a").unwrap()).is_ok());
        let with_store = TlsClient { no_https: None, ..tls };
        assert!(with_store
            .check_https(&Url::parse("https://example.com/a").unwrap())
            .is_ok());
    }

    #[test]
    fn origins() {
        let a = Url::parse("https://api.github.com/x").unwrap();
        assert!(same_origin(&a, &Url::parse("https://api.github.com:443/y").unwrap()));
        assert!(!same_origin(&a, &Url::parse("https://objects.github.com/x").unwrap()));
        assert!(!same_origin(&a, &Url::parse("http://api.github.com/x").unwrap()));
    }

    #[test]
    fn display_url_hides_secrets() {
        assert_eq!(
            display_url("https://user:pw@example.com/a?X-Amz-Signature=abc"),
            "https://example.com/a"
        );
    }

    /// An error that wraps another, as hyper and reqwest wrap the TLS layer's.
    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As hyper-rustls reports it: an io::Error in an io::Error.
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let e = Wrapper(std::io::Error::other(io));
        assert_eq!(certificate_error(&e), Some(&rustls::CertificateError::UnknownIssuer));
        let refused = Wrapper(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(certificate_error(&refused), None);
        let other = Wrapper(std::io::Error::other(rustls::Error::DecryptError));
        assert_eq!(certificate_error(&other), None);
    }

    #[test]
    fn ca_bundles_are_checked_certificate_by_certificate() {
        let ca = rcgen::generate_simple_self_signed(vec!["test CA".to_string()]).unwrap();
        let pem = ca.cert.pem();
        assert_eq!(parse_ca_bundle(pem.as_bytes()).unwrap().len(), 1);
        assert_eq!(parse_ca_bundle(format!("{pem}{pem}").as_bytes()).unwrap().len(), 2);
        assert!(parse_ca_bundle(b"").unwrap().is_empty());
        assert!(parse_ca_bundle(b"not PEM at all\n").unwrap().is_empty());
        let err = parse_ca_bundle(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(err.starts_with("not a PEM certificate bundle"), "{err}");
        // Valid base64 framing, but no X.509 inside.
        let not_x509 = format!("{pem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let err = parse_ca_bundle(not_x509.as_bytes()).unwrap_err();
        assert!(err.starts_with("certificate 2 is not a valid CA certificate"), "{err}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        let d1 = p.delay(1);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125));
        let d2 = p.delay(2);
        assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(250));
        assert_eq!(p.delay(3), Duration::from_millis(350));
        assert_eq!(p.delay(40), Duration::from_millis(350));
    }

    #[test]
    fn retries_stop_at_the_limit_and_on_fatal() {
        let p = RetryPolicy {
            attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        let ctx = Ctx::new("e", "1", "u");
        let mut n = 0;
        let r: Result<(), _> = with_retries(&p, "t", |_| {
            n += 1;
            Err(AttemptError::retry(ctx.transport("boom".into())))
        });
        assert!(r.is_err());
        assert_eq!(n, 3);
        let mut n = 0;
        let r: Result<(), _> = with_retries(&p, "t", |_| {
            n += 1;
            Err(AttemptError::Fatal(ctx.not_found()))
        });
        assert!(matches!(r, Err(FetchError::NotFound { .. })));
        assert_eq!(n, 1);
    }
}

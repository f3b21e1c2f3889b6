//! One health check: GET the metrics URL, require HTTP 200, then check the
//! build-info version and the expected samples in the body.

use super::{text, HealthFailure};
use crate::health::HealthSpec;
use crate::redact;
use crate::source::http::TlsClient;
use reqwest::blocking::Client;
use std::io::Read;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// Bodies larger than this are refused (node_exporter sends ~60–300 KiB).
const MAX_BODY: u64 = 64 * 1024 * 1024;
/// No request gets less time than this, even right before the deadline.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(50);

/// An HTTP prober. Connections are never reused: every check must reach the
/// process listening *now*, not one a kept-alive connection still points to.
/// Loopback URLs never go through a proxy; others honour `HTTP(S)_PROXY`.
pub struct Probe {
    direct: TlsClient,
    proxied: OnceLock<Result<TlsClient, String>>,
    request_timeout: Duration,
}

impl Probe {
    /// Per-request timeout of [`Probe::new`].
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

    pub fn new() -> Result<Probe, HealthFailure> {
        Self::with_request_timeout(Self::DEFAULT_REQUEST_TIMEOUT)
    }

    pub fn with_request_timeout(request_timeout: Duration) -> Result<Probe, HealthFailure> {
        let direct = build_client(false).map_err(|reason| HealthFailure::Client { reason })?;
        Ok(Probe {
            direct,
            proxied: OnceLock::new(),
            request_timeout,
        })
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn client_for(&self, url: &str) -> Result<&Client, HealthFailure> {
        let tls = if is_loopback_url(url) {
            &self.direct
        } else {
            self.proxied
                .get_or_init(|| build_client(true))
                .as_ref()
                .map_err(|reason| HealthFailure::Client { reason: reason.clone() })?
        };
        if let Ok(parsed) = reqwest::Url::parse(url) {
            tls.check_https(&parsed).map_err(|why| HealthFailure::Connect {
                url: shown(url),
                reason: why.to_string(),
            })?;
        }
        Ok(&tls.client)
    }

    /// GET `url` (HTTP 200 required) and return the body.
    pub fn scrape(&self, url: &str, timeout: Duration) -> Result<String, HealthFailure> {
        let client = self.client_for(url)?;
        let resp = client
            .get(url)
            .header(reqwest::header::ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
            .timeout(timeout)
            .send()
            .map_err(|e| request_failure(url, timeout, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(HealthFailure::Http {
                url: shown(url),
                status,
            });
        }
        let mut body = Vec::new();
        resp.take(MAX_BODY + 1).read_to_end(&mut body).map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::TimedOut {
                format!("body not read within {}", humantime::format_duration(timeout))
            } else {
                format!("cannot read the body: {}", redact::scrub(&error_chain(&e), url))
            };
            HealthFailure::Body {
                url: shown(url),
                reason,
            }
        })?;
        if body.len() as u64 > MAX_BODY {
            return Err(HealthFailure::Body {
                url: shown(url),
                reason: format!("body larger than {} MiB", MAX_BODY >> 20),
            });
        }
        String::from_utf8(body).map_err(|e| HealthFailure::Body {
            url: shown(url),
            reason: format!("body is not UTF-8 (at byte {})", e.utf8_error().valid_up_to()),
        })
    }

    /// One check of `spec` (nothing to do without `spec.url`).
    pub fn check_once(&self, spec: &HealthSpec, version: &str) -> Result<(), HealthFailure> {
        self.check_within(spec, version, self.request_timeout)
    }

    /// [`Probe::check_once`] with the request given at most `timeout`.
    pub fn check_within(&self, spec: &HealthSpec, version: &str, timeout: Duration) -> Result<(), HealthFailure> {
        let Some(url) = &spec.url else {
            return Ok(());
        };
        let body = self.scrape(url, timeout.max(MIN_REQUEST_TIMEOUT))?;
        check_body(url, spec, version, &body)
    }
}

/// The checks on a scraped body: the build-info metric's version label
/// (a leading `v` on either side is ignored), then every expected sample.
/// The body is parsed only when there is something to look for.
/// The body is parsed only when there is something to look for.
pub fn check_body(url: &str, spec: &HealthSpec, version: &str, body: &str) -> Result<(), HealthFailure> {
    if spec.build_info.is_none() && spec.expect.is_empty() {
        // HTTP 200 is all that was asked for.
        return Ok(());
    }
    let samples = text::parse(body).map_err(|e| HealthFailure::Body {
        url: shown(url),
        reason: format!("not the Prometheus text format: {e}"),
    })?;
    if let Some(metric) = &spec.build_info {
        let label = &spec.build_info_label;
        let mut found = samples.iter().filter(|s| s.name == metric.as_str()).peekable();
        if found.peek().is_none() {
            return Err(HealthFailure::MissingBuildInfo { metric: metric.clone() });
        }
        let versions: Vec<&str> = found.filter_map(|s| s.label(label)).collect();
        if !versions.iter().any(|v| same_version(v, version)) {
            return Err(match versions.first() {
                Some(v) => HealthFailure::WrongVersion {
                    metric: metric.clone(),
                    label: label.clone(),
                    found: v.to_string(),
                    expected: version.to_string(),
                },
                None => HealthFailure::BuildInfoWithoutLabel {
                    metric: metric.clone(),
                    label: label.clone(),
                },
            });
        }
    }
    for e in &spec.expect {
        let expectation = e.expectation();
        if !expectation.is_met(&samples) {
            return Err(HealthFailure::ExpectationNotMet {
                expectation: e.text().trim().to_string(),
                seen: expectation.describe_mismatch(&samples),
            });
        }
    }
    Ok(())
}

fn same_version(found: &str, wanted: &str) -> bool {
    let strip = |s: &str| s.strip_prefix('v').unwrap_or(s).to_string();
    found == wanted || strip(found) == strip(wanted)
}

/// A client for health checks: the system's CA store plus the bundle of
/// `EXPORTERCTL_CA_BUNDLE`, as downloads have. Without a system store it
/// still checks plain http (the usual loopback URL), and https fails when
/// used, saying why; a broken bundle only matters to https, not to the
/// checks of plain http URLs.
fn build_client(with_proxy: bool) -> Result<TlsClient, String> {
    let builder = || {
        let b = Client::builder()
            .user_agent(concat!("exporterctl/", env!("CARGO_PKG_VERSION"), " health-check"))
            .pool_max_idle_per_host(0)
            .connect_timeout(Probe::DEFAULT_REQUEST_TIMEOUT);
        if with_proxy {
            b
        } else {
            b.no_proxy()
        }
    };
    let roots = crate::source::http::extra_roots_from_env();
    let mut tls = TlsClient::build(builder, roots.as_deref().unwrap_or(&[])).map_err(|e| error_chain(&e))?;
    if let (Some(why), Err(bundle)) = (&tls.no_https, &roots) {
        tls.no_https = Some(format!("{why}; the CA bundle is unusable: {bundle}"));
    }
    Ok(tls)
}

/// `localhost`, `*.localhost`, 127.0.0.0/8, `::1` (and `[::ffff:127.x]`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// Turns a reqwest error into a short, readable failure.
fn request_failure(url: &str, timeout: Duration, e: &reqwest::Error) -> HealthFailure {
    if e.is_timeout() {
        return HealthFailure::RequestTimeout {
            url: shown(url),
            after: timeout,
        };
    }
    HealthFailure::Connect {
        url: shown(url),
        reason: redact::scrub(&short_reason(e), url),
    }
}

/// `url` as failures name it: without its password. Failures end up in
/// `switches/*.json`, `status` and the summary; the request still uses the
/// credentials.
fn shown(url: &str) -> String {
    redact::url_without_password(url)
}

/// The most telling cause: a well-known I/O error kind in plain words, else
/// the innermost message.
fn short_reason(e: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind::*;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut innermost = e.to_string();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ConnectionRefused => return "connection refused".into(),
                ConnectionReset => return "connection reset".into(),
                ConnectionAborted => return "connection aborted".into(),
                UnexpectedEof => return "connection closed before an answer".into(),
                _ => {}
            }
        }
        innermost = err.to_string();
        cur = err.source();
    }
    innermost
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let m = err.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = err.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HealthSpec {
        HealthSpec {
            url: Some("http://127.0.0.1:9100/metrics".into()),
            build_info: Some("node_exporter_build_info".into()),
            ..HealthSpec::default()
        }
    }
    const URL: &str = "http://127.0.0.1:9100/metrics";
    const NODE_EXPORTER: &str = include_str!("testdata/node_exporter-1.5.0.prom");

    #[test]
    fn real_node_exporter_body_passes_for_its_version_only() {
        check_body(URL, &spec(), "1.5.0", NODE_EXPORTER).unwrap();
        check_body(URL, &spec(), "v1.5.0", NODE_EXPORTER).unwrap();
        let e = check_body(URL, &spec(), "1.9.1", NODE_EXPORTER).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node_exporter_build_info{version=\"1.5.0\"} but expected 1.9.1"
        );
    }

    #[test]
    fn missing_build_info_and_label() {
        let e = check_body(URL, &spec(), "1.9.1", "node_up 1\n").unwrap_err();
        assert_eq!(e.to_string(), "missing node_exporter_build_info");
        let e = check_body(URL, &spec(), "1.9.1", "node_exporter_build_info{revision=\"x\"} 1\n").unwrap_err();
        assert_eq!(e.to_string(), "node_exporter_build_info has no `version` label");
    }

    #[test]
    fn custom_build_info_label() {
        let s = HealthSpec {
            build_info: Some("f2b_version".into()),
            build_info_label: "exporter".into(),
            ..spec()
        };
        check_body(
            URL,
            &s,
            "0.10.3",
            "f2b_version{exporter=\"0.10.3\",fail2ban=\"1.0.2\"} 1\n",
        )
        .unwrap();
    }

    #[test]
    fn expectations_are_checked() {
        let s = HealthSpec {
            build_info: None,
            expect: vec![
                crate::health::Expect::parse("nginx_up 1").unwrap(),
                crate::health::Expect::parse(r#"phpfpm_up{pool="www"} 1"#).unwrap(),
            ],
            ..spec()
        };
        check_body(URL, &s, "1", "nginx_up 1\nphpfpm_up{pool=\"www\"} 1\n").unwrap();
        let e = check_body(URL, &s, "1", "nginx_up 0\nphpfpm_up{pool=\"www\"} 1\n").unwrap_err();
        assert_eq!(e.to_string(), "expected sample `nginx_up 1` not found (nginx_up is 0)");
        // Parsed once, when the spec is read: a bad entry in a state.json
        // (written by hand) is refused there, naming it.
        let mut json = serde_json::to_value(&s).unwrap();
        json["expect"] = serde_json::json!(["nginx_up"]);
        let e = serde_json::from_value::<HealthSpec>(json).unwrap_err().to_string();
        assert!(e.contains("`nginx_up` is not a sample"), "{e}");
    }

    #[test]
    fn an_invalid_body_is_a_failure_naming_the_line() {
        let e = check_body(URL, &spec(), "1", "ok 1\nbroken{\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        // Nothing to look for: the body does not matter.
        let plain = HealthSpec {
            build_info: None,
            ..spec()
        };
        check_body(URL, &plain, "1", "<!DOCTYPE html>").unwrap();
    }

    #[test]
    fn loopback_detection() {
        for u in [
            "http://127.0.0.1:9100/metrics",
            "http://127.1.2.3/",
            "http://localhost:9100/metrics",
            "http://LOCALHOST/",
            "http://foo.localhost/",
            "http://[::1]:9100/metrics",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "http://10.0.0.1:9100/",
            "http://example.com/",
            "not a url",
            "http://[::2]/",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }

    #[test]
    fn connection_refused_reads_well() {
        // A port nobody listens on.
        let port = crate::demo::free_port().unwrap();
        let url = format!("http://127.0.0.1:{port}/metrics");
        let probe = Probe::new().unwrap();
        let s = HealthSpec {
            url: Some(url.clone()),
            ..spec()
        };
        let e = probe.check_once(&s, "1").unwrap_err();
        assert_eq!(e.to_string(), format!("GET {url}: connection refused"));
    }

    /// A health URL with credentials: every failure names it without the
    /// password, yet the request carries it (Basic auth).
    #[test]
    fn failures_never_show_the_password() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization: ") {
                    auth = Some(v.trim().to_string());
                }
            }
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            auth
        });
        let url = format!("http://mon:secret@127.0.0.1:{port}/metrics");
        let probe = Probe::new().unwrap();
        let s = HealthSpec {
            url: Some(url.clone()),
            ..spec()
        };
        let e = probe.check_once(&s, "1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("GET http://mon:redacted@127.0.0.1:{port}/metrics: HTTP 503")
        );
        // base64("mon:secret"), lower-cased by the reader above.
        assert_eq!(server.join().unwrap().as_deref(), Some("basic bw9uonnly3jlda=="));

        // No answer at all, and a body that is not the text format.
        let refused = crate::demo::free_port().unwrap();
        let s = HealthSpec {
            url: Some(format!(
                "http://mon:secret@127.0.0.1:{refused}/metrics?token=SEKRET123&x=1"
            )),
            ..spec()
        };
        let e = probe.check_once(&s, "1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("GET http://mon:redacted@127.0.0.1:{refused}/metrics?token=redacted&x=1: connection refused")
        );
        let e = check_body(&url, &spec(), "1", "{not metrics").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("mon:redacted@"), "{e}");
    }
}

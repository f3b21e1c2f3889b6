//! The HTTP client of the monitoring calls: one short timeout per request,
//! no redirects (a token must not follow one), bounded answers, loopback
//! without a proxy. Errors never quote the URL: the caller names the
//! service, and a webhook's URL is a secret.

use crate::source::http::{describe_reqwest, extra_roots_from_env, is_loopback_host, TlsClient};
use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

/// Largest answer read from Alertmanager, Grafana or a webhook.
pub const SMALL_BODY: u64 = 1024 * 1024;
/// Largest answer read from Prometheus (raw `up` samples of a long window).
pub const LARGE_BODY: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The start of the body as text, for an error message.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    }

    /// The reply if its status is 2xx, else an error with the status and
    /// the start of the body.
    pub fn success(self) -> Result<Reply, String> {
        if self.ok() {
            Ok(self)
        } else {
            Err(format!("HTTP {}: {}", self.status, self.excerpt()))
        }
    }

    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("answer is not JSON: {e}"))
    }
}

pub struct Client {
    timeout: Duration,
    direct: OnceLock<Result<TlsClient, String>>,
    proxied: OnceLock<Result<TlsClient, String>>,
}

fn build(proxy: bool, timeout: Duration) -> Result<TlsClient, String> {
    let roots = extra_roots_from_env()?;
    let builder = || {
        let b = reqwest::blocking::Client::builder()
            .user_agent(concat!("exporterctl/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout);
        if proxy {
            b
        } else {
            b.no_proxy()
        }
    };
    TlsClient::build(builder, &roots).map_err(describe_reqwest)
}

impl Client {
    pub fn new(timeout: Duration) -> Client {
        Client {
            timeout,
            direct: OnceLock::new(),
            proxied: OnceLock::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One request; `bearer` goes in `Authorization`, `body` as JSON.
    /// Answers larger than `max` are an error. The error says what failed,
    /// never the URL.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<&serde_json::Value>,
        max: u64,
    ) -> Result<Reply, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("only http:// and https:// URLs are supported".into());
        }
        let loopback = parsed.host_str().is_some_and(is_loopback_host);
        let cell = if loopback { &self.direct } else { &self.proxied };
        let tls = cell
            .get_or_init(|| build(!loopback, self.timeout))
            .as_ref()
            .map_err(Clone::clone)?;
        tls.check_https(&parsed).map_err(str::to_string)?;
        let mut req = match method {
            Method::Get => tls.client.get(parsed),
            Method::Post => tls.client.post(parsed),
            Method::Patch => tls.client.patch(parsed),
            Method::Delete => tls.client.delete(parsed),
        };
        req = req.header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the token is not a valid header value".to_string())?;
            value.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, value);
        }
        if let Some(b) = body {
            let bytes = serde_json::to_vec(b).map_err(|e| e.to_string())?;
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let resp = req.send().map_err(describe_reqwest)?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(format!("HTTP {status}: answer larger than {max} bytes"));
        }
        let mut body = Vec::new();
        resp.take(max + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("HTTP {status}: reading the answer: {e}"))?;
        if body.len() as u64 > max {
            return Err(format!("HTTP {status}: answer larger than {max} bytes"));
        }
        Ok(Reply { status, body })
    }
}

/// `base` + `path` without a doubled slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

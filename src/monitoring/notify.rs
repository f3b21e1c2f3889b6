//! Webhook notifications at a switch's start and end: Slack's incoming
//! webhook format (`{"text": …}`) or the switch record as JSON. A webhook's
//! URL is a secret: it is read when sending and never appears in a message.

use super::client::{Client, Method, SMALL_BODY};
use super::WebhookFormat;

/// Posts one notification. `text` is the message (Slack), `record` the
/// switch record (JSON).
pub fn send(
    client: &Client,
    url: &str,
    format: WebhookFormat,
    text: &str,
    record: &serde_json::Value,
) -> Result<(), String> {
    let body = match format {
        WebhookFormat::Slack => serde_json::json!({ "text": text }),
        WebhookFormat::Json => record.clone(),
    };
    let reply = client
        .send(Method::Post, url, None, Some(&body), SMALL_BODY)
        .map_err(|e| e.replace(url, "<webhook URL>"))?;
    if !reply.ok() {
        // The answer's text could echo the URL (some services do): only the status.
        return Err(format!("HTTP {}", reply.status));
    }
    Ok(())
}

/// Checks a webhook URL read from a file or the environment: http(s), no
/// plain http to another host than the loopback. The error never quotes it.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a URL".to_string())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host_str().is_some_and(crate::source::http::is_loopback_host) => Ok(()),
        "http" => Err("is plain http:// to another host than the loopback (use https://)".into()),
        _ => Err("is not an http(s):// URL".into()),
    }
}

//! Alertmanager's v2 API: a silence over a switch's window. Created before
//! the first restart, expired (`DELETE /api/v2/silence/{id}`) when the
//! switch is over; `endsAt` caps it in case exporterctl never comes back.

use super::client::{join, Client, Method, SMALL_BODY};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

/// `createdBy` of every silence this host's exporterctl makes: how the next
/// run finds a silence whose switch is gone.
pub fn created_by(host: &str) -> String {
    format!("exporterctl@{host}")
}

/// The marker of one switch in a silence's comment.
pub fn comment_tag(switch_id: &str) -> String {
    format!("[switch {switch_id}]")
}

/// A silence id as Alertmanager makes them (a UUID): checked before it
/// goes into a URL path or a record.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Escapes `s` for a Go RE2 regular expression.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The default matcher: `instance` is this host (by name, as `localhost`
/// or a loopback address) at one of the exporters' ports.
pub fn default_matchers(host: &str, ports: &[u16]) -> Vec<Matcher> {
    let hosts = [host, "localhost", "127.0.0.1", "[::1]"];
    let mut hosts: Vec<String> = hosts.iter().map(|h| regex_escape(h)).collect();
    hosts.dedup();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    vec![Matcher {
        name: "instance".into(),
        value: format!("({}):({})", hosts.join("|"), ports.join("|")),
        is_regex: true,
        is_equal: true,
    }]
}

/// Creates a silence; returns its id.
pub fn create(
    client: &Client,
    base: &str,
    matchers: &[Matcher],
    starts_at: &str,
    ends_at: &str,
    created_by: &str,
    comment: &str,
) -> Result<String, String> {
    let body = serde_json::json!({
        "matchers": matchers,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "createdBy": created_by,
        "comment": comment,
    });
    let reply = client
        .send(
            Method::Post,
            &join(base, "api/v2/silences"),
            None,
            Some(&body),
            SMALL_BODY,
        )?
        .success()?;
    let id = reply
        .json()?
        .get("silenceID")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or("answer has no silenceID")?;
    if !valid_id(&id) {
        return Err("answer's silenceID is not an id".into());
    }
    Ok(id)
}

/// Expires a silence at once. One already expired or unknown to this
/// Alertmanager (it lost its data) is gone as well: `Ok`.
pub fn expire(client: &Client, base: &str, id: &str) -> Result<(), String> {
    if !valid_id(id) {
        return Err(format!("`{}` is not a silence id", id.escape_debug()));
    }
    let reply = client.send(
        Method::Delete,
        &join(base, &format!("api/v2/silence/{id}")),
        None,
        None,
        SMALL_BODY,
    )?;
    if reply.ok() {
        return Ok(());
    }
    let text = reply.excerpt();
    if text.contains("not found") || text.contains("already expired") {
        return Ok(());
    }
    Err(format!("HTTP {}: {text}", reply.status))
}

/// One silence as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// `active`, `pending` or `expired`.
    pub state: String,
    pub created_by: String,
    pub comment: String,
}

/// Every silence Alertmanager knows.
pub fn list(client: &Client, base: &str) -> Result<Vec<Listed>, String> {
    let reply = client
        .send(Method::Get, &join(base, "api/v2/silences"), None, None, 8 * SMALL_BODY)?
        .success()?;
    let v = reply.json()?;
    let items = v.as_array().ok_or("answer is not a list")?;
    let text = |s: &serde_json::Value, k: &str| s.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_string();
    Ok(items
        .iter()
        .map(|s| Listed {
            id: text(s, "id"),
            state: s
                .get("status")
                .and_then(|st| st.get("state"))
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string(),
            created_by: text(s, "createdBy"),
            comment: text(s, "comment"),
        })
        .filter(|s| valid_id(&s.id))
        .collect())
}

/// The state of one silence (`active`, `pending`, `expired`).
pub fn state(client: &Client, base: &str, id: &str) -> Result<String, String> {
    if !valid_id(id) {
        return Err(format!("`{}` is not a silence id", id.escape_debug()));
    }
    let reply = client
        .send(
            Method::Get,
            &join(base, &format!("api/v2/silence/{id}")),
            None,
            None,
            SMALL_BODY,
        )?
        .success()?;
    reply
        .json()?
        .get("status")
        .and_then(|s| s.get("state"))
        .and_then(|s| s.as_str())
        .map(str::to_string)
        .ok_or_else(|| "answer has no status.state".into())
}

/// Expires every silence this host's exporterctl made that is still active
/// or pending and is not `keep`'s (a switch in flight): what a crash, or an
/// Alertmanager unreachable at a switch's end, left behind. Returns the ids
/// expired.
pub fn sweep(client: &Client, base: &str, host: &str, keep: Option<&str>) -> Result<Vec<String>, String> {
    let by = created_by(host);
    let keep_tag = keep.map(comment_tag);
    let mut expired = Vec::new();
    for s in list(client, base)? {
        if s.created_by != by || !matches!(s.state.as_str(), "active" | "pending") {
            continue;
        }
        if keep_tag.as_ref().is_some_and(|t| s.comment.contains(t.as_str())) {
            continue;
        }
        expire(client, base, &s.id)?;
        expired.push(s.id);
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matcher_names_host_and_ports_escaped() {
        let m = default_matchers("web-1.example.org", &[9100, 9113]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "instance");
        assert!(m[0].is_regex);
        assert_eq!(
            m[0].value,
            r"(web-1\.example\.org|localhost|127\.0\.0\.1|\[::1\]):(9100|9113)"
        );
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_path() {
        assert!(valid_id("8f3b2d1e-0c4a-4b5e-9f00-1234567890ab"));
        assert!(!valid_id("../../api/v2/status"));
        assert!(!valid_id(""));
        assert!(!valid_id(&"a".repeat(65)));
    }
}

//! Grafana's annotations API: one region per switch. Created at the start
//! (`POST /api/annotations` with `time`), its end written at the finish
//! (`PATCH /api/annotations/{id}` with `timeEnd` and the outcome); when the
//! start could not be written, the whole region is created at the end.

use super::client::{join, Client, Method, SMALL_BODY};

pub struct Annotation<'a> {
    pub dashboard_uid: Option<&'a str>,
    pub time_ms: u64,
    pub time_end_ms: Option<u64>,
    pub tags: &'a [String],
    pub text: &'a str,
}

fn body(a: &Annotation) -> serde_json::Value {
    let mut b = serde_json::json!({
        "time": a.time_ms,
        "tags": a.tags,
        "text": a.text,
    });
    if let Some(end) = a.time_end_ms {
        b["timeEnd"] = end.into();
    }
    if let Some(uid) = a.dashboard_uid {
        b["dashboardUID"] = uid.into();
    }
    b
}

/// `e` without `token`, should anything on the way have quoted it.
fn scrub(e: String, token: &str) -> String {
    e.replace(token, "<redacted>")
}

/// Creates an annotation; returns its id.
pub fn create(client: &Client, base: &str, token: &str, a: &Annotation) -> Result<u64, String> {
    create_inner(client, base, token, a).map_err(|e| scrub(e, token))
}

fn create_inner(client: &Client, base: &str, token: &str, a: &Annotation) -> Result<u64, String> {
    let reply = client
        .send(
            Method::Post,
            &join(base, "api/annotations"),
            Some(token),
            Some(&body(a)),
            SMALL_BODY,
        )?
        .success()?;
    reply
        .json()?
        .get("id")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| "answer has no numeric id".into())
}

/// Sets the end (and the final text and tags) of annotation `id`.
pub fn finish(client: &Client, base: &str, token: &str, id: u64, a: &Annotation) -> Result<(), String> {
    finish_inner(client, base, token, id, a).map_err(|e| scrub(e, token))
}

fn finish_inner(client: &Client, base: &str, token: &str, id: u64, a: &Annotation) -> Result<(), String> {
    client
        .send(
            Method::Patch,
            &join(base, &format!("api/annotations/{id}")),
            Some(token),
            Some(&body(a)),
            SMALL_BODY,
        )?
        .success()?;
    Ok(())
}

//! The window against a local stub that records every request: the shape
//! of each call (method, path, headers, body) as the services document
//! them, and the failure paths (unreachable, errors) that must not fail a
//! switch. Real Alertmanager and Prometheus: tests/monitoring.rs.

use super::*;
use crate::demo::http::{spawn, Request, Response, ServerHandle};
use crate::generation::history::{StepRecord, SwitchStatus};
use crate::monitoring::{GrafanaSettings, PrometheusSettings, Secret, Webhook, WebhookFormat};
use crate::store::{StorePath, HASH_TEXT_LEN};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "glsa_TOKEN_never_written_anywhere";
const HOOK_PATH: &str = "/services/T000/B000/hook-secret-part";

struct Stub {
    server: ServerHandle,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    /// Answers like Alertmanager, Grafana, a Slack webhook and Prometheus;
    /// `grafana_status` is what Grafana answers (500: broken).
    fn start(grafana_status: u16) -> Stub {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let server = spawn(TcpListener::bind("127.0.0.1:0").unwrap(), move |r: &Request| {
            log.lock().unwrap().push(r.clone());
            let json = |status: u16, v: serde_json::Value| {
                Response::new(status)
                    .header("Content-Type", "application/json")
                    .body(v.to_string().into_bytes())
            };
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", "/am/api/v2/silences") => json(200, serde_json::json!({"silenceID": "0b1e0c1a-5e2d-4f3a-9c8b-7a6f5e4d3c2b"})),
                ("GET", "/am/api/v2/silences") => json(200, serde_json::json!([])),
                ("DELETE", p) if p.starts_with("/am/api/v2/silence/") => Response::new(200),
                ("POST", "/grafana/api/annotations") if grafana_status == 200 => {
                    json(200, serde_json::json!({"id": 42, "message": "Annotation added"}))
                }
                ("PATCH", "/grafana/api/annotations/42") => json(200, serde_json::json!({"message": "Annotation patched"})),
                (_, p) if p.starts_with("/grafana/") => json(grafana_status, serde_json::json!({"message": "boom"})),
                ("POST", HOOK_PATH) => Response::text(200, "ok"),
                ("POST", "/json-hook") => Response::new(204),
                ("GET", "/prom/api/v1/targets") => json(
                    200,
                    serde_json::json!({"status": "success", "data": {"activeTargets": [
                        {"labels": {"job": "other", "instance": "elsewhere:9100"}, "scrapeUrl": "http://elsewhere:9100/metrics", "health": "up"}
                    ]}}),
                ),
                _ => Response::not_found(),
            }
        })
        .unwrap();
        Stub { server, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url().trim_end_matches('/'))
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn record() -> SwitchRecord {
    let farm = StorePath::parse(&format!("{}-profile", "0".repeat(HASH_TEXT_LEN))).unwrap();
    SwitchRecord {
        id: "20261129T221500.000000001Z-1-1".into(),
        kind: "switch".into(),
        manifest: None,
        started_at: "2026-11-29T22:15:00Z".into(),
        ended_at: None,
        status: SwitchStatus::Running,
        atomic: false,
        parallel: 1,
        from_generation: Some(1),
        from_profile: None,
        target_profile: farm,
        target_generation: None,
        live_profile: None,
        current_step: None,
        steps: vec![StepRecord {
            name: "node_exporter".into(),
            action: Action::Upgrade,
            from_version: Some("1.8.0".into()),
            to_version: Some("1.9.1".into()),
            status: StepStatus::Pending,
            reason: None,
            duration_ms: None,
            drain: None,
        }],
        unchanged: vec![],
        result_generation: None,
        resumed: false,
        monitoring: None,
        rollout_id: None,
        preflight: None,
    }
}

fn settings(stub_url: &dyn Fn(&str) -> String) -> MonitoringSettings {
    MonitoringSettings {
        host: "web1".into(),
        timeout: std::time::Duration::from_secs(5),
        alertmanager: Some(crate::monitoring::AlertmanagerSettings {
            url: stub_url("/am"),
            matchers: vec![],
            duration: crate::monitoring::DEFAULT_SILENCE,
        }),
        grafana: Some(GrafanaSettings {
            url: stub_url("/grafana"),
            token: Secret::Literal(TOKEN.into()),
            tags: vec!["upgrade".into()],
            dashboard_uid: Some("dash-1".into()),
        }),
        notify: vec![
            Webhook {
                url: Secret::Literal(stub_url(HOOK_PATH)),
                format: WebhookFormat::Slack,
            },
            Webhook {
                url: Secret::Literal(stub_url("/json-hook")),
                format: WebhookFormat::Json,
            },
        ],
        prometheus: None,
        textfile_dir: None,
    }
}

fn targets() -> Vec<ExporterTarget> {
    vec![ExporterTarget {
        name: "node_exporter".into(),
        ports: vec![9100],
    }]
}

fn body(r: &Request) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn a_window_silences_annotates_and_notifies_as_the_apis_document() {
    let stub = Stub::start(200);
    let w = Window::new(settings(&|p| stub.url(p)));
    let mut rec = record();
    w.open(&mut rec, &targets(), &|_| {});
    rec.steps[0].status = StepStatus::Succeeded;
    rec.status = SwitchStatus::Succeeded;
    rec.ended_at = Some("2026-11-29T22:16:00Z".into());
    w.close(&mut rec, &targets(), &|_| {});

    let reqs = stub.requests();
    let calls: Vec<(String, String)> = reqs.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    let call = |m: &str, p: &str| (m.to_string(), p.to_string());
    assert_eq!(
        calls,
        [
            call("GET", "/am/api/v2/silences"),
            call("POST", "/am/api/v2/silences"),
            call("POST", "/grafana/api/annotations"),
            call("POST", HOOK_PATH),
            call("POST", "/json-hook"),
            call("DELETE", "/am/api/v2/silence/0b1e0c1a-5e2d-4f3a-9c8b-7a6f5e4d3c2b"),
            call("PATCH", "/grafana/api/annotations/42"),
            call("POST", HOOK_PATH),
            call("POST", "/json-hook"),
        ]
    );
    // Alertmanager: matchers for this host's exporter port, a bounded end, who made it.
    let silence = body(&reqs[1]);
    assert_eq!(silence["matchers"][0]["name"], "instance");
    assert_eq!(silence["matchers"][0]["isRegex"], true);
    assert_eq!(
        silence["matchers"][0]["value"],
        r"(web1|localhost|127\.0\.0\.1|\[::1\]):(9100)"
    );
    assert_eq!(silence["createdBy"], "exporterctl@web1");
    assert!(silence["comment"].as_str().unwrap().contains(&rec.id));
    assert!(silence["startsAt"].as_str().unwrap() < silence["endsAt"].as_str().unwrap());
    // Grafana: bearer token only to Grafana; a point at the start, the region's end by PATCH.
    for r in &reqs {
        let auth = r.header("authorization");
        if r.path.starts_with("/grafana/") {
            assert_eq!(auth, Some(format!("Bearer {TOKEN}").as_str()));
            assert_eq!(r.header("content-type"), Some("application/json"));
        } else {
            assert_eq!(auth, None, "{} {}", r.method, r.path);
        }
    }
    let start = body(&reqs[2]);
    assert_eq!(start["dashboardUID"], "dash-1");
    assert!(start["time"].as_u64().is_some());
    assert!(start.get("timeEnd").is_none());
    assert_eq!(start["tags"], serde_json::json!(["exporterctl", "web1", "upgrade"]));
    let end = body(&reqs[6]);
    assert_eq!(end["time"], start["time"]);
    assert!(end["timeEnd"].as_u64().unwrap() >= end["time"].as_u64().unwrap());
    let text = end["text"].as_str().unwrap();
    assert!(
        text.contains("web1") && text.contains("1.8.0 → 1.9.1") && text.contains("succeeded"),
        "{text}"
    );
    // Slack: only `text`; JSON: the switch record.
    let slack_start = body(&reqs[3]);
    assert_eq!(slack_start.as_object().unwrap().keys().collect::<Vec<_>>(), ["text"]);
    assert!(slack_start["text"]
        .as_str()
        .unwrap()
        .contains("started: node_exporter 1.8.0 → 1.9.1"));
    let slack_end = body(&reqs[7]);
    assert!(slack_end["text"].as_str().unwrap().contains("succeeded"));
    let json_end = body(&reqs[8]);
    assert_eq!(json_end["id"], rec.id.as_str());
    assert_eq!(json_end["status"], "succeeded");
    assert_eq!(json_end["steps"][0]["name"], "node_exporter");

    let m = rec.monitoring.as_ref().unwrap();
    assert!(m.problems.is_empty(), "{:?}", m.problems);
    assert!(m.silence.as_ref().unwrap().expired);
    assert_eq!(m.annotation.as_ref().unwrap().id, Some(42));
    assert!(m.annotation.as_ref().unwrap().ended);
    assert_eq!(m.notifications.len(), 4);
    assert!(m.notifications.iter().all(|n| n.ok));
    // No secret in the record (journal, switches/, --json).
    let saved = serde_json::to_string(&rec).unwrap();
    assert!(!saved.contains(TOKEN) && !saved.contains("hook-secret-part"), "{saved}");
}

#[test]
fn a_resumed_window_keeps_its_silence_annotation_and_start_message() {
    let stub = Stub::start(200);
    let w = Window::new(settings(&|p| stub.url(p)));
    let mut rec = record();
    w.open(&mut rec, &targets(), &|_| {});
    let first = stub.requests().len();
    // `resume` opens the window of the same record again.
    let w = Window::new(settings(&|p| stub.url(p)));
    w.open(&mut rec, &targets(), &|_| {});
    let again: Vec<String> = stub.requests()[first..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(again, ["GET /am/api/v2/silences"]);
}

#[test]
fn unreachable_or_failing_services_are_reported_never_fatal() {
    // A port nothing listens on (bound, then closed).
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = settings(&|p| format!("http://127.0.0.1:{dead}{p}"));
    s.prometheus = Some(PrometheusSettings {
        url: format!("http://127.0.0.1:{dead}"),
        verify: VerifyMode::Warn,
        job: None,
        instance: None,
        wait: std::time::Duration::from_secs(1),
    });
    let w = Window::new(s);
    let mut rec = record();
    let notes = Mutex::new(Vec::new());
    let note = |m: &str| notes.lock().unwrap().push(m.to_string());
    w.open(&mut rec, &targets(), &note);
    assert!(w.step_healthy(&targets()[0]).is_ok(), "warn never fails a step");
    rec.steps[0].status = StepStatus::Succeeded;
    rec.status = SwitchStatus::Succeeded;
    w.close(&mut rec, &targets(), &note);
    let m = rec.monitoring.unwrap();
    let problems = m.problems.join("\n");
    for want in [
        "alertmanager: cannot list silences",
        "alertmanager: cannot create the silence",
        "grafana: cannot create the annotation",
        "webhook 1 (start)",
        "webhook 2 (start)",
        "prometheus: cannot read its targets",
        "grafana: cannot write the annotation's end",
        "webhook 1 (end)",
    ] {
        assert!(problems.contains(want), "{want} missing from:\n{problems}");
    }
    assert!(m.silence.is_none());
    assert!(
        !problems.contains("hook-secret-part") && !problems.contains(TOKEN),
        "{problems}"
    );
    let notes = notes.into_inner().unwrap().join("\n");
    assert!(notes.contains("warning: monitoring: alertmanager"), "{notes}");
    assert!(!notes.contains("hook-secret-part"), "{notes}");
}

#[test]
fn grafana_refusing_the_start_gets_the_whole_region_at_the_end() {
    let stub = Stub::start(500);
    let w = Window::new(settings(&|p| stub.url(p)));
    let mut rec = record();
    w.open(&mut rec, &targets(), &|_| {});
    assert!(rec.monitoring.as_ref().unwrap().problems[0].contains("grafana: cannot create the annotation: HTTP 500"));
    rec.status = SwitchStatus::Failed;
    w.close(&mut rec, &targets(), &|_| {});
    let posts: Vec<serde_json::Value> = stub
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/grafana/api/annotations")
        .map(body)
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].get("timeEnd").is_none());
    assert!(
        posts[1]["timeEnd"].as_u64().is_some(),
        "the end creates the region: {}",
        posts[1]
    );
}

#[test]
fn require_fails_a_step_prometheus_does_not_scrape() {
    let stub = Stub::start(200);
    let mut s = settings(&|p| stub.url(p));
    s.prometheus = Some(PrometheusSettings {
        url: stub.url("/prom"),
        verify: VerifyMode::Require,
        job: None,
        instance: None,
        wait: std::time::Duration::from_secs(1),
    });
    let w = Window::new(s);
    let why = w.step_healthy(&targets()[0]).unwrap_err();
    assert!(why.contains("Prometheus scrapes no target of node_exporter"), "{why}");
    assert!(why.contains("port 9100"), "{why}");
}

#[test]
fn a_webhook_url_read_from_a_file_is_checked_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hook");
    std::fs::write(&f, "http://hooks.example.org/T0/B0/secret-part\n").unwrap();
    let mut s = settings(&|p| format!("http://127.0.0.1:1{p}"));
    s.alertmanager = None;
    s.grafana = None;
    s.notify = vec![Webhook {
        url: Secret::File(f.clone()),
        format: WebhookFormat::Slack,
    }];
    let lines = plan_lines(&s, &targets()).join("\n");
    assert!(lines.contains("is plain http:// to another host"), "{lines}");
    assert!(!lines.contains("secret-part"), "{lines}");
    let w = Window::new(s);
    let mut rec = record();
    w.open(&mut rec, &targets(), &|_| {});
    let p = rec.monitoring.unwrap().problems.join("\n");
    assert!(
        p.contains(&format!("the URL in file {} is plain http://", f.display())),
        "{p}"
    );
    assert!(!p.contains("secret-part"), "{p}");
}

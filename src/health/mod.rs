//! Health checks: scrape `/metrics`, parse the Prometheus text format, check
//! the build-info version and the expected samples, with fast-then-backing-off
//! polling and a settle window on the unit's restart counter.
//!
//! - [`text`]: the Prometheus text-format parser;
//! - [`expect`]: `expect:` lines from the manifest and how samples match them;
//! - [`probe`]: one HTTP check ([`Probe::check_once`]);
//! - [`wait`]: polling until healthy, with fail-fast rules
//!   ([`Probe::wait_healthy`]).

pub mod expect;
pub mod families;
pub mod keep;
pub mod probe;
pub mod text;
pub mod wait;

pub use expect::{parse_expectation, Expect, Expectation};
pub use probe::{check_body, Probe};

use crate::service::{ServiceError, UnitStatus};
use serde::Serialize;
use std::time::Duration;

/// A passed health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HealthReport {
    /// From the restart until the check passed.
    pub elapsed: Duration,
    /// Checks made (HTTP and/or unit status).
    pub attempts: u32,
}

fn fmt_duration(d: &Duration) -> String {
    // Millisecond precision is enough for humans and keeps the text short.
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum HealthFailure {
    #[error("cannot set up the HTTP client: {reason}")]
    Client { reason: String },
    /// No HTTP answer: `connection refused`, `connection reset`, a DNS error…
    #[error("GET {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("GET {url}: no answer within {}", fmt_duration(.after))]
    RequestTimeout { url: String, after: Duration },
    #[error("GET {url}: HTTP {status}")]
    Http { url: String, status: u16 },
    /// The body could not be read or is not the Prometheus text format.
    #[error("GET {url}: {reason}")]
    Body { url: String, reason: String },
    #[error("missing {metric}")]
    MissingBuildInfo { metric: String },
    #[error("{metric} has no `{label}` label")]
    BuildInfoWithoutLabel { metric: String, label: String },
    #[error("{metric}{{{label}=\"{found}\"}} but expected {expected}")]
    WrongVersion {
        metric: String,
        label: String,
        found: String,
        expected: String,
    },
    #[error("expected sample `{expectation}` not found ({seen})")]
    ExpectationNotMet { expectation: String, seen: String },
    /// `failed`, `inactive`, or waiting to be restarted: the exporter's process is gone.
    /// `output`: the last lines its run printed (see `ServiceManager::recent_output`).
    #[error("{unit} is not running: its process exited ({}){}", status.state(), output_suffix(.output))]
    UnitDown {
        unit: String,
        status: UnitStatus,
        output: Option<String>,
    },
    /// `activating`, `deactivating`, …: not (yet) running.
    #[error("{unit} is {} ({}), not active", status.active_state, status.sub_state)]
    UnitNotActive { unit: String, status: UnitStatus },
    #[error("{unit} restarted on its own (NRestarts {before} → {after}): it keeps crashing{}", output_suffix(.output))]
    UnitRestarted {
        unit: String,
        before: u64,
        after: u64,
        output: Option<String>,
    },
    #[error("{unit}: main PID changed from {before} to {after}: the process was replaced")]
    MainPidChanged { unit: String, before: u32, after: u32 },
    #[error("{unit} healthy, but its settle time of {} is not over", fmt_duration(.settle))]
    Settling { unit: String, settle: Duration },
    #[error("cannot query the service: {0}")]
    Service(#[from] ServiceError),
    #[error("not healthy within {} ({attempts} checks); last: {last}", fmt_duration(.after))]
    TimedOut {
        after: Duration,
        attempts: u32,
        last: Box<HealthFailure>,
    },
}

fn output_suffix(output: &Option<String>) -> String {
    output
        .as_ref()
        .map(|o| format!("; it printed: {o}"))
        .unwrap_or_default()
}

impl HealthFailure {
    /// The failure that decided it: the last one seen for a timeout.
    pub fn last_seen(&self) -> &HealthFailure {
        match self {
            HealthFailure::TimedOut { last, .. } => last.last_seen(),
            other => other,
        }
    }
}

/// How an exporter is checked after a restart (`health:` of the manifest,
/// recorded in `state.json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HealthSpec {
    pub url: Option<String>,
    pub build_info: Option<String>,
    pub build_info_label: String,
    pub expect: Vec<Expect>,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub timeout: Duration,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub settle: Duration,
    /// Before a restart, wait at most this long for scrapes in flight on the
    /// exporter's port to be answered (`0s`: do not wait). Left out of
    /// `state.json` at its default, so states written before it existed
    /// read the same and keep their farms' hashes.
    #[serde(
        default = "default_drain",
        with = "crate::fsutil::humantime_serde_compat",
        skip_serializing_if = "is_default_drain"
    )]
    pub drain: Duration,
    /// Families a release may not drop under `--preflight require`. Left
    /// out of `state.json` when empty (older farms hash the same).
    #[serde(default, skip_serializing_if = "keep::KeepMetrics::is_empty")]
    pub keep_metrics: keep::KeepMetrics,
}

/// Longest `health.timeout` and `health.settle`. The engine clamps to it too,
/// so a state written by hand cannot make a deadline overflow.
pub const MAX_HEALTH_WAIT: Duration = Duration::from_secs(60 * 60);

/// `health.drain` when the manifest does not say.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2);
/// Longest `health.drain`: a scrape's own timeout is at most its interval,
/// and a restart should not wait on a client that never finishes.
pub const MAX_DRAIN: Duration = Duration::from_secs(60);

fn default_drain() -> Duration {
    DEFAULT_DRAIN
}

fn is_default_drain(d: &Duration) -> bool {
    *d == DEFAULT_DRAIN
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec {
            url: None,
            build_info: None,
            build_info_label: "version".into(),
            expect: Vec::new(),
            timeout: Duration::from_secs(30),
            settle: Duration::from_secs(2),
            drain: DEFAULT_DRAIN,
            keep_metrics: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let url = "http://127.0.0.1:9100/metrics".to_string();
        let cases: Vec<(HealthFailure, &str)> = vec![
            (
                HealthFailure::Connect {
                    url: url.clone(),
                    reason: "connection refused".into(),
                },
                "GET http://127.0.0.1:9100/metrics: connection refused",
            ),
            (
                HealthFailure::Http {
                    url: url.clone(),
                    status: 500,
                },
                "GET http://127.0.0.1:9100/metrics: HTTP 500",
            ),
            (
                HealthFailure::WrongVersion {
                    metric: "node_exporter_build_info".into(),
                    label: "version".into(),
                    found: "1.8.0".into(),
                    expected: "1.9.1".into(),
                },
                "node_exporter_build_info{version=\"1.8.0\"} but expected 1.9.1",
            ),
            (
                HealthFailure::MissingBuildInfo {
                    metric: "node_exporter_build_info".into(),
                },
                "missing node_exporter_build_info",
            ),
            (
                HealthFailure::ExpectationNotMet {
                    expectation: "nginx_up 1".into(),
                    seen: "nginx_up is 0".into(),
                },
                "expected sample `nginx_up 1` not found (nginx_up is 0)",
            ),
            (
                HealthFailure::RequestTimeout {
                    url: url.clone(),
                    after: Duration::from_millis(2000),
                },
                "GET http://127.0.0.1:9100/metrics: no answer within 2s",
            ),
            (
                HealthFailure::UnitRestarted {
                    unit: "x.service".into(),
                    before: 0,
                    after: 2,
                    output: None,
                },
                "x.service restarted on its own (NRestarts 0 → 2): it keeps crashing",
            ),
            (
                HealthFailure::UnitDown {
                    unit: "x.service".into(),
                    status: crate::service::UnitStatus {
                        active_state: "activating".into(),
                        sub_state: "auto-restart".into(),
                        n_restarts: 1,
                        main_pid: None,
                    },
                    output: Some("level=error msg=\"listen tcp :9100: bind: address already in use\"".into()),
                },
                "x.service is not running: its process exited (activating (auto-restart)); \
                 it printed: level=error msg=\"listen tcp :9100: bind: address already in use\"",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(f.to_string(), want);
        }
        let t = HealthFailure::TimedOut {
            after: Duration::from_secs(30),
            attempts: 70,
            last: Box::new(HealthFailure::Http { url, status: 503 }),
        };
        assert_eq!(
            t.to_string(),
            "not healthy within 30s (70 checks); last: GET http://127.0.0.1:9100/metrics: HTTP 503"
        );
        assert!(matches!(t.last_seen(), HealthFailure::Http { status: 503, .. }));
    }
}

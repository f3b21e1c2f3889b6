//! A switch that talks to the monitoring it serves (`settings.monitoring`):
//! an Alertmanager silence over its window, a Grafana region annotation,
//! webhook notifications, Prometheus' own view of the restarted exporters,
//! and a textfile of exporterctl's own metrics for node_exporter.
//!
//! One job per file; [`window`] is what the switch engine calls. None of it
//! may fail or block a switch (short timeouts, every failure is recorded
//! and reported) except `prometheus.verify: require`, which fails a step.
//! Tokens and webhook URLs are [`Secret`]s: read when needed, never
//! serialised, logged or quoted in an error.

pub mod alertmanager;
pub mod client;
pub mod grafana;
pub mod notify;
pub mod prometheus;
pub mod textfile;
pub mod window;

pub use crate::generation::monitoring::{
    AnnotationRecord, MonitoringRecord, NotificationRecord, SilenceRecord, VerifyMode, WebhookFormat,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Default of `settings.monitoring.timeout`: each request's bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `settings.monitoring.timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of `alertmanager.duration`: the silence ends by itself after
/// this even if exporterctl never comes back to expire it.
pub const DEFAULT_SILENCE: Duration = Duration::from_secs(60 * 60);
pub const MAX_SILENCE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default of `prometheus.wait`: how long to wait for a successful scrape
/// of a restarted exporter.
pub const DEFAULT_VERIFY_WAIT: Duration = Duration::from_secs(60);
pub const MAX_VERIFY_WAIT: Duration = Duration::from_secs(10 * 60);
/// Largest secret file read (a token, a webhook URL).
const MAX_SECRET: u64 = 16 * 1024;

/// Where a secret comes from. Its value is read when it is used and never
/// kept in anything that is written or printed: `Debug` and `Serialize`
/// show only where it comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
    /// Written in the manifest itself (a webhook's `url:`).
    Literal(String),
}

impl Secret {
    /// Where it comes from, for messages: never the value.
    pub fn describe(&self) -> String {
        match self {
            Secret::File(p) => format!("file {}", p.display()),
            Secret::Env(v) => format!("${v}"),
            Secret::Literal(_) => "the manifest".into(),
        }
    }

    /// The value: trimmed, not empty, without control characters (a line
    /// break in a header value or URL would be refused later, less clearly).
    pub fn read(&self) -> Result<String, String> {
        let raw = match self {
            Secret::Literal(v) => v.clone(),
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) => v,
                Err(_) => return Err(format!("${name} is not set")),
            },
            Secret::File(path) => {
                use std::io::Read;
                let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let mut text = String::new();
                f.take(MAX_SECRET + 1)
                    .read_to_string(&mut text)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if text.len() as u64 > MAX_SECRET {
                    return Err(format!("{} is larger than {MAX_SECRET} bytes", path.display()));
                }
                text
            }
        };
        let v = raw.trim();
        if v.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("{} contains a control character", self.describe()));
        }
        Ok(v.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.describe())
    }
}

/// `settings.monitoring`, validated (see `manifest::monitoring`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MonitoringSettings {
    /// This host's name in Prometheus' `instance` labels and in the
    /// messages (default: the kernel's host name).
    pub host: String,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub timeout: Duration,
    pub alertmanager: Option<AlertmanagerSettings>,
    pub grafana: Option<GrafanaSettings>,
    pub notify: Vec<Webhook>,
    pub prometheus: Option<PrometheusSettings>,
    pub textfile_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AlertmanagerSettings {
    pub url: String,
    /// Replace the default matcher (this host's exporter instances).
    pub matchers: Vec<alertmanager::Matcher>,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub duration: Duration,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GrafanaSettings {
    pub url: String,
    pub token: Secret,
    pub tags: Vec<String>,
    pub dashboard_uid: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Webhook {
    pub url: Secret,
    pub format: WebhookFormat,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PrometheusSettings {
    pub url: String,
    pub verify: VerifyMode,
    /// Only targets of this job.
    pub job: Option<String>,
    /// The instance labels to verify, replacing the default (this host's
    /// name, `localhost` or a loopback address, with the exporter's port).
    /// `{port}` stands for the exporter's port.
    pub instance: Option<String>,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub wait: Duration,
}

/// The kernel's host name (`/proc/sys/kernel/hostname`), or `localhost`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| {
            !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        })
        .unwrap_or_else(|| "localhost".into())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// RFC 3339 of `ms` since the epoch, to the millisecond.
pub fn rfc3339_ms(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// What a record says about its monitoring, one line each, for the summary
/// and `status`.
/// `finished`: the switch is over (a silence still active is left over).
pub fn summary_lines(m: &MonitoringRecord, finished: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &m.silence {
        out.push(if s.expired {
            format!("silence {} in Alertmanager {}: expired", s.id, s.alertmanager)
        } else if !finished {
            format!(
                "silence {} in Alertmanager {}: active until {}",
                s.id, s.alertmanager, s.ends_at
            )
        } else {
            format!(
                "silence {} in Alertmanager {}: STILL ACTIVE until {} (the next switch expires it)",
                s.id, s.alertmanager, s.ends_at
            )
        });
    }
    if let Some(a) = &m.annotation {
        if let Some(id) = a.id {
            out.push(format!(
                "Grafana annotation {id} in {}{}",
                a.grafana,
                if a.ended { "" } else { " (open)" }
            ));
        }
    }
    let sent = m.notifications.iter().filter(|n| n.ok).count();
    if !m.notifications.is_empty() {
        out.push(format!("notifications: {sent} of {} sent", m.notifications.len()));
    }
    if let Some(v) = &m.verification {
        for e in &v.exporters {
            out.push(format!("Prometheus: {}", e.line()));
        }
    }
    for p in &m.problems {
        out.push(format!("problem: {p}"));
    }
    out
}

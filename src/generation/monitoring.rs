//! What a switch did with its monitoring (`settings.monitoring`), as its
//! record keeps it: the vocabulary of the record lives with the record, so
//! nothing here points up at the monitoring code that fills it in
//! (`crate::monitoring`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    Slack,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    Warn,
    Require,
}

/// What a switch did with its monitoring: in the journal while it runs (so
/// `resume` can expire the silence) and in its record afterwards. Holds no
/// secret: webhooks are named by their position in `notify:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitoringRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<SilenceRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<AnnotationRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Start of the window (RFC 3339): when the silence and the annotation began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// Start of the window in milliseconds since the epoch (for Prometheus queries after a resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start_ms: Option<u64>,
    /// Everything that could not be reached or done, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl MonitoringRecord {
    pub fn is_empty(&self) -> bool {
        *self == MonitoringRecord::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceRecord {
    /// The Alertmanager it lives in (no credentials: refused in the manifest).
    pub alertmanager: String,
    pub id: String,
    pub ends_at: String,
    /// Set once exporterctl expired it.
    #[serde(default)]
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotationRecord {
    pub grafana: String,
    pub id: Option<u64>,
    /// The region's end was written.
    #[serde(default)]
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// 1-based position in `notify:`.
    pub webhook: usize,
    pub format: WebhookFormat,
    /// `start` or `end`.
    pub event: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the verification found, in the switch record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub mode: VerifyMode,
    pub exporters: Vec<ExporterVerification>,
}

impl Verification {
    /// Every exporter scraped since its restart, none with a failed scrape.
    pub fn clean(&self) -> bool {
        self.exporters
            .iter()
            .all(|e| e.problem.is_none() && e.scraped_since_restart && e.failed_scrapes == 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterVerification {
    pub exporter: String,
    /// `job/instance` of each target found for it.
    pub targets: Vec<String>,
    /// Every target has a successful scrape since the exporter's restart.
    pub scraped_since_restart: bool,
    /// `up == 0` samples in the switch's window, all targets together.
    pub failed_scrapes: u64,
    /// Longest time between two successful scrapes in the window.
    pub longest_gap_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ExporterVerification {
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}: {} failed scrape{}",
            self.exporter,
            self.failed_scrapes,
            if self.failed_scrapes == 1 { "" } else { "s" }
        );
        if let Some(g) = self.longest_gap_ms {
            s += &format!(", longest gap {g} ms");
        }
        if !self.scraped_since_restart {
            s += ", NOT scraped successfully since its restart";
        }
        if let Some(p) = &self.problem {
            s += &format!(" ({p})");
        }
        s
    }
}

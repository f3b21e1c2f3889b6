//! Switch records: what each switch (or rollback, adopt, resume) attempted,
//! step by step, and how it ended. While a switch runs its record is the
//! journal (`journal.json`); when it ends, it moves to `switches/<id>.json`.
//! Failed attempts stay here even when they made no generation.

use super::state::Action;
use crate::fsutil;
use crate::paths::Layout;
use crate::store::StorePath;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchStatus {
    Running,
    /// Every step passed.
    Succeeded,
    /// Some steps passed, some failed and were rolled back.
    Partial,
    /// Every attempted step failed and was rolled back; nothing changed.
    Failed,
    /// `--atomic`: a step failed and every step was undone.
    RolledBack,
    /// Undone by `resume --abort` after an interruption.
    Aborted,
    /// Stopped by the operator (Ctrl-C, SIGTERM): the steps done are kept,
    /// the rest skipped.
    Stopped,
}

impl SwitchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchStatus::Running => "running",
            SwitchStatus::Succeeded => "succeeded",
            SwitchStatus::Partial => "partial",
            SwitchStatus::Failed => "failed",
            SwitchStatus::RolledBack => "rolled-back",
            SwitchStatus::Aborted => "aborted",
            SwitchStatus::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    /// The check failed; this step was flipped back.
    Failed,
    /// Not attempted (`--atomic` stopped early, or declined at a prompt).
    Skipped,
    /// Passed, then undone because another step failed (`--atomic`).
    Undone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub action: Action,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub status: StepStatus,
    pub reason: Option<String>,
    /// Milliseconds from the flip until healthy (or until it failed).
    pub duration_ms: Option<u64>,
    /// The wait for scrapes in flight before the step's restart; absent
    /// when nothing was restarted or no port is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRecord {
    pub id: String,
    /// `switch`, `rollback`, `adopt`.
    pub kind: String,
    pub manifest: Option<PathBuf>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: SwitchStatus,
    pub atomic: bool,
    /// At most how many steps run side by side (1: one at a time; a
    /// rollback's and a fast switch's width); `resume` finishes with it and
    /// writes the width it used. Absent in records older than the field: 0,
    /// one at a time, as those versions resumed.
    #[serde(default)]
    pub parallel: usize,
    pub from_generation: Option<u64>,
    pub from_profile: Option<StorePath>,
    pub target_profile: StorePath,
    /// For a rollback: the generation it returns to.
    pub target_generation: Option<u64>,
    /// What `profiles/system` was last flipped to (written before each flip).
    pub live_profile: Option<StorePath>,
    pub current_step: Option<usize>,
    pub steps: Vec<StepRecord>,
    /// Exporters the target leaves as they are.
    pub unchanged: Vec<String>,
    /// The generation this switch made or returned to.
    pub result_generation: Option<u64>,
    /// Set when an interrupted switch was finished by `resume`.
    pub resumed: bool,
    /// The fleet rollout this switch belongs to (`switch --rollout-id`), or
    /// that a rollback undid (`rollback --rollout`).
    #[serde(default)]
    pub rollout_id: Option<String>,
    /// What the preflight before the first flip found (absent: none ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<super::preflight::Summary>,
    /// What it did with the monitoring (`settings.monitoring`): the
    /// silence, annotation, notifications, Prometheus' verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<super::monitoring::MonitoringRecord>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub completed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Started, not finished (the step a crash interrupted, or in progress).
    pub running: usize,
    pub pending: usize,
}

impl SwitchRecord {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.status {
                StepStatus::Succeeded | StepStatus::Undone => c.completed += 1,
                StepStatus::Failed => c.failed += 1,
                StepStatus::Skipped => c.skipped += 1,
                StepStatus::Running => c.running += 1,
                StepStatus::Pending => c.pending += 1,
            }
        }
        c
    }

    /// A new id that is unique across processes and within one, and sorts by
    /// time to the nanosecond: `20261126T121314.123456789Z-<pid>-<n>`. Ids
    /// written before the fraction was added (`20261126T121314Z-<pid>-<n>`)
    /// are still read; [`id_order`] orders both kinds.
    pub fn new_id() -> String {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let compact: String = now.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{compact}-{}-{n}", std::process::id())
    }
}

/// The sort key of a switch id: its second, then the fraction of it, then pid
/// and counter as numbers (never as text: `…-10000-1` is not before
/// `…-9999-1`). An id that does not parse sorts by its text among equals.
pub fn id_order(id: &str) -> (String, u32, u64, u64, String) {
    let mut parts = id.splitn(3, '-');
    let stamp = parts.next().unwrap_or_default();
    let number = |p: Option<&str>| p.and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    let pid = number(parts.next());
    let n = number(parts.next());
    let stamp = stamp.strip_suffix('Z').unwrap_or(stamp);
    let (second, fraction) = stamp.split_once('.').unwrap_or((stamp, ""));
    // Nanoseconds from up to 9 digits of fraction; more digits are not ours.
    let nanos = if !fraction.is_empty() && fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
        format!("{fraction:0<9}").parse().unwrap_or(0)
    } else {
        0
    };
    (second.to_string(), nanos, pid, n, id.to_string())
}

/// A record that cannot be read as what it should be: reported, skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedRecord {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is damaged ({})", self.path.display(), self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a valid switch record: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(layout: &Layout) -> History {
        History {
            dir: layout.switches_dir(),
        }
    }

    /// Files a finished record (`journal::close` files it and then removes
    /// the journal).
    pub fn file(&self, record: &SwitchRecord) -> Result<(), HistoryError> {
        let io_err = |context: String| move |source| HistoryError::Io { context, source };
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let path = self.dir.join(format!("{}.json", record.id));
        let mut bytes = serde_json::to_vec_pretty(record).expect("records always serialise");
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes).map_err(io_err(format!("writing {}", path.display())))
    }

    /// Every finished record that can be read, oldest first; a damaged one
    /// is skipped with a warning (see [`History::scan`]).
    pub fn list(&self) -> Result<Vec<SwitchRecord>, HistoryError> {
        let (records, damaged) = self.scan()?;
        for d in &damaged {
            tracing::warn!("switch record {d}; skipped");
        }
        Ok(records)
    }

    /// Every finished record, oldest first, and the ones that cannot be read:
    /// one damaged file must not hide the others.
    pub fn scan(&self) -> Result<(Vec<SwitchRecord>, Vec<DamagedRecord>), HistoryError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(source) => {
                return Err(HistoryError::Io {
                    context: format!("reading {}", self.dir.display()),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        paths.sort();
        let mut out: Vec<SwitchRecord> = Vec::new();
        let mut damaged = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|source| HistoryError::Io {
                context: format!("reading {}", path.display()),
                source,
            })?;
            match serde_json::from_slice::<SwitchRecord>(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => damaged.push(DamagedRecord {
                    path,
                    reason: if bytes.is_empty() {
                        "empty".into()
                    } else {
                        e.to_string()
                    },
                }),
            }
        }
        out.sort_by_cached_key(|r| id_order(&r.id));
        Ok((out, damaged))
    }
}

/// What one drain saw and did, as the step record keeps it
/// (`switch::drain` waits and fills it in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// The ports looked at: the exporter's listen ports.
    pub ports: Vec<u16>,
    /// Scrapes in flight when the drain began.
    pub in_flight: usize,
    /// From the first look until none was in flight (or the bound passed).
    pub waited_ms: u64,
    /// Scrapes were still in flight when the bound passed: restarted anyway.
    pub timed_out: bool,
    /// Nothing was in flight, a scraper kept its connection open and its
    /// last answer was not just sent: the drain waited for its next request
    /// to be answered, so the restart came right after an answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synced: bool,
    /// How long that wait for the next scrape lasted (synced or not: a
    /// scraper slower than the sync's bound gives up at the bound); 0 when
    /// there was none. Apart from `waited_ms`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sync_waited_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_time_then_pid_and_counter_as_numbers() {
        let mut ids = vec![
            "20261126T121314Z-9999-1",
            "20261126T121314Z-10000-1",
            "20261126T121313Z-5-2",
            "20261126T121314.000000002Z-7-1",
            "20261126T121314.5Z-3-1",
            "20261126T121314.000000002Z-7-10",
            "20261126T121314.000000002Z-7-9",
        ];
        ids.sort_by_cached_key(|i| id_order(i));
        assert_eq!(
            ids,
            vec![
                "20261126T121313Z-5-2",
                "20261126T121314Z-9999-1",
                "20261126T121314Z-10000-1",
                "20261126T121314.000000002Z-7-1",
                "20261126T121314.000000002Z-7-9",
                "20261126T121314.000000002Z-7-10",
                "20261126T121314.5Z-3-1",
            ]
        );
    }

    #[test]
    fn new_ids_sort_after_earlier_ones_of_the_same_process() {
        let a = SwitchRecord::new_id();
        let b = SwitchRecord::new_id();
        assert!(id_order(&a) < id_order(&b), "{a} {b}");
        assert!(a.contains('.') && a.split('-').next().unwrap().ends_with('Z'), "{a}");
    }

    #[test]
    fn a_drain_record_without_a_sync_reads_and_writes_as_before() {
        let old = r#"{"ports":[9100],"in_flight":1,"waited_ms":37,"timed_out":false}"#;
        let d: DrainRecord = serde_json::from_str(old).unwrap();
        assert_eq!((d.synced, d.sync_waited_ms), (false, 0));
        assert_eq!(serde_json::to_string(&d).unwrap(), old);
        let synced = DrainRecord {
            in_flight: 0,
            waited_ms: 0,
            synced: true,
            sync_waited_ms: 48,
            ..d
        };
        let text = serde_json::to_string(&synced).unwrap();
        assert_eq!(
            text,
            r#"{"ports":[9100],"in_flight":0,"waited_ms":0,"timed_out":false,"synced":true,"sync_waited_ms":48}"#
        );
        assert_eq!(serde_json::from_str::<DrainRecord>(&text).unwrap(), synced);
    }
}

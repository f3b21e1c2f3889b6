//! Switch records: what each switch (or rollback, adopt, resume) attempted,
//! step by step, and how it ended. While a switch runs its record is the
//! journal (`journal.json`); when it ends, it moves to `switches/<id>.json`.
//! Failed attempts stay here even when they made no generation.

use super::journal;
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
    pub drain: Option<crate::switch::drain::DrainRecord>,
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

    /// A new id that sorts by time and is unique across processes and
    /// within one: `20261126T121314Z-<pid>-<n>`.
    pub fn new_id() -> String {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let now = super::now_rfc3339();
        let compact: String = now.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{compact}-{}-{n}", std::process::id())
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

    /// Files the finished record and removes the journal, in that order, so a
    /// crash in between leaves a journal that `resume` can still close.
    pub fn finish(&self, layout: &Layout, record: &SwitchRecord) -> Result<(), HistoryError> {
        let io_err = |context: String| move |source| HistoryError::Io { context, source };
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let path = self.dir.join(format!("{}.json", record.id));
        let mut bytes = serde_json::to_vec_pretty(record).expect("records always serialise");
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes).map_err(io_err(format!("writing {}", path.display())))?;
        journal::remove(layout).map_err(io_err("removing journal.json".into()))
    }

    /// Every finished record, oldest first.
    pub fn list(&self) -> Result<Vec<SwitchRecord>, HistoryError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
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
            .collect();
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|source| HistoryError::Io {
                context: format!("reading {}", path.display()),
                source,
            })?;
            out.push(serde_json::from_slice(&bytes).map_err(|e| HistoryError::Parse {
                path: path.clone(),
                message: e.to_string(),
            })?);
        }
        Ok(out)
    }
}

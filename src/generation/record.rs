//! `generations/<N>.json`: one record per achieved state, and the persisted
//! counter that hands out generation numbers (never reused, even after GC).

use super::history::DamagedRecord;
use crate::fsutil;
use crate::paths::Layout;
use crate::store::StorePath;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub number: u64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The profile farm: what every entry resolves to in this generation.
    pub profile: StorePath,
    /// How it came to be: `switch`, `adopt`, `resume`, `rollback`.
    pub origin: String,
    /// The switch that made it (`switches/<id>.json`).
    pub switch_id: String,
    pub manifest: Option<PathBuf>,
    pub outcome: Outcome,
    /// The fleet rollout whose switch made it (`switch --rollout-id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<String>,
    /// The metric families each exporter served when the generation was
    /// made (`preflight::record`; `health::families`); absent in records made before.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: crate::health::families::Served,
}

/// How the switch that made a generation went; on disk as the same strings
/// records have always had (`succeeded`, `partial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every step passed.
    Succeeded,
    /// Some steps failed (or were not attempted) and were rolled back: this
    /// is the state that was achieved.
    Partial,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Partial => "partial",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a valid record: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error(
        "the generation counter {} is damaged: {message}; nothing was changed. Write the next free number \
         into it (`echo {next} > {}`, one above every record in generations/) and run the command again",
        path.display(), path.display()
    )]
    Counter { path: PathBuf, message: String, next: u64 },
}

/// A generation record that cannot be read: its number comes from the file name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DamagedGeneration {
    pub number: u64,
    #[serde(flatten)]
    pub record: DamagedRecord,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> RecordError {
    let context = context.into();
    move |source| RecordError::Io { context, source }
}

pub struct Generations {
    dir: PathBuf,
    counter: PathBuf,
}

impl Generations {
    pub fn new(layout: &Layout) -> Generations {
        Generations {
            dir: layout.generations_dir(),
            counter: layout.counter_path(),
        }
    }

    fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n}.json"))
    }

    /// The counter's next number, checked: a switch reads it before its first
    /// change, so a damaged counter is refused while nothing has moved.
    pub fn peek_next(&self) -> Result<u64, RecordError> {
        let stored = match std::fs::read_to_string(&self.counter) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| RecordError::Counter {
                path: self.counter.clone(),
                message: if s.trim().is_empty() {
                    "it is empty".into()
                } else {
                    format!("`{}` is not a number ({e})", s.trim().escape_debug())
                },
                next: self
                    .numbers()
                    .ok()
                    .and_then(|n| n.last().copied())
                    .map_or(1, |n| n.saturating_add(1)),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io_err(format!("reading {}", self.counter.display()))(e)),
        };
        // Never below an existing record (damaged ones included), even if the
        // counter file was lost.
        let after_records = self.numbers()?.last().map_or(1, |n| n.saturating_add(1));
        let n = stored.max(after_records);
        if n == u64::MAX {
            return Err(RecordError::Counter {
                path: self.counter.clone(),
                message: "the generation numbers are exhausted".into(),
                // What the records say (writing back u64::MAX helps nobody).
                next: after_records,
            });
        }
        Ok(n)
    }

    /// Takes the next generation number and persists the counter before
    /// returning it, so a crash can skip a number but never reuse one.
    pub fn allocate(&self) -> Result<u64, RecordError> {
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let n = self.peek_next()?;
        fsutil::write_atomic(&self.counter, format!("{}\n", n + 1).as_bytes())
            .map_err(io_err(format!("writing {}", self.counter.display())))?;
        Ok(n)
    }

    pub fn save(&self, r: &GenerationRecord) -> Result<(), RecordError> {
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let mut bytes = serde_json::to_vec_pretty(r).expect("records always serialise");
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path(r.number), &bytes)
            .map_err(io_err(format!("writing {}", self.path(r.number).display())))
    }

    pub fn load(&self, n: u64) -> Result<Option<GenerationRecord>, RecordError> {
        let path = self.path(n);
        match std::fs::read(&path) {
            Ok(b) if b.is_empty() => Err(RecordError::Parse {
                path,
                message: "empty".into(),
            }),
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| RecordError::Parse {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(format!("reading {}", path.display()))(e)),
        }
    }

    /// Every record that can be read, oldest first; a damaged one is skipped
    /// with a warning (see [`Generations::scan`]).
    pub fn list(&self) -> Result<Vec<GenerationRecord>, RecordError> {
        let (records, damaged) = self.scan()?;
        for d in &damaged {
            tracing::warn!("generation {} record {}; skipped", d.number, d.record);
        }
        Ok(records)
    }

    /// The numbers that have a record file (readable or not), ascending.
    pub fn numbers(&self) -> Result<Vec<u64>, RecordError> {
        let mut numbers = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(format!("reading {}", self.dir.display()))(e)),
        };
        for entry in rd {
            let entry = entry.map_err(io_err(format!("reading {}", self.dir.display())))?;
            let name = entry.file_name();
            if let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Every record, oldest first, and the ones that cannot be read (or name
    /// another number than their file): one damaged file must not block
    /// listing, rollback to or collecting the others.
    pub fn scan(&self) -> Result<(Vec<GenerationRecord>, Vec<DamagedGeneration>), RecordError> {
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        for n in self.numbers()? {
            match self.read(n)? {
                Some(Ok(r)) => out.push(r),
                Some(Err(d)) => damaged.push(d),
                None => {}
            }
        }
        Ok((out, damaged))
    }

    /// Generation `n`'s record, or why it cannot be used; `None` when there
    /// is none.
    pub fn read(&self, n: u64) -> Result<Option<Result<GenerationRecord, DamagedGeneration>>, RecordError> {
        let reason = match self.load(n) {
            Ok(Some(r)) if r.number == n => return Ok(Some(Ok(r))),
            Ok(Some(r)) => format!("it says it is generation {}", r.number),
            Ok(None) => return Ok(None),
            Err(RecordError::Parse { message, .. }) => message,
            Err(e) => return Err(e),
        };
        Ok(Some(Err(DamagedGeneration {
            number: n,
            record: DamagedRecord {
                path: self.path(n),
                reason,
            },
        })))
    }

    pub fn delete(&self, n: u64) -> Result<(), RecordError> {
        self.delete_many(&[n])
    }

    /// Removes the records of `numbers`, then syncs `generations/` once: when
    /// this returns, none of them is listed again, even after a crash.
    pub fn delete_many(&self, numbers: &[u64]) -> Result<(), RecordError> {
        let mut removed = false;
        for &n in numbers {
            match std::fs::remove_file(self.path(n)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", self.path(n).display()))(e)),
            }
        }
        if removed {
            fsutil::fsync_dir(&self.dir).map_err(io_err("syncing generations/"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> GenerationRecord {
        GenerationRecord {
            number: n,
            created_at: "2026-11-29T00:00:00Z".into(),
            profile: StorePath::parse(&format!("{}-profile", "0".repeat(32))).unwrap(),
            origin: "switch".into(),
            switch_id: String::new(),
            manifest: None,
            outcome: Outcome::Succeeded,
            rollout_id: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn outcomes_read_and_write_as_the_strings_on_disk() {
        for (text, outcome) in [("succeeded", Outcome::Succeeded), ("partial", Outcome::Partial)] {
            let mut json = serde_json::to_value(record(1)).unwrap();
            json["outcome"] = text.into();
            let read: GenerationRecord = serde_json::from_value(json).unwrap();
            assert_eq!(read.outcome, outcome);
            assert_eq!(serde_json::to_value(&read).unwrap()["outcome"], text);
        }
        let mut json = serde_json::to_value(record(1)).unwrap();
        json["outcome"] = "exploded".into();
        assert!(serde_json::from_value::<GenerationRecord>(json).is_err());
    }

    #[test]
    fn damaged_records_are_reported_not_listed_and_their_numbers_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let g = Generations::new(&layout);
        g.save(&record(1)).unwrap();
        g.save(&record(2)).unwrap();
        std::fs::write(layout.generations_dir().join("5.json"), b"{\"number\": 5,").unwrap();
        // A record filed under another number is damaged too.
        std::fs::write(
            layout.generations_dir().join("3.json"),
            serde_json::to_vec(&record(7)).unwrap(),
        )
        .unwrap();
        let (ok, damaged) = g.scan().unwrap();
        assert_eq!(ok.iter().map(|r| r.number).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(damaged.iter().map(|d| d.number).collect::<Vec<_>>(), vec![3, 5]);
        assert!(damaged[0].record.reason.contains("generation 7"), "{:?}", damaged[0]);
        assert_eq!(g.list().unwrap().len(), 2);
        std::fs::write(layout.counter_path(), "3\n").unwrap();
        assert_eq!(g.allocate().unwrap(), 6);
        assert_eq!(std::fs::read_to_string(layout.counter_path()).unwrap(), "7\n");
    }

    #[test]
    fn a_damaged_counter_is_an_error_that_says_what_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let g = Generations::new(&layout);
        g.save(&record(4)).unwrap();
        for text in ["", "x\n", "-1\n", "99999999999999999999999\n"] {
            std::fs::write(layout.counter_path(), text).unwrap();
            let e = g.peek_next().unwrap_err().to_string();
            assert!(e.contains("echo 5 >"), "{text:?}: {e}");
        }
        std::fs::write(layout.counter_path(), format!("{}\n", u64::MAX)).unwrap();
        let e = g.peek_next().unwrap_err().to_string();
        assert!(e.contains("exhausted") && e.contains("echo 5 >"), "{e}");
    }
}

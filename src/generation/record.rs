//! `generations/<N>.json`: one record per achieved state, and the persisted
//! counter that hands out generation numbers (never reused, even after GC).

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
    /// `succeeded` (every step passed) or `partial` (some steps failed and
    /// were rolled back; this is the state that was achieved).
    pub outcome: String,
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

    /// Takes the next generation number and persists the counter before
    /// returning it, so a crash can skip a number but never reuse one.
    pub fn allocate(&self) -> Result<u64, RecordError> {
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))?;
        let stored = match std::fs::read_to_string(&self.counter) {
            Ok(s) => s.trim().parse::<u64>().map_err(|e| RecordError::Parse {
                path: self.counter.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io_err(format!("reading {}", self.counter.display()))(e)),
        };
        // Never below an existing record, even if the counter file was lost.
        // The file names say which exist: no record is read.
        let n = stored.max(self.numbers()?.last().map(|n| n + 1).unwrap_or(1));
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
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| RecordError::Parse {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(format!("reading {}", path.display()))(e)),
        }
    }

    /// Every record, oldest first.
    pub fn list(&self) -> Result<Vec<GenerationRecord>, RecordError> {
        let mut out = Vec::new();
        for n in self.numbers()? {
            if let Some(r) = self.load(n)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The numbers of the records there are, ascending, from their file names.
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

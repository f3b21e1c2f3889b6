//! `journal.json`: the record of the switch in flight, rewritten atomically
//! (temp file, fsync, rename, fsync dir) before every flip. Its presence after
//! a crash is what tells the next command that a switch was interrupted.
//!
//! A journal that cannot be parsed (emptied or cut short by a disk or file
//! system fault, or by hand) is [`JournalError::Damaged`]: still an
//! interrupted switch, so changes stay refused, but every command says what
//! is known and the way out (`resume --abort`) instead of a bare parse error.
//! What is done about an interrupted switch is `switch::recovery`.

use super::history::{History, HistoryError, SwitchRecord};
use crate::fsutil;
use crate::paths::Layout;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("reading {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the journal of an interrupted switch, {}, is damaged ({reason})", path.display())]
    Damaged { path: PathBuf, reason: String },
}

pub fn load(layout: &Layout) -> Result<Option<SwitchRecord>, JournalError> {
    let path = layout.journal_path();
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Err(JournalError::Damaged {
            path,
            reason: "it is empty".into(),
        }),
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| JournalError::Damaged {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(JournalError::Io { path, source }),
    }
}

pub fn save(layout: &Layout, record: &SwitchRecord) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).expect("records always serialise");
    fsutil::write_atomic(&layout.journal_path(), &bytes)
}

pub fn remove(layout: &Layout) -> io::Result<()> {
    match std::fs::remove_file(layout.journal_path()) {
        Ok(()) => fsutil::fsync_dir(&layout.state_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves a damaged journal aside to `journal.json.damaged-<unix seconds>`
/// (`-2`, `-3`, … appended when that name is taken) and returns where it
/// went. Kept for a post-mortem and never read again, so an earlier one is
/// never replaced: a hard link fails rather than overwrite, then the journal
/// goes (a crash between the two leaves both, and the next abort links again).
pub fn set_aside(layout: &Layout) -> io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("journal.json.damaged-{secs}");
    for n in 1..=1000u32 {
        let name = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let to = layout.state_dir().join(name);
        match std::fs::hard_link(layout.journal_path(), &to) {
            Ok(()) => {
                std::fs::remove_file(layout.journal_path())?;
                fsutil::fsync_dir(&layout.state_dir())?;
                return Ok(to);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{base} and 999 more names are taken in {}",
            layout.state_dir().display()
        ),
    ))
}

/// Files the finished record and removes the journal, in that order, so a
/// crash in between leaves a journal that `resume` can still close.
pub fn close(layout: &Layout, record: &SwitchRecord) -> Result<(), HistoryError> {
    History::new(layout).file(record)?;
    remove(layout).map_err(|source| HistoryError::Io {
        context: "removing journal.json".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_damaged_journal_never_replaces_the_first_one_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        std::fs::write(layout.journal_path(), b"first").unwrap();
        let a = set_aside(&layout).unwrap();
        std::fs::write(layout.journal_path(), b"second").unwrap();
        let b = set_aside(&layout).unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"first");
        assert_eq!(std::fs::read(&b).unwrap(), b"second");
        assert!(!layout.journal_path().exists());
    }
}

//! `journal.json`: the record of the switch in flight, rewritten atomically
//! (temp file, fsync, rename, fsync dir) before every flip. Its presence after
//! a crash is what tells the next command that a switch was interrupted.

use super::history::SwitchRecord;
use crate::fsutil;
use crate::paths::Layout;
use std::io;

pub fn load(layout: &Layout) -> io::Result<Option<SwitchRecord>> {
    match std::fs::read(layout.journal_path()) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("journal.json: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
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

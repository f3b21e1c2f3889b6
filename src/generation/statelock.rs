//! The exclusive state lock (`flock` on `<state>/lock`): one switch, rollback,
//! gc, realise or adopt at a time. A second one fails at once, never waits or
//! interleaves.

use crate::fsutil;
use crate::paths::Layout;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another exporterctl is already changing this host ({holder}); try again when it has finished")]
    Busy { holder: String },
    #[error("cannot open the state lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held until dropped; the kernel releases it if the process dies.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(layout: &Layout, what: &str) -> Result<StateLock, LockError> {
        let path = layout.lock_path();
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fsutil::create_dir_all_durable(&layout.state_dir()).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(LockError::Busy {
                    holder: if holder.is_empty() {
                        "unknown process".into()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Who holds it, for the message a second invocation prints; advisory only.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid {} running `{what}`", std::process::id());
        Ok(StateLock { _file: file })
    }
}

//! Where everything lives. Every absolute path the tool touches goes through
//! a `Layout`, so `--root DIR` relocates all of them at once.

use std::path::{Component, Path, PathBuf};

/// State directory relative to the root (`/var/lib/exporterctl`).
pub const STATE_DIR: &str = "var/lib/exporterctl";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Maps an absolute host path (e.g. `/usr/local/bin`) under the root.
    pub fn rooted(&self, abs: &Path) -> PathBuf {
        let rel: PathBuf = abs
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
            .collect();
        self.root.join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }
    pub fn store_dir(&self) -> PathBuf {
        self.state_dir().join("store")
    }
    /// Validity records, one per store path (`.meta/<store-name>.json`).
    pub fn meta_dir(&self) -> PathBuf {
        self.store_dir().join(".meta")
    }
    /// Scratch space on the store's filesystem, so renames into the store are atomic.
    pub fn tmp_dir(&self) -> PathBuf {
        self.store_dir().join(".tmp")
    }
    pub fn downloads_dir(&self) -> PathBuf {
        self.state_dir().join("cache").join("downloads")
    }
    pub fn profiles_dir(&self) -> PathBuf {
        self.state_dir().join("profiles")
    }
    /// `profiles/system`: the link whose `rename(2)` flips every exporter at once.
    pub fn profile_link(&self) -> PathBuf {
        self.profiles_dir().join("system")
    }
    pub fn generations_dir(&self) -> PathBuf {
        self.state_dir().join("generations")
    }
    /// Persisted generation counter: numbers are never reused, even after GC.
    pub fn counter_path(&self) -> PathBuf {
        self.state_dir().join("next-generation")
    }
    pub fn journal_path(&self) -> PathBuf {
        self.state_dir().join("journal.json")
    }
    pub fn switches_dir(&self) -> PathBuf {
        self.state_dir().join("switches")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.state_dir().join("lock")
    }
    /// Pid and log files of the `process` service manager.
    pub fn run_dir(&self) -> PathBuf {
        self.state_dir().join("run")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_strips_the_leading_slash() {
        let l = Layout::new("/tmp/r");
        assert_eq!(
            l.rooted(Path::new("/usr/local/bin")),
            PathBuf::from("/tmp/r/usr/local/bin")
        );
        let host = Layout::new("/");
        assert_eq!(
            host.rooted(Path::new("/usr/local/bin")),
            PathBuf::from("/usr/local/bin")
        );
    }
}

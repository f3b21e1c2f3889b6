//! Profile farms and the profile links.
//!
//! A farm is a store path holding `bin/<name>` and `units/<unit>` (and a
//! socket-activated exporter's `units/<unit-basename>.socket`) symlinks into
//! the store plus `state.json`. `profiles/system` points either at
//! `system-N-link` (generation N is current) or, while a switch is in flight,
//! straight at a transient farm. Every farm is complete, so one `rename(2)` of
//! `profiles/system` flips every exporter and nothing ever dangles.

use super::state::ProfileState;
use crate::fsutil;
use crate::paths::Layout;
use crate::store::{EntryKind, Store, StoreError, StorePath};
use std::io;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// No switch has ever completed.
    None,
    /// `profiles/system -> system-N-link`.
    Generation(u64, StorePath),
    /// `profiles/system -> ../store/<farm>` (a switch is in flight or was interrupted).
    Transient(StorePath),
}

impl Current {
    pub fn farm(&self) -> Option<&StorePath> {
        match self {
            Current::None => None,
            Current::Generation(_, f) | Current::Transient(f) => Some(f),
        }
    }
    pub fn generation(&self) -> Option<u64> {
        match self {
            Current::Generation(n, _) => Some(*n),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("profile link {} points to `{target}`, which is not a store path or generation link", path.display())]
    Corrupt { path: PathBuf, target: String },
    #[error("profile farm {farm} has an unreadable state.json: {message}")]
    BadState { farm: String, message: String },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ProfileError {
    let context = context.into();
    move |source| ProfileError::Io { context, source }
}

pub struct Profiles {
    dir: PathBuf,
}

fn generation_link_name(n: u64) -> String {
    format!("system-{n}-link")
}

fn parse_store_target(target: &Path) -> Option<StorePath> {
    let s = target.to_str()?;
    let name = s.strip_prefix("../store/")?;
    StorePath::parse(name).ok()
}

impl Profiles {
    pub fn new(layout: &Layout) -> Profiles {
        Profiles {
            dir: layout.profiles_dir(),
        }
    }

    pub fn system_link(&self) -> PathBuf {
        self.dir.join("system")
    }

    pub fn ensure_dir(&self) -> Result<(), ProfileError> {
        fsutil::create_dir_all_durable(&self.dir).map_err(io_err(format!("creating {}", self.dir.display())))
    }

    pub fn current(&self) -> Result<Current, ProfileError> {
        let link = self.system_link();
        let target = match std::fs::read_link(&link) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Current::None),
            Err(e) => return Err(io_err(format!("reading {}", link.display()))(e)),
        };
        if let Some(farm) = parse_store_target(&target) {
            return Ok(Current::Transient(farm));
        }
        let name = target.to_string_lossy();
        let n = name
            .strip_prefix("system-")
            .and_then(|r| r.strip_suffix("-link"))
            .and_then(|n| n.parse::<u64>().ok());
        match n {
            Some(n) => match self.generation_farm(n)? {
                Some(farm) => Ok(Current::Generation(n, farm)),
                None => Err(ProfileError::Corrupt {
                    path: link,
                    target: name.into_owned(),
                }),
            },
            None => Err(ProfileError::Corrupt {
                path: link,
                target: name.into_owned(),
            }),
        }
    }

    /// The farm of generation `n`'s link, if the link exists.
    pub fn generation_farm(&self, n: u64) -> Result<Option<StorePath>, ProfileError> {
        let link = self.dir.join(generation_link_name(n));
        match std::fs::read_link(&link) {
            Ok(t) => parse_store_target(&t).map(Some).ok_or_else(|| ProfileError::Corrupt {
                path: link,
                target: t.to_string_lossy().into_owned(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(format!("reading {}", link.display()))(e)),
        }
    }

    /// `profiles/system -> ../store/<farm>`: the one atomic flip of a step.
    pub fn flip_to_farm(&self, farm: &StorePath) -> Result<(), ProfileError> {
        let target = PathBuf::from("../store").join(farm.as_str());
        fsutil::symlink_atomic(&target, &self.system_link()).map_err(io_err("flipping profiles/system"))
    }

    /// Creates `system-N-link -> ../store/<farm>`.
    pub fn link_generation(&self, n: u64, farm: &StorePath) -> Result<(), ProfileError> {
        let target = PathBuf::from("../store").join(farm.as_str());
        fsutil::symlink_atomic(&target, &self.dir.join(generation_link_name(n)))
            .map_err(io_err(format!("creating profiles/{}", generation_link_name(n))))
    }

    /// `profiles/system -> system-N-link`.
    /// Points `profiles/system` at generation `n`'s link, which must exist:
    /// a dangling `system` would leave every `bin_dir` entry resolving to nothing.
    pub fn flip_to_generation(&self, n: u64) -> Result<(), ProfileError> {
        let name = generation_link_name(n);
        std::fs::metadata(self.dir.join(&name)).map_err(io_err("checking the generation link to flip to"))?;
        fsutil::symlink_atomic(Path::new(&name), &self.system_link()).map_err(io_err("flipping profiles/system"))
    }

    pub fn remove_generation_link(&self, n: u64) -> Result<(), ProfileError> {
        self.remove_link(&self.dir.join(generation_link_name(n)))
    }

    /// Removes the links of `numbers`, then syncs `profiles/` once.
    pub fn remove_generation_links(&self, numbers: &[u64]) -> Result<(), ProfileError> {
        let mut removed = false;
        for &n in numbers {
            let link = self.dir.join(generation_link_name(n));
            match std::fs::remove_file(&link) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", link.display()))(e)),
            }
        }
        if removed {
            fsutil::fsync_dir(&self.dir).map_err(io_err("syncing profiles/"))?;
        }
        Ok(())
    }

    /// Removes `profiles/system`: the host has no state of exporterctl's
    /// (a first switch that achieved nothing, or its abort).
    pub fn remove_system_link(&self) -> Result<(), ProfileError> {
        self.remove_link(&self.system_link())
    }

    /// Generation numbers that have a link in `profiles/`.
    pub fn linked_generations(&self) -> Result<Vec<u64>, ProfileError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing profiles/")(e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let name = entry.map_err(io_err("listing profiles/"))?.file_name();
            let n: Option<u64> = name
                .to_str()
                .and_then(|n| n.strip_prefix("system-")?.strip_suffix("-link")?.parse().ok());
            out.extend(n);
        }
        Ok(out)
    }

    fn remove_link(&self, link: &Path) -> Result<(), ProfileError> {
        match std::fs::remove_file(link) {
            Ok(()) => fsutil::fsync_dir(&self.dir).map_err(io_err("syncing profiles/")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing {}", link.display()))(e)),
        }
    }
}

/// Writes `state` as a farm into the store (content-addressed: the same
/// state always gives the same farm).
pub fn build_farm(store: &Store, state: &ProfileState) -> Result<StorePath, ProfileError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| ProfileError::BadState {
        farm: "(new)".into(),
        message: e.to_string(),
    })?;
    let mut build = farm_builder(state, &json);
    Ok(store.add_tree("profile", EntryKind::Profile, None, &mut build)?)
}

/// Rebuilds a damaged farm from its own `state.json` (the links are derived
/// from it) and puts it in place; refused when `state.json` itself was
/// changed, since then the rebuilt farm hashes to another name.
pub fn repair_farm(store: &Store, farm: &StorePath) -> Result<(), ProfileError> {
    let state = read_farm_state(store, farm)?;
    let json = serde_json::to_vec_pretty(&state).map_err(|e| ProfileError::BadState {
        farm: farm.to_string(),
        message: e.to_string(),
    })?;
    let mut build = farm_builder(&state, &json);
    Ok(store.repair_tree(farm, "its state.json", &mut build)?)
}

/// Writes a farm for `state` (with `json` as its `state.json`) into a directory.
fn farm_builder<'a>(state: &'a ProfileState, json: &'a [u8]) -> impl FnMut(&Path) -> io::Result<()> + 'a {
    move |dir: &Path| -> io::Result<()> {
        std::fs::create_dir(dir.join("bin"))?;
        std::fs::create_dir(dir.join("units"))?;
        for e in &state.exporters {
            let bin = PathBuf::from("../..")
                .join(e.store_path.as_str())
                .join("bin")
                .join(&e.name);
            std::os::unix::fs::symlink(bin, dir.join("bin").join(&e.name))?;
            if let Some(u) = &e.unit_store_path {
                let unit = PathBuf::from("../..").join(u.as_str()).join(&e.unit);
                std::os::unix::fs::symlink(unit, dir.join("units").join(&e.unit))?;
            }
            if let (Some(sp), Some(socket)) = (&e.socket_store_path, e.socket_unit()) {
                let target = PathBuf::from("../..").join(sp.as_str()).join(&socket);
                std::os::unix::fs::symlink(target, dir.join("units").join(&socket))?;
            }
        }
        std::fs::write(dir.join(STATE_FILE), json)
    }
}

pub fn read_farm_state(store: &Store, farm: &StorePath) -> Result<ProfileState, ProfileError> {
    let path = store.path_of(farm).join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| ProfileError::BadState {
        farm: farm.to_string(),
        message: e.to_string(),
    })
}

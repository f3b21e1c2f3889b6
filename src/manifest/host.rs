//! Checks of a valid manifest against the host it is applied to, for what
//! only the host can tell: where the state directory really is (`--root`,
//! symlinks) and which settings the installed exporters live under. Both run
//! before anything is downloaded or moved; a failure is bad input (exit 2)
//! naming the manifest's file, line and key.

use super::{Manifest, ManifestError};
use crate::generation::state::ProfileState;
use crate::paths::Layout;
use serde_saphyr::Location;
use std::path::{Path, PathBuf};

impl Manifest {
    fn invalid(&self, at: Option<Location>, key: &str, message: String) -> ManifestError {
        // A setting left out has no place of its own: point at the top.
        let (line, column) = at.map_or((1, 1), |l| (l.line(), l.column()));
        ManifestError::Invalid {
            path: self.path.clone(),
            line,
            column,
            key: key.to_string(),
            message,
        }
    }

    /// Refuses a `bin_dir` or `unit_dir` that resolves (through symlinks, under
    /// `--root`) into the state directory: links there would replace
    /// exporterctl's own files. Validation refuses the plain spelling; this
    /// catches a symlinked way in.
    pub fn check_dirs(&self, layout: &Layout) -> Result<(), ManifestError> {
        let state = resolve_existing(&layout.state_dir());
        for (key, dir, at) in [
            ("settings.bin_dir", &self.settings.bin_dir, self.at.bin_dir),
            ("settings.unit_dir", &self.settings.unit_dir, self.at.unit_dir),
        ] {
            let resolved = resolve_existing(&layout.rooted(dir));
            if resolved.starts_with(&state) {
                return Err(self.invalid(
                    at,
                    key,
                    format!(
                        "`{}` resolves to {}, inside exporterctl's state directory {}; links there would replace \
                         exporterctl's own files (the profile link, the store): choose a directory outside it",
                        dir.display(),
                        resolved.display(),
                        state.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuses to change `bin_dir`, `unit_dir` or `service_manager` under
    /// installed exporters. A switch moves exporters one at a time within
    /// one set of directories and one service manager: it would leave the
    /// links, units and running services where they are and record a
    /// generation that claims otherwise. Moving them is a procedure of its
    /// own (docs/design.md, "Known limits").
    pub fn check_installed_settings(&self, installed: &ProfileState) -> Result<(), ManifestError> {
        if installed.exporters.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = installed.exporters.iter().map(|e| e.name.as_str()).collect();
        let names = names.join(", ");
        let why = "exporterctl does not move installed exporters to other directories or another service \
                   manager (nothing was changed)";
        let how = "see \"Known limits\" in docs/design.md for how to move them";
        let s = &self.settings;
        for (key, want, have, at) in [
            ("settings.bin_dir", &s.bin_dir, &installed.bin_dir, self.at.bin_dir),
            ("settings.unit_dir", &s.unit_dir, &installed.unit_dir, self.at.unit_dir),
        ] {
            if want != have {
                let field = key.trim_start_matches("settings.");
                return Err(self.invalid(
                    at,
                    key,
                    format!(
                        "`{}` differs from {}, where the installed exporters ({names}) are linked; {why}. \
                         Write `{field}: {}` back to keep them there, or {how}",
                        want.display(),
                        have.display(),
                        have.display()
                    ),
                ));
            }
        }
        if s.service_manager != installed.service_manager {
            return Err(self.invalid(
                self.at.service_manager,
                "settings.service_manager",
                format!(
                    "`{}` differs from `{}`, which runs the installed exporters ({names}); {why}. \
                     Write `service_manager: {}` back to keep them there, or {how}",
                    s.service_manager.as_str(),
                    installed.service_manager.as_str(),
                    installed.service_manager.as_str()
                ),
            ));
        }
        Ok(())
    }
}

/// `p` with symlinks resolved as far as it exists, the rest appended as
/// written; a dangling link is followed too (it may point where a directory
/// will be created).
fn resolve_existing(p: &Path) -> PathBuf {
    resolve(p, 40)
}

fn resolve(p: &Path, links_left: u32) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(p) {
        return real;
    }
    if links_left > 0 {
        if let Ok(target) = std::fs::read_link(p) {
            let next = match p.parent() {
                Some(parent) => parent.join(target),
                None => target,
            };
            return resolve(&next, links_left - 1);
        }
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => resolve(parent, links_left).join(name),
        _ => p.to_path_buf(),
    }
}

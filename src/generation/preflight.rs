//! What a preflight found (`crate::preflight` runs it), as a switch record
//! keeps it and the dry run and `exporterctl preflight` print it: the
//! vocabulary, below the module that runs preflights, so a record can hold
//! it.

use crate::health::families::FamilyDiff;
use serde::{Deserialize, Serialize};

/// `--preflight` and `settings.preflight`.
///
/// `warn` is the default: preflight adds one start of the new binary to a
/// switch, which is cheap next to a failed restart (the flip, a crash-looping
/// unit, the scrapes lost and a rollback), and most of what it finds (a
/// family removed that no dashboard uses, a new label) is information for
/// the operator, not a reason to stop. What `warn` does refuse is a step
/// that is certain to fail: a release that cannot start here while the
/// running one, started the same way, can ([`Report::cannot_start`]). `require`
/// refuses the whole switch on any failed copy, and on the loss of the
/// families named in `keep_metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No preflight.
    Off,
    /// Run it, report what it finds, go ahead; a step whose release cannot
    /// start (while the running one can) is not attempted.
    #[default]
    Warn,
    /// Refuse the switch (nothing flipped) when a release does not start or drops a kept family.
    Require,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Warn => "warn",
            Mode::Require => "require",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Warn, Mode::Require]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started, served, the same families as the running one (or nothing to compare).
    Passed,
    /// Started and served; families removed, added or relabelled.
    Changes,
    /// Did not start, did not serve, or served the wrong version.
    Failed,
    Skipped,
}

/// What one preflight found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub name: String,
    pub from_version: Option<String>,
    pub to_version: String,
    pub status: Status,
    /// Why it failed (with the exporter's own last lines) or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The arguments the copy ran with (its listen address moved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info_version: Option<String>,
    /// How many families the copy served.
    pub families: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<FamilyDiff>,
    /// What the families were compared with: `recorded` (the live
    /// generation's record) or `scraped` (the running exporter, now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<String>,
    /// Why the families were not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_compared: Option<String>,
    /// Removed families that `health.keep_metrics` lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flag_changes: Vec<Advice>,
    /// A failed copy's control: the running release started the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    pub duration_ms: u64,
}

/// The running release, started beside itself exactly as the failed copy
/// was (same user, arguments moved the same way, same environment): it
/// tells a release that cannot start here from a preflight that cannot
/// judge this exporter (it locks a file the running one holds, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The running release's version.
    pub version: String,
    /// It started and served.
    pub serves: bool,
    /// Why not, with its own last lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
}

impl Report {
    /// Would `require` refuse the switch for this one?
    pub fn refuses(&self) -> bool {
        self.status == Status::Failed || !self.kept_removed.is_empty()
    }

    /// Proven unable to start here: the copy failed and the running
    /// release, started the same way, served. Its step would fail its
    /// health check and roll back, after a restart that costs scrapes.
    pub fn cannot_start(&self) -> bool {
        self.status == Status::Failed && self.control.as_ref().is_some_and(|c| c.serves)
    }
}

/// Every preflight of one switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub mode: Mode,
    /// Wall time of all of them (they run concurrently).
    pub duration_ms: u64,
    pub exporters: Vec<Report>,
    /// The whole switch is refused before anything is flipped: `require`
    /// and a release that does not start or drops a kept family; or every
    /// step refused (below), or one of an `--atomic` switch.
    pub refused: bool,
    /// Steps not attempted, by exporter name: their release cannot start
    /// ([`Report::cannot_start`]); the other steps go ahead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_steps: Vec<String>,
}

impl Summary {
    /// The lines a switch, a dry run and `exporterctl preflight` print.
    pub fn text(&self) -> String {
        let mut out = format!(
            "preflight ({}, {} exporter{}, {} ms):\n",
            self.mode.as_str(),
            self.exporters.len(),
            if self.exporters.len() == 1 { "" } else { "s" },
            self.duration_ms
        );
        for r in &self.exporters {
            let from = r.from_version.as_deref().map(|f| format!("{f} → ")).unwrap_or_default();
            let head = match r.status {
                Status::Passed => "starts and serves".to_string(),
                Status::Changes => "starts and serves; metrics change".to_string(),
                Status::Failed => "FAILS".to_string(),
                Status::Skipped => "not run".to_string(),
            };
            let ms = if r.status == Status::Skipped {
                String::new()
            } else {
                format!(" ({} ms)", r.duration_ms)
            };
            out += &format!("  {:<28} {from}{}: {head}{ms}\n", r.name, r.to_version);
            if let Some(why) = &r.reason {
                out += &format!("      {why}\n");
            }
            if let Some(v) = &r.build_info_version {
                out += &format!("      build info: version {v}\n");
            }
            for l in r.metrics.iter().flat_map(|m| m.lines()) {
                out += &format!("      {l}\n");
            }
            if !r.kept_removed.is_empty() {
                out += &format!(
                    "      removes families health.keep_metrics keeps: {}\n",
                    r.kept_removed.join(", ")
                );
            }
            if let Some(c) = &r.control {
                out += &format!("      {}\n", c.line());
            }
            if let Some(n) = &r.not_compared {
                out += &format!("      metrics not compared: {n}\n");
            }
            for a in &r.flag_changes {
                out += &format!("      {}\n", a.line(&r.name, &r.to_version));
            }
        }
        if self.refused {
            let why = match self.mode {
                Mode::Require => "--preflight require".to_string(),
                _ => format!("{} cannot start here", self.refused_steps.join(", ")),
            };
            out += &format!("preflight: refused ({why}): nothing was changed\n");
        } else if !self.refused_steps.is_empty() {
            out += &format!(
                "preflight: not switching {} (cannot start here; the running release can): the other steps go ahead\n",
                self.refused_steps.join(", ")
            );
        }
        out
    }

    /// Why the step of `name` was not attempted, if it was refused.
    pub fn step_refusal(&self, name: &str) -> Option<String> {
        if !self.refused_steps.iter().any(|n| n == name) {
            return None;
        }
        let r = self.exporters.iter().find(|r| r.name == name)?;
        Some(format!(
            "refused by preflight, not attempted: {} {}: {}; {}",
            r.name,
            r.to_version,
            r.reason.as_deref().unwrap_or("failed"),
            r.control.as_ref().map(Control::line).unwrap_or_default()
        ))
    }
}

impl Control {
    /// `the running 1.5.0, started the same way, serves (41 ms)`.
    pub fn line(&self) -> String {
        if self.serves {
            format!(
                "the running {}, started the same way, serves ({} ms): the new release is at fault",
                self.version, self.duration_ms
            )
        } else {
            format!(
                "the running {}, started the same way, fails too ({}): the preflight cannot judge this exporter here",
                self.version,
                self.reason.as_deref().unwrap_or("no reason given")
            )
        }
    }
}

/// One change that hits an exporter's command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    /// Upstream's change, as the catalogue words it.
    pub note: String,
    /// The old spelling fails at start (a warning only when `false`).
    pub breaking: bool,
    /// What the manifest gives that the change hits (`--socket=/x`, `DATA_SOURCE_NAME`).
    pub found: String,
    /// The arguments to use instead (with `PATH` where only the operator knows the value).
    pub args: Vec<String>,
}

impl Advice {
    /// `fail2ban_exporter 0.10.3: 0.6.0 renamed …; use args: [..]`.
    pub fn line(&self, name: &str, version: &str) -> String {
        let quoted: Vec<String> = self.args.iter().map(|a| format!("{a:?}")).collect();
        format!(
            "{} {name} {version}: `{}`: {}; use args: [{}]",
            if self.breaking { "flag change" } else { "flag warning" },
            self.found.escape_debug(),
            self.note,
            quoted.join(", ")
        )
    }
}

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
/// unit and a rollback), and most of what it finds (a family removed that
/// no dashboard uses, a new label) is information for the operator, not a
/// reason to stop. A release that does not start is refused by the health
/// check anyway, one flip later; `require` refuses it before the flip, and
/// adds refusing the loss of the families named in `keep_metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No preflight.
    Off,
    /// Run it, report what it finds, go ahead.
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
    pub duration_ms: u64,
}

impl Report {
    /// Would `require` refuse the switch for this one?
    pub fn refuses(&self) -> bool {
        self.status == Status::Failed || !self.kept_removed.is_empty()
    }
}

/// Every preflight of one switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub mode: Mode,
    /// Wall time of all of them (they run concurrently).
    pub duration_ms: u64,
    pub exporters: Vec<Report>,
    /// `require` and a release that does not start or drops a kept family.
    pub refused: bool,
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
            if let Some(n) = &r.not_compared {
                out += &format!("      metrics not compared: {n}\n");
            }
            for a in &r.flag_changes {
                out += &format!("      {}\n", a.line(&r.name, &r.to_version));
            }
        }
        if self.refused {
            out += "preflight: refused (--preflight require): nothing was changed\n";
        }
        out
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

//! exporterctl's own metrics for node_exporter's textfile collector:
//! `<textfile_dir>/exporterctl.prom`, written atomically (temp name without
//! the `.prom` suffix, fsync, rename) after every command that changes the
//! host, so the collector never reads half a file. No sample carries a
//! timestamp (the collector refuses them).

use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "exporterctl.prom";

/// What the file describes.
pub struct Snapshot<'a> {
    /// The current generation (`None`: none yet).
    pub generation: Option<u64>,
    /// Exporter name and version of the current generation.
    pub exporters: Vec<(&'a str, &'a str)>,
    /// The last switch, rollback or resume.
    pub last: Option<&'a SwitchRecord>,
    /// The running totals before `last` (read back from the file this
    /// writes; see [`Totals::read`]).
    pub totals: Totals,
}

/// Counters across switches. They live in the textfile itself: when it is
/// lost they start again from 0, which Prometheus treats as any counter
/// reset (`rate`, `increase` stay right), and nothing reads the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Switches, rollbacks and resumes that ran steps (and adopts).
    pub switches: u64,
    /// Steps that failed their check and were rolled back.
    pub failed_steps: u64,
    /// `exporterctl rollback` runs.
    pub rollbacks: u64,
}

impl Totals {
    /// The totals in an earlier file's text; a missing or mangled value is 0.
    pub fn parse(text: &str) -> Totals {
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Totals {
            switches: value("exporterctl_switches_total"),
            failed_steps: value("exporterctl_failed_steps_total"),
            rollbacks: value("exporterctl_rollbacks_total"),
        }
    }

    /// The file in `dir`, if it is there and small (it is ours).
    pub fn read(dir: &Path) -> Totals {
        use std::io::Read;
        let mut text = String::new();
        let read = std::fs::File::open(dir.join(FILE_NAME)).and_then(|f| f.take(1 << 20).read_to_string(&mut text));
        match read {
            Ok(_) => Totals::parse(&text),
            Err(_) => Totals::default(),
        }
    }

    /// These totals with `r` counted.
    pub fn with(self, r: &SwitchRecord) -> Totals {
        let failed = r.steps.iter().filter(|x| x.status == StepStatus::Failed).count() as u64;
        Totals {
            switches: self.switches.saturating_add(1),
            failed_steps: self.failed_steps.saturating_add(failed),
            rollbacks: self.rollbacks.saturating_add(u64::from(r.kind == "rollback")),
        }
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

/// A label value in the exposition format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(rfc3339: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn metric(out: &mut String, name: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    metric(
        &mut out,
        "exporterctl_generation",
        "The generation the host runs (0: none yet).",
        &[(String::new(), s.generation.unwrap_or(0).to_string())],
    );
    let info: Vec<(String, String)> = s
        .exporters
        .iter()
        .map(|(n, v)| {
            (
                format!("{{exporter=\"{}\",version=\"{}\"}}", label(n), label(v)),
                "1".into(),
            )
        })
        .collect();
    metric(
        &mut out,
        "exporterctl_exporter_info",
        "The exporters of the current generation, with their versions.",
        &info,
    );
    let totals = match s.last {
        Some(r) => s.totals.with(r),
        None => s.totals,
    };
    counter(
        &mut out,
        "exporterctl_switches_total",
        "Switches, rollbacks, resumes and adopts that changed the host, since this file was first written.",
        totals.switches,
    );
    counter(
        &mut out,
        "exporterctl_failed_steps_total",
        "Steps that failed their check and were rolled back, since this file was first written.",
        totals.failed_steps,
    );
    counter(
        &mut out,
        "exporterctl_rollbacks_total",
        "exporterctl rollback runs, since this file was first written.",
        totals.rollbacks,
    );
    let Some(r) = s.last else {
        return out;
    };
    let success = matches!(r.status, SwitchStatus::Succeeded);
    metric(
        &mut out,
        "exporterctl_last_switch_info",
        "The last switch, rollback or resume: its kind and outcome.",
        &[(
            format!(
                "{{kind=\"{}\",status=\"{}\"}}",
                label(&r.kind),
                label(r.status.as_str())
            ),
            "1".into(),
        )],
    );
    metric(
        &mut out,
        "exporterctl_last_switch_success",
        "1 when the last switch, rollback or resume succeeded in every step, else 0.",
        &[(String::new(), u8::from(success).to_string())],
    );
    let end = r.ended_at.as_deref().and_then(seconds);
    if let Some(end) = end {
        metric(
            &mut out,
            "exporterctl_last_switch_timestamp_seconds",
            "When the last switch, rollback or resume ended (Unix time).",
            &[(String::new(), end.to_string())],
        );
    }
    if let (Some(start), Some(end)) = (seconds(&r.started_at), end) {
        metric(
            &mut out,
            "exporterctl_last_switch_duration_seconds",
            "How long the last switch, rollback or resume took.",
            &[(String::new(), end.saturating_sub(start).to_string())],
        );
    }
    let count = |st: StepStatus| r.steps.iter().filter(|x| x.status == st).count().to_string();
    metric(
        &mut out,
        "exporterctl_last_switch_steps",
        "Steps of the last switch by outcome: failed steps were rolled back, undone ones reverted with an atomic switch.",
        &[
            ("{status=\"succeeded\"}".into(), count(StepStatus::Succeeded)),
            ("{status=\"failed\"}".into(), count(StepStatus::Failed)),
            ("{status=\"undone\"}".into(), count(StepStatus::Undone)),
            ("{status=\"skipped\"}".into(), count(StepStatus::Skipped)),
        ],
    );
    metric(
        &mut out,
        "exporterctl_last_switch_rolled_back_steps",
        "Steps the last switch rolled back (failed and undone).",
        &[(
            String::new(),
            r.steps
                .iter()
                .filter(|x| matches!(x.status, StepStatus::Failed | StepStatus::Undone))
                .count()
                .to_string(),
        )],
    );
    out
}

/// Writes `text` to `dir/exporterctl.prom` atomically; returns the path.
pub fn write(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(FILE_NAME);
    crate::fsutil::write_atomic_mode(&path, text.as_bytes(), 0o644)?;
    Ok(path)
}

/// Rewrites `dir/exporterctl.prom` for the host as it is now: the current
/// generation and its exporters, and `last`.
pub fn refresh(
    layout: &crate::paths::Layout,
    store: &crate::store::Store,
    dir: &Path,
    last: Option<&SwitchRecord>,
) -> Result<PathBuf, String> {
    let current = crate::generation::profile::Profiles::new(layout)
        .current()
        .map_err(|e| e.to_string())?;
    let state = match current.farm() {
        Some(f) => Some(crate::generation::profile::read_farm_state(store, f).map_err(|e| e.to_string())?),
        None => None,
    };
    let exporters = state
        .iter()
        .flat_map(|s| s.exporters.iter().map(|e| (e.name.as_str(), e.version.as_str())))
        .collect();
    let dir_rooted = layout.rooted(dir);
    let text = render(&Snapshot {
        generation: current.generation(),
        exporters,
        last,
        totals: Totals::read(&dir_rooted),
    });
    write(&dir_rooted, &text).map_err(|e| format!("writing {}: {e}", dir.join(FILE_NAME).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_switch_only_generation_and_versions() {
        let text = render(&Snapshot {
            generation: None,
            exporters: vec![("node_exporter", "1.9.1"), ("odd\"name", "1.0")],
            last: None,
            totals: Totals::default(),
        });
        assert!(text.contains("exporterctl_generation 0\n"));
        assert!(text.contains("exporterctl_exporter_info{exporter=\"node_exporter\",version=\"1.9.1\"} 1\n"));
        assert!(text.contains("exporter=\"odd\\\"name\""));
        assert!(!text.contains("last_switch"));
        assert!(text.contains("exporterctl_switches_total 0\n"));
    }

    #[test]
    fn totals_are_read_back_and_counted_on() {
        let before = Totals {
            switches: 4,
            failed_steps: 2,
            rollbacks: 1,
        };
        let text = render(&Snapshot {
            generation: Some(3),
            exporters: vec![],
            last: None,
            totals: before,
        });
        assert_eq!(Totals::parse(&text), before);
        assert_eq!(
            Totals::parse("garbage\nexporterctl_switches_total -1\n"),
            Totals::default()
        );
    }
}

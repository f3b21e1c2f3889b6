//! What a preflight result means for the switch: the mode (`off`, `warn`,
//! `require`), the families the manifest insists on (`health.keep_metrics`),
//! and the decision to go ahead or refuse before anything is flipped.

use crate::generation::history::{StepStatus, SwitchRecord};
pub use crate::generation::preflight::Mode;
use crate::generation::preflight::{Report, Summary};
pub use crate::health::keep::{is_metric_name, KeepMetrics};

/// What a switch of `steps` steps does with `s`'s findings, written into
/// `s` (`refused`, `refused_steps`):
///
/// - `require`: any failed copy, or a kept family removed, refuses the
///   switch whole;
/// - `warn`: a step whose release cannot start while the running one can
///   ([`Report::cannot_start`]) is not attempted — it would fail its health
///   check after a restart that costs scrapes, then restart again to roll
///   back. Other failures (the running release fails the same way, a new
///   exporter with nothing to compare with) are left to the health check.
///   When that leaves no step, or the switch is `--atomic` (a failed step
///   undoes all), the switch is refused whole: nothing to gain from a
///   journal and flips that change nothing.
/// - `off`: nothing ran.
pub fn decide(s: &mut Summary, steps: usize, atomic: bool) {
    match s.mode {
        Mode::Off => {}
        Mode::Require => s.refused = s.exporters.iter().any(Report::refuses),
        Mode::Warn => {
            s.refused_steps = s
                .exporters
                .iter()
                .filter(|r| r.cannot_start())
                .map(|r| r.name.clone())
                .collect();
            s.refused = !s.refused_steps.is_empty() && (atomic || s.refused_steps.len() >= steps);
        }
    }
}

/// Marks the steps `s` refused as failed before the engine runs: the engine
/// leaves them alone (it runs pending steps), the record says why, and the
/// switch's outcome counts them as failed.
pub fn refuse_steps(s: &Summary, record: &mut SwitchRecord) {
    for step in &mut record.steps {
        if let Some(why) = s.step_refusal(&step.name) {
            step.status = StepStatus::Failed;
            step.reason = Some(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::generation::preflight::{Control, Status};

    fn report(name: &str, status: Status, control: Option<bool>) -> Report {
        Report {
            name: name.into(),
            from_version: Some("1".into()),
            to_version: "2".into(),
            status,
            reason: Some("exited with status 1 before serving: boom".into()),
            args: Vec::new(),
            build_info_version: None,
            families: 0,
            metrics: None,
            compared_with: None,
            not_compared: None,
            kept_removed: Vec::new(),
            flag_changes: Vec::new(),
            control: control.map(|serves| Control {
                version: "1".into(),
                serves,
                reason: None,
                duration_ms: 3,
            }),
            duration_ms: 5,
        }
    }

    fn decided(mode: Mode, exporters: Vec<Report>, steps: usize, atomic: bool) -> Summary {
        let mut s = Summary {
            mode,
            duration_ms: 0,
            exporters,
            refused: false,
            refused_steps: Vec::new(),
        };
        decide(&mut s, steps, atomic);
        s
    }

    #[test]
    fn warn_refuses_only_the_steps_whose_control_serves() {
        let reports = || {
            vec![
                report("dead", Status::Failed, Some(true)),
                report("unjudged", Status::Failed, Some(false)),
                report("new", Status::Failed, None),
                report("fine", Status::Passed, None),
            ]
        };
        let s = decided(Mode::Warn, reports(), 4, false);
        assert_eq!(s.refused_steps, ["dead"]);
        assert!(!s.refused, "other steps go ahead");
        assert!(s
            .step_refusal("dead")
            .unwrap()
            .contains("the running 1, started the same way, serves"));
        assert_eq!(s.step_refusal("unjudged"), None);
        // --atomic: one refused step refuses the switch.
        assert!(decided(Mode::Warn, reports(), 4, true).refused);
        // No step left: refused whole.
        let s = decided(Mode::Warn, vec![report("dead", Status::Failed, Some(true))], 1, false);
        assert!(s.refused);
        assert!(s
            .text()
            .contains("preflight: refused (dead cannot start here): nothing was changed"));
        // require refuses on any failure, the control notwithstanding; off decides nothing.
        let s = decided(Mode::Require, reports(), 4, false);
        assert!(s.refused && s.refused_steps.is_empty());
        assert!(s.text().contains("refused (--preflight require)"));
        let s = decided(Mode::Off, reports(), 4, true);
        assert!(!s.refused && s.refused_steps.is_empty());
    }

    #[test]
    fn refused_steps_are_failed_before_the_engine_runs() {
        use crate::generation::history::StepRecord;
        use crate::generation::state::Action;
        let s = decided(
            Mode::Warn,
            vec![
                report("dead", Status::Failed, Some(true)),
                report("fine", Status::Passed, None),
            ],
            2,
            false,
        );
        let step = |name: &str| StepRecord {
            name: name.into(),
            action: Action::Upgrade,
            from_version: Some("1".into()),
            to_version: Some("2".into()),
            status: StepStatus::Pending,
            reason: None,
            duration_ms: None,
            drain: None,
        };
        let mut record: SwitchRecord = serde_json::from_value(serde_json::json!({
            "id": "x", "kind": "switch", "started_at": "t", "status": "running", "atomic": false,
            "target_profile": format!("{}-profile", "ab".repeat(16)), "resumed": false,
            "manifest": "m", "steps": [], "unchanged": []
        }))
        .unwrap();
        record.steps = vec![step("dead"), step("fine")];
        refuse_steps(&s, &mut record);
        assert_eq!(record.steps[0].status, StepStatus::Failed);
        assert!(record.steps[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("refused by preflight, not attempted: dead 2: exited with status 1"));
        assert_eq!(record.steps[1].status, StepStatus::Pending);
    }

    #[test]
    fn modes_parse_as_written() {
        assert_eq!(Mode::parse("require"), Some(Mode::Require));
        assert_eq!(Mode::parse("Require"), None);
        assert_eq!(Mode::default(), Mode::Warn);
    }
}

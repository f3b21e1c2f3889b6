//! The terminal side of a switch: step lines on stderr, prompts on a TTY.

use crate::generation::history::{StepRecord, StepStatus};
use crate::generation::state::Action;
use crate::switch::{describe_action, Ui};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

pub struct TerminalUi {
    /// Prompts are only shown when stdin and stderr are terminals.
    interactive: bool,
    quiet: bool,
}

impl TerminalUi {
    pub fn new(quiet: bool) -> TerminalUi {
        TerminalUi {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            quiet,
        }
    }
    pub fn interactive(&self) -> bool {
        self.interactive
    }
}

impl Ui for TerminalUi {
    fn step_started(&self, index: usize, total: usize, step: &StepRecord) {
        if !self.quiet {
            eprintln!("[{}/{total}] {}: {} …", index + 1, step.name, describe_action(step));
        }
    }

    fn step_finished(&self, index: usize, total: usize, step: &StepRecord) {
        let ms = step.duration_ms.map(|m| format!(" in {m} ms")).unwrap_or_default();
        let line = match step.status {
            StepStatus::Succeeded if step.action == Action::Remove => format!("stopped and removed{ms}"),
            StepStatus::Succeeded => format!("healthy{ms}"),
            StepStatus::Failed => format!("FAILED{ms}: {}", step.reason.as_deref().unwrap_or("")),
            other => format!("{other:?}").to_lowercase(),
        };
        if !self.quiet || step.status == StepStatus::Failed {
            eprintln!("[{}/{total}] {}: {line}", index + 1, step.name);
        }
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    fn confirm(&self, question: &str) -> bool {
        if !self.interactive {
            return true;
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
    }

    fn pause(&self, d: Duration) {
        if !self.quiet {
            eprintln!(
                "pausing {} before the next step (watch your dashboards; Ctrl-C stops the switch here)",
                humantime::format_duration(d)
            );
        }
        // In slices, so that a stop request ends the pause at once.
        // Checked: an unbounded pause (not from a validated manifest) must wait, not panic.
        let until = std::time::Instant::now().checked_add(d);
        while !crate::switch::interrupt::requested() {
            let left = until.map_or(Duration::MAX, |u| {
                u.saturating_duration_since(std::time::Instant::now())
            });
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

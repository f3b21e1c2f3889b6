//! How a command ends, as one enum: the process exit status of every
//! outcome and every error is decided here and nowhere else. A command
//! returns an [`ExitStatus`] or an error; `main` asks [`ExitStatus::of_error`]
//! which status an error gets, so bad input exits 2 whichever command met it.

use crate::generation::history::{StepStatus, SwitchRecord, SwitchStatus};
use crate::generation::statelock::LockError;
use crate::manifest::ManifestError;
use crate::realise::RealiseError;
use crate::resolve::ResolveError;

/// The documented exit statuses (`exporterctl --help`, docs/user-guide.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// Something failed (a step, a check, verification), even if it was rolled back.
    Failed,
    /// The user's input is wrong: manifest, lock, arguments.
    BadInput,
    /// Another exporterctl holds the lock, or an interrupted switch needs `resume`.
    Blocked,
    /// The operator stopped it (SIGINT/SIGTERM) after the step in progress.
    Stopped,
}

impl ExitStatus {
    pub const ALL: [ExitStatus; 5] = [
        ExitStatus::Success,
        ExitStatus::Failed,
        ExitStatus::BadInput,
        ExitStatus::Blocked,
        ExitStatus::Stopped,
    ];

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::Blocked => 3,
            // 128 + SIGINT, as shells report a command stopped by Ctrl-C.
            ExitStatus::Stopped => 130,
        }
    }

    /// What the status means, for `--help` and the man page.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::Failed => {
                "a step or check failed (also when it was rolled back, and when `--preflight require` refused, \
                 nothing flipped)"
            }
            ExitStatus::BadInput => "bad input (manifest, lock, arguments)",
            ExitStatus::Blocked => "another exporterctl holds the lock or an interrupted switch needs `resume`",
            ExitStatus::Stopped => {
                "stopped by Ctrl-C (or SIGTERM) after the step in progress, what was done recorded as a generation \
                 (a second Ctrl-C stops at once; `resume` then finishes or undoes)"
            }
        }
    }

    /// `0 success; 1 …; …`: the line `--help` prints after `Exit status:`.
    pub fn help() -> String {
        Self::ALL
            .iter()
            .map(|s| format!("{} {}", s.code(), s.meaning()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// How a run of the engine (switch, rollback, resume) ended.
    pub fn of_record(record: &SwitchRecord) -> ExitStatus {
        if record.status == SwitchStatus::Stopped {
            ExitStatus::Stopped
        } else if record.steps.iter().any(|s| s.status == StepStatus::Failed) {
            ExitStatus::Failed
        } else {
            ExitStatus::Success
        }
    }

    /// The status an error ends a command with: bad input (a manifest or
    /// lock that does not load, what [`ResolveError::is_bad_input`] and
    /// [`RealiseError::is_bad_input`] say, a [`UsageError`]) 2, a busy or interrupted
    /// host 3, anything else 1. Causes count too, so a library error that
    /// wraps a manifest error is still bad input.
    pub fn of_error(e: &anyhow::Error) -> ExitStatus {
        for cause in e.chain() {
            let bad_input = cause.is::<UsageError>()
                || cause.is::<ManifestError>()
                || cause
                    .downcast_ref::<ResolveError>()
                    .is_some_and(ResolveError::is_bad_input)
                || cause
                    .downcast_ref::<RealiseError>()
                    .is_some_and(RealiseError::is_bad_input);
            if bad_input {
                return ExitStatus::BadInput;
            }
            if cause.is::<BlockedError>() || matches!(cause.downcast_ref::<LockError>(), Some(LockError::Busy { .. })) {
                return ExitStatus::Blocked;
            }
        }
        ExitStatus::Failed
    }
}

/// Input the user can fix (exit status 2) that no typed error says already.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The host is busy or needs `resume` first (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BlockedError(pub String);

/// An error and its causes as one line for the terminal. Many of our error
/// types already say their cause in their own message (so it reads well
/// alone) and also expose it as `source()`: a cause whose text is already
/// there is not repeated.
pub fn error_report(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {what}: {source}")]
    struct Says {
        what: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = anyhow::Error::new(Says {
            what: "journal.json",
            source: std::io::Error::other("disk on fire"),
        });
        assert_eq!(error_report(&e), "reading journal.json: disk on fire");
        let e = anyhow::Error::new(std::io::Error::other("disk on fire")).context("writing lock");
        assert_eq!(error_report(&e), "writing lock: disk on fire");
    }

    #[test]
    fn exit_statuses_follow_the_error_kind() {
        let code = |e: anyhow::Error| ExitStatus::of_error(&e).code();
        assert_eq!(code(UsageError("x".into()).into()), 2);
        assert_eq!(code(BlockedError("x".into()).into()), 3);
        assert_eq!(code(anyhow::anyhow!("x")), 1);
    }

    #[test]
    fn resolve_and_realise_errors_say_whether_they_are_bad_input() {
        let code = |e: anyhow::Error| ExitStatus::of_error(&e).code();
        let not_forge = || ResolveError::NotForge { exporter: "x".into() };
        assert_eq!(code(not_forge().into()), 2);
        let forge = ResolveError::Forge {
            exporter: "x".into(),
            source: Box::new(crate::source::forge::ForgeError::RateLimited {
                forge: "GitHub",
                url: "https://api.github.com/".into(),
                reset: String::new(),
                token_var: "GITHUB_TOKEN",
                token_note: "",
                settings_key: "settings.github.api_url",
            }),
        };
        assert_eq!(code(forge.into()), 1);
        // Below a wrapper that says it as it is (transparent), and below context.
        let e = anyhow::Error::new(RealiseError::Resolve(not_forge())).context("switching");
        assert_eq!(code(e), 2);
        let refused = RealiseError::Refused(vec!["x 1.0.0 does not exist".into(), "y: 404".into()]);
        assert_eq!(refused.to_string(), "x 1.0.0 does not exist\ny: 404");
        assert_eq!(code(refused.into()), 2);
        assert_eq!(code(RealiseError::Cache(std::io::Error::other("disk")).into()), 1);
    }

    #[test]
    fn a_manifest_error_is_bad_input_without_a_wrapper() {
        let e = ManifestError::Invalid {
            path: "m.yaml".into(),
            line: 1,
            column: 1,
            key: "exporters".into(),
            message: "bad".into(),
        };
        assert_eq!(
            ExitStatus::of_error(&anyhow::Error::new(e).context("switching")),
            ExitStatus::BadInput
        );
    }

    #[test]
    fn the_help_line_keeps_the_documented_codes() {
        let help = ExitStatus::help();
        for prefix in [
            "0 success",
            "; 1 a step",
            "; 2 bad input",
            "; 3 another",
            "; 130 stopped",
        ] {
            assert!(help.contains(prefix), "{prefix} missing from {help}");
        }
    }
}

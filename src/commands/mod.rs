//! One module per subcommand. Each composes the library's layers; none does
//! low-level I/O of its own.

pub mod adopt;
pub mod check;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod gc;
pub mod generations;
pub mod lock;
pub mod mirror;
pub mod preflight;
pub mod realise;
pub mod resume;
pub mod rollback;
pub mod status;
pub mod store;
pub mod switch;
mod ui;
pub mod versions;

use crate::generation::journal;
use crate::generation::statelock::StateLock;
use crate::health::Probe;
use crate::manifest::ServiceManagerKind;
use crate::paths::Layout;
use crate::service::{manager_for, ServiceManager};
use crate::store::Store;
use crate::switch::Engine;
use anyhow::{Context as _, Result};
use std::path::PathBuf;

pub use ui::TerminalUi;

/// How a command ended, mapped to the process exit status by `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Something failed (a step, a check, verification), even if it was rolled back.
    Failed,
    /// The operator stopped it (SIGINT/SIGTERM) after the step in progress.
    Stopped,
}

/// Errors that are the user's input, not the host's state (exit status 2).
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

/// The exit status for an error: 2 bad input, 3 blocked, 1 anything else.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else if e.downcast_ref::<BlockedError>().is_some() {
        3
    } else {
        1
    }
}

/// What a command does with `--root`: a mistyped root must never read as an
/// empty host, and only a command that changes the host creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootUse {
    /// Changes the host: a missing root is created.
    Change,
    /// Reads the host's state: a missing root is an error.
    Read,
    /// Does not look at the host (asks upstream): a missing root is fine.
    Ignore,
}

pub struct Ctx {
    pub layout: Layout,
}

impl Ctx {
    pub fn new(root: Option<PathBuf>, root_use: RootUse) -> Result<Ctx> {
        let root = match root {
            None => PathBuf::from("/"),
            Some(r) if !r.is_dir() && root_use != RootUse::Change => {
                if root_use == RootUse::Read {
                    return Err(UsageError(format!("--root {}: no such directory", r.display())).into());
                }
                std::path::absolute(&r).with_context(|| format!("resolving root {}", r.display()))?
            }
            Some(r) => {
                std::fs::create_dir_all(&r).with_context(|| format!("creating root {}", r.display()))?;
                // Links in bin_dir are absolute: they must not depend on the cwd.
                r.canonicalize()
                    .with_context(|| format!("resolving root {}", r.display()))?
            }
        };
        Ok(Ctx {
            layout: Layout::new(root),
        })
    }

    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.layout)?)
    }

    /// Takes the exclusive state lock for a command that changes the host.
    pub fn lock(&self, what: &str) -> Result<StateLock> {
        StateLock::acquire(&self.layout, what).map_err(|e| match e {
            crate::generation::statelock::LockError::Busy { .. } => BlockedError(e.to_string()).into(),
            other => anyhow::Error::new(other),
        })
    }

    /// Refuses to start a new change while a switch is running, was
    /// interrupted, or left a journal that cannot be read; says which.
    pub fn ensure_no_interrupted_switch(&self) -> Result<()> {
        let in_flight = journal::InFlight::read(&self.layout)?;
        match in_flight.refusal(&self.layout) {
            Some(why) => Err(BlockedError(why).into()),
            None => Ok(()),
        }
    }
}

/// What the switch engine needs from the host: its service manager (checked
/// to be reachable), a health probe and the terminal.
pub struct Host {
    svc: Box<dyn ServiceManager>,
    probe: Probe,
    pub ui: TerminalUi,
}

impl Host {
    pub fn new(ctx: &Ctx, kind: ServiceManagerKind, quiet: bool) -> Result<Host> {
        let svc = manager_for(kind, &ctx.layout);
        svc.preflight()?;
        Ok(Host {
            svc,
            probe: Probe::new()?,
            ui: TerminalUi::new(quiet),
        })
    }

    pub fn engine<'a>(&'a self, ctx: &'a Ctx, store: &'a Store) -> Engine<'a> {
        Engine {
            layout: &ctx.layout,
            store,
            svc: self.svc.as_ref(),
            probe: &self.probe,
            ui: &self.ui,
        }
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod report_tests {
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
    fn exit_codes_follow_the_error_kind() {
        assert_eq!(exit_code(&UsageError("x".into()).into()), 2);
        assert_eq!(exit_code(&BlockedError("x".into()).into()), 3);
        assert_eq!(exit_code(&anyhow::anyhow!("x")), 1);
    }
}

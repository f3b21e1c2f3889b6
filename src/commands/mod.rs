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

use crate::generation::statelock::StateLock;
use crate::health::Probe;
use crate::monitoring::window::{MonitorHooks, Window};
use crate::paths::Layout;
use crate::service::ServiceManagerKind;
use crate::service::{manager_for, ServiceManager};
use crate::store::Store;
use crate::switch::{Engine, NoHooks};
use anyhow::{Context as _, Result};
use std::path::PathBuf;

pub use crate::exit::{BlockedError, ExitStatus, UsageError};
pub use ui::TerminalUi;

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

    /// Takes the exclusive state lock for a command that changes the host
    /// (busy: exit 3, by `ExitStatus::of_error`).
    pub fn lock(&self, what: &str) -> Result<StateLock> {
        Ok(StateLock::acquire(&self.layout, what)?)
    }

    /// Refuses to start a new change while a switch is in flight
    /// (`switch::recovery`).
    pub fn ensure_no_interrupted_switch(&self) -> Result<()> {
        Ok(crate::switch::recovery::refuse_if_interrupted(&self.layout)?)
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
            hooks: &NoHooks,
        }
    }

    /// The monitoring's hooks around a run, when `settings.monitoring`
    /// opened a window; they report through this host's terminal.
    pub fn hooks<'a>(&'a self, window: Option<&'a Window>) -> Option<MonitorHooks<'a>> {
        window.map(|window| MonitorHooks { window, ui: &self.ui })
    }

    /// [`Host::engine`], watched by `hooks` when there are any.
    pub fn watched_engine<'a>(
        &'a self,
        ctx: &'a Ctx,
        store: &'a Store,
        hooks: Option<&'a MonitorHooks<'a>>,
    ) -> Engine<'a> {
        let mut engine = self.engine(ctx, store);
        if let Some(h) = hooks {
            engine.hooks = h;
        }
        engine
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

//! Service managers: systemd (the shipped path), `process` (demo and tests
//! without systemd) and `none` (flip only).
//!
//! Every manager answers the same small trait so the switch logic and the
//! health checks never care which one runs the exporter:
//!
//! - [`systemd::SystemdManager`] drives `systemctl` with argument vectors;
//! - [`process::ProcessManager`] spawns the exporter detached in its own
//!   session and tracks it with a pid file that also records the process
//!   start time, so a reused pid is never mistaken for ours;
//! - [`none::NoneManager`] does nothing: exporterctl only flips links.

pub mod none;
pub mod pidfile;
pub mod process;
pub mod systemd;

use crate::paths::Layout;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use none::NoneManager;
pub use process::ProcessManager;
pub use systemd::SystemdManager;

/// What a manager needs to know to run one exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Exporter name from the manifest (names the pid and log files).
    pub exporter: String,
    /// systemd unit name, e.g. `node_exporter.service`.
    pub unit: String,
    /// The stable `bin_dir` link, already under `--root`.
    pub exec: PathBuf,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// The socket unit of a socket-activated exporter (systemd only), e.g.
    /// `node_exporter.socket`: it holds the listen address across restarts.
    pub socket: Option<String>,
}

/// A unit's state, in systemd's words (`ActiveState`, `SubState`,
/// `NRestarts`, `MainPID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitStatus {
    /// `active`, `failed`, `inactive`, `activating`, `deactivating`,
    /// `reloading`, or `unknown` (the `none` manager).
    pub active_state: String,
    pub sub_state: String,
    /// Automatic restarts by the manager (systemd's `NRestarts`).
    pub n_restarts: u64,
    pub main_pid: Option<u32>,
}

impl UnitStatus {
    /// The status the `none` manager reports: nothing is known.
    pub fn unknown() -> UnitStatus {
        UnitStatus {
            active_state: "unknown".into(),
            sub_state: "unknown".into(),
            n_restarts: 0,
            main_pid: None,
        }
    }

    /// Running (or reloading its configuration, which keeps it running).
    pub fn is_active(&self) -> bool {
        matches!(self.active_state.as_str(), "active" | "reloading")
    }

    /// Not running: `failed`, `inactive`, or its process exited and systemd
    /// is waiting to restart it (`activating (auto-restart)`). A release that
    /// dies at start is seen at once, not after `Restart=`'s delay.
    pub fn is_down(&self) -> bool {
        matches!(self.active_state.as_str(), "failed" | "inactive") || self.sub_state == "auto-restart"
    }
}

impl UnitStatus {
    /// `activating (auto-restart)`, or just `failed` when the sub-state says
    /// the same (or nothing).
    pub fn state(&self) -> String {
        if self.sub_state.is_empty() || self.sub_state == self.active_state {
            self.active_state.clone()
        } else {
            format!("{} ({})", self.active_state, self.sub_state)
        }
    }
}

impl std::fmt::Display for UnitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.state())?;
        if let Some(pid) = self.main_pid {
            write!(f, ", main PID {pid}")?;
        }
        if self.n_restarts > 0 {
            write!(f, ", {} automatic restarts", self.n_restarts)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("systemd is not running on this host ({reason}); use `settings.service_manager: process` or `none`")]
    NotBooted { reason: String },
    #[error("{unit}: cannot run `{command}`: {source}")]
    Spawn {
        unit: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{unit}: `{command}` failed ({status}){}", stderr_suffix(stderr))]
    Command {
        unit: String,
        command: String,
        /// `exit status: 1`, `signal: 9`, …
        status: String,
        stderr: String,
    },
    #[error("{unit}: cannot understand the output of `{command}`: {message}")]
    Parse {
        unit: String,
        command: String,
        message: String,
    },
    #[error("{unit}: {action} {}: {source}", path.display())]
    Io {
        unit: String,
        /// What was being done, e.g. `cannot write pid file`.
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{unit}: process {pid} did not exit after SIGTERM and SIGKILL")]
    StopTimeout { unit: String, pid: u32 },
    #[error(
        "{unit} cannot be started: systemd says LoadState={load_state}; a hand-written unit must exist and load \
         (or let exporterctl write it: `manage_unit: true`)"
    )]
    NotStartable { unit: String, load_state: String },
    #[error("{unit}: `{exporter}` cannot name a pid file (letters, digits, `_`, `-`, `.` and `@` only)")]
    BadName { unit: String, exporter: String },
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

pub trait ServiceManager: Send + Sync {
    fn kind(&self) -> ServiceManagerKind;
    /// Can this manager work on this host at all? (systemd: booted with
    /// systemd and `systemctl` callable.)
    fn preflight(&self) -> Result<(), ServiceError>;
    /// Unit files only mean something to systemd: the other managers keep
    /// these three no-ops.
    fn daemon_reload(&self) -> Result<(), ServiceError> {
        Ok(())
    }
    /// systemd: `systemctl enable UNIT` (for generated units).
    fn enable(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    /// The reverse of `enable`, before a generated unit's file goes away (so
    /// no `*.wants/` link is left dangling).
    fn disable(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    /// `enable`/`disable` cover a spec's socket too; this disables only the
    /// socket, when an exporter stays but is no longer socket-activated.
    fn disable_socket(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    /// Starts the spec's socket (systemd: `systemctl start SOCKET`), which
    /// binds the listen address; the service must not hold it then. Only
    /// systemd has sockets: the other managers never see a spec with one
    /// (validation refuses `socket_activation: true` with them).
    fn start_socket(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    /// (Re)start the service so that it runs the binary the link points to
    /// now. A socket-activated service restarts behind its socket, which
    /// keeps listening: connections wait instead of being refused.
    fn restart(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    /// Stops the service, and its socket with it when the spec has one (or
    /// the next connection would start the service again).
    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError>;
    fn status(&self, spec: &ServiceSpec) -> Result<UnitStatus, ServiceError>;
    /// Can the service be started as it is? systemd: the unit is loaded
    /// (not `not-found`, `masked` or `bad-setting`). Asked before a switch
    /// touches anything, for units exporterctl does not write itself.
    fn check_startable(&self, _spec: &ServiceSpec) -> Result<(), ServiceError> {
        Ok(())
    }
    /// The last lines the service's current (or last) run printed, for a
    /// failure message: a crashed release usually says why it stopped.
    /// Best effort: `None` when nothing can be read.
    fn recent_output(&self, _spec: &ServiceSpec) -> Option<String> {
        None
    }
}

/// How many lines of an exporter's own output a failure message quotes.
pub const RECENT_LINES: usize = 3;

/// The last [`RECENT_LINES`] non-blank lines of `text`, each cut to a
/// readable length and joined with ` | `; `None` when there are none.
pub fn last_lines(text: &str) -> Option<String> {
    const MAX_LINE: usize = 200;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(RECENT_LINES)..];
    let cut: Vec<String> = tail
        .iter()
        .map(|l| match l.char_indices().nth(MAX_LINE) {
            Some((i, _)) => format!("{}…", &l[..i]),
            None => l.to_string(),
        })
        .collect();
    (!cut.is_empty()).then(|| cut.join(" | "))
}

/// The manager a manifest's `settings.service_manager` asks for.
pub fn manager_for(kind: ServiceManagerKind, layout: &Layout) -> Box<dyn ServiceManager> {
    match kind {
        ServiceManagerKind::Systemd => Box::new(SystemdManager::new()),
        ServiceManagerKind::Process => Box::new(ProcessManager::new(layout.run_dir())),
        ServiceManagerKind::None => Box::new(NoneManager),
    }
}

/// `node_exporter.service` → `node_exporter.socket` (the socket systemd
/// pairs with the service by name). Unit names are validated to end in
/// `.service`.
pub fn socket_unit(unit: &str) -> String {
    format!("{}.socket", unit.strip_suffix(".service").unwrap_or(unit))
}

/// Which service manager runs the exporters (`settings.service_manager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceManagerKind {
    Systemd,
    Process,
    None,
}

impl ServiceManagerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceManagerKind::Systemd => "systemd",
            ServiceManagerKind::Process => "process",
            ServiceManagerKind::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_names_unit_command_and_stderr() {
        let e = ServiceError::Command {
            unit: "node_exporter.service".into(),
            command: "systemctl restart node_exporter.service".into(),
            status: "exit status: 5".into(),
            stderr: "Failed to restart node_exporter.service: Unit node_exporter.service not found.\n".into(),
        };
        assert_eq!(
            e.to_string(),
            "node_exporter.service: `systemctl restart node_exporter.service` failed (exit status: 5): \
             Failed to restart node_exporter.service: Unit node_exporter.service not found."
        );
    }

    #[test]
    fn not_booted_says_what_to_do() {
        let e = ServiceError::NotBooted {
            reason: "no /run/systemd/system".into(),
        };
        assert!(e
            .to_string()
            .contains("use `settings.service_manager: process` or `none`"));
    }

    #[test]
    fn last_lines_keeps_the_end_and_cuts_long_lines() {
        assert_eq!(last_lines(""), None);
        assert_eq!(last_lines("\n  \n"), None);
        assert_eq!(last_lines("a\n\nb\nc\nd\n").as_deref(), Some("b | c | d"));
        let long = "x".repeat(300);
        let got = last_lines(&long).unwrap();
        assert_eq!(got.chars().count(), 201);
        assert!(got.ends_with('…'));
    }

    #[test]
    fn manager_for_picks_the_kind() {
        let l = Layout::new("/tmp/x");
        for k in [
            ServiceManagerKind::Systemd,
            ServiceManagerKind::Process,
            ServiceManagerKind::None,
        ] {
            assert_eq!(manager_for(k, &l).kind(), k);
        }
    }

    #[test]
    fn status_display_and_predicates() {
        let s = UnitStatus {
            active_state: "active".into(),
            sub_state: "running".into(),
            n_restarts: 2,
            main_pid: Some(42),
        };
        assert_eq!(s.to_string(), "active (running), main PID 42, 2 automatic restarts");
        assert!(s.is_active() && !s.is_down());
        assert!(!UnitStatus::unknown().is_active() && !UnitStatus::unknown().is_down());
        let failed = UnitStatus {
            active_state: "failed".into(),
            sub_state: "failed".into(),
            n_restarts: 0,
            main_pid: None,
        };
        assert_eq!(failed.to_string(), "failed");
    }
}

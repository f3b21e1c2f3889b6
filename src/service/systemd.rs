//! systemd through `systemctl`, always with argument vectors (never a shell).
//!
//! `restart` first runs `systemctl reset-failed UNIT` (its failure ignored),
//! so systemd's start rate limit (5 starts per 10 s by default) never blocks
//! a restart exporterctl makes on purpose.
//!
//! `recent_output` reads the journal of the unit's latest invocation
//! (`_SYSTEMD_INVOCATION_ID`), so a failure quotes what the crashed release
//! printed rather than an older run's lines.

use super::{ServiceError, ServiceManager, ServiceSpec, UnitStatus};
use crate::service::ServiceManagerKind;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

/// Properties `status` asks for.
const SHOW_PROPERTIES: &str = "ActiveState,SubState,NRestarts,MainPID";

#[derive(Debug, Clone)]
pub struct SystemdManager {
    systemctl: PathBuf,
    journalctl: PathBuf,
    /// Exists iff the host booted with systemd (`sd_booted(3)`).
    booted_marker: PathBuf,
}

impl Default for SystemdManager {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemdManager {
    pub fn new() -> Self {
        Self::with_paths("systemctl", "/run/systemd/system")
    }

    /// A manager that runs `systemctl` from elsewhere and checks another
    /// marker directory: for tests with a fake `systemctl`.
    /// `journalctl` is looked for next to that `systemctl`.
    pub fn with_paths(systemctl: impl Into<PathBuf>, booted_marker: impl Into<PathBuf>) -> Self {
        let systemctl: PathBuf = systemctl.into();
        let journalctl = match systemctl.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("journalctl"),
            _ => PathBuf::from("journalctl"),
        };
        SystemdManager {
            systemctl,
            journalctl,
            booted_marker: booted_marker.into(),
        }
    }

    fn command_line(&self, args: &[&str]) -> String {
        let mut s = self
            .systemctl
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.systemctl.display().to_string());
        for a in args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Runs `systemctl --no-ask-password ARGS…`; stdout on success, an error
    /// naming the unit, the command and its stderr otherwise.
    fn run(&self, unit: &str, args: &[&str]) -> Result<String, ServiceError> {
        let command = self.command_line(args);
        tracing::debug!(%command, "running");
        let mut cmd = Command::new(&self.systemctl);
        // Its own process group: Ctrl-C at the terminal is for exporterctl,
        // which finishes the step; it must not kill a `systemctl restart`
        // halfway.
        cmd.process_group(0)
            .arg("--no-ask-password")
            .args(args)
            .env("SYSTEMD_PAGER", "")
            .env("SYSTEMD_COLORS", "0")
            .stdin(std::process::Stdio::null());
        let out = crate::fsutil::retry_text_busy(|| cmd.output()).map_err(|source| ServiceError::Spawn {
            unit: unit.to_string(),
            command: command.clone(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(ServiceError::Command {
                unit: unit.to_string(),
                command,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }
}

impl ServiceManager for SystemdManager {
    fn kind(&self) -> ServiceManagerKind {
        ServiceManagerKind::Systemd
    }

    fn preflight(&self) -> Result<(), ServiceError> {
        if !self.booted_marker.is_dir() {
            return Err(ServiceError::NotBooted {
                reason: format!("{} does not exist", self.booted_marker.display()),
            });
        }
        // Asks the manager itself, so this also proves it is reachable.
        match self.run("systemd", &["show", "-p", "Version", "--value"]) {
            Ok(_) => Ok(()),
            Err(e) => Err(ServiceError::NotBooted { reason: e.to_string() }),
        }
    }

    fn daemon_reload(&self) -> Result<(), ServiceError> {
        self.run("systemd", &["daemon-reload"]).map(drop)
    }

    fn enable(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.run(&spec.unit, &with_socket("enable", spec)).map(drop)
    }

    fn disable(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        self.run(&spec.unit, &with_socket("disable", spec)).map(drop)
    }

    fn disable_socket(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        match &spec.socket {
            Some(socket) => self.run(socket, &["disable", socket]).map(drop),
            None => Ok(()),
        }
    }

    fn start_socket(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        match &spec.socket {
            Some(socket) => self.run(socket, &["start", socket]).map(drop),
            None => Ok(()),
        }
    }

    fn restart(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        // Clears the `failed` state and the start rate limit counter; fails
        // harmlessly when the unit is not failed or not loaded.
        if let Err(e) = self.run(&spec.unit, &with_socket("reset-failed", spec)) {
            tracing::debug!(error = %e, "reset-failed (ignored)");
        }
        // The socket stays: `Requires=` in the unit starts it if it is not
        // running, and it is never restarted here (that would close the
        // listen queue the restart relies on).
        self.run(&spec.unit, &["restart", &spec.unit]).map(drop)
    }

    fn stop(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        // One transaction: no connection between the two stops can start
        // the service again through the socket.
        let mut args = vec!["stop"];
        args.extend(spec.socket.as_deref());
        args.push(&spec.unit);
        self.run(&spec.unit, &args).map(drop)
    }

    fn status(&self, spec: &ServiceSpec) -> Result<UnitStatus, ServiceError> {
        let args = ["show", "-p", SHOW_PROPERTIES, &spec.unit];
        let out = self.run(&spec.unit, &args)?;
        parse_show(&out).map_err(|message| ServiceError::Parse {
            unit: spec.unit.clone(),
            command: self.command_line(&args),
            message,
        })
    }

    fn check_startable(&self, spec: &ServiceSpec) -> Result<(), ServiceError> {
        let out = self.run(&spec.unit, &["show", "-p", "LoadState", "--value", &spec.unit])?;
        match out.trim() {
            "loaded" => Ok(()),
            other => Err(ServiceError::NotStartable {
                unit: spec.unit.clone(),
                load_state: other.to_string(),
            }),
        }
    }

    fn recent_output(&self, spec: &ServiceSpec) -> Option<String> {
        let show = self
            .run(&spec.unit, &["show", "-p", "InvocationID,ExecMainPID", &spec.unit])
            .ok()?;
        let field = |key: &str| {
            show.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        };
        let (id, pid) = (field("InvocationID"), field("ExecMainPID"));
        let valid_id = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit());
        let valid_pid = pid.parse::<u32>().is_ok_and(|p| p > 0);
        // This run's lines: its invocation id, or (journald cannot always
        // attribute the last words of a process that is already gone to the
        // invocation) the unit's lines from its main pid.
        let mut matches = Vec::new();
        if valid_id {
            matches.push(format!("_SYSTEMD_INVOCATION_ID={id}"));
        }
        if valid_pid {
            if !matches.is_empty() {
                matches.push("+".into());
            }
            matches.push(format!("_SYSTEMD_UNIT={}", spec.unit));
            matches.push(format!("_PID={pid}"));
        }
        if matches.is_empty() {
            return None;
        }
        // journald reads a dead process's last words from its stdout stream
        // a moment after systemd saw it exit: give it a few tries (only on
        // this failure path, about a second in all) before concluding there
        // is nothing to quote.
        for delay_ms in [0, 25, 50, 100, 200, 300, 325] {
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            match self.journal_of(&matches)? {
                Some(lines) => return Some(lines),
                None => continue,
            }
        }
        None
    }
}

impl SystemdManager {
    /// The last lines of the journal entries `matches` selects: `None` when
    /// journalctl cannot be used at all, `Some(None)` when it has no lines (yet).
    fn journal_of(&self, matches: &[String]) -> Option<Option<String>> {
        let lines = super::RECENT_LINES.to_string();
        let mut cmd = Command::new(&self.journalctl);
        cmd.process_group(0)
            .args(["--no-pager", "--quiet", "--output=cat", "--lines", &lines])
            .args(matches)
            .env("SYSTEMD_COLORS", "0")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let out = crate::fsutil::retry_text_busy(|| cmd.output()).ok()?;
        out.status
            .success()
            .then(|| super::last_lines(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// `systemctl VERB UNIT [SOCKET]`.
fn with_socket<'a>(verb: &'a str, spec: &'a ServiceSpec) -> Vec<&'a str> {
    let mut args = vec![verb, spec.unit.as_str()];
    args.extend(spec.socket.as_deref());
    args
}

/// Parses `systemctl show -p ActiveState,SubState,NRestarts,MainPID` output
/// (`Key=Value` lines, in any order). `MainPID=0` means no main process.
/// `NRestarts` is missing before systemd 235 and counts as 0.
pub fn parse_show(out: &str) -> Result<UnitStatus, String> {
    let mut active_state = None;
    let mut sub_state = None;
    let mut n_restarts = 0;
    let mut main_pid = None;
    for line in out.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "ActiveState" => active_state = Some(value.to_string()),
            "SubState" => sub_state = Some(value.to_string()),
            "NRestarts" if !value.is_empty() => {
                n_restarts = value
                    .parse()
                    .map_err(|_| format!("NRestarts=`{value}` is not a number"))?
            }
            "MainPID" if !value.is_empty() => {
                let pid: u32 = value
                    .parse()
                    .map_err(|_| format!("MainPID=`{value}` is not a number"))?;
                main_pid = (pid != 0).then_some(pid);
            }
            _ => {}
        }
    }
    let Some(active_state) = active_state.filter(|s| !s.is_empty()) else {
        return Err("no ActiveState".into());
    };
    Ok(UnitStatus {
        active_state,
        sub_state: sub_state.unwrap_or_default(),
        n_restarts,
        main_pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_running_unit() {
        let out = "MainPID=1234\nNRestarts=0\nActiveState=active\nSubState=running\n";
        assert_eq!(
            parse_show(out).unwrap(),
            UnitStatus {
                active_state: "active".into(),
                sub_state: "running".into(),
                n_restarts: 0,
                main_pid: Some(1234),
            }
        );
    }

    #[test]
    fn parses_a_failed_unit_with_restarts() {
        // Captured from `systemctl show -p ActiveState,SubState,NRestarts,MainPID` (systemd 252).
        let out = "MainPID=0\nNRestarts=3\nActiveState=failed\nSubState=failed\n";
        let s = parse_show(out).unwrap();
        assert_eq!(s.active_state, "failed");
        assert_eq!(s.sub_state, "failed");
        assert_eq!(s.n_restarts, 3);
        assert_eq!(s.main_pid, None);
        assert!(s.is_down());
    }

    #[test]
    fn parses_auto_restart_and_missing_nrestarts() {
        let out = "ActiveState=activating\r\nSubState=auto-restart\r\nMainPID=0\r\n";
        let s = parse_show(out).unwrap();
        assert_eq!(
            (s.active_state.as_str(), s.sub_state.as_str()),
            ("activating", "auto-restart")
        );
        assert_eq!(s.n_restarts, 0);
        assert!(s.is_down(), "its process exited: a start-up crash is seen at once");
    }

    #[test]
    fn a_unit_that_does_not_exist_is_inactive() {
        let out = "MainPID=0\nNRestarts=0\nActiveState=inactive\nSubState=dead\n";
        assert!(parse_show(out).unwrap().is_down());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_show("").is_err());
        assert!(parse_show("hello\n").is_err());
        assert!(parse_show("ActiveState=active\nMainPID=abc\n").is_err());
        assert!(parse_show("ActiveState=active\nNRestarts=-1\n").is_err());
    }

    #[test]
    fn preflight_without_systemd_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let m = SystemdManager::with_paths("systemctl", dir.path().join("missing"));
        let e = m.preflight().unwrap_err().to_string();
        assert!(e.starts_with("systemd is not running on this host"), "{e}");
        assert!(e.contains("settings.service_manager: process"), "{e}");
    }

    #[test]
    fn preflight_without_systemctl_is_not_booted() {
        let dir = tempfile::tempdir().unwrap();
        let m = SystemdManager::with_paths(dir.path().join("no-systemctl"), dir.path());
        let e = m.preflight().unwrap_err();
        assert!(matches!(e, ServiceError::NotBooted { .. }), "{e}");
    }

    /// A fake `systemctl` that logs its arguments and answers like the real one.
    fn fake(dir: &std::path::Path) -> SystemdManager {
        use std::os::unix::fs::PermissionsExt;
        let log = dir.join("calls.log");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> '{}'
case "$2" in
  reset-failed) echo "Failed to reset failed state of unit $3: Unit $3 not loaded." >&2; exit 1 ;;
  restart|stop|enable|disable)
    if [ "$3" = broken.service ]; then
      echo "Job for broken.service failed because the control process exited with error code." >&2; exit 1
    fi ;;
  show) [ "$4" = Version ] && {{ echo 252; exit 0; }}
        [ "$4" = InvocationID,ExecMainPID ] && {{ printf 'InvocationID=5f0c4a1e9b2d4c7e8a6b3d2f1e0c9a8b\nExecMainPID=4242\n'; exit 0; }}
        [ "$4" = LoadState ] && {{ case "$6" in missing.service) echo not-found ;; *) echo loaded ;; esac; exit 0; }}
        printf 'MainPID=77\nNRestarts=1\nActiveState=active\nSubState=running\n' ;;
esac
exit 0
"#,
            log.display()
        );
        let path = dir.join("systemctl");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        SystemdManager::with_paths(path, dir)
    }

    fn spec(unit: &str) -> ServiceSpec {
        ServiceSpec {
            exporter: "x".into(),
            unit: unit.into(),
            exec: "/usr/local/bin/x".into(),
            args: vec![],
            environment: Default::default(),
            socket: None,
        }
    }

    #[test]
    fn restart_resets_failed_first_and_ignores_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        m.preflight().unwrap();
        m.restart(&spec("node_exporter.service")).unwrap();
        m.daemon_reload().unwrap();
        m.enable(&spec("node_exporter.service")).unwrap();
        m.disable(&spec("node_exporter.service")).unwrap();
        m.stop(&spec("node_exporter.service")).unwrap();
        let st = m.status(&spec("node_exporter.service")).unwrap();
        assert_eq!(st.main_pid, Some(77));
        assert_eq!(st.n_restarts, 1);
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            [
                "--no-ask-password show -p Version --value",
                "--no-ask-password reset-failed node_exporter.service",
                "--no-ask-password restart node_exporter.service",
                "--no-ask-password daemon-reload",
                "--no-ask-password enable node_exporter.service",
                "--no-ask-password disable node_exporter.service",
                "--no-ask-password stop node_exporter.service",
                "--no-ask-password show -p ActiveState,SubState,NRestarts,MainPID node_exporter.service",
            ]
        );
    }

    #[test]
    fn a_socket_activated_spec_carries_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        let sock = ServiceSpec {
            socket: Some("node_exporter.socket".into()),
            ..spec("node_exporter.service")
        };
        m.enable(&sock).unwrap();
        m.start_socket(&sock).unwrap();
        m.restart(&sock).unwrap();
        m.stop(&sock).unwrap();
        m.disable_socket(&sock).unwrap();
        m.disable(&sock).unwrap();
        // Without a socket, the socket calls do nothing.
        m.start_socket(&spec("plain.service")).unwrap();
        m.disable_socket(&spec("plain.service")).unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(
            calls.lines().collect::<Vec<_>>(),
            [
                "--no-ask-password enable node_exporter.service node_exporter.socket",
                "--no-ask-password start node_exporter.socket",
                "--no-ask-password reset-failed node_exporter.service node_exporter.socket",
                // The socket is not restarted: it keeps the listen queue.
                "--no-ask-password restart node_exporter.service",
                // One transaction: nothing starts the service between the two.
                "--no-ask-password stop node_exporter.socket node_exporter.service",
                "--no-ask-password disable node_exporter.socket",
                "--no-ask-password disable node_exporter.service node_exporter.socket",
            ]
        );
    }

    #[test]
    fn a_failed_restart_names_unit_command_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        let e = m.restart(&spec("broken.service")).unwrap_err();
        assert!(matches!(e, ServiceError::Command { .. }));
        assert_eq!(
            e.to_string(),
            "broken.service: `systemctl restart broken.service` failed (exit status: 1): \
             Job for broken.service failed because the control process exited with error code."
        );
    }

    #[test]
    fn only_a_loaded_unit_is_startable() {
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        m.check_startable(&spec("node_exporter.service")).unwrap();
        let e = m.check_startable(&spec("missing.service")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("missing.service cannot be started: systemd says LoadState=not-found"),
            "{e}"
        );
    }

    #[test]
    fn recent_output_reads_the_latest_invocations_journal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        let journalctl = dir.path().join("journalctl");
        let script = format!(
            "#!/bin/sh\necho \"$*\" > '{}'\nprintf 'ts=1 msg=starting\\n\\nlisten tcp :9100: bind: address already in use\\n'\n",
            dir.path().join("journal.args").display()
        );
        std::fs::write(&journalctl, script).unwrap();
        std::fs::set_permissions(&journalctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            m.recent_output(&spec("node_exporter.service")).as_deref(),
            Some("ts=1 msg=starting | listen tcp :9100: bind: address already in use")
        );
        let args = std::fs::read_to_string(dir.path().join("journal.args")).unwrap();
        assert_eq!(
            args.trim(),
            "--no-pager --quiet --output=cat --lines 3 _SYSTEMD_INVOCATION_ID=5f0c4a1e9b2d4c7e8a6b3d2f1e0c9a8b \
             + _SYSTEMD_UNIT=node_exporter.service _PID=4242"
        );
        // Without a journalctl there is simply nothing to quote.
        std::fs::remove_file(&journalctl).unwrap();
        assert_eq!(m.recent_output(&spec("node_exporter.service")), None);
    }

    #[test]
    fn recent_output_waits_a_moment_for_journald() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        // Empty on the first query, as when journald has not read the dead
        // process's stdout yet; the line is there on the next.
        let seen = dir.path().join("seen");
        let script = format!(
            "#!/bin/sh\nif [ -e '{0}' ]; then echo 'panic: bad flag'; else touch '{0}'; fi\n",
            seen.display()
        );
        let journalctl = dir.path().join("journalctl");
        std::fs::write(&journalctl, script).unwrap();
        std::fs::set_permissions(&journalctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            m.recent_output(&spec("node_exporter.service")).as_deref(),
            Some("panic: bad flag")
        );
    }

    #[test]
    fn unit_names_are_single_arguments() {
        // Argument vectors, no shell: a hostile name stays one argument.
        let dir = tempfile::tempdir().unwrap();
        let m = fake(dir.path());
        m.stop(&spec("a b;touch pwned.service")).unwrap();
        assert!(!std::path::Path::new("pwned.service").exists());
        let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
        assert_eq!(calls.trim(), "--no-ask-password stop a b;touch pwned.service");
    }
}

//! A temporary `--root` with the `process` service manager, releases of the
//! test exporter (`exporterctl demo-exporter` behind a `#!/bin/sh` wrapper,
//! packaged in node_exporter's upstream layout) served by the local release
//! server, and manifests that point at them.

use super::server::ReleaseServer;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub const EXE: &str = env!("CARGO_BIN_EXE_exporterctl");

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub server: ReleaseServer,
}

pub use exporterctl::demo::Behaviour;

/// The wrapper every test release ships as its binary: the demo's own (it
/// answers `--version` like upstream exporters and otherwise execs the demo
/// exporter, so the pid stays the one the service manager started).
pub fn wrapper_script(name: &str, version: &str, behaviour: Behaviour) -> String {
    exporterctl::demo::releases::wrapper_script(Path::new(EXE), name, version, behaviour.as_str())
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// A port for a test exporter (outside the ephemeral range: see `demo::port`).
pub fn free_port() -> u16 {
    exporterctl::demo::free_port().unwrap()
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            server: ReleaseServer::start(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.root().join("var/lib/exporterctl")
    }

    /// Publishes `name` `version` like node_exporter's GitHub release.
    pub fn publish(&mut self, name: &str, version: &str, behaviour: Behaviour) {
        let dir = format!("{name}-{version}.linux-amd64");
        let script = wrapper_script(name, version, behaviour);
        let archive = super::archives::ArchiveBuilder::new()
            .file(&format!("{dir}/LICENSE"), 0o644, b"Apache-2.0\n")
            .file(&format!("{dir}/{name}"), 0o755, script.as_bytes())
            .finish();
        self.publish_archive(name, version, archive);
    }

    /// Publishes `archive` as `name` `version`, with a checksum file that
    /// lists it (after a line for another architecture).
    pub fn publish_archive(&mut self, name: &str, version: &str, archive: Vec<u8>) {
        let file = format!("{name}-{version}.linux-amd64.tar.gz");
        let base = self.release_base(name, version);
        let line = format!("{}  {file}\n", sha256_hex(&archive));
        self.server.add_file(&format!("{base}/{file}"), archive);
        let sums = format!("{}  {name}-{version}.linux-arm64.tar.gz\n{line}", "ab".repeat(32));
        self.server
            .add_file(&format!("{base}/sha256sums.txt"), sums.into_bytes());
    }

    /// Server path of a release's directory.
    pub fn release_base(&self, name: &str, version: &str) -> String {
        format!("/test/{name}/releases/download/v{version}")
    }

    /// A manifest entry for the test exporter `name` at `version` on `port`.
    pub fn entry(&self, name: &str, version: &str, port: u16) -> String {
        let base = format!("{}/test", self.server.url());
        exporterctl::demo::releases::manifest_entry(name, &base, version, port, "300ms")
    }

    /// Writes a manifest with the `process` service manager.
    pub fn manifest(&self, file: &str, entries: &[String]) -> PathBuf {
        let text = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  service_manager: process\n  arch: amd64\nexporters:\n{}",
            entries.concat()
        );
        let path = self.root().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// The command `run_env` runs, for a test that must also remove
    /// variables inherited from the outer environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(EXE);
        cmd.arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("EXPORTERCTL_CRASH_AT")
            // Tests assert on the default log output.
            .env_remove("RUST_LOG");
        cmd
    }

    /// Starts `switch MANIFEST --mode fast` and waits until its journal
    /// exists (it holds the lock; its first step may not have begun).
    pub fn spawn_switch(&self, m: &Path) -> std::process::Child {
        let child = self
            .command(&["switch", m.to_str().unwrap(), "--mode", "fast"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let journal = self.state().join("journal.json");
        for _ in 0..500 {
            if journal.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(journal.exists(), "the switch never started");
        child
    }

    /// Runs and asserts the exit status, printing the output on mismatch.
    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(args, 0)
    }

    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "exporterctl {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Publishes `name` at each `(version, behaviour)` and writes one
    /// manifest per version (`m1.yaml`, `m2.yaml`, …), all on one port.
    pub fn versions(&mut self, name: &str, list: &[(&str, Behaviour)]) -> (u16, Vec<PathBuf>) {
        let port = free_port();
        let manifests = list
            .iter()
            .enumerate()
            .map(|(i, (version, behaviour))| {
                self.publish(name, version, *behaviour);
                self.manifest(&format!("m{}.yaml", i + 1), &[self.entry(name, version, port)])
            })
            .collect();
        (port, manifests)
    }

    /// Installs `name` by hand, as an operator would before exporterctl: the
    /// test exporter answering `version`, as a plain executable in bin_dir.
    /// Returns its path and its bytes.
    pub fn hand_place(&self, name: &str, version: &str) -> (PathBuf, String) {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.root().join("usr/local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        let script = wrapper_script(name, version, Behaviour::Ok);
        std::fs::write(&path, &script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (path, script)
    }

    /// The store's entries (`<hash>-<name>-<version>`), sorted; hidden
    /// scratch entries left out.
    pub fn store_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.state().join("store"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Pid recorded by the process manager for `name`.
    pub fn pid(&self, name: &str) -> Option<u32> {
        pid_in(&self.state().join("run").join(format!("{name}.pid")))
    }

    /// Every `bin_dir` entry resolves to a complete store path.
    pub fn assert_links_resolve(&self) {
        let bin = self.root().join("usr/local/bin");
        let Ok(rd) = std::fs::read_dir(&bin) else { return };
        for e in rd {
            let p = e.unwrap().path();
            let target = std::fs::canonicalize(&p).unwrap_or_else(|err| panic!("{} dangles: {err}", p.display()));
            assert!(
                target.starts_with(self.state().canonicalize().unwrap().join("store")),
                "{} -> {}",
                p.display(),
                target.display()
            );
            assert!(std::fs::metadata(&target).unwrap().is_file());
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Stop every exporter the process manager started under this root.
        let run = self.state().join("run");
        if let Ok(rd) = std::fs::read_dir(run) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "pid") {
                    if let Some(pid) = pid_in(&e.path()) {
                        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                    }
                }
            }
        }
    }
}

/// The pid in a process-manager pid file (JSON with a `pid` field).
fn pid_in(path: &Path) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["pid"].as_u64().map(|p| p as u32)
}

/// GET `http://127.0.0.1:port/metrics`; `None` when nothing answers 200.
pub fn scrape(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&format!("127.0.0.1:{port}").parse().unwrap(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.starts_with("HTTP/1.1 200").then_some(text)
}

/// The `version` label the exporter serves in `<name>_build_info`.
pub fn served_version(name: &str, port: u16) -> Option<String> {
    let body = scrape(port)?;
    let line = body.lines().find(|l| l.starts_with(&format!("{name}_build_info{{")))?;
    let start = line.find("version=\"")? + 9;
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_string())
}

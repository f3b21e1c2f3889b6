//! Switches against a real Prometheus (2.42) and Alertmanager (0.25) from
//! Debian, started on loopback ports with temporary storage, Prometheus
//! scraping the test exporters every 500 ms (with as long a scrape timeout:
//! a loaded machine must not turn a slow answer into a failed scrape); Grafana and the webhook are
//! local stubs that record what they get. Without the binaries the tests
//! say so and pass, unless `EXPORTERCTL_REQUIRE_MONITORING=1` (set by
//! tests/run-all.sh as root, which installs them), where they fail.

mod common;

use common::fixture::{Behaviour, Fixture, EXE};
use exporterctl::demo::http::{spawn, Request, Response, ServerHandle};
use exporterctl::monitoring::client::{Client, Method};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "glsa_test_TOKEN_must_not_be_stored";
const HOOK_SECRET: &str = "T0000/B0000/xoxb-hook-secret";

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether the real servers are here; without them a test is skipped
/// (visibly), unless they are required.
fn servers_available() -> bool {
    let missing: Vec<&str> = [
        "prometheus",
        "prometheus-alertmanager",
        "promtool",
        "prometheus-node-exporter",
    ]
    .into_iter()
    .filter(|b| !have(b))
    .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("EXPORTERCTL_REQUIRE_MONITORING").as_deref() == Ok("1") {
        panic!("EXPORTERCTL_REQUIRE_MONITORING=1 but {} missing", missing.join(", "));
    }
    eprintln!(
        "SKIPPED: {} not installed (apt-get install prometheus prometheus-alertmanager prometheus-node-exporter)",
        missing.join(", ")
    );
    false
}

/// A server process this test started, stopped by its own pid.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill signals exactly the pid spawn returned.
        if let Err(e) = self.child.kill() {
            eprintln!("stopping {}: {e}", self.name);
        }
        let _ = self.child.wait();
    }
}

fn free_local_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(base: &str, what: &str) {
    let client = Client::new(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .send(Method::Get, &format!("{base}/-/ready"), None, None, 4096)
            .is_ok_and(|r| r.status == 200)
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what} at {base} not ready within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Monitoring {
    _dir: tempfile::TempDir,
    _procs: Vec<Proc>,
    am: String,
    prom: String,
}

/// Alertmanager, and Prometheus scraping `127.0.0.1:PORT` of each port.
fn start_servers(ports: &[u16]) -> Monitoring {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("am.yml"),
        "route: {receiver: \"null\"}\nreceivers: [{name: \"null\"}]\n",
    )
    .unwrap();
    std::fs::create_dir_all(d.join("am-data")).unwrap();
    let am_port = free_local_port();
    let am = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", d.join("am.yml").display()))
        .arg(format!("--storage.path={}", d.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("am.log")).unwrap())
        .spawn()
        .unwrap();
    let targets: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    std::fs::write(
        d.join("prom.yml"),
        format!(
            "global: {{scrape_interval: 500ms, scrape_timeout: 500ms}}\n\
             scrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: [{}]}}]\n",
            targets.join(", ")
        ),
    )
    .unwrap();
    let prom_port = free_local_port();
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", d.join("prom.yml").display()))
        .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("prom.log")).unwrap())
        .spawn()
        .unwrap();
    let m = Monitoring {
        _procs: vec![
            Proc {
                child: am,
                name: "alertmanager",
            },
            Proc {
                child: prom,
                name: "prometheus",
            },
        ],
        am: format!("http://127.0.0.1:{am_port}"),
        prom: format!("http://127.0.0.1:{prom_port}"),
        _dir: dir,
    };
    wait_ready(&m.am, "alertmanager");
    wait_ready(&m.prom, "prometheus");
    m.wait_scraping(ports.len());
    m
}

impl Monitoring {
    /// Until Prometheus scrapes every one of its `n` targets (successfully
    /// or not): ready, it still takes up to 5 s to hand its static targets
    /// to the scrape loops (discovery updates are throttled), and a
    /// `verify` wait started before that sees no scrape at all (seen: a
    /// switch right after the start, its 5 s wait ran out with the first
    /// scrape 1 s later).
    fn wait_scraping(&self, n: usize) {
        let client = Client::new(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let scraped = client
                .send(
                    Method::Get,
                    &format!("{}/api/v1/targets", self.prom),
                    None,
                    None,
                    1 << 20,
                )
                .ok()
                .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
                .and_then(|v| {
                    v.pointer("/data/activeTargets")?.as_array().map(|ts| {
                        ts.iter()
                            .filter(|t| t["lastScrape"].as_str().is_some_and(|l| !l.starts_with("0001-")))
                            .count()
                    })
                })
                .unwrap_or(0);
            if scraped >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus scrapes {scraped} of its {n} targets after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prometheus' own view of its targets and their `up` samples, for
    /// assertion messages.
    fn targets(&self) -> String {
        let get = |path: &str| {
            Client::new(Duration::from_secs(5))
                .send(Method::Get, &format!("{}/{path}", self.prom), None, None, 1 << 20)
                .map(|r| String::from_utf8_lossy(&r.body).to_string())
                .unwrap_or_else(|e| format!("({path}: {e})"))
        };
        format!(
            "{}\nup[60s]: {}",
            get("api/v1/targets"),
            get("api/v1/query?query=up%5B60s%5D")
        )
    }

    fn silence_state(&self, id: &str) -> String {
        exporterctl::monitoring::alertmanager::state(&Client::new(Duration::from_secs(5)), &self.am, id).unwrap()
    }
}

/// A stub for Grafana and the webhook, recording every request.
struct Stub {
    server: ServerHandle,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    fn start() -> Stub {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let server = spawn(TcpListener::bind("127.0.0.1:0").unwrap(), move |r: &Request| {
            log.lock().unwrap().push(r.clone());
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", "/api/annotations") => Response::new(200)
                    .header("Content-Type", "application/json")
                    .body(br#"{"id":7,"message":"Annotation added"}"#.to_vec()),
                ("PATCH", "/api/annotations/7") => Response::text(200, "{}"),
                ("POST", p) if p.ends_with(HOOK_SECRET) => Response::text(200, "ok"),
                _ => Response::not_found(),
            }
        })
        .unwrap();
        Stub { server, seen }
    }

    fn url(&self) -> String {
        self.server.url().trim_end_matches('/').to_string()
    }

    fn calls(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

/// A manifest entry of the test exporter with a chosen health timeout and
/// listen port (the health URL follows it).
fn entry(fx: &Fixture, name: &str, version: &str, port: u16, timeout: &str) -> String {
    let base = format!("{}/test", fx.server.url());
    exporterctl::demo::releases::manifest_entry(name, &base, version, port, "200ms")
        .replace("timeout: 10s", &format!("timeout: {timeout}"))
}

fn manifest(fx: &Fixture, file: &str, manager: &str, monitoring: &str, entries: &[String]) -> PathBuf {
    let text = format!(
        "apiVersion: exporterctl/v1\nsettings:\n  service_manager: {manager}\n  arch: amd64\n  monitoring:\n{monitoring}exporters:\n{}",
        entries.concat()
    );
    let path = fx.root().join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// A switch with `--preflight off`: these tests follow a crashing release
/// through the health check and its rollback (the preflight would refuse
/// it before the flip, tests/preflight.rs).
fn switch_json(fx: &Fixture, m: &Path, env: &[(&str, &str)]) -> (serde_json::Value, String, Option<i32>) {
    let out = fx.run_env(
        &[
            "switch",
            m.to_str().unwrap(),
            "--mode",
            "fast",
            "--json",
            "--preflight",
            "off",
        ],
        env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (v, format!("{stdout}\n{stderr}"), out.status.code())
}

/// Every file under `dir`, recursively (symlinks not followed).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_under(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

#[test]
fn silence_lives_for_the_switch_even_when_it_fails_or_crashes_and_no_secret_is_kept() {
    if !servers_available() {
        return;
    }
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    let mon = start_servers(&[port]);
    let stub = Stub::start();
    for (v, b) in [
        ("1.0.0", Behaviour::Ok),
        ("2.0.0", Behaviour::Ok),
        ("3.0.0", Behaviour::Http500),
        ("4.0.0", Behaviour::Ok),
    ] {
        fx.publish("demo_exporter", v, b);
    }
    let hook_file = fx.root().join("hook-url");
    std::fs::write(&hook_file, format!("{}/hooks/{HOOK_SECRET}\n", stub.url())).unwrap();
    let monitoring = format!(
        "    host: testhost\n    timeout: 2s\n    alertmanager: {{ url: \"{}\", duration: 10m }}\n\
         \x20   grafana: {{ url: \"{}\", token_env: TEST_GRAFANA_TOKEN, tags: [e2e] }}\n\
         \x20   notify:\n      - {{ url_file: {}, format: slack }}\n\
         \x20   prometheus: {{ url: \"{}\", verify: warn, wait: 20s }}\n",
        mon.am,
        stub.url(),
        hook_file.display(),
        mon.prom
    );
    let env = [("TEST_GRAFANA_TOKEN", TOKEN)];
    let ms: Vec<PathBuf> = ["1.0.0", "2.0.0", "3.0.0", "4.0.0"]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            manifest(
                &fx,
                &format!("m{}.yaml", i + 1),
                "process",
                &monitoring,
                &[entry(&fx, "demo_exporter", v, port, "3s")],
            )
        })
        .collect();
    let mut output = String::new();

    // A clean switch: silence made, then expired; annotation; notifications.
    let (r1, out, code) = switch_json(&fx, &ms[0], &env);
    output += &out;
    assert_eq!(code, Some(0), "{out}");
    let s1 = r1["monitoring"]["silence"]["id"].as_str().unwrap().to_string();
    assert_eq!(r1["monitoring"]["silence"]["expired"], true);
    assert_eq!(mon.silence_state(&s1), "expired");
    assert_eq!(r1["monitoring"]["annotation"]["id"], 7);
    assert!(r1["monitoring"]["problems"].is_null(), "{}", r1["monitoring"]);
    let calls = stub.calls();
    assert_eq!(
        calls,
        [
            "POST /api/annotations".to_string(),
            format!("POST /hooks/{HOOK_SECRET}"),
            "PATCH /api/annotations/7".to_string(),
            format!("POST /hooks/{HOOK_SECRET}"),
        ]
    );

    // A no-op creates no silence.
    let out = fx.run_env(&["switch", ms[0].to_str().unwrap(), "--mode", "fast"], &env);
    output += &String::from_utf8_lossy(&out.stdout);
    output += &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert_eq!(stub.calls().len(), 4, "a no-op switch told nobody");

    // Killed mid-step (after the restart): the silence is active, in the
    // journal; `resume` expires it.
    let out = fx.run_env(
        &["switch", ms[1].to_str().unwrap(), "--mode", "fast"],
        &[("TEST_GRAFANA_TOKEN", TOKEN), ("EXPORTERCTL_CRASH_AT", "after-restart")],
    );
    output += &String::from_utf8_lossy(&out.stdout);
    output += &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.state().join("journal.json")).unwrap()).unwrap();
    let s2 = journal["monitoring"]["silence"]["id"].as_str().unwrap().to_string();
    assert_eq!(journal["steps"][0]["status"], "running");
    assert_eq!(mon.silence_state(&s2), "active", "silenced while the step runs");
    let status = fx.run(&["status"]);
    let status_text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        status_text.contains(&format!(
            "monitoring: silence {s2} in Alertmanager {}: active until",
            mon.am
        )),
        "{status_text}"
    );
    output += &status_text;
    let out = fx.run_env(&["resume", "--json"], &env);
    output += &String::from_utf8_lossy(&out.stdout);
    output += &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let resumed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resumed["monitoring"]["silence"]["id"], s2.as_str());
    assert_eq!(resumed["monitoring"]["silence"]["expired"], true);
    assert_eq!(mon.silence_state(&s2), "expired");

    // A release that stays down past its health timeout: rolled back, its
    // silence expired all the same, and Prometheus names it.
    let (r3, out, code) = switch_json(&fx, &ms[2], &env);
    output += &out;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(r3["steps"][0]["status"], "failed");
    let s3 = r3["monitoring"]["silence"]["id"].as_str().unwrap();
    assert_eq!(mon.silence_state(s3), "expired");
    let v = &r3["monitoring"]["verification"]["exporters"][0];
    assert_eq!(v["exporter"], "demo_exporter");
    assert_eq!(v["targets"], serde_json::json!([format!("demo/127.0.0.1:{port}")]));
    assert!(
        v["failed_scrapes"].as_u64().unwrap() >= 1,
        "3 s of HTTP 500 at a 500 ms interval: {v}; {}",
        r3["steps"]
    );
    assert_eq!(v["scraped_since_restart"], true, "the old version is back: {v}");
    assert!(out.contains("demo_exporter: "), "{out}");

    // A crash before the silence's id reached the journal's end… is left
    // to the next switch: here, one whose journal was abandoned by abort.
    let out = fx.run_env(
        &[
            "switch",
            ms[3].to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            "off",
        ],
        &[("TEST_GRAFANA_TOKEN", TOKEN), ("EXPORTERCTL_CRASH_AT", "after-flip")],
    );
    assert!(!out.status.success());
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.state().join("journal.json")).unwrap()).unwrap();
    let s4 = journal["monitoring"]["silence"]["id"].as_str().unwrap().to_string();
    assert_eq!(mon.silence_state(&s4), "active");
    let out = fx.run_env(&["resume", "--abort", "--json"], &env);
    output += &String::from_utf8_lossy(&out.stdout);
    output += &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mon.silence_state(&s4), "expired", "resume --abort expires it");

    // No token or webhook URL in any file under the state directory, nor in
    // anything printed.
    let mut files = Vec::new();
    files_under(&fx.state(), &mut files);
    assert!(files.iter().any(|f| f.starts_with(fx.state().join("switches"))));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TOKEN), "token in {}", f.display());
        assert!(!text.contains(HOOK_SECRET), "webhook URL in {}", f.display());
    }
    assert!(!output.contains(TOKEN) && !output.contains(HOOK_SECRET), "{output}");
}

#[test]
fn a_silence_whose_switch_is_gone_is_expired_by_the_next_run() {
    if !servers_available() {
        return;
    }
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    let mon = start_servers(&[port]);
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    // What a crash between creating the silence and writing the journal leaves.
    let client = Client::new(Duration::from_secs(5));
    let now = exporterctl::monitoring::now_ms();
    let orphan = exporterctl::monitoring::alertmanager::create(
        &client,
        &mon.am,
        &exporterctl::monitoring::alertmanager::default_matchers("testhost", &[port]),
        &exporterctl::monitoring::rfc3339_ms(now),
        &exporterctl::monitoring::rfc3339_ms(now + 600_000),
        "exporterctl@testhost",
        "exporterctl switch on testhost: demo_exporter [switch gone]",
    )
    .unwrap();
    // Another host's silence is not ours to expire.
    let foreign = exporterctl::monitoring::alertmanager::create(
        &client,
        &mon.am,
        &exporterctl::monitoring::alertmanager::default_matchers("otherhost", &[port]),
        &exporterctl::monitoring::rfc3339_ms(now),
        &exporterctl::monitoring::rfc3339_ms(now + 600_000),
        "exporterctl@otherhost",
        "exporterctl switch on otherhost [switch elsewhere]",
    )
    .unwrap();
    let m = manifest(
        &fx,
        "m1.yaml",
        "process",
        &format!("    host: testhost\n    alertmanager: {{ url: \"{}\" }}\n", mon.am),
        &[entry(&fx, "demo_exporter", "1.0.0", port, "10s")],
    );
    let (r, out, code) = switch_json(&fx, &m, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("expired 1 silence(s) an earlier switch left behind: {orphan}")),
        "{out}"
    );
    assert_eq!(mon.silence_state(&orphan), "expired");
    assert_eq!(mon.silence_state(&foreign), "active");
    assert_eq!(
        mon.silence_state(r["monitoring"]["silence"]["id"].as_str().unwrap()),
        "expired"
    );
}

#[test]
fn prometheus_reports_no_failed_scrape_for_a_switch_that_had_none() {
    if !servers_available() {
        return;
    }
    // The `none` manager restarts nothing: the exporter this test runs keeps
    // answering, so Prometheus truly sees no failed scrape.
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    let mon = start_servers(&[port]);
    let exporter = Proc {
        child: Command::new(EXE)
            .args([
                "demo-exporter",
                "--name",
                "demo_exporter",
                "--version",
                "1.0.0",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        name: "demo exporter",
    };
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    fx.publish("demo_exporter", "1.1.0", Behaviour::Ok);
    let monitoring = format!(
        "    host: testhost\n    prometheus: {{ url: \"{}\", wait: 20s }}\n",
        mon.prom
    );
    let entry = |v: &str| {
        entry(&fx, "demo_exporter", v, port, "10s").replace("build_info: demo_exporter_build_info", "build_info: \"\"")
    };
    let m1 = manifest(&fx, "m1.yaml", "none", &monitoring, &[entry("1.0.0")]);
    let m2 = manifest(&fx, "m2.yaml", "none", &monitoring, &[entry("1.1.0")]);
    let (_, out, code) = switch_json(&fx, &m1, &[]);
    assert_eq!(code, Some(0), "{out}");
    let (r, out, code) = switch_json(&fx, &m2, &[]);
    assert_eq!(code, Some(0), "{out}");
    let v = &r["monitoring"]["verification"]["exporters"][0];
    assert_eq!(v["exporter"], "demo_exporter", "{r}");
    assert_eq!(v["failed_scrapes"], 0, "{v}");
    assert_eq!(v["scraped_since_restart"], true, "{v}");
    assert!(v["longest_gap_ms"].as_u64().is_some(), "{v}");
    drop(exporter);
}

#[test]
fn verify_require_rolls_back_a_step_prometheus_cannot_scrape() {
    if !servers_available() {
        return;
    }
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    let elsewhere = common::fixture::free_port();
    let mon = start_servers(&[port]);
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    fx.publish("demo_exporter", "2.0.0", Behaviour::Ok);
    let monitoring = format!(
        "    host: testhost\n    prometheus: {{ url: \"{}\", verify: require, wait: 5s }}\n",
        mon.prom
    );
    let m1 = manifest(
        &fx,
        "m1.yaml",
        "process",
        &monitoring,
        &[entry(&fx, "demo_exporter", "1.0.0", port, "10s")],
    );
    // 2.0.0 listens where Prometheus does not scrape: healthy, yet unseen.
    let m2 = manifest(
        &fx,
        "m2.yaml",
        "process",
        &monitoring,
        &[entry(&fx, "demo_exporter", "2.0.0", elsewhere, "10s")],
    );
    let (r1, out, code) = switch_json(&fx, &m1, &[]);
    assert_eq!(code, Some(0), "{out}\nPrometheus: {}", mon.targets());
    assert_eq!(r1["steps"][0]["status"], "succeeded");
    let (r2, out, code) = switch_json(&fx, &m2, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(r2["steps"][0]["status"], "failed", "{r2}");
    let reason = r2["steps"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("verify: require: Prometheus scrapes no target of demo_exporter"),
        "{reason}"
    );
    assert!(
        reason.contains("rolled back to demo_exporter 1.0.0, healthy again"),
        "{reason}"
    );
    assert_eq!(
        common::fixture::served_version("demo_exporter", port).as_deref(),
        Some("1.0.0")
    );
}

#[test]
fn the_textfile_passes_promtool_and_node_exporter_serves_it() {
    if !servers_available() {
        return;
    }
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    fx.publish("demo_exporter", "2.0.0", Behaviour::Crash);
    let monitoring = "    textfile_dir: /textfile\n";
    let m1 = manifest(
        &fx,
        "m1.yaml",
        "process",
        monitoring,
        &[entry(&fx, "demo_exporter", "1.0.0", port, "10s")],
    );
    let m2 = manifest(
        &fx,
        "m2.yaml",
        "process",
        monitoring,
        &[entry(&fx, "demo_exporter", "2.0.0", port, "10s")],
    );
    std::fs::create_dir_all(fx.root().join("textfile")).unwrap();
    let (_, out, code) = switch_json(&fx, &m1, &[]);
    assert_eq!(code, Some(0), "{out}");
    let (_, out, code) = switch_json(&fx, &m2, &[]);
    assert_eq!(code, Some(1), "{out}");
    let file = fx.root().join("textfile/exporterctl.prom");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("exporterctl_generation 1\n"), "{text}");
    assert!(
        text.contains("exporterctl_exporter_info{exporter=\"demo_exporter\",version=\"1.0.0\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("exporterctl_last_switch_success 0\n"), "{text}");
    assert!(
        text.contains("exporterctl_last_switch_steps{status=\"failed\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("exporterctl_last_switch_rolled_back_steps 1\n"), "{text}");
    assert!(text.contains("exporterctl_switches_total 2\n"), "{text}");
    assert!(text.contains("exporterctl_failed_steps_total 1\n"), "{text}");
    assert!(text.contains("exporterctl_rollbacks_total 0\n"), "{text}");
    // Another generation, then a rollback from it: the totals go on from the file.
    let m3 = manifest(
        &fx,
        "m3.yaml",
        "process",
        monitoring,
        &[entry(&fx, "demo_exporter", "3.0.0", port, "10s")],
    );
    fx.publish("demo_exporter", "3.0.0", Behaviour::Ok);
    let (_, out, code) = switch_json(&fx, &m3, &[]);
    assert_eq!(code, Some(0), "{out}");
    let out = fx.run(&["rollback"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    // Back at generation 1 (a rollback returns to a generation, it makes none).
    assert!(text.contains("exporterctl_generation 1\n"), "{text}");
    assert!(
        text.contains("exporterctl_exporter_info{exporter=\"demo_exporter\",version=\"1.0.0\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("exporterctl_switches_total 4\n"), "{text}");
    assert!(text.contains("exporterctl_failed_steps_total 1\n"), "{text}");
    assert!(text.contains("exporterctl_rollbacks_total 1\n"), "{text}");
    assert!(
        text.contains("exporterctl_last_switch_info{kind=\"rollback\",status=\"succeeded\"} 1\n"),
        "{text}"
    );
    // Only the file: no temp name left beside it.
    let names: Vec<String> = std::fs::read_dir(fx.root().join("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["exporterctl.prom"]);

    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success() && lint.stdout.is_empty() && lint.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let ne_port = free_local_port();
    let _ne = Proc {
        child: Command::new("prometheus-node-exporter")
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                fx.root().join("textfile").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        name: "node exporter",
    };
    let client = Client::new(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        match client.send(
            Method::Get,
            &format!("http://127.0.0.1:{ne_port}/metrics"),
            None,
            None,
            1 << 22,
        ) {
            Ok(r) if r.status == 200 => break String::from_utf8_lossy(&r.body).to_string(),
            _ => {
                assert!(Instant::now() < deadline, "node exporter did not answer");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert!(body.contains("exporterctl_generation 1\n"), "{body}");
    assert!(
        body.contains("exporterctl_exporter_info{exporter=\"demo_exporter\",version=\"1.0.0\"} 1"),
        "{body}"
    );
    assert!(body.contains("node_textfile_scrape_error 0"), "{body}");
}

#[test]
fn dry_run_says_what_it_would_silence_annotate_notify_and_verify_and_asks_nobody() {
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    let hook_file = fx.root().join("hook-url");
    std::fs::write(&hook_file, format!("https://hooks.example.org/{HOOK_SECRET}\n")).unwrap();
    // Nothing listens on port 9 of the loopback: a dry run must not ask.
    let monitoring = format!(
        "    host: testhost\n    alertmanager: {{ url: \"http://127.0.0.1:9\", duration: 30m }}\n\
         \x20   grafana: {{ url: \"https://grafana.example.org\", token_env: TEST_GRAFANA_TOKEN, dashboard_uid: upgrades }}\n\
         \x20   notify:\n      - {{ url_file: {}, format: slack }}\n      - {{ url_env: TEST_HOOK_UNSET, format: json }}\n\
         \x20   prometheus: {{ url: \"http://127.0.0.1:9\", verify: require }}\n    textfile_dir: /textfile\n",
        hook_file.display()
    );
    let m = manifest(
        &fx,
        "m1.yaml",
        "process",
        &monitoring,
        &[entry(&fx, "demo_exporter", "1.0.0", port, "10s")],
    );
    let env = [("TEST_GRAFANA_TOKEN", TOKEN)];
    let out = fx.run_env(&["switch", m.to_str().unwrap(), "--dry-run"], &env);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        format!(
            r#"monitoring: would silence in Alertmanager http://127.0.0.1:9: {{instance=~"(testhost|localhost|127\.0\.0\.1|\[::1\]):({port})"}} for the switch (at most 30m)"#
        ),
        "monitoring: would annotate Grafana https://grafana.example.org from the switch's start to its end \
         (token from $TEST_GRAFANA_TOKEN, dashboard upgrades)"
            .to_string(),
        format!(
            "monitoring: would notify webhook 1 (slack, URL from file {}) at the start and the end",
            hook_file.display()
        ),
        "monitoring: would notify webhook 2 (json, URL NOT readable: $TEST_HOOK_UNSET is not set) at the start and the end"
            .to_string(),
        "monitoring: would verify with Prometheus http://127.0.0.1:9 (require, waiting at most 1m): demo_exporter"
            .to_string(),
        "monitoring: would write /textfile/exporterctl.prom".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want}\n{text}");
    }
    assert!(!text.contains(TOKEN) && !text.contains(HOOK_SECRET), "{text}");
    assert!(!fx.root().join("textfile").exists());
    let plan: serde_json::Value = serde_json::from_slice(
        &fx.run_env(&["switch", m.to_str().unwrap(), "--dry-run", "--json"], &env)
            .stdout,
    )
    .unwrap();
    assert_eq!(plan["monitoring"].as_array().unwrap().len(), 6, "{plan}");
}

#[test]
fn unreachable_monitoring_never_fails_a_switch_and_is_reported_in_summary_status_and_record() {
    let mut fx = Fixture::new();
    let port = common::fixture::free_port();
    fx.publish("demo_exporter", "1.0.0", Behaviour::Ok);
    // A loopback port nothing listens on: every request is refused at once.
    let dead = free_local_port();
    let monitoring = format!(
        "    host: testhost\n    timeout: 1s\n    alertmanager: {{ url: \"http://127.0.0.1:{dead}\" }}\n\
         \x20   grafana: {{ url: \"http://127.0.0.1:{dead}\", token_env: TEST_GRAFANA_TOKEN }}\n\
         \x20   notify:\n      - {{ url: \"http://127.0.0.1:{dead}/{HOOK_SECRET}\", format: slack }}\n"
    );
    let m = manifest(
        &fx,
        "m1.yaml",
        "process",
        &monitoring,
        &[entry(&fx, "demo_exporter", "1.0.0", port, "10s")],
    );
    let env = [("TEST_GRAFANA_TOKEN", TOKEN)];
    let out = fx.run_env(&["switch", m.to_str().unwrap(), "--mode", "fast"], &env);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        common::fixture::served_version("demo_exporter", port).as_deref(),
        Some("1.0.0")
    );
    for want in [
        "monitoring: problem: alertmanager: cannot create the silence",
        "monitoring: problem: grafana: cannot create the annotation",
        "monitoring: problem: webhook 1 (start)",
        "monitoring: problem: webhook 1 (end)",
        "monitoring: notifications: 0 of 2 sent",
    ] {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    let status = String::from_utf8_lossy(&fx.run(&["status"]).stdout).to_string();
    assert!(
        status.contains("monitoring: problem: alertmanager: cannot create the silence"),
        "{status}"
    );
    let v = fx.json(&["status"]);
    let problems = v["last_switch"]["monitoring"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 6, "{problems:?}");
    assert!(!text.contains(TOKEN) && !text.contains(HOOK_SECRET), "{text}");
    assert!(!status.contains(HOOK_SECRET));
}

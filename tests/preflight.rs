//! Preflight through the real CLI: the new release started beside the running
//! one (process manager, temporary `--root`), compared, and stopped.

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// `a` runs with fail2ban's old `--socket` flag, which its 2.0.0 refuses;
/// `b` 2.0.0 drops `b_scrapes_total` and labels `b_up`.
struct Host {
    f: Fixture,
    ports: (u16, u16),
    m1: PathBuf,
    m2: PathBuf,
}

fn entry(f: &Fixture, name: &str, version: &str, port: u16, extra: &str) -> String {
    // After the listen flag: the demo exporter takes what follows its first
    // unknown flag as extra arguments.
    f.entry(name, version, port)
        .replace(&format!("{port}\"]"), &format!("{port}\", \"--socket=/run/f2b.sock\"]"))
        + extra
}

fn host() -> Host {
    let mut f = Fixture::new();
    f.publish("a", "1.0.0", Behaviour::Ok);
    f.publish("a", "2.0.0", Behaviour::RenamedFlags);
    f.publish("b", "1.0.0", Behaviour::Ok);
    f.publish("b", "2.0.0", Behaviour::DropFamily);
    let ports = (free_port(), free_port());
    let m1 = f.manifest(
        "m1.yaml",
        &[
            entry(&f, "a", "1.0.0", ports.0, ""),
            entry(&f, "b", "1.0.0", ports.1, ""),
        ],
    );
    let m2 = f.manifest(
        "m2.yaml",
        &[
            entry(&f, "a", "2.0.0", ports.0, ""),
            entry(&f, "b", "2.0.0", ports.1, ""),
        ],
    );
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version("a", ports.0).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b", ports.1).as_deref(), Some("1.0.0"));
    Host { f, ports, m1, m2 }
}

fn generations(f: &Fixture) -> usize {
    f.json(&["generations"])["generations"].as_array().unwrap().len()
}

fn report<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["exporters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no preflight of {name}: {summary}"))
}

#[test]
fn the_dry_run_shows_a_refused_flag_and_a_dropped_family() {
    let h = host();
    let m2 = h.m2.to_str().unwrap();
    // Without the releases in the store the dry run says how to get them.
    let out = h.f.ok(&["switch", m2, "--dry-run"]);
    assert!(out.contains("is not in the store yet: `exporterctl preflight"), "{out}");
    h.f.ok(&["realise", m2]);
    let out = h.f.ok(&["switch", m2, "--dry-run"]);
    assert!(
        out.contains("a                            1.0.0 → 2.0.0: FAILS"),
        "{out}"
    );
    assert!(out.contains("unknown flag --socket"), "the exporter's own words: {out}");
    assert!(out.contains("families removed: b_scrapes_total"), "{out}");
    assert!(out.contains("family b_up changed: labels added: target"), "{out}");
    assert!(out.contains("build info: version 2.0.0"), "{out}");
    let plan: Value = serde_json::from_str(&h.f.ok(&["switch", m2, "--dry-run", "--json"])).unwrap();
    let pf = &plan["preflight"];
    assert_eq!(report(pf, "a")["status"], "failed");
    assert_eq!(report(pf, "b")["status"], "changes");
    assert_eq!(report(pf, "b")["metrics"]["removed"][0], "b_scrapes_total");
    assert!(report(pf, "b")["duration_ms"].as_u64().is_some());
    // The copy listened elsewhere: the running exporters were not touched.
    assert!(report(pf, "b")["args"][0]
        .as_str()
        .unwrap()
        .starts_with("--listen=127.0.0.1:"));
    assert_ne!(report(pf, "b")["args"][0], format!("--listen=127.0.0.1:{}", h.ports.1));
    assert_eq!(served_version("a", h.ports.0).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b", h.ports.1).as_deref(), Some("1.0.0"));
    assert_eq!(generations(&h.f), 1);
}

#[test]
fn require_refuses_a_release_that_does_not_start_with_nothing_flipped() {
    let h = host();
    let pid_b = h.f.pid("b");
    let out = h.f.expect(
        &[
            "switch",
            h.m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            "require",
        ],
        1,
    );
    assert!(out.contains("unknown flag --socket"), "{out}");
    assert!(
        out.contains("refused (--preflight require): nothing was changed"),
        "{out}"
    );
    assert_eq!(served_version("a", h.ports.0).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b", h.ports.1).as_deref(), Some("1.0.0"));
    assert_eq!(h.f.pid("b"), pid_b, "b was not restarted");
    assert_eq!(generations(&h.f), 1);
    assert!(!h.f.state().join("journal.json").exists());
}

#[test]
fn require_refuses_dropping_a_kept_family_and_allows_other_changes() {
    let mut f = Fixture::new();
    f.publish("b", "1.0.0", Behaviour::Ok);
    f.publish("b", "2.0.0", Behaviour::DropFamily);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry("b", "1.0.0", port)]);
    let keep = f.manifest(
        "keep.yaml",
        &[f.entry("b", "2.0.0", port) + "      keep_metrics: [b_up, b_scrapes_total]\n"],
    );
    let keep_all = f.manifest("all.yaml", &[f.entry("b", "2.0.0", port) + "      keep_metrics: all\n"]);
    let keep_other = f.manifest(
        "other.yaml",
        &[f.entry("b", "2.0.0", port) + "      keep_metrics: [b_up]\n"],
    );
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    for m in [&keep, &keep_all] {
        let out = f.expect(
            &[
                "switch",
                m.to_str().unwrap(),
                "--mode",
                "fast",
                "--preflight",
                "require",
            ],
            1,
        );
        assert!(
            out.contains("removes families health.keep_metrics keeps: b_scrapes_total"),
            "{out}"
        );
        assert_eq!(served_version("b", port).as_deref(), Some("1.0.0"));
    }
    // b_up is relabelled, not removed: require lets it through.
    let out = f.ok(&[
        "switch",
        keep_other.to_str().unwrap(),
        "--mode",
        "fast",
        "--preflight",
        "require",
    ]);
    assert!(out.contains("families removed: b_scrapes_total"), "{out}");
    assert_eq!(served_version("b", port).as_deref(), Some("2.0.0"));
    // settings.preflight is the default of --preflight.
    let bad = f.root().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&keep)
            .unwrap()
            .replace("settings:\n", "settings:\n  preflight: always\n"),
    )
    .unwrap();
    let out = f.run(&["switch", bad.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settings.preflight"));
}

#[test]
fn warn_does_not_attempt_a_release_that_cannot_start_and_switches_the_rest() {
    let h = host();
    let pid_a = h.f.pid("a");
    let out = h.f.expect(&["switch", h.m2.to_str().unwrap(), "--mode", "fast"], 1);
    assert!(
        out.contains("preflight: not switching a (cannot start here; the running release can)"),
        "{out}"
    );
    let summary = out.split("preflight (warn) found, and the switch went ahead:").nth(1);
    let summary = summary.unwrap_or_else(|| panic!("no preflight in the summary: {out}"));
    assert!(
        summary.contains("a: 2.0.0 did not pass: exited with status 2"),
        "{summary}"
    );
    assert!(summary.contains("b: families removed: b_scrapes_total"), "{summary}");
    // a was never touched (same process: no restart, no scrape lost); b was upgraded.
    assert_eq!(h.f.pid("a"), pid_a, "a was restarted");
    assert_eq!(served_version("a", h.ports.0).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b", h.ports.1).as_deref(), Some("2.0.0"));
    // The record keeps what preflight found, the control, and why a's step failed.
    let id = out.lines().find_map(|l| l.strip_prefix("switch ")).unwrap();
    let id = id.split(':').next().unwrap();
    let rec: Value =
        serde_json::from_str(&std::fs::read_to_string(h.f.state().join(format!("switches/{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(rec["status"], "partial");
    assert_eq!(rec["preflight"]["mode"], "warn");
    assert_eq!(rec["preflight"]["refused_steps"], serde_json::json!(["a"]));
    let a = report(&rec["preflight"], "a");
    assert_eq!(a["status"], "failed");
    assert_eq!(a["control"]["version"], "1.0.0");
    assert_eq!(a["control"]["serves"], true);
    assert!(
        report(&rec["preflight"], "b")["control"].is_null(),
        "b passed: no control"
    );
    let step = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "a")
        .unwrap();
    assert_eq!(step["status"], "failed");
    assert!(step["duration_ms"].is_null(), "never attempted: {step}");
    let why = step["reason"].as_str().unwrap();
    assert!(
        why.starts_with("refused by preflight, not attempted: a 2.0.0: exited with status 2"),
        "{why}"
    );
    assert!(why.contains("the running 1.0.0, started the same way, serves"), "{why}");
}

#[test]
fn warn_refuses_the_whole_switch_when_no_step_is_left_or_it_is_atomic() {
    let h = host();
    let (pid_a, pid_b) = (h.f.pid("a"), h.f.pid("b"));
    // Only a changes, and it cannot start: nothing to do, nothing touched.
    let only_a = h.f.manifest(
        "only-a.yaml",
        &[
            entry(&h.f, "a", "2.0.0", h.ports.0, ""),
            entry(&h.f, "b", "1.0.0", h.ports.1, ""),
        ],
    );
    // Both change, but all or nothing: a refuses b too.
    for (m, extra) in [(&only_a, None), (&h.m2, Some("--atomic"))] {
        let mut args = vec!["switch", m.to_str().unwrap(), "--mode", "fast"];
        args.extend(extra);
        let out = h.f.expect(&args, 1);
        assert!(
            out.contains("preflight: refused (a cannot start here): nothing was changed"),
            "{out}"
        );
        assert_eq!(
            (h.f.pid("a"), h.f.pid("b")),
            (pid_a, pid_b),
            "{args:?} restarted an exporter"
        );
        assert_eq!(served_version("b", h.ports.1).as_deref(), Some("1.0.0"));
        assert_eq!(generations(&h.f), 1);
        assert!(!h.f.state().join("journal.json").exists());
    }
    // --json prints the preflight document in place of a record.
    let out =
        h.f.run(&["switch", only_a.to_str().unwrap(), "--mode", "fast", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "exporterctl/preflight/v1");
    assert_eq!(doc["refused"], true);
    assert_eq!(doc["refused_steps"], serde_json::json!(["a"]));
}

#[test]
fn a_release_the_preflight_cannot_judge_is_left_to_the_health_check() {
    // Both releases lock a file the running one holds: a copy beside it
    // fails whichever release it is, so the failure says nothing of 2.0.0.
    let mut f = Fixture::new();
    f.publish("a", "1.0.0", Behaviour::Ok);
    f.publish("a", "2.0.0", Behaviour::Ok);
    let port = free_port();
    let lock = f.root().join("a.lock");
    let with_lock = |v: &str| {
        f.entry("a", v, port).replace(
            &format!("{port}\"]"),
            &format!("{port}\", \"--lock={}\"]", lock.display()),
        )
    };
    let m1 = f.manifest("m1.yaml", &[with_lock("1.0.0")]);
    let m2 = f.manifest("m2.yaml", &[with_lock("2.0.0")]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert!(out.contains("another instance holds it"), "{out}");
    assert!(
        out.contains("the running 1.0.0, started the same way, fails too"),
        "{out}"
    );
    assert!(!out.contains("not switching"), "{out}");
    assert_eq!(served_version("a", port).as_deref(), Some("2.0.0"));
}

#[test]
fn the_preflight_command_realises_and_reports_with_its_exit_status() {
    let h = host();
    let out = h.f.run(&["preflight", h.m2.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "a does not start");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report(&s, "a")["status"], "failed");
    assert_eq!(report(&s, "b")["status"], "changes");
    assert!(s["duration_ms"].as_u64().is_some());
    // Compared with what generation 1 recorded: the running exporter is not
    // scraped again. Without that record it is scraped, with the same result.
    assert_eq!(report(&s, "b")["compared_with"], "recorded");
    let gen1 = h.f.state().join("generations/1.json");
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&gen1).unwrap()).unwrap();
    assert!(rec["metrics"]["b"].as_array().is_some_and(|f| !f.is_empty()), "{rec}");
    rec.as_object_mut().unwrap().remove("metrics");
    std::fs::write(&gen1, serde_json::to_string(&rec).unwrap()).unwrap();
    let out = h.f.run(&["preflight", h.m2.to_str().unwrap(), "--json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report(&s, "b")["compared_with"], "scraped");
    assert_eq!(report(&s, "b")["metrics"]["removed"][0], "b_scrapes_total");
    // Only b: it starts and serves; nothing it drops is kept, so exit 0.
    let out = h.f.ok(&["preflight", h.m2.to_str().unwrap(), "--only", "b"]);
    assert!(
        out.contains("b                            1.0.0 → 2.0.0: starts and serves; metrics change"),
        "{out}"
    );
    // Nothing changes: nothing to start.
    let out = h.f.ok(&["preflight", h.m1.to_str().unwrap()]);
    assert!(out.contains("nothing to start"), "{out}");
}

#[test]
fn generations_record_their_families_and_diff_and_rollback_show_them() {
    let mut f = Fixture::new();
    f.publish("b", "1.0.0", Behaviour::Ok);
    f.publish("b", "2.0.0", Behaviour::DropFamily);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry("b", "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry("b", "2.0.0", port)]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    let out = f.ok(&["diff", "1", "2", "--metrics"]);
    assert!(out.contains("b: families removed: b_scrapes_total"), "{out}");
    assert!(out.contains("b: family b_up changed: labels added: target"), "{out}");
    let back = f.ok(&["diff", "2", "1", "--metrics"]);
    assert!(back.contains("b: families added: b_scrapes_total"), "{back}");
    let rows: Value = serde_json::from_str(&f.ok(&["diff", "1", "2", "--metrics", "--json"])).unwrap();
    assert_eq!(rows["metrics"][0]["diff"]["removed"][0], "b_scrapes_total");
    // Without --metrics the rows are as before.
    assert!(!f.ok(&["diff", "1", "2"]).contains("families"));
    let out = f.ok(&["rollback"]);
    assert!(
        out.contains("b: families added: b_scrapes_total"),
        "a rollback says what comes back: {out}"
    );
}

/// The pids of `pid`'s children (every thread's).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in rd.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

/// Processes whose command line has every one of `words`.
fn processes_with(words: &[&str]) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if words.iter().all(|w| cmd.contains(w)) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn kill_9_during_a_preflight_leaves_no_process_behind() {
    let mut f = Fixture::new();
    let name = format!("k{}", std::process::id());
    f.publish(&name, "1.0.0", Behaviour::Ok);
    // Slow to listen: the preflight is still waiting when it is killed.
    f.publish(&name, "2.0.0", Behaviour::SlowStart);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(&name, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(&name, "2.0.0", port)]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["realise", m2.to_str().unwrap()]);
    let copy_words = ["demo-exporter", name.as_str(), "2.0.0"];
    let mut run = f
        .command(&["preflight", m2.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut copy = None;
    for _ in 0..1000 {
        copy = children(run.id())
            .into_iter()
            .find(|c| processes_with(&copy_words).contains(c));
        if copy.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let copy = copy.expect("the preflight copy never started");
    // SIGKILL: no code of exporterctl runs after this.
    run.kill().unwrap();
    run.wait().unwrap();
    for _ in 0..500 {
        if processes_with(&copy_words).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        processes_with(&copy_words).is_empty(),
        "preflight copy {copy} outlived exporterctl"
    );
    // The running exporter was not disturbed, and the next run finds none
    // of its copies and works.
    assert_eq!(served_version(&name, port).as_deref(), Some("1.0.0"));
    let out = f.ok(&["preflight", m2.to_str().unwrap()]);
    assert!(out.contains("starts and serves"), "{out}");
    assert!(processes_with(&copy_words).is_empty());
}

/// Debian's node_exporter binary, if installed; under tests/run-all.sh as
/// root (EXPORTERCTL_REQUIRE_NODE_EXPORTER=1) its absence fails the test.
fn real_node_exporter() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/prometheus-node-exporter");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("EXPORTERCTL_REQUIRE_NODE_EXPORTER").as_deref() != Ok("1"),
        "/usr/bin/prometheus-node-exporter is missing but EXPORTERCTL_REQUIRE_NODE_EXPORTER=1 \
         (apt-get install prometheus-node-exporter)"
    );
    eprintln!("SKIPPED: /usr/bin/prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter)");
    None
}

#[test]
fn real_node_exporter_runs_as_its_own_preflight() {
    let Some(bin) = real_node_exporter() else { return };
    let mut f = Fixture::new();
    let name = "node_exporter";
    let version = "1.5.0";
    let dir = format!("{name}-{version}.linux-amd64");
    let archive = common::archives::ArchiveBuilder::new()
        .file(&format!("{dir}/{name}"), 0o755, &std::fs::read(&bin).unwrap())
        .finish();
    f.publish_archive(name, version, archive);
    let port = free_port();
    let base = format!("{}/test", f.server.url());
    // Debian's build reports `1.5.0` in node_exporter_build_info.
    let entry = |args: &str| {
        format!(
            r#"  {name}:
    version: "{version}"
    source:
      url: "{base}/{name}/releases/download/v{{version}}/{name}-{{version}}.linux-{{arch}}.tar.gz"
      checksums_url: "{base}/{name}/releases/download/v{{version}}/sha256sums.txt"
      binary: "{name}-{{version}}.linux-{{arch}}/{name}"
    args: ["--web.listen-address=127.0.0.1:{port}"{args}]
    health:
      url: "http://127.0.0.1:{port}/metrics"
      build_info: node_exporter_build_info
      timeout: 20s
      settle: 300ms
"#
        )
    };
    let m1 = f.manifest("m1.yaml", &[entry("")]);
    // The same release with fewer collectors: a reconfigure whose preflight
    // starts the real binary beside the running one.
    let m2 = f.manifest(
        "m2.yaml",
        &[entry(
            r#", "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo""#,
        )],
    );
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let running = f.pid(name);
    let out = f.run(&["preflight", m2.to_str().unwrap(), "--json"]);
    let s: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let r = report(&s, name);
    assert_eq!(r["status"], "changes", "{s}");
    assert_eq!(r["build_info_version"], "1.5.0");
    let removed: Vec<&str> = r["metrics"]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(removed.contains(&"node_filesystem_avail_bytes"), "{removed:?}");
    assert!(!removed.contains(&"node_cpu_seconds_total"), "{removed:?}");
    eprintln!("real node_exporter preflight: {} ms", r["duration_ms"]);
    assert_eq!(f.pid(name), running, "the running node_exporter was not touched");
    // Two real generations: what the reconfigure took away.
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    let out = f.ok(&["diff", "1", "2", "--metrics"]);
    assert!(out.contains("node_filesystem_avail_bytes"), "{out}");
}

#[test]
fn settings_preflight_is_the_default_and_an_exporter_can_opt_out() {
    let mut f = Fixture::new();
    f.publish("b", "1.0.0", Behaviour::Ok);
    f.publish("b", "2.0.0", Behaviour::DropFamily);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry("b", "1.0.0", port)]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let with_settings = |file: &str, settings: &str, entry_extra: &str| {
        let m = f.manifest(file, &[f.entry("b", "2.0.0", port) + entry_extra]);
        let text = std::fs::read_to_string(&m)
            .unwrap()
            .replace("settings:\n", &format!("settings:\n{settings}"));
        std::fs::write(&m, text).unwrap();
        m
    };
    // settings.preflight: require, and keep_metrics: all: refused; --json
    // prints the preflight with `refused`.
    let m = with_settings("req.yaml", "  preflight: require\n", "      keep_metrics: all\n");
    let out = f.expect(&["switch", m.to_str().unwrap(), "--mode", "fast", "--json"], 1);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["refused"], true);
    assert_eq!(s["mode"], "require");
    assert_eq!(report(&s, "b")["kept_removed"][0], "b_scrapes_total");
    assert_eq!(served_version("b", port).as_deref(), Some("1.0.0"));
    // --preflight overrides the setting: off starts nothing and goes ahead.
    let out = f.ok(&["switch", m.to_str().unwrap(), "--mode", "fast", "--preflight", "off"]);
    assert!(!out.contains("preflight ("), "{out}");
    assert_eq!(served_version("b", port).as_deref(), Some("2.0.0"));
    // `preflight: false`: listed as not run, never started, never refused.
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast", "--preflight", "off"]);
    let m = with_settings(
        "optout.yaml",
        "  preflight: require\n",
        "      keep_metrics: all\n    preflight: false\n",
    );
    let out = f.ok(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert!(
        out.contains("b                            1.0.0 → 2.0.0: not run\n      preflight: false"),
        "{out}"
    );
    assert_eq!(served_version("b", port).as_deref(), Some("2.0.0"));
}

#[test]
fn bad_preflight_keys_are_refused_with_their_line() {
    let f = Fixture::new();
    let port = free_port();
    for (extra, key, says) in [
        (
            "      keep_metrics: [b_up, \"b-up\"]\n",
            "health.keep_metrics",
            "`b-up` is not a metric family name",
        ),
        (
            "      keep_metrics: some\n",
            "health.keep_metrics",
            "neither `all` nor a list",
        ),
        ("    preflight: maybe\n", "preflight", "bool"),
    ] {
        let m = f.manifest("bad.yaml", &[f.entry("b", "1.0.0", port) + extra]);
        let out = f.run(&["switch", m.to_str().unwrap(), "--dry-run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {err}");
        assert!(
            err.contains("bad.yaml:") && err.contains(key) && err.contains(says),
            "{extra}: {err}"
        );
    }
}

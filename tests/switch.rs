//! Switch, generations, rollback, gc and adopt through the real CLI, on the
//! `process` service manager under a temporary `--root`, with releases served
//! by the local release server.
//!
//! Tests that follow a crashing release through its failed health check and
//! rollback switch with `--preflight off`: by default the preflight refuses
//! such a release before the flip (tests/preflight.rs).

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};
use serde_json::{json, Value};

const N: &str = "test_exporter";

#[test]
fn upgrade_noop_broken_release_rollback_and_gc() {
    let mut f = Fixture::new();
    for (v, b) in [
        ("1.0.0", Behaviour::Ok),
        ("2.0.0", Behaviour::Ok),
        ("3.0.0", Behaviour::Crash),
    ] {
        f.publish(N, v, b);
    }
    let port = free_port();
    let m1 = f.manifest("v1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("v2.yaml", &[f.entry(N, "2.0.0", port)]);
    let m3 = f.manifest("v3.yaml", &[f.entry(N, "3.0.0", port)]);

    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();

    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 2);
    assert_eq!(gens["generations"][1]["exporters"][N], "2.0.0");

    // The same manifest again restarts nothing and makes no generation.
    let pid = f.pid(N).expect("pid file");
    let out = f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(f.pid(N), Some(pid));
    assert_eq!(f.json(&["generations"])["generations"].as_array().unwrap().len(), 2);

    // A release that crashes at start is rolled back on its own.
    let out = f.expect(
        &["switch", m3.to_str().unwrap(), "--mode", "fast", "--preflight", "off"],
        1,
    );
    // The summary always says "N failed"; the step's own line must say so.
    assert!(out.contains(": 0 succeeded, 1 failed"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("2.0.0 → 3.0.0") && l.contains(" failed (")),
        "{out}"
    );
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    f.assert_links_resolve();
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 2, "a failed switch makes no generation");
    let attempt = &gens["failed_attempts"][0];
    assert_eq!(attempt["status"], "failed");
    assert_eq!(attempt["failed_steps"][0]["name"], N);
    assert_eq!(attempt["failed_steps"][0]["change"], "2.0.0 → 3.0.0");
    let status = f.json(&["status"]);
    assert_eq!(status["last_switch"]["status"], "failed");
    assert_eq!(status["last_switch"]["counts"]["failed"], 1);
    assert_eq!(status["exporters"][0]["version"], "2.0.0");
    assert_eq!(status["exporters"][0]["health"], "healthy");

    // Rollback downloads nothing.
    f.server.clear_requests();
    f.ok(&["rollback"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    assert_eq!(f.json(&["generations"])["current"], 1);
    f.ok(&["rollback", "--to", "2"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    assert_eq!(
        f.server.request_count(),
        0,
        "rollback made requests: {:?}",
        f.server.requests()
    );

    let diff = f.json(&["diff", "1", "2"]);
    assert_eq!(diff[0]["from"], "1.0.0");
    assert_eq!(diff[0]["to"], "2.0.0");

    // gc --keep 1: only the current generation's paths remain.
    let before = f.json(&["store", "ls"]).as_array().unwrap().len();
    let dry = f.json(&["gc", "--keep", "1", "--dry-run"]);
    let real = f.json(&["gc", "--keep", "1"]);
    assert_eq!(dry["bytes_freed"], real["bytes_freed"]);
    assert_eq!(dry["store_paths_deleted"], real["store_paths_deleted"]);
    assert_eq!(real["generations_deleted"], serde_json::json!([1]));
    let after = f.json(&["store", "ls"]);
    let after = after.as_array().unwrap();
    assert!(after.len() < before, "{before} -> {}", after.len());
    let releases: Vec<&str> = after
        .iter()
        .filter(|m| m["kind"] == "release")
        .map(|m| m["version"].as_str().unwrap())
        .collect();
    assert_eq!(releases, vec!["2.0.0"]);
    f.ok(&["store", "verify"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    // Rolling back to a collected generation is a clear error.
    let out = f.run(&["rollback", "--to", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `a_exporter` and `b_exporter` at 1.0.0 (`m1`) and 2.0.0 (`m2`, where
/// b's release does `b_v2`), on ports `pa` and `pb`.
fn two_exporters(b_v2: Behaviour) -> (Fixture, u16, u16, std::path::PathBuf, std::path::PathBuf) {
    let mut f = Fixture::new();
    f.publish("a_exporter", "1.0.0", Behaviour::Ok);
    f.publish("a_exporter", "2.0.0", Behaviour::Ok);
    f.publish("b_exporter", "1.0.0", Behaviour::Ok);
    f.publish("b_exporter", "2.0.0", b_v2);
    let (pa, pb) = (free_port(), free_port());
    let m1 = f.manifest(
        "m1.yaml",
        &[f.entry("a_exporter", "1.0.0", pa), f.entry("b_exporter", "1.0.0", pb)],
    );
    let m2 = f.manifest(
        "m2.yaml",
        &[f.entry("a_exporter", "2.0.0", pa), f.entry("b_exporter", "2.0.0", pb)],
    );
    (f, pa, pb, m1, m2)
}

#[test]
fn atomic_switch_undoes_every_step_when_one_fails() {
    let (f, pa, pb, m1, m2) = two_exporters(Behaviour::WrongVersion);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.expect(
        &[
            "switch",
            m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            "off",
            "--atomic",
        ],
        1,
    );
    assert!(out.contains("rolled-back"), "{out}");
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
    assert_eq!(f.json(&["generations"])["current"], 1);
    let status = f.json(&["status"]);
    assert_eq!(status["last_switch"]["status"], "rolled-back");

    // Without --atomic the good step stays: a partial generation.
    let out = f.expect(
        &["switch", m2.to_str().unwrap(), "--mode", "fast", "--preflight", "off"],
        1,
    );
    assert!(out.contains("partial"), "{out}");
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("2.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 2);
    assert_eq!(gens["generations"][1]["outcome"], "partial");
    assert_eq!(gens["generations"][1]["failed_steps"][0]["name"], "b_exporter");
}

#[test]
fn a_failed_atomic_switch_keeps_not_even_its_health_only_changes() {
    let (f, pa, pb, m1, _) = two_exporters(Behaviour::Crash);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    // a: only its health check changes; b: a release that crashes.
    let m3 = f.manifest(
        "m3.yaml",
        &[
            f.entry("a_exporter", "1.0.0", pa)
                .replace("timeout: 10s", "timeout: 20s"),
            f.entry("b_exporter", "2.0.0", pb),
        ],
    );
    f.expect(
        &[
            "switch",
            m3.to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            "off",
            "--atomic",
        ],
        1,
    );
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 1, "{gens}");
    assert_eq!(gens["generations"].as_array().unwrap().len(), 1, "{gens}");
    // Listed once: as a failed attempt, since it made no generation.
    assert_eq!(gens["failed_attempts"].as_array().unwrap().len(), 1, "{gens}");
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
    let plan = f.json(&["switch", m3.to_str().unwrap(), "--dry-run"]);
    assert_eq!(plan["no_restart"], serde_json::json!(["a_exporter"]), "{plan}");
}

#[test]
fn rollback_never_replaces_a_file_placed_by_hand_since() {
    let (f, pa, pb, m1, _) = two_exporters(Behaviour::Ok);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let only_a = f.manifest("a.yaml", &[f.entry("a_exporter", "1.0.0", pa)]);
    f.ok(&["switch", only_a.to_str().unwrap(), "--mode", "fast"]);
    // Someone installs b by hand while generation 2 does not have it.
    let (hand, script) = f.hand_place("b_exporter", "9.9.9");
    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to replace"));
    assert_eq!(std::fs::read_to_string(&hand).unwrap(), script);
    assert!(std::fs::symlink_metadata(&hand).unwrap().is_file());
    assert_eq!(f.json(&["generations"])["current"], 2);
    std::fs::remove_file(&hand).unwrap();
    f.ok(&["rollback"]);
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
}

#[test]
fn a_second_concurrent_switch_fails_at_once() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::SlowStart);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", port)]);
    // Holds the lock once its journal appears.
    let first = f.spawn_switch(&m);
    let started = std::time::Instant::now();
    let out = f.run(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another exporterctl"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "it waited instead of failing at once"
    );
    assert!(first.wait_with_output().unwrap().status.success());
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn adopt_a_hand_placed_binary_then_roll_back_to_it() {
    let mut f = Fixture::new();
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    let (hand, _) = f.hand_place(N, "0.9.0");

    let m = f.manifest("m.yaml", &[f.entry(N, "2.0.0", port)]);
    // Switching over a file exporterctl did not create is refused.
    let out = f.run(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adopt"));

    let out = f.ok(&["adopt", m.to_str().unwrap()]);
    assert!(out.contains("0.9.0"), "{out}");
    assert!(std::fs::symlink_metadata(&hand).unwrap().file_type().is_symlink());
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 1);
    assert_eq!(gens["generations"][0]["exporters"][N], "0.9.0");
    assert_eq!(gens["generations"][0]["origin"], "adopt");

    f.ok(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    f.ok(&["rollback", "--to", "1"]);
    assert_eq!(served_version(N, port).as_deref(), Some("0.9.0"));
    f.assert_links_resolve();
}

#[test]
fn dry_run_changes_nothing_not_even_the_store() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", port)]);
    let out = f.ok(&["switch", m.to_str().unwrap(), "--dry-run"]);
    assert!(out.contains("add 1.0.0"), "{out}");
    let plan = f.json(&["switch", m.to_str().unwrap(), "--dry-run"]);
    assert_eq!(plan["steps"][0]["action"], "add");
    assert_eq!(plan["from_generation"], Value::Null);
    assert_eq!(f.server.request_count(), 0);
    assert!(!f.state().exists(), "the dry run created {}", f.state().display());
    assert!(served_version(N, port).is_none());
}

#[test]
fn only_switches_the_named_exporters_and_removed_exporters_are_stopped() {
    let (f, pa, pb, m1, m2) = two_exporters(Behaviour::Ok);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let plan = f.json(&["switch", m2.to_str().unwrap(), "--dry-run", "--only", "b_exporter"]);
    assert_eq!(plan["steps"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["steps"][0]["name"], "b_exporter");
    assert_eq!(plan["unchanged"], json!(["a_exporter"]));
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast", "--only", "b_exporter"]);
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("2.0.0"));
    let out = f.run(&["switch", m2.to_str().unwrap(), "--only", "c_exporter"]);
    assert_eq!(out.status.code(), Some(2));

    // b leaves the manifest: it is stopped and its link removed.
    let m3 = f.manifest("m3.yaml", &[f.entry("a_exporter", "1.0.0", pa)]);
    let out = f.run(&["switch", m3.to_str().unwrap(), "--mode", "fast"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("remove 2.0.0"), "{stdout}");
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("b_exporter: stopped and removed"), "{stderr}");
    assert!(served_version("b_exporter", pb).is_none());
    assert!(std::fs::symlink_metadata(f.root().join("usr/local/bin/b_exporter")).is_err());
    f.assert_links_resolve();
    // And rollback brings it back.
    f.ok(&["rollback"]);
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("2.0.0"));
    f.assert_links_resolve();
}

/// `m1` and `m2` differ only in a health setting (the check's timeout).
fn health_only_change() -> (Fixture, std::path::PathBuf, std::path::PathBuf) {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest(
        "m2.yaml",
        &[f.entry(N, "1.0.0", port).replace("timeout: 10s", "timeout: 20s")],
    );
    (f, m1, m2)
}

#[test]
fn a_change_that_needs_no_restart_makes_a_generation_without_restarting() {
    let (f, m1, m2) = health_only_change();
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let pid = f.pid(N);
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(f.pid(N), pid, "a new health timeout restarted the exporter");
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 2);
    // Rolling back between them restarts nothing either, and does switch.
    f.ok(&["rollback"]);
    assert_eq!(f.json(&["generations"])["current"], 1);
    assert_eq!(f.pid(N), pid);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn read_commands_on_a_fresh_host_create_nothing() {
    let f = Fixture::new();
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], serde_json::Value::Null);
    assert_eq!(f.json(&["status"])["exporters"], serde_json::json!([]));
    assert_eq!(f.json(&["store", "ls"]), serde_json::json!([]));
    assert_eq!(f.json(&["store", "verify"])["checked"], 0);
    assert_eq!(f.run(&["diff", "1", "2"]).status.code(), Some(2));
    assert!(!f.state().exists(), "a read command created {}", f.state().display());
}

/// Installs `N` `version` by hand, as `adopt` expects to find it: the
/// release's binary byte for byte in bin_dir, and a hand-written unit file.
fn place_by_hand(f: &Fixture, version: &str) {
    f.hand_place(N, version);
    let units = f.root().join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join(format!("{N}.service")),
        "[Service]\nExecStart=/usr/local/bin/x\n",
    )
    .unwrap();
}

/// The plan block a switch prints: `plan (N steps):` and its indented lines.
fn plan_block(out: &str) -> Vec<&str> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("plan ("));
    let head = lines.next().into_iter();
    head.chain(lines.take_while(|l| l.starts_with("  "))).collect()
}

#[test]
fn after_adopt_the_dry_run_says_nothing_to_do_like_the_real_switch() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    place_by_hand(&f, "1.0.0");
    let m = f.manifest("v1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m = m.to_str().unwrap();
    // Before adopt the dry run refuses just as the real switch does.
    let out = f.run(&["switch", m, "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adopt"));

    f.ok(&["adopt", m]);
    for _ in 0..2 {
        let dry = f.ok(&["switch", m, "--dry-run"]);
        assert!(dry.starts_with("dry run: nothing to do"), "{dry}");
        let plan = f.json(&["switch", m, "--dry-run"]);
        assert_eq!(plan["nothing_to_do"], true);
        assert_eq!(plan["steps"], json!([]));
        assert_eq!(plan["from_generation"], 1);
        // Only the download can tell whether the adopted binary is the release.
        assert_eq!(
            plan["downloads"],
            json!([{"name": N, "version": "1.0.0", "assumed_unchanged": true}])
        );
        let real = f.ok(&["switch", m, "--mode", "fast"]);
        assert!(real.starts_with("nothing to do"), "{real}");
        assert_eq!(f.json(&["generations"])["generations"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn a_health_only_change_is_announced_by_the_dry_run_and_made_by_the_switch() {
    let (f, m1, m2) = health_only_change();
    let m2 = m2.to_str().unwrap();
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let pid = f.pid(N);

    let announced = format!("new generation, no restart: health settings of {N}");
    let dry = f.ok(&["switch", m2, "--dry-run"]);
    assert!(dry.contains(&announced), "{dry}");
    assert!(!dry.contains("nothing to do"), "{dry}");
    let plan = f.json(&["switch", m2, "--dry-run"]);
    assert_eq!(plan["nothing_to_do"], false);
    assert_eq!(plan["steps"], json!([]));
    assert_eq!(plan["no_restart"], json!([N]));
    assert_eq!(plan["unchanged"], json!([]));
    assert_eq!(plan["downloads"], json!([]));

    let real = f.ok(&["switch", m2, "--mode", "fast"]);
    assert!(real.contains(&announced), "{real}");
    assert_eq!(f.json(&["generations"])["current"], 2);
    assert_eq!(f.pid(N), pid, "a new health timeout restarted the exporter");
    assert_eq!(f.json(&["switch", m2, "--dry-run"])["nothing_to_do"], true);
}

#[test]
fn an_upgrade_dry_run_lists_the_steps_the_real_switch_prints() {
    let (f, pa, pb, m1, _) = two_exporters(Behaviour::Ok);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let m = f.manifest(
        "a2.yaml",
        &[f.entry("a_exporter", "2.0.0", pa), f.entry("b_exporter", "1.0.0", pb)],
    );
    let m = m.to_str().unwrap();
    let store_before = f.json(&["store", "ls"]);
    f.server.clear_requests();

    let dry = f.ok(&["switch", m, "--dry-run"]);
    assert!(dry.contains("would download: a_exporter 2.0.0\n"), "{dry}");
    let plan = f.json(&["switch", m, "--dry-run"]);
    assert_eq!(f.server.request_count(), 0, "{:?}", f.server.requests());
    assert_eq!(f.json(&["store", "ls"]), store_before);
    assert_eq!(
        plan["steps"],
        json!([{"name": "a_exporter", "action": "upgrade", "from_version": "1.0.0", "to_version": "2.0.0"}])
    );
    assert_eq!(plan["unchanged"], json!(["b_exporter"]));
    assert_eq!(
        plan["downloads"],
        json!([{"name": "a_exporter", "version": "2.0.0", "assumed_unchanged": false}])
    );

    let real = f.ok(&["switch", m, "--mode", "fast"]);
    let planned = plan_block(&dry);
    assert_eq!(planned.len(), 3, "{dry}");
    assert_eq!(planned, plan_block(&real), "dry run:\n{dry}\nswitch:\n{real}");
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("2.0.0"));
}

#[test]
fn json_prints_the_finished_records_of_switch_and_rollback() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    f.publish(N, "2.0.0", Behaviour::Crash);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(N, "2.0.0", port)]);
    let m1 = m1.to_str().unwrap();

    let rec = f.json(&["switch", m1, "--mode", "fast"]);
    assert_eq!(rec["kind"], "switch");
    assert_eq!(rec["status"], "succeeded");
    assert_eq!(rec["manifest"], m1);
    assert_eq!(rec["result_generation"], 1);
    assert_eq!(rec["steps"][0]["name"], N);
    assert_eq!(rec["steps"][0]["action"], "add");
    assert_eq!(rec["steps"][0]["status"], "succeeded");
    // It is the record history keeps.
    let id = rec["id"].as_str().unwrap();
    let kept = std::fs::read_to_string(f.state().join(format!("switches/{id}.json"))).unwrap();
    let mut printed = rec.clone();
    let printed_map = printed.as_object_mut().unwrap();
    assert_eq!(printed_map.remove("schema"), Some(json!("exporterctl/record/v1")));
    assert_eq!(printed_map.remove("nothing_to_do"), Some(json!(false)));
    assert_eq!(serde_json::from_str::<Value>(&kept).unwrap(), printed);
    // Nothing to do: no record, an object that says so.
    let noop = f.json(&["switch", m1, "--mode", "fast"]);
    assert_eq!(noop["schema"], "exporterctl/record/v1");
    assert_eq!(noop["nothing_to_do"], true);
    assert!(noop.get("id").is_none(), "{noop}");

    // A failed switch prints its record too, with exit status 1.
    let out = f.expect(
        &[
            "switch",
            m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            "off",
            "--json",
        ],
        1,
    );
    let failed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["steps"][0]["status"], "failed");
    assert!(failed["steps"][0]["reason"].as_str().unwrap().contains("rolled back"));
    assert_eq!(failed["result_generation"], 1);

    let m3 = f.manifest(
        "m3.yaml",
        &[f.entry(N, "1.0.0", port).replace("timeout: 10s", "timeout: 11s")],
    );
    assert_eq!(
        f.json(&["switch", m3.to_str().unwrap(), "--mode", "fast"])["result_generation"],
        2
    );
    let back = f.json(&["rollback"]);
    assert_eq!(back["kind"], "rollback");
    assert_eq!(back["status"], "succeeded");
    assert_eq!(back["target_generation"], 1);
    assert_eq!(back["result_generation"], 1);
    assert_eq!(f.json(&["rollback", "--to", "1"])["nothing_to_do"], true);
    assert_eq!(f.json(&["resume"])["nothing_to_do"], true);
}

#[test]
fn a_dry_run_compares_generated_units_without_writing_them() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let managed = |extra: &str| {
        f.entry(N, "1.0.0", port)
            .replace("    args:", &format!("    manage_unit: true\n{extra}    args:"))
    };
    let m1 = f.manifest("m1.yaml", &[managed("")]);
    // A new environment: another unit text (and another process environment).
    let m2 = f.manifest("m2.yaml", &[managed("    environment: { GREETING: hello }\n")]);
    let (m1, m2) = (m1.to_str().unwrap(), m2.to_str().unwrap());
    f.ok(&["switch", m1, "--mode", "fast"]);
    assert!(f.root().join(format!("etc/systemd/system/{N}.service")).exists());
    assert!(f.ok(&["switch", m1, "--dry-run"]).starts_with("dry run: nothing to do"));

    // A new unit text, whose store path the dry run computes without adding it.
    let store_before = f.json(&["store", "ls"]);
    let dry = f.ok(&["switch", m2, "--dry-run"]);
    assert_eq!(f.json(&["store", "ls"]), store_before, "the dry run added to the store");
    let real = f.ok(&["switch", m2, "--mode", "fast"]);
    assert_eq!(
        plan_block(&dry),
        vec!["plan (1 step):", &format!("  {N:<28} reconfigure 1.0.0")]
    );
    assert_eq!(plan_block(&dry), plan_block(&real), "{real}");
}

/// Spawns a switch and returns once `name`'s step has started its process:
/// the journal is written before the first step begins, so a signal sent on
/// the journal alone can land before any step (and rightly skip them all).
fn spawn_switch_in_step(f: &Fixture, m: &std::path::Path, name: &str) -> std::process::Child {
    let mut child = f.spawn_switch(m);
    for _ in 0..3000 {
        if f.pid(name).is_some() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output();
    panic!("the step of {name} never started its process: {out:?}");
}

fn sigint(child: &std::process::Child) {
    use nix::sys::signal::{kill, Signal};
    kill(nix::unistd::Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
}

#[test]
fn ctrl_c_finishes_the_step_in_progress_and_records_what_was_done() {
    let mut f = Fixture::new();
    f.publish("a_exporter", "1.0.0", Behaviour::SlowStart);
    f.publish("b_exporter", "1.0.0", Behaviour::Ok);
    let (pa, pb) = (free_port(), free_port());
    // One at a time (a fast switch runs them side by side: see below).
    let m = with_settings(
        &f,
        "m.yaml",
        &[f.entry("a_exporter", "1.0.0", pa), f.entry("b_exporter", "1.0.0", pb)],
        "  parallel: 1\n",
    );
    let child = spawn_switch_in_step(&f, &m, "a_exporter");
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("stopping after the current step"), "{stderr}");
    assert!(stdout.contains("stopped"), "{stdout}");
    // a's step ran to its healthy end; b was never started; no repair needed.
    assert_eq!(
        served_version("a_exporter", pa).as_deref(),
        Some("1.0.0"),
        "{stdout}\n{stderr}"
    );
    assert!(served_version("b_exporter", pb).is_none());
    assert!(!f.state().join("journal.json").exists());
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 1);
    assert_eq!(
        gens["generations"][0]["exporters"],
        serde_json::json!({"a_exporter": "1.0.0"})
    );
    assert_eq!(f.json(&["status"])["last_switch"]["status"], "stopped");
    f.assert_links_resolve();
    // The next switch simply carries on.
    f.ok(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
}

#[test]
fn a_second_ctrl_c_stops_at_once_and_resume_repairs() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::SlowStart);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", port)]);
    let child = spawn_switch_in_step(&f, &m, N);
    sigint(&child);
    std::thread::sleep(std::time::Duration::from_millis(100));
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(f.state().join("journal.json").exists());
    f.assert_links_resolve();
    f.ok(&["resume"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

/// A `process` manifest of `entries` with `settings` (two-space indented lines) added.
fn with_settings(f: &Fixture, file: &str, entries: &[String], settings: &str) -> std::path::PathBuf {
    let path = f.manifest(file, entries);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("settings:\n", &format!("settings:\n{settings}"), 1);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_changed_bin_dir_unit_dir_or_service_manager_is_refused_before_anything_moves() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let entries = [f.entry(N, "1.0.0", port)];
    let m1 = f.manifest("m1.yaml", &entries);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let pid = f.pid(N);
    let before = std::fs::read_link(f.state().join("profiles/system")).unwrap();

    // It reported "succeeded → generation 2" and changed nothing.
    for (file, setting, want) in [
        (
            "bin.yaml",
            "  bin_dir: /opt/exporters\n",
            "/bin.yaml:3:12: settings.bin_dir: `/opt/exporters` differs from /usr/local/bin, where the installed exporters (test_exporter) are linked",
        ),
        (
            "units.yaml",
            "  unit_dir: /run/systemd/system\n",
            "/units.yaml:3:13: settings.unit_dir: `/run/systemd/system` differs from /etc/systemd/system",
        ),
    ] {
        let m = with_settings(&f, file, &entries, setting);
        for dry in [true, false] {
            let mut args = vec!["switch", m.to_str().unwrap(), "--mode", "fast"];
            if dry {
                args.push("--dry-run");
            }
            let out = f.run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: expected `{want}` in:\n{err}");
            assert!(err.contains("nothing was changed"), "{err}");
        }
    }
    let m = f.manifest("m3.yaml", &entries);
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("service_manager: process", "service_manager: none");
    std::fs::write(&m, text).unwrap();
    let out = f.run(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "3:20: settings.service_manager: `none` differs from `process`, which runs the installed exporters"
        ),
        "{err}"
    );

    assert!(!f.root().join("opt/exporters").exists());
    assert_eq!(f.json(&["generations"])["generations"].as_array().unwrap().len(), 1);
    assert_eq!(std::fs::read_link(f.state().join("profiles/system")).unwrap(), before);
    assert_eq!(f.pid(N), pid, "the exporter was restarted");
    f.assert_links_resolve();
    assert!(f.root().join("usr/local/bin").join(N).exists());
}

#[test]
fn a_bin_dir_that_leads_into_the_state_directory_through_a_symlink_is_refused() {
    let mut f = Fixture::new();
    // An exporter named `system` linked in profiles/ would replace the profile link.
    f.publish("system", "1.0.0", Behaviour::Ok);
    // Dangling until the state directory exists: what it will resolve to counts.
    std::fs::create_dir_all(f.root().join("srv")).unwrap();
    std::os::unix::fs::symlink("../var/lib/exporterctl/profiles", f.root().join("srv/bin")).unwrap();
    let m = with_settings(
        &f,
        "m.yaml",
        &[f.entry("system", "1.0.0", free_port())],
        "  bin_dir: /srv/bin\n",
    );
    for args in [
        &["switch", m.to_str().unwrap(), "--mode", "fast"][..],
        &["adopt", m.to_str().unwrap()],
    ] {
        let out = f.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("m.yaml:3:12: settings.bin_dir: `/srv/bin` resolves to")
                && err.contains("inside exporterctl's state directory"),
            "{args:?}: {err}"
        );
    }
    assert!(!f.state().join("profiles").exists(), "something was changed");
}

/// Sends `GET /metrics?sleep_ms=…` to the exporter on `port` and returns
/// the connection, its answer still to come.
fn slow_scrape(port: u16, sleep_ms: u64) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /metrics?sleep_ms={sleep_ms} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s
}

/// The whole answer on `s`: status line, headers and a body as long as its
/// `Content-Length` says.
fn complete_answer(mut s: std::net::TcpStream) -> (String, String) {
    use std::io::Read;
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert_eq!(body.len(), len, "cut answer: {text:?}");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

#[test]
fn a_restart_waits_for_the_scrape_in_flight_and_not_for_an_idle_connection() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(N, "2.0.0", port)]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);

    // A scrape of 1.0.0 is being answered when the switch to 2.0.0 begins:
    // the restart waits for it, so the scraper gets all of 1.0.0's answer.
    let scrape = slow_scrape(port, 700);
    let rec = f.json(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(rec["status"], "succeeded");
    let drain = &rec["steps"][0]["drain"];
    assert_eq!(drain["ports"], json!([port]));
    assert_eq!(drain["in_flight"], 1, "{rec:#}");
    assert_eq!(drain["timed_out"], false);
    let (status, body) = complete_answer(scrape);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains(&format!("{N}_build_info{{version=\"1.0.0\"")), "{body}");
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));

    // An open connection with nothing asked is not a scrape: the rollback
    // (the same engine) restarts without waiting.
    let idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let back = f.json(&["rollback"]);
    assert_eq!(back["status"], "succeeded");
    assert_eq!(
        back["steps"][0]["drain"],
        json!({"ports": [port], "in_flight": 0, "waited_ms": 0, "timed_out": false})
    );
    drop(idle);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn a_scrape_longer_than_the_drain_bound_does_not_hold_the_restart() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let short = f
        .entry(N, "2.0.0", port)
        .replace("      timeout: 10s\n", "      timeout: 10s\n      drain: 100ms\n");
    assert!(short.contains("drain: 100ms"));
    let m2 = f.manifest("m2.yaml", &[short]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);

    let _scrape = slow_scrape(port, 10_000);
    let out = f.run(&["switch", m2.to_str().unwrap(), "--mode", "fast", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let drain = &rec["steps"][0]["drain"];
    assert_eq!(drain["in_flight"], 1, "{rec:#}");
    assert_eq!(drain["timed_out"], true);
    assert!(
        stderr.contains(&format!(
            "{N}: scrapes still in flight on port {port} after 100ms; restarting anyway"
        )),
        "{stderr}"
    );
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
}

/// Three exporters at `versions` (name, version, behaviour) on their own
/// ports, one manifest per list of versions.
fn phase(f: &mut Fixture, versions: &[&[(&str, Behaviour)]], settings: &str) -> (Vec<u16>, Vec<std::path::PathBuf>) {
    let names = ["a_exporter", "b_exporter", "c_exporter"];
    let ports: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let manifests = versions
        .iter()
        .enumerate()
        .map(|(k, list)| {
            let entries: Vec<String> = names
                .iter()
                .zip(&ports)
                .zip(list.iter())
                .map(|((n, p), (v, b))| {
                    f.publish(n, v, *b);
                    f.entry(n, v, *p)
                })
                .collect();
            with_settings(f, &format!("phase{}.yaml", k + 1), &entries, settings)
        })
        .collect();
    (ports, manifests)
}

#[test]
fn a_fast_switch_starts_the_next_exporter_while_the_first_is_still_coming_up() {
    let mut f = Fixture::new();
    let slow = [("1.0.0", Behaviour::SlowStart); 3];
    let (ports, m) = phase(&mut f, &[&slow], "");
    let mut child = f.spawn_switch(&m[0]);
    // One at a time, b's process could only start once a answers (its
    // step ends healthy); side by side, both run while a is still silent.
    let mut overlapped = false;
    for _ in 0..3000 {
        let a_silent = served_version("a_exporter", ports[0]).is_none();
        if f.pid("a_exporter").is_some() && f.pid("b_exporter").is_some() && a_silent {
            overlapped = true;
            break;
        }
        if !a_silent || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(overlapped, "b's step did not start while a's was in flight");
    for (n, p) in ["a_exporter", "b_exporter", "c_exporter"].iter().zip(&ports) {
        assert_eq!(served_version(n, *p).as_deref(), Some("1.0.0"), "{n}");
    }
    let record = f.json(&["status"])["last_switch"].clone();
    assert_eq!(record["status"], "succeeded", "{record}");
}

#[test]
fn each_step_of_a_fast_switch_has_its_own_result_and_rollback() {
    let mut f = Fixture::new();
    let ok = Behaviour::Ok;
    let v1 = [("1.0.0", ok); 3];
    let v2 = [("2.0.0", ok), ("2.0.0", Behaviour::Crash), ("2.0.0", ok)];
    let (ports, m) = phase(&mut f, &[&v1, &v2], "");
    let (m1, m2) = (m[0].to_str().unwrap(), m[1].to_str().unwrap());
    f.ok(&["switch", m1, "--mode", "fast"]);
    let out = f.expect(&["switch", m2, "--mode", "fast", "--preflight", "off", "--json"], 1);
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["status"], "partial", "{record}");
    let status = |i: usize| record["steps"][i]["status"].as_str().unwrap().to_string();
    assert_eq!([status(0), status(1), status(2)], ["succeeded", "failed", "succeeded"]);
    assert!(
        record["steps"][1]["reason"].as_str().unwrap().contains("healthy again"),
        "{record}"
    );
    let want = ["2.0.0", "1.0.0", "2.0.0"];
    for ((n, p), v) in ["a_exporter", "b_exporter", "c_exporter"].iter().zip(&ports).zip(want) {
        assert_eq!(served_version(n, *p).as_deref(), Some(v), "{n}");
    }
    let gens = f.json(&["generations"]);
    assert_eq!(
        gens["generations"][1]["exporters"],
        serde_json::json!({"a_exporter": "2.0.0", "b_exporter": "1.0.0", "c_exporter": "2.0.0"})
    );
    f.assert_links_resolve();

    // --atomic undoes every step, the ones that succeeded side by side too.
    f.ok(&["rollback"]);
    let out = f.expect(
        &[
            "switch",
            m2,
            "--mode",
            "fast",
            "--preflight",
            "off",
            "--atomic",
            "--json",
        ],
        1,
    );
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["status"], "rolled-back", "{record}");
    for (n, p) in ["a_exporter", "b_exporter", "c_exporter"].iter().zip(&ports) {
        assert_eq!(served_version(n, *p).as_deref(), Some("1.0.0"), "{n}");
    }
    assert!(!f.state().join("journal.json").exists());
    f.assert_links_resolve();
}

#[test]
fn a_rollback_returns_every_exporter_side_by_side() {
    let mut f = Fixture::new();
    let v1 = [("1.0.0", Behaviour::Ok); 3];
    let v2 = [("2.0.0", Behaviour::SlowStart); 3];
    let (ports, m) = phase(&mut f, &[&v1, &v2], "");
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    // Back to 2.0.0 (slow to start): both a's and b's processes run while a
    // is still silent, which one at a time cannot happen.
    f.ok(&["rollback"]);
    let pids = |f: &Fixture| (f.pid("a_exporter"), f.pid("b_exporter"));
    let before = pids(&f);
    let mut child = f
        .command(&["rollback", "--to", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut overlapped = false;
    for _ in 0..3000 {
        let (a, b) = pids(&f);
        let a_silent = served_version("a_exporter", ports[0]).is_none();
        if a != before.0 && b != before.1 && a.is_some() && b.is_some() && a_silent {
            overlapped = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(overlapped, "the rollback returned one exporter at a time");
    for (n, p) in ["a_exporter", "b_exporter", "c_exporter"].iter().zip(&ports) {
        assert_eq!(served_version(n, *p).as_deref(), Some("2.0.0"), "{n}");
    }
    assert_eq!(f.json(&["generations"])["current"], 2);
    // One at a time when asked.
    f.ok(&["rollback", "--parallel", "1"]);
    assert_eq!(served_version("c_exporter", ports[2]).as_deref(), Some("1.0.0"));
}

#[test]
fn ctrl_c_in_a_fast_switch_finishes_the_steps_in_flight_and_starts_no_other() {
    let mut f = Fixture::new();
    let slow = [("1.0.0", Behaviour::SlowStart); 3];
    let (ports, m) = phase(&mut f, &[&slow], "  parallel: 2\n");
    let mut child = f.spawn_switch(&m[0]);
    for _ in 0..3000 {
        if f.pid("a_exporter").is_some() && f.pid("b_exporter").is_some() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the switch ended before its steps overlapped"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    // Both steps in flight ran to their healthy end; c never started.
    assert_eq!(served_version("a_exporter", ports[0]).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b_exporter", ports[1]).as_deref(), Some("1.0.0"));
    assert!(f.pid("c_exporter").is_none(), "{stdout}");
    assert!(!f.state().join("journal.json").exists());
    let gens = f.json(&["generations"]);
    assert_eq!(
        gens["generations"][0]["exporters"],
        serde_json::json!({"a_exporter": "1.0.0", "b_exporter": "1.0.0"})
    );
    assert_eq!(f.json(&["status"])["last_switch"]["status"], "stopped");
    f.assert_links_resolve();
}

#[test]
fn parallel_is_bounded_and_only_for_fast_mode() {
    let mut f = Fixture::new();
    let (_, m) = phase(&mut f, &[&[("1.0.0", Behaviour::Ok); 3]], "  parallel: 0\n");
    let stderr = |out: std::process::Output| (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned());
    let (code, err) = stderr(f.run(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("phase1.yaml:3:13: settings.parallel: `0` is not between 1 and 64"),
        "{err}"
    );
    let text = std::fs::read_to_string(&m[0])
        .unwrap()
        .replace("parallel: 0", "parallel: 2");
    std::fs::write(&m[0], text).unwrap();
    let m = m[0].to_str().unwrap();
    let (code, err) = stderr(f.run(&["switch", m, "--mode", "standard", "--parallel", "2", "-y"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--parallel needs --mode fast"), "{err}");
    let (code, _) = stderr(f.run(&["switch", m, "--mode", "fast", "--parallel", "65"]));
    assert_eq!(code, Some(2));
    assert!(f.pid("a_exporter").is_none(), "a refused switch started something");
    f.ok(&["switch", m, "--mode", "fast", "--parallel", "3"]);
}

//! Switch, generations, rollback, gc and adopt through the real CLI, on the
//! `process` service manager under a temporary `--root`, with releases served
//! by the local release server.

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};

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
    let out = f.expect(&["switch", m3.to_str().unwrap(), "--mode", "fast"], 1);
    assert!(out.contains("failed"), "{out}");
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
    let out = f.expect(&["switch", m2.to_str().unwrap(), "--mode", "fast", "--atomic"], 1);
    assert!(out.contains("rolled-back"), "{out}");
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
    assert_eq!(f.json(&["generations"])["current"], 1);
    let status = f.json(&["status"]);
    assert_eq!(status["last_switch"]["status"], "rolled-back");

    // Without --atomic the good step stays: a partial generation.
    let out = f.expect(&["switch", m2.to_str().unwrap(), "--mode", "fast"], 1);
    assert!(out.contains("partial"), "{out}");
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("2.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("1.0.0"));
    let gens = f.json(&["generations"]);
    assert_eq!(gens["current"], 2);
    assert_eq!(gens["generations"][1]["outcome"], "partial");
    assert_eq!(gens["generations"][1]["failed_steps"][0]["name"], "b_exporter");
}

#[test]
fn a_second_concurrent_switch_fails_at_once() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::SlowStart);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", port)]);
    let mut first = std::process::Command::new(common::fixture::EXE)
        .arg("--root")
        .arg(f.root())
        .args(["switch", m.to_str().unwrap(), "--mode", "fast"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first one holds the lock (its journal appears).
    let journal = f.state().join("journal.json");
    for _ in 0..500 {
        if journal.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(journal.exists(), "the first switch never started");
    let started = std::time::Instant::now();
    let out = f.run(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another exporterctl"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "it waited instead of failing at once"
    );
    assert!(first.wait().unwrap().success());
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn adopt_a_hand_placed_binary_then_roll_back_to_it() {
    let mut f = Fixture::new();
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    // Installed by hand: a plain file in bin_dir.
    let bin = f.root().join("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let hand = bin.join(N);
    std::fs::write(&hand, common::fixture::wrapper_script(N, "0.9.0", Behaviour::Ok)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hand, std::fs::Permissions::from_mode(0o755)).unwrap();

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
    assert_eq!(f.server.request_count(), 0);
    assert!(!f.state().join("store").exists());
    assert!(served_version(N, port).is_none());
}

#[test]
fn only_switches_the_named_exporters_and_removed_exporters_are_stopped() {
    let (f, pa, pb, m1, m2) = two_exporters(Behaviour::Ok);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast", "--only", "b_exporter"]);
    assert_eq!(served_version("a_exporter", pa).as_deref(), Some("1.0.0"));
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("2.0.0"));
    let out = f.run(&["switch", m2.to_str().unwrap(), "--only", "c_exporter"]);
    assert_eq!(out.status.code(), Some(2));

    // b leaves the manifest: it is stopped and its link removed.
    let m3 = f.manifest("m3.yaml", &[f.entry("a_exporter", "1.0.0", pa)]);
    let out = f.ok(&["switch", m3.to_str().unwrap(), "--mode", "fast"]);
    assert!(out.contains("remove 2.0.0"), "{out}");
    assert!(served_version("b_exporter", pb).is_none());
    assert!(std::fs::symlink_metadata(f.root().join("usr/local/bin/b_exporter")).is_err());
    f.assert_links_resolve();
    // And rollback brings it back.
    f.ok(&["rollback"]);
    assert_eq!(served_version("b_exporter", pb).as_deref(), Some("2.0.0"));
    f.assert_links_resolve();
}

#[test]
fn a_change_that_needs_no_restart_makes_a_generation_without_restarting() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest(
        "m2.yaml",
        &[f.entry(N, "1.0.0", port).replace("timeout: 10s", "timeout: 20s")],
    );
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

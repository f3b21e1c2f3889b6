//! Damaged state: a journal, counter, generation or switch record that
//! cannot be read, a missing profile link, a switch running while another
//! command looks. Each must get a clear report and a way out, never a bare
//! parse error or a wedged host. Needs `--features fault-injection`.
#![cfg(feature = "fault-injection")]

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

const N: &str = "test_exporter";

/// A host at generation 2 (2.0.0) with generation 1 (1.0.0) before it.
fn two_generations() -> (Fixture, u16, Vec<PathBuf>) {
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    (f, port, m)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Generation 1 current, then a switch to 2.0.0 killed at `point`.
fn interrupted_at(point: &str) -> (Fixture, u16, Vec<PathBuf>) {
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    let out = f.run_env(
        &["switch", m[1].to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", point)],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", stderr(&out));
    assert!(f.state().join("journal.json").exists());
    (f, port, m)
}

#[test]
fn an_empty_journal_is_reported_and_abort_returns_to_the_linked_generation() {
    let (f, port, m) = interrupted_at("after-journal");
    let journal = f.state().join("journal.json");
    std::fs::write(&journal, b"").unwrap();

    // status reports it, with the file and the way out.
    let out = f.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&journal.display().to_string()), "{text}");
    assert!(text.contains("damaged") && text.contains("resume --abort"), "{text}");
    let json = f.json(&["status"]);
    assert!(
        json["journal_damaged"].as_str().unwrap().contains("generation 1"),
        "{json}"
    );

    // Changes are refused (exit 3), saying the same.
    let out = f.run(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("damaged") && stderr(&out).contains("resume --abort"),
        "{}",
        stderr(&out)
    );
    // resume cannot finish what it cannot read.
    let out = f.run(&["resume"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("resume --abort"), "{}", stderr(&out));

    // verify still checks every path, and says what it could not.
    let out = f.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("is damaged"), "{}", stdout(&out));

    let out = f.ok(&["resume", "--abort"]);
    assert!(out.contains("back at generation 1, healthy"), "{out}");
    assert!(!journal.exists());
    let aside: Vec<_> = std::fs::read_dir(f.state())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal.json.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
}

#[test]
fn a_truncated_journal_after_the_flip_is_set_aside_then_rollback_to_picks_the_generation() {
    let (f, port, _m) = interrupted_at("after-flip");
    let journal = f.state().join("journal.json");
    let text = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &text[..text.len() / 2]).unwrap();

    let out = f.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("rollback --to"), "{}", stdout(&out));
    let out = f.ok(&["resume", "--abort"]);
    assert!(out.contains("rollback --to N"), "{out}");
    assert!(!journal.exists());
    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to N"), "{}", stderr(&out));
    f.ok(&["rollback", "--to", "1"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    assert_eq!(f.json(&["generations"])["current"], 1);
    f.assert_links_resolve();
}

#[test]
fn a_damaged_counter_is_refused_before_anything_changes() {
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    let pid = f.pid(N);
    let counter = f.state().join("next-generation");
    std::fs::write(&counter, "garbage\n").unwrap();
    let out = f.run(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&counter.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("echo 2 >"), "{}", stderr(&out));
    assert!(!f.state().join("journal.json").exists(), "a journal was left");
    assert_eq!(f.pid(N), pid, "the exporter was restarted");
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    std::fs::write(&counter, "2\n").unwrap();
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(f.json(&["generations"])["current"], 2);
}

#[test]
fn a_damaged_generation_record_is_reported_kept_by_gc_and_still_rolled_back_to() {
    let (f, port, _m) = two_generations();
    let record = f.state().join("generations/1.json");
    std::fs::write(&record, b"{ \"number\": 1, \"created").unwrap();
    let farm1 = std::fs::read_link(f.state().join("profiles/system-1-link")).unwrap();
    let farm1 = farm1.file_name().unwrap().to_string_lossy().into_owned();

    let out = f.ok(&["generations"]);
    assert!(out.contains(&record.display().to_string()), "{out}");
    let gens = f.json(&["generations"]);
    assert_eq!(gens["generations"].as_array().unwrap().len(), 1, "{gens}");
    assert_eq!(gens["damaged_generations"][0]["number"], 1, "{gens}");

    // gc keeps what it cannot prove unreferenced: generation 1 and its paths.
    let out = f.ok(&["gc", "--keep", "1"]);
    assert!(out.contains("kept generation 1"), "{out}");
    let left = f.store_paths();
    assert!(left.contains(&farm1), "{out}");
    assert!(left.iter().any(|p| p.ends_with("-test_exporter-1.0.0")), "{out}");
    assert!(f.state().join("profiles/system-1-link").exists());

    f.ok(&["rollback", "--to", "1"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();
}

#[test]
fn a_damaged_switch_record_does_not_block_status_or_generations() {
    let (f, _port, _m) = two_generations();
    let bad = f.state().join("switches/20200101T000000Z-1-1.json");
    std::fs::write(&bad, b"not json").unwrap();
    let status = f.json(&["status"]);
    assert_eq!(status["last_switch"]["status"], "succeeded", "{status}");
    let gens = f.json(&["generations"]);
    assert_eq!(gens["generations"].as_array().unwrap().len(), 2);
    assert_eq!(gens["damaged_switches"][0]["path"], bad.display().to_string());
    f.ok(&["rollback"]);
}

#[test]
fn the_last_switch_is_the_newest_even_when_pids_wrapped_within_a_second() {
    let (f, _port, _m) = two_generations();
    let dir = f.state().join("switches");
    let real = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap().path();
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(real).unwrap()).unwrap();
    // Two records of one second, in the old id format: pid 9999 first, then
    // 10000 (text order would put 10000 first).
    for (pid, kind) in [(9999, "switch"), (10000, "rollback")] {
        let id = format!("29991231T235959Z-{pid}-1");
        record["id"] = id.clone().into();
        record["kind"] = kind.into();
        std::fs::write(dir.join(format!("{id}.json")), serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let status = f.json(&["status"]);
    assert_eq!(status["last_switch"]["id"], "29991231T235959Z-10000-1", "{status}");
    assert_eq!(status["last_switch"]["kind"], "rollback");
}

#[test]
fn rollback_remakes_a_missing_generation_link_from_its_record() {
    let (f, port, _m) = two_generations();
    std::fs::remove_file(f.state().join("profiles/system-1-link")).unwrap();
    // diff reads the farm from the record (it changes nothing, so no link).
    let out = f.ok(&["diff", "1", "2"]);
    assert!(out.contains("1.0.0 → 2.0.0"), "{out}");
    assert!(!f.state().join("profiles/system-1-link").exists());
    let out = f.run(&["rollback", "--to", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("system-1-link was missing"), "{}", stderr(&out));
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();
    // Without its record either, the message says what is gone.
    std::fs::remove_file(f.state().join("profiles/system-2-link")).unwrap();
    std::fs::write(f.state().join("generations/2.json"), b"").unwrap();
    let out = f.run(&["rollback", "--to", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("system-2-link is missing") && stderr(&out).contains("unreadable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dry_run_during_a_running_switch_says_it_is_running_like_status() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::SlowStart);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", port)]);
    let child = f.spawn_switch(&m);
    let child_pid = child.id();
    let out = f.run(&["switch", m.to_str().unwrap(), "--dry-run"]);
    let status = f.json(&["status"]);
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("is running"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert_eq!(status["last_switch"]["status"], "running", "{status}");
    // The same words in both (the step may have moved on in between).
    let said = format!(
        "switch {} is running (pid {} running `switch`)",
        status["last_switch"]["id"].as_str().unwrap(),
        child_pid
    );
    let advice = status["in_flight_advice"].as_str().unwrap();
    assert!(advice.contains(&said), "{advice}");
    assert!(stderr(&out).contains(&said), "{said}\n{}", stderr(&out));
}

#[test]
fn a_lock_entry_naming_another_releases_store_path_is_refused() {
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["lock", m[0].to_str().unwrap()]);
    let realised = f.json(&["realise", m[1].to_str().unwrap()]);
    let v2_path = realised[0]["store_path"].as_str().unwrap().to_string();
    let lock_file = PathBuf::from(format!("{}.lock", m[0].display()));
    let mut lock: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock_file).unwrap()).unwrap();
    assert_eq!(lock["exporters"][0]["version"], "1.0.0");
    lock["exporters"][0]["store_path"] = v2_path.clone().into();
    std::fs::write(&lock_file, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();

    for args in [
        vec!["switch", m[0].to_str().unwrap(), "--mode", "fast"],
        vec!["switch", m[0].to_str().unwrap(), "--dry-run"],
        vec!["realise", m[0].to_str().unwrap()],
    ] {
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&lock_file.display().to_string()), "{err}");
        assert!(err.contains(&format!("`{N}` 1.0.0")) && err.contains("2.0.0"), "{err}");
    }
    assert!(served_version(N, port).is_none(), "2.0.0 was started");
    assert!(!f.state().join("profiles/system").exists());
}

#[test]
fn adopt_refuses_a_symlink_and_a_file_others_cannot_read() {
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fixture::new();
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    let m = f.manifest("m.yaml", &[f.entry(N, "2.0.0", port)]);
    let (hand, script) = f.hand_place(N, "0.9.0");

    // A link to a private file elsewhere: the store would publish it.
    let private = f.root().join("private-exporter");
    std::fs::rename(&hand, &private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&private, &hand).unwrap();
    let out = f.run(&["adopt", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    assert!(f.store_paths().is_empty(), "{:?}", f.store_paths());
    assert!(!f.state().join("profiles/system").exists());

    // The file itself, still private.
    std::fs::remove_file(&hand).unwrap();
    std::fs::rename(&private, &hand).unwrap();
    let out = f.run(&["adopt", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mode 0700") && stderr(&out).contains("chmod o+r"),
        "{}",
        stderr(&out)
    );
    assert!(f.store_paths().is_empty(), "{:?}", f.store_paths());
    assert_eq!(std::fs::read_to_string(&hand).unwrap(), script);

    // Made readable on purpose, it is adopted.
    std::fs::set_permissions(&hand, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.ok(&["adopt", m.to_str().unwrap()]);
    assert_eq!(f.json(&["generations"])["generations"][0]["exporters"][N], "0.9.0");
}

/// The store directory of the release `version` of the test exporter.
fn release_dir(f: &Fixture, version: &str) -> PathBuf {
    let name = f
        .store_paths()
        .into_iter()
        .find(|p| p.ends_with(&format!("-{N}-{version}")))
        .unwrap();
    f.state().join("store").join(name)
}

fn set_mode(p: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_setuid_world_writable_store_binary_fails_verify_is_not_activated_and_is_repaired() {
    let (f, port, _m) = two_generations();
    let bin = release_dir(&f, "1.0.0").join("bin").join(N);
    set_mode(&bin, 0o4777);

    let out = f.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("bin/test_exporter is 4777"), "{}", stdout(&out));

    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fails verification") && stderr(&out).contains("store repair"),
        "{}",
        stderr(&out)
    );
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    assert_eq!(f.json(&["generations"])["current"], 2);

    let out = f.ok(&["store", "repair"]);
    assert!(out.contains("modes restored"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777, 0o555);
    f.ok(&["store", "verify"]);
    f.ok(&["rollback"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn a_modified_release_is_refused_by_switch_and_rollback_and_rebuilt_from_the_cache() {
    let (f, port, m) = two_generations();
    let dir = release_dir(&f, "1.0.0");
    let bin = dir.join("bin").join(N);
    set_mode(&bin, 0o755);
    let mut text = std::fs::read_to_string(&bin).unwrap();
    text.push_str("# tampered\n");
    std::fs::write(&bin, text).unwrap();
    set_mode(&bin, 0o555);

    for args in [
        vec!["rollback"],
        vec!["switch", m[0].to_str().unwrap(), "--mode", "fast"],
    ] {
        let out = f.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("modified"), "{}", stderr(&out));
        assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    }
    // Without the manifest it says what it needs; with it, the archive in
    // the download cache rebuilds the path in place.
    let out = f.run(&["store", "repair"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("pass the manifest"), "{}", stdout(&out));
    let requests = f.server.requests().len();
    let out = f.ok(&["store", "repair", m[0].to_str().unwrap()]);
    assert!(out.contains("download cache"), "{out}");
    assert_eq!(f.server.requests().len(), requests, "the cache had it: no request");
    f.ok(&["store", "verify"]);
    f.ok(&["rollback"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();
}

#[test]
fn a_modified_profile_farm_is_rebuilt_from_its_state() {
    let (f, port, _m) = two_generations();
    let farm = std::fs::read_link(f.state().join("profiles/system-1-link")).unwrap();
    let farm = f.state().join("profiles").join(farm);
    let link = farm.join("bin").join(N);
    let v2 = std::fs::read_link(f.state().join("profiles/system-2-link")).unwrap();
    let v2_target = std::fs::read_link(f.state().join("profiles").join(v2).join("bin").join(N)).unwrap();
    set_mode(&farm.join("bin"), 0o755);
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&v2_target, &link).unwrap();
    set_mode(&farm.join("bin"), 0o555);

    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("fails verification"), "{}", stderr(&out));
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    let out = f.ok(&["store", "repair"]);
    assert!(out.contains("rebuilt from its state.json"), "{out}");
    f.ok(&["rollback"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn resume_refuses_a_modified_target_until_store_repair_rebuilds_it() {
    let (f, port, m) = interrupted_at("after-journal");
    let bin = release_dir(&f, "2.0.0").join("bin").join(N);
    set_mode(&bin, 0o755);
    std::fs::write(&bin, "#!/bin/sh\nexit 1\n").unwrap();
    set_mode(&bin, 0o555);
    let out = f.run(&["resume"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("fails verification"), "{}", stderr(&out));
    assert!(f.state().join("journal.json").exists());
    // Repair works while the switch is interrupted; then resume finishes it.
    f.ok(&["store", "repair", m[1].to_str().unwrap()]);
    f.ok(&["resume"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    f.assert_links_resolve();
}

#[test]
fn a_modified_generated_unit_is_rendered_again_from_the_manifest() {
    let mut f = Fixture::new();
    let port = free_port();
    let mut m = Vec::new();
    for (i, v) in ["1.0.0", "2.0.0"].into_iter().enumerate() {
        f.publish(N, v, Behaviour::Ok);
        let entry = format!("{}    manage_unit: true\n", f.entry(N, v, port));
        m.push(f.manifest(&format!("u{i}.yaml"), &[entry]));
        f.ok(&["switch", m[i].to_str().unwrap(), "--mode", "fast"]);
    }
    let unit_dir = f
        .store_paths()
        .into_iter()
        .find(|p| p.contains("-unit-"))
        .map(|p| f.state().join("store").join(p))
        .expect("a generated unit in the store");
    let unit = std::fs::read_dir(&unit_dir).unwrap().next().unwrap().unwrap().path();
    set_mode(&unit, 0o644);
    std::fs::write(&unit, "[Service]\nExecStartPre=/bin/sh -c 'echo owned'\n").unwrap();
    set_mode(&unit, 0o444);

    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("fails verification"), "{}", stderr(&out));
    let out = f.run(&["store", "repair"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("pass the manifest that generated it"),
        "{}",
        stdout(&out)
    );
    let out = f.ok(&["store", "repair", m[1].to_str().unwrap()]);
    assert!(out.contains("rendered again"), "{out}");
    f.ok(&["store", "verify"]);
    f.ok(&["rollback"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
}

#[test]
fn a_lock_entry_whose_store_path_or_sha256_is_malformed_is_bad_input_naming_the_key() {
    let mut f = Fixture::new();
    let (_port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok)]);
    f.ok(&["lock", m[0].to_str().unwrap()]);
    let lock_file = PathBuf::from(format!("{}.lock", m[0].display()));
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock_file).unwrap()).unwrap();
    let path = good["exporters"][0]["store_path"].as_str().unwrap().to_string();
    for (key, value) in [
        ("store_path", "../../../etc".to_string()),
        ("store_path", format!("{path}\n")),
        ("sha256", "z".repeat(64)),
    ] {
        let mut lock = good.clone();
        lock["exporters"][0][key] = value.clone().into();
        std::fs::write(&lock_file, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
        for args in [
            vec!["switch", m[0].to_str().unwrap(), "--mode", "fast"],
            vec!["switch", m[0].to_str().unwrap(), "--dry-run"],
            vec!["realise", m[0].to_str().unwrap()],
        ] {
            let out = f.run(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{key}={value:?} {args:?}: {err}");
            assert!(err.contains(&lock_file.display().to_string()), "{err}");
            assert!(err.contains(&format!("`{N}` 1.0.0: {key}")), "{err}");
            assert!(
                !err.contains('\n') || err.trim_end().lines().count() == 1,
                "raw line break: {err}"
            );
        }
    }
    assert!(!f.state().join("profiles/system").exists());
}

#[test]
fn a_plain_rollback_goes_to_the_previous_generation_even_when_its_record_is_damaged() {
    // It said "generation 2 is the oldest there is" while `rollback --to 1`
    // worked from generation 1's profile link.
    let (f, port, _m) = two_generations();
    std::fs::write(f.state().join("generations/1.json"), b"{ \"number\": 1, \"created").unwrap();
    let out = f.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("generations/1.json is damaged"),
        "{}",
        stderr(&out)
    );
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.assert_links_resolve();
}

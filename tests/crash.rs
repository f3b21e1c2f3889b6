//! Crash safety: kill exporterctl (SIGKILL, as `kill -9`) at every named
//! point of a switch, check that every bin_dir entry still resolves to a
//! complete store path, then `resume` and check the host is healthy on a
//! known generation. Needs `--features fault-injection`.
#![cfg(feature = "fault-injection")]

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};
use std::os::unix::process::ExitStatusExt;

const N: &str = "test_exporter";

fn crash_at(point: &str, broken: bool) {
    let mut f = Fixture::new();
    let v2 = if broken { Behaviour::Crash } else { Behaviour::Ok };
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", v2)]);
    let (m1, m2) = (&m[0], &m[1]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);

    // The failing step is the health check's to find: the preflight would
    // refuse the release before the flip (tested below, side by side).
    let out = f.run_env(
        &["switch", m2.to_str().unwrap(), "--mode", "fast", "--preflight", "off"],
        &[("EXPORTERCTL_CRASH_AT", point)],
    );
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: the switch was not killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    f.assert_links_resolve();

    // Every other change is refused until the interrupted switch is dealt with.
    let journal = f.state().join("journal.json").exists();
    if journal {
        let blocked = f.run(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
        assert_eq!(blocked.status.code(), Some(3), "{point}");
        assert!(String::from_utf8_lossy(&blocked.stderr).contains("resume"), "{point}");
        let plan = f.run(&["switch", m1.to_str().unwrap(), "--dry-run"]);
        assert_eq!(
            plan.status.code(),
            Some(3),
            "{point}: the dry run must refuse like the switch"
        );
        assert_eq!(f.json(&["status"])["last_switch"]["status"], "interrupted", "{point}");
    }

    let resumed = f.run(&["resume"]);
    let expected_code = if broken && journal { 1 } else { 0 };
    assert_eq!(
        resumed.status.code(),
        Some(expected_code),
        "{point}: resume\n{}\n{}",
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(!f.state().join("journal.json").exists(), "{point}: journal left behind");
    f.assert_links_resolve();
    let want = if broken || !journal { "1.0.0" } else { "2.0.0" };
    assert_eq!(served_version(N, port).as_deref(), Some(want), "{point}");
    let status = f.json(&["status"]);
    assert_eq!(status["exporters"][0]["version"], want, "{point}");
    assert_eq!(status["exporters"][0]["health"], "healthy", "{point}");
    let gens = f.json(&["generations"]);
    let current = gens["current"].as_u64().expect("a current generation");
    let numbers: Vec<u64> = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, if want == "1.0.0" { vec![1] } else { vec![1, 2] }, "{point}");
    assert_eq!(current, *numbers.last().unwrap(), "{point}");
    f.ok(&["store", "verify"]);
}

/// Points a switch passes only when a step fails.
const FAILURE_ONLY: &[&str] = &["before-revert", "after-revert-flip"];

#[test]
fn kill_at_every_point_of_a_successful_switch_then_resume() {
    for point in exporterctl::fault::POINTS.iter().filter(|p| !FAILURE_ONLY.contains(p)) {
        crash_at(point, false);
    }
}

#[test]
fn kill_at_every_point_of_a_failing_switch_then_resume() {
    // The points a failing step passes, before, during and after its revert.
    for point in ["after-journal", "after-flip", "after-restart"]
        .iter()
        .chain(FAILURE_ONLY)
    {
        crash_at(point, true);
    }
}

const PHASE: [&str; 3] = ["a_exporter", "b_exporter", "c_exporter"];

/// A fast switch of three exporters side by side, killed at `point`: a and
/// b start slowly (1 s), c at once; with `broken`, b's release crashes,
/// found by the health check under `--preflight off`, or refused before
/// the flip by the default `warn` (its step failed in the journal from the
/// start). The journal then holds several steps in flight; `resume` must
/// still bring every exporter to a known, recorded generation.
fn crash_parallel_at(point: &str, broken: bool, preflight: &str) {
    let mut f = Fixture::new();
    let b2 = if broken { Behaviour::Crash } else { Behaviour::SlowStart };
    let (ports, m1, m2) = phase(&mut f, b2);

    let out = f.run_env(
        &[
            "switch",
            m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--preflight",
            preflight,
        ],
        &[("EXPORTERCTL_CRASH_AT", point)],
    );
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: the switch was not killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    f.assert_links_resolve();
    let journal = f.state().join("journal.json");
    if broken && preflight == "warn" {
        if let Ok(j) = std::fs::read_to_string(&journal) {
            let j: serde_json::Value = serde_json::from_str(&j).unwrap();
            let b = &j["steps"][1];
            assert_eq!(
                (&b["name"], &b["status"]),
                (&"b_exporter".into(), &"failed".into()),
                "{point}: {b}"
            );
            assert!(b["duration_ms"].is_null(), "{point}: b was attempted: {b}");
        }
    }
    let in_flight = std::fs::read_to_string(&journal).ok().map(|j| {
        let j: serde_json::Value = serde_json::from_str(&j).unwrap();
        j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "running")
            .count()
    });
    if point == "after-health" && !broken {
        // c is healthy long before a and b: they are in flight, flipped or
        // restarting, side by side.
        assert!(in_flight >= Some(2), "{point}: {in_flight:?} steps in flight");
        // status names every one of them, not only the latest.
        let st = f.json(&["status"]);
        let names = st["last_switch"]["steps_in_flight"].as_array().unwrap().len();
        assert_eq!(Some(names), in_flight, "{point}: {st}");
        let text = String::from_utf8_lossy(&f.run(&["status"]).stdout).to_string();
        assert!(text.contains("; at steps "), "{point}: {text}");
    }
    if in_flight.is_some() {
        let blocked = f.run(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
        assert_eq!(blocked.status.code(), Some(3), "{point}");
        assert_eq!(f.json(&["status"])["last_switch"]["status"], "interrupted", "{point}");
    }

    let todo = steps_to_finish(&journal);
    let resumed = f.run(&["resume", "--json"]);
    let expected_code = if broken && in_flight.is_some() { 1 } else { 0 };
    let stderr = String::from_utf8_lossy(&resumed.stderr).to_string();
    assert_eq!(
        resumed.status.code(),
        Some(expected_code),
        "{point}: resume\n{}\n{stderr}",
        String::from_utf8_lossy(&resumed.stdout),
    );
    assert!(!journal.exists(), "{point}: journal left behind");
    if in_flight.is_some() {
        // Finished as wide as the switch ran (settings.parallel, 8): a's
        // step restarts a release slow to start (1 s), and one at a time
        // no other step could begin before it ends.
        let record: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
        assert_eq!(record["parallel"], 8, "{point}: {record}");
        assert_eq!(record["resumed"], true, "{point}");
        if todo.len() >= 2 && todo[0] == PHASE[0] {
            let lines = progress(&stderr);
            let a_ended = lines.iter().position(|(start, n)| !start && n == PHASE[0]);
            let a_ended = a_ended.unwrap_or_else(|| panic!("{point}: a's step never ended\n{stderr}"));
            assert!(
                lines[..a_ended].iter().any(|(start, n)| *start && n != PHASE[0]),
                "{point}: resume finished the steps {todo:?} one at a time\n{stderr}"
            );
        }
    }
    f.assert_links_resolve();
    let want: [&str; 3] = match (in_flight.is_some(), broken) {
        (false, _) => ["1.0.0"; 3],
        (true, false) => ["2.0.0"; 3],
        (true, true) => ["2.0.0", "1.0.0", "2.0.0"],
    };
    let status = f.json(&["status"]);
    for (k, ((n, p), v)) in PHASE.iter().zip(&ports).zip(want).enumerate() {
        assert_eq!(served_version(n, *p).as_deref(), Some(v), "{point}: {n}");
        assert_eq!(status["exporters"][k]["name"], *n, "{point}");
        assert_eq!(status["exporters"][k]["version"], v, "{point}: {n}");
        assert_eq!(status["exporters"][k]["health"], "healthy", "{point}: {n}");
    }
    let gens = f.json(&["generations"]);
    let numbers: Vec<u64> = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        if in_flight.is_some() { vec![1, 2] } else { vec![1] },
        "{point}"
    );
    assert_eq!(gens["current"].as_u64(), numbers.last().copied(), "{point}");
    f.ok(&["store", "verify"]);
}

/// Three exporters a, b, c on their own ports, 1.0.0 and 2.0.0 (a's slow
/// to start, b's `b2`, c's quick), switched to 1.0.0; the two manifests.
fn phase(f: &mut Fixture, b2: Behaviour) -> (Vec<u16>, std::path::PathBuf, std::path::PathBuf) {
    let ports: Vec<u16> = PHASE.iter().map(|_| free_port()).collect();
    let v2 = [Behaviour::SlowStart, b2, Behaviour::Ok];
    let mut entries = (Vec::new(), Vec::new());
    for ((n, p), b) in PHASE.iter().zip(&ports).zip(v2) {
        f.publish(n, "1.0.0", Behaviour::Ok);
        f.publish(n, "2.0.0", b);
        entries.0.push(f.entry(n, "1.0.0", *p));
        entries.1.push(f.entry(n, "2.0.0", *p));
    }
    let m1 = f.manifest("m1.yaml", &entries.0);
    let m2 = f.manifest("m2.yaml", &entries.1);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    (ports, m1, m2)
}

/// The names of the steps the journal leaves to `resume` (pending or in
/// flight), in order; none without a journal.
fn steps_to_finish(journal: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(journal) else {
        return Vec::new();
    };
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "pending" || s["status"] == "running")
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// The progress lines of `stderr` in order: (a step started, its name);
/// `[k/n] NAME: 1.0.0 → 2.0.0 …` starts, `[k/n] NAME: healthy in …` ends.
fn progress(stderr: &str) -> Vec<(bool, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.strip_prefix('[')?.split_once("] ")?;
            let (name, what) = rest.split_once(": ")?;
            PHASE.contains(&name).then(|| (what.ends_with(" …"), name.to_string()))
        })
        .collect()
}

/// Kills a fast switch of the phase before its first step, sets the
/// journal's `parallel` (`None`: removes it, as a version before the field
/// wrote it) and resumes; the finished record and the progress lines.
fn resume_with_width(
    f: &Fixture,
    m2: &std::path::Path,
    width: Option<u64>,
) -> (serde_json::Value, Vec<(bool, String)>) {
    let out = f.run_env(
        &["switch", m2.to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-journal")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    let path = f.state().join("journal.json");
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(j["parallel"], 8, "the journal keeps the width: {j}");
    let fields = j.as_object_mut().unwrap();
    match width {
        Some(w) => fields.insert("parallel".into(), w.into()),
        None => fields.remove("parallel"),
    };
    std::fs::write(&path, serde_json::to_vec(&j).unwrap()).unwrap();
    assert_eq!(steps_to_finish(&path), PHASE);
    let out = f.run(&["resume", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "succeeded", "{record}");
    (record, progress(&stderr))
}

#[test]
fn a_journal_without_a_width_resumes_one_at_a_time_and_a_hand_edited_one_is_bounded() {
    let mut f = Fixture::new();
    let (ports, m1, m2) = phase(&mut f, Behaviour::SlowStart);
    // Older journals resume as their versions did: every step ends before
    // the next begins.
    let (record, lines) = resume_with_width(&f, &m2, None);
    assert_eq!(record["parallel"], 1, "{record}");
    let one_at_a_time: Vec<(bool, String)> = PHASE
        .iter()
        .flat_map(|n| [(true, n.to_string()), (false, n.to_string())])
        .collect();
    assert_eq!(lines, one_at_a_time);
    for (n, p) in PHASE.iter().zip(&ports) {
        assert_eq!(served_version(n, *p).as_deref(), Some("2.0.0"), "{n}");
    }

    // A width no --parallel allows is bounded, not trusted; side by side,
    // b and c start while a (slow to start) is still in its step.
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let (record, lines) = resume_with_width(&f, &m2, Some(1 << 40));
    assert_eq!(record["parallel"], 64, "{record}");
    let a_ended = lines.iter().position(|l| *l == (false, PHASE[0].to_string())).unwrap();
    assert!(lines[..a_ended].contains(&(true, PHASE[1].to_string())), "{lines:?}");
    f.assert_links_resolve();

    // `resume --parallel N` overrides the journal; it cannot go with --abort.
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.run_env(
        &["switch", m2.to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-journal")],
    );
    assert_eq!(out.status.signal(), Some(9));
    assert_eq!(f.run(&["resume", "--abort", "--parallel", "2"]).status.code(), Some(2));
    let record = f.json(&["resume", "--parallel", "1"]);
    assert_eq!(
        (&record["parallel"], &record["status"]),
        (&1.into(), &"succeeded".into())
    );
    f.ok(&["store", "verify"]);
}

/// `--atomic` still undoes every step when `resume` runs them side by side:
/// b's release crashes, a (slow to start) and c were started beside it.
#[test]
fn an_atomic_fast_switch_resumed_side_by_side_still_undoes_every_step() {
    let mut f = Fixture::new();
    let (ports, _, m2) = phase(&mut f, Behaviour::Crash);
    let out = f.run_env(
        &[
            "switch",
            m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--atomic",
            "--preflight",
            "off",
        ],
        &[("EXPORTERCTL_CRASH_AT", "after-journal")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    let out = f.run(&["resume", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&record["status"], &record["parallel"]),
        (&"rolled-back".into(), &8.into())
    );
    assert_eq!(record["steps"][1]["status"], "failed", "{record}");
    let lines = progress(&stderr);
    let a_ended = lines.iter().position(|l| *l == (false, PHASE[0].to_string()));
    let before_a = &lines[..a_ended.unwrap_or(lines.len())];
    assert!(before_a.contains(&(true, PHASE[1].to_string())), "{lines:?}");
    for (n, p) in PHASE.iter().zip(&ports) {
        assert_eq!(served_version(n, *p).as_deref(), Some("1.0.0"), "{n}");
    }
    assert_eq!(f.json(&["generations"])["current"], 1);
    f.assert_links_resolve();
}

/// Two steps in flight, both flipped: a's upgrade (slow to start) and b's
/// addition (healthy at once, where the switch is killed). Resuming returns
/// both to the state before them in one flip before either step flips
/// again, so killing the resume at its first flip leaves every link
/// resolving — b's too, whose exporter that state does not have.
#[test]
fn a_resume_killed_at_its_first_flip_leaves_every_link_resolving() {
    let mut f = Fixture::new();
    let (pa, pb) = (free_port(), free_port());
    f.publish("a_exporter", "1.0.0", Behaviour::Ok);
    f.publish("a_exporter", "2.0.0", Behaviour::SlowStart);
    f.publish("b_exporter", "2.0.0", Behaviour::Ok);
    let m1 = f.manifest("m1.yaml", &[f.entry("a_exporter", "1.0.0", pa)]);
    let entries = [f.entry("a_exporter", "2.0.0", pa), f.entry("b_exporter", "2.0.0", pb)];
    let m2 = f.manifest("m2.yaml", &entries);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.run_env(
        &["switch", m2.to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-health")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    let journal = f.state().join("journal.json");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&journal).unwrap()).unwrap();
    let running: Vec<&str> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "running")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(running, ["a_exporter", "b_exporter"], "{j}");
    let bin = f.root().join("usr/local/bin/b_exporter");
    assert!(bin.exists(), "b was not flipped before the kill");

    for k in 0..3 {
        let out = f.run_env(&["resume"], &[("EXPORTERCTL_CRASH_AT", "after-flip")]);
        assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
        f.assert_links_resolve();
        if k == 0 {
            // The first flip was the one back: b, not there before its
            // step, has no link (a step's flip would have left one).
            assert!(std::fs::symlink_metadata(&bin).is_err(), "b's link is still there");
        }
    }
    let record = f.json(&["resume"]);
    assert_eq!(
        (&record["status"], &record["parallel"]),
        (&"succeeded".into(), &8.into())
    );
    for (n, p) in [("a_exporter", pa), ("b_exporter", pb)] {
        assert_eq!(served_version(n, p).as_deref(), Some("2.0.0"), "{n}");
    }
    f.assert_links_resolve();
    f.ok(&["store", "verify"]);
}

#[test]
fn kill_a_fast_switch_side_by_side_at_every_point_then_resume() {
    for point in exporterctl::fault::POINTS.iter().filter(|p| !FAILURE_ONLY.contains(p)) {
        crash_parallel_at(point, false, "warn");
    }
}

#[test]
fn kill_a_fast_switch_with_a_failing_step_side_by_side_then_resume() {
    for point in ["after-journal", "after-flip", "after-restart", "before-generation"]
        .iter()
        .chain(FAILURE_ONLY)
    {
        crash_parallel_at(point, true, "off");
    }
}

#[test]
fn kill_a_fast_switch_with_a_step_the_preflight_refused_then_resume() {
    for point in ["after-journal", "after-flip", "after-health", "before-generation"] {
        crash_parallel_at(point, true, "warn");
    }
}

#[test]
fn an_adopt_killed_before_its_links_is_finished_by_adopt_again() {
    let mut f = Fixture::new();
    f.publish(N, "2.0.0", Behaviour::Ok);
    let port = free_port();
    let (hand, script) = f.hand_place(N, "0.9.0");
    let m = f.manifest("m.yaml", &[f.entry(N, "2.0.0", port)]);

    let out = f.run_env(
        &["adopt", m.to_str().unwrap()],
        &[("EXPORTERCTL_CRASH_AT", "adopt-after-flip")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    // Generation 1 is current, the hand-placed file still in place: a switch
    // will not overwrite it, adopt again finishes the job.
    assert!(std::fs::symlink_metadata(&hand).unwrap().is_file());
    assert_eq!(f.json(&["generations"])["current"], 1);
    assert_eq!(
        f.run(&["switch", m.to_str().unwrap(), "--mode", "fast"]).status.code(),
        Some(1)
    );
    let out = f.ok(&["adopt", m.to_str().unwrap()]);
    assert!(out.contains("finished the interrupted adopt"), "{out}");
    assert!(std::fs::symlink_metadata(&hand).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&hand).unwrap(), script);
    f.assert_links_resolve();
    // Once finished, adopting again is refused as before.
    assert_eq!(f.run(&["adopt", m.to_str().unwrap()]).status.code(), Some(2));

    f.ok(&["switch", m.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    f.ok(&["rollback", "--to", "1"]);
    assert_eq!(served_version(N, port).as_deref(), Some("0.9.0"));
}

#[test]
fn temp_links_a_crash_left_in_bin_dir_are_removed_by_the_next_switch() {
    let mut f = Fixture::new();
    let (_, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    let (m1, m2) = (&m[0], &m[1]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    // What `kill -9` between symlink(2) and rename(2) leaves: a temp link
    // named after a process that is gone (pid above any pid_max).
    let litter = f.root().join("usr/local/bin").join(format!(".{N}.tmp-99999999-0"));
    std::os::unix::fs::symlink("/nowhere", &litter).unwrap();
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);
    assert!(
        std::fs::symlink_metadata(&litter).is_err(),
        "the dead temp link is still there"
    );
    f.assert_links_resolve();
}

#[test]
fn resume_json_prints_the_finished_record() {
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    let (m1, m2) = (&m[0], &m[1]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let out = f.run_env(
        &["switch", m2.to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-health")],
    );
    assert_eq!(out.status.signal(), Some(9));
    let rec = f.json(&["resume"]);
    assert_eq!(rec["kind"], "switch");
    assert_eq!(rec["resumed"], true);
    assert_eq!(rec["status"], "succeeded");
    assert_eq!(rec["steps"][0]["to_version"], "2.0.0");
    assert_eq!(rec["result_generation"], 2);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
}

#[test]
fn gc_waits_for_an_interrupted_switch_and_never_takes_its_generations() {
    let mut f = Fixture::new();
    let ok = Behaviour::Ok;
    let (port, m) = f.versions(N, &[("1.0.0", ok), ("2.0.0", ok), ("3.0.0", ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["rollback", "--to", "1"]);
    let out = f.run_env(
        &["switch", m[2].to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-flip")],
    );
    assert_eq!(out.status.signal(), Some(9));

    // gc refuses like any other change; its dry run spares the generation
    // the interrupted switch came from (generation 2 is the newest).
    let blocked = f.run(&["gc", "--keep", "1"]);
    assert_eq!(
        blocked.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    let plan = f.json(&["gc", "--keep", "1", "--dry-run"]);
    assert_eq!(plan["generations_deleted"], serde_json::json!([]), "{plan}");

    f.ok(&["resume", "--abort"]);
    f.assert_links_resolve();
    assert_eq!(f.json(&["generations"])["current"], 1);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.ok(&["gc", "--keep", "1"]);
    f.assert_links_resolve();
}

#[test]
fn gc_finishes_a_generation_delete_a_crash_cut_short() {
    let mut f = Fixture::new();
    let (_, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m[1].to_str().unwrap(), "--mode", "fast"]);
    // gc deletes a generation's record, then its link: a crash in between
    // leaves the link alone.
    std::fs::remove_file(f.state().join("generations/1.json")).unwrap();
    let link = f.state().join("profiles/system-1-link");
    assert!(std::fs::symlink_metadata(&link).is_ok());
    assert_eq!(f.json(&["generations"])["generations"].as_array().unwrap().len(), 1);
    f.ok(&["gc"]);
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the orphan generation link is still there"
    );
    f.ok(&["store", "verify"]);
    f.assert_links_resolve();
}

/// `status` tells a running switch from an interrupted one by asking the
/// kernel who holds the state lock, never by taking it: it leaves the lock
/// file's text alone, and a dead switch whose pid the text still names (or
/// whose pid was reused) is "interrupted".
#[test]
fn status_tells_running_from_interrupted_without_taking_the_lock() {
    let mut f = Fixture::new();
    let (_, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    f.ok(&["switch", m[0].to_str().unwrap(), "--mode", "fast"]);
    let out = f.run_env(
        &["switch", m[1].to_str().unwrap(), "--mode", "fast"],
        &[("EXPORTERCTL_CRASH_AT", "after-journal")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(f.state().join("journal.json").exists());
    let lock_path = f.state().join("lock");
    let last = |f: &Fixture| f.json(&["status"])["last_switch"]["status"].clone();

    // Nobody holds it: interrupted, and the text (the dead switch's) is kept.
    let text = std::fs::read(&lock_path).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("running `switch`"));
    assert_eq!(last(&f), "interrupted");
    assert_eq!(std::fs::read(&lock_path).unwrap(), text, "status rewrote the lock file");

    // Held by another process (this test, standing in for a running switch).
    let held = std::fs::OpenOptions::new().write(true).open(&lock_path).unwrap();
    held.try_lock().unwrap();
    let ours = format!("pid {} running `switch`\n", std::process::id());
    std::fs::write(&lock_path, &ours).unwrap();
    assert_eq!(last(&f), "running");
    let human = f.ok(&["status"]);
    assert!(human.contains(": running"), "{human}");
    assert!(!human.contains("exporterctl resume"), "{human}");
    assert_eq!(
        std::fs::read_to_string(&lock_path).unwrap(),
        ours,
        "status rewrote the lock file"
    );
    // A command that changes the host is still refused as before.
    let busy = f.run(&["rollback"]);
    assert_eq!(busy.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&busy.stderr).contains(ours.trim()));

    // Released, though the text still names a live process (as after a crash
    // once its pid is reused): interrupted.
    held.unlock().unwrap();
    drop(held);
    assert_eq!(last(&f), "interrupted");
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), ours);

    f.ok(&["resume"]);
}

//! A host with history: what a switch, a no-op switch and gc cost must not
//! grow with the number of generations and store paths — counted as system
//! calls under `strace`, never timed — and gc's batched deletes stay
//! crash-safe. `service_manager: none`, so no exporter runs.

mod common;

use common::fixture::{Behaviour, Fixture, EXE};
use std::path::{Path, PathBuf};
use std::process::Command;

const N: &str = "test_exporter";

/// A host whose releases are served by its own fixture server: every
/// version in `versions` is published; `manifest(v)` switches to it.
struct Host {
    f: Fixture,
}

impl Host {
    fn new(versions: &[String]) -> Host {
        let mut f = Fixture::new();
        for v in versions {
            f.publish(N, v, Behaviour::Ok);
        }
        Host { f }
    }

    fn manifest(&self, v: &str) -> PathBuf {
        let base = format!("{}/test/{N}/releases/download/v{{version}}", self.f.server.url());
        let text = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  service_manager: none\n  arch: amd64\nexporters:\n  {N}:\n    \
             version: \"{v}\"\n    source:\n      url: \"{base}/{N}-{{version}}.linux-{{arch}}.tar.gz\"\n      \
             checksums_url: \"{base}/sha256sums.txt\"\n      binary: \"{N}-{{version}}.linux-{{arch}}/{N}\"\n"
        );
        let path = self.f.root().join(format!("m-{v}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn switch(&self, v: &str) -> String {
        self.f
            .ok(&["switch", self.manifest(v).to_str().unwrap(), "--mode", "fast"])
    }
}

fn versions(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("1.0.{i}")).collect()
}

/// `strace` runs here (installed, and ptrace allowed); else the counting
/// tests say so and check nothing — unless `EXPORTERCTL_REQUIRE_STRACE=1`
/// (tests/run-all.sh sets it as root, after installing strace), where a
/// missing strace fails them.
fn strace_works() -> bool {
    let ok = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("EXPORTERCTL_REQUIRE_STRACE").as_deref() != Ok("1"),
            "strace cannot trace here but EXPORTERCTL_REQUIRE_STRACE=1 (apt-get install strace)"
        );
        eprintln!("strace is missing or cannot trace here: system calls not counted");
    }
    ok
}

/// Runs exporterctl under `strace -f -e trace=SYSCALLS` and returns the trace
/// lines (successful or not).
fn traced(root: &Path, syscalls: &str, args: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("trace");
    let out = Command::new("strace")
        // `-y`: a call on a descriptor names its file, so a listing (a
        // `getdents64` on a directory's descriptor) says which directory.
        .args(["-f", "-qq", "-y", "-e", &format!("trace={syscalls}"), "-o"])
        .arg(&out_file)
        .arg(EXE)
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("EXPORTERCTL_CRASH_AT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporterctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether a trace line names one record or store path, whose number grows
/// with history: a store path or something in it, a metadata record, a
/// generation or switch record.
fn touches_a_record(line: &str) -> bool {
    if ["/store/.meta/", "/generations/", "/switches/"]
        .iter()
        .any(|d| line.contains(d))
    {
        return true;
    }
    line.match_indices("/store/").any(|(i, _)| {
        let rest = &line.as_bytes()[i + "/store/".len()..];
        rest.len() > 32 && rest[..32].iter().all(|b| b.is_ascii_hexdigit()) && rest[32] == b'-'
    })
}

/// How many names a `getdents64` line returned from `store/` or
/// `store/.meta/` (strace prints `/* N entries */`): each is a record or
/// store path the listing touched. `None` for any other line.
fn store_listing_entries(line: &str) -> Option<usize> {
    let (_, args) = line.split_once("getdents64(")?;
    let (fd, rest) = args.split_once(',')?;
    if !(fd.ends_with("/store>") || fd.ends_with("/store/.meta>")) {
        return None;
    }
    let (_, count) = rest.split_once("/* ")?;
    count.split_once(" entries */")?.0.parse().ok()
}

/// Records and store paths touched: one per call naming one, and every
/// name a listing of `store/` or `.meta/` returned.
fn record_touches(lines: &[String]) -> usize {
    lines
        .iter()
        .map(|l| store_listing_entries(l).unwrap_or(usize::from(touches_a_record(l))))
        .sum()
}

#[test]
fn a_listing_counts_each_name_it_returns() {
    let l = r#"1234  getdents64(3</r/state/store/.meta>, 0x5581 /* 14 entries */, 32768) = 600"#;
    assert_eq!(store_listing_entries(l), Some(14));
    let l = r#"1234  getdents64(3</r/state/store>, 0x5581 /* 3 entries */, 32768) = 96"#;
    assert_eq!(store_listing_entries(l), Some(3));
    let l = r#"1234  getdents64(3</r/state/store/.tmp>, 0x5581 /* 2 entries */, 32768) = 48"#;
    assert_eq!(store_listing_entries(l), None);
    assert_eq!(record_touches(&[l.to_string()]), 0);
}

#[test]
fn a_switch_a_no_op_and_a_rollback_touch_as_many_records_on_a_host_with_history_as_on_a_fresh_one() {
    if !strace_works() {
        return;
    }
    let mut all = versions(12);
    all.extend(["2.0.0".to_string(), "2.0.1".to_string()]);
    let fresh = Host::new(&all);
    fresh.switch("1.0.0");
    let big = Host::new(&all);
    for v in &versions(12) {
        big.switch(v);
    }
    let gens = big.f.json(&["generations"])["generations"].as_array().unwrap().len();
    assert_eq!(gens, 12);

    // Every call that takes a path: opens, stats, readlinks, renames,
    // unlinks; and listings, whose cost is the number of names they return.
    let file_calls = "%file,getdents64";
    let noop = |h: &Host, v: &str| {
        let m = h.manifest(v);
        let lines = traced(
            h.f.root(),
            file_calls,
            &["switch", m.to_str().unwrap(), "--mode", "fast"],
        );
        record_touches(&lines)
    };
    let (on_fresh, on_big) = (noop(&fresh, "1.0.0"), noop(&big, "1.0.11"));
    assert!(on_fresh > 0, "the no-op read no record at all: is the trace right?");
    assert_eq!(
        on_big, on_fresh,
        "a no-op switch touched {on_big} records and store paths on a host with 12 generations, {on_fresh} on a \
         host with one"
    );

    // A switch to a release neither store has: the same work on both.
    let switch = |h: &Host, v: &str| {
        let m = h.manifest(v);
        let lines = traced(
            h.f.root(),
            file_calls,
            &["switch", m.to_str().unwrap(), "--mode", "fast"],
        );
        record_touches(&lines)
    };
    let (on_fresh, on_big) = (switch(&fresh, "2.0.0"), switch(&big, "2.0.1"));
    assert_eq!(
        on_big, on_fresh,
        "a switch touched {on_big} records and store paths on a host with 12 generations, {on_fresh} on a host \
         with one"
    );
    assert_eq!(big.f.json(&["generations"])["current"], 13);

    // And back: a rollback reads the farm it returns to, not every record.
    let (on_fresh, on_big) = (
        record_touches(&traced(fresh.f.root(), file_calls, &["rollback"])),
        record_touches(&traced(big.f.root(), file_calls, &["rollback"])),
    );
    assert_eq!(
        on_big, on_fresh,
        "a rollback touched {on_big} records and store paths on a host with 13 generations, {on_fresh} on a host \
         with two"
    );
    assert_eq!(big.f.json(&["generations"])["current"], 12);
}

#[test]
fn gc_syncs_as_often_for_many_generations_as_for_few() {
    if !strace_works() {
        return;
    }
    let syncs = |n: usize| {
        let h = Host::new(&versions(n));
        for v in &versions(n) {
            h.switch(v);
        }
        let lines = traced(h.f.root(), "fsync,fdatasync,sync_file_range", &["gc", "--keep", "1"]);
        let store = h.f.json(&["store", "ls"]);
        assert_eq!(
            store.as_array().unwrap().len(),
            2,
            "gc --keep 1 leaves a release and a farm: {store}"
        );
        lines.iter().filter(|l| l.contains("sync")).count()
    };
    let (few, many) = (syncs(3), syncs(10));
    assert!(few > 0, "gc synced nothing: is the trace right?");
    assert_eq!(
        many, few,
        "gc of 9 generations and 19 store paths synced {many} times, of 2 and 5 {few} times"
    );
}

/// The names in `dir` that are store paths (`<32 hex digits>-…`).
fn store_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() > 33 && n.as_bytes()[..32].iter().all(u8::is_ascii_hexdigit))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    v.sort();
    v
}

#[cfg(feature = "fault-injection")]
#[test]
fn gc_killed_at_any_point_leaves_no_partial_store_path_nor_a_generation_without_its_paths() {
    use std::os::unix::process::ExitStatusExt;
    let all = versions(4);
    // What an uninterrupted gc leaves.
    let control = Host::new(&all);
    for v in &all {
        control.switch(v);
    }
    control.f.ok(&["gc", "--keep", "1"]);
    let store = |h: &Host| store_names(&h.f.state().join("store"));
    let want = store(&control);

    for point in exporterctl::fault::GC_POINTS {
        let h = Host::new(&all);
        for v in &all {
            h.switch(v);
        }
        let out = h.f.run_env(&["gc", "--keep", "1"], &[("EXPORTERCTL_CRASH_AT", point)]);
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: gc was not killed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every valid store path is complete (it hashes to its name), and
        // every generation still listed has all its paths.
        let verify = h.f.run(&["store", "verify"]);
        assert!(
            verify.status.success(),
            "{point}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let listed = h.f.json(&["generations"])["generations"].as_array().unwrap().len();
        assert!(listed >= 1, "{point}: the current generation went");
        h.f.assert_links_resolve();
        // The next gc finishes the job: the store ends as without the crash,
        // with no directory left that has no record.
        h.f.ok(&["gc", "--keep", "1"]);
        assert_eq!(store(&h), want, "{point}");
        assert_eq!(store_names(&h.f.state().join("store/.meta")), want, "{point}");
        assert_eq!(h.f.json(&["generations"])["generations"].as_array().unwrap().len(), 1);
    }
}

//! Cost that must not grow with history: a host made by many switches
//! (`service_manager: none`, a new release each time, so two store paths per
//! generation) against a fresh host, and `gc` against `rm -rf` of what it
//! deletes — each pair measured in the same run.
//!
//! Run: `cargo bench --bench history`. The size is
//! `EXPORTERCTL_BENCH_GENERATIONS` (default 500: a couple of minutes on 2
//! cores); the host is built under `EXPORTERCTL_BENCH_DIR` (default: the
//! system temp dir) — use a real disk, not tmpfs, or fsyncs cost nothing;
//! `EXPORTERCTL_BENCH_KEEP=1` leaves it there (`fresh/` and `big/`, the
//! hosts, to strace a switch on, say; gc and `rm -rf` ran on copies).

use exporterctl::demo::releases;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_exporterctl");
const NAME: &str = "hist_exporter";
const NOOPS: usize = 15;
const KEEP: usize = 5;
const GC_ROUNDS: usize = 3;
const SWITCHES: usize = 10;

fn version(i: usize) -> String {
    format!("1.{}.{}", i / 1000, i % 1000)
}

fn manifest(dir: &Path, server: &str, v: &str) -> PathBuf {
    let p = dir.join(format!("m-{v}.yaml"));
    let text = format!(
        r#"apiVersion: exporterctl/v1
settings:
  service_manager: none
exporters:
  {NAME}:
    version: "{v}"
    source:
      url: "{server}/{NAME}/releases/download/v{{version}}/{NAME}-{{version}}.linux-{{arch}}.tar.gz"
      checksums_url: "{server}/{NAME}/releases/download/v{{version}}/sha256sums.txt"
      binary: "{NAME}-{{version}}.linux-{{arch}}/{NAME}"
"#
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn run(root: &Path, args: &[&str]) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = Command::new(EXE)
        .arg("--root")
        .arg(root)
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "exporterctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out.stdout)
}

fn switch(root: &Path, m: &Path) -> Duration {
    run(root, &["switch", m.to_str().unwrap(), "--mode", "fast"]).0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn sync() {
    assert!(Command::new("sync").status().unwrap().success());
}

/// Times `rm -rf` of `paths` (made writable first and the disk synced,
/// untimed): wall and CPU. Not synced after: `gc` is timed with its own
/// directory syncs, so the ratio is if anything unfair to `gc`.
fn rm_rf(paths: &[PathBuf]) -> (Duration, f64) {
    if let Some(p) = paths.iter().find(|p| std::fs::symlink_metadata(p).is_err()) {
        panic!("{} is not there to delete", p.display());
    }
    let dirs: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    for chunk in dirs.chunks(500) {
        assert!(Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .args(chunk)
            .status()
            .unwrap()
            .success());
    }
    sync();
    let cpu = children_cpu();
    let t = Instant::now();
    for chunk in paths.chunks(2000) {
        assert!(Command::new("rm").arg("-rf").args(chunk).status().unwrap().success());
    }
    (t.elapsed(), children_cpu() - cpu)
}

fn main() {
    let n: usize = std::env::var("EXPORTERCTL_BENCH_GENERATIONS")
        .ok()
        .map(|s| s.parse().expect("EXPORTERCTL_BENCH_GENERATIONS: a number"))
        .unwrap_or(500);
    assert!(n > KEEP, "EXPORTERCTL_BENCH_GENERATIONS must be above {KEEP}");
    let base = std::env::var_os("EXPORTERCTL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let top = dir.path().canonicalize().unwrap();
    let _dir = if std::env::var_os("EXPORTERCTL_BENCH_KEEP").is_some() {
        println!("keeping {}", dir.keep().display());
        None
    } else {
        Some(dir)
    };
    let arch = exporterctl::template::host_arch();
    let rel = top.join("releases");
    let mdir = top.join("manifests");
    std::fs::create_dir_all(&mdir).unwrap();
    for i in 0..n {
        releases::publish(&rel, Path::new(EXE), NAME, &version(i), arch, "ok").unwrap();
    }
    // Neither the first switches nor the gc below pay for writing these back.
    sync();
    let server = releases::serve(rel).unwrap();
    let manifests: Vec<PathBuf> = (0..n).map(|i| manifest(&mdir, &server.url(), &version(i))).collect();

    // A fresh host (one switch) and a host with history (n switches, each
    // to a new release).
    let fresh = top.join("fresh");
    switch(&fresh, &manifests[0]);
    let big = top.join("big");
    let started = Instant::now();
    let switches: Vec<Duration> = manifests.iter().map(|m| switch(&big, m)).collect();
    let build = started.elapsed();
    let window = 50.min(n / 2).max(1);
    let first = median(switches[..window].to_vec());
    let latest = median(switches[n - window..].to_vec());

    // No-ops on both, interleaved so that load from elsewhere hits both alike.
    let last = manifests.last().unwrap();
    switch(&fresh, &manifests[0]); // warm the page cache
    switch(&big, last);
    let (mut fresh_noops, mut big_noops) = (Vec::new(), Vec::new());
    let (mut fresh_noop_cpu, mut big_noop_cpu) = (0.0, 0.0);
    for _ in 0..NOOPS {
        let cpu = children_cpu();
        fresh_noops.push(switch(&fresh, &manifests[0]));
        let mid = children_cpu();
        big_noops.push(switch(&big, last));
        fresh_noop_cpu += mid - cpu;
        big_noop_cpu += children_cpu() - mid;
    }
    let (fresh_noop, big_noop) = (median(fresh_noops), median(big_noops));

    // Real switches (each makes a generation) on both, interleaved: back and
    // forth between two releases the store has.
    let (mut fresh_switches, mut big_switches) = (Vec::new(), Vec::new());
    for i in 0..SWITCHES {
        let (f, b) = if i % 2 == 0 { (1, n - 2) } else { (0, n - 1) };
        fresh_switches.push(switch(&fresh, &manifests[f]));
        big_switches.push(switch(&big, &manifests[b]));
    }
    let (fresh_switch, big_switch) = (median(fresh_switches), median(big_switches));

    // gc of that host against rm -rf of the same paths, each in its own
    // copy, GC_ROUNDS times, alternating which goes first.
    let mut gc_runs: Vec<(Duration, f64)> = Vec::new();
    let mut rm_runs: Vec<(Duration, f64)> = Vec::new();
    let mut rm_all_runs: Vec<(Duration, f64)> = Vec::new();
    let mut deleted = (0, 0, 0);
    for round in 0..GC_ROUNDS {
        let (g, c) = (top.join(format!("gc-{round}")), top.join(format!("rm-{round}")));
        cp(&big, &g);
        cp(&big, &c);
        // The paths gc deletes are the same every round: known from a dry run.
        let report = gc_report(&run(&g, &["gc", "--keep", &KEEP.to_string(), "--dry-run", "--json"]).1);
        deleted = (
            report.generations.len(),
            report.store_paths.len(),
            report.downloads.len(),
        );
        let layout = exporterctl::paths::Layout::new(&c);
        let store: Vec<PathBuf> = report.store_paths.iter().map(|p| layout.store_dir().join(p)).collect();
        let mut rest: Vec<PathBuf> = Vec::new();
        rest.extend(
            report
                .store_paths
                .iter()
                .map(|p| layout.meta_dir().join(format!("{p}.json"))),
        );
        rest.extend(
            report
                .generations
                .iter()
                .map(|g| layout.generations_dir().join(format!("{g}.json"))),
        );
        rest.extend(
            report
                .generations
                .iter()
                .map(|g| layout.profiles_dir().join(format!("system-{g}-link"))),
        );
        rest.extend(report.downloads.iter().map(|d| layout.downloads_dir().join(d)));
        let gc = || {
            sync();
            let cpu = children_cpu();
            let t = Instant::now();
            let out = run(&g, &["gc", "--keep", &KEEP.to_string(), "--json"]).1;
            let took = (t.elapsed(), children_cpu() - cpu);
            assert_eq!(gc_report(&out).store_paths, report.store_paths);
            took
        };
        if round % 2 == 0 {
            gc_runs.push(gc());
            rm_runs.push(rm_rf(&store));
        } else {
            rm_runs.push(rm_rf(&store));
            gc_runs.push(gc());
        }
        let r = rm_rf(&rest);
        let s = rm_runs.last().unwrap();
        rm_all_runs.push((s.0 + r.0, s.1 + r.1));
        for d in [g, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    println!(
        "history benchmark: {n} switches (service_manager: none, a new release each); medians of {NOOPS} no-ops, \
         of {GC_ROUNDS} gc rounds"
    );
    println!(
        "building the host:         {:.1} s; switch median, first {window}: {}, last {window}: {} ({:.2}×)",
        build.as_secs_f64(),
        ms(first),
        ms(latest),
        latest.as_secs_f64() / first.as_secs_f64()
    );
    println!(
        "no-op switch:              fresh host {}, {n} generations {}: {:.2}× wall; CPU of all {NOOPS} {:.0} ms \
         vs {:.0} ms: {:.2}× (target ≈ 1×)",
        ms(fresh_noop),
        ms(big_noop),
        big_noop.as_secs_f64() / fresh_noop.as_secs_f64(),
        fresh_noop_cpu * 1000.0,
        big_noop_cpu * 1000.0,
        big_noop_cpu / fresh_noop_cpu
    );
    println!(
        "switch (a generation):     fresh host {}, {n} generations {}: {:.2}× (median of {SWITCHES}, target ≈ 1×)",
        ms(fresh_switch),
        ms(big_switch),
        big_switch.as_secs_f64() / fresh_switch.as_secs_f64()
    );
    let (gens, paths, downloads) = deleted;
    let (gc_wall, gc_cpu) = medians(&gc_runs);
    println!(
        "gc --keep {KEEP}:                {} wall, {:.0} ms CPU ({gens} generations, {paths} store paths, \
         {downloads} downloads)",
        ms(gc_wall),
        gc_cpu * 1000.0
    );
    for (what, runs) in [("the store paths", &rm_runs), ("all gc deletes", &rm_all_runs)] {
        let (wall, cpu) = medians(runs);
        let ratios: Vec<f64> = gc_runs
            .iter()
            .zip(runs)
            .map(|(g, r)| g.0.as_secs_f64() / r.0.as_secs_f64())
            .collect();
        println!(
            "rm -rf of {what:<16} {} wall, {:.0} ms CPU: gc is {:.2}× wall (per round {}), {:.2}× CPU (target ≤ 1.5×)",
            ms(wall),
            cpu * 1000.0,
            gc_wall.as_secs_f64() / wall.as_secs_f64(),
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" "),
            gc_cpu / cpu
        );
    }
    println!("(rm -rf of all gc deletes: store paths, metadata, generation records, links, cached downloads)");
}

struct GcReport {
    generations: Vec<String>,
    store_paths: Vec<String>,
    downloads: Vec<String>,
}

fn gc_report(json: &[u8]) -> GcReport {
    let report: serde_json::Value = serde_json::from_slice(json).unwrap();
    let strs = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    };
    GcReport {
        generations: strs("generations_deleted"),
        store_paths: strs("store_paths_deleted"),
        downloads: strs("downloads_deleted"),
    }
}

fn cp(from: &Path, to: &Path) {
    assert!(Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success());
}

/// User + system CPU seconds of the children waited for so far: steadier
/// than wall time on a shared machine, where other writers make every
/// directory sync wait for their data too.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // cutime and cstime, fields 16 and 17 of proc(5), in clock ticks (USER_HZ, 100).
    let ticks: u64 = fields[13].parse::<u64>().unwrap() + fields[14].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn medians(runs: &[(Duration, f64)]) -> (Duration, f64) {
    let mut cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
    cpu.sort_by(f64::total_cmp);
    (median(runs.iter().map(|r| r.0).collect()), cpu[cpu.len() / 2])
}

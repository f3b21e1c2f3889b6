//! What operators feel: the scrape gap during a switch, and how long a
//! switch, a no-op switch and a rollback take — each next to the exporter's
//! own bare restart measured in the same run.
//!
//! One exporter (the demo exporter, a real process behind the `process`
//! service manager) is switched back and forth while a scraper polls its
//! /metrics every 10 ms. Then a phase of five exporters (the default settle
//! of 2 s) is switched one at a time and side by side (`--mode fast`),
//! next to a switch of one of them, and rolled back, next to the slowest
//! one's bare restart. Run: `cargo bench --bench switch`.

use exporterctl::demo::releases;
use exporterctl::paths::Layout;
use exporterctl::service::{manager_for, ServiceSpec};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_exporterctl");
const NAME: &str = "bench_exporter";
const ROUNDS: usize = 12;
/// The phase: five exporters on one host.
const PHASE: [&str; 5] = ["phase_a", "phase_b", "phase_c", "phase_d", "phase_e"];
const PHASE_ROUNDS: usize = 4;

fn scrape_ok(port: u16) -> bool {
    scrape(port, "/metrics") == Scrape::Ok
}

#[derive(PartialEq)]
enum Scrape {
    Ok,
    /// Nothing listened (the port is closed during a restart).
    Refused,
    /// Connected, but no complete 200 answer: cut by the restart.
    Cut,
}

fn scrape(port: u16, path: &str) -> Scrape {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return Scrape::Refused;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return Scrape::Cut;
    }
    let mut buf = Vec::new();
    // The demo exporter's body ends with its last metric's line.
    let complete = s.read_to_end(&mut buf).is_ok()
        && buf.starts_with(b"HTTP/1.1 200")
        && buf.ends_with(b"\n")
        && buf.windows(26).any(|w| w == b"process_start_time_seconds");
    if complete {
        Scrape::Ok
    } else {
        Scrape::Cut
    }
}

/// Polls every 10 ms and records when scrapes succeeded.
struct Scraper {
    stop: Arc<AtomicBool>,
    ok_at: Arc<Mutex<Vec<Instant>>>,
    /// Scrapes refused and cut: (started at, cut?).
    failed_at: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scraper {
    /// Scrapes `path` every `every`.
    fn start(port: u16, path: &'static str, every: Duration) -> Scraper {
        let stop = Arc::new(AtomicBool::new(false));
        let ok_at = Arc::new(Mutex::new(Vec::new()));
        let failed_at = Arc::new(Mutex::new(Vec::new()));
        let (s, o, f) = (stop.clone(), ok_at.clone(), failed_at.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                let t = Instant::now();
                match scrape(port, path) {
                    Scrape::Ok => o.lock().unwrap().push(t),
                    Scrape::Refused => f.lock().unwrap().push((t, false)),
                    Scrape::Cut => f.lock().unwrap().push((t, true)),
                }
                std::thread::sleep(every.saturating_sub(t.elapsed()));
            }
        });
        Scraper {
            stop,
            ok_at,
            failed_at,
            thread: Some(thread),
        }
    }

    /// Scrapes started after `from` that were refused, and that were cut.
    fn failures_since(&self, from: Instant) -> (usize, usize) {
        let f = self.failed_at.lock().unwrap();
        let after = f.iter().filter(|(t, _)| *t >= from);
        let cut = after.clone().filter(|(_, cut)| *cut).count();
        (after.count() - cut, cut)
    }

    /// The longest interval without a successful scrape inside [from, to].
    fn worst_gap(&self, from: Instant, to: Instant) -> Duration {
        // Gaps are measured between successes; the window ends well after the
        // exporter is back, so an open gap at `to` cannot hide.
        let ok = self.ok_at.lock().unwrap();
        let mut last = ok.iter().rev().find(|t| **t <= from).copied().unwrap_or(from);
        let mut worst = Duration::ZERO;
        for t in ok.iter().filter(|t| **t > from && **t <= to) {
            worst = worst.max(*t - last);
            last = *t;
        }
        worst
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn exporterctl(root: &Path, args: &[&str]) -> Duration {
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
    took
}

fn manifest(root: &Path, file: &str, server: &str, version: &str, port: u16, settle: &str) -> PathBuf {
    let p = root.join(file);
    std::fs::write(&p, releases::manifest_text(NAME, server, version, port, settle)).unwrap();
    p
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let arch = exporterctl::template::host_arch();
    let rel = root.join("releases");
    for name in std::iter::once(NAME).chain(PHASE) {
        for v in ["1.0.0", "2.0.0"] {
            releases::publish(&rel, Path::new(EXE), name, v, arch, "ok").unwrap();
        }
    }
    let server = releases::serve(rel).unwrap();
    let port = exporterctl::demo::free_port().unwrap();
    let settle = "100ms";
    let m1 = manifest(&root, "v1.yaml", &server.url(), "1.0.0", port, settle);
    let m2 = manifest(&root, "v2.yaml", &server.url(), "2.0.0", port, settle);
    let (m1s, m2s) = (m1.to_str().unwrap(), m2.to_str().unwrap());
    exporterctl(&root, &["switch", m1s, "--mode", "fast"]);
    exporterctl(&root, &["switch", m2s, "--mode", "fast"]);
    let scraper = Scraper::start(port, "/metrics", Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(100));

    // Baseline: the exporter's own restart, no exporterctl: restart through
    // the same process manager and wait until /metrics answers.
    let layout = Layout::new(&root);
    let svc = manager_for(exporterctl::service::ServiceManagerKind::Process, &layout);
    let spec = ServiceSpec {
        exporter: NAME.into(),
        unit: format!("{NAME}.service"),
        exec: root.join("usr/local/bin").join(NAME),
        args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
        environment: Default::default(),
        socket: None,
    };
    let (mut bare, mut bare_gaps) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        svc.restart(&spec).unwrap();
        while !scrape_ok(port) {
            std::thread::sleep(Duration::from_millis(1));
        }
        bare.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(150));
        bare_gaps.push(scraper.worst_gap(t, Instant::now()));
    }

    let (mut switches, mut gaps) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let m = if i % 2 == 0 { m1s } else { m2s };
        let t = Instant::now();
        switches.push(exporterctl(&root, &["switch", m, "--mode", "fast"]));
        std::thread::sleep(Duration::from_millis(150));
        gaps.push(scraper.worst_gap(t, Instant::now()));
    }
    let last = if ROUNDS.is_multiple_of(2) { m2s } else { m1s };
    let noops: Vec<Duration> = (0..ROUNDS)
        .map(|_| exporterctl(&root, &["switch", last, "--mode", "fast"]))
        .collect();
    let (mut rollbacks, mut rollback_gaps) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rollbacks.push(exporterctl(&root, &["rollback"]));
        std::thread::sleep(Duration::from_millis(150));
        rollback_gaps.push(scraper.worst_gap(t, Instant::now()));
    }
    drop(scraper);

    // Scrapes that take 20 ms (a real exporter's), every 50 ms: how many a
    // switch's restart cuts halfway, without and with the drain. (A scraper
    // as fast as the one above leaves the drain no gap to restart in.)
    let slow = Scraper::start(port, "/metrics?sleep_ms=20", Duration::from_millis(50));
    let mut failures = Vec::new();
    for drain in ["0s", "2s"] {
        let with_drain = |v: &str| {
            let text = releases::manifest_text(NAME, &server.url(), v, port, settle).replace(
                &format!("settle: {settle}\n"),
                &format!("settle: {settle}\n      drain: {drain}\n"),
            );
            let p = root.join(format!("drain-{drain}-{v}.yaml"));
            std::fs::write(&p, text).unwrap();
            p
        };
        let (a, b) = (with_drain("1.0.0"), with_drain("2.0.0"));
        exporterctl(&root, &["switch", a.to_str().unwrap(), "--mode", "fast"]);
        let t = Instant::now();
        for i in 0..2 * ROUNDS {
            let m = if i % 2 == 0 { &b } else { &a };
            exporterctl(&root, &["switch", m.to_str().unwrap(), "--mode", "fast"]);
        }
        std::thread::sleep(Duration::from_millis(150));
        failures.push((drain, slow.failures_since(t)));
    }
    drop(slow);
    let _ = svc.stop(&spec);

    let bare_m = median(bare.clone());
    println!("switch benchmark: {ROUNDS} rounds each, process manager, scraper every 10 ms, health settle {settle}");
    println!(
        "bare restart (restart → /metrics 200):   median {}  max {}",
        ms(bare_m),
        ms(*bare.iter().max().unwrap())
    );
    println!(
        "scrape gap, bare restart:                median {}  max {}",
        ms(median(bare_gaps.clone())),
        ms(*bare_gaps.iter().max().unwrap())
    );
    println!(
        "scrape gap, exporterctl switch:          median {}  max {}  (max − bare max: {:+.1} ms; target ≤ +50 ms)",
        ms(median(gaps.clone())),
        ms(*gaps.iter().max().unwrap()),
        (gaps.iter().max().unwrap().as_secs_f64() - bare_gaps.iter().max().unwrap().as_secs_f64()) * 1000.0
    );
    println!(
        "scrape gap, exporterctl rollback:        median {}  max {}",
        ms(median(rollback_gaps.clone())),
        ms(*rollback_gaps.iter().max().unwrap())
    );
    println!(
        "whole switch (process start to exit):    median {}  ({:.1}× bare restart; includes the {settle} settle)",
        ms(median(switches.clone())),
        median(switches).as_secs_f64() / bare_m.as_secs_f64()
    );
    println!(
        "no-op switch:                            median {}  (target < 30 ms)",
        ms(median(noops))
    );
    println!(
        "rollback:                                median {}  (target < 1 s)",
        ms(median(rollbacks))
    );
    for (drain, (refused, cut)) in failures {
        println!(
            "{} switches, scrapes of 20 ms every 50 ms, health.drain {drain}:  {cut} cut halfway, {refused} refused (port closed)",
            2 * ROUNDS
        );
    }
    phase(&root.join("phase"), &server.url());
}

/// Five exporters with the default settle (2 s): a switch of one of them,
/// of all five one at a time (`--parallel 1`) and side by side (`--mode
/// fast`), a rollback of all five, and each one's bare restart.
fn phase(root: &Path, server: &str) {
    std::fs::create_dir_all(root).unwrap();
    let settle = "2s";
    let ports: Vec<u16> = PHASE.iter().map(|_| exporterctl::demo::free_port().unwrap()).collect();
    let manifest = |file: &str, versions: &dyn Fn(usize) -> &'static str| {
        let entries: String = PHASE
            .iter()
            .zip(&ports)
            .enumerate()
            .map(|(k, (n, p))| releases::manifest_entry(n, server, versions(k), *p, settle))
            .collect();
        let p = root.join(file);
        std::fs::write(
            &p,
            format!("apiVersion: exporterctl/v1\nsettings:\n  service_manager: process\nexporters:\n{entries}"),
        )
        .unwrap();
        p.to_str().unwrap().to_string()
    };
    let v1 = manifest("v1.yaml", &|_| "1.0.0");
    let v2 = manifest("v2.yaml", &|_| "2.0.0");
    let one = manifest("one.yaml", &|k| if k == 0 { "2.0.0" } else { "1.0.0" });
    exporterctl(root, &["switch", &v1, "--mode", "fast"]);

    let alternate = |to: &str, extra: &[&str]| -> Vec<Duration> {
        (0..PHASE_ROUNDS)
            .map(|_| {
                let mut args = vec!["switch", to, "--mode", "fast"];
                args.extend(extra);
                let t = exporterctl(root, &args);
                exporterctl(root, &["switch", &v1, "--mode", "fast"]);
                t
            })
            .collect()
    };
    let single = alternate(&one, &[]);
    let serial = alternate(&v2, &["--parallel", "1"]);
    let fast = alternate(&v2, &[]);
    let rollbacks: Vec<Duration> = (0..PHASE_ROUNDS)
        .map(|_| {
            exporterctl(root, &["switch", &v2, "--mode", "fast"]);
            exporterctl(root, &["rollback"])
        })
        .collect();

    let layout = Layout::new(root);
    let svc = manager_for(exporterctl::service::ServiceManagerKind::Process, &layout);
    let bare: Vec<Duration> = PHASE
        .iter()
        .zip(&ports)
        .map(|(n, port)| {
            let spec = ServiceSpec {
                exporter: n.to_string(),
                unit: format!("{n}.service"),
                exec: root.join("usr/local/bin").join(n),
                args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
                environment: Default::default(),
                socket: None,
            };
            let times = (0..ROUNDS)
                .map(|_| {
                    let t = Instant::now();
                    svc.restart(&spec).unwrap();
                    while !scrape_ok(*port) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    t.elapsed()
                })
                .collect();
            median(times)
        })
        .collect();
    for (n, port) in PHASE.iter().zip(&ports) {
        let _ = svc.stop(&ServiceSpec {
            exporter: n.to_string(),
            unit: format!("{n}.service"),
            exec: root.join("usr/local/bin").join(n),
            args: vec!["--listen".into(), format!("127.0.0.1:{port}")],
            environment: Default::default(),
            socket: None,
        });
    }

    let slowest = *bare.iter().max().unwrap();
    let single_m = median(single);
    let fast_m = median(fast);
    let rollback_m = median(rollbacks);
    println!(
        "phase of {} exporters, {PHASE_ROUNDS} rounds each, health settle {settle} (rollback settle ≤ {} ms):",
        PHASE.len(),
        exporterctl::plan::ROLLBACK_SETTLE.as_millis()
    );
    println!("  switch of 1 exporter (--mode fast):      median {}", ms(single_m));
    println!(
        "  switch of 5, one at a time (--parallel 1): median {}  ({:.2}× one)",
        ms(median(serial.clone())),
        median(serial).as_secs_f64() / single_m.as_secs_f64()
    );
    println!(
        "  switch of 5, side by side (--mode fast): median {}  ({:.2}× one; target ≤ 1.3×)",
        ms(fast_m),
        fast_m.as_secs_f64() / single_m.as_secs_f64()
    );
    println!("  bare restart → /metrics 200, slowest of 5: median {}", ms(slowest));
    println!(
        "  rollback of 5 (side by side):            median {}  ({:+.0} ms over the slowest bare restart; target ≤ +1000 ms)",
        ms(rollback_m),
        (rollback_m.as_secs_f64() - slowest.as_secs_f64()) * 1000.0
    );
}

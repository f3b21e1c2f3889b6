//! Realising one release: exporterctl (sha256 check + `Store::add_release`:
//! gunzip, check every entry, hash, write, fsync, rename, record) against the
//! shell pipeline `sha256sum -c && tar -xzf`, on a node_exporter-sized archive
//! (≈ 13.5 MB compressed, 31 MiB binary). Page cache warm, fresh store per run.
//!
//! Run: `cargo bench --bench realise` (optionally `-- RUNS`, default 9).

use exporterctl::paths::Layout;
use exporterctl::store::ArchiveKind;
use exporterctl::store::{AddRelease, Store};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const VERSION: &str = "1.9.1";
const BINARY_SIZE: usize = 31 << 20;
const BLOCK: usize = 4096;
/// Share of "data" blocks, tuned for ≈ 13.5 MB compressed.
const DATA_PERCENT: u64 = 35;

/// xorshift64: deterministic, fast, good enough for incompressible filler.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }
}

/// A pseudo Go binary with node_exporter's ≈ 43 % gzip ratio and a similar
/// decoding mix: 4 KiB blocks of either skewed-random "data" bytes (each bit
/// set with p = 1/4: Huffman-coded literals, ≈ 81 % ratio, not stored
/// blocks) or "code" stitched from a pool of 32-byte snippets, a third of
/// them with a mutated byte (short back-references).
fn pseudo_binary() -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pool = vec![0u8; 256 * 32];
    rng.fill(&mut pool);
    let mut out = vec![0u8; BINARY_SIZE];
    for block in out.chunks_mut(BLOCK) {
        if rng.next() % 100 < DATA_PERCENT {
            for chunk in block.chunks_mut(8) {
                let x = (rng.next() & rng.next()).to_le_bytes();
                chunk.copy_from_slice(&x[..chunk.len()]);
            }
        } else {
            for piece in block.chunks_mut(32) {
                let at = (rng.next() % 256) as usize * 32;
                piece.copy_from_slice(&pool[at..at + piece.len()]);
                if rng.next().is_multiple_of(3) {
                    piece[0] = rng.next() as u8;
                }
            }
        }
    }
    out[..4].copy_from_slice(b"\x7fELF");
    out
}

fn build_archive(path: &Path) -> u64 {
    let dir = format!("node_exporter-{VERSION}.linux-amd64");
    let file = File::create(path).expect("create archive");
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut add = |name: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_740_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data).expect("append");
    };
    add(
        &format!("{dir}/LICENSE"),
        0o644,
        &b"Apache License, Version 2.0\n".repeat(400),
    );
    add(
        &format!("{dir}/NOTICE"),
        0o644,
        b"node_exporter\nCopyright 2015 The Prometheus Authors\n",
    );
    add(&format!("{dir}/node_exporter"), 0o755, &pseudo_binary());
    let gz = tar.into_inner().expect("finish tar");
    let mut w = gz.finish().expect("finish gzip");
    w.flush().expect("flush");
    std::fs::metadata(path).expect("stat").len()
}

fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).expect("open");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident set size of this process (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM so the peak covers only what follows (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(9)
        .max(7);
    let work = tempfile::Builder::new()
        .prefix("exporterctl-bench-")
        .tempdir()
        .expect("tempdir");
    let archive: PathBuf = work.path().join(format!("node_exporter-{VERSION}.linux-amd64.tar.gz"));
    let t = Instant::now();
    let archive_size = build_archive(&archive);
    let expected = sha256_file(&archive);
    std::fs::write(
        work.path().join("sha256sums.txt"),
        format!("{expected}  {}\n", archive.file_name().unwrap().to_string_lossy()),
    )
    .expect("write sums");
    println!(
        "archive: {} — {:.1} MB compressed, binary {:.1} MiB (built in {:.1} s)",
        archive.file_name().unwrap().to_string_lossy(),
        archive_size as f64 / 1e6,
        BINARY_SIZE as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    let binary = format!("node_exporter-{VERSION}.linux-amd64/node_exporter");
    let url =
        "https://github.com/prometheus/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-amd64.tar.gz";
    let mut ours = Vec::new();
    let mut ours_sha = Vec::new();
    let mut ours_add = Vec::new();
    let mut shell = Vec::new();
    let have_reset = reset_peak_rss();

    // One warm-up of each (page cache, rayon pool, binaries), then interleaved runs.
    for i in 0..=runs {
        let root = work.path().join(format!("root-{i}"));
        let store = Store::open(&Layout::new(&root)).expect("open store");
        let t0 = Instant::now();
        let got = sha256_file(&archive);
        assert_eq!(got, expected, "sha256 mismatch");
        let t1 = Instant::now();
        let sp = store
            .add_release(&AddRelease {
                name: "node_exporter",
                version: VERSION,
                archive: &archive,
                kind: ArchiveKind::TarGz,
                binary: Some(&binary),
                origin_url: url,
                archive_sha256: &expected,
                archive_size,
            })
            .expect("add_release");
        let t2 = Instant::now();
        assert!(store.is_valid(&sp));

        let dest = work.path().join(format!("shell-{i}"));
        std::fs::create_dir(&dest).expect("mkdir");
        let t3 = Instant::now();
        let ok = Command::new("sha256sum")
            .args(["-c", "--quiet", "sha256sums.txt"])
            .current_dir(work.path())
            .status()
            .expect("spawn sha256sum")
            .success()
            && Command::new("tar")
                .arg("-xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&dest)
                .status()
                .expect("spawn tar")
                .success();
        let t4 = Instant::now();
        assert!(ok, "shell pipeline failed");

        if i > 0 {
            ours.push(t2 - t0);
            ours_sha.push(t1 - t0);
            ours_add.push(t2 - t1);
            shell.push(t4 - t3);
        }
        exporterctl::fsutil::remove_tree(&root).expect("cleanup");
        exporterctl::fsutil::remove_tree(&dest).expect("cleanup");
    }

    let (a, b) = (median(ours.clone()), median(shell.clone()));
    println!("runs: {runs} (after 1 warm-up), page cache warm, fresh store each run");
    println!(
        "exporterctl  sha256 + add_release : median {:7.1} ms  (min {:.1}, max {:.1})  [sha256 {:.1} ms + add_release {:.1} ms]",
        ms(a),
        ms(*ours.iter().min().unwrap()),
        ms(*ours.iter().max().unwrap()),
        ms(median(ours_sha)),
        ms(median(ours_add)),
    );
    println!(
        "shell  sha256sum -c && tar -xzf  : median {:7.1} ms  (min {:.1}, max {:.1})",
        ms(b),
        ms(*shell.iter().min().unwrap()),
        ms(*shell.iter().max().unwrap()),
    );
    println!("speed-up: {:.2}x (target >= 2x)", b.as_secs_f64() / a.as_secs_f64());
    match (have_reset, peak_rss_kib()) {
        (true, Some(k)) => println!(
            "peak RSS of the exporterctl process during the runs: {:.1} MiB",
            k as f64 / 1024.0
        ),
        (_, Some(k)) => println!(
            "peak RSS of the whole bench process (incl. building the archive): {:.1} MiB",
            k as f64 / 1024.0
        ),
        _ => {}
    }
}

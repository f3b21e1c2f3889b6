//! Verified downloads (`exporterctl::source`) against the local release server.
#![allow(clippy::result_large_err)]

mod common;

use common::server::{release_path, Fault, ReleaseServer};
use exporterctl::paths::Layout;
use exporterctl::source::{
    DownloadLimits, Expected, FetchError, FetchRequest, Fetcher, LimitHit, ProgressMode, RetryPolicy, SecretHeaders,
    TextRequest, Timeouts,
};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::time::Duration;

const REPO: &str = "prometheus/node_exporter";
const VERSION: &str = "1.9.1";
const TAG: &str = "v1.9.1";

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic pseudo-random bytes, larger than one read chunk.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn asset(arch: &str) -> String {
    format!("node_exporter-{VERSION}.linux-{arch}.tar.gz")
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn fetcher(root: &Path) -> Fetcher {
    Fetcher::new(&Layout::new(root))
        .unwrap()
        .with_retry(fast_retry())
        .with_progress(ProgressMode::Log)
}

/// A release with amd64/arm64/armv7 archives and a `sha256sums.txt` listing
/// them (amd64 not first) plus an unrelated file.
struct Release {
    amd64: Vec<u8>,
    amd64_url: String,
    amd64_path: String,
    sums_url: String,
    sums_path: String,
}

fn publish(srv: &ReleaseServer) -> Release {
    let amd64 = payload(1, 300 * 1024 + 17);
    let arm64 = payload(2, 1000);
    let armv7 = payload(3, 2000);
    let amd64_url = srv.add_release(REPO, TAG, &asset("amd64"), amd64.clone());
    srv.add_release(REPO, TAG, &asset("arm64"), arm64.clone());
    srv.add_release(REPO, TAG, &asset("armv7"), armv7.clone());
    let sums = format!(
        "{}  {}\n{}  {}\n{}  {}\n{}  node_exporter-{VERSION}.linux-amd64.tar.gz.sbom.json\n",
        sha(&arm64),
        asset("arm64"),
        sha(&amd64),
        asset("amd64"),
        sha(&armv7),
        asset("armv7"),
        sha(b"sbom"),
    );
    let sums_url = srv.add_release(REPO, TAG, "sha256sums.txt", sums.into_bytes());
    Release {
        amd64,
        amd64_url,
        amd64_path: release_path(REPO, TAG, &asset("amd64")),
        sums_url,
        sums_path: release_path(REPO, TAG, "sha256sums.txt"),
    }
}

fn by_checksum_file(rel: &Release) -> FetchRequest {
    FetchRequest::new(
        "node_exporter",
        VERSION,
        rel.amd64_url.clone(),
        Expected::ChecksumFile {
            url: rel.sums_url.clone(),
            file_name: asset("amd64"),
        },
    )
}

fn fetch1(f: &Fetcher, req: FetchRequest) -> Result<exporterctl::source::Fetched, FetchError> {
    let mut v = f.fetch_all(&[req]);
    assert_eq!(v.len(), 1);
    v.remove(0)
}

/// Names in the downloads directory (empty if it does not exist).
fn cache_entries(root: &Path) -> Vec<String> {
    let dir = Layout::new(root).downloads_dir();
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn first_fetch_downloads_and_verifies_against_the_checksum_file() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let got = fetch1(&f, by_checksum_file(&rel)).unwrap();
    assert!(got.downloaded);
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(got.size, rel.amd64.len() as u64);
    assert_eq!(got.path, Layout::new(root.path()).downloads_dir().join(sha(&rel.amd64)));
    assert_eq!(fs::read(&got.path).unwrap(), rel.amd64);
    // The checksum file first, then the archive; nothing left behind but the result.
    assert_eq!(srv.requests(), vec![rel.sums_path.clone(), rel.amd64_path.clone()]);
    assert_eq!(f.requests_made(), 2);
    assert_eq!(cache_entries(root.path()), vec![sha(&rel.amd64)]);
}

#[test]
fn second_fetch_makes_no_request_for_the_archive() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap();
    srv.clear_requests();
    let f = fetcher(root.path());
    let got = fetch1(&f, by_checksum_file(&rel)).unwrap();
    assert!(!got.downloaded);
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(srv.requests(), vec![rel.sums_path.clone()]);
    assert_eq!(srv.requests_for(&rel.amd64_path), 0);
}

#[test]
fn locked_or_pinned_with_the_file_in_cache_makes_zero_requests() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap();
    srv.clear_requests();
    let hex = sha(&rel.amd64);
    for expected in [
        Expected::Locked(hex.clone()),
        Expected::Pinned(hex.to_ascii_uppercase()),
    ] {
        let f = fetcher(root.path());
        let got = fetch1(
            &f,
            FetchRequest::new("node_exporter", VERSION, rel.amd64_url.clone(), expected),
        )
        .unwrap();
        assert!(!got.downloaded);
        assert_eq!(got.sha256, hex);
        assert_eq!(f.requests_made(), 0);
    }
    assert_eq!(srv.request_count(), 0);
}

#[test]
fn locked_download_then_corrupted_cache_entry_is_fetched_again() {
    use std::os::unix::fs::PermissionsExt;
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    let req = FetchRequest::new(
        "node_exporter",
        VERSION,
        rel.amd64_url.clone(),
        Expected::Locked(sha(&rel.amd64)),
    );
    let first = fetch1(&fetcher(root.path()), req.clone()).unwrap();
    assert!(first.downloaded);
    assert_eq!(srv.requests(), vec![rel.amd64_path.clone()]);
    // Bit rot / tampering in the cache: the entry is re-hashed and replaced.
    fs::set_permissions(&first.path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&first.path, b"rotten").unwrap();
    let again = fetch1(&fetcher(root.path()), req).unwrap();
    assert!(again.downloaded);
    assert_eq!(fs::read(&again.path).unwrap(), rel.amd64);
    assert_eq!(srv.requests_for(&rel.amd64_path), 2);
}

#[test]
fn tampered_archive_is_refused_and_nothing_enters_the_cache() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let mut evil = rel.amd64.clone();
    evil[1000] ^= 0xff;
    srv.add_file(&rel.amd64_path, evil.clone());
    let root = tempfile::tempdir().unwrap();
    let err = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            expected,
            actual,
            expected_from,
            url,
            version,
            ..
        } => {
            assert_eq!(*expected, sha(&rel.amd64));
            assert_eq!(*actual, sha(&evil));
            assert_eq!(*expected_from, rel.sums_url);
            assert_eq!(*url, rel.amd64_url);
            assert_eq!(version, VERSION);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(cache_entries(root.path()), Vec::<String>::new());
    // A mismatch is not retried.
    assert_eq!(srv.requests_for(&rel.amd64_path), 1);

    // Same with a lock file digest.
    let req = FetchRequest::new(
        "node_exporter",
        VERSION,
        rel.amd64_url.clone(),
        Expected::Locked(sha(&rel.amd64)),
    );
    let err = fetch1(&fetcher(root.path()), req).unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { ref expected_from, .. } if expected_from == "lock file"));
    assert_eq!(cache_entries(root.path()), Vec::<String>::new());
}

#[test]
fn missing_checksum_line_is_an_error_and_the_archive_is_not_fetched() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    let mut req = by_checksum_file(&rel);
    let riscv = asset("riscv64");
    req.url = srv.add_release(REPO, TAG, &riscv, b"riscv".to_vec());
    req.expected = Expected::ChecksumFile {
        url: rel.sums_url.clone(),
        file_name: riscv.clone(),
    };
    let err = fetch1(&fetcher(root.path()), req).unwrap_err();
    match &err {
        FetchError::ChecksumMissing {
            checksums_url,
            file_name,
            ..
        } => {
            assert_eq!(*checksums_url, rel.sums_url);
            assert_eq!(*file_name, riscv);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(srv.requests(), vec![rel.sums_path.clone()]);
    assert_eq!(cache_entries(root.path()), Vec::<String>::new());
}

#[test]
fn not_found_names_url_and_version_and_is_not_retried() {
    let srv = ReleaseServer::start();
    let root = tempfile::tempdir().unwrap();
    let url = srv.url_of(&release_path(REPO, "v9.9.9", "node_exporter-9.9.9.linux-amd64.tar.gz"));
    let req = FetchRequest::new("node_exporter", "9.9.9", url.clone(), Expected::Locked("a".repeat(64)));
    let err = fetch1(&fetcher(root.path()), req).unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("9.9.9"), "{msg}");
    assert_eq!(srv.request_count(), 1);

    // A missing checksum file is a 404 naming the checksum file.
    let rel_url = srv.add_release(REPO, TAG, "x.tar.gz", b"x".to_vec());
    let sums = srv.url_of(&release_path(REPO, TAG, "missing-sums.txt"));
    let req = FetchRequest::new(
        "node_exporter",
        VERSION,
        rel_url,
        Expected::ChecksumFile {
            url: sums.clone(),
            file_name: "x.tar.gz".into(),
        },
    );
    let err = fetch1(&fetcher(root.path()), req).unwrap_err();
    assert!(
        matches!(err, FetchError::NotFound { ref url, .. } if *url == sums),
        "{err:?}"
    );
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.sums_path, 1, Fault::Status(503));
    srv.fail_next(&rel.amd64_path, 1, Fault::Status(500));
    srv.fail_next(&rel.amd64_path, 1, Fault::Status(429));
    let root = tempfile::tempdir().unwrap();
    let got = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap();
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(srv.requests_for(&rel.sums_path), 2);
    assert_eq!(srv.requests_for(&rel.amd64_path), 3);
    assert_eq!(cache_entries(root.path()), vec![sha(&rel.amd64)]);
}

#[test]
fn retries_are_bounded() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.amd64_path, 100, Fault::Status(502));
    let root = tempfile::tempdir().unwrap();
    let err = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap_err();
    assert!(matches!(err, FetchError::Http { status: 502, .. }), "{err:?}");
    assert_eq!(srv.requests_for(&rel.amd64_path), 3);
    assert_eq!(cache_entries(root.path()), Vec::<String>::new());
}

#[test]
fn other_client_errors_are_not_retried() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.amd64_path, 5, Fault::Status(401));
    let root = tempfile::tempdir().unwrap();
    let err = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap_err();
    assert!(matches!(err, FetchError::Http { status: 401, .. }), "{err:?}");
    assert_eq!(srv.requests_for(&rel.amd64_path), 1);
}

#[test]
fn rate_limit_is_reported_and_not_retried() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.sums_path, 5, Fault::RateLimited { reset: 1_900_000_000 });
    let root = tempfile::tempdir().unwrap();
    let err = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::RateLimited {
                reset: Some(1_900_000_000),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("1900000000"), "{err}");
    assert_eq!(srv.request_count(), 1);
}

#[test]
fn connection_dropped_mid_body_is_retried() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.amd64_path, 2, Fault::DropMidBody);
    let root = tempfile::tempdir().unwrap();
    let got = fetch1(&fetcher(root.path()), by_checksum_file(&rel)).unwrap();
    assert_eq!(fs::read(&got.path).unwrap(), rel.amd64);
    assert_eq!(srv.requests_for(&rel.amd64_path), 3);
    assert_eq!(cache_entries(root.path()), vec![sha(&rel.amd64)]);
}

#[test]
fn stalled_transfer_times_out_and_is_retried() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.amd64_path, 1, Fault::Stall(Duration::from_secs(3)));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path())
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(400),
        })
        .unwrap();
    let started = std::time::Instant::now();
    let got = fetch1(&f, by_checksum_file(&rel)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(srv.requests_for(&rel.amd64_path), 2);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let reqs = [
        FetchRequest::new(
            "node_exporter",
            VERSION,
            "http://example.com/a.tar.gz",
            Expected::Locked("b".repeat(64)),
        ),
        FetchRequest::new(
            "node_exporter",
            VERSION,
            "https://example.com/a.tar.gz",
            Expected::ChecksumFile {
                url: "http://10.1.2.3/sha256sums.txt".into(),
                file_name: "a.tar.gz".into(),
            },
        ),
    ];
    for r in f.fetch_all(&reqs) {
        let err = r.unwrap_err();
        assert!(matches!(err, FetchError::InsecureUrl { .. }), "{err:?}");
        assert!(err.to_string().contains("allow_http"), "{err}");
    }
    assert_eq!(f.requests_made(), 0);
    let err = f
        .get_text(&TextRequest::new("node_exporter", "latest", "http://api.example.com/x"))
        .unwrap_err();
    assert!(matches!(err, FetchError::InsecureUrl { .. }), "{err:?}");
    assert_eq!(f.requests_made(), 0);
}

#[test]
fn redirects_are_followed() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    // The old path redirects (absolute), then a relative hop, then the file.
    let old = "/nginxinc/old/releases/download/v1.9.1/a.tar.gz";
    let mid = "/nginx/mid/a.tar.gz";
    srv.fail_next(old, 1, Fault::Redirect(srv.url_of(mid)));
    srv.fail_next(mid, 1, Fault::Redirect(rel.amd64_path.clone()));
    let root = tempfile::tempdir().unwrap();
    let req = FetchRequest::new("nginx", VERSION, srv.url_of(old), Expected::Pinned(sha(&rel.amd64)));
    let f = fetcher(root.path());
    let got = fetch1(&f, req).unwrap();
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(
        srv.requests(),
        vec![old.to_string(), mid.to_string(), rel.amd64_path.clone()]
    );
    assert_eq!(f.requests_made(), 3);
}

#[test]
fn redirect_to_plain_http_on_a_remote_host_is_refused() {
    let srv = ReleaseServer::start();
    let path = "/dl/a.tar.gz";
    srv.fail_next(path, 1, Fault::Redirect("http://mirror.example.com/a.tar.gz".into()));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let err = fetch1(
        &f,
        FetchRequest::new("x", "1", srv.url_of(path), Expected::Locked("d".repeat(64))),
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::InsecureUrl { .. }), "{err:?}");
    assert_eq!(f.requests_made(), 1);
    // And a redirect to a local file is never followed.
    srv.fail_next(path, 1, Fault::Redirect("file:///etc/passwd".into()));
    let err = fetch1(
        &f,
        FetchRequest::new("x", "1", srv.url_of(path), Expected::Locked("d".repeat(64))),
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::BadUrl { .. }), "{err:?}");
    // Said as what it is, not as "URL has no host".
    let m = err.to_string();
    assert!(m.contains("redirect to a non-http(s) URL (`file:`)"), "{m}");
}

#[test]
fn too_many_redirects_fail() {
    let srv = ReleaseServer::start();
    srv.fail_next("/loop", 100, Fault::Redirect("/loop".into()));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let err = fetch1(
        &f,
        FetchRequest::new("x", "1", srv.url_of("/loop"), Expected::Locked("e".repeat(64))),
    )
    .unwrap_err();
    assert!(err.to_string().contains("redirects"), "{err}");
    assert_eq!(f.requests_made(), 11);
}

#[test]
fn parallel_fetch_keeps_request_order_and_fetches_the_checksum_file_once() {
    let srv = ReleaseServer::start();
    let names: Vec<String> = (0..7).map(|i| format!("exp{i}-1.0.0.linux-amd64.tar.gz")).collect();
    let blobs: Vec<Vec<u8>> = (0..7).map(|i| payload(100 + i, 70_000 + i as usize * 1000)).collect();
    let sums: String = names
        .iter()
        .zip(&blobs)
        .rev()
        .map(|(n, b)| format!("{} *{n}\r\n", sha(b)))
        .collect();
    let sums_url = srv.add_release("org/multi", "v1.0.0", "SHA256SUMS", sums.into_bytes());
    let mut reqs: Vec<FetchRequest> = names
        .iter()
        .zip(&blobs)
        .map(|(n, b)| {
            FetchRequest::new(
                n.split('-').next().unwrap(),
                "1.0.0",
                srv.add_release("org/multi", "v1.0.0", n, b.clone()),
                Expected::ChecksumFile {
                    url: sums_url.clone(),
                    file_name: n.clone(),
                },
            )
        })
        .collect();
    // One failure in the middle does not disturb the others.
    reqs.insert(
        3,
        FetchRequest::new(
            "gone",
            "1.0.0",
            srv.url_of("/gone.tar.gz"),
            Expected::Locked("f".repeat(64)),
        ),
    );
    let root = tempfile::tempdir().unwrap();
    let results = fetcher(root.path()).fetch_all(&reqs);
    assert_eq!(results.len(), 8);
    let mut blob_iter = blobs.iter();
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(
                matches!(r, Err(FetchError::NotFound { exporter, .. }) if exporter == "gone"),
                "{r:?}"
            );
            continue;
        }
        let b = blob_iter.next().unwrap();
        let got = r.as_ref().unwrap();
        assert_eq!(got.sha256, sha(b));
        assert_eq!(fs::read(&got.path).unwrap(), *b);
    }
    assert_eq!(srv.requests_for(&release_path("org/multi", "v1.0.0", "SHA256SUMS")), 1);
    assert_eq!(cache_entries(root.path()).len(), 7);
}

#[test]
fn file_urls_are_read_from_disk() {
    let mirror = tempfile::tempdir().unwrap();
    let data = payload(7, 200_000);
    fs::write(mirror.path().join("a.tar.gz"), &data).unwrap();
    fs::write(mirror.path().join("sums.txt"), format!("{}  ./a.tar.gz\n", sha(&data))).unwrap();
    let url = format!("file://{}/a.tar.gz", mirror.path().display());
    let sums = format!("file://{}/sums.txt", mirror.path().display());
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let req = FetchRequest::new(
        "node_exporter",
        VERSION,
        url.clone(),
        Expected::ChecksumFile {
            url: sums,
            file_name: "a.tar.gz".into(),
        },
    );
    let got = fetch1(&f, req.clone()).unwrap();
    assert!(got.downloaded);
    assert_eq!(fs::read(&got.path).unwrap(), data);
    assert!(!fetch1(&f, req).unwrap().downloaded);
    assert_eq!(f.requests_made(), 0);

    let missing = format!("file://{}/nope.tar.gz", mirror.path().display());
    let err = fetch1(
        &f,
        FetchRequest::new("x", "2.0", missing.clone(), Expected::Locked(sha(b"nope"))),
    )
    .unwrap_err();
    assert!(
        matches!(err, FetchError::NotFound { ref url, .. } if *url == missing),
        "{err:?}"
    );
}

#[test]
fn unverified_downloads_land_under_their_actual_digest() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let root = tempfile::tempdir().unwrap();
    let req = FetchRequest::new("node_exporter", VERSION, rel.amd64_url.clone(), Expected::Unverified);
    let got = fetch1(&fetcher(root.path()), req).unwrap();
    assert!(got.downloaded);
    assert_eq!(got.sha256, sha(&rel.amd64));
    assert_eq!(srv.requests(), vec![rel.amd64_path.clone()]);
}

#[test]
fn invalid_locked_digest_is_an_error_without_requests() {
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let req = FetchRequest::new("x", "1", "https://example.com/a", Expected::Locked("abc".into()));
    let err = fetch1(&f, req).unwrap_err();
    assert!(matches!(err, FetchError::InvalidSha256 { .. }), "{err:?}");
    assert_eq!(f.requests_made(), 0);
}

#[test]
fn secret_headers_are_sent_but_never_shown_and_not_sent_to_other_hosts() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    let token = "ghp_TOPSECRET123";
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());

    let mut req = by_checksum_file(&rel);
    req.headers = SecretHeaders::new().with("Authorization", format!("Bearer {token}"));
    fetch1(&f, req.clone()).unwrap();
    let recorded = srv.recorded();
    assert_eq!(recorded.len(), 2);
    for r in &recorded {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {token}").as_str()),
            "{r:?}"
        );
    }
    assert!(!format!("{req:?}").contains(token));

    // Errors never carry the value.
    let mut missing = req.clone();
    missing.url = srv.url_of("/nope");
    missing.expected = Expected::Locked("1".repeat(64));
    let err = fetch1(&f, missing).unwrap_err();
    assert!(!err.to_string().contains(token) && !format!("{err:?}").contains(token));

    // A redirect to another origin (localhost is not 127.0.0.1) drops the header.
    srv.clear_requests();
    let port = srv.addr().port();
    srv.fail_next(
        "/moved",
        1,
        Fault::Redirect(format!("http://localhost:{port}{}", rel.amd64_path)),
    );
    let mut moved = req.clone();
    moved.url = srv.url_of("/moved");
    moved.expected = Expected::Locked(sha(&rel.amd64));
    let other_root = tempfile::tempdir().unwrap();
    fetch1(&fetcher(other_root.path()), moved).unwrap();
    let recorded = srv.recorded();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert!(recorded[0].header("authorization").is_some());
    assert_eq!(recorded[1].header("authorization"), None);
}

#[test]
fn get_text_uses_the_same_policy_and_retries() {
    let srv = ReleaseServer::start();
    srv.add_json(
        "/repos/prometheus/node_exporter/releases/latest",
        r#"{"tag_name":"v1.9.1"}"#,
    );
    srv.fail_next("/repos/prometheus/node_exporter/releases/latest", 1, Fault::Status(502));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let mut req = TextRequest::new(
        "node_exporter",
        "latest",
        srv.url_of("/repos/prometheus/node_exporter/releases/latest"),
    );
    req.headers = SecretHeaders::new().with("Accept", "application/vnd.github+json");
    let text = f.get_text(&req).unwrap();
    assert_eq!(text, r#"{"tag_name":"v1.9.1"}"#);
    assert_eq!(f.requests_made(), 2);
    assert_eq!(srv.recorded()[1].header("accept"), Some("application/vnd.github+json"));
}

#[test]
fn leftovers_of_a_killed_run_are_cleaned() {
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path());
    let dir = f.downloads_dir().to_path_buf();
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(".download.tmp-99999999-3"), b"partial").unwrap();
    fs::write(dir.join("a".repeat(64)), b"kept").unwrap();
    assert_eq!(f.clean_leftovers().unwrap(), 1);
    assert_eq!(cache_entries(root.path()), vec!["a".repeat(64)]);
}

/// Limits that only a hostile or broken server reaches in a test.
fn limits() -> DownloadLimits {
    DownloadLimits {
        max_size: 1 << 20,
        timeout: Duration::from_secs(600),
        min_rate: 0,
        min_rate_window: Duration::from_secs(60),
    }
}

/// Nothing but verified files in the cache: no partial download left.
fn assert_no_partial_file(root: &Path) {
    let left = cache_entries(root);
    assert!(left.iter().all(|n| !n.starts_with('.')), "{left:?}");
}

#[test]
fn an_endless_body_stops_at_the_size_limit_and_the_partial_file_is_removed() {
    let srv = ReleaseServer::start();
    let path = "/dl/endless.tar.gz";
    srv.fail_next(path, 5, Fault::Endless { declared: None });
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(limits());
    // Even with a digest pinned, the body is read until the limit only.
    let req = FetchRequest::new("x", "1", srv.url_of(path), Expected::Pinned(sha(b"small")));
    let err = fetch1(&f, req).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::TooLarge { limit: 1048576 },
                ..
            }
        ),
        "{err:?}"
    );
    let m = err.to_string();
    assert!(m.contains("settings.download.max_size") && m.contains("1.0 MiB"), "{m}");
    // Not retried: a second attempt would be as large.
    assert_eq!(srv.requests_for(path), 1);
    assert_no_partial_file(root.path());
}

#[test]
fn a_declared_size_over_the_limit_is_refused_before_the_body() {
    let srv = ReleaseServer::start();
    let path = "/dl/huge.tar.gz";
    srv.fail_next(
        path,
        5,
        Fault::Endless {
            declared: Some(1 << 40),
        },
    );
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(limits());
    let err = fetch1(&f, FetchRequest::new("x", "1", srv.url_of(path), Expected::Unverified)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::DeclaredTooLarge {
                    declared: 1099511627776,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(srv.requests_for(path), 1);
    assert_no_partial_file(root.path());
}

#[test]
fn a_file_url_to_an_endless_device_stops_at_the_size_limit() {
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(limits());
    let req = FetchRequest::new("x", "1", "file:///dev/zero", Expected::Pinned(sha(b"small")));
    let err = fetch1(&f, req).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::TooLarge { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_partial_file(root.path());
}

#[test]
fn a_trickle_is_stopped_by_the_overall_deadline() {
    let srv = ReleaseServer::start();
    let path = "/dl/trickle.tar.gz";
    srv.fail_next(path, 5, Fault::Trickle(Duration::from_millis(20)));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(DownloadLimits {
        timeout: Duration::from_secs(1),
        ..limits()
    });
    let err = fetch1(&f, FetchRequest::new("x", "1", srv.url_of(path), Expected::Unverified)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::Deadline { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let m = err.to_string();
    assert!(m.contains("not finished within 1s (settings.download.timeout)"), "{m}");
    assert_eq!(srv.requests_for(path), 1);
    assert_no_partial_file(root.path());
}

#[test]
fn a_trickle_is_stopped_by_the_minimum_rate_and_retried() {
    let srv = ReleaseServer::start();
    let path = "/dl/trickle.tar.gz";
    // 50 bytes a second at most, against a minimum of 1 MiB/s.
    srv.fail_next(path, 5, Fault::Trickle(Duration::from_millis(20)));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(DownloadLimits {
        min_rate: 1 << 20,
        min_rate_window: Duration::from_millis(300),
        ..limits()
    });
    let err = fetch1(&f, FetchRequest::new("x", "1", srv.url_of(path), Expected::Unverified)).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::TooSlow { min_rate: 1048576, .. },
                ..
            }
        ),
        "{err:?}"
    );
    let m = err.to_string();
    assert!(
        m.contains("too slow") && m.contains("settings.download.min_rate"),
        "{m}"
    );
    // A slow moment may pass: retried like a stall (3 attempts in `fast_retry`).
    assert_eq!(srv.requests_for(path), 3);
    assert_no_partial_file(root.path());
}

#[test]
fn a_trickling_text_resource_is_stopped_by_the_deadline() {
    let srv = ReleaseServer::start();
    let path = "/repos/o/r/releases";
    srv.fail_next(path, 5, Fault::Trickle(Duration::from_millis(20)));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path()).with_limits(DownloadLimits {
        timeout: Duration::from_secs(1),
        ..limits()
    });
    let err = f
        .get_text(&TextRequest::new("x", "latest", srv.url_of(path)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Limit {
                hit: LimitHit::Deadline { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_stalled_body_is_reported_as_stalled() {
    let srv = ReleaseServer::start();
    let rel = publish(&srv);
    srv.fail_next(&rel.amd64_path, 1, Fault::Stall(Duration::from_secs(3)));
    let root = tempfile::tempdir().unwrap();
    let f = fetcher(root.path())
        .with_retry(RetryPolicy {
            attempts: 1,
            ..fast_retry()
        })
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(400),
        })
        .unwrap();
    let err = fetch1(
        &f,
        FetchRequest::new("x", "1", rel.amd64_url.clone(), Expected::Unverified),
    )
    .unwrap_err();
    let m = err.to_string();
    assert!(
        m.contains("the transfer stalled: no data for 400ms (the read timeout)"),
        "{m}"
    );
    assert!(!m.contains("decoding"), "{m}");
}

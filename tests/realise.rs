//! `realise`, `lock` and `store verify` through the CLI, against the local
//! release server (node_exporter's GitHub layout and sha256sums.txt).

mod common;

use common::archives::{hostile, Hostile};
use common::fixture::{Behaviour, Fixture};
use common::server::Fault;

const N: &str = "test_exporter";

fn setup() -> (Fixture, std::path::PathBuf) {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let m = f.manifest("m.yaml", &[f.entry(N, "1.0.0", 1)]);
    (f, m)
}

#[test]
fn first_realise_then_a_second_that_makes_no_request() {
    let (f, m) = setup();
    let out = f.ok(&["realise", m.to_str().unwrap()]);
    let path = out.trim();
    assert!(
        path.contains("/store/") && path.ends_with("-test_exporter-1.0.0"),
        "{out}"
    );
    assert!(std::path::Path::new(path).join("bin").join(N).is_file());
    assert_eq!(
        f.server.request_count(),
        2,
        "archive + checksum file: {:?}",
        f.server.requests()
    );
    f.server.clear_requests();
    let again = f.ok(&["realise", m.to_str().unwrap()]);
    assert_eq!(again, out);
    assert_eq!(f.server.request_count(), 0, "{:?}", f.server.requests());
    // Nothing outside the store and cache was touched.
    assert!(!f.root().join("usr").exists());
    assert!(!f.state().join("profiles").exists());
}

#[test]
fn lock_then_realise_from_the_lock_and_a_stale_lock_is_refused() {
    let (mut f, m) = setup();
    f.ok(&["lock", m.to_str().unwrap()]);
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(m.with_extension("yaml.lock")).unwrap()).unwrap();
    let entry = &lock["exporters"][0];
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
    // A fresh store realises from the lock: the checksum file is not needed.
    std::fs::remove_dir_all(f.state()).unwrap();
    f.server.clear_requests();
    let out = f.ok(&["realise", m.to_str().unwrap()]);
    assert!(out.trim().ends_with(entry["store_path"].as_str().unwrap()));
    assert!(
        f.server.requests().iter().all(|p| !p.ends_with("sha256sums.txt")),
        "{:?}",
        f.server.requests()
    );
    // The manifest moves on; the lock no longer matches.
    f.publish(N, "2.0.0", Behaviour::Ok);
    let m2 = f.manifest("m.yaml", &[f.entry(N, "2.0.0", 1)]);
    let out = f.run(&["realise", m2.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no longer matches") && err.contains("manifest says 2.0.0, lock says 1.0.0"),
        "{err}"
    );
}

#[test]
fn a_tampered_archive_is_refused_and_the_store_is_unchanged() {
    let (f, m) = setup();
    let base = f.release_base(N, "1.0.0");
    f.server.add_file(
        &format!("{base}/{N}-1.0.0.linux-amd64.tar.gz"),
        b"not what was checksummed".to_vec(),
    );
    let out = f.run(&["realise", m.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(f.store_paths().is_empty());
}

#[test]
fn hostile_archives_are_refused_naming_the_entry() {
    for kind in [
        Hostile::AbsolutePath,
        Hostile::DotDot,
        Hostile::SymlinkEscape,
        Hostile::CharDevice,
        Hostile::Fifo,
    ] {
        let mut f = Fixture::new();
        let (archive, entry) = hostile(kind, "1.0.0", b"#!/bin/sh\n");
        // The hostile builders use node_exporter's layout.
        f.publish_archive("node_exporter", "1.0.0", archive);
        let m = f.manifest("m.yaml", &[f.entry("node_exporter", "1.0.0", 1)]);
        let out = f.run(&["realise", m.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{kind:?}: {err}");
        assert!(err.contains(&entry), "{kind:?}: `{entry}` not named in: {err}");
        // The archive is named by where it came from, not by its cache file.
        assert!(
            err.contains("node_exporter-1.0.0.linux-amd64.tar.gz"),
            "{kind:?}: {err}"
        );
        assert!(!err.contains("cache/downloads"), "{kind:?}: {err}");
        assert!(f.store_paths().is_empty(), "{kind:?}");
    }
}

#[test]
fn a_404_names_the_url_and_version() {
    let (f, m) = setup();
    let base = f.release_base(N, "1.0.0");
    f.server.remove_file(&format!("{base}/{N}-1.0.0.linux-amd64.tar.gz"));
    let out = f.run(&["realise", m.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    // A version the source does not publish is the manifest's to fix: exit 2.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("1.0.0") && err.contains("404") && err.contains(&format!("{N}-1.0.0.linux-amd64.tar.gz")),
        "{err}"
    );
    assert!(err.contains("check `version`"), "{err}");
}

#[test]
fn a_500_and_a_connection_dropped_mid_body_are_retried() {
    let (f, m) = setup();
    let archive = format!("{}/{N}-1.0.0.linux-amd64.tar.gz", f.release_base(N, "1.0.0"));
    f.server.fail_next(&archive, 1, Fault::Status(500));
    f.server.fail_next(&archive, 1, Fault::DropMidBody);
    let out = f.ok(&["realise", m.to_str().unwrap()]);
    assert!(out.contains("-test_exporter-1.0.0"));
    assert!(f.server.requests_for(&archive) >= 3, "{:?}", f.server.requests());
}

#[test]
fn store_verify_catches_a_modified_file() {
    let (f, m) = setup();
    let out = f.ok(&["realise", m.to_str().unwrap()]);
    f.ok(&["store", "verify"]);
    let bin = std::path::Path::new(out.trim()).join("bin").join(N);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(&bin, b"#!/bin/sh\necho pwned\n").unwrap();
    let out = f.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("-test_exporter-1.0.0: modified"));
}

/// Deletes a store path the way `rm -rf` as root would (store trees are read-only).
fn delete_tree(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for dir in [p.join("bin"), p.to_path_buf()] {
        if dir.is_dir() {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    std::fs::remove_dir_all(p).unwrap();
}

#[test]
fn a_store_path_deleted_by_hand_is_reported_and_never_switched_to() {
    use common::fixture::served_version;
    let mut f = Fixture::new();
    let (port, m) = f.versions(N, &[("1.0.0", Behaviour::Ok), ("2.0.0", Behaviour::Ok)]);
    let (m1, m2) = (&m[0], &m[1]);
    let v1 = f.ok(&["realise", m1.to_str().unwrap()]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    f.ok(&["switch", m2.to_str().unwrap(), "--mode", "fast"]);

    // Generation 1's release goes missing: its metadata record goes with it,
    // so only the generations that need it can tell.
    let v1 = std::path::PathBuf::from(v1.trim());
    let name = v1.file_name().unwrap().to_string_lossy().into_owned();
    delete_tree(&v1);
    std::fs::remove_file(f.state().join("store/.meta").join(format!("{name}.json"))).ok();
    let out = f.run(&["store", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{name}: missing")), "{stdout}");

    // Rolling back to it is refused before anything moves.
    let out = f.run(&["rollback", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(f.json(&["generations"])["current"], 2);
    assert_eq!(served_version(N, port).as_deref(), Some("2.0.0"));
    f.assert_links_resolve();

    // A switch to its manifest realises it again.
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    f.ok(&["store", "verify"]);
}

/// A source URL with `user:password@`: the download uses the credentials,
/// but the password (and the user name, which may itself be a token) is
/// never written to the world-readable store metadata nor printed; and the
/// store path is still reused by the next realise.
#[test]
fn credentials_in_a_source_url_are_neither_stored_nor_printed() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let entry = f.entry(N, "1.0.0", 1).replace("http://", "http://bob:hunter2@");
    assert!(entry.contains("bob:hunter2@"), "{entry}");
    let m = f.manifest("m.yaml", &[entry]);
    let m = m.to_str().unwrap();
    let no_secret = |what: &str, text: &str| {
        assert!(!text.contains("hunter2"), "{what} shows the password:\n{text}");
    };

    let out = f.run_env(&["-vv", "realise", m], &[("RUST_LOG", "exporterctl=debug")]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    no_secret("realise's stdout", &stdout);
    no_secret("realise's stderr", &stderr);
    // The requests did carry the credentials (Basic bob:hunter2).
    let auth: Vec<_> = f
        .server
        .recorded()
        .iter()
        .map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert!(
        auth.iter().all(|a| a.as_deref() == Some("Basic Ym9iOmh1bnRlcjI=")),
        "{auth:?}"
    );

    let meta_dir = f.state().join("store/.meta");
    let mut records = 0;
    for entry in std::fs::read_dir(&meta_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            records += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            no_secret(&path.display().to_string(), &text);
            assert!(!text.contains("bob"), "{}: {text}", path.display());
        }
    }
    assert_eq!(records, 1);

    let ls = f.run(&["store", "ls", "--json"]);
    assert!(ls.status.success());
    let ls_text = String::from_utf8_lossy(&ls.stdout);
    no_secret("store ls --json", &ls_text);
    no_secret("store ls's stderr", &String::from_utf8_lossy(&ls.stderr));
    let listed: serde_json::Value = serde_json::from_str(&ls_text).unwrap();
    let origin = listed.to_string();
    assert!(
        origin.contains(&format!(
            "\"origin_url\":\"{}/test/{N}/releases/download/v1.0.0/",
            f.server.url()
        )),
        "{origin}"
    );

    // The store path is found again by its credential-free origin: no request.
    f.server.clear_requests();
    let again = f.run(&["realise", m]);
    assert!(again.status.success());
    assert_eq!(again.stdout, out.stdout);
    no_secret("the second realise's stderr", &String::from_utf8_lossy(&again.stderr));
    assert_eq!(f.server.request_count(), 0, "{:?}", f.server.requests());
}

/// A secret in the query string of the source and checksum URLs (a token, a
/// pre-signed URL's signature) is sent with the requests but never stored
/// nor printed: no file under `--root` (store metadata, download cache, lock
/// file, generations, switch records) and no output of `realise`, `lock`,
/// `switch --dry-run --json`, `switch`, `store ls --json` or a failing
/// download holds it; the messages say a token was given (`token=redacted`).
#[test]
fn a_secret_in_a_source_urls_query_is_neither_stored_nor_printed() {
    use common::fixture::served_version;
    const SECRET: &str = "SEKRET123";
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = common::fixture::free_port();
    let with_secret = |entry: String| {
        entry
            .replace(
                ".tar.gz\"",
                &format!(".tar.gz?token={SECRET}&X-Amz-Signature={SECRET}&arch=amd64\""),
            )
            .replace("sha256sums.txt\"", &format!("sha256sums.txt?Private_Token={SECRET}\""))
    };
    let entry = with_secret(f.entry(N, "1.0.0", port));
    assert_eq!(entry.matches(SECRET).count(), 3, "{entry}");
    let m = f.manifest("m.yaml", &[entry]);
    let ms = m.to_str().unwrap();
    let no_secret = |what: &str, out: &std::process::Output| {
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{what} shows the secret:\n{stdout}\n{stderr}"
        );
        format!("{stdout}{stderr}")
    };

    let out = f.run_env(&["-vv", "realise", ms], &[("RUST_LOG", "exporterctl=debug")]);
    let text = no_secret("realise", &out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("token=redacted&X-Amz-Signature=redacted&arch=amd64"),
        "{text}"
    );
    // The requests did carry the secret.
    let requests = f.server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|r| r.contains(SECRET)), "{requests:?}");

    let out = f.run(&["lock", ms]);
    assert!(out.status.success(), "{}", no_secret("lock", &out));
    no_secret("lock", &out);
    let lock_file = f.root().join("m.yaml.lock");
    let lock = std::fs::read_to_string(&lock_file).unwrap();
    assert!(lock.contains("token=redacted"), "{lock}");

    // The lock (holding the redacted URL) still matches the manifest, and the
    // store path is found again by its redacted origin: no request.
    f.server.clear_requests();
    let out = f.run(&["realise", ms]);
    assert!(out.status.success(), "{}", no_secret("the second realise", &out));
    no_secret("the second realise", &out);
    assert_eq!(f.server.request_count(), 0, "{:?}", f.server.requests());

    // A rotated token is the same source: the lock still matches. A changed
    // URL makes it stale, and the message shows both URLs redacted.
    let manifest = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, manifest.replace(SECRET, "R0TATED456")).unwrap();
    let out = f.run(&["realise", ms]);
    let text = no_secret("realise after a rotation", &out);
    assert!(out.status.success() && !text.contains("R0TATED456"), "{text}");
    assert_eq!(f.server.request_count(), 0, "{:?}", f.server.requests());
    std::fs::write(&m, manifest.replace("&arch=amd64", "&arch=x86_64")).unwrap();
    let out = f.run(&["realise", ms]);
    let text = no_secret("realise with a stale lock", &out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("source URL changed from ") && text.contains("X-Amz-Signature=redacted&arch=x86_64"),
        "{text}"
    );
    std::fs::write(&m, &manifest).unwrap();

    let out = f.run(&["switch", ms, "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", no_secret("switch --dry-run --json", &out));
    no_secret("switch --dry-run --json", &out);
    let out = f.run(&["switch", ms, "--mode", "fast"]);
    assert!(out.status.success(), "{}", no_secret("switch", &out));
    no_secret("switch", &out);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));

    let out = f.run(&["store", "ls", "--json"]);
    assert!(out.status.success());
    let listed = no_secret("store ls --json", &out);
    assert!(
        listed.contains(".tar.gz?token=redacted&X-Amz-Signature=redacted&arch=amd64\""),
        "{listed}"
    );

    for args in [&["check", ms][..], &["check", ms, "--json"]] {
        let out = f.run(args);
        let text = no_secret("check", &out);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains(".tar.gz?token=redacted&X-Amz-Signature=redacted"),
            "{text}"
        );
        if args.len() == 3 {
            assert!(text.contains("sha256sums.txt?Private_Token=redacted"), "{text}");
        }
    }

    // A release that is not there: the 404 names the URL, redacted.
    f.server.clear_requests();
    let m404 = f.manifest("m404.yaml", &[with_secret(f.entry(N, "9.9.9", port))]);
    let out = f.run(&["realise", m404.to_str().unwrap()]);
    let text = no_secret("a failing download", &out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("sha256sums.txt?Private_Token=redacted was not found"),
        "{text}"
    );
    assert!(f.server.requests().iter().any(|r| r.contains(SECRET)));

    // Every file under --root but the two manifests themselves.
    let mut files = 0;
    let mut dirs = vec![f.root().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() && path != m && path != m404 {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                    "{} holds the secret:\n{}",
                    path.display(),
                    String::from_utf8_lossy(&bytes)
                );
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                assert!(!target.to_string_lossy().contains(SECRET), "{}", path.display());
            }
        }
    }
    assert!(files > 10, "{files} files under the root");
}

/// The manifest `m` with `download` (indented YAML lines) under `settings`.
fn with_download_settings(m: &std::path::Path, download: &str) {
    let text = std::fs::read_to_string(m).unwrap();
    let text = text.replacen("settings:\n", &format!("settings:\n  download:\n{download}"), 1);
    std::fs::write(m, text).unwrap();
}

#[test]
fn an_endless_download_stops_at_settings_download_max_size() {
    let (f, m) = setup();
    with_download_settings(&m, "    max_size: 1048576\n    timeout: 10m\n");
    let archive = format!("{}/{N}-1.0.0.linux-amd64.tar.gz", f.release_base(N, "1.0.0"));
    f.server.fail_next(&archive, 10, Fault::Endless { declared: None });
    let out = f.run(&["realise", m.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("larger than the limit of 1.0 MiB (settings.download.max_size)"),
        "{stderr}"
    );
    assert_eq!(f.server.requests_for(&archive), 1);
    // The partial file is gone.
    let downloads = f.state().join("cache/downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .expect("the download began in the cache")
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_download_settings_are_refused_naming_the_key() {
    for (lines, key, says) in [
        (
            "    max_size: 10 parsecs\n",
            "settings.download.max_size",
            "unknown unit",
        ),
        ("    max_size: 12\n", "settings.download.max_size", "out of range"),
        (
            "    timeout: 400000000000y\n",
            "settings.download.timeout",
            "out of range",
        ),
        ("    min_rate: fast\n", "settings.download.min_rate", "not a size"),
        (
            "    min_rate_window: 0s\n",
            "settings.download.min_rate_window",
            "out of range",
        ),
        ("    max_bytes: 1\n", "max_bytes", "unknown field"),
    ] {
        let (f, m) = setup();
        with_download_settings(&m, lines);
        let out = f.run(&["realise", m.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {stderr}");
        assert!(stderr.contains(key) && stderr.contains(says), "{lines}: {stderr}");
        assert_eq!(f.server.request_count(), 0, "{lines}");
    }
}

//! The content-addressed store through its public API: adds, identity,
//! normalisation, hostile archives, crash leftovers, verify and delete.

mod common;

use common::archives::{self, Hostile};
use exporterctl::paths::Layout;
use exporterctl::store::ArchiveKind;
use exporterctl::store::{self, EntryKind, Store, StoreError, StoreMeta, StorePath, VerifyOutcome};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const V: &str = "1.9.1";
const URL: &str =
    "https://github.com/prometheus/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-amd64.tar.gz";

struct Fixture {
    _tmp: tempfile::TempDir,
    layout: Layout,
    store: Store,
    downloads: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path().join("root"));
    let store = Store::open(&layout).unwrap();
    // As a realise does first: lookups go through the release index.
    store.index_releases().unwrap();
    let downloads = tmp.path().join("downloads");
    fs::create_dir(&downloads).unwrap();
    Fixture {
        _tmp: tmp,
        layout,
        store,
        downloads,
    }
}

fn binary() -> Vec<u8> {
    let mut b = b"\x7fELF".to_vec();
    b.extend(archives::pseudo_random(100_000, 42));
    b
}

fn add(f: &Fixture, store: &Store, archive: &Path) -> Result<StorePath, StoreError> {
    let _ = f;
    let bin = archives::node_binary(V);
    store.add_release(&store::AddRelease {
        name: "node_exporter",
        version: V,
        archive,
        kind: ArchiveKind::TarGz,
        binary: Some(&bin),
        origin_url: URL,
        archive_sha256: "00".repeat(32).as_str(),
        archive_size: fs::metadata(archive).unwrap().len(),
    })
}

/// Names in `dir` other than the dot-directories.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mtime(p: &Path) -> i64 {
    fs::symlink_metadata(p).unwrap().mtime()
}

#[test]
fn add_release_then_identical_readd_returns_the_same_path_once() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    assert_eq!(sp.rest(), "node_exporter-1.9.1");
    assert_eq!(sp.hash().len(), 32);
    assert!(f.store.is_valid(&sp));
    let dir = f.store.path_of(&sp);
    assert_eq!(names(&dir), vec!["bin"]);
    assert_eq!(names(&dir.join("bin")), vec!["node_exporter"]);
    assert_eq!(fs::read(dir.join("bin/node_exporter")).unwrap(), binary());

    let meta: StoreMeta = f.store.meta(&sp).unwrap().unwrap();
    assert_eq!(meta.layout_version, 1);
    assert_eq!(meta.store_path, sp.as_str());
    assert_eq!(meta.kind, EntryKind::Release);
    assert_eq!(meta.name, "node_exporter");
    assert_eq!(meta.version.as_deref(), Some(V));
    assert_eq!(meta.origin_url.as_deref(), Some(URL));
    assert_eq!(meta.size, binary().len() as u64);
    assert!(
        meta.added_at.ends_with('Z') && meta.added_at.len() == 20,
        "{}",
        meta.added_at
    );
    let added_at = meta.added_at.clone();

    // Same archive again, and another archive with other extras but the same binary.
    assert_eq!(add(&f, &f.store, &archive).unwrap(), sp);
    let mut other = archives::node_exporter_prefix(V);
    other.file(&format!("{}/README.md", archives::node_dir(V)), 0o644, b"# readme\n");
    other.file(&archives::node_binary(V), 0o755, &binary());
    let other = archives::write(&f.downloads, "b.tar.gz", &other.finish());
    assert_eq!(add(&f, &f.store, &other).unwrap(), sp);

    assert_eq!(f.store.list().unwrap().len(), 1);
    assert_eq!(
        f.store.meta(&sp).unwrap().unwrap().added_at,
        added_at,
        "added once, never re-recorded"
    );
    assert_eq!(names(f.store.dir()), vec![sp.to_string()]);
    assert_eq!(
        fs::read_dir(f.layout.tmp_dir()).unwrap().count(),
        0,
        "no temp dirs left behind"
    );

    // Different content, different path.
    let mut changed = binary();
    changed[100] ^= 1;
    let c = archives::write(&f.downloads, "c.tar.gz", &archives::node_exporter(V, &changed));
    let sp2 = add(&f, &f.store, &c).unwrap();
    assert_ne!(sp2.hash(), sp.hash());
    assert_eq!(f.store.list().unwrap().len(), 2);
}

#[test]
fn modes_are_0444_0555_and_mtimes_are_1() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    let dir = f.store.path_of(&sp);
    for p in [dir.clone(), dir.join("bin"), dir.join("bin/node_exporter")] {
        assert_eq!(mode(&p), 0o555, "{}", p.display());
        assert_eq!(mtime(&p), 1, "{}", p.display());
    }

    let sp = f
        .store
        .add_tree("unit-node_exporter.service", EntryKind::Unit, None, &mut |d| {
            fs::write(
                d.join("node_exporter.service"),
                "[Service]\nExecStart=/usr/local/bin/node_exporter\n",
            )?;
            fs::create_dir(d.join("sub"))?;
            fs::write(d.join("sub/tool"), "#!/bin/sh\n")?;
            fs::set_permissions(d.join("sub/tool"), fs::Permissions::from_mode(0o4775))
        })
        .unwrap();
    let dir = f.store.path_of(&sp);
    assert_eq!(mode(&dir.join("node_exporter.service")), 0o444);
    assert_eq!(mode(&dir.join("sub/tool")), 0o555, "setuid and group write are dropped");
    for p in [dir.clone(), dir.join("sub")] {
        assert_eq!(mode(&p), 0o555);
    }
    for p in [
        dir.clone(),
        dir.join("sub"),
        dir.join("sub/tool"),
        dir.join("node_exporter.service"),
    ] {
        assert_eq!(mtime(&p), 1, "{}", p.display());
    }
}

#[test]
fn hash_tree_equals_the_hash_computed_while_unpacking() {
    let f = fixture();
    // Big enough that hash_tree takes the mmap + rayon path.
    let mut big = binary();
    big.extend(archives::pseudo_random(3 << 20, 7));
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &big));
    let sp = add(&f, &f.store, &archive).unwrap();
    let full = store::hash_tree(&f.store.path_of(&sp)).unwrap();
    assert_eq!(full.len(), 64);
    assert_eq!(&full[..32], sp.hash());
    assert_eq!(f.store.verify(&sp).unwrap(), VerifyOutcome::Ok);
}

#[test]
fn raw_downloads_become_bin_name() {
    let f = fixture();
    let download = archives::write(&f.downloads, "fail2ban_exporter", &binary());
    let req = store::AddRelease {
        name: "fail2ban_exporter",
        version: "0.10.3",
        archive: &download,
        kind: ArchiveKind::Raw,
        binary: None,
        origin_url: "https://example.com/fail2ban_exporter",
        archive_sha256: "ab",
        archive_size: binary().len() as u64,
    };
    let sp = f.store.add_release(&req).unwrap();
    assert_eq!(sp.rest(), "fail2ban_exporter-0.10.3");
    let bin = f.store.path_of(&sp).join("bin/fail2ban_exporter");
    assert_eq!(fs::read(&bin).unwrap(), binary());
    assert_eq!(mode(&bin), 0o555);
    assert_eq!(&store::hash_tree(&f.store.path_of(&sp)).unwrap()[..32], sp.hash());
    assert_eq!(f.store.add_release(&req).unwrap(), sp);

    // The same bytes from a tar.gz hash the same: the store holds only bin/<name>.
    let mut b = archives::ArchiveBuilder::new();
    b.file("fail2ban_exporter", 0o755, &binary());
    let archive = archives::write(&f.downloads, "f.tar.gz", &b.finish());
    let from_tar = f
        .store
        .add_release(&store::AddRelease {
            archive: &archive,
            kind: ArchiveKind::TarGz,
            binary: Some("./fail2ban_exporter"),
            ..req
        })
        .unwrap();
    assert_eq!(from_tar, sp);
}

/// No valid path appeared, and whatever the failed add left is cleanable.
fn assert_store_unchanged(f: &Fixture) {
    assert!(f.store.list().unwrap().is_empty());
    assert!(names(&f.layout.meta_dir()).is_empty());
    f.store.clean_leftovers().unwrap();
    assert!(names(f.store.dir()).is_empty());
    assert_eq!(fs::read_dir(f.layout.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn every_hostile_archive_is_refused_with_the_entry_named() {
    for kind in Hostile::ALL {
        let f = fixture();
        let (bytes, entry) = archives::hostile(kind, V, &binary());
        let archive = archives::write(&f.downloads, "evil.tar.gz", &bytes);
        let err = add(&f, &f.store, &archive).expect_err(&format!("{kind:?} must be refused"));
        let msg = err.to_string();
        match (kind, &err) {
            (Hostile::Oversize, StoreError::TooLarge { limit, .. }) => {
                assert_eq!(*limit, store::MAX_EXPANDED_SIZE)
            }
            (Hostile::MissingBinary, StoreError::BinaryMissing { binary, hint, .. }) => {
                assert_eq!(binary, &entry);
                assert!(hint.contains("other_tool"), "{kind:?}: hint lists executables: {msg}");
            }
            (
                _,
                StoreError::BadEntry {
                    entry: named, reason, ..
                },
            ) => {
                assert_eq!(named, &entry, "{kind:?}: {msg}");
                assert!(!reason.is_empty());
            }
            _ => panic!("{kind:?}: unexpected error {msg}"),
        }
        // Named by its URL: the cache file's name would tell a reader nothing.
        assert!(msg.contains(URL), "{kind:?}: the archive is named: {msg}");
        // The temp dir is gone already, even before clean_leftovers.
        assert_eq!(fs::read_dir(f.layout.tmp_dir()).unwrap().count(), 0, "{kind:?}");
        assert_store_unchanged(&f);
    }
}

#[test]
fn link_binaries_are_refused_with_the_reason() {
    let f = fixture();
    for kind in [Hostile::SymlinkBinary, Hostile::HardlinkBinary] {
        let (bytes, _) = archives::hostile(kind, V, &binary());
        let archive = archives::write(&f.downloads, "l.tar.gz", &bytes);
        let msg = add(&f, &f.store, &archive).unwrap_err().to_string();
        assert!(
            msg.contains("real_binary") && msg.contains("point `binary` at the file itself"),
            "{msg}"
        );
    }
    assert_store_unchanged(&f);
}

#[test]
fn names_that_are_not_safe_file_names_are_refused_before_any_work() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let bin = archives::node_binary(V);
    for (name, version) in [
        ("..", V),
        (".", V),
        ("node/exporter", V),
        ("node_exporter", "1.0 rc"),
        ("", V),
        ("x", ""),
    ] {
        let err = f
            .store
            .add_release(&store::AddRelease {
                name,
                version,
                archive: &archive,
                kind: ArchiveKind::TarGz,
                binary: Some(&bin),
                origin_url: URL,
                archive_sha256: "00",
                archive_size: 1,
            })
            .expect_err(&format!("{name:?} {version:?}"));
        assert!(err.to_string().contains("cannot be part of a store path name"), "{err}");
    }
    assert_store_unchanged(&f);
}

#[test]
fn total_expansion_above_the_limit_is_refused() {
    let f = fixture();
    let store = Store::open(&f.layout).unwrap().with_max_expanded(1 << 20);
    let archive = archives::write(&f.downloads, "many.tar.gz", &archives::many_files(V, 4, 300_000));
    match add(&f, &store, &archive) {
        Err(StoreError::TooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_store_unchanged(&f);
    // Under the limit it is fine.
    let archive = archives::write(&f.downloads, "few.tar.gz", &archives::many_files(V, 2, 300_000));
    add(&f, &store, &archive).unwrap();
}

#[test]
fn a_corrupt_or_truncated_archive_leaves_nothing_valid() {
    let f = fixture();
    let good = archives::node_exporter(V, &binary());
    let truncated = archives::write(&f.downloads, "t.tar.gz", &good[..good.len() / 2]);
    assert!(add(&f, &f.store, &truncated).is_err());
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let flipped = archives::write(&f.downloads, "f.tar.gz", &flipped);
    assert!(add(&f, &f.store, &flipped).is_err());
    let not_gz = archives::write(&f.downloads, "n.tar.gz", b"<html>rate limited</html>");
    assert!(add(&f, &f.store, &not_gz).is_err());
    assert_store_unchanged(&f);
}

#[test]
fn kill_style_leftovers_are_not_listed_and_are_cleaned() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let keep = add(&f, &f.store, &archive).unwrap();

    // A renamed-but-unrecorded directory (killed between rename and metadata)…
    let orphan = f.store.dir().join(format!("{}-node_exporter-1.8.0", "ab".repeat(16)));
    fs::create_dir_all(orphan.join("bin")).unwrap();
    fs::write(orphan.join("bin/node_exporter"), b"half").unwrap();
    fs::set_permissions(orphan.join("bin"), fs::Permissions::from_mode(0o555)).unwrap();
    // …a half-unpacked temp dir, read-only in parts…
    let tmp = f.layout.tmp_dir().join("add-XYZ");
    fs::create_dir_all(tmp.join("bin")).unwrap();
    fs::write(tmp.join("bin/x"), b"partial").unwrap();
    fs::set_permissions(tmp.join("bin"), fs::Permissions::from_mode(0o555)).unwrap();
    // …and a metadata temp file from an interrupted write_atomic.
    fs::write(f.layout.meta_dir().join(".x.json.tmp-1-0"), b"{").unwrap();

    let orphan_sp = StorePath::parse(orphan.file_name().unwrap().to_str().unwrap()).unwrap();
    assert!(!f.store.is_valid(&orphan_sp));
    assert_eq!(f.store.verify(&orphan_sp).unwrap(), VerifyOutcome::Missing);
    let listed: Vec<String> = f.store.list().unwrap().into_iter().map(|m| m.store_path).collect();
    assert_eq!(listed, vec![keep.to_string()]);

    assert_eq!(f.store.clean_leftovers().unwrap(), 3);
    assert!(!orphan.exists() && !tmp.exists());
    assert_eq!(names(f.store.dir()), vec![keep.to_string()]);
    assert!(f.store.is_valid(&keep));
    assert_eq!(f.store.verify(&keep).unwrap(), VerifyOutcome::Ok);
    assert_eq!(f.store.clean_leftovers().unwrap(), 0);
}

#[test]
fn an_unrecorded_directory_at_the_target_name_is_replaced_on_readd() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    // Simulate a crash after the rename: metadata gone, content half-written.
    fs::remove_file(f.layout.meta_dir().join(format!("{sp}.json"))).unwrap();
    let bin = f.store.path_of(&sp).join("bin/node_exporter");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&bin, b"truncat").unwrap();
    assert!(!f.store.is_valid(&sp));

    assert_eq!(add(&f, &f.store, &archive).unwrap(), sp);
    assert!(f.store.is_valid(&sp));
    assert_eq!(fs::read(&bin).unwrap(), binary());
    assert_eq!(f.store.verify(&sp).unwrap(), VerifyOutcome::Ok);
}

#[test]
fn verify_catches_modified_and_missing_content() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    let dir = f.store.path_of(&sp);
    let bin = dir.join("bin/node_exporter");
    assert_eq!(f.store.verify(&sp).unwrap(), VerifyOutcome::Ok);

    // chmod u+w, then write one byte.
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let mut content = fs::read(&bin).unwrap();
    content[10] ^= 1;
    fs::write(&bin, &content).unwrap();
    match f.store.verify(&sp).unwrap() {
        VerifyOutcome::Modified { actual_hash } => {
            assert_eq!(actual_hash.len(), 32);
            assert_ne!(actual_hash, sp.hash());
        }
        other => panic!("expected Modified, got {other:?}"),
    }

    // A file missing inside the tree is a modification too.
    fs::set_permissions(dir.join("bin"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_file(&bin).unwrap();
    assert!(matches!(f.store.verify(&sp).unwrap(), VerifyOutcome::Modified { .. }));

    // The whole path gone is Missing.
    exporterctl::fsutil::remove_tree(&dir).unwrap();
    assert_eq!(f.store.verify(&sp).unwrap(), VerifyOutcome::Missing);
    assert!(!f.store.is_valid(&sp));
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn delete_invalidates_and_frees_the_bytes() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    let freed = f.store.delete(&sp).unwrap();
    assert_eq!(freed, binary().len() as u64);
    assert!(!f.store.is_valid(&sp));
    assert!(!f.store.path_of(&sp).exists());
    assert!(!f.layout.meta_dir().join(format!("{sp}.json")).exists());
    assert!(f.store.list().unwrap().is_empty());
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), None);
    assert_eq!(f.store.delete(&sp).unwrap(), 0, "deleting again is a no-op");
    // And it can be added again.
    assert_eq!(add(&f, &f.store, &archive).unwrap(), sp);
}

#[test]
fn an_interrupted_delete_leaves_an_invalid_cleanable_directory() {
    // delete() removes the record first; a crash right after that leaves the
    // files without metadata, which is exactly this state.
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    fs::remove_file(f.layout.meta_dir().join(format!("{sp}.json"))).unwrap();
    assert!(!f.store.is_valid(&sp));
    assert!(f.store.list().unwrap().is_empty());
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), None);
    assert_eq!(f.store.clean_leftovers().unwrap(), 1);
    assert!(!f.store.path_of(&sp).exists());
}

#[test]
fn find_release_matches_name_version_and_origin() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), None);
    let sp = add(&f, &f.store, &archive).unwrap();
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), Some(sp));
    assert_eq!(f.store.find_release("node_exporter", "1.9.0", URL).unwrap(), None);
    assert_eq!(
        f.store
            .find_release("node_exporter", V, "https://mirror/x.tar.gz")
            .unwrap(),
        None
    );
    assert_eq!(f.store.find_release("nginx_exporter", V, URL).unwrap(), None);
    // A reopened store sees the same.
    let again = Store::open(&f.layout).unwrap();
    assert!(again.find_release("node_exporter", V, URL).unwrap().is_some());
}

#[test]
fn add_tree_keeps_relative_symlinks_of_a_profile_farm() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let rel = add(&f, &f.store, &archive).unwrap();
    let target = format!("../../{rel}/bin/node_exporter");
    let mut build = |d: &Path| -> std::io::Result<()> {
        fs::create_dir(d.join("bin"))?;
        std::os::unix::fs::symlink(&target, d.join("bin/node_exporter"))?;
        fs::write(d.join("state.json"), b"{}\n")
    };
    let sp = f
        .store
        .add_tree("generation-1", EntryKind::Profile, Some("1"), &mut build)
        .unwrap();
    assert_eq!(sp.rest(), "generation-1");
    let link = f.store.path_of(&sp).join("bin/node_exporter");
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(&target));
    assert_eq!(fs::read(&link).unwrap(), binary(), "resolves into the release");
    assert_eq!(mtime(&link), 1, "symlink mtime set with AT_SYMLINK_NOFOLLOW");
    let meta = f.store.meta(&sp).unwrap().unwrap();
    assert_eq!(
        (meta.kind, meta.name.as_str(), meta.version.as_deref()),
        (EntryKind::Profile, "generation", Some("1"))
    );
    assert_eq!(meta.size, 3);
    assert_eq!(f.store.verify(&sp).unwrap(), VerifyOutcome::Ok);

    // Identical tree: same path, the second temp dir discarded.
    assert_eq!(
        f.store
            .add_tree("generation-1", EntryKind::Profile, Some("1"), &mut build)
            .unwrap(),
        sp
    );
    assert_eq!(fs::read_dir(f.layout.tmp_dir()).unwrap().count(), 0);
    // The symlink target is part of the identity.
    let other = f
        .store
        .add_tree("generation-1", EntryKind::Profile, Some("1"), &mut |d| {
            fs::create_dir(d.join("bin"))?;
            std::os::unix::fs::symlink("../../elsewhere", d.join("bin/node_exporter"))?;
            fs::write(d.join("state.json"), b"{}\n")
        })
        .unwrap();
    assert_ne!(other, sp);
}

#[test]
fn add_tree_refuses_bad_names_and_exotic_files_and_cleans_up() {
    let f = fixture();
    for bad in ["", "a/b", "../x", "a b"] {
        assert!(
            f.store.add_tree(bad, EntryKind::Unit, None, &mut |_| Ok(())).is_err(),
            "{bad:?}"
        );
    }
    let err = f
        .store
        .add_tree("fifo", EntryKind::Adopted, None, &mut |d| {
            nix::unistd::mkfifo(&d.join("p"), nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(std::io::Error::from)
        })
        .unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
    let err = f
        .store
        .add_tree("failing", EntryKind::Adopted, None, &mut |d| {
            fs::write(d.join("half"), b"x")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_store_unchanged(&f);
}

#[test]
fn store_path_names_are_checked_when_parsed_and_deserialised() {
    let h = "0123456789abcdef0123456789abcdef";
    let sp = StorePath::parse(&format!("{h}-node_exporter-1.9.1")).unwrap();
    assert_eq!((sp.hash(), sp.rest()), (h, "node_exporter-1.9.1"));
    for bad in [
        format!("{h}-"),
        format!("{h}-a/b"),
        h.to_string(),
        "node_exporter".into(),
        format!("{}-x", &h[1..]),
    ] {
        assert!(matches!(StorePath::parse(&bad), Err(StoreError::BadName(_))), "{bad}");
        assert!(serde_json::from_str::<StorePath>(&format!("{bad:?}")).is_err(), "{bad}");
    }
    let json = serde_json::to_string(&sp).unwrap();
    assert_eq!(json, format!("\"{sp}\""));
    assert_eq!(serde_json::from_str::<StorePath>(&json).unwrap(), sp);
}

#[test]
fn parallel_adds_of_identical_content_agree() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let paths: Vec<StorePath> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| add(&f, &f.store, &archive).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(f.store.list().unwrap().len(), 1);
    assert_eq!(names(f.store.dir()), vec![paths[0].to_string()]);
    assert_eq!(fs::read_dir(f.layout.tmp_dir()).unwrap().count(), 0);
    assert_eq!(f.store.verify(&paths[0]).unwrap(), VerifyOutcome::Ok);
}

#[test]
fn a_huge_gnu_long_name_is_refused_before_it_is_read() {
    // 256 MiB of long name in a ~256 KiB archive: the tar crate read all of
    // it into memory (GiBs with the copies) before returning the entry. It
    // is refused by its header's size; the stream cap (1.25 GiB with the
    // default limit) is far away, so this is the only thing that stops it.
    let f = fixture();
    let bytes = archives::long_name_bomb(V, b"#!/bin/true\n", 256);
    assert!(bytes.len() < 1 << 20, "{}", bytes.len());
    let archive = archives::write(&f.downloads, "bomb.tar.gz", &bytes);
    let err = add(&f, &f.store, &archive).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::BadEntry { .. })
            && msg.contains("GNU long name record of 268435456 bytes, more than the 4096 bytes allowed"),
        "{msg}"
    );
    assert_store_unchanged(&f);
}

/// `add` of a `node_exporter` archive whose entries after the prefix are
/// made by `build`; the binary is added last, under its normal name.
fn add_with(f: &Fixture, build: impl FnOnce(&mut archives::ArchiveBuilder)) -> Result<StorePath, StoreError> {
    let mut b = archives::node_exporter_prefix(V);
    build(&mut b);
    b.file(&archives::node_binary(V), 0o755, b"#!/bin/true\n");
    let archive = archives::write(&f.downloads, "x.tar.gz", &b.finish());
    add(f, &f.store, &archive)
}

fn refused(r: Result<StorePath, StoreError>, says: &str) {
    match r {
        Err(e @ StoreError::BadEntry { .. }) => assert!(e.to_string().contains(says), "{e}"),
        other => panic!("expected BadEntry saying {says:?}, got {other:?}"),
    }
}

#[test]
fn header_extensions_and_names_are_bounded() {
    use tar::EntryType;
    let f = fixture();
    let big_pax = archives::pax_record("comment", &vec![b'c'; 70_000]);
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XHeader, &big_pax).file("n/x", 0o644, b"x");
        }),
        "PAX extended header of 70",
    );
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XGlobalHeader, &big_pax);
        }),
        "PAX global header of 70",
    );
    let long_link = vec![b'l'; 5000];
    refused(
        add_with(&f, |b| {
            b.raw(
                b"././@LongLink",
                EntryType::GNULongLink,
                5001,
                b"",
                &[&long_link[..], b"\0"].concat(),
            )
            .raw(b"n/link", EntryType::Symlink, 0, b"", b"");
        }),
        "GNU long link name record of 5001 bytes",
    );
    // Within the record limits, a name longer than PATH_MAX is refused too.
    let long_path = archives::pax_record("path", &vec![b'p'; 5000]);
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XHeader, &long_path).file("n/x", 0o644, b"x");
        }),
        "path of 5000 bytes, longer than PATH_MAX",
    );
    let long_target = archives::pax_record("linkpath", &vec![b't'; 4096]);
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XHeader, &long_target)
                .raw(b"n/link", EntryType::Symlink, 0, b"", b"");
        }),
        "link target of 4096 bytes",
    );
    // A size the header does not agree with would make `tar -x` see another file.
    let size = archives::pax_record("size", b"100");
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XHeader, &size).file("n/x", 0o644, b"x");
        }),
        "PAX size record (100) disagrees with its header (1)",
    );
    refused(
        add_with(&f, |b| {
            b.pax(EntryType::XHeader, &archives::pax_record("path", b"a"))
                .pax(EntryType::XHeader, &archives::pax_record("path", b"b"))
                .file("n/x", 0o644, b"x");
        }),
        "two PAX extended headers for one entry",
    );
    assert_store_unchanged(&f);
}

#[test]
fn long_names_from_gnu_and_pax_records_name_the_binary() {
    // A 4095-byte path (PATH_MAX less its NUL) is fine, from either record.
    let deep = format!("{}/{}", "d".repeat(4000), "x".repeat(94));
    assert_eq!(deep.len(), 4095);
    for pax in [false, true] {
        let f = fixture();
        let mut b = archives::node_exporter_prefix(V);
        if pax {
            b.pax(tar::EntryType::XHeader, &archives::pax_record("path", deep.as_bytes()))
                .raw(b"placeholder", tar::EntryType::Regular, 1, b"", b"x");
        } else {
            b.long_name_file(deep.as_bytes(), b"x");
        }
        // The binary itself is named only by a PAX path record.
        b.pax(
            tar::EntryType::XHeader,
            &archives::pax_record("path", archives::node_binary(V).as_bytes()),
        )
        .raw(b"short", tar::EntryType::Regular, 12, b"", b"#!/bin/true\n");
        let archive = archives::write(&f.downloads, "ok.tar.gz", &b.finish());
        let sp = add(&f, &f.store, &archive).unwrap_or_else(|e| panic!("pax={pax}: {e}"));
        let bin = f.store.dir().join(sp.as_str()).join("bin/node_exporter");
        assert_eq!(fs::read(bin).unwrap(), b"#!/bin/true\n");
    }
}

/// Credentials in the origin URL never reach the world-readable record, and
/// `find_release` still finds the path by its origin, whatever the password
/// (and also from a record an older version wrote with them).
#[test]
fn origin_url_is_recorded_without_credentials_and_still_found() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let with_creds = URL.replace("https://", "https://bob:hunter2@");
    let bin = archives::node_binary(V);
    let sp = f
        .store
        .add_release(&store::AddRelease {
            name: "node_exporter",
            version: V,
            archive: &archive,
            kind: ArchiveKind::TarGz,
            binary: Some(&bin),
            origin_url: &with_creds,
            archive_sha256: "00".repeat(32).as_str(),
            archive_size: fs::metadata(&archive).unwrap().len(),
        })
        .unwrap();
    let meta = f.store.meta(&sp).unwrap().unwrap();
    assert_eq!(meta.origin_url.as_deref(), Some(URL));
    let record = f.layout.store_dir().join(".meta").join(format!("{sp}.json"));
    let text = fs::read_to_string(&record).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("bob"), "{text}");
    let find = |url: &str| f.store.find_release("node_exporter", V, url).unwrap();
    assert_eq!(find(&with_creds), Some(sp.clone()));
    assert_eq!(find(&URL.replace("https://", "https://bob:rotated@")), Some(sp.clone()));
    assert_eq!(find(URL), Some(sp.clone()));
    assert_eq!(find(&URL.replace("1.9.1.linux", "1.9.1.linux-other")), None);

    // A record written before credentials were removed.
    fs::write(&record, text.replace(URL, &with_creds)).unwrap();
    assert_eq!(find(&with_creds), Some(sp.clone()));
    assert_eq!(find(URL), Some(sp));
}

/// A pre-signed URL's signature and a token in the query string never reach
/// the world-readable record (the values read `redacted`, other parameters
/// stay), and a fresh signature or a rotated token still finds the path.
#[test]
fn origin_url_is_recorded_without_query_secrets_and_still_found() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let signed = |sig: &str| format!("{URL}?X-Amz-Credential=AKIA{sig}&X-Amz-Expires=300&X-Amz-Signature={sig}");
    let bin = archives::node_binary(V);
    let sp = f
        .store
        .add_release(&store::AddRelease {
            name: "node_exporter",
            version: V,
            archive: &archive,
            kind: ArchiveKind::TarGz,
            binary: Some(&bin),
            origin_url: &signed("SEKRET123"),
            archive_sha256: "00".repeat(32).as_str(),
            archive_size: fs::metadata(&archive).unwrap().len(),
        })
        .unwrap();
    let meta = f.store.meta(&sp).unwrap().unwrap();
    assert_eq!(
        meta.origin_url.as_deref(),
        Some(format!("{URL}?X-Amz-Credential=redacted&X-Amz-Expires=300&X-Amz-Signature=redacted").as_str())
    );
    let record = f.layout.store_dir().join(".meta").join(format!("{sp}.json"));
    let text = fs::read_to_string(&record).unwrap();
    assert!(!text.contains("SEKRET123"), "{text}");
    let find = |url: &str| f.store.find_release("node_exporter", V, url).unwrap();
    assert_eq!(find(&signed("SEKRET123")), Some(sp.clone()));
    assert_eq!(find(&signed("0THER")), Some(sp.clone()));
    // Another non-secret parameter is another origin.
    assert_eq!(find(&signed("SEKRET123").replace("Expires=300", "Expires=600")), None);
}

#[test]
fn a_record_whose_directory_is_gone_is_overwritten_on_readd() {
    // An interrupted gc or a hand-removed tree: the record stays behind.
    // No sweep is needed before the add: it writes the record afresh.
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    let record = f.layout.meta_dir().join(format!("{sp}.json"));
    fs::write(&record, b"{ stale").unwrap();
    exporterctl::fsutil::remove_tree(&f.store.path_of(&sp)).unwrap();
    assert!(!f.store.is_valid(&sp));
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), None);

    assert_eq!(add(&f, &f.store, &archive).unwrap(), sp);
    assert!(f.store.is_valid(&sp));
    assert_eq!(f.store.meta(&sp).unwrap().unwrap().store_path, sp.to_string());
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), Some(sp));
}

#[test]
fn a_store_from_before_the_release_index_is_read_as_before_and_indexed_once() {
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    // What an older exporterctl left: records, no index.
    let index = f.store.dir().join(".releases");
    exporterctl::fsutil::remove_tree(&index).unwrap();
    let store = Store::open(&f.layout).unwrap();
    // A lookup only reads (a dry run may make it): found from the listing.
    assert_eq!(store.find_release("node_exporter", V, URL).unwrap(), Some(sp.clone()));
    assert!(!index.exists(), "a lookup wrote the index");
    // A realise indexes it, once.
    store.index_releases().unwrap();
    assert_eq!(store.find_release("node_exporter", V, URL).unwrap(), Some(sp.clone()));
    assert_eq!(
        fs::read_to_string(index.join(format!("node_exporter-{V}"))).unwrap(),
        format!("{sp}\n")
    );
    assert!(index.join(".complete").is_file());
    // Complete: a release it does not name is not in the store, no listing needed.
    assert_eq!(store.find_release("node_exporter", "9.9.9", URL).unwrap(), None);
}

#[test]
fn an_index_entry_naming_an_invalid_path_is_skipped_and_pruned_by_gc_cleaning() {
    // An add killed after indexing, before its record: the entry names a
    // path that is not valid. Lookups skip it; the add, redone, succeeds.
    let f = fixture();
    let archive = archives::write(&f.downloads, "a.tar.gz", &archives::node_exporter(V, &binary()));
    let sp = add(&f, &f.store, &archive).unwrap();
    fs::remove_file(f.layout.meta_dir().join(format!("{sp}.json"))).unwrap();
    let entry = f.store.dir().join(".releases").join(format!("node_exporter-{V}"));
    let bogus = format!("{}-node_exporter-{V}", "ab".repeat(16));
    fs::write(&entry, format!("{bogus}\n{sp}\n../../etc/passwd\n")).unwrap();
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), None);

    assert_eq!(f.store.clean_leftovers().unwrap(), 1);
    assert!(!entry.exists(), "no valid path left in the entry");
    assert_eq!(add(&f, &f.store, &archive).unwrap(), sp);
    assert_eq!(fs::read_to_string(&entry).unwrap(), format!("{sp}\n"));
    assert_eq!(f.store.find_release("node_exporter", V, URL).unwrap(), Some(sp));
}

//! Garbage collection: delete old generations, then mark and sweep the store
//! and the download cache from the roots.
//!
//! Roots: the generations kept, the current one, the last good one, an
//! interrupted switch's farms, and the store path of every running process's
//! executable (`/proc/*/exe`).

use crate::generation::journal;
use crate::generation::profile::{self, Profiles};
use crate::generation::record::{DamagedGeneration, GenerationRecord, Generations, Outcome};
use crate::paths::Layout;
use crate::store::{EntryKind, Store, StorePath};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub keep: Option<usize>,
    pub older_than: Option<Duration>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub generations_deleted: Vec<u64>,
    pub generations_kept: Vec<u64>,
    pub store_paths_deleted: Vec<String>,
    pub downloads_deleted: Vec<String>,
    pub bytes_freed: u64,
    /// Generations whose record cannot be read: kept, with their link's farm,
    /// since nothing proves them unreferenced.
    pub generations_damaged: Vec<DamagedGeneration>,
}

/// Which generations to delete under `policy`; never one in `protected`
/// (the current one, an interrupted switch's) nor the last good (succeeded) one.
fn doomed_generations(
    gens: &[crate::generation::record::GenerationRecord],
    protected: &[u64],
    policy: &Policy,
) -> Vec<u64> {
    let last_good = gens
        .iter()
        .rev()
        .find(|g| g.outcome == Outcome::Succeeded)
        .map(|g| g.number);
    let protected = |n: u64| protected.contains(&n) || Some(n) == last_good;
    let mut doomed = BTreeSet::new();
    if let Some(keep) = policy.keep {
        let keep = keep.max(1);
        let newest: Vec<u64> = gens.iter().rev().take(keep).map(|g| g.number).collect();
        for g in gens {
            if !newest.contains(&g.number) {
                doomed.insert(g.number);
            }
        }
    }
    if let Some(age) = policy.older_than {
        let cutoff = SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        for g in gens {
            if humantime::parse_rfc3339(&g.created_at).is_ok_and(|t| t < cutoff) {
                doomed.insert(g.number);
            }
        }
    }
    doomed.into_iter().filter(|n| !protected(*n)).collect()
}

/// Store paths of running executables, found through `/proc/*/exe`.
fn running_store_paths(store_dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let store_dir = store_dir.canonicalize().unwrap_or_else(|_| store_dir.to_path_buf());
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for entry in rd.flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Processes of other users may refuse this; they can't run our store
        // paths unless root started them, and then root (us) can read them.
        if let Ok(exe) = std::fs::read_link(entry.path().join("exe")) {
            if let Ok(rest) = exe.strip_prefix(&store_dir) {
                if let Some(first) = rest.components().next() {
                    out.insert(first.as_os_str().to_string_lossy().into_owned());
                }
            }
        }
    }
    out
}

/// What the roots reach: `live` store paths (valid, kept), and `missing`
/// ones that a root names or a reached profile references but that are not
/// (or no longer) valid store paths.
pub struct Reachable {
    pub live: BTreeSet<StorePath>,
    pub missing: BTreeSet<StorePath>,
}

/// Why the roots could not be followed (a record, link, journal or store
/// path that cannot be read).
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    #[error(transparent)]
    Record(#[from] crate::generation::record::RecordError),
    #[error(transparent)]
    Profile(#[from] crate::generation::profile::ProfileError),
    #[error("reading journal.json")]
    Journal(#[source] journal::JournalError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Why gc stopped: following the roots, or deleting.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Reach(#[from] ReachError),
    #[error(transparent)]
    Record(#[from] crate::generation::record::RecordError),
    #[error(transparent)]
    Profile(#[from] crate::generation::profile::ProfileError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("removing {}", path.display())]
    RemoveDownload {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Marks from the roots: every generation but those in `skip`, the current
/// profile, an interrupted switch's profiles, and the store path of every
/// running executable; profiles reference their binaries and units.
pub fn reachable(layout: &Layout, store: &Store, skip: &[u64]) -> Result<Reachable, ReachError> {
    let (records, damaged) = Generations::new(layout).scan()?;
    reachable_from(layout, store, &records, &damaged, skip)
}

/// [`reachable`] with the generation records already read (gc has them).
fn reachable_from(
    layout: &Layout,
    store: &Store,
    records: &[GenerationRecord],
    damaged: &[DamagedGeneration],
    skip: &[u64],
) -> Result<Reachable, ReachError> {
    let profiles = Profiles::new(layout);
    let skip: BTreeSet<u64> = skip.iter().copied().collect();
    let mut roots: BTreeSet<StorePath> = BTreeSet::new();
    for g in records {
        if skip.contains(&g.number) {
            continue;
        }
        roots.insert(g.profile.clone());
        if let Some(f) = profiles.generation_farm(g.number)? {
            roots.insert(f);
        }
    }
    // A damaged record may still name a farm someone rolls back to: its link
    // says which, and keeps it.
    for d in damaged {
        if let Some(f) = profiles.generation_farm(d.number)? {
            roots.insert(f);
        }
    }
    if let Some(f) = profiles.current()?.farm() {
        roots.insert(f.clone());
    }
    if let Some(j) = journal::load(layout).map_err(ReachError::Journal)? {
        roots.extend(j.from_profile.iter().cloned());
        roots.extend(j.live_profile.iter().cloned());
        roots.insert(j.target_profile.clone());
    }
    for name in running_store_paths(store.dir()) {
        if let Ok(sp) = StorePath::parse(&name) {
            roots.insert(sp);
        }
    }
    let mut r = Reachable {
        live: BTreeSet::new(),
        missing: BTreeSet::new(),
    };
    for root in &roots {
        if !store.is_valid(root) {
            r.missing.insert(root.clone());
            continue;
        }
        r.live.insert(root.clone());
        if store.meta(root)?.is_some_and(|m| m.kind == EntryKind::Profile) {
            let state = profile::read_farm_state(store, root)?;
            for sp in state.references() {
                if store.is_valid(sp) {
                    r.live.insert(sp.clone());
                } else {
                    r.missing.insert(sp.clone());
                }
            }
        }
    }
    Ok(r)
}

pub fn collect(layout: &Layout, store: &Store, policy: &Policy) -> Result<Report, GcError> {
    let profiles = Profiles::new(layout);
    let generations = Generations::new(layout);
    let current = profiles.current()?;
    let (records, damaged) = generations.scan()?;
    // An interrupted switch returns to one of its generations on `resume`
    // (or `--abort`): while it is interrupted there is no current one.
    let mut protected: Vec<u64> = current.generation().into_iter().collect();
    if let Some(j) = journal::load(layout).map_err(ReachError::Journal)? {
        protected.extend(j.from_generation);
        protected.extend(j.target_generation);
    }
    let doomed = doomed_generations(&records, &protected, policy);
    let mut report = Report {
        dry_run: policy.dry_run,
        ..Report::default()
    };

    for g in &records {
        if !doomed.contains(&g.number) {
            report.generations_kept.push(g.number);
        }
    }
    let live = reachable_from(layout, store, &records, &damaged, &doomed)?.live;

    // Sweep generations, then store paths, then downloads; each kind in one
    // batch with one directory sync (docs/design.md, "Cost that does not
    // grow with history", says why the order is safe). The records first: a
    // crash after them leaves links without a record (removed below next
    // time), never a listed generation that cannot be rolled back to, and no
    // store path goes before every record that could reference it is gone
    // for good.
    if !policy.dry_run {
        generations.delete_many(&doomed)?;
        crate::fault::point("gc-after-generations");
        // A damaged record's link stays: it is all that says what ran.
        let listed: BTreeSet<u64> = records
            .iter()
            .map(|g| g.number)
            .chain(damaged.iter().map(|d| d.number))
            .collect();
        let mut unlisted: Vec<u64> = doomed.clone();
        for n in profiles.linked_generations()? {
            if !listed.contains(&n) && Some(n) != current.generation() {
                unlisted.push(n);
            }
        }
        profiles.remove_generation_links(&unlisted)?;
    }
    report.generations_deleted.extend(&doomed);
    let entries = store.list()?;
    let mut live_archives = BTreeSet::new();
    let mut dead = Vec::new();
    for m in &entries {
        let sp = StorePath::parse(&m.store_path)?;
        if live.contains(&sp) {
            if let Some(sha) = &m.archive_sha256 {
                live_archives.insert(sha.clone());
            }
            continue;
        }
        report.bytes_freed += m.size;
        report.store_paths_deleted.push(m.store_path.clone());
        dead.push(sp);
    }
    if !policy.dry_run {
        store.delete_many(&dead)?;
    }
    let downloads = layout.downloads_dir();
    if let Ok(rd) = std::fs::read_dir(&downloads) {
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Dot files are downloads in progress; realise cleans dead ones.
            if name.starts_with('.') || live_archives.contains(&name) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            report.bytes_freed += size;
            report.downloads_deleted.push(name);
            if !policy.dry_run {
                std::fs::remove_file(entry.path()).map_err(|source| GcError::RemoveDownload {
                    path: entry.path(),
                    source,
                })?;
            }
        }
    }
    if !policy.dry_run {
        store.clean_leftovers()?;
    }
    report.generations_kept.extend(damaged.iter().map(|d| d.number));
    report.generations_kept.sort_unstable();
    report.generations_damaged = damaged;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_that_cannot_be_removed_is_named_with_its_cause() {
        let e = anyhow::Error::new(GcError::RemoveDownload {
            path: "/var/lib/exporterctl/downloads/abc".into(),
            source: std::io::Error::other("read-only file system"),
        });
        assert_eq!(
            crate::exit::error_report(&e),
            "removing /var/lib/exporterctl/downloads/abc: read-only file system"
        );
    }
    use crate::generation::record::GenerationRecord;

    fn rec(n: u64, outcome: &str, created_at: &str) -> GenerationRecord {
        GenerationRecord {
            number: n,
            created_at: created_at.into(),
            profile: StorePath::parse(&format!("{}-profile", "0".repeat(32))).unwrap(),
            origin: "switch".into(),
            switch_id: String::new(),
            manifest: None,
            outcome: serde_json::from_value(outcome.into()).unwrap(),
            rollout_id: None,
            metrics: Default::default(),
        }
    }

    #[test]
    fn keep_never_deletes_the_current_or_the_last_good_generation() {
        let now = crate::generation::now_rfc3339();
        let gens = vec![
            rec(1, "succeeded", &now),
            rec(2, "succeeded", &now),
            rec(3, "partial", &now),
        ];
        let p = Policy {
            keep: Some(1),
            ..Policy::default()
        };
        // Current is 1 (after a rollback); 2 is the last good one; 3 is newest.
        assert_eq!(doomed_generations(&gens, &[1], &p), Vec::<u64>::new());
        assert_eq!(doomed_generations(&gens, &[3], &p), vec![1]);
        let p0 = Policy {
            keep: Some(0),
            ..Policy::default()
        };
        assert_eq!(doomed_generations(&gens, &[3], &p0), vec![1]);
    }

    #[test]
    fn a_running_executable_roots_its_store_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let name = format!("{}-sleeper-1.0.0", "a".repeat(32));
        let bin = store.join(&name).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("sleeper");
        std::fs::copy("/bin/sleep", &exe).unwrap();
        assert!(!running_store_paths(&store).contains(&name));
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        // /proc/PID/exe points at the new image once exec has happened.
        let mut found = false;
        for _ in 0..200 {
            if running_store_paths(&store).contains(&name) {
                found = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found, "the running {} was not seen as a root", exe.display());
    }

    #[test]
    fn older_than_keeps_recent_and_current() {
        let old = "2020-01-01T00:00:00Z";
        let now = crate::generation::now_rfc3339();
        let gens = vec![
            rec(1, "succeeded", old),
            rec(2, "succeeded", old),
            rec(3, "succeeded", &now),
        ];
        let p = Policy {
            older_than: Some(Duration::from_secs(30 * 86400)),
            ..Policy::default()
        };
        assert_eq!(doomed_generations(&gens, &[1], &p), vec![2]);
    }
}

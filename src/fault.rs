//! Named crash points (fault injection) of a switch (and of adopt and gc), for the
//! crash-safety tests: with the `fault-injection` feature,
//! `EXPORTERCTL_CRASH_AT=<point>` makes the process SIGKILL itself at that
//! point, exactly like `kill -9` would. Without the feature (every release
//! build) this compiles to nothing.

/// Every point, in the order a switch passes them.
pub const POINTS: &[&str] = &[
    "after-realise",
    "after-journal",
    "after-prune",
    "after-flip",
    "after-links",
    "after-restart",
    "after-health",
    "before-revert",
    "after-revert-flip",
    "before-generation",
    "after-generation-record",
    "after-generation-flip",
];

/// Points of `adopt`: after its generation is current, before the
/// hand-placed files are replaced by links.
pub const ADOPT_POINTS: &[&str] = &["adopt-after-flip"];

/// Points of `gc`'s sweep: the doomed generation records are gone (links
/// not yet); the dead store paths' records are gone (files not yet); one
/// dead store path's files are gone (the others' not yet).
pub const GC_POINTS: &[&str] = &["gc-after-generations", "gc-after-invalidate", "gc-mid-delete"];

#[inline]
pub fn point(name: &str) {
    debug_assert!(
        POINTS.contains(&name) || ADOPT_POINTS.contains(&name) || GC_POINTS.contains(&name),
        "unknown crash point {name}"
    );
    #[cfg(feature = "fault-injection")]
    if std::env::var("EXPORTERCTL_CRASH_AT").as_deref() == Ok(name) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
}

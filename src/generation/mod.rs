//! Generations and the profile: what each managed exporter points to, which
//! state is current, the records of achieved states and of switch attempts,
//! and the journal of an in-flight switch.

pub mod history;
pub mod journal;
pub mod links;
pub mod monitoring;
pub mod preflight;
pub mod profile;
pub mod record;
pub mod state;
pub mod statelock;

/// Seconds since the epoch as RFC 3339 UTC, the one timestamp format of every record.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

//! Bounds on one download: its size, its total time, and its rate.
//!
//! The read timeout ([`super::Timeouts`]) only catches a transfer that stops;
//! an endless body (or `file:///dev/zero`) and a trickle of a byte a second
//! never trip it, and either would hold the state lock forever. These limits
//! stop both, and say which one was hit.

use super::space::human_bytes;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Limits on every download of a run (`settings.download` in the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DownloadLimits {
    /// Bytes one file may have (`settings.download.max_size`).
    pub max_size: u64,
    /// Time one file may take, all attempts and retry pauses included
    /// (`settings.download.timeout`).
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub timeout: Duration,
    /// Bytes per second a transfer must keep up, averaged over
    /// `min_rate_window` (`settings.download.min_rate`); 0 = no minimum.
    pub min_rate: u64,
    #[serde(with = "crate::fsutil::humantime_serde_compat")]
    pub min_rate_window: Duration,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            // Exporter archives are 5–40 MB; the store refuses an archive
            // that expands past 1 GiB anyway.
            max_size: DEFAULT_MAX_SIZE,
            timeout: Duration::from_secs(30 * 60),
            min_rate: 1024,
            min_rate_window: Duration::from_secs(60),
        }
    }
}

pub const DEFAULT_MAX_SIZE: u64 = 512 << 20;

/// Accepted ranges of the settings, so that no value overflows arithmetic
/// and none makes a download impossible or unbounded.
pub const MAX_SIZE_RANGE: (u64, u64) = (1024, 64 << 30);
pub const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));
pub const WINDOW_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
pub const MAX_MIN_RATE: u64 = 1 << 30;

/// Which limit stopped a download.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitHit {
    #[error(
        "the server announces {} (Content-Length), more than the limit of {} \
         (settings.download.max_size); nothing was downloaded",
        human_bytes(*.declared), human_bytes(*.limit)
    )]
    DeclaredTooLarge { declared: u64, limit: u64 },
    #[error(
        "larger than the limit of {} (settings.download.max_size); stopped there and removed the partial file",
        human_bytes(*.limit)
    )]
    TooLarge { limit: u64 },
    #[error(
        "not finished within {} (settings.download.timeout); {} received",
        humantime::format_duration(*.limit), human_bytes(*.received)
    )]
    Deadline { limit: Duration, received: u64 },
    #[error(
        "too slow: {} in the last {}, less than the minimum of {}/s (settings.download.min_rate)",
        human_bytes(*.got), humantime::format_duration(to_millis(*.window)), human_bytes(*.min_rate)
    )]
    TooSlow { got: u64, window: Duration, min_rate: u64 },
}

/// A measured span as a reader wants it (`2s 3ms`, not `2s 3ms 891us 250ns`).
fn to_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl LimitHit {
    /// Whether another attempt may fare better: a slow transfer may be a
    /// bad moment; a file that is too large, or a deadline passed, is not.
    pub fn retryable(&self) -> bool {
        matches!(self, LimitHit::TooSlow { .. })
    }
}

/// Tracks one download against its [`DownloadLimits`].
#[derive(Debug)]
pub(crate) struct Meter {
    limits: DownloadLimits,
    /// One deadline for the whole download, across attempts.
    deadline: Instant,
    /// Bytes of this attempt so far.
    received: u64,
    window_start: Instant,
    window_bytes: u64,
}

impl Meter {
    pub fn new(limits: DownloadLimits) -> Meter {
        let now = Instant::now();
        Meter {
            limits,
            deadline: now.checked_add(limits.timeout).unwrap_or(now + TIMEOUT_RANGE.1),
            received: 0,
            window_start: now,
            window_bytes: 0,
        }
    }

    /// A new attempt: the size and rate count from zero, the deadline stays.
    pub fn start_attempt(&mut self) -> Result<(), LimitHit> {
        self.received = 0;
        self.window_start = Instant::now();
        self.window_bytes = 0;
        self.check_deadline()
    }

    /// Before the body: refuse a file that announces more than the limit.
    pub fn check_declared(&self, len: Option<u64>) -> Result<(), LimitHit> {
        match len {
            Some(declared) if declared > self.limits.max_size => Err(LimitHit::DeclaredTooLarge {
                declared,
                limit: self.limits.max_size,
            }),
            _ => Ok(()),
        }
    }

    /// After a read of `n` bytes (0 included: a read that timed out or ended).
    pub fn add(&mut self, n: usize) -> Result<(), LimitHit> {
        let n = n as u64;
        self.received = self.received.saturating_add(n);
        if self.received > self.limits.max_size {
            return Err(LimitHit::TooLarge {
                limit: self.limits.max_size,
            });
        }
        self.check_deadline()?;
        self.window_bytes = self.window_bytes.saturating_add(n);
        let elapsed = self.window_start.elapsed();
        if self.limits.min_rate > 0 && elapsed >= self.limits.min_rate_window {
            let wanted = (self.limits.min_rate as u128).saturating_mul(elapsed.as_millis().max(1)) / 1000;
            if (self.window_bytes as u128) < wanted {
                return Err(LimitHit::TooSlow {
                    got: self.window_bytes,
                    window: elapsed,
                    min_rate: self.limits.min_rate,
                });
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<(), LimitHit> {
        if Instant::now() >= self.deadline {
            return Err(LimitHit::Deadline {
                limit: self.limits.timeout,
                received: self.received,
            });
        }
        Ok(())
    }
}

/// A size as written in the manifest: bytes, or a number with a unit
/// (`512MiB`, `1 GiB`, `100MB`, `64k`). `/s` may follow (for a rate).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{text}` is not a size; write e.g. `512MiB`, `1GiB` or a number of bytes"
        ));
    }
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is too large a number"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1000,
        "M" | "MB" => 1000 * 1000,
        "G" | "GB" => 1000 * 1000 * 1000,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use B, kB, MB, GB, KiB, MiB or GiB)"
            ))
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("1KiB/s"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18446744073709551615GiB").is_err());
    }

    fn limits(max_size: u64) -> DownloadLimits {
        DownloadLimits {
            max_size,
            ..DownloadLimits::default()
        }
    }

    #[test]
    fn the_size_limit_counts_each_attempt_from_zero() {
        let mut m = Meter::new(limits(10));
        assert_eq!(m.check_declared(Some(10)), Ok(()));
        assert_eq!(m.check_declared(None), Ok(()));
        assert!(matches!(
            m.check_declared(Some(11)),
            Err(LimitHit::DeclaredTooLarge {
                declared: 11,
                limit: 10
            })
        ));
        assert_eq!(m.add(6), Ok(()));
        assert_eq!(m.add(4), Ok(()));
        assert_eq!(m.add(1), Err(LimitHit::TooLarge { limit: 10 }));
        m.start_attempt().unwrap();
        assert_eq!(m.add(10), Ok(()));
    }

    #[test]
    fn a_passed_deadline_stops_every_attempt() {
        let mut m = Meter::new(DownloadLimits {
            timeout: Duration::ZERO,
            ..limits(10)
        });
        assert!(matches!(m.add(1), Err(LimitHit::Deadline { received: 1, .. })));
        assert!(matches!(m.start_attempt(), Err(LimitHit::Deadline { .. })));
        assert!(!m.start_attempt().unwrap_err().retryable());
    }

    #[test]
    fn a_slow_window_is_too_slow() {
        let mut m = Meter::new(DownloadLimits {
            min_rate: u64::MAX,
            min_rate_window: Duration::ZERO,
            ..limits(u64::MAX)
        });
        let e = m.add(5).unwrap_err();
        assert!(matches!(e, LimitHit::TooSlow { got: 5, .. }), "{e:?}");
        assert!(e.retryable());
        assert!(e.to_string().contains("settings.download.min_rate"), "{e}");
        let shown = LimitHit::TooSlow {
            got: 5,
            window: Duration::new(2, 3_891_250),
            min_rate: 1024,
        };
        assert!(shown.to_string().contains("in the last 2s 3ms, less"), "{shown}");
        // No minimum: never too slow.
        let mut m = Meter::new(DownloadLimits {
            min_rate: 0,
            min_rate_window: Duration::ZERO,
            ..limits(u64::MAX)
        });
        assert_eq!(m.add(0), Ok(()));
    }
}

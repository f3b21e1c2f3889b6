//! `settings.download`: the limits of every download, each bounded so that
//! no value makes a download impossible or unbounded.

use super::raw::{RawDownload, S};
use super::validate::Validator;
use super::ManifestError;
use crate::source::limits::{self, DownloadLimits};
use std::time::Duration;

impl Validator<'_> {
    pub(super) fn download(&self, raw: &RawDownload) -> Result<DownloadLimits, ManifestError> {
        let mut d = DownloadLimits::default();
        if let Some(v) = &raw.max_size {
            d.max_size = self.size(v, "settings.download.max_size", limits::MAX_SIZE_RANGE)?;
        }
        if let Some(v) = &raw.timeout {
            d.timeout = self.bounded_duration(v, "settings.download.timeout", limits::TIMEOUT_RANGE)?;
        }
        if let Some(v) = &raw.min_rate {
            d.min_rate = self.size(v, "settings.download.min_rate", (0, limits::MAX_MIN_RATE))?;
        }
        if let Some(v) = &raw.min_rate_window {
            d.min_rate_window = self.bounded_duration(v, "settings.download.min_rate_window", limits::WINDOW_RANGE)?;
        }
        Ok(d)
    }

    fn size(&self, v: &S<String>, key: &str, (min, max): (u64, u64)) -> Result<u64, ManifestError> {
        let n = match limits::parse_size(&v.value) {
            Ok(n) => n,
            Err(message) => return self.err(&v.referenced, key, message),
        };
        if n < min || n > max {
            return self.err(
                &v.referenced,
                key,
                format!("`{}` is out of range ({min} to {max} bytes)", v.value),
            );
        }
        Ok(n)
    }

    pub(super) fn bounded_duration(
        &self,
        v: &S<String>,
        key: &str,
        (min, max): (Duration, Duration),
    ) -> Result<Duration, ManifestError> {
        let d = match humantime::parse_duration(v.value.trim()) {
            Ok(d) => d,
            Err(e) => {
                return self.err(
                    &v.referenced,
                    key,
                    format!("`{}` is not a duration ({e}); write e.g. `30s`, `10m`", v.value),
                )
            }
        };
        if d < min || d > max {
            return self.err(
                &v.referenced,
                key,
                format!(
                    "`{}` is out of range ({} to {})",
                    v.value,
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
        }
        Ok(d)
    }
}

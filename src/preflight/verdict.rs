//! What a preflight result means for the switch: the mode (`off`, `warn`,
//! `require`), the families the manifest insists on (`health.keep_metrics`),
//! and the decision to go ahead or refuse before anything is flipped.

use serde::{Deserialize, Serialize};

pub use crate::health::keep::{is_metric_name, KeepMetrics};

/// `--preflight` and `settings.preflight`.
///
/// `warn` is the default: preflight adds one start of the new binary to a
/// switch, which is cheap next to a failed restart (the flip, a crash-looping
/// unit and a rollback), and most of what it finds (a family removed that
/// no dashboard uses, a new label) is information for the operator, not a
/// reason to stop. A release that does not start is refused by the health
/// check anyway, one flip later; `require` refuses it before the flip, and
/// adds refusing the loss of the families named in `keep_metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No preflight.
    Off,
    /// Run it, report what it finds, go ahead.
    #[default]
    Warn,
    /// Refuse the switch (nothing flipped) when a release does not start or drops a kept family.
    Require,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Warn => "warn",
            Mode::Require => "require",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Warn, Mode::Require]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_written() {
        assert_eq!(Mode::parse("require"), Some(Mode::Require));
        assert_eq!(Mode::parse("Require"), None);
        assert_eq!(Mode::default(), Mode::Warn);
    }
}

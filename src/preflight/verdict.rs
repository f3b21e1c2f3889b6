//! What a preflight result means for the switch: the mode (`off`, `warn`,
//! `require`), the families the manifest insists on (`health.keep_metrics`),
//! and the decision to go ahead or refuse before anything is flipped.

use serde::{Deserialize, Serialize};

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

/// `health.keep_metrics`: families a release may not drop under `require`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepMetrics {
    /// Every family the running exporter serves.
    All,
    Names(Vec<String>),
}

impl Default for KeepMetrics {
    fn default() -> Self {
        KeepMetrics::Names(Vec::new())
    }
}

impl KeepMetrics {
    pub fn is_empty(&self) -> bool {
        matches!(self, KeepMetrics::Names(n) if n.is_empty())
    }

    /// Which of `removed` this keeps.
    pub fn kept<'a>(&self, removed: &'a [String]) -> Vec<&'a String> {
        match self {
            KeepMetrics::All => removed.iter().collect(),
            KeepMetrics::Names(n) => removed.iter().filter(|r| n.contains(r)).collect(),
        }
    }
}

impl Serialize for KeepMetrics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KeepMetrics::All => s.serialize_str("all"),
            KeepMetrics::Names(n) => n.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for KeepMetrics {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Word(String),
            Names(Vec<String>),
        }
        match Either::deserialize(d)? {
            Either::Word(w) if w == "all" => Ok(KeepMetrics::All),
            Either::Word(w) => Err(serde::de::Error::custom(format!(
                "keep_metrics: `{}` is neither `all` nor a list of metric names",
                w.escape_debug()
            ))),
            Either::Names(n) => Ok(KeepMetrics::Names(n)),
        }
    }
}

/// Is `name` a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`)?
pub fn is_metric_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_metrics_reads_all_or_names_and_nothing_else() {
        let all: KeepMetrics = serde_json::from_str("\"all\"").unwrap();
        assert_eq!(all, KeepMetrics::All);
        let some: KeepMetrics = serde_json::from_str("[\"a_total\"]").unwrap();
        let removed = vec!["a_total".to_string(), "b".to_string()];
        assert_eq!(some.kept(&removed), vec![&removed[0]]);
        assert_eq!(all.kept(&removed).len(), 2);
        assert!(serde_json::from_str::<KeepMetrics>("\"some\"").is_err());
        assert_eq!(serde_json::to_string(&all).unwrap(), "\"all\"");
        assert!(KeepMetrics::default().is_empty());
    }

    #[test]
    fn metric_names() {
        assert!(is_metric_name("node_cpu_seconds_total") && is_metric_name("a:b"));
        assert!(!is_metric_name("1x") && !is_metric_name("") && !is_metric_name("a-b"));
    }
}

//! `health.keep_metrics`: the metric families a release may not drop
//! (under `--preflight require`, see `preflight`). Part of an exporter's
//! health settings, so it is recorded in `state.json` with them.

use serde::{Deserialize, Serialize};

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

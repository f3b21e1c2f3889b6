//! The metric families each generation's exporters served, recorded with
//! the generation (names, types, label names; never values), so `diff A B
//! --metrics` shows what an upgrade changed in what Prometheus sees and a
//! rollback says what comes back.
//!
//! They are scraped once when a generation is made, right after its health
//! checks passed, concurrently, one bounded request per exporter with a
//! health URL. An exporter that does not answer then is left out (its
//! families are "not recorded", never guessed).

use super::families::{self, FamilyDiff};
use crate::generation::state::ProfileState;
use crate::health::Probe;
use serde::Serialize;
use std::time::Duration;

pub use crate::health::families::Served;

const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Scrapes every exporter of `state` that has a health URL, concurrently.
pub fn scrape(probe: &Probe, state: &ProfileState) -> Served {
    std::thread::scope(|s| {
        let handles: Vec<_> = state
            .exporters
            .iter()
            .filter_map(|e| e.health.url.as_deref().map(|u| (e.name.as_str(), u)))
            .map(|(name, url)| {
                s.spawn(move || {
                    let body = probe.scrape(url, SCRAPE_TIMEOUT).ok()?;
                    families::families(&body).ok().map(|f| (name.to_string(), f))
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok().flatten()).collect()
    })
}

/// The families generation `n` recorded (none without a generation, or for
/// a record that is missing, damaged or older than the recording).
pub fn of_generation(layout: &crate::paths::Layout, n: Option<u64>) -> Served {
    let Some(n) = n else { return Served::default() };
    match crate::generation::record::Generations::new(layout).load(n) {
        Ok(Some(r)) => r.metrics,
        _ => Served::default(),
    }
}

/// What moving from one generation to another changes, per exporter.
#[derive(Debug, Clone, Serialize)]
pub struct ExporterMetrics {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<FamilyDiff>,
    /// Why there is no diff (a generation without a record of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<String>,
}

/// Per exporter of either side, in `a`'s then `b`'s order, what changes from
/// `a` to `b`; exporters whose families are the same are left out.
pub fn compare(a: (u64, &Served), b: (u64, &Served)) -> Vec<ExporterMetrics> {
    let mut names: Vec<&String> = a.1.keys().collect();
    names.extend(b.1.keys().filter(|k| !a.1.contains_key(*k)));
    let mut out = Vec::new();
    for name in names {
        let row = match (a.1.get(name), b.1.get(name)) {
            (Some(x), Some(y)) => {
                let d = families::diff(x, y);
                if d.is_empty() {
                    continue;
                }
                ExporterMetrics {
                    name: name.clone(),
                    diff: Some(d),
                    not_recorded: None,
                }
            }
            (Some(_), None) => ExporterMetrics {
                name: name.clone(),
                diff: None,
                not_recorded: Some(format!("generation {} has no record of its families", b.0)),
            },
            (None, _) => ExporterMetrics {
                name: name.clone(),
                diff: None,
                not_recorded: Some(format!("generation {} has no record of its families", a.0)),
            },
        };
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::families::Family;
    use std::collections::BTreeMap;

    fn fam(name: &str) -> Family {
        Family {
            name: name.into(),
            kind: "gauge".into(),
            labels: vec![],
        }
    }

    #[test]
    fn compare_names_what_changes_and_what_is_not_recorded() {
        let a: Served = BTreeMap::from([
            ("x".to_string(), vec![fam("x_a"), fam("x_b")]),
            ("same".to_string(), vec![fam("s")]),
            ("old".to_string(), vec![fam("o")]),
        ]);
        let b: Served = BTreeMap::from([
            ("x".to_string(), vec![fam("x_a"), fam("x_c")]),
            ("same".to_string(), vec![fam("s")]),
        ]);
        let rows = compare((1, &a), (2, &b));
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].name, "old");
        assert!(rows[0].not_recorded.as_deref().unwrap().contains("generation 2"));
        let d = rows[1].diff.as_ref().unwrap();
        assert_eq!(
            (d.removed.as_slice(), d.added.as_slice()),
            (&["x_b".to_string()][..], &["x_c".to_string()][..])
        );
    }
}

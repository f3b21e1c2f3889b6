//! What an exporter serves, as Prometheus sees its shape: metric families
//! with their type and label names, not values. Two of them compared say what
//! an upgrade removes, adds, or relabels — the changes that leave an
//! exporter healthy and dashboards blank.
//!
//! A family is what `# TYPE` declares; the samples of a histogram
//! (`_bucket`, `_sum`, `_count`, `_created`) and a summary (`_sum`, `_count`,
//! `_created`) belong to it, and their `le`/`quantile` labels are part of the
//! type, not label names anyone selects on. A sample without a `# TYPE` is
//! its own `untyped` family.

use crate::health::text::{self, ParseError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One metric family: its name, type and the label names its samples carry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Family {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Sorted, without `le` (histograms) and `quantile` (summaries).
    pub labels: Vec<String>,
}

/// Exporter name → the families it served (what a generation records).
pub type Served = BTreeMap<String, Vec<Family>>;

/// Most families one body may declare: a body past this is cut (and says
/// so), so a hostile or runaway exporter cannot make a record grow without bound.
pub const MAX_FAMILIES: usize = 20_000;

/// The families of a text-format body, sorted by name. A malformed sample
/// line is an error, as it fails Prometheus's scrape.
pub fn families(body: &str) -> Result<Vec<Family>, ParseError> {
    let mut types: BTreeMap<&str, &str> = BTreeMap::new();
    for line in body.lines() {
        let t = line.trim_start_matches([' ', '\t']);
        let Some(rest) = t.strip_prefix('#') else { continue };
        let mut words = rest.split_whitespace();
        if words.next() != Some("TYPE") {
            continue;
        }
        if let (Some(name), Some(kind)) = (words.next(), words.next()) {
            types.entry(name).or_insert(kind);
        }
    }
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for (name, kind) in &types {
        if out.len() >= MAX_FAMILIES {
            break;
        }
        out.insert(name.to_string(), (kind.to_string(), BTreeSet::new()));
    }
    for s in text::parse(body)? {
        let (family, kind) = family_of(&s.name, &types);
        let skip = match kind {
            "histogram" | "gaugehistogram" => "le",
            "summary" => "quantile",
            _ => "",
        };
        if !out.contains_key(family) && out.len() >= MAX_FAMILIES {
            continue;
        }
        let entry = out
            .entry(family.to_string())
            .or_insert_with(|| (kind.to_string(), BTreeSet::new()));
        for (k, _) in &s.labels {
            if k != skip {
                entry.1.insert(k.to_string());
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(name, (kind, labels))| Family {
            name,
            kind,
            labels: labels.into_iter().collect(),
        })
        .collect())
}

/// The family a sample named `name` belongs to, and its type.
fn family_of<'a>(name: &'a str, types: &BTreeMap<&'a str, &'a str>) -> (&'a str, &'a str) {
    if let Some((n, k)) = types.get_key_value(name) {
        // A histogram's `_count` named like another declared family is that family's.
        return (n, k);
    }
    for suffix in ["_bucket", "_sum", "_count", "_created", "_total"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if let Some((n, k)) = types.get_key_value(base) {
                let belongs = match *k {
                    "histogram" | "gaugehistogram" => suffix != "_total",
                    "summary" => !matches!(suffix, "_bucket" | "_total"),
                    // OpenMetrics names a counter family without its `_total`.
                    "counter" => matches!(suffix, "_total" | "_created"),
                    _ => false,
                };
                if belongs {
                    return (n, k);
                }
            }
        }
    }
    (name, "untyped")
}

/// A family whose type or label names differ between two scrapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub name: String,
    /// `(from, to)` when the type changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels_removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels_added: Vec<String>,
}

/// What moving from one set of families to another changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyDiff {
    pub removed: Vec<String>,
    pub added: Vec<String>,
    pub changed: Vec<Changed>,
}

impl FamilyDiff {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && self.changed.is_empty()
    }

    /// One line per kind of change, for summaries (`removed: a, b`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.removed.is_empty() {
            out.push(format!("families removed: {}", self.removed.join(", ")));
        }
        if !self.added.is_empty() {
            out.push(format!("families added: {}", self.added.join(", ")));
        }
        for c in &self.changed {
            let mut parts = Vec::new();
            if let Some((a, b)) = &c.kind {
                parts.push(format!("type {a} → {b}"));
            }
            if !c.labels_removed.is_empty() {
                parts.push(format!("labels removed: {}", c.labels_removed.join(", ")));
            }
            if !c.labels_added.is_empty() {
                parts.push(format!("labels added: {}", c.labels_added.join(", ")));
            }
            out.push(format!("family {} changed: {}", c.name, parts.join("; ")));
        }
        out
    }
}

/// What moving from `old` to `new` changes (both as [`families`] returns them).
pub fn diff(old: &[Family], new: &[Family]) -> FamilyDiff {
    let o: BTreeMap<&str, &Family> = old.iter().map(|f| (f.name.as_str(), f)).collect();
    let n: BTreeMap<&str, &Family> = new.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut d = FamilyDiff::default();
    for (name, of) in &o {
        let Some(nf) = n.get(name) else {
            d.removed.push(name.to_string());
            continue;
        };
        let ol: BTreeSet<&String> = of.labels.iter().collect();
        let nl: BTreeSet<&String> = nf.labels.iter().collect();
        let kind = (of.kind != nf.kind).then(|| (of.kind.clone(), nf.kind.clone()));
        let labels_removed: Vec<String> = ol.difference(&nl).map(|s| s.to_string()).collect();
        let labels_added: Vec<String> = nl.difference(&ol).map(|s| s.to_string()).collect();
        if kind.is_some() || !labels_removed.is_empty() || !labels_added.is_empty() {
            d.changed.push(Changed {
                name: name.to_string(),
                kind,
                labels_removed,
                labels_added,
            });
        }
    }
    d.added = n
        .keys()
        .filter(|k| !o.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "# HELP a_seconds A histogram.\n# TYPE a_seconds histogram\n\
        a_seconds_bucket{path=\"/\",le=\"1\"} 1\na_seconds_bucket{path=\"/\",le=\"+Inf\"} 2\n\
        a_seconds_sum{path=\"/\"} 3\na_seconds_count{path=\"/\"} 2\n\
        # TYPE q summary\nq{quantile=\"0.5\"} 1\nq_sum 1\nq_count 1\n\
        # TYPE x_build_info gauge\nx_build_info{version=\"1\",revision=\"r\"} 1\n\
        # TYPE x_scrapes_total counter\nx_scrapes_total 4\n\
        untyped_thing{a=\"1\"} 1\n";

    #[test]
    fn histogram_and_summary_samples_belong_to_their_family() {
        let f = families(OLD).unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["a_seconds", "q", "untyped_thing", "x_build_info", "x_scrapes_total"]
        );
        assert_eq!(f[0].kind, "histogram");
        assert_eq!(f[0].labels, ["path"], "le is part of the type");
        assert!(f[1].labels.is_empty(), "quantile is part of the type");
        assert_eq!(f[2].kind, "untyped");
        assert_eq!(f[3].labels, ["revision", "version"]);
    }

    #[test]
    fn a_family_declared_without_samples_is_still_served() {
        let f = families("# TYPE node_x gauge\n").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "gauge");
    }

    #[test]
    fn a_malformed_sample_is_an_error_naming_its_line() {
        let e = families("# TYPE a gauge\na{b=} 1\n").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn the_diff_names_removed_added_and_relabelled_families() {
        let new = OLD
            .replace("# TYPE x_scrapes_total counter\nx_scrapes_total 4\n", "")
            .replace("revision=\"r\"", "goversion=\"g\"")
            .replace("# TYPE q summary", "# TYPE q_new gauge\nq_new 1\n# TYPE q summary")
            .replace("# TYPE a_seconds histogram", "# TYPE a_seconds gaugehistogram");
        let d = diff(&families(OLD).unwrap(), &families(&new).unwrap());
        assert_eq!(d.removed, ["x_scrapes_total"]);
        assert_eq!(d.added, ["q_new"]);
        assert_eq!(d.changed.len(), 2, "{d:?}");
        assert_eq!(d.changed[0].kind, Some(("histogram".into(), "gaugehistogram".into())));
        assert_eq!(d.changed[1].name, "x_build_info");
        assert_eq!(d.changed[1].labels_removed, ["revision"]);
        assert_eq!(d.changed[1].labels_added, ["goversion"]);
        let lines = d.lines();
        assert!(lines[0].contains("removed: x_scrapes_total"), "{lines:?}");
        assert!(diff(&families(OLD).unwrap(), &families(OLD).unwrap()).is_empty());
    }

    #[test]
    fn a_real_node_exporter_body_parses_into_families() {
        let body = include_str!("../health/testdata/node_exporter-1.5.0.prom");
        let f = families(body).unwrap();
        assert!(f.len() > 50, "{}", f.len());
        let cpu = f.iter().find(|f| f.name == "node_cpu_seconds_total").unwrap();
        assert_eq!(cpu.kind, "counter");
        assert_eq!(cpu.labels, ["cpu", "mode"]);
        assert!(f.iter().all(|f| !f.name.ends_with("_bucket")));
    }
}

//! `ProfileState`: the complete description of one state of the host, stored
//! as `state.json` inside each profile farm. Everything a switch, a rollback or
//! a health check needs is here, so rollback never needs a manifest.

use crate::health::HealthSpec;
use crate::service::ServiceManagerKind;
use crate::store::StorePath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileState {
    pub bin_dir: PathBuf,
    pub unit_dir: PathBuf,
    pub service_manager: ServiceManagerKind,
    /// In manifest order.
    pub exporters: Vec<ExporterState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExporterState {
    pub name: String,
    pub version: String,
    /// Holds `bin/<name>`.
    pub store_path: StorePath,
    pub unit: String,
    /// The unit file exporterctl owns (generated or adopted): a store path
    /// holding `<unit>`. `None`: a hand-written unit that is left alone.
    pub unit_store_path: Option<StorePath>,
    /// The generated socket unit of a socket-activated exporter: a store
    /// path holding `<unit-basename>.socket`. Absent from the `state.json`
    /// of an exporter without one (so older farms read and hash the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_store_path: Option<StorePath>,
    pub args: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub health: HealthSpec,
}

/// What a step does to one exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Upgrade,
    Downgrade,
    /// Same version, other binary, args, environment or unit.
    Reconfigure,
    Remove,
}

impl ExporterState {
    /// Does moving between these two need a restart (and so a step)?
    pub fn needs_restart_from(&self, old: &ExporterState) -> bool {
        self.version != old.version
            || self.store_path != old.store_path
            || self.args != old.args
            || self.environment != old.environment
            || self.unit != old.unit
            || self.unit_store_path != old.unit_store_path
            || self.socket_store_path != old.socket_store_path
    }

    /// The socket unit (`<unit-basename>.socket`) when socket-activated.
    pub fn socket_unit(&self) -> Option<String> {
        self.socket_store_path
            .as_ref()
            .map(|_| crate::service::socket_unit(&self.unit))
    }

    /// Differs from `old` only in what a restart does not pick up (the health
    /// check): a new generation records it without a step.
    pub fn changed_without_restart_from(&self, old: &ExporterState) -> bool {
        self != old && !self.needs_restart_from(old)
    }
}

impl ProfileState {
    pub fn empty_like(other: &ProfileState) -> ProfileState {
        ProfileState {
            exporters: Vec::new(),
            ..other.clone()
        }
    }

    /// A state without exporters in these directories, under `service_manager`.
    pub fn empty(bin_dir: PathBuf, unit_dir: PathBuf, service_manager: ServiceManagerKind) -> ProfileState {
        ProfileState {
            bin_dir,
            unit_dir,
            service_manager,
            exporters: Vec::new(),
        }
    }

    pub fn exporter(&self, name: &str) -> Option<&ExporterState> {
        self.exporters.iter().find(|e| e.name == name)
    }

    /// This state with `name` set to `new` (added at its place in `order`)
    /// or removed (`new = None`).
    pub fn with_exporter(&self, name: &str, new: Option<&ExporterState>, order: &[String]) -> ProfileState {
        let mut out = self.clone();
        out.exporters.retain(|e| e.name != name);
        if let Some(n) = new {
            out.exporters.push(n.clone());
        }
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
        out.exporters.sort_by_key(|e| pos(&e.name));
        out
    }

    /// Store paths this state references (binaries and owned units).
    pub fn references(&self) -> impl Iterator<Item = &StorePath> {
        self.exporters.iter().flat_map(|e| {
            std::iter::once(&e.store_path)
                .chain(e.unit_store_path.as_ref())
                .chain(e.socket_store_path.as_ref())
        })
    }
}

/// One exporter that differs between two states, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub name: String,
    pub action: Action,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
}

/// Exporters that need a step to go from `from` to `to`, in `to`'s order
/// followed by removals in `from`'s order.
pub fn changes(from: &ProfileState, to: &ProfileState) -> Vec<Change> {
    let mut out = Vec::new();
    for t in &to.exporters {
        let action = match from.exporter(&t.name) {
            None => Action::Add,
            Some(f) if !t.needs_restart_from(f) => continue,
            Some(f) => match version_order(&f.version, &t.version) {
                std::cmp::Ordering::Less => Action::Upgrade,
                std::cmp::Ordering::Greater => Action::Downgrade,
                std::cmp::Ordering::Equal => Action::Reconfigure,
            },
        };
        out.push(Change {
            name: t.name.clone(),
            action,
            from_version: from.exporter(&t.name).map(|f| f.version.clone()),
            to_version: Some(t.version.clone()),
        });
    }
    for f in &from.exporters {
        if to.exporter(&f.name).is_none() {
            out.push(Change {
                name: f.name.clone(),
                action: Action::Remove,
                from_version: Some(f.version.clone()),
                to_version: None,
            });
        }
    }
    out
}

/// Exporters of `to` that differ from `from` without needing a step (see
/// [`ExporterState::changed_without_restart_from`]), in `to`'s order.
pub fn changes_without_restart(from: &ProfileState, to: &ProfileState) -> Vec<String> {
    to.exporters
        .iter()
        .filter(|t| {
            from.exporter(&t.name)
                .is_some_and(|f| t.changed_without_restart_from(f))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// Compares dotted numeric versions (`1.10.0` > `1.9.1`); suffixes compare as text.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| -> (Vec<u64>, String) {
        let (core, suffix) = v.split_once(['-', '+']).unwrap_or((v, ""));
        (
            core.split('.').map(|p| p.parse().unwrap_or(0)).collect(),
            suffix.to_string(),
        )
    };
    let (ac, asuf) = key(a);
    let (bc, bsuf) = key(b);
    // A pre-release sorts before its release: 1.0.0-rc1 < 1.0.0.
    ac.cmp(&bc).then_with(|| match (asuf.is_empty(), bsuf.is_empty()) {
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => asuf.cmp(&bsuf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn health_drain_is_in_state_json_only_when_not_the_default() {
        let mut h = crate::health::HealthSpec::default();
        let json = serde_json::to_value(&h).unwrap();
        assert!(json.get("drain").is_none(), "{json}");
        // A state written before `drain` existed reads with the default.
        let back: crate::health::HealthSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, h);
        h.drain = std::time::Duration::from_millis(500);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["drain"], "500ms");
        assert_eq!(serde_json::from_value::<crate::health::HealthSpec>(json).unwrap(), h);
    }

    #[test]
    fn a_state_without_a_socket_reads_and_writes_as_before() {
        // A farm's state.json written before socket activation existed.
        let old = r#"{"bin_dir":"/usr/local/bin","unit_dir":"/etc/systemd/system","service_manager":"systemd",
            "exporters":[{"name":"node","version":"1.5.0","store_path":"0123456789abcdef0123456789abcdef-node-1.5.0",
            "unit":"node.service","unit_store_path":null,"args":[],"environment":{},
            "health":{"url":null,"build_info":null,"build_info_label":"version","expect":[],"timeout":"30s","settle":"2s"}}]}"#;
        let state: ProfileState = serde_json::from_str(old).unwrap();
        let e = &state.exporters[0];
        assert_eq!((e.socket_store_path.as_ref(), e.socket_unit()), (None, None));
        // Written again without the key: the farm of an unchanged state keeps its hash.
        assert!(!serde_json::to_string(&state).unwrap().contains("socket"));
        let mut with = state.clone();
        with.exporters[0].socket_store_path =
            Some(StorePath::parse("0123456789abcdef0123456789abcdef-unit-node.socket").unwrap());
        assert_eq!(with.exporters[0].socket_unit().as_deref(), Some("node.socket"));
        assert!(with.exporters[0].needs_restart_from(e));
        assert_eq!(with.references().count(), 2);
    }

    #[test]
    fn versions_order_numerically() {
        assert_eq!(version_order("1.9.1", "1.10.0"), Ordering::Less);
        assert_eq!(version_order("2.0.0", "1.10.0"), Ordering::Greater);
        assert_eq!(version_order("1.0.0-rc1", "1.0.0"), Ordering::Less);
        assert_eq!(version_order("0.10.3", "0.10.3"), Ordering::Equal);
    }
}

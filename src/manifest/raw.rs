//! The manifest exactly as written: serde types with `deny_unknown_fields` and
//! source locations on every value that is validated after parsing.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    #[serde(rename = "apiVersion")]
    pub api_version: S<String>,
    #[serde(default)]
    pub settings: Option<RawSettings>,
    pub exporters: S<Exporters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub bin_dir: Option<S<String>>,
    pub unit_dir: Option<S<String>>,
    pub service_manager: Option<S<String>>,
    pub manage_units: Option<bool>,
    pub arch: Option<S<String>>,
    pub pause_safe: Option<S<String>>,
    pub pause_standard: Option<S<String>>,
    pub parallel: Option<S<i64>>,
    pub github: Option<RawForge>,
    pub gitlab: Option<RawForge>,
    pub download: Option<RawDownload>,
    /// `off`, `warn` or `require`.
    pub preflight: Option<S<String>>,
    pub monitoring: Option<S<RawMonitoring>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDownload {
    pub max_size: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub min_rate: Option<S<String>>,
    pub min_rate_window: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForge {
    pub api_url: Option<S<String>>,
    pub download_url: Option<S<String>>,
    pub send_token: Option<S<bool>>,
}

/// Exporters in the order they are written: that order is the switch order.
#[derive(Debug)]
pub struct Exporters(pub Vec<(S<String>, RawExporter)>);

impl<'de> Deserialize<'de> for Exporters {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Exporters;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of exporter name to exporter")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Exporters, A::Error> {
                let mut out: Vec<(S<String>, RawExporter)> = Vec::new();
                while let Some(k) = m.next_key::<S<String>>()? {
                    if out.iter().any(|(n, _)| n.value == k.value) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate exporter name `{}`",
                            k.value
                        )));
                    }
                    let v: RawExporter = m.next_value()?;
                    out.push((k, v));
                }
                Ok(Exporters(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `environment:` as written, each name and value with its place: both are
/// checked before they can reach a unit file or an environment block.
#[derive(Debug, Default)]
pub struct Environment(pub Vec<(S<String>, S<String>)>);

impl<'de> Deserialize<'de> for Environment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Environment;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of variable name to value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Environment, A::Error> {
                let mut out: Vec<(S<String>, S<String>)> = Vec::new();
                while let Some(k) = m.next_key::<S<String>>()? {
                    if out.iter().any(|(n, _)| n.value == k.value) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate environment variable `{}`",
                            k.value.escape_debug()
                        )));
                    }
                    let v: S<String> = m.next_value()?;
                    out.push((k, v));
                }
                Ok(Environment(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExporter {
    pub version: Option<S<String>>,
    /// Use this catalogue entry (default: the one named like the exporter, if any).
    pub catalogue: Option<S<String>>,
    pub source: Option<RawSource>,
    pub unit: Option<S<String>>,
    pub manage_unit: Option<bool>,
    pub user: Option<S<String>>,
    pub environment: Option<S<Environment>>,
    pub args: Option<S<Vec<S<String>>>>,
    pub health: Option<RawHealth>,
    pub insecure_skip_verify: Option<bool>,
    pub allow_http: Option<bool>,
    /// `false`, or what the catalogue cannot know (see [`RawSandbox`]).
    pub sandbox: Option<S<RawSandbox>>,
    /// Run behind a generated `.socket` unit (`--web.systemd-socket`).
    pub socket_activation: Option<S<bool>>,
    /// `false`: no preflight copy (it cannot run twice).
    pub preflight: Option<S<bool>>,
}

/// `sandbox: false` (the unit as before: root unless `user:`, no sandbox),
/// `sandbox: true`, or a map of additions to the default sandbox.
#[derive(Debug, Clone)]
pub enum RawSandbox {
    Enabled(bool),
    With(RawSandboxMap),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSandboxMap {
    /// `ReadWritePaths=`: absolute paths the exporter writes.
    pub read_write_paths: Option<Vec<String>>,
    /// `SupplementaryGroups=` (replaces the catalogue's).
    pub groups: Option<Vec<String>>,
    /// Added to `RestrictAddressFamilies=`.
    pub address_families: Option<Vec<String>>,
    /// Added to `CapabilityBoundingSet=` and `AmbientCapabilities=`.
    pub capabilities: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for RawSandbox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawSandbox;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`false`, `true`, or a map with read_write_paths, groups, address_families, capabilities")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawSandbox, E> {
                Ok(RawSandbox::Enabled(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<RawSandbox, A::Error> {
                RawSandboxMap::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(RawSandbox::With)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub url: Option<S<String>>,
    pub github: Option<S<String>>,
    pub gitlab: Option<S<String>>,
    pub tag: Option<S<String>>,
    pub asset: Option<S<String>>,
    pub checksums_url: Option<S<String>>,
    pub checksums: Option<S<String>>,
    pub sha256: Option<S<String>>,
    pub binary: Option<S<String>>,
    /// `settings.arch` → how this source's assets spell it.
    pub arch_map: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub url: Option<S<String>>,
    pub build_info: Option<S<String>>,
    pub build_info_label: Option<S<String>>,
    pub expect: Option<Vec<S<String>>>,
    pub timeout: Option<S<String>>,
    pub settle: Option<S<String>>,
    pub drain: Option<S<String>>,
    /// Also require the catalogue entry's "up" sample (e.g. `nginx_up 1`).
    pub up: Option<S<bool>>,
    /// `all`, or metric family names.
    pub keep_metrics: Option<S<crate::health::keep::KeepMetrics>>,
}

/// `settings.monitoring` as written (see `manifest::monitoring`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitoring {
    pub host: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub alertmanager: Option<S<RawAlertmanager>>,
    pub grafana: Option<S<RawGrafana>>,
    pub notify: Option<S<Vec<S<RawWebhook>>>>,
    pub prometheus: Option<S<RawPrometheus>>,
    pub textfile_dir: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub url: Option<S<String>>,
    pub matchers: Option<Vec<S<RawMatcher>>>,
    pub duration: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatcher {
    pub name: Option<S<String>>,
    pub value: Option<S<String>>,
    #[serde(default)]
    pub regex: bool,
    /// `false`: a negative matcher (`!=`, `!~`).
    pub equal: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrafana {
    pub url: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub token_env: Option<S<String>>,
    pub tags: Option<Vec<S<String>>>,
    pub dashboard_uid: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Option<S<String>>,
    pub url_file: Option<S<String>>,
    pub url_env: Option<S<String>>,
    pub format: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    pub url: Option<S<String>>,
    pub verify: Option<S<String>>,
    pub job: Option<S<String>>,
    pub instance: Option<S<String>>,
    pub wait: Option<S<String>>,
}

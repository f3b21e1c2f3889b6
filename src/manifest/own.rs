//! raw → validated → resolved. An exporter's own keys, validated once at
//! load ([`Own`]: independent of the version), and the merge that resolves
//! them for one version under `catalogue::Entry::for_version`. The merge
//! cannot fail: what it takes from the catalogue was validated with the
//! catalogue, and what depends on the version (retraction, the release
//! layout, verifiability, socket activation) is checked by
//! `Validator::check_release` on its result, with the places kept here.

use super::{Source, SourceKind};
use crate::catalogue::{Catalogue, Entry};
use crate::health::HealthSpec;
use crate::source::forge::Forge;
use serde_saphyr::Location;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// An exporter's own `source:` keys, validated: what the catalogue entry's
/// fields go under (any key given here wins).
#[derive(Debug, Clone, Default)]
pub(super) struct OwnSource {
    /// `url:`; it replaces the forge, tag, asset and checksum file.
    pub(super) url: Option<String>,
    /// `github:`/`gitlab:`, or the catalogue entry's (it does not change
    /// with the version); `None` only with `url`.
    pub(super) forge: Option<(Forge, String)>,
    pub(super) tag: Option<String>,
    pub(super) asset: Option<String>,
    /// `checksums_url` or `checksums`.
    pub(super) checksums: Option<String>,
    /// Lower case.
    pub(super) sha256: Option<String>,
    pub(super) binary: Option<String>,
    pub(super) arch_map: Option<BTreeMap<String, String>>,
}

/// The validated, version-independent model of one exporter's own keys,
/// with the places that the checks of a resolved version report.
#[derive(Debug, Clone)]
pub(super) struct Own {
    pub(super) path: PathBuf,
    /// `exporters.NAME`.
    pub(super) key: String,
    pub(super) name_at: Location,
    pub(super) version_at: Location,
    /// The catalogue entry merged under these keys.
    pub(super) entry: Option<String>,
    pub(super) source: OwnSource,
    /// `health:` validated, with the base entry's `build_info` where the
    /// manifest gives none (replaced by the version's in [`Own::merge`]).
    pub(super) health: HealthSpec,
    /// `health.build_info` / `health.build_info_label` were written.
    pub(super) own_build_info: bool,
    pub(super) own_build_info_label: bool,
    pub(super) insecure_skip_verify: bool,
    /// Where socket activation problems are reported: `socket_activation:`,
    /// else `args`, else the exporter's name.
    pub(super) socket_at: Location,
}

impl Own {
    /// The catalogue entry with its overrides for `version` (`None`: not
    /// known yet, the base entry).
    pub(super) fn entry_for(&self, version: Option<&str>) -> Option<Entry> {
        let e = Catalogue::builtin().get(self.entry.as_deref()?)?;
        Some(e.for_version(version.unwrap_or_default()))
    }

    /// The release layout is the catalogue's (no own `url`, `asset` or `tag`),
    /// so the catalogue must know where `version` was published.
    pub(super) fn catalogue_layout(&self) -> bool {
        self.source.url.is_none() && self.source.asset.is_none() && self.source.tag.is_none()
    }

    /// Source and health for `version` (`None`: not known yet): the
    /// entry's fields for that version under the exporter's own keys.
    pub(super) fn merge(&self, version: Option<&str>) -> (Source, HealthSpec) {
        let entry = self.entry_for(version);
        let entry = entry.as_ref();
        let own = &self.source;
        let kind = match (&own.url, &own.forge) {
            (None, Some((forge, repo))) => {
                let tag = own
                    .tag
                    .clone()
                    .or_else(|| entry.map(|e| e.tag.clone()))
                    .unwrap_or_else(|| "v{version}".into());
                // Validation refused a forge source with no asset of its own
                // and no catalogue entry.
                let asset = own
                    .asset
                    .clone()
                    .or_else(|| entry.map(|e| e.asset.clone()))
                    .unwrap_or_default();
                match forge {
                    Forge::Github => SourceKind::Github {
                        repo: repo.clone(),
                        tag,
                        asset,
                    },
                    Forge::Gitlab => SourceKind::Gitlab {
                        project: repo.clone(),
                        tag,
                        asset,
                    },
                }
            }
            // Neither `url` nor a forge was refused at validation.
            (url, _) => SourceKind::Url {
                url: url.clone().unwrap_or_default(),
            },
        };
        let checksums = match &own.url {
            Some(_) => own.checksums.clone(),
            None => own
                .checksums
                .clone()
                .or_else(|| entry.and_then(|e| e.checksums.clone())),
        };
        let arch_map = own
            .arch_map
            .clone()
            .or_else(|| entry.map(|e| e.arch_map.clone()))
            .unwrap_or_default();
        let uses_catalogue_asset = own.url.is_none() && own.asset.is_none();
        let source = Source {
            kind,
            checksums,
            sha256: own.sha256.clone(),
            binary: own.binary.clone().or_else(|| entry.and_then(|e| e.binary.clone())),
            arch_map,
            arches: entry.filter(|_| uses_catalogue_asset).map(|e| e.arches.clone()),
        };
        let mut health = self.health.clone();
        if let (Some(e), false) = (entry, self.own_build_info) {
            health.build_info = e.build_info.clone();
            if !self.own_build_info_label {
                health.build_info_label = e.build_info_label.clone();
            }
        }
        (source, health)
    }
}

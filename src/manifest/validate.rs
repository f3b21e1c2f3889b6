//! From the manifest as written (`raw`) to the validated model: every check
//! that can fail names the file, line, column and dotted key; catalogue
//! entries are merged under the manifest's own keys.

use super::own::{Own, OwnSource};
use super::raw::{RawExporter, RawForge, RawSettings};
use super::*;
use crate::health::MAX_DRAIN;
use crate::redact::url_without_password;
use crate::units::socket_activation::SOCKET_FLAG;
use serde_saphyr::Location;

pub(super) struct Validator<'a> {
    pub(super) path: &'a Path,
}

/// A message as a terminal may show it: a value quoted in it with a control
/// character (`user: "x\rExecStartPre=…"`) is escaped, never printed raw (a
/// raw carriage return would hide what came before it).
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

impl Validator<'_> {
    pub(super) fn err<T>(
        &self,
        at: &serde_saphyr::Location,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, ManifestError> {
        Err(ManifestError::Invalid {
            path: self.path.to_path_buf(),
            line: at.line(),
            column: at.column(),
            key: shown(&key.into()),
            message: shown(&message.into()),
        })
    }

    pub(super) fn manifest(&self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        if raw.api_version.value != API_VERSION {
            return self.err(
                &raw.api_version.referenced,
                "apiVersion",
                format!("unsupported `{}` (expected `{API_VERSION}`)", raw.api_version.value),
            );
        }
        let raw_settings = raw.settings.unwrap_or_default();
        let at = SettingsAt {
            bin_dir: raw_settings.bin_dir.as_ref().map(|v| v.referenced),
            unit_dir: raw_settings.unit_dir.as_ref().map(|v| v.referenced),
            service_manager: raw_settings.service_manager.as_ref().map(|v| v.referenced),
        };
        let settings = self.settings(raw_settings)?;
        if raw.exporters.value.0.is_empty() {
            return self.err(&raw.exporters.referenced, "exporters", "declares no exporter");
        }
        let mut exporters: Vec<Exporter> = Vec::new();
        for (name, e) in raw.exporters.value.0 {
            let unit_at = e.unit.as_ref().map_or(name.referenced, |u| u.referenced);
            let key = format!("exporters.{}.unit", name.value);
            // `bin_dir: /var/lib` with an exporter named `exporterctl`: its
            // link would take the place of the state directory itself.
            let link = settings.bin_dir.join(&name.value);
            let state = Path::new("/").join(crate::paths::STATE_DIR);
            if state.starts_with(&link) {
                return self.err(
                    &name.referenced,
                    format!("exporters.{}", name.value),
                    format!(
                        "its link {} in bin_dir would take the place of exporterctl's state directory {}: \
                         rename the exporter or choose another bin_dir",
                        link.display(),
                        state.display()
                    ),
                );
            }
            let exporter = self.exporter(&settings, name, e)?;
            // Two exporters restarting (or writing) one unit: the second
            // write fails after the flip, or one restart checks the other.
            if let Some(other) = exporters.iter().find(|o| o.unit == exporter.unit) {
                return self.err(
                    &unit_at,
                    key,
                    format!(
                        "`{}` is also the unit of `{}`; every exporter needs a unit of its own",
                        exporter.unit, other.name
                    ),
                );
            }
            exporters.push(exporter);
        }
        Ok(Manifest {
            path: self.path.to_path_buf(),
            settings,
            exporters,
            at,
        })
    }

    /// Values that reach a command line, an environment block or a unit
    /// file: a control character there is at best an error after the flip
    /// (a NUL cannot be passed to exec) and at worst a new directive (systemd
    /// ends a line at a carriage return, so the rest would be read as, say,
    /// an `ExecStartPre=` running as root).
    pub(super) fn plain_text(&self, at: &Location, key: &str, value: &str) -> Result<(), ManifestError> {
        match value.chars().find(|c| c.is_control()) {
            None => Ok(()),
            Some(c) => self.err(
                at,
                key,
                format!(
                    "`{}` contains the control character U+{:04X}; control characters (line breaks, tabs, NUL) \
                     are refused in what reaches a command line, an environment or a unit file",
                    value.escape_debug(),
                    c as u32
                ),
            ),
        }
    }

    fn abs_path(&self, v: &S<String>, key: &str) -> Result<PathBuf, ManifestError> {
        self.plain_text(&v.referenced, key, &v.value)?;
        let p = PathBuf::from(&v.value);
        if !p.is_absolute() {
            return self.err(&v.referenced, key, format!("`{}` must be an absolute path", v.value));
        }
        if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return self.err(&v.referenced, key, format!("`{}` must not contain `..`", v.value));
        }
        Ok(p)
    }

    /// Links in the state directory (or its store) would sit among
    /// exporterctl's own files: `bin_dir: /var/lib/exporterctl/profiles` with
    /// an exporter named `system` replaces the profile link with a link to
    /// itself. Both are under the same `--root`, so the host paths tell.
    fn outside_state_dir(&self, v: &S<String>, key: &str) -> Result<(), ManifestError> {
        let state = Path::new("/").join(crate::paths::STATE_DIR);
        if Path::new(&v.value).starts_with(&state) {
            return self.err(
                &v.referenced,
                key,
                format!(
                    "`{}` is inside exporterctl's state directory {}; links there would replace \
                     exporterctl's own files (the profile link, the store): choose a directory outside it",
                    v.value,
                    state.display()
                ),
            );
        }
        Ok(())
    }

    /// A duration no longer than `max`: deadlines are computed from these,
    /// and an absurd one is a typo, not a wish to wait for centuries.
    fn duration(&self, v: &S<String>, key: &str, max: Duration) -> Result<Duration, ManifestError> {
        match humantime::parse_duration(v.value.trim()) {
            Ok(d) if d > max => self.err(
                &v.referenced,
                key,
                format!(
                    "`{}` is longer than the maximum of {}",
                    v.value,
                    humantime::format_duration(max)
                ),
            ),
            Ok(d) => Ok(d),
            Err(e) => self.err(
                &v.referenced,
                key,
                format!("`{}` is not a duration ({e}); write e.g. `30s`, `500ms`, `2m`", v.value),
            ),
        }
    }

    fn base_url(&self, v: &Option<S<String>>, key: &str, default: &str) -> Result<String, ManifestError> {
        match v {
            None => Ok(default.to_string()),
            Some(v)
                if v.value.starts_with("https://")
                    || v.value.starts_with("http://")
                    || v.value.starts_with("file://") =>
            {
                Ok(v.value.trim_end_matches('/').to_string())
            }
            Some(v) => self.err(
                &v.referenced,
                key,
                format!(
                    "`{}` is not an http(s):// or file:// URL",
                    url_without_password(&v.value)
                ),
            ),
        }
    }

    fn settings(&self, raw: RawSettings) -> Result<Settings, ManifestError> {
        let mut s = Settings::default();
        if let Some(v) = &raw.bin_dir {
            s.bin_dir = self.abs_path(v, "settings.bin_dir")?;
            if let Some(c) = v.value.chars().find(|c| matches!(c, '"' | '\'' | '\\')) {
                return self.err(
                    &v.referenced,
                    "settings.bin_dir",
                    format!(
                        "`{}` contains `{c}`, which systemd refuses in the path of an executable",
                        v.value.escape_debug()
                    ),
                );
            }
            self.outside_state_dir(v, "settings.bin_dir")?;
        }
        if let Some(v) = &raw.unit_dir {
            s.unit_dir = self.abs_path(v, "settings.unit_dir")?;
            self.outside_state_dir(v, "settings.unit_dir")?;
        }
        if let Some(v) = &raw.service_manager {
            s.service_manager = match v.value.as_str() {
                "systemd" => ServiceManagerKind::Systemd,
                "process" => ServiceManagerKind::Process,
                "none" => ServiceManagerKind::None,
                other => {
                    return self.err(
                        &v.referenced,
                        "settings.service_manager",
                        format!("unknown service manager `{other}` (expected systemd, process or none)"),
                    )
                }
            };
        }
        if let Some(v) = raw.manage_units {
            s.manage_units = v;
        }
        if let Some(v) = &raw.arch {
            if !template::KNOWN_ARCHES.contains(&v.value.as_str()) {
                return self.err(
                    &v.referenced,
                    "settings.arch",
                    format!(
                        "unknown architecture `{}` (expected one of {})",
                        v.value,
                        template::KNOWN_ARCHES.join(", ")
                    ),
                );
            }
            s.arch = v.value.clone();
        }
        if let Some(v) = &raw.pause_safe {
            s.pause_safe = self.duration(v, "settings.pause_safe", MAX_PAUSE)?;
        }
        if let Some(v) = &raw.pause_standard {
            s.pause_standard = self.duration(v, "settings.pause_standard", MAX_PAUSE)?;
        }
        if let Some(v) = &raw.parallel {
            let max = super::MAX_PARALLEL;
            s.parallel = match usize::try_from(v.value) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    return self.err(
                        &v.referenced,
                        "settings.parallel",
                        format!("`{}` is not between 1 and {max}", v.value),
                    )
                }
            };
        }
        if let Some(g) = &raw.github {
            s.github = self.forge(g, "github", &s.github)?;
        }
        if let Some(g) = &raw.gitlab {
            s.gitlab = self.forge(g, "gitlab", &s.gitlab)?;
        }
        if let Some(d) = &raw.download {
            s.download = self.download(d)?;
        }
        if let Some(m) = &raw.preflight {
            s.preflight = match crate::generation::preflight::Mode::parse(&m.value) {
                Some(mode) => mode,
                None => {
                    return self.err(
                        &m.referenced,
                        "settings.preflight",
                        format!("`{}` is not one of off, warn, require", m.value),
                    )
                }
            };
        }
        if let Some(m) = &raw.monitoring {
            s.monitoring = Some(self.monitoring(m)?);
        }
        Ok(s)
    }

    fn forge(&self, raw: &RawForge, name: &str, default: &ForgeUrls) -> Result<ForgeUrls, ManifestError> {
        let key = format!("settings.{name}");
        let urls = ForgeUrls {
            api_url: self.base_url(&raw.api_url, &format!("{key}.api_url"), &default.api_url)?,
            download_url: self.base_url(&raw.download_url, &format!("{key}.download_url"), &default.download_url)?,
            send_token: raw.send_token.as_ref().is_some_and(|t| t.value),
        };
        // Refused rather than quietly withheld: whoever opts in expects the
        // token to arrive, and it must not cross the network in clear text.
        if let Some(t) = raw.send_token.as_ref().filter(|t| t.value) {
            let clear = [&urls.api_url, &urls.download_url].into_iter().find(|u| {
                matches!(
                    crate::source::http::check_url(u, false),
                    Err(crate::source::http::PolicyViolation::InsecureHttp)
                )
            });
            if let Some(u) = clear {
                return self.err(
                    &t.referenced,
                    format!("{key}.send_token"),
                    format!(
                        "would send {}_TOKEN in clear text to `{}`; use an https:// URL (plain http is for loopback only)",
                        name.to_ascii_uppercase(),
                        url_without_password(u)
                    ),
                );
            }
        }
        Ok(urls)
    }

    fn exporter(&self, settings: &Settings, name: S<String>, raw: RawExporter) -> Result<Exporter, ManifestError> {
        let key = format!("exporters.{}", name.value);
        if !is_safe_name(&name.value) {
            return self.err(
                &name.referenced,
                &key,
                "exporter names may contain only letters, digits, `_`, `-`, `.` and `@`, and must not start with `.` or `-`",
            );
        }
        let Some(version) = raw.version else {
            return self.err(&name.referenced, format!("{key}.version"), "missing `version`");
        };
        let requested = match VersionRequest::parse(&version.value) {
            Ok(r) => r,
            Err(msg) => return self.err(&version.referenced, format!("{key}.version"), msg),
        };
        if requested.is_exact() && !is_version(&version.value) {
            let hint = if version.value.starts_with('v') && is_version(&version.value[1..]) {
                format!(" (write `{}` without the leading `v`)", &version.value[1..])
            } else {
                String::new()
            };
            return self.err(
                &version.referenced,
                format!("{key}.version"),
                format!(
                    "`{}` is not a version, `latest` or a range like `~1.9`{hint}",
                    version.value
                ),
            );
        }
        let catalogue = Catalogue::builtin();
        let entry = match &raw.catalogue {
            Some(c) if catalogue.get(&c.value).is_none() => {
                return self.err(
                    &c.referenced,
                    format!("{key}.catalogue"),
                    format!(
                        "no catalogue entry `{}` (known: {})",
                        c.value,
                        catalogue.names().collect::<Vec<_>>().join(", ")
                    ),
                )
            }
            Some(c) => Some(c.value.clone()),
            None => catalogue.get(&name.value).map(|_| name.value.clone()),
        };
        let insecure_skip_verify = raw.insecure_skip_verify.unwrap_or(false);
        // The own keys are validated once, against the base entry: what the
        // catalogue's version overrides change is merged, not validated.
        let base = entry
            .as_deref()
            .and_then(|n| catalogue.get(n))
            .map(|e| e.for_version(""));
        let own_source = self.own_source(&key, &name, base.as_ref(), raw.source)?;
        let raw_health = raw.health.unwrap_or_default();
        let own_build_info = raw_health.build_info.is_some();
        let own_build_info_label = raw_health.build_info_label.is_some();
        let own_health = self.health(&key, base.as_ref(), raw_health)?;
        let own = Own {
            path: self.path.to_path_buf(),
            key: key.clone(),
            name_at: name.referenced,
            version_at: version.referenced,
            entry: entry.clone(),
            source: own_source,
            health: own_health,
            own_build_info,
            own_build_info_label,
            insecure_skip_verify,
            socket_at: raw
                .socket_activation
                .as_ref()
                .map(|s| s.referenced)
                .or(raw.args.as_ref().map(|a| a.referenced))
                .unwrap_or(name.referenced),
        };
        let exact = requested.is_exact().then_some(version.value.as_str());
        let (source, health) = own.merge(exact);
        if !requested.is_exact() && matches!(source.kind, SourceKind::Url { .. }) {
            return self.err(
                &version.referenced,
                format!("{key}.version"),
                format!(
                    "`{}` needs a `github` or `gitlab` source to list releases; a `url` source takes an exact version",
                    version.value
                ),
            );
        }
        let unit = match raw.unit {
            None => format!("{}.service", name.value),
            Some(u) => {
                let stem_ok = u.value.strip_suffix(".service").is_some_and(is_safe_name);
                if !stem_ok {
                    return self.err(
                        &u.referenced,
                        format!("{key}.unit"),
                        format!("`{}` is not a service unit name like `{}.service`", u.value, name.value),
                    );
                }
                u.value
            }
        };
        // What the manifest does not ask to manage stays hand-written, and a
        // hand-written unit runs its own ExecStart: refuse what cannot reach it
        // rather than ignore it.
        let manage_unit = raw.manage_unit.unwrap_or(settings.manage_units);
        if settings.service_manager == ServiceManagerKind::Systemd && !manage_unit {
            let unapplied = [
                (
                    "args",
                    raw.args.as_ref().filter(|a| !a.value.is_empty()).map(|a| &a.referenced),
                ),
                (
                    "environment",
                    raw.environment
                        .as_ref()
                        .filter(|e| !e.value.0.is_empty())
                        .map(|e| &e.referenced),
                ),
                ("user", raw.user.as_ref().map(|u| &u.referenced)),
            ];
            if let Some((field, at)) = unapplied.into_iter().find_map(|(f, at)| Some((f, at?))) {
                return self.err(
                    at,
                    format!("{key}.{field}"),
                    "would not be applied: systemd runs a hand-written unit as it is; set `manage_unit: true` \
                     (or `settings.manage_units: true`) so exporterctl writes the unit, or put this in the unit file",
                );
            }
        }
        if settings.service_manager == ServiceManagerKind::Process {
            if let Some(u) = &raw.user {
                return self.err(
                    &u.referenced,
                    format!("{key}.user"),
                    "would not be applied: the `process` manager runs exporters as the user running exporterctl",
                );
            }
        }
        let sandbox_at = raw
            .args
            .as_ref()
            .map(|a| a.referenced)
            .or(raw.sandbox.as_ref().map(|s| s.referenced));
        let unit_written = settings.service_manager == ServiceManagerKind::Systemd && manage_unit;
        if let Some(s) = raw.socket_activation.as_ref().filter(|s| s.value && !unit_written) {
            return self.err(
                &s.referenced,
                format!("{key}.socket_activation"),
                "would not be applied: the socket unit is written with the service unit, which exporterctl \
                 does only under the systemd manager with `manage_unit: true` (the process and none managers \
                 have no socket to hand over)",
            );
        }
        let mut args = Vec::new();
        for (i, a) in raw.args.map(|a| a.value).unwrap_or_default().into_iter().enumerate() {
            self.plain_text(&a.referenced, &format!("{key}.args[{i}]"), &a.value)?;
            if unit_written && crate::units::socket_activation::has_flag(std::slice::from_ref(&a.value), SOCKET_FLAG) {
                return self.err(
                    &a.referenced,
                    format!("{key}.args[{i}]"),
                    format!(
                        "exporterctl adds `{SOCKET_FLAG}` itself with the socket unit it writes: remove it \
                         (`socket_activation: true` asks for socket activation)"
                    ),
                );
            }
            args.push(a.value);
        }
        let mut environment = BTreeMap::new();
        for (k, v) in raw.environment.map(|e| e.value.0).unwrap_or_default() {
            let at = format!("{key}.environment");
            if !is_env_name(&k.value) {
                return self.err(
                    &k.referenced,
                    at,
                    format!(
                        "`{}` is not an environment variable name: letters, digits and `_`, not starting with a digit \
                         (systemd ignores any other name; `A=B: v` would set `A` to `B=v`)",
                        k.value.escape_debug()
                    ),
                );
            }
            self.plain_text(&v.referenced, &format!("{at}.{}", k.value), &v.value)?;
            environment.insert(k.value, v.value);
        }
        let user = match raw.user {
            Some(u) if !is_safe_name(&u.value) => {
                return self.err(
                    &u.referenced,
                    format!("{key}.user"),
                    format!("`{}` is not a user name", u.value),
                )
            }
            u => u.map(|u| u.value),
        };
        let sandbox = self.sandbox(&key, settings, manage_unit, raw.sandbox)?;
        let entry_preflight = entry
            .as_deref()
            .and_then(|n| Catalogue::builtin().get(n))
            .is_none_or(|c| c.preflight);
        let exporter = Exporter {
            name: name.value.clone(),
            version: version.value.clone(),
            resolved: requested.is_exact(),
            requested,
            catalogue: entry,
            own: Some(Box::new(own)),
            source,
            resolved_source: None,
            unit,
            manage_unit,
            user,
            environment,
            args,
            health,
            insecure_skip_verify,
            allow_http: raw.allow_http.unwrap_or(false),
            sandbox,
            socket_activation: raw.socket_activation.map(|s| s.value),
            preflight: raw.preflight.map(|p| p.value).unwrap_or(entry_preflight),
        };
        let mut exporter = exporter;
        if let Some(at) = &sandbox_at {
            self.sandbox_args(&key, at, &exporter)?;
        }
        if let Some(own) = exporter.own.as_deref() {
            exporter.resolved_source = self.check_release(settings, &exporter, own)?;
        }
        Ok(exporter)
    }

    /// Checks what needs the version: retraction, template expansion,
    /// verifiability (with a placeholder version while unresolved). Returns
    /// the expanded source of a resolved exporter, kept as its
    /// [`Exporter::resolved_source`].
    pub(super) fn check_release(
        &self,
        settings: &Settings,
        e: &Exporter,
        own: &Own,
    ) -> Result<Option<ResolvedSource>, ManifestError> {
        let key = &own.key;
        if e.resolved {
            if let Some(entry) = e.catalogue_entry() {
                if own.catalogue_layout() {
                    if let Err(msg) = entry.check_version(e.catalogue.as_deref().unwrap_or(&e.name), &e.version) {
                        return self.err(&own.version_at, format!("{key}.version"), msg);
                    }
                }
                if entry.is_retracted(&e.version) {
                    let others = entry.retracted.join(", ");
                    return self.err(
                        &own.version_at,
                        format!("{key}.version"),
                        format!(
                            "{} {} was retracted upstream and must not be installed (retracted: {others}); \
                             pick another version (`exporterctl versions {}` lists them)",
                            e.name,
                            e.version,
                            e.catalogue.as_deref().unwrap_or(&e.name)
                        ),
                    );
                }
            }
        }
        self.check_socket(settings, e, own)?;
        // Expanding now turns template mistakes into manifest errors, before anything runs.
        let version = if e.resolved { e.version.as_str() } else { "0.0.0" };
        let expanded = match resolve_source(&e.source, version, settings) {
            Ok(s) => s,
            Err(msg) => return self.err(&own.name_at, format!("{key}.source"), msg),
        };
        let verifiable = e.source.sha256.is_some() || e.source.checksums.is_some();
        if !verifiable && !own.insecure_skip_verify {
            return self.err(
                &own.name_at,
                format!("{key}.source"),
                "no way to verify the download: give `sha256`, `checksums_url` (or `checksums` for a forge), \
                 or set `insecure_skip_verify: true` for this exporter",
            );
        }
        Ok(e.resolved.then_some(expanded))
    }

    /// `source:` as written, for the catalogue entry (if any) to go under.
    fn own_source(
        &self,
        key: &str,
        name: &S<String>,
        entry: Option<&Entry>,
        raw: Option<RawSource>,
    ) -> Result<OwnSource, ManifestError> {
        let Some(raw) = raw.or_else(|| entry.map(|_| RawSource::default())) else {
            return self.err(
                &name.referenced,
                format!("{key}.source"),
                format!(
                    "missing `source` (`{}` is not in the catalogue; set `catalogue: NAME` to use an entry under another name)",
                    name.value
                ),
            );
        };
        let key = format!("{key}.source");
        let kinds = [raw.url.is_some(), raw.github.is_some(), raw.gitlab.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        // The catalogue entry gives the forge when the manifest names none.
        if kinds > 1 || (kinds == 0 && entry.is_none()) {
            return self.err(
                &name.referenced,
                &key,
                "give exactly one of `url`, `github` or `gitlab`",
            );
        }
        if let Some(sha) = &raw.sha256 {
            if sha.value.len() != 64 || !sha.value.bytes().all(|b| b.is_ascii_hexdigit()) {
                return self.err(
                    &sha.referenced,
                    format!("{key}.sha256"),
                    "must be 64 hexadecimal digits",
                );
            }
        }
        let forge = if raw.url.is_some() {
            for (field, v) in [("asset", &raw.asset), ("checksums", &raw.checksums), ("tag", &raw.tag)] {
                if let Some(v) = v {
                    return self.err(
                        &v.referenced,
                        format!("{key}.{field}"),
                        format!("`{field}` is for `github`/`gitlab` sources; a `url` source takes `checksums_url`"),
                    );
                }
            }
            None
        } else {
            if raw.asset.is_none() && entry.is_none() {
                return self.err(
                    &name.referenced,
                    format!("{key}.asset"),
                    "a forge source needs `asset` (the release file name template)",
                );
            }
            // The entry's repository carries the exporter name's place.
            let (forge, repo) = match (&raw.github, &raw.gitlab, entry) {
                (Some(g), _, _) => (Forge::Github, g.clone()),
                (None, Some(g), _) => (Forge::Gitlab, g.clone()),
                (None, None, Some(e)) => (e.forge, S::new(e.repo.clone(), name.referenced, name.referenced)),
                (None, None, None) => {
                    return self.err(
                        &name.referenced,
                        &key,
                        "give exactly one of `url`, `github` or `gitlab`",
                    )
                }
            };
            if forge == Forge::Github && repo.value.split('/').count() != 2 {
                return self.err(
                    &repo.referenced,
                    format!("{key}.github"),
                    format!("`{}` is not `owner/repository`", repo.value),
                );
            }
            Some((forge, repo.value))
        };
        if raw.checksums.is_some() && raw.checksums_url.is_some() {
            return self.err(&name.referenced, &key, "give `checksums` or `checksums_url`, not both");
        }
        Ok(OwnSource {
            url: raw.url.map(|u| u.value),
            forge,
            tag: raw.tag.map(|t| t.value),
            asset: raw.asset.map(|a| a.value),
            checksums: raw.checksums_url.or(raw.checksums).map(|c| c.value),
            sha256: raw.sha256.map(|s| s.value.to_ascii_lowercase()),
            binary: raw.binary.map(|b| b.value),
            arch_map: raw.arch_map,
        })
    }

    fn health(&self, key: &str, entry: Option<&Entry>, raw: RawHealth) -> Result<HealthSpec, ManifestError> {
        let key = format!("{key}.health");
        let mut h = HealthSpec::default();
        if let Some(u) = raw.url {
            if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
                return self.err(
                    &u.referenced,
                    format!("{key}.url"),
                    format!("`{}` is not an http(s) URL", url_without_password(&u.value)),
                );
            }
            h.url = Some(u.value);
        } else if let Some(e) = entry {
            h.url = Some(e.metrics_url());
        }
        if let Some(b) = raw.build_info {
            // `build_info: ""` turns the catalogue's version check off (a
            // distro build reporting `0.11.0-1+b4`, say).
            if b.value.is_empty() {
                h.build_info = None;
            } else if h.url.is_none() {
                return self.err(
                    &b.referenced,
                    format!("{key}.build_info"),
                    "needs `health.url` to scrape",
                );
            } else {
                h.build_info = Some(b.value);
            }
        } else if let Some(e) = entry {
            h.build_info = e.build_info.clone();
            h.build_info_label = e.build_info_label.clone();
        }
        if let Some(l) = raw.build_info_label {
            h.build_info_label = l.value;
        }
        for (i, e) in raw.expect.unwrap_or_default().into_iter().enumerate() {
            let k = format!("{key}.expect[{i}]");
            if h.url.is_none() {
                return self.err(&e.referenced, k, "needs `health.url` to scrape");
            }
            match crate::health::Expect::parse(&e.value) {
                Ok(parsed) => h.expect.push(parsed),
                Err(msg) => return self.err(&e.referenced, k, msg),
            }
        }
        if let Some(up) = raw.up.filter(|u| u.value) {
            match entry.and_then(|e| e.up.clone()) {
                Some(sample) if h.url.is_some() => {
                    if !h.expect.iter().any(|e| *e == sample) {
                        match crate::health::Expect::parse(&sample) {
                            Ok(parsed) => h.expect.push(parsed),
                            Err(msg) => return self.err(&up.referenced, format!("{key}.up"), msg),
                        }
                    }
                }
                Some(_) => return self.err(&up.referenced, format!("{key}.up"), "needs `health.url` to scrape"),
                None => {
                    return self.err(
                        &up.referenced,
                        format!("{key}.up"),
                        "no \"up\" metric is known for this exporter (no catalogue entry has one); \
                         write the sample in `health.expect` instead",
                    )
                }
            }
        }
        if let Some(t) = &raw.timeout {
            h.timeout = self.duration(t, &format!("{key}.timeout"), MAX_HEALTH_WAIT)?;
        }
        if let Some(t) = &raw.settle {
            h.settle = self.duration(t, &format!("{key}.settle"), MAX_HEALTH_WAIT)?;
        }
        if let Some(t) = &raw.drain {
            h.drain = self.duration(t, &format!("{key}.drain"), MAX_DRAIN)?;
        }
        if let Some(k) = raw.keep_metrics {
            if let crate::health::keep::KeepMetrics::Names(names) = &k.value {
                if let Some(bad) = names.iter().find(|n| !crate::health::keep::is_metric_name(n)) {
                    return self.err(
                        &k.referenced,
                        format!("{key}.keep_metrics"),
                        format!("`{bad}` is not a metric family name"),
                    );
                }
            }
            h.keep_metrics = k.value;
        }
        Ok(h)
    }
}

impl Validator<'_> {
    /// Socket activation, where it applies: a version that accepts the
    /// flag, and listen addresses a socket unit can take. While the version
    /// is not resolved, only an explicit `socket_activation: true` is checked
    /// (this runs again once it is).
    fn check_socket(&self, settings: &Settings, e: &Exporter, own: &Own) -> Result<(), ManifestError> {
        use crate::units::socket_activation as socket;
        let key = format!("{}.socket_activation", own.key);
        if e.socket_activation == Some(true) && e.resolved {
            if let Some(entry) = e.catalogue_entry() {
                if !entry.accepts_systemd_socket(&e.version) {
                    let since = match &entry.socket_activation {
                        Some(s) => format!("it accepts `{SOCKET_FLAG}` from {} on", s.from),
                        None => format!("the catalogue knows no release of it that accepts `{SOCKET_FLAG}`"),
                    };
                    return self.err(
                        &own.socket_at,
                        key,
                        format!(
                            "{} {} would not start with `{SOCKET_FLAG}` ({since}): set `socket_activation: false` \
                             or pick a version that accepts it",
                            e.name, e.version
                        ),
                    );
                }
            }
        }
        let applies = if e.resolved {
            socket::enabled(&e.unit_spec(settings))
        } else {
            e.socket_activation == Some(true)
        };
        if !applies {
            return Ok(());
        }
        if let Err(msg) = socket::plan(&e.unit_spec(settings)) {
            let how = if e.socket_activation == Some(true) {
                "`socket_activation: true`"
            } else {
                "the catalogue turns socket activation on for this version"
            };
            return self.err(
                &own.socket_at,
                key,
                format!("{msg} ({how}; `socket_activation: false` keeps the exporter's own listener)"),
            );
        }
        Ok(())
    }

    /// `sandbox:` of one exporter. Every value reaches the generated unit,
    /// so each is held to a plain shape: no spaces, quotes, backslashes,
    /// `%` or control characters that systemd would read as syntax.
    fn sandbox(
        &self,
        key: &str,
        settings: &Settings,
        manage_unit: bool,
        raw: Option<S<super::raw::RawSandbox>>,
    ) -> Result<SandboxSpec, ManifestError> {
        use super::raw::RawSandbox;
        let mut spec = SandboxSpec::default();
        let Some(raw) = raw else { return Ok(spec) };
        let key = format!("{key}.sandbox");
        let at = raw.referenced;
        let unit_written = settings.service_manager == ServiceManagerKind::Systemd && manage_unit;
        if !unit_written {
            return self.err(
                &at,
                &key,
                "would not be applied: exporterctl sandboxes only the units it writes (`manage_unit: true` \
                 under the systemd manager)",
            );
        }
        let map = match raw.value {
            RawSandbox::Enabled(on) => {
                spec.enabled = on;
                return Ok(spec);
            }
            RawSandbox::With(m) => m,
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        };
        for (i, p) in map.read_write_paths.iter().flatten().enumerate() {
            let k = format!("{key}.read_write_paths[{i}]");
            if let Err(msg) = crate::units::sandbox::check_path(p) {
                return self.err(&at, k, msg);
            }
            spec.read_write_paths.push(p.clone());
        }
        if let Some(groups) = map.groups {
            for (i, g) in groups.iter().enumerate() {
                if !is_safe_name(g) {
                    return self.err(
                        &at,
                        format!("{key}.groups[{i}]"),
                        format!("`{}` is not a group name", g.escape_debug()),
                    );
                }
            }
            spec.groups = Some(groups);
        }
        for (i, f) in map.address_families.iter().flatten().enumerate() {
            if !f.strip_prefix("AF_").is_some_and(word) {
                return self.err(
                    &at,
                    format!("{key}.address_families[{i}]"),
                    format!("`{}` is not an address family like `AF_NETLINK`", f.escape_debug()),
                );
            }
            spec.address_families.push(f.clone());
        }
        for (i, c) in map.capabilities.iter().flatten().enumerate() {
            if !c.strip_prefix("CAP_").is_some_and(word) {
                return self.err(
                    &at,
                    format!("{key}.capabilities[{i}]"),
                    format!("`{}` is not a capability like `CAP_NET_RAW`", c.escape_debug()),
                );
            }
            spec.capabilities.push(c.clone());
        }
        Ok(spec)
    }

    /// Arguments the sandbox rewrites (a credential file passed with
    /// `LoadCredential=`) must name a plain absolute path.
    fn sandbox_args(&self, key: &str, at: &serde_saphyr::Location, e: &Exporter) -> Result<(), ManifestError> {
        if !e.sandbox.enabled || !e.manage_unit {
            return Ok(());
        }
        let Some(entry) = e.catalogue_entry() else {
            return Ok(());
        };
        for (i, path) in crate::units::sandbox::credential_args(&entry.sandbox, &e.args) {
            if let Err(msg) = crate::units::sandbox::check_path(path) {
                return self.err(
                    at,
                    format!("{key}.args[{i}]"),
                    format!("{msg} (the sandbox passes this file to the exporter with LoadCredential=)"),
                );
            }
        }
        Ok(())
    }
}

/// A name systemd accepts in `Environment=` (and a shell can read): letters,
/// digits and `_`, not starting with a digit.
fn is_env_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| !b.is_ascii_digit()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

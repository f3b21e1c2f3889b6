//! The monitoring around one switch: [`Window::open`] before its first
//! restart (silence, annotation start, start notification),
//! [`Window::step_healthy`] after each step's health check (Prometheus,
//! and under `verify: require` the step's fate), [`Window::close`] when it
//! is over, rollbacks and settle time included (verification report,
//! silence expired, annotation end, end notification).
//!
//! Everything is recorded in `record.monitoring`, which the engine writes to
//! the journal: a `resume` finds the silence there and expires it. Nothing
//! here returns an error to the switch except `step_healthy` under
//! `require`; every other failure is a line in `problems`.
//!
//! This file is the part of `monitoring` above the engine and the manifest
//! (it implements `switch::Hooks` and reads a switch's manifest again for
//! `resume` and `rollback`); the rest of the folder sits below the
//! manifest, which builds its settings.

use super::client::Client;
use super::prometheus::{self, ExporterVerification, Verification};
use super::{
    alertmanager, grafana, notify, now_ms, rfc3339_ms, AnnotationRecord, MonitoringRecord, MonitoringSettings,
    NotificationRecord, SilenceRecord, VerifyMode,
};
use crate::generation::history::{StepStatus, SwitchRecord};
use crate::generation::state::{Action, ExporterState};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// An exporter a switch changes, as the monitoring sees it: its name and
/// the ports it listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterTarget {
    pub name: String,
    pub ports: Vec<u16>,
}

impl ExporterTarget {
    /// From `--web.listen-address` in its arguments, else its health URL's port.
    pub fn of(e: &ExporterState) -> ExporterTarget {
        let mut ports = crate::switch::drain::listen_ports(e);
        if ports.is_empty() {
            if let Some(p) = e
                .health
                .url
                .as_deref()
                .and_then(|u| reqwest::Url::parse(u).ok())
                .and_then(|u| u.port_or_known_default())
            {
                ports.push(p);
            }
        }
        ExporterTarget {
            name: e.name.clone(),
            ports,
        }
    }
}

/// The exporters `record`'s steps change (added, upgraded, reconfigured;
/// not removed), found in `target` or else in `from`.
pub fn targets_of(
    record: &SwitchRecord,
    target: &crate::generation::state::ProfileState,
    from: &crate::generation::state::ProfileState,
) -> Vec<ExporterTarget> {
    record
        .steps
        .iter()
        .filter(|s| s.action != Action::Remove)
        .filter_map(|s| target.exporter(&s.name).or_else(|| from.exporter(&s.name)))
        .map(ExporterTarget::of)
        .collect()
}

pub struct Window {
    settings: MonitoringSettings,
    client: Client,
    /// When each exporter was seen healthy after its restart (ms since the epoch).
    healthy_at: Mutex<BTreeMap<String, u64>>,
}

fn problem(record: &mut SwitchRecord, note: &dyn Fn(&str), line: String) {
    note(&format!("warning: monitoring: {line}"));
    mon(record).problems.push(line);
}

fn mon(record: &mut SwitchRecord) -> &mut MonitoringRecord {
    record.monitoring.get_or_insert_with(Default::default)
}

/// One line per step: `node_exporter 1.8.0 → 1.9.1`, with its outcome when `done`.
fn steps_text(record: &SwitchRecord, done: bool) -> String {
    let parts: Vec<String> = record
        .steps
        .iter()
        .map(|s| {
            let what = format!("{} {}", s.name, crate::switch::describe_action(s));
            match (done, s.status) {
                (false, _) => what,
                // Refused before the flip (preflight): never attempted.
                (true, StepStatus::Failed) if s.duration_ms.is_none() => format!("{what} (failed, not attempted)"),
                (true, StepStatus::Failed) => format!("{what} (failed, rolled back)"),
                (true, st) => format!("{what} ({})", format!("{st:?}").to_lowercase()),
            }
        })
        .collect();
    parts.join(", ")
}

impl Window {
    pub fn new(settings: MonitoringSettings) -> Window {
        let client = Client::new(settings.timeout);
        Window {
            settings,
            client,
            healthy_at: Mutex::new(BTreeMap::new()),
        }
    }

    /// For `resume`: the manifest's settings when it can still be read,
    /// else just enough to expire the silence the journal names.
    pub fn for_record(settings: Option<MonitoringSettings>, record: &SwitchRecord) -> Option<Window> {
        if let Some(s) = settings {
            return Some(Window::new(s));
        }
        let silence = record.monitoring.as_ref()?.silence.as_ref()?;
        Some(Window::new(MonitoringSettings {
            host: super::host_name(),
            timeout: super::DEFAULT_TIMEOUT,
            alertmanager: Some(super::AlertmanagerSettings {
                url: silence.alertmanager.clone(),
                matchers: Vec::new(),
                duration: super::DEFAULT_SILENCE,
            }),
            grafana: None,
            notify: Vec::new(),
            prometheus: None,
            textfile_dir: None,
        }))
    }

    pub fn settings(&self) -> &MonitoringSettings {
        &self.settings
    }

    fn message(&self, record: &SwitchRecord, event: &str) -> String {
        let host = &self.settings.host;
        match event {
            "start" => format!(
                "exporterctl on {host}: {} {} started: {}",
                record.kind,
                record.id,
                steps_text(record, false)
            ),
            _ => {
                let mut text = format!(
                    "exporterctl on {host}: {} {} {}: {}",
                    record.kind,
                    record.id,
                    record.status.as_str(),
                    steps_text(record, true)
                );
                if let Some(v) = record.monitoring.as_ref().and_then(|m| m.verification.as_ref()) {
                    let lines: Vec<String> = v.exporters.iter().map(ExporterVerification::line).collect();
                    text += &format!("; Prometheus: {}", lines.join("; "));
                }
                text
            }
        }
    }

    /// Before the first restart. Idempotent for a resumed record: what it
    /// already holds (a silence, an annotation, the start notification) is
    /// not made again.
    pub fn open(&self, record: &mut SwitchRecord, targets: &[ExporterTarget], note: &dyn Fn(&str)) {
        let now = now_ms();
        let m = mon(record);
        if m.window_start_ms.is_none() {
            m.window_start_ms = Some(now);
            m.window_start = Some(rfc3339_ms(now));
        }
        if let Some(am) = &self.settings.alertmanager {
            match alertmanager::sweep(&self.client, &am.url, &self.settings.host, Some(&record.id)) {
                Ok(ids) if !ids.is_empty() => note(&format!(
                    "monitoring: expired {} silence(s) an earlier switch left behind: {}",
                    ids.len(),
                    ids.join(", ")
                )),
                Ok(_) => {}
                Err(e) => problem(
                    record,
                    note,
                    format!("alertmanager: cannot list silences left by earlier switches: {e}"),
                ),
            }
            let have = record
                .monitoring
                .as_ref()
                .and_then(|m| m.silence.as_ref())
                .is_some_and(|s| !s.expired);
            if !have {
                let matchers = if am.matchers.is_empty() {
                    let mut ports: Vec<u16> = targets.iter().flat_map(|t| t.ports.iter().copied()).collect();
                    ports.sort_unstable();
                    ports.dedup();
                    alertmanager::default_matchers(&self.settings.host, &ports)
                } else {
                    am.matchers.clone()
                };
                let ends = now.saturating_add(am.duration.as_millis().min(u64::MAX as u128) as u64);
                let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
                let comment = format!(
                    "exporterctl {} on {}: {} {}",
                    record.kind,
                    self.settings.host,
                    names.join(", "),
                    alertmanager::comment_tag(&record.id)
                );
                let by = alertmanager::created_by(&self.settings.host);
                if matchers.iter().all(|m| m.value.is_empty() || m.value.ends_with(":()")) {
                    problem(
                        record,
                        note,
                        "alertmanager: no port known for the exporters of this switch: no silence".into(),
                    );
                } else {
                    match alertmanager::create(
                        &self.client,
                        &am.url,
                        &matchers,
                        &rfc3339_ms(now),
                        &rfc3339_ms(ends),
                        &by,
                        &comment,
                    ) {
                        Ok(id) => {
                            note(&format!(
                                "monitoring: silence {id} in Alertmanager until {}",
                                rfc3339_ms(ends)
                            ));
                            mon(record).silence = Some(SilenceRecord {
                                alertmanager: am.url.clone(),
                                id,
                                ends_at: rfc3339_ms(ends),
                                expired: false,
                            });
                        }
                        Err(e) => problem(record, note, format!("alertmanager: cannot create the silence: {e}")),
                    }
                }
            }
        }
        if let Some(g) = &self.settings.grafana {
            if record.monitoring.as_ref().is_some_and(|m| m.annotation.is_none()) {
                let start = record
                    .monitoring
                    .as_ref()
                    .and_then(|m| m.window_start_ms)
                    .unwrap_or(now);
                let text = self.message(record, "start");
                let result = g.token.read().and_then(|token| {
                    grafana::create(
                        &self.client,
                        &g.url,
                        &token,
                        &grafana::Annotation {
                            dashboard_uid: g.dashboard_uid.as_deref(),
                            time_ms: start,
                            time_end_ms: None,
                            tags: &self.tags(),
                            text: &text,
                        },
                    )
                });
                let id = match result {
                    Ok(id) => Some(id),
                    Err(e) => {
                        problem(record, note, format!("grafana: cannot create the annotation: {e}"));
                        None
                    }
                };
                mon(record).annotation = Some(AnnotationRecord {
                    grafana: g.url.clone(),
                    id,
                    ended: false,
                });
            }
        }
        let started = record
            .monitoring
            .as_ref()
            .is_some_and(|m| m.notifications.iter().any(|n| n.event == "start"));
        if !started {
            self.notify(record, "start", note);
        }
    }

    fn tags(&self) -> Vec<String> {
        let mut tags = vec!["exporterctl".to_string(), self.settings.host.clone()];
        for t in self.settings.grafana.iter().flat_map(|g| g.tags.iter()) {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags
    }

    fn notify(&self, record: &mut SwitchRecord, event: &str, note: &dyn Fn(&str)) {
        if self.settings.notify.is_empty() {
            return;
        }
        let text = self.message(record, event);
        let json = serde_json::to_value(&*record).unwrap_or(serde_json::Value::Null);
        for (i, w) in self.settings.notify.iter().enumerate() {
            let result = w
                .url
                .read()
                .and_then(|url| {
                    notify::check_url(&url)
                        .map(|()| url)
                        .map_err(|e| format!("the URL in {} {e}", w.url.describe()))
                })
                .and_then(|url| notify::send(&self.client, &url, w.format, &text, &json));
            if let Err(e) = &result {
                problem(record, note, format!("webhook {} ({event}): {e}", i + 1));
            }
            mon(record).notifications.push(NotificationRecord {
                webhook: i + 1,
                format: w.format,
                event: event.to_string(),
                ok: result.is_ok(),
                error: result.err(),
            });
        }
    }

    /// After `t`'s restart passed its health check. Under `verify: require`
    /// waits (at most `prometheus.wait`) until Prometheus scrapes it
    /// successfully: `Err(why)` fails the step, which is rolled back.
    pub fn step_healthy(&self, t: &ExporterTarget) -> Result<(), String> {
        let now = now_ms();
        if let Ok(mut m) = self.healthy_at.lock() {
            m.insert(t.name.clone(), now);
        }
        let Some(p) = self
            .settings
            .prometheus
            .as_ref()
            .filter(|p| p.verify == VerifyMode::Require)
        else {
            return Ok(());
        };
        let deadline = Instant::now() + p.wait;
        let found = self
            .targets_of(p, t, deadline)
            .map_err(|e| format!("verify: require: Prometheus cannot be asked: {e}"))?;
        let found: Vec<&prometheus::Target> = found.iter().collect();
        if found.is_empty() {
            return Err(format!(
                "verify: require: Prometheus scrapes no target of {} (this host at port {})",
                t.name,
                t.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match prometheus::wait_scraped(&self.client, &p.url, &found, now, left) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "verify: require: Prometheus has not scraped {} successfully within {} of its health check passing",
                t.name,
                humantime::format_duration(p.wait)
            )),
            Err(e) => Err(format!("verify: require: Prometheus cannot be asked: {e}")),
        }
    }

    /// The targets of `t`, asked again until there is one or `deadline`
    /// passes: a target new to Prometheus appears only after its service
    /// discovery runs (static configs too: every 5 s at most).
    fn targets_of(
        &self,
        p: &super::PrometheusSettings,
        t: &ExporterTarget,
        deadline: Instant,
    ) -> Result<Vec<prometheus::Target>, String> {
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            let all = prometheus::targets(&self.client, &p.url)?;
            let found: Vec<prometheus::Target> = prometheus::matching(
                &all,
                &self.settings.host,
                &t.ports,
                p.job.as_deref(),
                p.instance.as_deref(),
            )
            .into_iter()
            .cloned()
            .collect();
            if !found.is_empty() || Instant::now() >= deadline {
                return Ok(found);
            }
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 3 / 2).min(std::time::Duration::from_secs(1));
        }
    }

    /// Prometheus' view of every changed exporter over the window.
    fn verify(&self, record: &mut SwitchRecord, targets: &[ExporterTarget], note: &dyn Fn(&str)) {
        let Some(p) = &self.settings.prometheus else {
            return;
        };
        let closing = now_ms();
        let start = record
            .monitoring
            .as_ref()
            .and_then(|m| m.window_start_ms)
            .unwrap_or(closing);
        let attempted = |name: &str| {
            record
                .steps
                .iter()
                .any(|s| s.name == name && !matches!(s.status, StepStatus::Pending | StepStatus::Skipped))
        };
        let deadline = Instant::now() + p.wait;
        let mut out = Vec::new();
        for t in targets.iter().filter(|t| attempted(&t.name)) {
            let found = match self.targets_of(p, t, deadline) {
                Ok(f) => f,
                Err(e) => {
                    problem(record, note, format!("prometheus: cannot read its targets: {e}"));
                    return;
                }
            };
            let found: Vec<&prometheus::Target> = found.iter().collect();
            let mut v = ExporterVerification {
                exporter: t.name.clone(),
                targets: found.iter().map(|t| t.name()).collect(),
                scraped_since_restart: false,
                failed_scrapes: 0,
                longest_gap_ms: None,
                problem: None,
            };
            if found.is_empty() {
                v.problem = Some("Prometheus scrapes no target of it".into());
                out.push(v);
                continue;
            }
            let since = self
                .healthy_at
                .lock()
                .ok()
                .and_then(|m| m.get(&t.name).copied())
                .unwrap_or(closing);
            let wait = deadline.saturating_duration_since(Instant::now());
            let result = prometheus::wait_scraped(&self.client, &p.url, &found, since, wait).and_then(|scraped| {
                let now = now_ms();
                // Failures summed over the targets; the gap is per target.
                let mut failed = 0u64;
                let mut gap: Option<u64> = None;
                for target in &found {
                    let (f, g) = prometheus::analyse(
                        &prometheus::up_samples(
                            &self.client,
                            &p.url,
                            target,
                            start.saturating_sub(prometheus::LOOKBACK_MS),
                            now,
                        )?,
                        start,
                    );
                    failed = failed.saturating_add(f);
                    gap = gap.max(g);
                }
                Ok((scraped, failed, gap))
            });
            match result {
                Ok((scraped, failed, gap)) => {
                    v.scraped_since_restart = scraped;
                    v.failed_scrapes = failed;
                    v.longest_gap_ms = gap;
                }
                Err(e) => v.problem = Some(format!("cannot query Prometheus: {e}")),
            }
            out.push(v);
        }
        let verification = Verification {
            mode: p.verify,
            exporters: out,
        };
        for e in &verification.exporters {
            note(&format!("monitoring: Prometheus: {}", e.line()));
        }
        mon(record).verification = Some(verification);
    }

    /// When the switch is over (its status and end set, its record not yet
    /// filed): the verification report, the silence expired, the
    /// annotation's end, the end notification.
    pub fn close(&self, record: &mut SwitchRecord, targets: &[ExporterTarget], note: &dyn Fn(&str)) {
        self.verify(record, targets, note);
        self.expire(record, note);
        if let Some(g) = &self.settings.grafana {
            let now = now_ms();
            let start = record
                .monitoring
                .as_ref()
                .and_then(|m| m.window_start_ms)
                .unwrap_or(now);
            let id = record
                .monitoring
                .as_ref()
                .and_then(|m| m.annotation.as_ref())
                .and_then(|a| a.id);
            let text = self.message(record, "end");
            let tags = self.tags();
            let a = grafana::Annotation {
                dashboard_uid: g.dashboard_uid.as_deref(),
                time_ms: start,
                time_end_ms: Some(now.max(start)),
                tags: &tags,
                text: &text,
            };
            let result = g.token.read().and_then(|token| match id {
                Some(id) => grafana::finish(&self.client, &g.url, &token, id, &a).map(|()| id),
                None => grafana::create(&self.client, &g.url, &token, &a),
            });
            match result {
                Ok(id) => {
                    mon(record).annotation = Some(AnnotationRecord {
                        grafana: g.url.clone(),
                        id: Some(id),
                        ended: true,
                    })
                }
                Err(e) => problem(record, note, format!("grafana: cannot write the annotation's end: {e}")),
            }
        }
        self.notify(record, "end", note);
    }

    /// Expires the silences this host's earlier switches left behind (a
    /// crash before its id reached the journal, an Alertmanager unreachable
    /// at a switch's end): what a switch with nothing to do still does.
    pub fn sweep(&self, note: &dyn Fn(&str)) {
        let Some(am) = &self.settings.alertmanager else {
            return;
        };
        match alertmanager::sweep(&self.client, &am.url, &self.settings.host, None) {
            Ok(ids) if !ids.is_empty() => note(&format!(
                "monitoring: expired {} silence(s) an earlier switch left behind: {}",
                ids.len(),
                ids.join(", ")
            )),
            Ok(_) => {}
            Err(e) => note(&format!(
                "warning: monitoring: alertmanager: cannot list silences left by earlier switches: {e}"
            )),
        }
    }

    /// Expires the record's silence, if it has one still active.
    pub fn expire(&self, record: &mut SwitchRecord, note: &dyn Fn(&str)) {
        let Some(s) = record
            .monitoring
            .as_ref()
            .and_then(|m| m.silence.clone())
            .filter(|s| !s.expired)
        else {
            return;
        };
        match alertmanager::expire(&self.client, &s.alertmanager, &s.id) {
            Ok(()) => {
                note(&format!("monitoring: silence {} expired", s.id));
                if let Some(rec) = mon(record).silence.as_mut() {
                    rec.expired = true;
                }
            }
            Err(e) => problem(
                record,
                note,
                format!(
                    "alertmanager: cannot expire silence {} (it ends by itself at {}; the next switch expires it): {e}",
                    s.id, s.ends_at
                ),
            ),
        }
    }

    /// What a switch changing `targets` would do, for `--dry-run`.
    pub fn plan(&self, targets: &[ExporterTarget]) -> Vec<String> {
        plan_lines(&self.settings, targets)
    }
}

/// The window as the engine's hooks (`switch::Hooks`), its notes on `ui`.
pub struct MonitorHooks<'a> {
    pub window: &'a Window,
    pub ui: &'a dyn crate::switch::Ui,
}

impl crate::switch::Hooks for MonitorHooks<'_> {
    fn opening(
        &self,
        record: &mut SwitchRecord,
        from: &crate::generation::state::ProfileState,
        target: &crate::generation::state::ProfileState,
    ) {
        let note = |m: &str| self.ui.note(m);
        // A run without a step (health settings only) opens no window, but
        // still clears what earlier ones left.
        if record.steps.is_empty() {
            self.window.sweep(&note);
        } else {
            self.window.open(record, &targets_of(record, target, from), &note);
        }
    }

    fn step_healthy(&self, exporter: &ExporterState) -> Result<(), String> {
        self.window.step_healthy(&ExporterTarget::of(exporter))
    }

    fn closing(&self, record: &mut SwitchRecord, states: &[&crate::generation::state::ProfileState]) {
        if record.monitoring.is_none() {
            return;
        }
        let targets: Vec<ExporterTarget> = record
            .steps
            .iter()
            .filter(|s| s.action != Action::Remove)
            .filter_map(|s| states.iter().find_map(|st| st.exporter(&s.name)))
            .map(ExporterTarget::of)
            .collect();
        self.window.close(record, &targets, &|m| self.ui.note(m));
    }
}

/// What a switch changing `targets` would do with its monitoring.
pub fn plan_lines(s: &MonitoringSettings, targets: &[ExporterTarget]) -> Vec<String> {
    let mut out = Vec::new();
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    if let Some(am) = &s.alertmanager {
        let matchers = if am.matchers.is_empty() {
            let mut ports: Vec<u16> = targets.iter().flat_map(|t| t.ports.iter().copied()).collect();
            ports.sort_unstable();
            ports.dedup();
            alertmanager::default_matchers(&s.host, &ports)
        } else {
            am.matchers.clone()
        };
        let shown: Vec<String> = matchers
            .iter()
            .map(|m| {
                let op = match (m.is_equal, m.is_regex) {
                    (true, false) => "=",
                    (false, false) => "!=",
                    (true, true) => "=~",
                    (false, true) => "!~",
                };
                format!("{}{op}\"{}\"", m.name, m.value)
            })
            .collect();
        out.push(format!(
            "would silence in Alertmanager {}: {{{}}} for the switch (at most {})",
            am.url,
            shown.join(","),
            humantime::format_duration(am.duration)
        ));
    }
    if let Some(g) = &s.grafana {
        let token = match g.token.read() {
            Ok(_) => format!("token from {}", g.token.describe()),
            Err(e) => format!("token NOT readable: {e}"),
        };
        out.push(format!(
            "would annotate Grafana {} from the switch's start to its end ({token}{})",
            g.url,
            g.dashboard_uid
                .as_deref()
                .map(|u| format!(", dashboard {u}"))
                .unwrap_or_default()
        ));
    }
    for (i, w) in s.notify.iter().enumerate() {
        let url = match w.url.read() {
            Ok(u) => match notify::check_url(&u) {
                Ok(()) => format!("URL from {}", w.url.describe()),
                Err(e) => format!("the URL in {} {e}", w.url.describe()),
            },
            Err(e) => format!("URL NOT readable: {e}"),
        };
        out.push(format!(
            "would notify webhook {} ({}, {url}) at the start and the end",
            i + 1,
            format!("{:?}", w.format).to_lowercase()
        ));
    }
    if let Some(p) = &s.prometheus {
        out.push(format!(
            "would verify with Prometheus {} ({}, waiting at most {}): {}",
            p.url,
            format!("{:?}", p.verify).to_lowercase(),
            humantime::format_duration(p.wait),
            names.join(", ")
        ));
    }
    if let Some(d) = &s.textfile_dir {
        out.push(format!("would write {}", d.join(super::textfile::FILE_NAME).display()));
    }
    out
}

/// The monitoring settings of the manifest at `path` (resume and rollback
/// take them from the manifest the switch named); `None` when it cannot be
/// read any more or has none.
pub fn settings_of(path: &std::path::Path) -> Option<super::MonitoringSettings> {
    match crate::manifest::Manifest::load(path) {
        Ok(m) => m.settings.monitoring,
        Err(e) => {
            tracing::debug!("monitoring settings unknown: {e}");
            None
        }
    }
}

/// The monitoring settings of the manifest that made generation `n`, if its
/// record names one that can still be read.
pub fn settings_of_generation(layout: &crate::paths::Layout, n: u64) -> Option<super::MonitoringSettings> {
    match crate::generation::record::Generations::new(layout).read(n) {
        Ok(Some(Ok(r))) => r.manifest.as_deref().and_then(settings_of),
        _ => None,
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;

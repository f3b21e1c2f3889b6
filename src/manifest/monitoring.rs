//! `settings.monitoring`: Alertmanager, Grafana, webhooks, Prometheus and
//! the textfile directory, each optional, every value checked with its
//! file:line:key. A webhook's `url` written in the manifest is a secret:
//! no message quotes it.

use super::raw::{RawAlertmanager, RawGrafana, RawMatcher, RawMonitoring, RawPrometheus, RawWebhook, S};
use super::validate::Validator;
use super::ManifestError;
use crate::monitoring::{
    self, alertmanager::Matcher, AlertmanagerSettings, GrafanaSettings, MonitoringSettings, PrometheusSettings, Secret,
    VerifyMode, Webhook, WebhookFormat,
};
use serde_saphyr::Location;
use std::path::PathBuf;
use std::time::Duration;

const KEY: &str = "settings.monitoring";

impl Validator<'_> {
    pub(super) fn monitoring(&self, raw: &S<RawMonitoring>) -> Result<MonitoringSettings, ManifestError> {
        let m = &raw.value;
        let mut s = MonitoringSettings {
            host: monitoring::host_name(),
            timeout: monitoring::DEFAULT_TIMEOUT,
            alertmanager: None,
            grafana: None,
            notify: Vec::new(),
            prometheus: None,
            textfile_dir: None,
        };
        if let Some(h) = &m.host {
            let ok = !h.value.is_empty()
                && h.value.len() <= 253
                && h.value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !ok {
                return self.err(
                    &h.referenced,
                    format!("{KEY}.host"),
                    format!(
                        "`{}` is not a host name (letters, digits, `-`, `.`, `_`)",
                        h.value.escape_debug()
                    ),
                );
            }
            s.host = h.value.clone();
        }
        if let Some(t) = &m.timeout {
            s.timeout = self.bounded_duration(
                t,
                &format!("{KEY}.timeout"),
                (Duration::from_millis(100), monitoring::MAX_TIMEOUT),
            )?;
        }
        if let Some(a) = &m.alertmanager {
            s.alertmanager = Some(self.alertmanager(a)?);
        }
        if let Some(g) = &m.grafana {
            s.grafana = Some(self.grafana(g)?);
        }
        if let Some(list) = &m.notify {
            for (i, w) in list.value.iter().enumerate() {
                s.notify.push(self.webhook(w, &format!("{KEY}.notify[{i}]"))?);
            }
        }
        if let Some(p) = &m.prometheus {
            s.prometheus = Some(self.prometheus(p)?);
        }
        if let Some(d) = &m.textfile_dir {
            let key = format!("{KEY}.textfile_dir");
            self.plain_text(&d.referenced, &key, &d.value)?;
            let p = PathBuf::from(&d.value);
            if !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return self.err(
                    &d.referenced,
                    key,
                    format!("`{}` must be an absolute path without `..`", d.value),
                );
            }
            s.textfile_dir = Some(p);
        }
        Ok(s)
    }

    /// A service's base URL: http(s), parseable, without credentials (they
    /// would be written into every switch record; tokens come from
    /// `token_file`/`token_env`).
    fn service_url(&self, v: &Option<S<String>>, at: &Location, key: &str) -> Result<String, ManifestError> {
        let Some(v) = v else {
            return self.err(at, key, "missing: the service's base URL, e.g. `http://127.0.0.1:9093`");
        };
        let parsed = match reqwest::Url::parse(&v.value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
            _ => {
                return self.err(
                    &v.referenced,
                    key,
                    format!(
                        "`{}` is not an http:// or https:// URL",
                        crate::redact::url_without_password(&v.value).escape_debug()
                    ),
                )
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return self.err(
                &v.referenced,
                key,
                "credentials in the URL are refused: they would be written into every switch record \
                 (Grafana's token goes in `token_file` or `token_env`)",
            );
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return self.err(&v.referenced, key, "a base URL takes no `?query` or `#fragment`");
        }
        Ok(v.value.trim_end_matches('/').to_string())
    }

    fn alertmanager(&self, raw: &S<RawAlertmanager>) -> Result<AlertmanagerSettings, ManifestError> {
        let key = format!("{KEY}.alertmanager");
        let a = &raw.value;
        let url = self.service_url(&a.url, &raw.referenced, &format!("{key}.url"))?;
        let mut matchers = Vec::new();
        for (i, m) in a.matchers.iter().flatten().enumerate() {
            matchers.push(self.matcher(m, &format!("{key}.matchers[{i}]"))?);
        }
        let duration = match &a.duration {
            Some(d) => self.bounded_duration(
                d,
                &format!("{key}.duration"),
                (Duration::from_secs(60), monitoring::MAX_SILENCE),
            )?,
            None => monitoring::DEFAULT_SILENCE,
        };
        Ok(AlertmanagerSettings {
            url,
            matchers,
            duration,
        })
    }

    fn matcher(&self, raw: &S<RawMatcher>, key: &str) -> Result<Matcher, ManifestError> {
        let m = &raw.value;
        let Some(name) = &m.name else {
            return self.err(&raw.referenced, format!("{key}.name"), "missing: the label name");
        };
        let label_ok = name
            .value
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
            && !name.value.is_empty();
        if !label_ok {
            return self.err(
                &name.referenced,
                format!("{key}.name"),
                format!("`{}` is not a label name", name.value.escape_debug()),
            );
        }
        let Some(value) = &m.value else {
            return self.err(&raw.referenced, format!("{key}.value"), "missing: the value to match");
        };
        self.plain_text(&value.referenced, &format!("{key}.value"), &value.value)?;
        if value.value.is_empty() {
            // Alertmanager refuses a matcher that matches the empty string.
            return self.err(&value.referenced, format!("{key}.value"), "must not be empty");
        }
        Ok(Matcher {
            name: name.value.clone(),
            value: value.value.clone(),
            is_regex: m.regex,
            is_equal: m.equal.unwrap_or(true),
        })
    }

    fn grafana(&self, raw: &S<RawGrafana>) -> Result<GrafanaSettings, ManifestError> {
        let key = format!("{KEY}.grafana");
        let g = &raw.value;
        let url = self.service_url(&g.url, &raw.referenced, &format!("{key}.url"))?;
        // The token must not cross the network in clear text.
        if let Some(v) = &g.url {
            if matches!(
                crate::source::http::check_url(&url, false),
                Err(crate::source::http::PolicyViolation::InsecureHttp)
            ) {
                return self.err(
                    &v.referenced,
                    format!("{key}.url"),
                    format!(
                        "would send the Grafana token in clear text to `{url}`; use https:// (plain http is for loopback only)"
                    ),
                );
            }
        }
        let token = self.secret(
            &g.token_file,
            &g.token_env,
            None,
            &raw.referenced,
            &key,
            ("token_file", "token_env", None),
        )?;
        let mut tags = Vec::new();
        for t in g.tags.iter().flatten() {
            self.plain_text(&t.referenced, &format!("{key}.tags"), &t.value)?;
            if t.value.is_empty() {
                return self.err(&t.referenced, format!("{key}.tags"), "a tag must not be empty");
            }
            tags.push(t.value.clone());
        }
        let dashboard_uid = match &g.dashboard_uid {
            Some(u)
                if !u.value.is_empty()
                    && u.value.len() <= 40
                    && u.value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
            {
                Some(u.value.clone())
            }
            Some(u) => {
                return self.err(
                    &u.referenced,
                    format!("{key}.dashboard_uid"),
                    format!("`{}` is not a dashboard uid", u.value.escape_debug()),
                )
            }
            None => None,
        };
        Ok(GrafanaSettings {
            url,
            token,
            tags,
            dashboard_uid,
        })
    }

    /// Exactly one of a file, an environment variable (or, where allowed,
    /// a literal); `names` are the keys' names.
    fn secret(
        &self,
        file: &Option<S<String>>,
        env: &Option<S<String>>,
        literal: Option<&Option<S<String>>>,
        at: &Location,
        key: &str,
        names: (&str, &str, Option<&str>),
    ) -> Result<Secret, ManifestError> {
        let literal = literal.and_then(Option::as_ref);
        let given = [file.is_some(), env.is_some(), literal.is_some()]
            .iter()
            .filter(|g| **g)
            .count();
        let choices = match names.2 {
            Some(l) => format!("`{l}`, `{}` or `{}`", names.0, names.1),
            None => format!("`{}` or `{}`", names.0, names.1),
        };
        if given != 1 {
            return self.err(at, key, format!("give exactly one of {choices}"));
        }
        if let Some(f) = file {
            let k = format!("{key}.{}", names.0);
            self.plain_text(&f.referenced, &k, &f.value)?;
            if !f.value.starts_with('/') {
                return self.err(&f.referenced, k, format!("`{}` must be an absolute path", f.value));
            }
            return Ok(Secret::File(PathBuf::from(&f.value)));
        }
        if let Some(e) = env {
            let ok = !e.value.is_empty()
                && !e.value.starts_with(|c: char| c.is_ascii_digit())
                && e.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return self.err(
                    &e.referenced,
                    format!("{key}.{}", names.1),
                    format!("`{}` is not an environment variable name", e.value.escape_debug()),
                );
            }
            return Ok(Secret::Env(e.value.clone()));
        }
        match literal {
            Some(l) => Ok(Secret::Literal(l.value.clone())),
            None => self.err(at, key, format!("give exactly one of {choices}")),
        }
    }

    fn webhook(&self, raw: &S<RawWebhook>, key: &str) -> Result<Webhook, ManifestError> {
        let w = &raw.value;
        let url = self.secret(
            &w.url_file,
            &w.url_env,
            Some(&w.url),
            &raw.referenced,
            key,
            ("url_file", "url_env", Some("url")),
        )?;
        if let (Secret::Literal(u), Some(at)) = (&url, &w.url) {
            // Never quoted: a webhook URL is a credential.
            if let Err(why) = crate::monitoring::notify::check_url(u) {
                return self.err(&at.referenced, format!("{key}.url"), format!("the URL {why}"));
            }
        }
        let format = match &w.format {
            Some(f) if f.value == "slack" => WebhookFormat::Slack,
            Some(f) if f.value == "json" => WebhookFormat::Json,
            Some(f) => {
                return self.err(
                    &f.referenced,
                    format!("{key}.format"),
                    format!("unknown format `{}` (expected slack or json)", f.value.escape_debug()),
                )
            }
            None => return self.err(&raw.referenced, format!("{key}.format"), "missing: `slack` or `json`"),
        };
        Ok(Webhook { url, format })
    }

    fn prometheus(&self, raw: &S<RawPrometheus>) -> Result<PrometheusSettings, ManifestError> {
        let key = format!("{KEY}.prometheus");
        let p = &raw.value;
        let url = self.service_url(&p.url, &raw.referenced, &format!("{key}.url"))?;
        let verify = match &p.verify {
            None => VerifyMode::Warn,
            Some(v) if v.value == "warn" => VerifyMode::Warn,
            Some(v) if v.value == "require" => VerifyMode::Require,
            Some(v) => {
                return self.err(
                    &v.referenced,
                    format!("{key}.verify"),
                    format!("unknown mode `{}` (expected warn or require)", v.value.escape_debug()),
                )
            }
        };
        let label = |v: &Option<S<String>>, name: &str| -> Result<Option<String>, ManifestError> {
            match v {
                None => Ok(None),
                Some(v) => {
                    self.plain_text(&v.referenced, &format!("{key}.{name}"), &v.value)?;
                    if v.value.is_empty() {
                        return self.err(&v.referenced, format!("{key}.{name}"), "must not be empty");
                    }
                    Ok(Some(v.value.clone()))
                }
            }
        };
        let job = label(&p.job, "job")?;
        let instance = label(&p.instance, "instance")?;
        let wait = match &p.wait {
            Some(w) => self.bounded_duration(
                w,
                &format!("{key}.wait"),
                (Duration::from_secs(1), monitoring::MAX_VERIFY_WAIT),
            )?,
            None => monitoring::DEFAULT_VERIFY_WAIT,
        };
        Ok(PrometheusSettings {
            url,
            verify,
            job,
            instance,
            wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::Manifest;
    use crate::monitoring::{Secret, VerifyMode, WebhookFormat};
    use std::path::Path;

    fn parse(monitoring: &str) -> Result<Manifest, String> {
        let text = format!(
            "apiVersion: exporterctl/v1\nsettings:\n  monitoring:\n{monitoring}exporters:\n  node_exporter: {{ version: \"1.9.1\" }}\n"
        );
        Manifest::parse(&text, Path::new("m.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_is_read() {
        let m = parse(
            "    host: web1\n    timeout: 2s\n    alertmanager:\n      url: http://127.0.0.1:9093/\n      duration: 30m\n\
             \x20     matchers:\n        - { name: instance, value: \"web1:9100\" }\n\
             \x20   grafana:\n      url: https://grafana.example.org\n      token_env: GRAFANA_TOKEN\n      tags: [upgrade]\n      dashboard_uid: abc-1\n\
             \x20   notify:\n      - { url_file: /etc/exporterctl/slack, format: slack }\n      - { url: \"https://hooks.example.org/T/B/secret\", format: json }\n\
             \x20   prometheus:\n      url: http://127.0.0.1:9090\n      verify: require\n      job: node\n      wait: 20s\n\
             \x20   textfile_dir: /var/lib/prometheus/node-exporter\n",
        )
        .unwrap();
        let s = m.settings.monitoring.unwrap();
        assert_eq!(s.host, "web1");
        assert_eq!(s.timeout, std::time::Duration::from_secs(2));
        let am = s.alertmanager.unwrap();
        assert_eq!(am.url, "http://127.0.0.1:9093");
        assert_eq!(am.matchers[0].value, "web1:9100");
        assert!(!am.matchers[0].is_regex && am.matchers[0].is_equal);
        let g = s.grafana.unwrap();
        assert_eq!(g.token, Secret::Env("GRAFANA_TOKEN".into()));
        assert_eq!(g.dashboard_uid.as_deref(), Some("abc-1"));
        assert_eq!(s.notify[0].format, WebhookFormat::Slack);
        assert_eq!(
            s.notify[1].url,
            Secret::Literal("https://hooks.example.org/T/B/secret".into())
        );
        let p = s.prometheus.unwrap();
        assert_eq!(p.verify, VerifyMode::Require);
        assert_eq!(p.job.as_deref(), Some("node"));
        assert_eq!(s.textfile_dir.unwrap(), Path::new("/var/lib/prometheus/node-exporter"));
    }

    #[test]
    fn a_literal_webhook_url_is_never_serialised_nor_quoted() {
        let m =
            parse("    notify:\n      - { url: \"https://hooks.example.org/T/B/secret\", format: slack }\n").unwrap();
        let json = serde_json::to_string(&m.settings).unwrap();
        assert!(!json.contains("secret"), "{json}");
        assert!(!format!("{:?}", m.settings).contains("secret"));
        let err =
            parse("    notify:\n      - { url: \"http://hooks.example.org/secret\", format: slack }\n").unwrap_err();
        assert!(err.starts_with("m.yaml:5:"), "{err}");
        assert!(err.contains("settings.monitoring.notify[0].url"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn mistakes_name_file_line_and_key() {
        let cases = [
            (
                "    alertmanager: { duration: 1h }\n",
                "m.yaml:4:",
                "settings.monitoring.alertmanager.url: missing",
            ),
            (
                "    alertmanager: { url: \"http://u:pw@127.0.0.1:9093\" }\n",
                "m.yaml:4:",
                "credentials in the URL are refused",
            ),
            (
                "    grafana: { url: https://g.example.org }\n",
                "m.yaml:4:",
                "give exactly one of `token_file` or `token_env`",
            ),
            (
                "    grafana: { url: http://g.example.org, token_env: T }\n",
                "m.yaml:4:",
                "would send the Grafana token in clear text",
            ),
            (
                "    grafana: { url: https://g.example.org, token_file: rel/path }\n",
                "m.yaml:4:",
                "must be an absolute path",
            ),
            (
                "    notify:\n      - { url_env: HOOK }\n",
                "m.yaml:5:",
                "settings.monitoring.notify[0].format: missing",
            ),
            (
                "    notify:\n      - { url_env: HOOK, url_file: /x, format: json }\n",
                "m.yaml:5:",
                "give exactly one of",
            ),
            (
                "    notify:\n      - { url_env: HOOK, format: xml }\n",
                "m.yaml:5:",
                "unknown format `xml`",
            ),
            (
                "    prometheus: { url: http://127.0.0.1:9090, verify: maybe }\n",
                "m.yaml:4:",
                "unknown mode `maybe`",
            ),
            (
                "    prometheus: { url: http://127.0.0.1:9090, wait: 1d }\n",
                "m.yaml:4:",
                "settings.monitoring.prometheus.wait",
            ),
            (
                "    timeout: 10m\n",
                "m.yaml:4:",
                "settings.monitoring.timeout: `10m` is out of range",
            ),
            ("    textfile_dir: relative\n", "m.yaml:4:", "must be an absolute path"),
            ("    bogus: 1\n", "m.yaml:4:", "unknown field `bogus`"),
            ("    host: \"a b\"\n", "m.yaml:4:", "is not a host name"),
        ];
        for (yaml, place, want) in cases {
            let err = parse(yaml).unwrap_err();
            assert!(err.starts_with(place), "{yaml}: {err}");
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }
}

//! One preflight: start the new release beside the running one on a free
//! loopback port, scrape it once, stop it, and compare what it served with
//! a scrape of the running exporter.

use super::child::{self, Launch};
use super::families::{self, Family};
use super::listen;
use super::{Control, Job, Report, Status};
use crate::health::text;
use crate::health::Probe;
use std::time::{Duration, Instant};

/// Longest a copy gets to answer, whatever `health.timeout` says: a
/// preflight is on the critical path of every switch.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Longest one scrape of the copy or of the running exporter may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run_one(job: &Job, probe: &Probe) -> Report {
    let started = Instant::now();
    let mut report = super::new_report(job);
    if let Some(why) = &job.skip {
        report.status = Status::Skipped;
        report.reason = Some(why.clone());
        return report;
    }
    // What the running exporter serves: as its generation recorded it (no
    // load on it), else scraped now, before the copy starts.
    let running = match &job.running_families {
        Some(f) => {
            report.compared_with = Some("recorded".into());
            Some(Ok(f.clone()))
        }
        None => job.running_url.as_deref().map(|url| {
            report.compared_with = Some("scraped".into());
            probe
                .scrape(url, SCRAPE_TIMEOUT)
                .map_err(|e| format!("the running exporter did not answer: {e}"))
                .and_then(|body| families::families(&body).map_err(|e| format!("the running exporter's body: {e}")))
        }),
    };
    match attempt(job, probe, &mut report) {
        Ok(served) => {
            match running {
                Some(Ok(old)) => {
                    let diff = families::diff(&old, &served);
                    report.kept_removed = job
                        .health
                        .keep_metrics
                        .kept(&diff.removed)
                        .into_iter()
                        .cloned()
                        .collect();
                    report.status = if diff.is_empty() {
                        Status::Passed
                    } else {
                        Status::Changes
                    };
                    report.metrics = Some(diff);
                }
                Some(Err(why)) => {
                    report.status = Status::Passed;
                    report.not_compared = Some(why);
                }
                None => {
                    report.status = Status::Passed;
                    report.not_compared = Some(match &job.from_version {
                        Some(_) => "the running exporter has no health URL to scrape".into(),
                        None => "nothing runs yet (a new exporter)".into(),
                    });
                }
            }
            report.families = served.len();
        }
        Err(why) => {
            report.status = Status::Failed;
            report.reason = Some(why);
            report.control = job.control().map(|c| control(&c, probe));
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}

/// Starts the running release exactly as the failed copy was started: if it
/// serves, the new release is at fault; if it fails too, the preflight
/// cannot judge this exporter on this host.
fn control(job: &Job, probe: &Probe) -> Control {
    let started = Instant::now();
    let mut scratch = super::new_report(job);
    let outcome = attempt(job, probe, &mut scratch);
    Control {
        version: job.to_version.clone(),
        serves: outcome.is_ok(),
        reason: outcome.err(),
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// Starts, scrapes and stops the copy; its families, or why it failed.
fn attempt(job: &Job, probe: &Probe, report: &mut Report) -> Result<Vec<Family>, String> {
    let port = crate::demo::free_port().map_err(|e| format!("no free loopback port: {e}"))?;
    let address = format!("127.0.0.1:{port}");
    let args = listen::rewrite(&job.args, &address, job.default_port)?;
    report.args = args.clone();
    let url = copy_url(job.health.url.as_deref(), &address);
    let user = resolve_user(job.user.as_deref())?;
    let mut copy = child::spawn(&Launch {
        exec: &job.exec,
        args: &args,
        environment: &job.environment,
        user,
    })
    .map_err(|e| format!("cannot start {}: {e}", job.exec.display()))?;
    let wait = job.health.timeout.min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let mut delay = crate::health::wait::FIRST_DELAY;
    let body = loop {
        if let Some(code) = copy.exited() {
            let said = copy.output_tail().unwrap_or_else(|| "(no output)".into());
            return Err(format!("exited with status {code} before serving: {said}"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match probe.scrape(&url, SCRAPE_TIMEOUT.min(left.max(Duration::from_millis(100)))) {
            Ok(body) => break body,
            Err(e) if Instant::now() >= deadline => {
                let said = copy.output_tail().unwrap_or_else(|| "(no output)".into());
                copy.stop();
                return Err(format!(
                    "no answer within {}: {e}; it printed: {said}",
                    humantime::format_duration(wait)
                ));
            }
            Err(_) => {}
        }
        std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
        delay = (delay * 3 / 2).min(Duration::from_millis(250));
    };
    copy.stop();
    let served = families::families(&body).map_err(|e| format!("serves a body Prometheus cannot parse: {e}"))?;
    if let Some(metric) = &job.health.build_info {
        let samples = text::parse(&body).map_err(|e| format!("serves a body Prometheus cannot parse: {e}"))?;
        let version = samples
            .iter()
            .find(|s| s.name == metric.as_str())
            .and_then(|s| s.label(&job.health.build_info_label))
            .map(str::to_string);
        report.build_info_version = version.clone();
        match version {
            Some(v) if v == job.to_version => {}
            Some(v) => {
                return Err(format!(
                    "{metric} reports version {v}, not {} (the health check would fail)",
                    job.to_version
                ))
            }
            None => {
                return Err(format!(
                    "serves no {metric}{{{}=…}} (the health check would fail)",
                    job.health.build_info_label
                ))
            }
        }
    }
    Ok(served)
}

/// The copy's metrics URL: the health URL's scheme and path on `address`.
fn copy_url(health_url: Option<&str>, address: &str) -> String {
    let (scheme, path) = match health_url.and_then(|u| reqwest::Url::parse(u).ok()) {
        Some(u) => {
            let mut p = u.path().to_string();
            if let Some(q) = u.query() {
                p = format!("{p}?{q}");
            }
            (u.scheme().to_string(), p)
        }
        None => ("http".into(), "/metrics".into()),
    };
    format!("{scheme}://{address}{path}")
}

/// The manifest's `user:` as ids, when exporterctl can become it (as root);
/// otherwise the copy runs as exporterctl's own user.
fn resolve_user(user: Option<&str>) -> Result<Option<(u32, u32)>, String> {
    let Some(name) = user else { return Ok(None) };
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(Some((u.uid.as_raw(), u.gid.as_raw()))),
        Ok(None) => Err(format!(
            "user `{}` does not exist on this host (the unit would not start either)",
            name.escape_debug()
        )),
        Err(e) => Err(format!("cannot look up user `{}`: {e}", name.escape_debug())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_scraped_where_the_health_check_would_scrape() {
        assert_eq!(
            copy_url(Some("http://127.0.0.1:9100/metrics?x=1"), "127.0.0.1:4"),
            "http://127.0.0.1:4/metrics?x=1"
        );
        assert_eq!(copy_url(None, "127.0.0.1:4"), "http://127.0.0.1:4/metrics");
        assert_eq!(copy_url(Some("https://h:1/m"), "127.0.0.1:4"), "https://127.0.0.1:4/m");
    }
}

//! Prometheus' own view of a switch: which of its targets are a changed
//! exporter (targets API), whether each has been scraped successfully since
//! its restart, and, over the switch's window, the failed scrapes (`up == 0`
//! samples) and the longest gap between successful ones — read from the raw
//! `up` samples (`up{job,instance}[W]`), so one query answers all three.

use super::client::{encode, join, Client, Method, LARGE_BODY, SMALL_BODY};
pub use crate::generation::monitoring::{ExporterVerification, Verification};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub job: String,
    pub instance: String,
    /// `host:port` of the scrape URL.
    pub address: String,
}

impl Target {
    pub fn name(&self) -> String {
        format!("{}/{}", self.job, self.instance)
    }
}

/// The active targets.
pub fn targets(client: &Client, base: &str) -> Result<Vec<Target>, String> {
    let reply = client
        .send(
            Method::Get,
            &join(base, "api/v1/targets?state=active"),
            None,
            None,
            8 * SMALL_BODY,
        )?
        .success()?;
    let v = reply.json()?;
    let list = v
        .pointer("/data/activeTargets")
        .and_then(|t| t.as_array())
        .ok_or("answer has no data.activeTargets")?;
    Ok(list
        .iter()
        .filter_map(|t| {
            let label = |k: &str| t.pointer(&format!("/labels/{k}")).and_then(|v| v.as_str());
            let url = reqwest::Url::parse(t.get("scrapeUrl")?.as_str()?).ok()?;
            let address = format!("{}:{}", url.host_str()?, url.port_or_known_default()?);
            Some(Target {
                job: label("job")?.to_string(),
                instance: label("instance")?.to_string(),
                address,
            })
        })
        .collect())
}

fn is_this_host(h: &str, host: &str) -> bool {
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == host || h == "localhost" || h == "::1" || h.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// The targets that are the exporter listening on `ports` of this host:
/// with `instance` set, those whose instance label is it (`{port}` replaced);
/// else those whose instance label or scrape address is `host`, `localhost`
/// or a loopback address at one of the ports. `job` narrows either.
pub fn matching<'t>(
    all: &'t [Target],
    host: &str,
    ports: &[u16],
    job: Option<&str>,
    instance: Option<&str>,
) -> Vec<&'t Target> {
    let at_port = |addr: &str| -> bool {
        let Some((h, p)) = addr.rsplit_once(':') else {
            return false;
        };
        p.parse::<u16>().is_ok_and(|p| ports.contains(&p)) && is_this_host(h, host)
    };
    all.iter()
        .filter(|t| job.is_none_or(|j| t.job == j))
        .filter(|t| match instance {
            Some(tmpl) => ports
                .iter()
                .any(|p| t.instance == tmpl.replace("{port}", &p.to_string())),
            None => at_port(&t.instance) || at_port(&t.address),
        })
        .collect()
}

/// A PromQL string literal.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One `up` sample: milliseconds since the epoch, and whether the scrape succeeded.
pub type Sample = (u64, bool);

/// The raw `up` samples of `t` from `from_ms` to `at_ms`.
pub fn up_samples(client: &Client, base: &str, t: &Target, from_ms: u64, at_ms: u64) -> Result<Vec<Sample>, String> {
    let span_s = at_ms.saturating_sub(from_ms).div_ceil(1000).max(1);
    let query = format!(
        "up{{job={},instance={}}}[{span_s}s]",
        quoted(&t.job),
        quoted(&t.instance)
    );
    let url = join(
        base,
        &format!(
            "api/v1/query?query={}&time={}.{:03}",
            encode(&query),
            at_ms / 1000,
            at_ms % 1000
        ),
    );
    let reply = client.send(Method::Get, &url, None, None, LARGE_BODY)?.success()?;
    let v = reply.json()?;
    let series = v
        .pointer("/data/result")
        .and_then(|r| r.as_array())
        .ok_or("answer has no data.result")?;
    let mut out = Vec::new();
    for s in series {
        for pair in s.get("values").and_then(|v| v.as_array()).into_iter().flatten() {
            let ts = pair.get(0).and_then(|t| t.as_f64());
            let val = pair.get(1).and_then(|v| v.as_str());
            if let (Some(ts), Some(val)) = (ts, val) {
                if ts.is_finite() && ts >= 0.0 {
                    let ms = (ts * 1000.0).round() as u64;
                    if ms >= from_ms {
                        out.push((ms, val == "1"));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// How far before the window the samples are read: the last successful
/// scrape before it starts the first gap, the one a restart opens.
pub const LOOKBACK_MS: u64 = 5 * 60 * 1000;

/// Failed scrapes from `start_ms` on, and the longest gap between successful
/// ones, counting from the last success before `start_ms` (a short window
/// may hold a single scrape; the gap that matters is the one across it).
pub fn analyse(samples: &[Sample], start_ms: u64) -> (u64, Option<u64>) {
    let failed = samples.iter().filter(|(t, ok)| !ok && *t >= start_ms).count() as u64;
    let before = samples
        .iter()
        .filter(|(t, ok)| *ok && *t < start_ms)
        .map(|(t, _)| *t)
        .max();
    let ok: Vec<u64> = before
        .into_iter()
        .chain(samples.iter().filter(|(t, ok)| *ok && *t >= start_ms).map(|(t, _)| *t))
        .collect();
    let gap = ok.windows(2).map(|w| w[1].saturating_sub(w[0])).max();
    (failed, gap)
}

/// Whether `samples` has a successful scrape at or after `since_ms`.
pub fn scraped_since(samples: &[Sample], since_ms: u64) -> bool {
    samples.iter().any(|(t, ok)| *ok && *t >= since_ms)
}

/// Waits (at most `wait`) until every target in `targets` has a successful
/// scrape at or after `since_ms`. `Ok(false)`: not within `wait`.
pub fn wait_scraped(
    client: &Client,
    base: &str,
    targets: &[&Target],
    since_ms: u64,
    wait: Duration,
) -> Result<bool, String> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        let now = super::now_ms();
        let mut all = true;
        for t in targets {
            if !scraped_since(&up_samples(client, base, t, since_ms, now)?, since_ms) {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 3 / 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(job: &str, instance: &str, address: &str) -> Target {
        Target {
            job: job.into(),
            instance: instance.into(),
            address: address.into(),
        }
    }

    #[test]
    fn failed_scrapes_and_longest_gap() {
        let s = [(1000, true), (1100, false), (1200, false), (1300, true), (1400, true)];
        assert_eq!(analyse(&s, 0), (2, Some(300)));
        assert_eq!(analyse(&[], 0), (0, None));
        // Before the window: not a failure of the switch, but the last
        // success before it starts the gap across it.
        let w = [(500, true), (600, false), (1000, false), (1700, true)];
        assert_eq!(analyse(&w, 900), (1, Some(1200)));
        assert!(scraped_since(&s, 1300));
        assert!(!scraped_since(&s, 1401));
    }

    #[test]
    fn targets_of_this_host_at_the_exporters_port() {
        let all = [
            t("node", "web1:9100", "web1:9100"),
            t("node", "other:9100", "other:9100"),
            t("nginx", "127.0.0.1:9113", "127.0.0.1:9113"),
            t("relabelled", "pretty-name", "localhost:9100"),
        ];
        let names = |v: Vec<&Target>| v.iter().map(|t| t.name()).collect::<Vec<_>>();
        assert_eq!(
            names(matching(&all, "web1", &[9100], None, None)),
            ["node/web1:9100", "relabelled/pretty-name"]
        );
        assert_eq!(
            names(matching(&all, "web1", &[9100], Some("node"), None)),
            ["node/web1:9100"]
        );
        assert_eq!(
            names(matching(&all, "web1", &[9113], None, Some("127.0.0.1:{port}"))),
            ["nginx/127.0.0.1:9113"]
        );
        assert!(matching(&all, "web1", &[9999], None, None).is_empty());
    }

    #[test]
    fn label_values_are_quoted() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}

//! A tiny exporter that runs anywhere, for the README demo and the tests
//! (`exporterctl demo-exporter --name N --version V --listen ADDR
//! --behaviour B`). Its behaviours imitate the ways an upgrade goes wrong.

use super::http::{self, Request, Response};
use crate::health::text::write_series;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Serves good metrics.
    #[default]
    Ok,
    /// Prints an error and exits with status 1 at once.
    Crash,
    /// Reports version `V-wrong` in its build info.
    WrongVersion,
    /// Answers every request with HTTP 500.
    Http500,
    /// Waits 1 s before it listens, then behaves as `ok`.
    SlowStart,
    /// Refuses `--socket` at start, as fail2ban exporter 0.6 does after
    /// renaming it (an upgrade that breaks on the host's old flags).
    RenamedFlags,
    /// Serves without `<name>_scrapes_total`, and with a `target` label on
    /// `<name>_up` (an upgrade that changes what Prometheus sees).
    DropFamily,
}

impl Behaviour {
    pub const ALL: [Behaviour; 7] = [
        Behaviour::Ok,
        Behaviour::Crash,
        Behaviour::WrongVersion,
        Behaviour::Http500,
        Behaviour::SlowStart,
        Behaviour::RenamedFlags,
        Behaviour::DropFamily,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Ok => "ok",
            Behaviour::Crash => "crash",
            Behaviour::WrongVersion => "wrong-version",
            Behaviour::Http500 => "http-500",
            Behaviour::SlowStart => "slow-start",
            Behaviour::RenamedFlags => "renamed-flags",
            Behaviour::DropFamily => "drop-family",
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Behaviour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Behaviour::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| {
            format!(
                "unknown behaviour `{s}` (expected ok, crash, wrong-version, http-500, slow-start, renamed-flags \
                 or drop-family)"
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterOpts {
    /// Exporter name; metric names are `<name>_build_info`, `<name>_up`, …
    /// (characters not allowed in a metric name become `_`).
    pub name: String,
    pub version: String,
    pub listen: SocketAddr,
    pub behaviour: Behaviour,
}

/// How long `slow-start` waits before listening.
pub const SLOW_START: Duration = Duration::from_secs(1);

/// `name` made into a valid metric name prefix (`nginx-exporter` → `nginx_exporter`).
pub fn metric_prefix(name: &str) -> String {
    let mut p: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if p.is_empty() || p.starts_with(|c: char| c.is_ascii_digit()) {
        p.insert(0, '_');
    }
    p
}

/// The extra arguments `behaviour` refuses at start, with the message and
/// the exit status (2, as kong's and kingpin's parse errors) an exporter
/// that renamed the flag gives.
pub fn refused_flags(name: &str, behaviour: Behaviour, rest: &[String]) -> Result<(), String> {
    if behaviour != Behaviour::RenamedFlags {
        return Ok(());
    }
    match rest.iter().find(|a| *a == "--socket" || a.starts_with("--socket=")) {
        Some(_) => Err(format!(
            "{name}: error: unknown flag --socket, did you mean \"--collector.f2b.socket\"?"
        )),
        None => Ok(()),
    }
}

/// `--lock=PATH` among the extra arguments: the exporter holds an exclusive
/// `flock` on PATH for as long as it runs, and a second copy exits at once,
/// as an exporter that guards a resource (a lock file, a device) does: what
/// a preflight beside the running copy cannot judge. The file returned holds
/// the lock; `Err` says why it could not be taken.
pub fn hold_lock(rest: &[String]) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, String> {
    let Some(path) = rest.iter().find_map(|a| a.strip_prefix("--lock=")) else {
        return Ok(None);
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map(Some)
        .map_err(|(_, e)| format!("cannot lock {path}: {e} (another instance holds it)"))
}

/// Runs the exporter until it is killed (SIGTERM ends it: default action).
/// `crash` never returns: it exits with status 1.
pub fn run(opts: &ExporterOpts) -> io::Result<()> {
    match opts.behaviour {
        Behaviour::Crash => {
            eprintln!(
                "{} {}: error: crashing on purpose (--behaviour crash)",
                opts.name, opts.version
            );
            std::process::exit(1);
        }
        Behaviour::SlowStart => std::thread::sleep(SLOW_START),
        _ => {}
    }
    let listener = TcpListener::bind(opts.listen)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", opts.listen)))?;
    eprintln!(
        "{} {} (demo exporter, behaviour {}) listening on http://{}/metrics",
        opts.name,
        opts.version,
        opts.behaviour,
        listener.local_addr()?
    );
    http::serve(listener, handler(opts))
}

/// The request handler, usable in-process (tests bind their own listener).
pub fn handler(opts: &ExporterOpts) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let prefix = metric_prefix(&opts.name);
    let version = match opts.behaviour {
        Behaviour::WrongVersion => format!("{}-wrong", opts.version),
        _ => opts.version.clone(),
    };
    let behaviour = opts.behaviour;
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let scrapes = AtomicU64::new(0);
    move |req: &Request| {
        if behaviour == Behaviour::Http500 {
            return Response::text(500, "internal error (demo exporter, --behaviour http-500)\n");
        }
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return Response::text(405, "method not allowed\n").header("Allow", "GET, HEAD");
        }
        match req.path.as_str() {
            "/metrics" => {
                // `?sleep_ms=N`: a slow scrape, to hold a request in flight
                // across a restart (the drain's tests).
                if let Some(d) = req.query.as_deref().and_then(scrape_delay) {
                    std::thread::sleep(d);
                }
                let n = scrapes.fetch_add(1, Ordering::Relaxed) + 1;
                let mut body = metrics_body(&prefix, &version, n, started);
                if behaviour == Behaviour::DropFamily {
                    body = drop_family(&body, &prefix);
                }
                Response::new(200)
                    .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    .body(body.into_bytes())
            }
            "/" => Response::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body(
                    format!("<html><body><h1>{prefix} (demo)</h1><a href=\"/metrics\">Metrics</a></body></html>\n")
                        .into_bytes(),
                ),
            _ => Response::not_found(),
        }
    }
}

/// Longest `/metrics?sleep_ms=`.
pub const MAX_SCRAPE_DELAY: Duration = Duration::from_secs(10);

/// `sleep_ms=N` in a query string, capped at [`MAX_SCRAPE_DELAY`].
fn scrape_delay(query: &str) -> Option<Duration> {
    let ms: u64 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sleep_ms="))?
        .parse()
        .ok()?;
    Some(Duration::from_millis(ms).min(MAX_SCRAPE_DELAY))
}

/// `body` without `<prefix>_scrapes_total` and with `<prefix>_up{target="local"}`.
fn drop_family(body: &str, prefix: &str) -> String {
    let scrapes = format!("{prefix}_scrapes_total");
    let up = format!("{prefix}_up ");
    body.lines()
        .filter(|l| !l.contains(&scrapes))
        .map(|l| match l.strip_prefix(&up) {
            Some(v) => format!("{prefix}_up{{target=\"local\"}} {v}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

/// The `/metrics` body.
pub fn metrics_body(prefix: &str, version: &str, scrapes: u64, started: f64) -> String {
    let mut build_info = String::new();
    let _ = write_series(
        &mut build_info,
        &format!("{prefix}_build_info"),
        [("version", version), ("revision", "demo"), ("goversion", "none")].into_iter(),
    );
    format!(
        "# HELP {prefix}_build_info A metric with a constant '1' value labeled by version, revision and goversion.\n\
         # TYPE {prefix}_build_info gauge\n\
         {build_info} 1\n\
         # HELP {prefix}_up Whether the service the demo exporter watches is up.\n\
         # TYPE {prefix}_up gauge\n\
         {prefix}_up 1\n\
         # HELP {prefix}_scrapes_total Scrapes of /metrics served.\n\
         # TYPE {prefix}_scrapes_total counter\n\
         {prefix}_scrapes_total {scrapes}\n\
         # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
         # TYPE process_start_time_seconds gauge\n\
         process_start_time_seconds {started:.2}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::text::parse;

    #[test]
    fn behaviour_parses_and_prints() {
        for b in Behaviour::ALL {
            assert_eq!(b.as_str().parse::<Behaviour>().unwrap(), b);
        }
        let e = "explode".parse::<Behaviour>().unwrap_err();
        assert!(e.contains("wrong-version"), "{e}");
    }

    #[test]
    fn prefixes_are_metric_names() {
        assert_eq!(metric_prefix("node_exporter"), "node_exporter");
        assert_eq!(metric_prefix("nginx-prometheus-exporter"), "nginx_prometheus_exporter");
        assert_eq!(metric_prefix("9x"), "_9x");
    }

    #[test]
    fn body_parses_with_our_parser() {
        let body = metrics_body("demo", "1.2.3", 4, 1_700_000_000.5);
        let samples = parse(&body).unwrap();
        let bi = samples.iter().find(|s| s.name == "demo_build_info").unwrap();
        assert_eq!(bi.label("version"), Some("1.2.3"));
        assert_eq!(bi.label("revision"), Some("demo"));
        assert!(samples.iter().any(|s| s.name == "demo_up" && s.value == 1.0));
        assert!(samples.iter().any(|s| s.name == "demo_scrapes_total" && s.value == 4.0));
        assert!(samples
            .iter()
            .any(|s| s.name == "process_start_time_seconds" && s.value > 1.6e9));
    }

    fn get(h: &(impl Fn(&Request) -> Response + ?Sized), path: &str) -> (u16, String) {
        let r = h(&Request {
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers: vec![],
            body: vec![],
            peer: None,
        });
        let body = match r.body {
            http::Body::Bytes(b) => String::from_utf8(b).unwrap(),
            http::Body::File(..) => unreachable!(),
        };
        (r.status, body)
    }

    #[test]
    fn scrape_delays_parse_and_are_capped() {
        assert_eq!(scrape_delay("sleep_ms=250"), Some(Duration::from_millis(250)));
        assert_eq!(scrape_delay("a=1&sleep_ms=5"), Some(Duration::from_millis(5)));
        assert_eq!(scrape_delay("sleep_ms=99999999999"), Some(MAX_SCRAPE_DELAY));
        assert_eq!(scrape_delay("sleep_ms=-1"), None);
        assert_eq!(scrape_delay("x=1"), None);
    }

    #[test]
    fn handler_behaviours() {
        let opts = |behaviour| ExporterOpts {
            name: "demo".into(),
            version: "2.0.0".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            behaviour,
        };
        let ok = handler(&opts(Behaviour::Ok));
        let (status, body) = get(&ok, "/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("demo_build_info{version=\"2.0.0\",revision=\"demo\",goversion=\"none\"} 1\n"));
        assert!(get(&ok, "/metrics").1.contains("demo_scrapes_total 2\n"));
        assert_eq!(get(&ok, "/nope").0, 404);
        let wrong = handler(&opts(Behaviour::WrongVersion));
        assert!(get(&wrong, "/metrics").1.contains("version=\"2.0.0-wrong\""));
        assert_eq!(get(&handler(&opts(Behaviour::Http500)), "/metrics").0, 500);
        let dropped = get(&handler(&opts(Behaviour::DropFamily)), "/metrics").1;
        assert!(!dropped.contains("demo_scrapes_total"), "{dropped}");
        assert!(dropped.contains("demo_up{target=\"local\"} 1\n"), "{dropped}");
        assert!(parse(&dropped).is_ok());
    }

    #[test]
    fn renamed_flags_refuses_the_old_flag_only() {
        let old = ["--socket=/run/f2b.sock".to_string()];
        let e = refused_flags("f2b", Behaviour::RenamedFlags, &old).unwrap_err();
        assert!(e.contains("unknown flag --socket"), "{e}");
        assert!(refused_flags("f2b", Behaviour::Ok, &old).is_ok());
        assert!(refused_flags("f2b", Behaviour::RenamedFlags, &["--collector.f2b.socket=/x".into()]).is_ok());
    }
}

//! Before the engine restarts an exporter: wait until no scrape is in
//! flight on its port, so the old process is not killed halfway through an
//! answer (exporters exit at once on SIGTERM). Bounded by the exporter's
//! `health.drain`; when the bound passes the restart goes ahead anyway.

mod connections;

pub use crate::generation::history::DrainRecord;
use crate::generation::state::ExporterState;
use connections::{self as sockets, View};
use std::time::{Duration, Instant};

/// How often the drain looks again: a scrape's answer takes milliseconds.
const POLL: Duration = Duration::from_millis(5);

/// The ports `e` listens on: every `--web.listen-address` (exporter-toolkit
/// accepts several; `-web.listen-address` for the single-dash flag style;
/// `--listen` for the demo exporter), else the port of its health URL (by
/// default the catalogue's port). Addresses that are not `host:port` (a
/// `vsock://` one, say) are ignored.
pub fn listen_ports(e: &ExporterState) -> Vec<u16> {
    const FLAGS: [&str; 3] = ["--web.listen-address", "-web.listen-address", "--listen"];
    let mut ports = Vec::new();
    let mut args = e.args.iter();
    while let Some(a) = args.next() {
        let value = match a.split_once('=') {
            Some((flag, v)) if FLAGS.contains(&flag) => Some(v.to_string()),
            None if FLAGS.contains(&a.as_str()) => args.next().cloned(),
            _ => None,
        };
        if let Some(p) = value.as_deref().and_then(address_port) {
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
    }
    if ports.is_empty() {
        let url_port = e
            .health
            .url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| u.port_or_known_default());
        ports.extend(url_port);
    }
    ports
}

/// `:9100`, `0.0.0.0:9100`, `[::1]:9100` → 9100.
fn address_port(addr: &str) -> Option<u16> {
    let (host, port) = addr.rsplit_once(':')?;
    if host.contains("://") || host.contains('/') {
        return None;
    }
    port.parse().ok().filter(|&p| p != 0)
}

/// Waits until no connection to `ports` has a request in flight, for at
/// most `bound`. `None` when there is nothing to wait for (no port known, a
/// zero bound) or the sockets cannot be read (the caller says so).
pub fn wait(ports: &[u16], bound: Duration) -> Result<Option<DrainRecord>, std::io::Error> {
    if ports.is_empty() || bound.is_zero() {
        return Ok(None);
    }
    let started = Instant::now();
    let busy = |conns: &[sockets::Conn]| conns.iter().filter(|c| c.in_flight()).count();
    let (view, conns) = sockets::established(ports)?;
    let in_flight = busy(&conns);
    let mut now_busy = in_flight;
    while now_busy > 0 && started.elapsed() < bound {
        std::thread::sleep(POLL);
        now_busy = busy(&sockets::established(ports)?.1);
    }
    let waited = started.elapsed();
    if in_flight > 0 {
        tracing::info!(
            "drain: {in_flight} scrape(s) in flight on port(s) {ports:?} ({}); waited {} ms{}",
            match view {
                View::SockDiag => "sock_diag",
                View::ProcNet => "/proc/net/tcp, keep-alive connections count",
            },
            waited.as_millis(),
            if now_busy > 0 { ", bound reached" } else { "" }
        );
    }
    Ok(Some(DrainRecord {
        ports: ports.to_vec(),
        in_flight,
        waited_ms: if in_flight > 0 {
            u64::try_from(waited.as_millis()).unwrap_or(u64::MAX)
        } else {
            0
        },
        timed_out: now_busy > 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthSpec;
    use crate::store::StorePath;

    fn exporter(args: &[&str], url: Option<&str>) -> ExporterState {
        ExporterState {
            name: "x".into(),
            version: "1".into(),
            store_path: StorePath::parse(&format!("{}-x-1", "ab".repeat(16))).unwrap(),
            unit: "x.service".into(),
            unit_store_path: None,
            socket_store_path: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            environment: Default::default(),
            health: HealthSpec {
                url: url.map(String::from),
                ..Default::default()
            },
        }
    }

    #[test]
    fn ports_come_from_the_listen_flags_else_the_health_url() {
        let url = Some("http://127.0.0.1:9100/metrics");
        assert_eq!(listen_ports(&exporter(&[], url)), vec![9100]);
        assert_eq!(
            listen_ports(&exporter(&["--web.listen-address=:9200", "--collector.systemd"], url)),
            vec![9200]
        );
        assert_eq!(
            listen_ports(&exporter(
                &[
                    "--web.listen-address",
                    "[::1]:9201",
                    "--web.listen-address=0.0.0.0:9202"
                ],
                url
            )),
            vec![9201, 9202]
        );
        assert_eq!(
            listen_ports(&exporter(&["-web.listen-address=:9121"], None)),
            vec![9121]
        );
        assert_eq!(
            listen_ports(&exporter(&["--listen", "127.0.0.1:4000"], None)),
            vec![4000]
        );
        assert_eq!(
            listen_ports(&exporter(&[], Some("https://host.example/metrics"))),
            vec![443]
        );
        // Nothing usable: a vsock address, a dangling flag, no URL.
        assert_eq!(
            listen_ports(&exporter(&["--web.listen-address=vsock://3:9100", "--listen"], None)),
            Vec::<u16>::new()
        );
        assert_eq!(
            listen_ports(&exporter(&["--web.listen-address=:0"], None)),
            Vec::<u16>::new()
        );
    }

    #[test]
    fn nothing_to_wait_for_without_a_port_or_a_bound() {
        assert_eq!(wait(&[], Duration::from_secs(2)).unwrap(), None);
        assert_eq!(wait(&[9], Duration::ZERO).unwrap(), None);
    }
}

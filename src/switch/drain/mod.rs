//! Before the engine restarts an exporter: wait until no scrape is in
//! flight on its port, so the old process is not killed halfway through an
//! answer (exporters exit at once on SIGTERM); then, unless a scraper was
//! just answered, until right after its next answer ([`SYNC`]), so the
//! restart has a whole scrape interval before the next request. Bounded by
//! the exporter's `health.drain`; when the bound passes the restart goes
//! ahead anyway.

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

/// Once nothing is in flight, how long the drain waits for a scraper's
/// next request (see `SyncEnd`). A scraper asking at least 4 times a
/// second gets its restart right after an answer. A slower one is synced
/// only when it asked less than this long before the drain looked (at a
/// 15 s interval, one restart in 60), and then may cost a restart this
/// long for nothing; otherwise its next request is too far off for the
/// restart to meet it, and there is no wait.
pub const SYNC: Duration = Duration::from_millis(250);

/// How often the sync looks: the restart should follow the answer closely,
/// and a census of a few sockets costs microseconds.
const SYNC_POLL: Duration = Duration::from_millis(2);

/// A last answer this recent (its end is [`sockets::STREAMING_MS`] old at
/// least, else it would count as in flight) is already about where a sync
/// would restart: no sync then.
const JUST_ANSWERED_MS: u32 = 20;

/// Waits until no connection to `ports` has a request in flight, for at
/// most `bound`; then syncs to the scrape (see `SyncEnd`). `None` when
/// there is nothing to wait for (no port known, a zero bound) or the
/// sockets cannot be read (the caller says so).
pub fn wait(ports: &[u16], bound: Duration) -> Result<Option<DrainRecord>, std::io::Error> {
    wait_with(ports, bound, SYNC)
}

fn wait_with(ports: &[u16], bound: Duration, sync: Duration) -> Result<Option<DrainRecord>, std::io::Error> {
    if ports.is_empty() || bound.is_zero() {
        return Ok(None);
    }
    let started = Instant::now();
    let busy = |conns: &[sockets::Conn]| conns.iter().filter(|c| c.in_flight()).count();
    let (view, mut conns) = sockets::established(ports)?;
    let in_flight = busy(&conns);
    let mut now_busy = in_flight;
    while now_busy > 0 && started.elapsed() < bound {
        std::thread::sleep(POLL);
        conns = sockets::established(ports)?.1;
        now_busy = busy(&conns);
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
    let mut record = DrainRecord {
        ports: ports.to_vec(),
        in_flight,
        waited_ms: if in_flight > 0 { millis(waited) } else { 0 },
        timed_out: now_busy > 0,
        synced: false,
        sync_waited_ms: 0,
    };
    // After a wait for scrapes in flight too: when the scrape that ended it
    // was a keep-alive scraper's, its answer is recent and no sync is
    // wanted; when it was another client's (one connection per scrape,
    // gone now), the keep-alive scraper's phase is still unknown.
    if !record.timed_out && view == View::SockDiag && SyncEnd::wanted(&conns, sync) {
        let window = sync.min(bound.saturating_sub(started.elapsed()));
        let began = Instant::now();
        let outcome = loop {
            std::thread::sleep(SYNC_POLL);
            // Before the census: the census's times must not be younger
            // than this (see `SyncEnd::look`).
            let since = began.elapsed();
            let conns = match sockets::established(ports) {
                Ok((View::SockDiag, c)) => c,
                // The restart follows a drain that is complete already.
                Ok((View::ProcNet, _)) => break SyncEnd::GaveUp,
                Err(e) => {
                    tracing::debug!("drain: sync stopped: {e}");
                    break SyncEnd::GaveUp;
                }
            };
            if let Some(done) = SyncEnd::look(&conns, since, window, started.elapsed() >= bound) {
                break done;
            }
        };
        record.synced = outcome == SyncEnd::Answered;
        record.timed_out = outcome == SyncEnd::TimedOut;
        record.sync_waited_ms = millis(began.elapsed()).max(1);
        tracing::info!(
            "drain: {} on port(s) {ports:?} after {} ms",
            match outcome {
                SyncEnd::Answered => "synced to a scrape's answer",
                SyncEnd::GaveUp => "no scrape to sync to",
                SyncEnd::TimedOut => "bound reached syncing, a scrape in flight",
            },
            record.sync_waited_ms
        );
    }
    Ok(Some(record))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How syncing to the scrape ended. A restart right after a scraper's answer has the
/// whole scrape interval before its next request; one at a random moment
/// may meet a request that arrives between the drain's last look and the
/// stop (cut by the stop, or queued on the socket and answered by the new
/// process too late). So when nothing is in flight (any more) and a
/// keep-alive connection has been answered before (a scraper), but not
/// just now, the drain waits for a request that arrives after it began
/// looking, and for its answer, then returns at once. (When the drain
/// waited for a scrape of that scraper in flight, its answer is the one
/// just sent: no sync.) With several scrapers the first answer counts:
/// their phases are unrelated, none can be suited better.
/// The wait for a request is bounded by [`SYNC`] (and the drain's bound);
/// a request that has arrived is waited for up to the drain's bound, as a
/// scrape in flight always is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncEnd {
    /// A request came after the sync began and has been answered.
    Answered,
    /// No request within the window: restart now, unsynced.
    GaveUp,
    /// A request came and the drain's bound passed before its answer.
    TimedOut,
}

impl SyncEnd {
    /// Is a sync worth it, given the census that found nothing in flight?
    /// Only `tcp_info` can tell a scraper's keep-alive connection (asked
    /// and answered) and when it was last asked and answered. Not when the
    /// last answer went out just now (the restart is already where a sync
    /// would put it), nor when no scraper asked within `window` (the sync's
    /// bound, [`SYNC`]): one that
    /// slow is not due before the restart is done, most likely, and the
    /// wait would mostly run out for nothing (every restart of an exporter
    /// Prometheus scrapes every 15 s or 1 m).
    fn wanted(conns: &[sockets::Conn], window: Duration) -> bool {
        let scrapers = || {
            conns
                .iter()
                .filter_map(|c| c.activity)
                .filter(|a| matches!(a.data_segs, Some((i, o)) if i > 0 && o > 0))
        };
        let last_answer = scrapers().map(|a| a.since_sent_ms).min();
        let last_request = scrapers().map(|a| a.since_recv_ms).min();
        last_answer.is_some_and(|ms| ms >= JUST_ANSWERED_MS)
            && last_request.is_some_and(|ms| u64::from(ms) < millis(window))
    }

    /// One look during the sync, `since` after it began: `None` to look
    /// again. `window`: how long to wait for a request; `bound_passed`: the
    /// drain's bound.
    fn look(conns: &[sockets::Conn], since: Duration, window: Duration, bound_passed: bool) -> Option<SyncEnd> {
        if conns.iter().any(|c| c.in_flight()) {
            return bound_passed.then_some(SyncEnd::TimedOut);
        }
        // Data that came in `since_recv_ms` ago, less than the sync's age
        // (taken before the census): a request after the sync began. One
        // answered before it began was at least STREAMING_MS old then, which
        // covers the rounding of `tcp_info`'s times to a kernel tick (≤ 10 ms).
        // Answered, as nothing is in flight.
        let since_ms = millis(since);
        let asked = |c: &sockets::Conn| {
            c.activity.is_some_and(|a| {
                matches!(a.data_segs, Some((i, o)) if i > 0 && o > 0) && u64::from(a.since_recv_ms) < since_ms
            })
        };
        if conns.iter().any(asked) {
            Some(SyncEnd::Answered)
        } else if since >= window || bound_passed {
            Some(SyncEnd::GaveUp)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthSpec;
    use crate::store::StorePath;
    use std::io::{BufRead, Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

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

    fn conn(since_recv_ms: u32, since_sent_ms: u32, segs: Option<(u32, u32)>) -> sockets::Conn {
        sockets::Conn {
            local_port: 9100,
            rx_queue: 0,
            tx_queue: 0,
            activity: Some(sockets::Activity {
                since_recv_ms,
                since_sent_ms,
                data_segs: segs,
            }),
        }
    }

    #[test]
    fn a_sync_is_wanted_for_a_scraper_not_answered_just_now() {
        let answered = |ago| conn(ago + 3, ago, Some((4, 4)));
        assert!(!SyncEnd::wanted(&[], SYNC), "no connection");
        assert!(
            !SyncEnd::wanted(&[conn(40, 40, Some((0, 0)))], SYNC),
            "connected, nothing asked"
        );
        assert!(SyncEnd::wanted(&[answered(60)], SYNC));
        // Asked longer ago than the sync would wait: a slow scraper, not
        // due before the restart is done: no wait.
        let slow = millis(SYNC) as u32;
        assert!(!SyncEnd::wanted(&[answered(slow)], SYNC), "asked {} ms ago", slow + 3);
        assert!(SyncEnd::wanted(&[answered(slow - 10)], SYNC));
        assert!(
            SyncEnd::wanted(&[answered(slow + 500), answered(40)], SYNC),
            "the faster scraper counts"
        );
        assert!(SyncEnd::wanted(&[answered(JUST_ANSWERED_MS)], SYNC));
        assert!(
            !SyncEnd::wanted(&[answered(JUST_ANSWERED_MS - 1)], SYNC),
            "just answered"
        );
        // Several scrapers: the most recent answer decides.
        assert!(!SyncEnd::wanted(&[answered(80), answered(12)], SYNC));
        assert!(SyncEnd::wanted(
            &[answered(80), answered(25), conn(5, 5, Some((0, 0)))],
            SYNC
        ));
        // The drain just waited for this scraper's scrape: its answer ended
        // 10 ms (STREAMING_MS) and a poll or two ago.
        assert!(!SyncEnd::wanted(&[answered(sockets::STREAMING_MS + 5)], SYNC));
        // Without segment counts (Linux < 4.6) or tcp_info (/proc/net/tcp)
        // a scraper cannot be told from a connection that never asked.
        assert!(!SyncEnd::wanted(&[conn(63, 60, None)], SYNC));
        let mut proc_net = answered(60);
        proc_net.activity = None;
        assert!(!SyncEnd::wanted(&[proc_net], SYNC));
    }

    /// Feeds `looks` (ms since the sync began, the census then) to
    /// [`SyncEnd::look`] as the drain does: the outcome and the time of the
    /// look that decided it.
    fn sync_over(looks: &[(u64, Vec<sockets::Conn>)], window_ms: u64, bound_ms: u64) -> Option<(SyncEnd, u64)> {
        looks.iter().find_map(|(t, conns)| {
            let since = Duration::from_millis(*t);
            SyncEnd::look(conns, since, Duration::from_millis(window_ms), *t >= bound_ms).map(|o| (o, *t))
        })
    }

    #[test]
    fn a_sync_returns_right_after_the_next_answer() {
        // A scraper answered 60 ms before the sync began asks again at 40 ms,
        // is answered at 48 ms; the answer counts as ended 10 ms later.
        let looks = vec![
            (2, vec![conn(62, 60, Some((4, 4)))]),
            (38, vec![conn(98, 96, Some((4, 4)))]),
            (42, vec![conn(2, 100, Some((5, 4)))]),
            (50, vec![conn(10, 2, Some((5, 5)))]),
            (56, vec![conn(16, 8, Some((5, 5)))]),
            (60, vec![conn(20, 12, Some((5, 6)))]),
            (62, vec![conn(22, 14, Some((5, 6)))]),
        ];
        assert_eq!(sync_over(&looks, 250, 2000), Some((SyncEnd::Answered, 60)));
        // Looks too sparse to see the request in flight still see its answer.
        assert_eq!(
            sync_over(&[looks[1].clone(), looks[5].clone()], 250, 2000),
            Some((SyncEnd::Answered, 60))
        );
    }

    #[test]
    fn a_sync_gives_up_on_a_slow_scraper_at_its_window_but_not_during_a_scrape() {
        let idle = |t: u32| (u64::from(t), vec![conn(62 + t, 60 + t, Some((4, 4)))]);
        let quiet: Vec<_> = (1..=130).map(|k| idle(2 * k)).collect();
        assert_eq!(sync_over(&quiet, 250, 2000), Some((SyncEnd::GaveUp, 250)));
        // The drain's bound left is shorter than the window: it counts.
        assert_eq!(sync_over(&quiet, 100, 2000), Some((SyncEnd::GaveUp, 100)));
        // A request arriving at the end of the window is waited for.
        let late = vec![
            idle(246),
            (248, vec![conn(1, 307, Some((5, 4)))]),
            (252, vec![conn(5, 311, Some((5, 4)))]),
            (262, vec![conn(15, 4, Some((5, 5)))]),
            (268, vec![conn(21, 10, Some((5, 5)))]),
        ];
        assert_eq!(sync_over(&late, 250, 2000), Some((SyncEnd::Answered, 268)));
        // ... up to the drain's bound: restarted anyway, and said so.
        assert_eq!(sync_over(&late, 250, 252), Some((SyncEnd::TimedOut, 252)));
        // A connection made during the sync that asks nothing is no answer.
        let connected = vec![
            idle(100),
            (150, vec![conn(162, 160, Some((4, 4))), conn(3, 3, Some((0, 0)))]),
            idle(250),
        ];
        assert_eq!(sync_over(&connected, 250, 2000), Some((SyncEnd::GaveUp, 250)));
    }

    #[test]
    fn a_sync_takes_the_first_answer_of_several_scrapers() {
        // Scraper A (answered 30 ms before) asks at 20 ms; B stays idle; a
        // third connection, new, asks and is answered at the same time.
        let looks = vec![
            (10, vec![conn(40, 40, Some((3, 3))), conn(90, 88, Some((7, 7)))]),
            (22, vec![conn(2, 52, Some((4, 3))), conn(102, 100, Some((7, 7)))]),
            (
                40,
                vec![
                    conn(20, 15, Some((4, 4))),
                    conn(120, 118, Some((7, 7))),
                    conn(6, 2, Some((1, 1))),
                ],
            ),
            (
                46,
                vec![
                    conn(26, 21, Some((4, 4))),
                    conn(126, 124, Some((7, 7))),
                    conn(12, 8, Some((1, 1))),
                ],
            ),
            (
                50,
                vec![
                    conn(30, 25, Some((4, 4))),
                    conn(130, 128, Some((7, 7))),
                    conn(16, 12, Some((1, 1))),
                ],
            ),
        ];
        // Not at 40 or 46: the new connection's answer is still being written.
        assert_eq!(sync_over(&looks, 250, 2000), Some((SyncEnd::Answered, 50)));
    }

    /// An HTTP/1.1 server for `connections` connections, each served on its
    /// own thread: keep-alive, but a request for `/slow` is answered after
    /// 300 ms and its connection then closed. Counts the other requests it
    /// has read (before answering them).
    fn keep_alive_server(connections: usize) -> (u16, Arc<AtomicUsize>, std::thread::JoinHandle<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let asked = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&asked);
        let server = std::thread::spawn(move || {
            let served: Vec<_> = (0..connections)
                .map(|_| {
                    let (s, _) = l.accept().unwrap();
                    let count = Arc::clone(&count);
                    std::thread::spawn(move || serve(s, &count))
                })
                .collect();
            for t in served {
                t.join().unwrap();
            }
        });
        (port, asked, server)
    }

    fn serve(s: std::net::TcpStream, count: &AtomicUsize) {
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut w = s;
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let slow = head.starts_with("GET /slow ");
            if slow {
                std::thread::sleep(Duration::from_millis(300));
            } else {
                count.fetch_add(1, Ordering::SeqCst);
            }
            let body = "up 1\n";
            let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            if w.write_all(answer.as_bytes()).is_err() || slow {
                return;
            }
        }
    }

    /// One scrape on the keep-alive connection `c`, read to its end.
    fn scrape(c: &mut std::net::TcpStream) {
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.ends_with(b"up 1\n") {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "closed: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    }

    fn sock_diag_here(port: u16) -> bool {
        match sockets::established(&[port]) {
            Ok((View::SockDiag, _)) => true,
            other => {
                eprintln!("skipped: no sock_diag here: {other:?}");
                false
            }
        }
    }

    #[test]
    fn a_drain_with_a_keep_alive_scraper_returns_right_after_its_next_answer() {
        let (port, asked, server) = keep_alive_server(1);
        if !sock_diag_here(port) {
            return;
        }
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        scrape(&mut c);
        // Not just answered (a sleep lasts at least this long).
        std::thread::sleep(Duration::from_millis(u64::from(JUST_ANSWERED_MS) + 20));
        let before = asked.load(Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let scraper = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Late enough that the drain has looked once and found nothing
                // in flight; then every 50 ms, as a fast Prometheus does.
                std::thread::sleep(Duration::from_millis(200));
                while !stop.load(Ordering::SeqCst) {
                    scrape(&mut c);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        // A wide window: a loaded host may delay the scraper's thread.
        let d = wait_with(&[port], Duration::from_secs(30), Duration::from_secs(20))
            .unwrap()
            .unwrap();
        let after = asked.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        scraper.join().unwrap();
        server.join().unwrap();
        assert_eq!((d.in_flight, d.waited_ms, d.timed_out), (0, 0, false), "{d:?}");
        assert!(d.synced, "{d:?}");
        assert!(d.sync_waited_ms > 0, "{d:?}");
        assert!(
            after > before,
            "no request was answered during the drain: {before} → {after}"
        );
    }

    #[test]
    fn after_another_clients_scrape_in_flight_the_drain_syncs_to_the_keep_alive_scraper() {
        let (port, asked, server) = keep_alive_server(2);
        if !sock_diag_here(port) {
            return;
        }
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        scrape(&mut c);
        std::thread::sleep(Duration::from_millis(u64::from(JUST_ANSWERED_MS) + 20));
        // A client with a connection per scrape has one in flight (300 ms).
        let mut other = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        other.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let before = asked.load(Ordering::SeqCst);
        let scraper = std::thread::spawn(move || {
            // Well after the slow scrape's answer.
            std::thread::sleep(Duration::from_millis(1000));
            scrape(&mut c);
            std::thread::sleep(Duration::from_millis(50));
            scrape(&mut c);
        });
        let d = wait_with(&[port], Duration::from_secs(30), Duration::from_secs(20))
            .unwrap()
            .unwrap();
        let after = asked.load(Ordering::SeqCst);
        scraper.join().unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).unwrap();
        server.join().unwrap();
        assert!(answer.ends_with("up 1\n"), "the slow scrape was cut: {answer:?}");
        assert_eq!((d.in_flight, d.timed_out), (1, false), "{d:?}");
        assert!(d.synced, "{d:?}");
        assert!(
            after > before,
            "no keep-alive request was answered during the drain: {before} → {after}"
        );
    }

    #[test]
    fn a_drain_without_connections_waits_for_nothing() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let d = wait(&[port], Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(
            d,
            DrainRecord {
                ports: vec![port],
                in_flight: 0,
                waited_ms: 0,
                timed_out: false,
                synced: false,
                sync_waited_ms: 0,
            }
        );
    }

    #[test]
    fn a_scraper_slower_than_the_sync_window_is_not_waited_for_longer() {
        let (port, asked, server) = keep_alive_server(1);
        if !sock_diag_here(port) {
            return;
        }
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        scrape(&mut c);
        std::thread::sleep(Duration::from_millis(u64::from(JUST_ANSWERED_MS) + 20));
        // Its next scrape comes only after the drain.
        let d = wait(&[port], Duration::from_secs(2)).unwrap().unwrap();
        scrape(&mut c);
        drop(c);
        server.join().unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!((d.in_flight, d.timed_out, d.synced), (0, false, false), "{d:?}");
        assert!(d.sync_waited_ms >= millis(SYNC), "gave up before the window: {d:?}");
    }

    #[test]
    fn a_scraper_that_asked_longer_ago_than_the_window_is_not_waited_for() {
        let (port, asked, server) = keep_alive_server(1);
        if !sock_diag_here(port) {
            return;
        }
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        scrape(&mut c);
        // Its last request is older than SYNC when the drain looks: a
        // scraper this slow (Prometheus every 15 s) costs the restart nothing.
        std::thread::sleep(SYNC + Duration::from_millis(50));
        let d = wait(&[port], Duration::from_secs(2)).unwrap().unwrap();
        scrape(&mut c);
        drop(c);
        server.join().unwrap();
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(
            (d.in_flight, d.timed_out, d.synced, d.sync_waited_ms),
            (0, false, false, 0),
            "{d:?}"
        );
    }
}

//! Which TCP connections to a local port are in the middle of a request:
//! what the drain before a restart waits for (see [`super::drain`]).
//!
//! Two views of the kernel's sockets, best first:
//!
//! - `sock_diag` (netlink, what `ss` uses; any user may ask): per
//!   established connection its queues and `tcp_info`, whose "last data
//!   received/sent" times and data segment counts tell a request still
//!   waiting for its answer from an idle keep-alive connection;
//! - `/proc/net/tcp` and `/proc/net/tcp6`: queues only, so an exporter
//!   busy collecting (the request read, nothing written yet) looks exactly
//!   like an idle keep-alive connection. There every established connection
//!   counts as in flight: the drain then waits out its bound when a scraper
//!   keeps its connection open, rather than cut a scrape.
//!
//! The kernel's answers are bounded like any input: line and message
//! lengths and counts are capped, and every field is range-checked.

use std::io::{self, BufRead, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Connections looked at per census, in each view; a host with more
/// established connections than this is not one an exporter drains on.
const MAX_CONNECTIONS: usize = 262_144;
/// A `/proc/net/tcp6` line is ~150 bytes.
const MAX_LINE: usize = 1024;

/// One established connection whose local port is one of the exporter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub local_port: u16,
    /// Bytes received, not yet read by the exporter (a request waiting).
    pub rx_queue: u32,
    /// Bytes written, not yet acknowledged by the peer (an answer on its
    /// way: the kernel delivers them even after the process exits).
    pub tx_queue: u32,
    /// From `tcp_info`; `None` from `/proc/net/tcp`.
    pub activity: Option<Activity>,
}

/// What `tcp_info` says about a connection's last exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Milliseconds since data last arrived (`tcpi_last_data_recv`).
    pub since_recv_ms: u32,
    /// Milliseconds since data was last sent (`tcpi_last_data_sent`).
    pub since_sent_ms: u32,
    /// Segments with data received and sent (`tcpi_data_segs_in/out`,
    /// Linux ≥ 4.6); `None` from an older kernel.
    pub data_segs: Option<(u32, u32)>,
}

impl Conn {
    /// Is a request on this connection still waiting for (the end of) its
    /// answer? HTTP/1.1 as scrapers use it is one request, then its answer:
    /// a connection whose last data came in after the last data went out
    /// has a request open; one that answered last is an idle keep-alive.
    ///
    /// What is already sent needs no wait: the kernel keeps delivering a
    /// closed socket's send queue. Unread request bytes do (closing a socket
    /// with unread data resets the connection), and so does an answer still
    /// being written, which the last [`STREAMING_MS`] of sending stand for.
    pub fn in_flight(&self) -> bool {
        if self.rx_queue > 0 {
            return true;
        }
        let Some(a) = self.activity else {
            // Queues alone cannot tell an exporter busy collecting from an
            // idle connection: count it.
            return true;
        };
        match a.data_segs {
            // Connected, nothing asked yet.
            Some((0, _)) => false,
            // Asked, nothing answered: the first request. Its arrival and the
            // connection's creation often share a millisecond, so the times
            // below cannot tell.
            Some((_, 0)) => true,
            // Equal times (one tick): answered within the tick it was asked.
            _ => a.since_recv_ms < a.since_sent_ms || a.since_sent_ms < STREAMING_MS,
        }
    }
}

/// An answer whose last bytes went out this recently may still be being
/// written: exporters write a scrape's body in pieces (of 4 KiB in Go's
/// `net/http`) as fast as they encode it, so a pause this long ends it.
pub const STREAMING_MS: u32 = 10;

/// How a census was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    SockDiag,
    ProcNet,
}

/// Established connections whose local port is in `ports`, from the best
/// view this host offers.
pub fn established(ports: &[u16]) -> io::Result<(View, Vec<Conn>)> {
    match sock_diag(ports) {
        Ok(c) => Ok((View::SockDiag, c)),
        Err(e) => {
            tracing::debug!("sock_diag unavailable ({e}); reading /proc/net/tcp");
            let mut out = Vec::new();
            for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
                match std::fs::File::open(path) {
                    Ok(f) => out.extend(parse_proc_net_tcp(io::BufReader::new(f), ports)?),
                    // No IPv6 on this host.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && path.ends_with('6') => {}
                    Err(e) => return Err(io::Error::new(e.kind(), format!("reading {path}: {e}"))),
                }
            }
            Ok((View::ProcNet, out))
        }
    }
}

/// `TCP_ESTABLISHED` in the kernel's numbering (`st` `01` in `/proc/net/tcp`).
const TCP_ESTABLISHED: u8 = 1;

/// Established connections with a local port in `ports` from the text of
/// `/proc/net/tcp` or `/proc/net/tcp6` (same columns; the v6 addresses are
/// longer). Lines that do not parse are skipped; too many lines is an error.
pub fn parse_proc_net_tcp(r: impl BufRead, ports: &[u16]) -> io::Result<Vec<Conn>> {
    let mut out = Vec::new();
    let mut r = r.take(((MAX_CONNECTIONS + 1) * MAX_LINE) as u64);
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        if (&mut r).take(MAX_LINE as u64).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        n += 1;
        if n > MAX_CONNECTIONS + 1 {
            return Err(io::Error::other(format!("more than {MAX_CONNECTIONS} TCP sockets")));
        }
        if !line.ends_with(b"\n") && line.len() >= MAX_LINE {
            // Not a line of this table: skip the rest of it.
            let mut rest = Vec::new();
            (&mut r).take(MAX_LINE as u64 * 64).read_until(b'\n', &mut rest)?;
            continue;
        }
        if let Some(c) = std::str::from_utf8(&line).ok().and_then(|l| parse_line(l, ports)) {
            out.push(c);
        }
    }
    Ok(out)
}

/// `sl local rem st tx:rx …`, e.g.
/// `691: 0100007F:921F 0100007F:8BB0 01 00000000:00000022 …`.
fn parse_line(line: &str, ports: &[u16]) -> Option<Conn> {
    let mut f = line.split_ascii_whitespace();
    let _sl = f.next().filter(|s| s.ends_with(':'))?;
    let (_, port) = f.next()?.rsplit_once(':')?;
    let local_port = u16::from_str_radix(port, 16).ok()?;
    let _remote = f.next()?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let (tx, rx) = f.next()?.split_once(':')?;
    if state != TCP_ESTABLISHED || !ports.contains(&local_port) {
        return None;
    }
    Some(Conn {
        local_port,
        tx_queue: u32::from_str_radix(tx, 16).ok()?,
        rx_queue: u32::from_str_radix(rx, 16).ok()?,
        activity: None,
    })
}

// Netlink and inet_diag, from <linux/netlink.h>, <linux/sock_diag.h> and
// <linux/inet_diag.h>: stable kernel ABI.
const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const INET_DIAG_REQ_V2: usize = 56;
const INET_DIAG_MSG: usize = 72;
const INET_DIAG_INFO: u16 = 2;

/// One `sock_diag` dump per address family, of established TCP sockets
/// with their `tcp_info`.
fn sock_diag(ports: &[u16]) -> io::Result<Vec<Conn>> {
    // SAFETY: plain syscall; the descriptor is owned from here on.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is not owned elsewhere.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The kernel answers a dump at once; never hang a restart on it.
    let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
    // SAFETY: `tv` lives across the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut seen = 0usize;
    for (seq, family) in [(1u32, libc::AF_INET as u8), (2, libc::AF_INET6 as u8)] {
        let req = dump_request(seq, family);
        // SAFETY: the buffer is valid for its length; the kernel is the
        // default destination of a netlink socket.
        let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 64 * 1024];
        'dump: loop {
            // SAFETY: the buffer is valid and writable for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = usize::try_from(n).unwrap_or(0);
            if n == 0 {
                return Err(io::Error::other("sock_diag: connection closed mid-dump"));
            }
            for msg in messages(&buf[..n]) {
                match msg {
                    Msg::Done => break 'dump,
                    Msg::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
                    Msg::Socket(body) => {
                        seen += 1;
                        if seen > MAX_CONNECTIONS {
                            return Err(io::Error::other(format!("more than {MAX_CONNECTIONS} TCP sockets")));
                        }
                        if let Some(c) = parse_diag_msg(body).filter(|c| ports.contains(&c.local_port)) {
                            out.push(c);
                        }
                    }
                    Msg::Other => {}
                }
            }
        }
    }
    Ok(out)
}

/// `SOCK_DIAG_BY_FAMILY` dump of established TCP sockets of `family`,
/// asking for `tcp_info` (`INET_DIAG_INFO`).
fn dump_request(seq: u32, family: u8) -> Vec<u8> {
    let len = NLMSG_HDR + INET_DIAG_REQ_V2;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    // inet_diag_req_v2: family, protocol, ext (a bit per attribute), pad,
    // states (a bit per state), then a zeroed inet_diag_sockid (48 bytes).
    b.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 1 << (INET_DIAG_INFO - 1), 0]);
    b.extend_from_slice(&(1u32 << TCP_ESTABLISHED).to_ne_bytes());
    b.resize(len, 0);
    b
}

#[derive(Debug, PartialEq, Eq)]
enum Msg<'a> {
    Socket(&'a [u8]),
    Error(i32),
    Done,
    Other,
}

/// The netlink messages in one datagram; stops at the first malformed header.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = Msg<'_>> {
    std::iter::from_fn(move || {
        let len = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
        let body = buf.get(NLMSG_HDR..len)?;
        buf = buf.get(align4(len)..).unwrap_or_default();
        Some(match kind {
            NLMSG_DONE => Msg::Done,
            NLMSG_ERROR => {
                let errno = body.get(0..4).map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]]));
                match errno {
                    Some(0) => Msg::Other,
                    Some(e) => Msg::Error(e.checked_neg().unwrap_or(libc::EIO)),
                    None => Msg::Error(libc::EIO),
                }
            }
            SOCK_DIAG_BY_FAMILY => Msg::Socket(body),
            _ => Msg::Other,
        })
    })
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// An `inet_diag_msg` and its attributes.
fn parse_diag_msg(b: &[u8]) -> Option<Conn> {
    if b.len() < INET_DIAG_MSG || b[1] != TCP_ESTABLISHED {
        return None;
    }
    // idiag_sport is in network byte order.
    let local_port = u16::from_be_bytes([b[4], b[5]]);
    let rx_queue = u32_at(b, 56)?;
    let tx_queue = u32_at(b, 60)?;
    let mut activity = None;
    let mut attrs = &b[INET_DIAG_MSG..];
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        let Some(payload) = attrs.get(4..len) else { break };
        if kind == INET_DIAG_INFO {
            activity = parse_tcp_info(payload);
        }
        attrs = attrs.get(align4(len).max(4)..).unwrap_or_default();
    }
    Some(Conn {
        local_port,
        rx_queue,
        tx_queue,
        activity,
    })
}

/// The fields of `struct tcp_info` the drain needs, at their offsets.
fn parse_tcp_info(t: &[u8]) -> Option<Activity> {
    Some(Activity {
        since_sent_ms: u32_at(t, 44)?,
        since_recv_ms: u32_at(t, 52)?,
        data_segs: u32_at(t, 152).zip(u32_at(t, 156)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on Linux 6.18 with a listener on 127.0.0.1:37407 (0x921F) and
    // [::1]:44855 (0xAF37), a client connected to each, its request (34
    // bytes) not yet read: the listener, the client's end, the server's end.
    const TCP4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 0100007F:921F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 577976 1 000000000cf8e146 100 0 0 10 0
 393: 0100007F:8BB0 0100007F:921F 01 00000000:00000000 00:00000000 00000000     0        0 577977 2 000000006216f8bb 20 0 0 11 -1
 691: 0100007F:921F 0100007F:8BB0 01 00000000:00000022 00:00000000 00000000     0        0 577978 1 000000003ed41274 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:AF37 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 578758 1 0000000026a0aecc 100 0 0 10 0
   1: 00000000000000000000000001000000:AF37 00000000000000000000000001000000:864A 01 00000000:00000022 00:00000000 00000000     0        0 578760 1 00000000ce152fc5 20 4 30 10 -1
   2: 00000000000000000000000001000000:864A 00000000000000000000000001000000:AF37 01 00000000:00000000 00:00000000 00000000     0        0 578759 2 00000000e7ff07c3 20 0 0 11 -1
";

    #[test]
    fn proc_net_tcp_keeps_established_connections_to_the_port() {
        let v4 = parse_proc_net_tcp(TCP4.as_bytes(), &[37407]).unwrap();
        assert_eq!(
            v4,
            vec![Conn {
                local_port: 37407,
                rx_queue: 0x22,
                tx_queue: 0,
                activity: None
            }]
        );
        let v6 = parse_proc_net_tcp(TCP6.as_bytes(), &[44855]).unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!((v6[0].local_port, v6[0].rx_queue), (44855, 34));
        // The client's end (local port 0x8BB0) and other ports are not ours.
        assert!(parse_proc_net_tcp(TCP4.as_bytes(), &[9100]).unwrap().is_empty());
        // Queues alone: every established connection counts.
        let quiet = parse_proc_net_tcp(TCP4.replace(":00000022", ":00000000").as_bytes(), &[37407]).unwrap();
        assert!(quiet[0].in_flight());
    }

    #[test]
    fn proc_net_tcp_skips_junk_and_bounds_lines() {
        let junk = format!(
            "garbage\n 7: 0100007F:ZZZZ 0100007F:8BB0 01 00000000:00000000\n{}\n{TCP4}",
            "x".repeat(10 * MAX_LINE)
        );
        let got = parse_proc_net_tcp(junk.as_bytes(), &[37407]).unwrap();
        assert_eq!(got.len(), 1);
        let many = " 1: 0100007F:921F 0100007F:8BB0 01 00000000:00000000\n".repeat(MAX_CONNECTIONS + 2);
        assert!(parse_proc_net_tcp(many.as_bytes(), &[37407]).is_err());
    }

    fn conn(rx: u32, tx: u32, since_recv_ms: u32, since_sent_ms: u32, segs: Option<(u32, u32)>) -> Conn {
        Conn {
            local_port: 1,
            rx_queue: rx,
            tx_queue: tx,
            activity: Some(Activity {
                since_recv_ms,
                since_sent_ms,
                data_segs: segs,
            }),
        }
    }

    #[test]
    fn a_request_without_its_answer_is_in_flight_an_idle_keep_alive_is_not() {
        // The figures `ss -ti` showed for the connections above.
        assert!(conn(34, 0, 76, 76, Some((1, 0))).in_flight(), "unread request");
        assert!(conn(0, 0, 76, 76, Some((1, 0))).in_flight(), "read, being answered");
        assert!(
            !conn(0, 0, 144, 56, Some((1, 1))).in_flight(),
            "answered: idle keep-alive"
        );
        assert!(
            conn(0, 0, 3, 90, Some((2, 1))).in_flight(),
            "second request on a keep-alive"
        );
        assert!(
            conn(0, 0, 30, 1, Some((2, 9))).in_flight(),
            "answer still being written"
        );
        assert!(
            !conn(0, 1200, 90, 60, Some((2, 9))).in_flight(),
            "answer sent, not yet acknowledged: the kernel delivers it"
        );
        assert!(
            !conn(0, 0, 40, 40, Some((0, 0))).in_flight(),
            "connected, nothing asked"
        );
        assert!(
            !conn(0, 0, 70, 70, Some((3, 3))).in_flight(),
            "asked and answered in one tick"
        );
        assert!(conn(0, 0, 7, 90, None).in_flight(), "old kernel: by the times");
        assert!(!conn(0, 0, 90, 70, None).in_flight(), "old kernel: by the times");
    }

    fn diag_msg(sport: u16, state: u8, rx: u32, tx: u32, info: Option<&[u8]>) -> Vec<u8> {
        let mut b = vec![0u8; INET_DIAG_MSG];
        b[0] = libc::AF_INET as u8;
        b[1] = state;
        b[4..6].copy_from_slice(&sport.to_be_bytes());
        b[56..60].copy_from_slice(&rx.to_ne_bytes());
        b[60..64].copy_from_slice(&tx.to_ne_bytes());
        if let Some(info) = info {
            b.extend_from_slice(&((4 + info.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
            b.extend_from_slice(info);
        }
        b
    }

    fn tcp_info(since_sent: u32, since_recv: u32, segs_in: u32, segs_out: u32) -> Vec<u8> {
        let mut t = vec![0u8; 232];
        t[44..48].copy_from_slice(&since_sent.to_ne_bytes());
        t[52..56].copy_from_slice(&since_recv.to_ne_bytes());
        t[152..156].copy_from_slice(&segs_in.to_ne_bytes());
        t[156..160].copy_from_slice(&segs_out.to_ne_bytes());
        t
    }

    fn nlmsg(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0u8; 10]);
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    #[test]
    fn sock_diag_messages_parse_and_bound() {
        let info = tcp_info(56, 144, 1, 1);
        let mut dgram = nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(9100, TCP_ESTABLISHED, 0, 0, Some(&info)));
        dgram.extend(nlmsg(SOCK_DIAG_BY_FAMILY, &diag_msg(9100, 10, 0, 0, None)));
        dgram.extend(nlmsg(NLMSG_DONE, &[0; 4]));
        let msgs: Vec<Msg> = messages(&dgram).collect();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[2], Msg::Done);
        let Msg::Socket(body) = msgs[0] else { panic!("{msgs:?}") };
        let c = parse_diag_msg(body).unwrap();
        assert_eq!(c.local_port, 9100);
        assert_eq!(
            c.activity,
            Some(Activity {
                since_recv_ms: 144,
                since_sent_ms: 56,
                data_segs: Some((1, 1))
            })
        );
        assert!(!c.in_flight());
        let Msg::Socket(listen) = msgs[1] else { panic!() };
        assert_eq!(parse_diag_msg(listen), None, "not established");
        // A short tcp_info (old kernel) has times but no segment counts.
        let short = diag_msg(9100, TCP_ESTABLISHED, 0, 0, Some(&info[..104]));
        assert_eq!(parse_diag_msg(&short).unwrap().activity.unwrap().data_segs, None);
        // An error, and lengths that lie, end the walk instead of panicking.
        let err = nlmsg(NLMSG_ERROR, &(-libc::ENOENT).to_ne_bytes());
        assert_eq!(messages(&err).collect::<Vec<_>>(), vec![Msg::Error(libc::ENOENT)]);
        let mut lying = nlmsg(SOCK_DIAG_BY_FAMILY, &[0; 8]);
        lying[0..4].copy_from_slice(&4000u32.to_ne_bytes());
        assert_eq!(messages(&lying).count(), 0);
        let mut bad_attr = diag_msg(9100, TCP_ESTABLISHED, 0, 0, Some(&info));
        bad_attr[INET_DIAG_MSG..INET_DIAG_MSG + 2].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(parse_diag_msg(&bad_attr).unwrap().activity, None);
    }

    #[test]
    fn sock_diag_sees_a_request_waiting_on_this_host() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let conns = match sock_diag(&[port]) {
            Ok(c) => c,
            Err(e) => {
                // A kernel without inet_diag: the /proc view is the fallback.
                eprintln!("skipped: sock_diag unavailable: {e}");
                return;
            }
        };
        assert_eq!(conns.len(), 1);
        assert!(!conns[0].in_flight(), "connected, nothing asked: {conns:?}");
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut req = [0u8; 25];
        s.read_exact(&mut req).unwrap();
        let conns = sock_diag(&[port]).unwrap();
        assert!(conns[0].in_flight(), "read, not answered: {conns:?}");
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        let mut resp = [0u8; 38];
        c.read_exact(&mut resp).unwrap();
        // Idle once the answer has been quiet for STREAMING_MS.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut conns = sock_diag(&[port]).unwrap();
        while conns[0].in_flight() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
            conns = sock_diag(&[port]).unwrap();
        }
        assert!(!conns[0].in_flight(), "answered: {conns:?}");
        assert_eq!(conns[0].activity.and_then(|a| a.data_segs), Some((1, 1)));
    }
}

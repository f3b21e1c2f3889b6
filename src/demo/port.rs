//! Choosing a loopback port for an exporter that will bind it later.
//!
//! The usual trick, binding port 0 and closing the listener, hands out a port
//! from the kernel's ephemeral range: the very range outgoing connections
//! take their source ports from. Between choosing and the exporter binding
//! it, a health probe or a download may take that port as its source port
//! (and its `TIME_WAIT` then holds it for a minute), and the exporter dies
//! with "address already in use". So ports are chosen *below* the ephemeral
//! range, where only listeners live, from a per-process starting point so
//! that concurrent callers (parallel tests) get different ones.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Linux's ephemeral range starts unless configured otherwise.
const DEFAULT_EPHEMERAL_LOW: u16 = 32768;
/// The lowest port handed out: above the well-known and most registered ones.
const FLOOR: u16 = 20000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now and outside the ephemeral range.
pub fn free_port() -> std::io::Result<u16> {
    let low = ephemeral_low().max(FLOOR + 1000);
    let span = u32::from(low - FLOOR);
    // Different processes start at different places; one process walks on.
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FLOOR + ((start + n) % span) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free loopback port between {FLOOR} and {low}"),
    ))
}

/// The first port of `/proc/sys/net/ipv4/ip_local_port_range`.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_LOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        for p in ports {
            assert!((FLOOR..ephemeral_low().max(FLOOR + 1000)).contains(&p), "{p}");
            TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
        }
    }

    #[test]
    fn a_taken_port_is_skipped() {
        let first = free_port().unwrap();
        // Hold the next candidate: the walk must step over it.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, first + 1));
        let second = free_port().unwrap();
        assert_ne!(second, first);
        if held.is_ok() {
            assert_ne!(second, first + 1);
        }
    }
}

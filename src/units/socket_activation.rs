//! Socket activation of generated units. An exporter built on
//! exporter-toolkit accepts `--web.systemd-socket`: it then serves on the
//! listening socket systemd passes it instead of binding its own. exporterctl
//! writes `<unit-basename>.socket` with `ListenStream=` the exporter's listen
//! address and runs the exporter with `--web.systemd-socket` in place of
//! `--web.listen-address`. The socket stays open while the service restarts,
//! so a scrape during an upgrade waits in the listen queue instead of being
//! refused.
//!
//! Whether an exporter is socket-activated: the manifest's
//! `socket_activation:` if given, else the catalogue entry's support for the
//! version; only for units exporterctl writes, under systemd.

use super::UnitSpec;
pub use crate::service::socket_unit;
use crate::service::ServiceManagerKind;
use std::net::SocketAddr;

/// The flag exporter-toolkit reads its listen address from.
pub const LISTEN_FLAG: &str = "--web.listen-address";
/// The flag that makes exporter-toolkit use the sockets systemd passes.
pub const SOCKET_FLAG: &str = "--web.systemd-socket";
/// blackbox_exporter's external URL flag, needed with a passed socket.
pub const EXTERNAL_URL_FLAG: &str = "--web.external-url";

/// What a socket-activated exporter's units are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPlan {
    /// `ListenStream=` values, in the order the arguments gave them.
    pub listen: Vec<String>,
    /// The service's arguments: the listen flags replaced by `--web.systemd-socket`.
    pub args: Vec<String>,
}

/// Is `e`'s generated unit socket-activated (under its service manager)?
pub fn enabled(e: &UnitSpec) -> bool {
    if e.service_manager != ServiceManagerKind::Systemd || !e.manage_unit {
        return false;
    }
    match e.socket_activation {
        Some(on) => on,
        None => e
            .catalogue
            .as_ref()
            .is_some_and(|c| c.accepts_systemd_socket(e.version)),
    }
}

/// The listen addresses `args` give (`--web.listen-address=A` or
/// `--web.listen-address A`; exporter-toolkit takes the flag more than once),
/// each with the index of its first argument and how many arguments it takes.
fn listen_args(args: &[String]) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some(v) = a.strip_prefix(LISTEN_FLAG).and_then(|r| r.strip_prefix('=')) {
            out.push((i, 1, v));
        } else if a == LISTEN_FLAG {
            let v = args.get(i + 1).map(String::as_str).unwrap_or_default();
            out.push((i, 2, v));
            i += 1;
        }
        i += 1;
    }
    out
}

/// Does `args` name `flag` (as `FLAG`, `FLAG=…`)?
pub fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
}

/// A listen address as `ListenStream=` takes it: `:9100` (every address)
/// becomes `9100`; `127.0.0.1:9100` and `[::1]:9100` stay IP and port.
/// systemd resolves no host names, so `localhost:9100` is refused.
pub fn listen_stream(address: &str) -> Result<String, String> {
    let shown = address.escape_debug();
    if let Some(c) = address.chars().find(|c| c.is_control()) {
        return Err(format!(
            "listen address `{shown}` contains the control character U+{:04X}",
            c as u32
        ));
    }
    if let Some(port) = address.strip_prefix(':') {
        return match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p.to_string()),
            _ => Err(format!("listen address `{shown}`: `{port}` is not a port (1-65535)")),
        };
    }
    match address.parse::<SocketAddr>() {
        Ok(a) if a.port() != 0 => Ok(a.to_string()),
        Ok(_) => Err(format!(
            "listen address `{shown}`: port 0 cannot be a socket unit's port"
        )),
        Err(_) => Err(format!(
            "listen address `{shown}` is not IP:PORT, [IPv6]:PORT or :PORT (a socket unit takes no host names)"
        )),
    }
}

/// The units of a socket-activated `e`: its listen addresses (from its
/// arguments, else the catalogue's default port on every address) and the
/// service's arguments. `Err` names what cannot be made into a socket.
pub fn plan(e: &UnitSpec) -> Result<SocketPlan, String> {
    let found = listen_args(e.args);
    let mut listen = Vec::new();
    for (_, _, v) in &found {
        listen.push(listen_stream(v)?);
    }
    let entry = &e.catalogue;
    if listen.is_empty() {
        match entry {
            Some(c) => listen.push(c.port.to_string()),
            None => {
                return Err(format!(
                    "no `{LISTEN_FLAG}=ADDRESS` in `args`, and `{}` is not in the catalogue, so its port is \
                     not known: give the address the socket should listen on",
                    e.name
                ))
            }
        }
    }
    let mut args = Vec::with_capacity(e.args.len() + 1);
    let mut skip = 0;
    for (i, a) in e.args.iter().enumerate() {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if let Some((_, n, _)) = found.iter().find(|(at, _, _)| *at == i) {
            skip = n - 1;
            continue;
        }
        args.push(a.clone());
    }
    args.push(SOCKET_FLAG.to_string());
    let needs_url = entry
        .as_ref()
        .and_then(|c| c.socket_activation.as_ref())
        .is_some_and(|s| s.external_url);
    if needs_url && !has_flag(e.args, EXTERNAL_URL_FLAG) {
        args.push(format!("{EXTERNAL_URL_FLAG}={}", external_url(&listen[0])));
    }
    Ok(SocketPlan { listen, args })
}

/// The URL under which the exporter is reached, as blackbox would infer it
/// from its own listener: the listen IP, or `localhost` for every address
/// (the exporter links to itself only in its own pages).
fn external_url(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(a) if !a.ip().is_unspecified() => format!("http://{a}/"),
        Ok(a) => format!("http://localhost:{}/", a.port()),
        Err(_) => format!("http://localhost:{listen}/"),
    }
}

/// The text of the socket unit for `exporter`'s service `unit`.
pub fn render(exporter: &str, unit: &str, listen: &[String]) -> String {
    let mut s = String::new();
    s.push_str("# Generated by exporterctl; edits are replaced by the next switch.\n");
    s.push_str("[Unit]\n");
    s.push_str(&format!(
        "Description=Listening socket of Prometheus exporter {exporter} (managed by exporterctl)\n\n"
    ));
    s.push_str("[Socket]\n");
    for l in listen {
        s.push_str(&format!("ListenStream={l}\n"));
    }
    // Bound at boot before the network may have its address; the socket
    // then works once it has.
    s.push_str("FreeBind=yes\n");
    s.push_str(&format!("Service={unit}\n\n"));
    s.push_str("[Install]\nWantedBy=sockets.target\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn listen_stream_takes_ip_port_and_port_only() {
        assert_eq!(listen_stream(":9100").unwrap(), "9100");
        assert_eq!(listen_stream("127.0.0.1:9100").unwrap(), "127.0.0.1:9100");
        assert_eq!(listen_stream("[::1]:9100").unwrap(), "[::1]:9100");
        assert_eq!(listen_stream("0.0.0.0:9115").unwrap(), "0.0.0.0:9115");
        for bad in [
            "localhost:9100",
            ":0",
            ":70000",
            ":+1",
            "127.0.0.1",
            "127.0.0.1:0",
            "",
            "[fe80::1%eth0]:9100",
            "127.0.0.1:9100\nExecStartPre=/bin/sh",
        ] {
            let e = listen_stream(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(listen_stream("1.2.3.4:1\r").unwrap_err().contains("U+000D"));
    }

    #[test]
    fn listen_args_finds_both_forms_and_repeats() {
        let a = args(&[
            "--a",
            "--web.listen-address=:9100",
            "--web.listen-address",
            "[::1]:9101",
            "--b",
        ]);
        assert_eq!(listen_args(&a), vec![(1, 1, ":9100"), (2, 2, "[::1]:9101")]);
        assert!(listen_args(&args(&["--web.listen-addressX=1"])).is_empty());
        assert!(has_flag(&args(&["--web.external-url=http://x/"]), EXTERNAL_URL_FLAG));
        assert!(has_flag(&args(&["--web.external-url", "http://x/"]), EXTERNAL_URL_FLAG));
        assert!(!has_flag(&args(&["--web.external-urls"]), EXTERNAL_URL_FLAG));
    }

    #[test]
    fn external_url_names_the_listen_ip_or_localhost() {
        assert_eq!(external_url("9115"), "http://localhost:9115/");
        assert_eq!(external_url("127.0.0.1:9115"), "http://127.0.0.1:9115/");
        assert_eq!(external_url("[::1]:9115"), "http://[::1]:9115/");
        assert_eq!(external_url("0.0.0.0:9115"), "http://localhost:9115/");
    }

    #[test]
    fn socket_unit_pairs_by_name() {
        assert_eq!(socket_unit("node_exporter.service"), "node_exporter.socket");
        assert_eq!(socket_unit("x@a.b.service"), "x@a.b.socket");
    }

    #[test]
    fn render_lists_every_address() {
        let text = render("n", "n.service", &["9100".into(), "[::1]:9101".into()]);
        assert!(
            text.contains("[Socket]\nListenStream=9100\nListenStream=[::1]:9101\n"),
            "{text}"
        );
        assert!(text.contains("Service=n.service\n"), "{text}");
        assert!(text.ends_with("[Install]\nWantedBy=sockets.target\n"), "{text}");
    }
}

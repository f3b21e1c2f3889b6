//! The preflight copy of an exporter must not take the running one's port:
//! its arguments are the host's own with every listen address replaced by
//! one free loopback address. The flags are those `switch::drain` reads the
//! port from: exporter-toolkit's `--web.listen-address` (which exporters
//! before exporter-toolkit spelt with one dash) and the demo exporter's
//! `--listen`. A passed socket (`--web.systemd-socket`) is dropped: the copy
//! binds its own.

use crate::units::socket_activation::SOCKET_FLAG;

/// Flags that carry a listen address, as `FLAG=ADDR` or `FLAG ADDR`.
pub const LISTEN_FLAGS: [&str; 3] = ["--web.listen-address", "-web.listen-address", "--listen"];

/// `args` with every listen address replaced by `address`; without any
/// listen flag, `--web.listen-address=ADDRESS` is added when `default_port`
/// says the exporter listens on a known port by default (a catalogue entry),
/// else `Err` says why the copy cannot be placed.
pub fn rewrite(args: &[String], address: &str, default_port: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(args.len() + 1);
    let mut replaced = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == SOCKET_FLAG || a.strip_prefix(SOCKET_FLAG).is_some_and(|r| r.starts_with('=')) {
            continue;
        }
        let flag = LISTEN_FLAGS
            .iter()
            .find(|f| a == *f || a.strip_prefix(**f).is_some_and(|r| r.starts_with('=')));
        let Some(flag) = flag else {
            out.push(a.clone());
            continue;
        };
        if a == flag {
            // `FLAG ADDR`: the address is the next argument.
            i += 1;
        }
        if !replaced {
            out.push(format!("{flag}={address}"));
            replaced = true;
        }
    }
    if !replaced {
        if !default_port {
            return Err(format!(
                "no listen flag ({}) in `args` and no known default port: the copy cannot be placed \
                 beside the running exporter; give the listen address in `args`, or `preflight: false`",
                LISTEN_FLAGS.join(", ")
            ));
        }
        out.push(format!("{}={address}", LISTEN_FLAGS[0]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_spelling_of_the_listen_flag_is_replaced_once() {
        let to = "127.0.0.1:40000";
        assert_eq!(
            rewrite(&v(&["--a", "--web.listen-address=:9100", "--b"]), to, false).unwrap(),
            v(&["--a", "--web.listen-address=127.0.0.1:40000", "--b"])
        );
        assert_eq!(
            rewrite(&v(&["--listen", "127.0.0.1:9", "--x"]), to, false).unwrap(),
            v(&["--listen=127.0.0.1:40000", "--x"])
        );
        // exporter-toolkit takes the flag more than once: the copy listens once.
        assert_eq!(
            rewrite(
                &v(&["--web.listen-address=:1", "--web.listen-address", "[::1]:1"]),
                to,
                false
            )
            .unwrap(),
            v(&["--web.listen-address=127.0.0.1:40000"])
        );
        assert_eq!(
            rewrite(&v(&["-web.listen-address=:9113"]), to, false).unwrap(),
            v(&["-web.listen-address=127.0.0.1:40000"])
        );
    }

    #[test]
    fn a_passed_socket_is_dropped_and_a_default_port_gets_a_flag() {
        assert_eq!(
            rewrite(&v(&["--web.systemd-socket", "--x"]), "127.0.0.1:5", true).unwrap(),
            v(&["--x", "--web.listen-address=127.0.0.1:5"])
        );
        let e = rewrite(&v(&["--x"]), "127.0.0.1:5", false).unwrap_err();
        assert!(e.contains("preflight: false"), "{e}");
    }

    #[test]
    fn a_flag_that_only_starts_like_a_listen_flag_is_kept() {
        assert_eq!(
            rewrite(&v(&["--listener=x", "--listen=:1"]), "127.0.0.1:5", false).unwrap(),
            v(&["--listener=x", "--listen=127.0.0.1:5"])
        );
    }
}

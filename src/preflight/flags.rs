//! What the catalogue knows of an exporter's command-line changes
//! (`flag_changes`), applied to one exporter's arguments and environment:
//! which change hits them at the target version, and the arguments to use
//! instead. `check`, the dry run and preflight print the same advice.

use crate::catalogue::{Entry, FlagChange};
use std::collections::BTreeMap;

pub use crate::generation::preflight::Advice;

/// Every catalogued change that hits `args`/`environment` at `version`.
pub fn advise(entry: &Entry, version: &str, args: &[String], environment: &BTreeMap<String, String>) -> Vec<Advice> {
    entry
        .flag_changes
        .iter()
        .filter(|c| c.applies_to(version))
        .filter_map(|c| apply(c, args, environment))
        .collect()
}

fn apply(c: &FlagChange, args: &[String], environment: &BTreeMap<String, String>) -> Option<Advice> {
    if let Some(flag) = &c.flag {
        let mut found = None;
        let mut out = Vec::with_capacity(args.len());
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            let value = if a == flag {
                i += 1;
                args.get(i - 1).cloned()
            } else if let Some(v) = a.strip_prefix(flag.as_str()).and_then(|r| r.strip_prefix('=')) {
                Some(v.to_string())
            } else {
                out.push(a.clone());
                continue;
            };
            found.get_or_insert_with(|| match &value {
                Some(v) if a == flag => format!("{a} {v}"),
                _ => a.clone(),
            });
            if let (Some(to), Some(v)) = (&c.to, value) {
                let v = match &c.value {
                    Some(t) => t.replace("{value}", &v),
                    None => v,
                };
                out.push(format!("{to}={v}"));
            }
        }
        return found.map(|found| Advice {
            note: c.note.clone(),
            breaking: true,
            found,
            args: out,
        });
    }
    if let Some(var) = &c.env {
        environment.contains_key(var).then(|| {
            let mut out = args.to_vec();
            if let Some(to) = &c.to {
                out.push(format!("{to}=PATH"));
            }
            Advice {
                note: c.note.clone(),
                breaking: true,
                found: var.clone(),
                args: out,
            }
        })
    } else if c.single_dash {
        let single: Vec<&String> = args
            .iter()
            .filter(|a| a.len() > 1 && a.starts_with('-') && !a.starts_with("--"))
            .collect();
        (!single.is_empty()).then(|| Advice {
            note: c.note.clone(),
            breaking: false,
            found: single.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            args: args
                .iter()
                .map(|a| {
                    if a.len() > 1 && a.starts_with('-') && !a.starts_with("--") {
                        format!("-{a}")
                    } else {
                        a.clone()
                    }
                })
                .collect(),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fail2ban_0_6_renamed_socket_and_folded_port() {
        let e = Catalogue::builtin().get("fail2ban_exporter").unwrap();
        let args = v(&["--socket", "/run/fail2ban/fail2ban.sock", "--port=9191"]);
        let none = BTreeMap::new();
        assert!(advise(e, "0.5.0", &args, &none).is_empty(), "0.5 still reads them");
        let a = advise(e, "0.10.3", &args, &none);
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a.iter().all(|a| a.breaking));
        assert_eq!(a[0].found, "--socket /run/fail2ban/fail2ban.sock");
        assert_eq!(
            a[0].args,
            v(&["--collector.f2b.socket=/run/fail2ban/fail2ban.sock", "--port=9191"])
        );
        assert_eq!(
            a[1].args,
            v(&["--socket", "/run/fail2ban/fail2ban.sock", "--web.listen-address=:9191"])
        );
        let line = a[0].line("fail2ban_exporter", "0.10.3");
        assert!(line.contains("renamed --socket to --collector.f2b.socket"), "{line}");
        assert!(
            line.contains("\"--collector.f2b.socket=/run/fail2ban/fail2ban.sock\""),
            "{line}"
        );
        assert!(advise(e, "0.10.3", &v(&["--collector.f2b.socket=/x"]), &none).is_empty());
    }

    #[test]
    fn nginx_1_warns_on_single_dash_flags() {
        let e = Catalogue::builtin().get("nginx_exporter").unwrap();
        let args = v(&[
            "-nginx.scrape-uri=http://127.0.0.1:8080/stub_status",
            "--web.telemetry-path=/m",
        ]);
        let a = advise(e, "1.5.1", &args, &BTreeMap::new());
        assert_eq!(a.len(), 1);
        assert!(!a[0].breaking);
        assert_eq!(a[0].args[0], "--nginx.scrape-uri=http://127.0.0.1:8080/stub_status");
        assert!(advise(e, "0.11.0", &args, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn mysqld_0_15_dropped_data_source_name() {
        let e = Catalogue::builtin().get("mysqld_exporter").unwrap();
        let env = BTreeMap::from([("DATA_SOURCE_NAME".to_string(), "u:p@(localhost:3306)/".to_string())]);
        let a = advise(e, "0.18.0", &v(&[]), &env);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].found, "DATA_SOURCE_NAME");
        assert_eq!(a[0].args, v(&["--config.my-cnf=PATH"]));
        assert!(
            !a[0].line("mysqld_exporter", "0.18.0").contains("u:p@"),
            "never the value"
        );
        assert!(advise(e, "0.14.0", &v(&[]), &env).is_empty());
    }
}

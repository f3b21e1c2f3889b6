//! The automation contract fleet tools rely on (docs/json.md, issue 10):
//! `schema` in every JSON document, rollout ids, `rollback --rollout`, the
//! manifest on stdin. Through the real CLI on the `process` manager.

mod common;

use common::fixture::{free_port, served_version, Behaviour, Fixture};
use serde_json::Value;
use std::io::Write;
use std::process::{Output, Stdio};

const N: &str = "test_exporter";

fn with_stdin(f: &Fixture, args: &[&str], input: &[u8]) -> Output {
    let mut child = f
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A child that refuses early closes the pipe: a short write is its answer.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_rollout_id_is_recorded_and_rollback_rollout_returns_to_the_generation_before_it() {
    let mut f = Fixture::new();
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        f.publish(N, v, Behaviour::Ok);
    }
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(N, "2.0.0", port)]);
    let m3 = f.manifest("m3.yaml", &[f.entry(N, "3.0.0", port)]);
    let (m1, m2, m3) = (m1.to_str().unwrap(), m2.to_str().unwrap(), m3.to_str().unwrap());

    f.ok(&["switch", m1, "--mode", "fast"]);
    // A rollout that never reached this host: nothing to do, exit 0.
    let noop = f.json(&["rollback", "--rollout", "r-1"]);
    assert_eq!(noop["nothing_to_do"], true, "{noop}");
    assert_eq!(f.json(&["status"])["current_generation"], 1);

    let rec = f.json(&["switch", m2, "--mode", "fast", "--rollout-id", "r-1"]);
    assert_eq!(rec["rollout_id"], "r-1");
    assert_eq!(rec["result_generation"], 2);
    let gen2: Value =
        serde_json::from_str(&std::fs::read_to_string(f.state().join("generations/2.json")).unwrap()).unwrap();
    assert_eq!(gen2["rollout_id"], "r-1");
    // A later rollout moves the host on; rolling back r-1 goes to before r-1.
    f.ok(&["switch", m3, "--mode", "fast", "--rollout-id", "r-2"]);
    assert_eq!(served_version(N, port).as_deref(), Some("3.0.0"));

    let back = f.json(&["rollback", "--rollout", "r-1"]);
    assert_eq!(back["kind"], "rollback");
    assert_eq!(back["rollout_id"], "r-1");
    assert_eq!(back["target_generation"], 1);
    assert_eq!(f.json(&["status"])["current_generation"], 1);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    // Already rolled back: nothing to do, nothing restarted.
    let pid = f.pid(N);
    let again = f.json(&["rollback", "--rollout", "r-1"]);
    assert_eq!(again["nothing_to_do"], true, "{again}");
    assert_eq!(f.pid(N), pid);
}

#[test]
fn a_failed_switch_of_a_rollout_leaves_nothing_to_roll_back() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    f.publish(N, "2.0.0", Behaviour::Crash);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(N, "2.0.0", port)]);
    f.ok(&["switch", m1.to_str().unwrap(), "--mode", "fast"]);
    let failing_switch = |id: &str, extra: &[&str]| -> Value {
        let mut args = vec![
            "switch",
            m2.to_str().unwrap(),
            "--mode",
            "fast",
            "--json",
            "--rollout-id",
            id,
        ];
        args.extend(extra);
        serde_json::from_str(&f.expect(&args, 1)).unwrap()
    };
    // Failed by the health check: a record.
    let rec = failing_switch("bad", &["--preflight", "off"]);
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["rollout_id"], "bad");
    assert_eq!(f.json(&["rollback", "--rollout", "bad"])["nothing_to_do"], true);
    assert_eq!(f.json(&["status"])["current_generation"], 1);
    // Under the default preflight the same switch is refused before any
    // record: the preflight's document, and nothing to roll back either.
    let doc = failing_switch("refused", &[]);
    assert_eq!(doc["schema"], "exporterctl/preflight/v1");
    assert_eq!(doc["refused_steps"], serde_json::json!([N]));
    assert_eq!(f.json(&["rollback", "--rollout", "refused"])["nothing_to_do"], true);
    assert_eq!(f.json(&["status"])["current_generation"], 1);
}

#[test]
fn rollout_ids_are_validated_before_anything_happens() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", free_port())]);
    for bad in ["", "-x", "a/b", "a b", &"x".repeat(65)] {
        let out = f.expect(
            &["switch", m1.to_str().unwrap(), "--mode", "fast", "--rollout-id", bad],
            2,
        );
        assert!(out.is_empty(), "{out}");
        f.expect(&["rollback", "--rollout", bad], 2);
    }
    assert!(!f.state().join("generations").exists(), "nothing was switched");
    f.expect(&["rollback", "--rollout", "a", "--to", "1"], 2);
}

#[test]
fn the_manifest_can_come_from_stdin() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let text = std::fs::read(&m1).unwrap();
    // A lock file named after `-` in the working directory is not read.
    let plan = stdout_json(&with_stdin(&f, &["switch", "--dry-run", "--json", "-"], &text));
    assert_eq!(plan["schema"], "exporterctl/plan/v1");
    assert_eq!(plan["nothing_to_do"], false);
    assert_eq!(plan["steps"][0]["name"], N);
    assert!(!f.state().join("generations").exists(), "a dry run changes nothing");

    let out = with_stdin(&f, &["switch", "--mode", "fast", "--json", "-"], &text);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rec = stdout_json(&out);
    assert_eq!(rec["result_generation"], 1);
    assert_eq!(served_version(N, port).as_deref(), Some("1.0.0"));
    let plan = stdout_json(&with_stdin(&f, &["switch", "--dry-run", "--json", "-"], &text));
    assert_eq!(plan["nothing_to_do"], true);

    // Bad input on stdin is exit 2, naming stdin.
    let out = with_stdin(&f, &["switch", "--mode", "fast", "-"], b"exporters: 3\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains('-'));
    let big = vec![b'#'; 1024 * 1024 + 1];
    let out = with_stdin(&f, &["switch", "--mode", "fast", "-"], &big);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The field names docs/json.md lists per schema: rows `| `path` | … |`
/// under a heading naming the schema in backticks.
fn documented_fields() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            if let Some(schema) = h.split('`').nth(1).filter(|s| s.starts_with("exporterctl/")) {
                out.push((schema.to_string(), Vec::new()));
            }
        } else if let (Some(rest), Some(last)) = (line.strip_prefix("| `"), out.last_mut()) {
            if let Some(field) = rest.split('`').next() {
                last.1.push(field.to_string());
            }
        }
    }
    out
}

/// `path` (`a`, `a.b`, `a[].b`: the first element) in `v`: present, even if null.
fn has_path(v: &Value, path: &str) -> bool {
    let mut cur = v;
    for part in path.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        let Some(next) = cur.get(key) else { return false };
        cur = if each {
            match next.as_array().and_then(|a| a.first()) {
                Some(first) => first,
                None => return false,
            }
        } else {
            next
        };
    }
    true
}

#[test]
fn every_field_docs_json_lists_appears_in_real_output() {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    f.publish(N, "2.0.0", Behaviour::Crash);
    let port = free_port();
    let m1 = f.manifest("m1.yaml", &[f.entry(N, "1.0.0", port)]);
    let m2 = f.manifest("m2.yaml", &[f.entry(N, "2.0.0", port)]);
    let (m1, m2) = (m1.to_str().unwrap(), m2.to_str().unwrap());

    let mut samples: Vec<Value> = Vec::new();
    samples.push(f.json(&["switch", "--dry-run", m1]));
    samples.push(f.json(&["switch", m1, "--mode", "fast", "--rollout-id", "doc-1"]));
    samples.push(f.json(&["switch", m1, "--mode", "fast"]));
    // Refused by the default preflight (exporterctl/preflight/v1), then
    // failed by the health check (a record).
    let refused = f.expect(&["switch", m2, "--mode", "fast", "--json"], 1);
    samples.push(serde_json::from_str(&refused).unwrap());
    let failed = f.expect(&["switch", m2, "--mode", "fast", "--json", "--preflight", "off"], 1);
    samples.push(serde_json::from_str(&failed).unwrap());
    let preflight = f.expect(&["preflight", m2, "--json"], 1);
    samples.push(serde_json::from_str(&preflight).unwrap());
    samples.push(f.json(&["status"]));
    samples.push(f.json(&["generations"]));
    // A damaged journal set aside by `resume --abort`: the no-record shape.
    std::fs::write(f.state().join("journal.json"), "{").unwrap();
    let aside = f.json(&["resume", "--abort"]);
    assert_eq!(aside["aborted_damaged_journal"], true, "{aside}");
    samples.push(aside);

    let docs = documented_fields();
    let schemas: Vec<&str> = docs.iter().map(|(s, _)| s.as_str()).collect();
    for s in [
        "exporterctl/record/v1",
        "exporterctl/plan/v1",
        "exporterctl/preflight/v1",
        "exporterctl/status/v1",
        "exporterctl/generations/v1",
    ] {
        assert!(schemas.contains(&s), "docs/json.md has no section for {s}: {schemas:?}");
    }
    for (schema, fields) in &docs {
        let of_schema: Vec<&Value> = samples.iter().filter(|v| v["schema"] == schema.as_str()).collect();
        assert!(!of_schema.is_empty(), "no sample output has schema {schema}");
        assert!(fields.len() > 3, "{schema}: too few fields parsed: {fields:?}");
        for field in fields {
            assert!(
                of_schema.iter().any(|v| has_path(v, field)),
                "docs/json.md: {schema} field `{field}` is in no real output: {of_schema:#?}"
            );
        }
        // And the other way round for the top level: nothing undocumented.
        for v in &of_schema {
            for key in v.as_object().unwrap().keys() {
                assert!(
                    fields.iter().any(|fl| fl == key),
                    "{schema}: top-level field `{key}` is not in docs/json.md"
                );
            }
        }
    }
}

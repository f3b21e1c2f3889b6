//! The automation contract for fleet tools (Ansible, see `contrib/ansible/`):
//! rollout ids, the manifest read from stdin, and the `schema` field of every
//! JSON document a machine reads (`docs/json.md`).

use crate::generation::history::{SwitchRecord, SwitchStatus};
use std::io::Read;

/// `schema` of the record `switch`, `rollback` and `resume` print with `--json`
/// (also when there was nothing to do).
pub const SCHEMA_RECORD: &str = "exporterctl/record/v1";
/// `schema` of `switch --dry-run --json` (the plan).
pub const SCHEMA_PLAN: &str = "exporterctl/plan/v1";
/// `schema` of `preflight --json`, and of `switch --json` when
/// `--preflight require` refused the switch.
pub const SCHEMA_PREFLIGHT: &str = "exporterctl/preflight/v1";
/// `schema` of `status --json`.
pub const SCHEMA_STATUS: &str = "exporterctl/status/v1";
/// `schema` of `generations --json`.
pub const SCHEMA_GENERATIONS: &str = "exporterctl/generations/v1";

/// The longest rollout id: long enough for a timestamp plus a name, short
/// enough to print in a table.
pub const MAX_ROLLOUT_ID_LEN: usize = 64;

/// The most a manifest read from stdin may hold: manifests are a few KiB; a
/// runaway pipe must not fill memory.
pub const MAX_STDIN_MANIFEST: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RolloutIdError {
    #[error("rollout id is empty")]
    Empty,
    #[error("rollout id is {len} characters long; at most {MAX_ROLLOUT_ID_LEN} are allowed")]
    TooLong { len: usize },
    #[error(
        "rollout id `{id}` has the character {ch:?}; allowed are letters, digits, `.`, `_`, `-` and `:`, \
         starting with a letter or digit"
    )]
    BadChar { id: String, ch: char },
}

/// Checks a rollout id: 1–64 ASCII letters, digits, `.`, `_`, `-`, `:`,
/// starting with a letter or digit. It is stored in records and printed,
/// so nothing that could read as an option, a path or a control sequence.
pub fn validate_rollout_id(id: &str) -> Result<(), RolloutIdError> {
    let len = id.chars().count();
    if len == 0 {
        return Err(RolloutIdError::Empty);
    }
    if len > MAX_ROLLOUT_ID_LEN {
        return Err(RolloutIdError::TooLong { len });
    }
    for (i, ch) in id.chars().enumerate() {
        let ok = ch.is_ascii_alphanumeric() || (i > 0 && matches!(ch, '.' | '_' | '-' | ':'));
        if !ok {
            return Err(RolloutIdError::BadChar {
                id: id.escape_debug().to_string(),
                ch,
            });
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    #[error("reading the manifest from stdin: {0}")]
    Io(#[from] std::io::Error),
    #[error("the manifest on stdin is larger than {MAX_STDIN_MANIFEST} bytes")]
    TooLarge,
    #[error("the manifest on stdin is not UTF-8")]
    NotUtf8,
}

/// Reads a manifest from `input` (stdin), at most [`MAX_STDIN_MANIFEST`] bytes.
pub fn read_manifest(input: impl Read) -> Result<String, StdinError> {
    let mut bytes = Vec::new();
    input.take(MAX_STDIN_MANIFEST + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STDIN_MANIFEST {
        return Err(StdinError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| StdinError::NotUtf8)
}

/// Where `rollback --rollout ID` goes.
#[derive(Debug, PartialEq, Eq)]
pub enum RolloutTarget {
    /// The rollout never switched this host (no record carries its id).
    NeverReached,
    /// The rollout's first switch here started from no generation at all:
    /// there is nothing to return to.
    NoGenerationBefore { switch_id: String },
    /// Return to this generation (the one current before the rollout's
    /// first switch on this host); the caller compares it with the current.
    Generation { number: u64, switch_id: String },
}

/// The generation that was current before rollout `id` first switched this
/// host: its earliest `switch` record carrying the id (`records` oldest
/// first, as [`crate::generation::history::History::list`] gives them). A
/// switch of the rollout that was refused or failed as a whole still started
/// from that generation, so it counts the same.
pub fn rollback_target(records: &[SwitchRecord], id: &str) -> RolloutTarget {
    let first = records
        .iter()
        .filter(|r| r.kind == "switch" && r.rollout_id.as_deref() == Some(id))
        .find(|r| r.status != SwitchStatus::Running);
    match first {
        None => RolloutTarget::NeverReached,
        Some(r) => match r.from_generation {
            None => RolloutTarget::NoGenerationBefore {
                switch_id: r.id.clone(),
            },
            Some(number) => RolloutTarget::Generation {
                number,
                switch_id: r.id.clone(),
            },
        },
    }
}

/// `value` (a JSON object, or `null` for "nothing to do") with `schema`
/// first. `null` becomes `{"schema", "nothing_to_do": true, "message"}` so a
/// consumer always gets an object; a record gets `"nothing_to_do": false`.
pub fn with_schema(schema: &str, value: serde_json::Value, message: Option<&str>) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("schema".into(), schema.into());
    match value {
        serde_json::Value::Object(fields) => {
            if schema == SCHEMA_RECORD {
                out.insert("nothing_to_do".into(), false.into());
            }
            out.extend(fields);
        }
        serde_json::Value::Null => {
            out.insert("nothing_to_do".into(), true.into());
            out.insert("message".into(), message.unwrap_or_default().into());
        }
        other => {
            out.insert("value".into(), other);
        }
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_ids_are_bounded_and_plain() {
        for ok in ["r1", "2026-11-29T22:30:00Z", "web.canary_1", &"a".repeat(64)] {
            assert_eq!(validate_rollout_id(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_rollout_id(""), Err(RolloutIdError::Empty));
        assert_eq!(
            validate_rollout_id(&"a".repeat(65)),
            Err(RolloutIdError::TooLong { len: 65 })
        );
        for bad in ["-r", ".r", "r/1", "r 1", "r\n", "r;x", "é", "r$x"] {
            assert!(
                matches!(validate_rollout_id(bad), Err(RolloutIdError::BadChar { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn stdin_manifests_are_bounded() {
        let max = usize::try_from(MAX_STDIN_MANIFEST).unwrap();
        assert_eq!(read_manifest(&b"exporters: []\n"[..]).unwrap(), "exporters: []\n");
        assert_eq!(read_manifest(&vec![b'#'; max][..]).unwrap().len(), max);
        assert!(matches!(
            read_manifest(&vec![b'#'; max + 1][..]),
            Err(StdinError::TooLarge)
        ));
        assert!(matches!(read_manifest(&[0xff, 0xfe][..]), Err(StdinError::NotUtf8)));
    }

    #[test]
    fn schema_is_added_to_records_and_to_nothing_to_do() {
        let v = with_schema(SCHEMA_RECORD, serde_json::json!({"id": "x"}), None);
        assert_eq!(v["schema"], SCHEMA_RECORD);
        assert_eq!(v["nothing_to_do"], false);
        assert_eq!(v["id"], "x");
        let v = with_schema(SCHEMA_RECORD, serde_json::Value::Null, Some("nothing to do"));
        assert_eq!(v["nothing_to_do"], true);
        assert_eq!(v["message"], "nothing to do");
        let v = with_schema(SCHEMA_STATUS, serde_json::json!({"a": 1}), None);
        assert!(v.get("nothing_to_do").is_none());
    }
}

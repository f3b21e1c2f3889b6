//! Expected samples from the manifest: `nginx_up 1`,
//! `phpfpm_up{pool="www"} 1`. A sample matches when the name is the same,
//! every label given is there with the same value (other labels are
//! ignored), and the value is equal (`NaN` matches `NaN`).

use super::text::{self, format_value, Sample};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses one `expect:` entry; the error says what is wrong, for the
/// manifest validator to report with the file and line.
pub fn parse_expectation(s: &str) -> Result<Expectation, String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err("empty expectation; write e.g. `nginx_up 1`".into());
    }
    if trimmed.starts_with('#') {
        return Err(format!("`{s}` is a comment, not a sample like `nginx_up 1`"));
    }
    let sample = text::parse_line(trimmed).map_err(|e| format!("`{s}` is not a sample like `nginx_up 1`: {e}"))?;
    if sample.timestamp.is_some() {
        return Err(format!("`{s}`: an expectation has no timestamp"));
    }
    Ok(Expectation {
        name: sample.name.into_owned(),
        labels: sample
            .labels
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        value: sample.value,
    })
}

/// One `expect:` entry, parsed once — when the manifest is loaded or a
/// `state.json` is read — not on every poll. Written back (state.json) as
/// the text it was written as, so a farm's hash does not change.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Expect {
    text: String,
    parsed: Expectation,
}

impl Expect {
    pub fn parse(text: &str) -> Result<Expect, String> {
        Ok(Expect {
            parsed: parse_expectation(text)?,
            text: text.to_string(),
        })
    }

    /// As written in the manifest.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn expectation(&self) -> &Expectation {
        &self.parsed
    }
}

/// Two entries are the same when they are written the same (as state.json
/// compares them).
impl PartialEq for Expect {
    fn eq(&self, other: &Expect) -> bool {
        self.text == other.text
    }
}

impl Eq for Expect {}

impl PartialEq<String> for Expect {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl PartialEq<&str> for Expect {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl From<Expect> for String {
    fn from(e: Expect) -> String {
        e.text
    }
}

impl TryFrom<String> for Expect {
    type Error = String;
    fn try_from(text: String) -> Result<Expect, String> {
        Expect::parse(&text)
    }
}

impl Expectation {
    /// Name and every given label match (the value is not looked at).
    pub fn selects(&self, s: &Sample<'_>) -> bool {
        s.name == self.name.as_str() && self.labels.iter().all(|(k, v)| s.label(k) == Some(v.as_str()))
    }

    pub fn matches(&self, s: &Sample<'_>) -> bool {
        self.selects(s) && (s.value == self.value || (s.value.is_nan() && self.value.is_nan()))
    }

    /// Is some sample a match?
    pub fn is_met(&self, samples: &[Sample<'_>]) -> bool {
        samples.iter().any(|s| self.matches(s))
    }

    /// What the body has instead, for the failure message: `nginx_up is 0`,
    /// `no nginx_up sample at all`, `nginx_up{pool="www"} not there; seen:
    /// nginx_up{pool="api"} 1`.
    pub fn describe_mismatch(&self, samples: &[Sample<'_>]) -> String {
        let selected: Vec<&Sample<'_>> = samples.iter().filter(|s| self.selects(s)).collect();
        if !selected.is_empty() {
            let values: Vec<String> = selected.iter().take(3).map(|s| format_value(s.value)).collect();
            let more = if selected.len() > 3 { ", …" } else { "" };
            return format!("{} is {}{more}", self.series(), values.join(", "));
        }
        let seen: Vec<String> = samples
            .iter()
            .filter(|s| s.name == self.name.as_str())
            .take(3)
            .map(|s| s.to_string())
            .collect();
        if seen.is_empty() {
            format!("no {} metric at all", self.name)
        } else {
            format!("no {} sample; seen: {}", self.series(), seen.join(", "))
        }
    }

    /// `name{k="v"}` without the value.
    pub fn series(&self) -> String {
        let mut out = String::new();
        let _ = text::write_series(
            &mut out,
            &self.name,
            self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        out
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.series(), format_value(self.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::text::parse;

    #[test]
    fn parses_plain_and_labelled() {
        let e = parse_expectation("nginx_up 1").unwrap();
        assert_eq!((e.name.as_str(), e.labels.len(), e.value), ("nginx_up", 0, 1.0));
        let e = parse_expectation(r#"  phpfpm_up{pool="www"} 1 "#).unwrap();
        assert_eq!(e.labels, vec![("pool".to_string(), "www".to_string())]);
        assert_eq!(e.to_string(), r#"phpfpm_up{pool="www"} 1"#);
    }

    #[test]
    fn rejects_bad_expectations_with_a_reason() {
        for (bad, why) in [
            ("", "empty"),
            ("nginx_up", "missing value"),
            ("nginx_up one", "not a number"),
            ("nginx_up{pool=www} 1", "quoted value"),
            ("nginx_up 1 123", "timestamp"),
            ("# nginx_up 1", "comment"),
            ("nginx up 1", "not a number"),
        ] {
            let e = parse_expectation(bad).unwrap_err();
            assert!(e.contains(why), "`{bad}`: {e}");
        }
    }

    #[test]
    fn matching_rules() {
        let body = "nginx_up 1\nphpfpm_up{pool=\"www\",scrape_uri=\"tcp://x\"} 1\nphpfpm_up{pool=\"api\"} 0\nm NaN\n";
        let samples = parse(body).unwrap();
        let ok = |s: &str| parse_expectation(s).unwrap().is_met(&samples);
        assert!(ok("nginx_up 1"));
        assert!(ok("nginx_up 1.0"));
        assert!(!ok("nginx_up 0"));
        assert!(
            ok(r#"phpfpm_up{pool="www"} 1"#),
            "extra labels on the sample are ignored"
        );
        assert!(ok(r#"phpfpm_up{pool="api"} 0"#));
        assert!(!ok(r#"phpfpm_up{pool="api"} 1"#));
        assert!(!ok(r#"phpfpm_up{pool="www",other="x"} 1"#));
        assert!(ok("phpfpm_up 1"), "no labels given: any series of the metric");
        assert!(ok("m NaN"));
        assert!(!ok("nginx_upx 1"));
    }

    #[test]
    fn mismatch_descriptions() {
        let samples = parse("nginx_up 0\nphpfpm_up{pool=\"api\"} 1\n").unwrap();
        let d = |s: &str| parse_expectation(s).unwrap().describe_mismatch(&samples);
        assert_eq!(d("nginx_up 1"), "nginx_up is 0");
        assert_eq!(d("mysql_up 1"), "no mysql_up metric at all");
        assert_eq!(
            d(r#"phpfpm_up{pool="www"} 1"#),
            r#"no phpfpm_up{pool="www"} sample; seen: phpfpm_up{pool="api"} 1"#
        );
    }
}

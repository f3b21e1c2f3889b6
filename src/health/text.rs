//! A small Prometheus text-format (0.0.4) parser: just enough to find
//! samples by name, labels and value. Our own code, because the crates
//! available either leave `\"` escaped or reject valid node_exporter bodies.
//!
//! Accepted per line, after optional blanks:
//! - empty lines and `#` lines (HELP, TYPE, comments, `# EOF`): skipped;
//! - `name value [timestamp]`, `name{label="v",…} value [timestamp]`, with
//!   spaces or tabs between tokens and around label pairs, an optional
//!   trailing comma in the label set, `\r\n` line ends, and an OpenMetrics
//!   exemplar (` # {…} v`) after the value that is ignored;
//! - UTF-8 names quoted inside the braces (`{"my.metric",le="1"} 2`), as
//!   exposition format 1.0 allows.
//!
//! Label values unescape `\\`, `\"` and `\n`; another escaped character is
//! kept as written. Values follow Go's `ParseFloat` (`NaN`, `+Inf`, `-Inf`,
//! `1e+06`). Timestamps are integer milliseconds.

use std::borrow::Cow;
use std::fmt;

/// One sample. Borrows from the body; only label values (and quoted names)
/// that contain escapes are copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: Cow<'a, str>,
    pub labels: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub value: f64,
    pub timestamp: Option<i64>,
}

impl Sample<'_> {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }
}

/// Writes the sample back in text format (`name{a="b"} 1`).
impl fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_series(f, &self.name, self.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
        write!(f, " {}", format_value(self.value))
    }
}

/// Writes `name{k="v",…}` with label values escaped (no braces without labels).
pub(crate) fn write_series<'x>(
    f: &mut impl fmt::Write,
    name: &str,
    labels: impl Iterator<Item = (&'x str, &'x str)>,
) -> fmt::Result {
    f.write_str(name)?;
    let mut first = true;
    for (k, v) in labels {
        f.write_str(if first { "{" } else { "," })?;
        first = false;
        write!(f, "{k}=\"")?;
        for c in v.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        f.write_str("\"")?;
    }
    if !first {
        f.write_str("}")?;
    }
    Ok(())
}

/// Formats a value as Prometheus does: `1`, `0.5`, `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Parses a whole body. The first malformed line is an error, as it is for
/// Prometheus, which would fail the scrape.
pub fn parse(body: &str) -> Result<Vec<Sample<'_>>, ParseError> {
    let mut samples = Vec::with_capacity(body.len() / 64);
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(trimmed) {
            Ok(s) => samples.push(s),
            Err(message) => return Err(ParseError { line: i + 1, message }),
        }
    }
    Ok(samples)
}

/// Parses one sample line (no comment handling): `name{labels} value [ts]`.
pub fn parse_line(line: &str) -> Result<Sample<'_>, String> {
    let mut c = Cursor { s: line, pos: 0 };
    c.skip_blanks();
    let mut name: Option<Cow<'_, str>> = match c.peek() {
        Some(b'{') => None,
        Some(b) if is_name_start(b, true) => Some(Cow::Borrowed(c.name(true))),
        Some(_) => return Err(format!("expected a metric name at `{}`", c.rest_preview())),
        None => return Err("empty sample".into()),
    };
    let mut labels = Vec::new();
    let braces = c.peek() == Some(b'{');
    if braces {
        c.pos += 1;
        loop {
            c.skip_blanks();
            let quoted_key = c.peek() == Some(b'"');
            let key: Cow<'_, str> = match c.peek() {
                Some(b'}') => {
                    c.pos += 1;
                    break;
                }
                Some(b'"') => {
                    c.pos += 1;
                    c.quoted()?
                }
                Some(b) if is_name_start(b, false) => Cow::Borrowed(c.name(false)),
                Some(_) => return Err(format!("expected a label name at `{}`", c.rest_preview())),
                None => return Err("unterminated label set: missing `}`".into()),
            };
            c.skip_blanks();
            if quoted_key && name.is_none() && labels.is_empty() && matches!(c.peek(), Some(b',' | b'}')) {
                // `{"metric.name", …}`: a quoted metric name first in the braces.
                name = Some(key);
            } else {
                if c.peek() != Some(b'=') {
                    return Err(format!("expected `=` after label `{key}`"));
                }
                c.pos += 1;
                c.skip_blanks();
                if c.peek() != Some(b'"') {
                    return Err(format!("label `{key}`: expected a quoted value"));
                }
                c.pos += 1;
                let value = c.quoted()?;
                labels.push((key, value));
                c.skip_blanks();
            }
            match c.peek() {
                Some(b',') => c.pos += 1,
                Some(b'}') => {
                    c.pos += 1;
                    break;
                }
                Some(_) => {
                    let after = labels
                        .last()
                        .map(|(k, _)| format!(" after label `{k}`"))
                        .unwrap_or_default();
                    return Err(format!("expected `,` or `}}`{after} at `{}`", c.rest_preview()));
                }
                None => return Err("unterminated label set: missing `}`".into()),
            }
        }
    }
    let Some(name) = name else {
        return Err("sample without a metric name".into());
    };
    if !c.skip_blanks() && c.peek().is_some() && !braces {
        return Err(format!("invalid character in metric name at `{}`", c.rest_preview()));
    }
    let value_token = c.token();
    if value_token.is_empty() {
        return Err(format!("`{name}`: missing value"));
    }
    let value = parse_value(value_token).ok_or_else(|| format!("`{name}`: `{value_token}` is not a number"))?;
    c.skip_blanks();
    let mut timestamp = None;
    if !matches!(c.peek(), None | Some(b'#')) {
        let t = c.token();
        timestamp = Some(
            t.parse::<i64>()
                .map_err(|_| format!("`{name}`: timestamp `{t}` is not an integer"))?,
        );
        c.skip_blanks();
    }
    // Anything left must be an exemplar (`# {…} …`), which we ignore.
    if !matches!(c.peek(), None | Some(b'#')) {
        return Err(format!("`{name}`: unexpected `{}` after the value", c.rest_preview()));
    }
    Ok(Sample {
        name,
        labels,
        value,
        timestamp,
    })
}

/// A value as Go's `strconv.ParseFloat` reads it (decimal forms).
pub fn parse_value(s: &str) -> Option<f64> {
    // Rust's parser also takes `inf`, `infinity` and `nan` in any case, with
    // a sign, like Go. It rejects Go's hex floats, which exporters don't write.
    s.parse::<f64>().ok()
}

fn is_name_start(b: u8, metric: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':')
}

fn is_name_char(b: u8, metric: bool) -> bool {
    is_name_start(b, metric) || b.is_ascii_digit()
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Skips spaces and tabs; says whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` (no `:` for label names). Call only when
    /// `peek()` is a name start.
    fn name(&mut self, metric: bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| is_name_char(b, metric)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// Everything up to the next blank or the end.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b != b' ' && b != b'\t') {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// The rest of a quoted string (the opening `"` already consumed),
    /// unescaped; the cursor ends after the closing `"`.
    fn quoted(&mut self) -> Result<Cow<'a, str>, String> {
        let bytes = self.s.as_bytes();
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.s[start..self.pos - 1]));
                }
                b'\\' => break,
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.pos]);
        // `pos` is on an ASCII byte (`\\`) or at the end: both char boundaries.
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, ch)) = chars.next() {
            match ch {
                '"' => {
                    self.pos += i + 1;
                    return Ok(Cow::Owned(out));
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                ch => out.push(ch),
            }
        }
        Err("unterminated quoted string: missing `\"`".into())
    }

    fn rest_preview(&self) -> String {
        let rest = &self.s[self.pos.min(self.s.len())..];
        let mut end = rest.len().min(40);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        rest[..end].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_EXPORTER: &str = include_str!("testdata/node_exporter-1.5.0.prom");

    fn one(line: &str) -> Sample<'_> {
        parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn labels<'a>(s: &'a Sample<'a>) -> Vec<(&'a str, &'a str)> {
        s.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect()
    }

    #[test]
    fn parses_a_real_node_exporter_body() {
        let samples = parse(NODE_EXPORTER).unwrap();
        let sample_lines = NODE_EXPORTER
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(samples.len(), sample_lines);
        assert!(samples.len() > 500);
        let bi = samples.iter().find(|s| s.name == "node_exporter_build_info").unwrap();
        assert_eq!(bi.label("version"), Some("1.5.0"));
        assert_eq!(bi.label("goversion"), Some("go1.19.8"));
        assert_eq!(bi.value, 1.0);
        let inf_bucket = samples
            .iter()
            .find(|s| s.name == "go_gc_duration_seconds" && s.label("quantile") == Some("1"))
            .unwrap();
        assert!(inf_bucket.value >= 0.0);
        // Every sample borrows: the body has no escapes.
        assert!(
            samples
                .iter()
                .all(|s| matches!(s.name, Cow::Borrowed(_))
                    && s.labels.iter().all(|(_, v)| matches!(v, Cow::Borrowed(_))))
        );
    }

    #[test]
    fn plain_and_labelled_samples() {
        let s = one("nginx_up 1");
        assert_eq!((s.name.as_ref(), s.value, s.timestamp), ("nginx_up", 1.0, None));
        assert!(s.labels.is_empty());

        let s = one(r#"phpfpm_up{pool="www",scrape_uri="tcp://127.0.0.1:9000/status"} 0"#);
        assert_eq!(
            labels(&s),
            vec![("pool", "www"), ("scrape_uri", "tcp://127.0.0.1:9000/status")]
        );
        assert_eq!(s.value, 0.0);
    }

    #[test]
    fn escapes_in_label_values_are_unescaped() {
        let s = one(r#"m{a="say \"hi\"",b="C:\\dir",c="two\nlines",d="keep \t"} 1"#);
        assert_eq!(
            labels(&s),
            vec![
                ("a", "say \"hi\""),
                ("b", "C:\\dir"),
                ("c", "two\nlines"),
                ("d", "keep \\t")
            ]
        );
        let s = one(r#"m{a="ünïcödé ✓ \"q\""} 1"#);
        assert_eq!(s.label("a"), Some("ünïcödé ✓ \"q\""));
        let s = one(r#"m{a="ends with backslash\\"} 1"#);
        assert_eq!(s.label("a"), Some("ends with backslash\\"));
    }

    #[test]
    fn special_values_and_timestamps() {
        assert!(one("m NaN").value.is_nan());
        assert_eq!(one("m +Inf").value, f64::INFINITY);
        assert_eq!(one("m -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("m Inf").value, f64::INFINITY);
        assert_eq!(one("m 1e+06").value, 1e6);
        assert_eq!(one("m -1.5E-3").value, -0.0015);
        assert_eq!(one("m 1.7316e+09").value, 1.7316e9);
        let s = one("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000");
        assert_eq!((s.value, s.timestamp), (1027.0, Some(1395066363000)));
        assert_eq!(one("m 1 -5").timestamp, Some(-5));
    }

    #[test]
    fn tolerant_whitespace_trailing_comma_crlf_exemplars() {
        let s = one("m{ a = \"1\" ,\tb=\"2\", }\t 3 ");
        assert_eq!(labels(&s), vec![("a", "1"), ("b", "2")]);
        assert_eq!(s.value, 3.0);
        assert_eq!(one("m{} 4").value, 4.0);
        assert_eq!(one("m{a=\"1\"}5").value, 5.0);
        let s = one(r#"foo_bucket{le="0.5"} 12 # {trace_id="abc"} 0.3 1.5e9"#);
        assert_eq!((s.value, s.timestamp), (12.0, None));
        let body = "# HELP m help\r\n# TYPE m counter\r\nm 1\r\n\r\n  \t\n# EOF\n";
        let v = parse(body).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].value, 1.0);
    }

    #[test]
    fn utf8_quoted_names() {
        let s = one(r#"{"my.dotted.metric",le="1"} 2"#);
        assert_eq!(s.name, "my.dotted.metric");
        assert_eq!(labels(&s), vec![("le", "1")]);
        let s = one(r#"{"only.name"} 2"#);
        assert_eq!(s.name, "only.name");
        assert!(s.labels.is_empty());
        let s = one(r#"m{"dotted.label"="x"} 2"#);
        assert_eq!(labels(&s), vec![("dotted.label", "x")]);
    }

    #[test]
    fn colons_in_metric_names_only() {
        assert_eq!(one("job:rate5m:sum 1").name, "job:rate5m:sum");
        assert!(parse_line("m{a:b=\"1\"} 1").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("# ok\nm 1\nm{a=\"1\" 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("label"), "{e}");
        for bad in [
            "m",
            "m ",
            "m abc",
            "m 1 2 3",
            "m 1 1.5",
            "m{a=1} 1",
            "m{a=\"1} 1",
            "m{a} 1",
            "m{=\"1\"} 1",
            "{} 1",
            "{a=\"1\"} 1",
            "1m 1",
            "m-x 1",
            "m{a=\"1\"",
            "m{a=\"1\"\\",
            "\"m\" 1",
            "{a} 1",
            "{\"a\",\"b\"} 1",
        ] {
            assert!(parse_line(bad).is_err(), "accepted `{bad}`");
        }
    }

    #[test]
    fn display_round_trips() {
        for line in [
            r#"m{a="x \"y\" \\ \n",b=""} 1"#,
            "m 0.5",
            "m NaN",
            "m +Inf",
            "m -Inf",
            "m 1e+21",
        ] {
            let s = one(line);
            let again = s.to_string();
            let t = parse_line(&again).unwrap();
            assert_eq!(s.name, t.name);
            assert_eq!(s.labels, t.labels);
            assert!(
                s.value == t.value || (s.value.is_nan() && t.value.is_nan()),
                "{line} -> {again}"
            );
        }
        assert_eq!(one(r#"m{a="1"} 1"#).to_string(), r#"m{a="1"} 1"#);
    }

    /// xorshift64*: deterministic pseudo-random numbers without a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        const ALPHABET: &[&str] = &[
            "{", "}", "\"", "\\", ",", "=", " ", "\t", "\n", "\r", "#", "a", "_", ":", "0", "1", ".", "e", "+", "-",
            "Inf", "NaN", "é", "✓", "le", "m", "\\\"", "\\n", "\\\\",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = rng.below(40);
            let s: String = (0..len).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
            let _ = parse(&s);
        }
    }

    #[test]
    fn mutated_real_bodies_never_panic() {
        let mut rng = Rng(42);
        let lines: Vec<&str> = NODE_EXPORTER.lines().collect();
        for _ in 0..3_000 {
            let mut line: Vec<char> = lines[rng.below(lines.len())].chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(line.len() + 1);
                match rng.below(3) {
                    0 if at < line.len() => {
                        line.remove(at);
                    }
                    1 if at < line.len() => line[at] = ['"', '\\', '{', '}', ',', ' ', 'é', '='][rng.below(8)],
                    _ => line.insert(at, ['"', '\\', '{', '}', '#', '\t', '\u{7f}', 'x'][rng.below(8)]),
                }
            }
            let s: String = line.into_iter().collect();
            let _ = parse(&s);
        }
    }
}

//! Checksum files as published next to releases, and sha256 hex helpers.
//!
//! Understood line forms (one file per line, blank lines and `#` comments ignored):
//!
//! - GNU coreutils text mode: `<hex>  <name>`
//! - GNU coreutils binary mode: `<hex> *<name>`
//! - a single space or a tab between the two (seen in hand-made files)
//! - BSD tag style: `SHA256 (<name>) = <hex>`
//!
//! A leading `./` on the name is tolerated. Only the line whose name is
//! exactly the wanted file name counts: never "the first line", never a line
//! for another architecture whose name merely contains the wanted one.

use std::fmt::Write as _;

/// Why a checksum file did not give a usable answer for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// No line names the file.
    Missing,
    /// Several lines name the file with different digests.
    Conflict { first: String, second: String },
}

/// Is `s` a sha256 digest in hex (64 hex digits, either case)?
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lower-case hex of a byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses one line into `(lower-case hex, name)`, or `None` if it is not a
/// sha256 checksum line.
pub fn parse_line(line: &str) -> Option<(String, &str)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    // BSD tag style: `SHA256 (name) = hex`
    if let Some(rest) = trimmed.strip_prefix("SHA256 (") {
        let (name, hex) = rest.rsplit_once(") = ")?;
        let hex = hex.trim();
        return is_sha256_hex(hex).then(|| (hex.to_ascii_lowercase(), strip_dot_slash(name)));
    }
    let hex = trimmed.get(..64)?;
    if !is_sha256_hex(hex) {
        return None;
    }
    let rest = &trimmed[64..];
    // Separator: one or more spaces/tabs, then an optional `*` (binary mode).
    let after_sep = rest.trim_start_matches([' ', '\t']);
    if after_sep.len() == rest.len() {
        return None; // no separator: a longer hex string (e.g. sha512) or garbage
    }
    let name = after_sep.strip_prefix('*').unwrap_or(after_sep);
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() {
        return None;
    }
    Some((hex.to_ascii_lowercase(), strip_dot_slash(name)))
}

fn strip_dot_slash(name: &str) -> &str {
    name.strip_prefix("./").unwrap_or(name)
}

/// Finds the digest for exactly `file_name` in the text of a checksum file.
pub fn lookup(text: &str, file_name: &str) -> Result<String, LookupError> {
    let wanted = strip_dot_slash(file_name);
    let mut found: Option<String> = None;
    for line in text.lines() {
        let Some((hex, name)) = parse_line(line) else {
            continue;
        };
        if name != wanted {
            continue;
        }
        match &found {
            None => found = Some(hex),
            Some(prev) if *prev == hex => {}
            Some(prev) => {
                return Err(LookupError::Conflict {
                    first: prev.clone(),
                    second: hex,
                });
            }
        }
    }
    found.ok_or(LookupError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn text_mode_line() {
        let text = format!("{A}  node_exporter-1.9.1.linux-amd64.tar.gz\n");
        assert_eq!(lookup(&text, "node_exporter-1.9.1.linux-amd64.tar.gz").unwrap(), A);
    }

    #[test]
    fn binary_mode_line() {
        let text = format!("{B} *php-fpm_exporter_2.2.0_linux_amd64.tar.gz\n");
        assert_eq!(lookup(&text, "php-fpm_exporter_2.2.0_linux_amd64.tar.gz").unwrap(), B);
    }

    #[test]
    fn dot_slash_and_tab_and_bsd_forms() {
        let text = format!("{A}  ./x.tar.gz\n{B}\ty.tar.gz\nSHA256 (z.tar.gz) = {C}\n");
        assert_eq!(lookup(&text, "x.tar.gz").unwrap(), A);
        assert_eq!(lookup(&text, "y.tar.gz").unwrap(), B);
        assert_eq!(lookup(&text, "z.tar.gz").unwrap(), C);
    }

    #[test]
    fn upper_case_hex_is_normalised() {
        let text = format!("{}  f\n", C.to_ascii_uppercase());
        assert_eq!(lookup(&text, "f").unwrap(), C);
    }

    #[test]
    fn picks_the_right_arch_not_the_first_line() {
        let text = format!(
            "{A}  node_exporter-1.9.1.linux-arm64.tar.gz\n\
             {B}  node_exporter-1.9.1.linux-amd64.tar.gz\n\
             {C}  node_exporter-1.9.1.linux-armv7.tar.gz\n"
        );
        assert_eq!(lookup(&text, "node_exporter-1.9.1.linux-amd64.tar.gz").unwrap(), B);
        assert_eq!(lookup(&text, "node_exporter-1.9.1.linux-armv7.tar.gz").unwrap(), C);
    }

    #[test]
    fn a_name_that_only_contains_the_wanted_one_does_not_match() {
        let text = format!(
            "{A}  node_exporter-1.9.1.linux-amd64.tar.gz.sbom\n\
             {B}  x/node_exporter-1.9.1.linux-amd64.tar.gz\n"
        );
        assert_eq!(
            lookup(&text, "node_exporter-1.9.1.linux-amd64.tar.gz"),
            Err(LookupError::Missing)
        );
    }

    #[test]
    fn missing_line_is_an_error_not_the_first_line() {
        let text = format!("{A}  other.tar.gz\n");
        assert_eq!(lookup(&text, "mine.tar.gz"), Err(LookupError::Missing));
        assert_eq!(lookup("", "mine.tar.gz"), Err(LookupError::Missing));
    }

    #[test]
    fn crlf_line_endings() {
        let text = format!("{A}  a.tar.gz\r\n{B} *b.tar.gz\r\n\r\n");
        assert_eq!(lookup(&text, "a.tar.gz").unwrap(), A);
        assert_eq!(lookup(&text, "b.tar.gz").unwrap(), B);
    }

    #[test]
    fn comments_garbage_and_other_digests_are_ignored() {
        let sha512 = "c".repeat(128);
        let text = format!("# sha256\n\n{sha512}  a.tar.gz\nnot a line\n{A}  a.tar.gz\n");
        assert_eq!(lookup(&text, "a.tar.gz").unwrap(), A);
        let no_sep = format!("{A}a.tar.gz\n");
        assert_eq!(lookup(&no_sep, "a.tar.gz"), Err(LookupError::Missing));
    }

    #[test]
    fn duplicate_lines_must_agree() {
        let same = format!("{A}  a.tar.gz\n{A} *./a.tar.gz\n");
        assert_eq!(lookup(&same, "a.tar.gz").unwrap(), A);
        let conflict = format!("{A}  a.tar.gz\n{B}  a.tar.gz\n");
        assert!(matches!(
            lookup(&conflict, "a.tar.gz"),
            Err(LookupError::Conflict { .. })
        ));
    }

    #[test]
    fn hex_helpers() {
        assert!(is_sha256_hex(A));
        assert!(!is_sha256_hex(&A[1..]));
        assert!(!is_sha256_hex(&format!("{}g", &A[1..])));
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}

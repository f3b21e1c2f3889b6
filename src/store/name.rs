//! Store path names: `<hash>-<rest>`, where `<hash>` is the first
//! [`HASH_TEXT_LEN`] lowercase hex digits of the canonical tree hash and
//! `<rest>` is a safe file name (`[A-Za-z0-9_.@+-]+`).

/// Hex digits of the BLAKE3 tree hash kept in a store path name: 32 digits =
/// 128 bits (see `docs/design/store.md` for why).
pub const HASH_TEXT_LEN: usize = 32;

/// Longest `<rest>` accepted, so that `<hash>-<rest>.json` (the metadata file)
/// stays well under the 255-byte file-name limit of common file systems.
pub const MAX_REST_LEN: usize = 200;

/// Why `s` is not a safe name part (a store path's `<rest>`, or the exporter
/// name and version it is made of), or `None` if it is one.
pub fn unsafe_reason(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("it is empty");
    }
    if s.len() > MAX_REST_LEN {
        return Some("it is too long");
    }
    if !s.bytes().all(is_safe_byte) {
        return Some("only letters, digits and `_-.@+` are allowed");
    }
    if s == "." || s == ".." {
        return Some("`.` and `..` are not names");
    }
    None
}

fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@' | b'+')
}

/// Whether `name` is `<32 lowercase hex>-<safe rest>`.
pub fn is_store_name(name: &str) -> bool {
    let Some((hash, rest)) = name.split_once('-') else {
        return false;
    };
    hash.len() == HASH_TEXT_LEN
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && unsafe_reason(rest).is_none()
}

/// The hash text of a store path for a full hex tree hash.
pub fn hash_text(full_hex: &str) -> &str {
    &full_hex[..HASH_TEXT_LEN.min(full_hex.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_well_formed_names() {
        assert!(is_store_name(&format!("{H}-node_exporter-1.9.1")));
        assert!(is_store_name(&format!("{H}-unit-node_exporter.service")));
        assert!(is_store_name(&format!("{H}-x@y+z")));
        assert!(is_store_name(&format!("{H}-generation-7")));
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            String::new(),
            H.to_string(),
            format!("{H}-"),
            format!("{H}-a/b"),
            format!("{H}-a b"),
            format!("{H}-é"),
            format!("{H}-a\0b"),
            format!("{}-x", &H[..31]),
            format!("{H}0-x"),
            format!("{}-x", H.to_uppercase()),
            format!("{}-x", H.replace('a', "g")),
            format!("{H}-{}", "a".repeat(MAX_REST_LEN + 1)),
            "-x".to_string(),
        ] {
            assert!(!is_store_name(&bad), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn unsafe_reason_names_the_problem() {
        assert_eq!(unsafe_reason(""), Some("it is empty"));
        assert!(unsafe_reason("../x").is_some());
        assert!(unsafe_reason("..").is_some());
        assert!(unsafe_reason(".").is_some());
        assert_eq!(unsafe_reason("node_exporter"), None);
    }
}

//! Names and versions as they may appear in a file name, a unit name, a
//! store path or a release tag. The manifest, the catalogue, the service
//! managers and the forges all check against these, so they live below all
//! of them.

/// Is `s` a release version: digits separated by dots, optionally followed by
/// a pre-release or build suffix (`1.9.1`, `0.10.3`, `2.0.0-rc.1`)?
pub fn is_version(s: &str) -> bool {
    let (core, suffix) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let core_ok = !core.is_empty()
        && core.split('.').count() <= 4
        && core
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let suffix_ok =
        suffix.is_none_or(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    core_ok && suffix_ok
}

/// Is `s` a name that is safe as a file name, a unit stem and a store path part?
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

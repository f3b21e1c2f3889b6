//! Credentials in URLs, kept out of messages, logs and everything written to
//! the world-readable store; the requests themselves still use the URL as
//! given. Two places carry them:
//!
//! - the userinfo: `https://user:password@host/…`, or a token as the user
//!   name (`https://TOKEN@host/…`);
//! - the query string (and a `#fragment` of `name=value` pairs): a forge token
//!   (`?private_token=…`, `?access_token=…`), a pre-signed S3/GCS/Azure URL
//!   (`X-Amz-Signature=…`, `X-Goog-Credential=…`, `sig=…`), an API key. A
//!   parameter whose name is a known secret name ([`is_secret_param`]) keeps
//!   its name with the value `redacted`, so a message still says one was given.
//!
//! The value alone decides nothing: a random-looking value (a commit hash, a
//! build id, a sha256 in `?checksum=…`) is as often harmless as a short token
//! is secret, so guessing from values would both leak and mangle; unknown
//! names are kept as written.

/// Query parameter names (compared case-insensitively, percent-decoded)
/// whose value is a credential.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "private_token",
    "job_token",
    "auth",
    "authorization",
    "key",
    "apikey",
    "api_key",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
];

/// Any name ending so is a secret too (`upload_token`, `X-Upload-Secret`).
const SECRET_SUFFIXES: &[&str] = &["token", "secret", "signature"];

/// Whether the query parameter `name` (as written, percent-encoded or not)
/// carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let n = percent_decode(name).to_ascii_lowercase();
    SECRET_PARAMS.contains(&n.as_str()) || SECRET_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// `url` as messages, logs and JSON output show it: a password replaced by
/// `redacted` (the user name is kept, so a message still says which account
/// was used; a user name without a password may itself be a token and is
/// replaced), and every secret query parameter's value replaced by
/// `redacted`. Unparseable input is redacted all the same.
pub fn url_without_password(url: &str) -> String {
    let userinfo_done = match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
                u.to_string()
            } else if !u.username().is_empty() {
                let _ = u.set_username("redacted");
                u.to_string()
            } else {
                url.to_string()
            }
        }
        // Not parseable (a typo in a manifest): still never echo a password.
        Err(_) => match userinfo(url) {
            Some((start, end)) => {
                let info = &url[start..end];
                match info.split_once(':') {
                    Some((user, _)) => format!("{}{user}:redacted{}", &url[..start], &url[end..]),
                    None => format!("{}redacted{}", &url[..start], &url[end..]),
                }
            }
            None => url.to_string(),
        },
    };
    redact_query(&userinfo_done)
}

/// `url` without any user name or password and with secret query values
/// replaced by `redacted`: what is stored as a store path's `origin_url` and
/// a lock file's `url`. The user name goes too because some services take a
/// token there (`https://TOKEN@host/…`), and the credentials used say nothing
/// about what was downloaded. Two URLs that differ only in their credentials
/// (a rotated token, a fresh pre-signed URL) give the same string.
pub fn url_without_userinfo(url: &str) -> String {
    let userinfo_done = match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() || !u.username().is_empty() {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.to_string()
            } else {
                url.to_string()
            }
        }
        Err(_) => match userinfo(url) {
            Some((start, end)) => format!("{}{}", &url[..start], &url[end + 1..]),
            None => url.to_string(),
        },
    };
    redact_query(&userinfo_done)
}

/// `text` (an error message that may quote `url`, e.g. one from reqwest) with
/// `url`'s password and secret query values replaced by `redacted`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    let mut passwords = Vec::new();
    let mut shown = vec![url.to_string()];
    if let Ok(u) = reqwest::Url::parse(url) {
        // As the parsed URL prints it (percent-encoded).
        passwords.extend(u.password().map(str::to_string));
        shown.push(u.to_string());
    }
    if let Some((start, end)) = userinfo(url) {
        // As written.
        passwords.extend(url[start..end].split_once(':').map(|(_, p)| p.to_string()));
    }
    for p in passwords.into_iter().filter(|p| !p.is_empty()) {
        out = out.replace(&format!(":{p}@"), ":redacted@");
    }
    for form in &shown {
        for (name, value) in secret_pairs(form) {
            out = out.replace(&format!("{name}={value}"), &format!("{name}=redacted"));
        }
    }
    out
}

/// The secret `(name, value)` pairs of `url`'s query and fragment, as written.
fn secret_pairs(url: &str) -> Vec<(&str, &str)> {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let query = rest.split_once('?').map(|(_, q)| q);
    query
        .into_iter()
        .chain(fragment)
        .flat_map(|part| part.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, value)| !value.is_empty() && is_secret_param(name))
        .collect()
}

/// `url` with the value of every secret parameter of its query string and of
/// its fragment (OAuth puts `#access_token=…` there) replaced by `redacted`.
fn redact_query(url: &str) -> String {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let mut out = match rest.split_once('?') {
        Some((base, query)) => format!("{base}?{}", redact_pairs(query)),
        None => rest.to_string(),
    };
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&redact_pairs(f));
    }
    out
}

fn redact_pairs(part: &str) -> String {
    part.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && is_secret_param(name) => format!("{name}=redacted"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `%XX` decoded and `+` as a space (form encoding); anything malformed kept
/// as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Byte range of the userinfo (`user:password`, without the `@`) of `url`.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((start, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(url_without_password("https://u:pw@h/a"), "https://u:redacted@h/a");
        assert_eq!(url_without_password("https://h/a?x=1"), "https://h/a?x=1");
        // A user name alone may be a token.
        assert_eq!(url_without_password("https://tok@h/a"), "https://redacted@h/a");
        assert_eq!(
            url_without_password("http://tok@h:99999/a"),
            "http://redacted@h:99999/a"
        );
        assert_eq!(
            url_without_password("http://mon:secret@127.0.0.1:9100/metrics"),
            "http://mon:redacted@127.0.0.1:9100/metrics"
        );
        // Unparseable (bad port): redacted all the same.
        assert_eq!(
            url_without_password("http://u:s3cret@h:99999/m"),
            "http://u:redacted@h:99999/m"
        );
    }

    #[test]
    fn userinfo_is_dropped() {
        assert_eq!(
            url_without_userinfo("https://bob:hunter2@h/a.tar.gz"),
            "https://h/a.tar.gz"
        );
        assert_eq!(url_without_userinfo("https://tok@h/a"), "https://h/a");
        assert_eq!(url_without_userinfo("https://h/a?x=1"), "https://h/a?x=1");
        assert_eq!(url_without_userinfo("http://u:s3cret@h:99999/m"), "http://h:99999/m");
        // An `@` in the path is not userinfo.
        assert_eq!(url_without_userinfo("https://h/a@b"), "https://h/a@b");
    }

    #[test]
    fn messages_are_scrubbed() {
        let url = "http://mon:p%40ss@127.0.0.1:9100/metrics";
        let msg = "error sending request for url (http://mon:p%40ss@127.0.0.1:9100/metrics)";
        assert_eq!(
            scrub(msg, url),
            "error sending request for url (http://mon:redacted@127.0.0.1:9100/metrics)"
        );
        assert_eq!(scrub("connection refused", url), "connection refused");
    }

    const NAMES: &[&str] = &[
        "token",
        "access_token",
        "private_token",
        "job_token",
        "auth",
        "authorization",
        "key",
        "apikey",
        "api_key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        // By suffix.
        "upload_token",
        "x-upload-secret",
        "urlsignature",
    ];

    #[test]
    fn every_secret_query_parameter_is_redacted_in_both_forms() {
        for name in NAMES {
            for n in [name.to_string(), name.to_ascii_uppercase()] {
                let url = format!("https://h/a.tar.gz?{n}=SEKRET123");
                let want = format!("https://h/a.tar.gz?{n}=redacted");
                assert_eq!(url_without_password(&url), want, "{n}");
                assert_eq!(url_without_userinfo(&url), want, "{n}");
                assert!(is_secret_param(&n), "{n}");
            }
        }
        // Percent-encoded names are recognised too.
        assert_eq!(
            url_without_password("https://h/a?X%2DAmz%2DSignature=abc"),
            "https://h/a?X%2DAmz%2DSignature=redacted"
        );
    }

    #[test]
    fn other_parameters_are_kept_as_written() {
        for url in [
            "https://h/a?x=1",
            "https://h/a?version=1.2.3&arch=amd64",
            "https://h/a?keys=1&tokenizer=2&monkey=3&signatures=4",
            "https://h/a?token",
            "https://h/a?token=",
            "https://h/a#section",
        ] {
            assert_eq!(url_without_password(url), url);
            assert_eq!(url_without_userinfo(url), url);
        }
    }

    #[test]
    fn several_parameters_and_the_fragment() {
        let url = "https://u:pw@bucket.s3.amazonaws.com/a.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIA%2F2026&X-Amz-Date=20261130T000000Z&X-Amz-Expires=300\
                   &X-Amz-Signature=deadbeef#access_token=SEKRET123&state=s";
        let tail = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=redacted&X-Amz-Date=20261130T000000Z\
                    &X-Amz-Expires=300&X-Amz-Signature=redacted#access_token=redacted&state=s";
        assert_eq!(
            url_without_password(url),
            format!("https://u:redacted@bucket.s3.amazonaws.com/a.tar.gz{tail}")
        );
        assert_eq!(
            url_without_userinfo(url),
            format!("https://bucket.s3.amazonaws.com/a.tar.gz{tail}")
        );
        assert_eq!(
            url_without_password("https://h/a?sv=2024&sig=abc%2Bdef&se=2026&Key=k"),
            "https://h/a?sv=2024&sig=redacted&se=2026&Key=redacted"
        );
    }

    #[test]
    fn unparseable_urls_do_not_echo_query_secrets() {
        // Bad port: not parseable, redacted all the same.
        assert_eq!(
            url_without_password("http://u:pw@h:99999/a?private_token=SEKRET123&x=1"),
            "http://u:redacted@h:99999/a?private_token=redacted&x=1"
        );
        assert_eq!(
            url_without_userinfo("http://u:pw@h:99999/a?private_token=SEKRET123&x=1"),
            "http://h:99999/a?private_token=redacted&x=1"
        );
        assert_eq!(
            url_without_password("not a url?token=SEKRET123"),
            "not a url?token=redacted"
        );
    }

    #[test]
    fn messages_quoting_query_secrets_are_scrubbed() {
        let url = "https://h/a.tar.gz?token=SEKRET123&x=1";
        let msg = "error sending request for url (https://h/a.tar.gz?token=SEKRET123&x=1)";
        assert_eq!(
            scrub(msg, url),
            "error sending request for url (https://h/a.tar.gz?token=redacted&x=1)"
        );
    }
}

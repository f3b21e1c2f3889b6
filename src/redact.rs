//! Credentials in URLs (`https://user:password@host/…`): kept out of
//! messages, logs and everything written to the world-readable store.
//! The requests themselves still use the URL as given.

/// `url` with its password replaced by `redacted` (the user name is kept, so
/// a message still says which account was used), for errors and logs.
pub fn url_without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
                return u.to_string();
            }
            url.to_string()
        }
        // Not parseable (a typo in a manifest): still never echo a password.
        Err(_) => match userinfo(url) {
            Some((start, end)) => {
                let info = &url[start..end];
                match info.split_once(':') {
                    Some((user, _)) => format!("{}{user}:redacted{}", &url[..start], &url[end..]),
                    None => url.to_string(),
                }
            }
            None => url.to_string(),
        },
    }
}

/// `url` without any user name or password: what is stored as a store path's
/// `origin_url`. The user name goes too because some services take a token
/// there (`https://TOKEN@host/…`), and the credentials used say nothing about
/// what was downloaded.
pub fn url_without_userinfo(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() || !u.username().is_empty() {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                return u.to_string();
            }
            url.to_string()
        }
        Err(_) => match userinfo(url) {
            Some((start, end)) => format!("{}{}", &url[..start], &url[end + 1..]),
            None => url.to_string(),
        },
    }
}

/// `text` (an error message that may quote `url`, e.g. one from reqwest) with
/// `url`'s password replaced by `redacted`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.to_string();
    let mut passwords = Vec::new();
    if let Ok(u) = reqwest::Url::parse(url) {
        // As the parsed URL prints it (percent-encoded).
        passwords.extend(u.password().map(str::to_string));
    }
    if let Some((start, end)) = userinfo(url) {
        // As written.
        passwords.extend(url[start..end].split_once(':').map(|(_, p)| p.to_string()));
    }
    for p in passwords.into_iter().filter(|p| !p.is_empty()) {
        out = out.replace(&format!(":{p}@"), ":redacted@");
    }
    out
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
        assert_eq!(url_without_password("https://tok@h/a"), "https://tok@h/a");
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
}

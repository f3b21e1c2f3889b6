//! A fake forge on 127.0.0.1 that answers like GitHub and GitLab:
//!
//! - GitHub downloads `/<owner>/<repo>/releases/download/<tag>/<file>`,
//!   answered with a `302` to a second server standing in for GitHub's object
//!   storage (another origin: a token must not follow);
//! - GitHub API `/api/github/repos/<owner>/<repo>/releases?per_page=&page=`;
//! - GitLab downloads `/gitlab/<group>/<project>/-/releases/<tag>/downloads/<file>`;
//! - GitLab API `/gitlab/api/v4/projects/<url-encoded path>/releases`.
//!
//! Releases are published in each catalogue entry's *real* layout, spelled
//! out here independently of the catalogue ([`real_layout`]), so a catalogue
//! mistake shows up as a 404 or a missing checksum line.

use super::archives::ArchiveBuilder;
use super::fixture::sha256_hex;
use super::server::ReleaseServer;

pub struct Forge {
    /// github.com, api.github.com and gitlab.com in one.
    pub server: ReleaseServer,
    /// GitHub's release object storage (redirect target, another origin).
    pub objects: ReleaseServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Github,
    Gitlab,
}

/// Where and how upstream publishes one release for one architecture.
#[derive(Debug, Clone)]
pub struct Release {
    pub kind: Kind,
    pub repo: String,
    pub tag: String,
    pub asset: String,
    /// Path of the binary inside the tar.gz; `None`: the asset is the binary.
    pub inner: Option<String>,
    /// `None`: the release has no checksum file (postgres_exporter ≤ 0.8.0).
    pub checksums: Option<String>,
}

/// The layout each catalogued exporter's releases really have (from the
/// projects' release tooling), for `version` on `arch`.
pub fn real_layout(name: &str, version: &str, arch: &str) -> Release {
    let v = version;
    let promu = |org: &str, n: &str| Release {
        kind: Kind::Github,
        repo: format!("{org}/{n}"),
        tag: format!("v{v}"),
        asset: format!("{n}-{v}.linux-{arch}.tar.gz"),
        inner: Some(format!("{n}-{v}.linux-{arch}/{n}")),
        checksums: Some("sha256sums.txt".into()),
    };
    let major: u32 = v.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    let minor: u32 = v.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
    let patch: u32 = v.split('.').nth(2).and_then(|m| m.parse().ok()).unwrap_or(0);
    let before = |a: u32, b: u32, c: u32| (major, minor, patch) < (a, b, c);
    match name {
        "node_exporter" => promu("prometheus", "node_exporter"),
        "mysqld_exporter" => promu("prometheus", "mysqld_exporter"),
        "blackbox_exporter" => promu("prometheus", "blackbox_exporter"),
        "statsd_exporter" => promu("prometheus", "statsd_exporter"),
        // The old repository's mage build: tag in the name, no checksum file.
        "postgres_exporter" if before(0, 8, 1) => Release {
            kind: Kind::Github,
            repo: "prometheus-community/postgres_exporter".into(),
            tag: format!("v{v}"),
            asset: format!("postgres_exporter_v{v}_linux-{arch}.tar.gz"),
            inner: Some(format!("postgres_exporter_v{v}_linux-{arch}/postgres_exporter")),
            checksums: None,
        },
        "postgres_exporter" => promu("prometheus-community", "postgres_exporter"),
        // Up to 0.8.0 a Makefile build: dashes, i386; before 1.0 `sha256sums.txt`.
        "nginx_exporter" if before(0, 8, 1) => Release {
            kind: Kind::Github,
            repo: "nginx/nginx-prometheus-exporter".into(),
            tag: format!("v{v}"),
            asset: format!(
                "nginx-prometheus-exporter-{v}-linux-{}.tar.gz",
                if arch == "386" { "i386" } else { arch }
            ),
            inner: Some("nginx-prometheus-exporter".into()),
            checksums: Some("sha256sums.txt".into()),
        },
        "nginx_exporter" if before(1, 0, 0) => Release {
            kind: Kind::Github,
            repo: "nginx/nginx-prometheus-exporter".into(),
            tag: format!("v{v}"),
            asset: format!("nginx-prometheus-exporter_{v}_linux_{arch}.tar.gz"),
            inner: Some("nginx-prometheus-exporter".into()),
            checksums: Some("sha256sums.txt".into()),
        },
        "nginx_exporter" => Release {
            kind: Kind::Github,
            repo: "nginx/nginx-prometheus-exporter".into(),
            tag: format!("v{v}"),
            asset: format!("nginx-prometheus-exporter_{v}_linux_{arch}.tar.gz"),
            inner: Some("nginx-prometheus-exporter".into()),
            checksums: Some(format!("nginx-prometheus-exporter_{v}_checksums.txt")),
        },
        "php-fpm_exporter" => Release {
            kind: Kind::Github,
            repo: "hipages/php-fpm_exporter".into(),
            tag: format!("v{v}"),
            asset: format!("php-fpm_exporter_{v}_linux_{arch}"),
            inner: None,
            checksums: Some(format!("php-fpm_exporter_{v}_checksums.txt")),
        },
        "redis_exporter" => {
            let a = if arch == "armv7" { "arm" } else { arch };
            Release {
                kind: Kind::Github,
                repo: "oliver006/redis_exporter".into(),
                tag: format!("v{v}"),
                asset: format!("redis_exporter-v{v}.linux-{a}.tar.gz"),
                inner: Some(format!("redis_exporter-v{v}.linux-{a}/redis_exporter")),
                checksums: Some("sha256sums.txt".into()),
            }
        }
        // Tags without `v` up to 0.7.2; the project's old name before 0.6.0.
        "fail2ban_exporter" if before(0, 6, 0) => Release {
            kind: Kind::Gitlab,
            repo: "hctrdev/fail2ban-prometheus-exporter".into(),
            tag: v.to_string(),
            asset: format!("fail2ban-prometheus-exporter_{v}_linux_{arch}.tar.gz"),
            inner: Some("fail2ban-prometheus-exporter".into()),
            checksums: Some("checksums.txt".into()),
        },
        "fail2ban_exporter" if before(0, 8, 0) => Release {
            kind: Kind::Gitlab,
            repo: "hctrdev/fail2ban-prometheus-exporter".into(),
            tag: v.to_string(),
            asset: format!("fail2ban_exporter_{v}_linux_{arch}.tar.gz"),
            inner: Some(format!("fail2ban_exporter_{v}_linux_{arch}/fail2ban_exporter")),
            checksums: Some("checksums.txt".into()),
        },
        "fail2ban_exporter" => Release {
            kind: Kind::Gitlab,
            repo: "hctrdev/fail2ban-prometheus-exporter".into(),
            tag: format!("v{v}"),
            asset: format!("fail2ban_exporter_{v}_linux_{arch}.tar.gz"),
            inner: Some("fail2ban_exporter".into()),
            checksums: Some(format!("fail2ban_exporter_{v}_checksums.txt")),
        },
        other => panic!("no real layout for {other}"),
    }
}

/// The binary every fake release ships: a script naming what it is, so a
/// test can tell which release and architecture ended up in the store.
pub fn fake_binary(name: &str, version: &str, arch: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"{name}, version {version} ({arch})\"\n").into_bytes()
}

/// The bytes `publish` serves as `r`'s asset (the same every time, so a
/// test can pin their sha256 where upstream publishes no checksum file).
pub fn release_bytes(r: &Release, name: &str, version: &str, arch: &str) -> Vec<u8> {
    let bin = fake_binary(name, version, arch);
    match &r.inner {
        Some(inner) => ArchiveBuilder::new()
            .file("LICENSE", 0o644, b"Apache-2.0\n")
            .file(inner, 0o755, &bin)
            .finish(),
        None => bin,
    }
}

fn encode_project(p: &str) -> String {
    p.replace('/', "%2F")
}

impl Forge {
    pub fn start() -> Forge {
        Forge {
            server: ReleaseServer::start(),
            objects: ReleaseServer::start(),
        }
    }

    pub fn github_download(&self) -> String {
        self.server.url()
    }
    pub fn github_api(&self) -> String {
        format!("{}/api/github", self.server.url())
    }
    pub fn gitlab_download(&self) -> String {
        format!("{}/gitlab", self.server.url())
    }
    pub fn gitlab_api(&self) -> String {
        format!("{}/gitlab/api/v4", self.server.url())
    }

    /// `settings:` lines pointing both forges at this server (indented two
    /// spaces), opted in to receive the tokens as the real forges do.
    pub fn settings_yaml(&self) -> String {
        self.settings_yaml_with(true)
    }

    /// The same without `send_token`: this server is then a mirror that
    /// must never see a token.
    pub fn mirror_settings_yaml(&self) -> String {
        self.settings_yaml_with(false)
    }

    fn settings_yaml_with(&self, send_token: bool) -> String {
        format!(
            "  github: {{ api_url: \"{}\", download_url: \"{}\", send_token: {send_token} }}\n  gitlab: {{ api_url: \"{}\", download_url: \"{}\", send_token: {send_token} }}\n",
            self.github_api(),
            self.github_download(),
            self.gitlab_api(),
            self.gitlab_download()
        )
    }

    /// Path (on `server`) of a release file.
    pub fn download_path(&self, r: &Release, file: &str) -> String {
        match r.kind {
            Kind::Github => format!("/{}/releases/download/{}/{file}", r.repo, r.tag),
            Kind::Gitlab => format!("/gitlab/{}/-/releases/{}/downloads/{file}", r.repo, r.tag),
        }
    }

    /// Serves `bytes` as release file `file` of `r`. GitHub files live on the
    /// object server behind a redirect, as on github.com.
    pub fn put(&self, r: &Release, file: &str, bytes: Vec<u8>) {
        let path = self.download_path(r, file);
        match r.kind {
            Kind::Github => {
                let object = format!("/objects/{}/{}/{file}", r.repo, r.tag);
                self.objects.add_file(&object, bytes);
                self.server
                    .redirect_prefix(&path, &format!("{}{object}", self.objects.url()));
            }
            Kind::Gitlab => self.server.add_file(&path, bytes),
        }
    }

    /// Publishes `name` `version` for every arch in `arches`, in its real
    /// layout, with one checksum file listing them all (plus a line for
    /// another OS, which must not be picked).
    pub fn publish(&self, name: &str, version: &str, arches: &[&str]) {
        let mut sums = String::new();
        let mut last = None;
        for arch in arches {
            let r = real_layout(name, version, arch);
            let bytes = release_bytes(&r, name, version, arch);
            sums.push_str(&format!("{}  {}\n", sha256_hex(&bytes), r.asset));
            self.put(&r, &r.asset, bytes);
            last = Some(r);
        }
        let r = last.expect("at least one arch");
        let darwin = r.asset.replace("linux", "darwin");
        sums = format!("{}  {darwin}\n{sums}", "ab".repeat(32));
        if let Some(c) = &r.checksums {
            self.put(&r, c, sums.into_bytes());
        }
    }

    /// The API's release list for `name` (real repository): `(version, prerelease)`.
    pub fn list_releases(&self, name: &str, versions: &[(&str, bool)]) {
        let r = real_layout(name, "0.0.0", "amd64");
        let items: Vec<String> = versions
            .iter()
            .map(|(v, pre)| {
                let tag = real_layout(name, v, "amd64").tag;
                match r.kind {
                    Kind::Github => {
                        format!(r#"{{"tag_name":"{tag}","name":"{tag}","draft":false,"prerelease":{pre}}}"#)
                    }
                    Kind::Gitlab => format!(r#"{{"tag_name":"{tag}","name":"{tag}","upcoming_release":{pre}}}"#),
                }
            })
            .collect();
        let json = format!("[{}]", items.join(","));
        self.server.add_json(&self.api_path(&r), &json);
    }

    /// The API path listing `r`'s repository's releases (without query).
    pub fn api_path(&self, r: &Release) -> String {
        match r.kind {
            Kind::Github => format!("/api/github/repos/{}/releases", r.repo),
            Kind::Gitlab => format!("/gitlab/api/v4/projects/{}/releases", encode_project(&r.repo)),
        }
    }

    /// API requests made so far (either forge).
    pub fn api_requests(&self) -> Vec<super::server::Request> {
        self.server
            .recorded()
            .into_iter()
            .filter(|r| r.path.starts_with("/api/") || r.path.starts_with("/gitlab/api/"))
            .collect()
    }
}

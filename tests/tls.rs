//! Downloads over HTTPS through the CLI: a CA bundle named by
//! `EXPORTERCTL_CA_BUNDLE` or `SSL_CERT_FILE` is trusted, a certificate
//! nothing vouches for is not, and `HTTPS_PROXY` / `NO_PROXY` decide whether
//! the connection goes through a proxy; a machine without a CA store keeps
//! plain http. The release server sits behind a TLS front with a
//! certificate from a CA made for each test.

mod common;

use common::fixture::{Behaviour, Fixture};
use common::proxy::ConnectProxy;
use common::tls::{TestCa, TlsFront};
use std::path::{Path, PathBuf};
use std::process::Output;

const N: &str = "test_exporter";

/// Variables the child must not inherit: with any of them set by the
/// machine running the tests, the outcome would depend on that machine.
const OUTER_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
    "EXPORTERCTL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

struct Https {
    f: Fixture,
    front: TlsFront,
    manifest: PathBuf,
    /// The test CA as a PEM file.
    ca: PathBuf,
}

fn setup() -> Https {
    let mut f = Fixture::new();
    f.publish(N, "1.0.0", Behaviour::Ok);
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, f.server.addr());
    let entry = exporterctl::demo::releases::manifest_entry(N, &format!("{}/test", front.url()), "1.0.0", 1, "300ms");
    let manifest = f.manifest("m.yaml", &[entry]);
    let ca_path = f.root().join("ca.pem");
    ca.write_pem(&ca_path);
    Https {
        f,
        front,
        manifest,
        ca: ca_path,
    }
}

impl Https {
    /// `exporterctl realise` with exactly `env` among [`OUTER_VARS`].
    fn realise(&self, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.f.command(&["realise", &self.manifest.to_string_lossy()]);
        for var in OUTER_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().copied());
        cmd.output().expect("run exporterctl")
    }

    fn ca(&self) -> &str {
        self.ca.to_str().expect("utf-8 temp path")
    }

    /// The checksum file's URL as the manifest names it.
    fn checksums_url(&self) -> String {
        format!("{}{}/sha256sums.txt", self.front.url(), self.f.release_base(N, "1.0.0"))
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts success, that the printed store path holds the binary, and that
/// the archive and the checksum file both came through TLS.
fn assert_realised(h: &Https, out: &Output) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let path = Path::new(stdout.trim());
    assert!(stdout.trim().ends_with("-test_exporter-1.0.0"), "{stdout}");
    assert!(path.join("bin").join(N).is_file(), "{stdout}");
    assert_eq!(h.f.store_paths().len(), 1);
    assert_eq!(h.f.server.request_count(), 2, "{:?}", h.f.server.requests());
    assert_eq!(h.front.handshakes(), 2);
}

#[test]
fn an_untrusted_certificate_fails_at_once_naming_the_url_and_stores_nothing() {
    let h = setup();
    let out = h.realise(&[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The checksum file is the first thing fetched.
    assert!(stderr.contains(&format!("{}: ", h.checksums_url())), "{stderr}");
    assert!(stderr.contains("invalid peer certificate: UnknownIssuer"), "{stderr}");
    assert!(
        stderr.contains("not signed by a trusted CA") && stderr.contains("EXPORTERCTL_CA_BUNDLE"),
        "{stderr}"
    );
    // Verification fails the same way every time: no retry.
    assert!(!stderr.contains("retrying"), "{stderr}");
    // One error, ours (with the URL): the verifier's own log line is muted.
    assert!(!stderr.contains("failed to verify TLS certificate"), "{stderr}");
    assert_eq!(h.front.connections(), 1);
    assert_eq!(h.front.handshakes(), 0);
    assert_eq!(h.f.server.request_count(), 0);
    assert!(h.f.store_paths().is_empty());
}

#[test]
fn the_bundle_in_exporterctl_ca_bundle_is_trusted() {
    let h = setup();
    let out = h.realise(&[("EXPORTERCTL_CA_BUNDLE", h.ca())]);
    assert_realised(&h, &out);
}

#[test]
fn the_bundle_in_ssl_cert_file_is_trusted() {
    let h = setup();
    let out = h.realise(&[("SSL_CERT_FILE", h.ca())]);
    assert_realised(&h, &out);
}

#[test]
fn a_bad_bundle_is_refused_naming_the_variable_and_the_file() {
    let cases = [
        (
            "EXPORTERCTL_CA_BUNDLE",
            "not a certificate\n",
            "no certificate in the file",
        ),
        ("SSL_CERT_FILE", "", "no certificate in the file"),
        (
            "EXPORTERCTL_CA_BUNDLE",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "not a PEM certificate bundle",
        ),
        // Valid PEM framing around bytes that are no certificate.
        (
            "EXPORTERCTL_CA_BUNDLE",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "certificate 1 is not a valid CA certificate",
        ),
    ];
    for (var, content, says) in cases {
        let h = setup();
        let bundle = h.f.root().join("bundle.pem");
        std::fs::write(&bundle, content).expect("write bundle");
        let out = h.realise(&[(var, &bundle.to_string_lossy())]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{var} {content:?}: {stderr}");
        assert!(
            stderr.contains(&format!("{var}={}: {says}", bundle.display())),
            "{var} {content:?}: {stderr}"
        );
        assert_eq!(h.front.connections(), 0, "{var} {content:?}");
        assert!(h.f.store_paths().is_empty());
    }
    let h = setup();
    let out = h.realise(&[("EXPORTERCTL_CA_BUNDLE", "/nonexistent/ca.pem")]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("EXPORTERCTL_CA_BUNDLE=/nonexistent/ca.pem: "),
        "{stderr}"
    );
}

#[test]
fn https_goes_through_the_proxy_as_a_connect_to_the_release_host() {
    // reqwest does not exempt loopback hosts: the proxy sees localhost too.
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let h = setup();
        let proxy = ConnectProxy::start();
        let token = "ghp_exporterctl_tls_test_token";
        let out = h.realise(&[
            ("EXPORTERCTL_CA_BUNDLE", h.ca()),
            (var, &proxy.url()),
            ("GITHUB_TOKEN", token),
        ]);
        assert_realised(&h, &out);
        let target = format!("localhost:{}", h.front.port());
        assert_eq!(
            proxy.seen(),
            vec![("CONNECT".to_string(), target.clone()), ("CONNECT".to_string(), target)],
            "{var}"
        );
        // The token is for forge APIs: not sent to a release host, never shown.
        let (stdout, stderr) = text(&out);
        assert!(!stdout.contains(token) && !stderr.contains(token));
        assert!(h
            .f
            .server
            .recorded()
            .iter()
            .all(|r| r.header("authorization").is_none()));
    }
}

#[test]
fn no_proxy_sends_https_to_the_release_host_directly() {
    for var in ["NO_PROXY", "no_proxy"] {
        let h = setup();
        let proxy = ConnectProxy::start();
        let out = h.realise(&[
            ("EXPORTERCTL_CA_BUNDLE", h.ca()),
            ("HTTPS_PROXY", &proxy.url()),
            (var, "localhost,127.0.0.1"),
        ]);
        assert_realised(&h, &out);
        assert_eq!(proxy.seen(), Vec::new(), "{var}");
    }
}

#[test]
fn without_a_system_ca_store_http_still_works_and_https_trusts_the_bundle() {
    // An empty SSL_CERT_DIR stands for a machine without CA certificates.
    let h = setup();
    let empty = tempfile::tempdir().expect("temp dir");
    let no_store = ("SSL_CERT_DIR", empty.path().to_str().expect("utf-8 temp path"));

    let plain = h.f.manifest("plain.yaml", &[h.f.entry(N, "1.0.0", 1)]);
    let mut cmd = h.f.command(&["realise", &plain.to_string_lossy()]);
    for var in OUTER_VARS {
        cmd.env_remove(var);
    }
    let out = cmd.env(no_store.0, no_store.1).output().expect("run exporterctl");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(Path::new(stdout.trim()).join("bin").join(N).is_file(), "{stdout}");

    std::fs::remove_dir_all(h.f.state()).expect("empty the store");
    h.f.server.clear_requests();
    let out = h.realise(&[no_store]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Said before connecting, with the way out.
    assert!(
        stderr.contains("this host has no CA certificates") && stderr.contains("EXPORTERCTL_CA_BUNDLE"),
        "{stderr}"
    );
    assert_eq!(h.front.handshakes(), 0);

    let out = h.realise(&[no_store, ("EXPORTERCTL_CA_BUNDLE", h.ca())]);
    assert_realised(&h, &out);
}

#[test]
fn without_a_system_ca_store_switch_and_status_work_and_https_fails_only_when_used() {
    // `switch` and `status` failed at once ("cannot set up the HTTP client:
    // No CA certificates were loaded from the system") on a host without
    // ca-certificates, although nothing they did needed TLS.
    let h = setup();
    let empty = tempfile::tempdir().expect("temp dir");
    let no_store = [("SSL_CERT_DIR", empty.path().to_str().expect("utf-8 temp path"))];
    let run = |args: &[&str]| {
        let mut cmd = h.f.command(args);
        for var in OUTER_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(no_store.iter().copied()).output().expect("run exporterctl")
    };
    let port = common::fixture::free_port();
    let plain = h.f.manifest("plain.yaml", &[h.f.entry(N, "1.0.0", port)]);
    let out = run(&["switch", &plain.to_string_lossy(), "--mode", "fast"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let out = run(&["status"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("healthy") && !stdout.contains("unhealthy"), "{stdout}");

    // https fails when it is used, and says how to provide a CA bundle.
    let out = run(&["realise", &h.manifest.to_string_lossy()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no CA certificates") && stderr.contains("EXPORTERCTL_CA_BUNDLE"),
        "{stderr}"
    );
    assert_eq!(h.front.handshakes(), 0, "refused before connecting");
}

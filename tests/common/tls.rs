//! HTTPS for the tests: a CA made at test time and a TLS front that
//! terminates TLS on 127.0.0.1 and hands each request to the plain
//! [`ReleaseServer`](super::server::ReleaseServer), so the release layout,
//! faults and request records stay in one place.
//!
//! std threads only. One request per connection is enough: the release
//! server answers every request with `Connection: close`.

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A throwaway CA and a server certificate it signed for `localhost` and
/// `127.0.0.1`.
pub struct TestCa {
    /// The CA certificate (PEM): what a client must trust.
    pub pem: String,
    config: Arc<ServerConfig>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "exporterctl test CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = rcgen::KeyPair::generate().expect("server key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).expect("sign server certificate");

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server certificate and key");
        TestCa {
            pem: ca_cert.pem(),
            config: Arc::new(config),
        }
    }

    /// Writes the CA certificate to `path` (a bundle for `EXPORTERCTL_CA_BUNDLE`).
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, &self.pem).expect("write CA bundle");
    }
}

/// Terminates TLS on `127.0.0.1:PORT` and forwards each request to `backend`.
pub struct TlsFront {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TlsFront {
    pub fn start(ca: &TestCa, backend: SocketAddr) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let config = Arc::clone(&ca.config);
            let (connections, handshakes, stop) =
                (Arc::clone(&connections), Arc::clone(&handshakes), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("tls-front-{}", addr.port()))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(tcp) = conn else { continue };
                        connections.fetch_add(1, Ordering::SeqCst);
                        let (config, handshakes) = (Arc::clone(&config), Arc::clone(&handshakes));
                        let _ = std::thread::Builder::new()
                            .name("tls-front-conn".into())
                            .spawn(move || {
                                // A client that rejects the certificate ends the
                                // handshake: nothing to report here.
                                let _ = forward(tcp, config, backend, &handshakes);
                            });
                    }
                })
                .expect("spawn accept thread")
        };
        TlsFront {
            addr,
            connections,
            handshakes,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:PORT`: the name the certificate is for.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port())
    }

    /// TCP connections accepted, whether or not TLS got anywhere.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes that completed (the client trusted the certificate).
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn forward(tcp: TcpStream, config: Arc<ServerConfig>, backend: SocketAddr, handshakes: &AtomicUsize) -> io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    let head = read_head(&mut tls)?;
    let mut upstream = TcpStream::connect(backend)?;
    upstream.write_all(&head)?;
    io::copy(&mut upstream, &mut tls)?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// The request head, up to and including the blank line (GETs and HEADs
/// carry no body).
fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if r.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}

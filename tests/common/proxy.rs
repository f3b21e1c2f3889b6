//! A forward proxy on 127.0.0.1 that records what it is asked for:
//! `CONNECT host:port` is answered `200` and tunnelled both ways; any other
//! request (a plain proxied `GET http://…`) is recorded and answered `502`,
//! so a test sees it instead of having it silently served.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct ConnectProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::Builder::new()
                .name(format!("proxy-{}", addr.port()))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(client) = conn else { continue };
                        let seen = Arc::clone(&seen);
                        let _ = std::thread::Builder::new().name("proxy-conn".into()).spawn(move || {
                            // A peer that goes away mid-tunnel is not the
                            // proxy's failure to report.
                            let _ = handle(client, &seen);
                        });
                    }
                })
                .expect("spawn accept thread")
        };
        ConnectProxy {
            addr,
            seen,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, a value for `HTTPS_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request as (method, target), in arrival order.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `host:port` of every `CONNECT`.
    pub fn connects(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|(m, _)| m == "CONNECT")
            .map(|(_, t)| t)
            .collect()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn handle(mut client: TcpStream, seen: &Mutex<Vec<(String, String)>>) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
    }
    seen.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((method.clone(), target.clone()));
    if method != "CONNECT" {
        return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    let mut upstream = match TcpStream::connect(&target) {
        Ok(s) => s,
        Err(_) => {
            return client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        }
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    // The reader goes on from where the head ended, bytes it buffered included.
    let mut to_upstream = upstream.try_clone()?;
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut reader, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

//! A local HTTP server on 127.0.0.1 that mimics GitHub's release layout, with fault injection.
//!
//! std only: a `TcpListener` on `127.0.0.1:0`, one thread per connection,
//! HTTP/1.1 with `Connection: close` on every response (no keep-alive to get
//! wrong). Every request is recorded (method, path with query, headers) in
//! arrival order. Unknown paths get 404. The server stops when dropped.
//!
//! ```ignore
//! let srv = ReleaseServer::start();
//! let url = srv.add_release("prometheus/node_exporter", "v1.9.1", "node_exporter-1.9.1.linux-amd64.tar.gz", bytes);
//! srv.fail_next("/prometheus/node_exporter/releases/download/v1.9.1/sha256sums.txt", 2, Fault::Status(500));
//! ```

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// A fault served instead of the normal answer for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and a short body).
    Status(u16),
    /// Send the headers with the full `Content-Length`, half the body, then close.
    DropMidBody,
    /// `302 Found` with `Location: <to>` (absolute URL or a path on this server).
    Redirect(String),
    /// GitHub's rate limit: 403 with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset: <reset>`.
    RateLimited { reset: u64 },
    /// Send the headers and half the body, then stall this long before closing
    /// (exercises read/idle timeouts).
    Stall(Duration),
    /// `200` with zeros until the client hangs up: with `Content-Length:
    /// <declared>`, or without one (the body ends when the connection does).
    Endless { declared: Option<u64> },
    /// `200` with the file's `Content-Length`, then one byte per `Duration`
    /// until the client hangs up or the body is complete.
    Trickle(Duration),
}

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

struct Resource {
    bytes: Arc<Vec<u8>>,
    content_type: String,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Resource>,
    /// Per path: faults still to serve, as (fault, remaining count), in order.
    faults: HashMap<String, VecDeque<(Fault, usize)>>,
    /// Permanent redirects: a path starting with the prefix (and not served
    /// as a file) gets `301` to the target + the rest of the path.
    redirects: Vec<(String, String)>,
    requests: Vec<Request>,
}

pub struct ReleaseServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn normalise(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

impl ReleaseServer {
    pub fn start() -> ReleaseServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("release-server-{}", addr.port()))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = conn else { continue };
                        let state = Arc::clone(&state);
                        let _ = std::thread::Builder::new()
                            .name("release-server-conn".into())
                            .spawn(move || handle(stream, &state));
                    }
                })
                .expect("spawn accept thread")
        };
        ReleaseServer {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `url()` + `path`.
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{}", self.url(), normalise(path))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `bytes` at `path` (`application/octet-stream`); replaces any earlier file.
    pub fn add_file(&self, path: &str, bytes: Vec<u8>) {
        self.add_with_type(path, bytes, "application/octet-stream");
    }

    /// Serves `text` at `path` as `text/plain`.
    pub fn add_text(&self, path: &str, text: &str) {
        self.add_with_type(path, text.as_bytes().to_vec(), "text/plain; charset=utf-8");
    }

    /// Serves `json` at `path` as `application/json` (forge API answers).
    pub fn add_json(&self, path: &str, json: &str) {
        self.add_with_type(path, json.as_bytes().to_vec(), "application/json");
    }

    pub fn add_with_type(&self, path: &str, bytes: Vec<u8>, content_type: &str) {
        lock(&self.state).files.insert(
            normalise(path),
            Resource {
                bytes: Arc::new(bytes),
                content_type: content_type.to_string(),
            },
        );
    }

    /// GitHub's layout: serves `bytes` at `/<repo>/releases/download/<tag>/<name>`
    /// (`repo` = `owner/name`) and returns the full URL.
    pub fn add_release(&self, repo: &str, tag: &str, name: &str, bytes: Vec<u8>) -> String {
        let path = release_path(repo, tag, name);
        self.add_file(&path, bytes);
        self.url_of(&path)
    }

    /// Every request below `from` (a path prefix) is answered `301 Moved
    /// Permanently` to `to` + the rest of the path (query included); `to`
    /// may be a path on this server or an absolute URL. Files served at a
    /// path take precedence. A moved repository, or GitHub's redirect of a
    /// release download to its object storage host.
    pub fn redirect_prefix(&self, from: &str, to: &str) {
        lock(&self.state).redirects.push((normalise(from), to.to_string()));
    }

    pub fn remove_file(&self, path: &str) {
        lock(&self.state).files.remove(&normalise(path));
    }

    /// The next `n` requests for `path` get `fault` (after faults queued
    /// earlier for the same path); later ones are served normally.
    pub fn fail_next(&self, path: &str, n: usize, fault: Fault) {
        if n == 0 {
            return;
        }
        lock(&self.state)
            .faults
            .entry(normalise(path))
            .or_default()
            .push_back((fault, n));
    }

    /// Paths (with query) requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.iter().map(|r| r.path.clone()).collect()
    }

    /// Every request so far with its method and headers, in order.
    pub fn recorded(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// How many requests were made for exactly `path` (query ignored).
    pub fn requests_for(&self, path: &str) -> usize {
        let path = normalise(path);
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| strip_query(&r.path) == path)
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

/// `/<repo>/releases/download/<tag>/<name>`.
pub fn release_path(repo: &str, tag: &str, name: &str) -> String {
    format!("/{}/releases/download/{tag}/{name}", repo.trim_matches('/'))
}

fn strip_query(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

impl Drop for ReleaseServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

enum Answer {
    File(Arc<Vec<u8>>, String),
    Moved(String),
    Fault(Fault, Option<Arc<Vec<u8>>>),
    NotFound,
}

fn handle(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some(req) = read_request(&stream) else {
        return;
    };
    let answer = {
        let mut st = lock(state);
        st.requests.push(req.clone());
        let key = if st.files.contains_key(&req.path) || st.faults.contains_key(&req.path) {
            req.path.clone()
        } else {
            strip_query(&req.path).to_string()
        };
        let fault = match st.faults.get_mut(&key) {
            Some(queue) => {
                let f = queue.front_mut().map(|(fault, left)| {
                    *left -= 1;
                    (fault.clone(), *left == 0)
                });
                match f {
                    Some((fault, used_up)) => {
                        if used_up {
                            queue.pop_front();
                        }
                        Some(fault)
                    }
                    None => None,
                }
            }
            None => None,
        };
        let file = st.files.get(&key);
        let moved = st
            .redirects
            .iter()
            .find(|(from, _)| req.path.starts_with(from.as_str()))
            .map(|(from, to)| format!("{to}{}", &req.path[from.len()..]));
        match fault {
            Some(f) => Answer::Fault(f, file.map(|r| Arc::clone(&r.bytes))),
            None => match (file, moved) {
                (Some(r), _) => Answer::File(Arc::clone(&r.bytes), r.content_type.clone()),
                (None, Some(to)) => Answer::Moved(to),
                (None, None) => Answer::NotFound,
            },
        }
    };
    let head_only = req.method == "HEAD";
    let mut s = stream;
    let _ = respond(&mut s, answer, head_only);
    let _ = s.flush();
    let _ = s.shutdown(Shutdown::Both);
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            break;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let req = Request { method, path, headers };
    // Drain a request body, if any, so closing does not reset the connection.
    if let Some(len) = req.header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        let _ = std::io::copy(&mut reader.by_ref().take(len), &mut std::io::sink());
    }
    Some(req)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn head(s: &mut TcpStream, code: u16, len: usize, extra: &[(&str, String)]) -> std::io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {code} {}\r\nContent-Length: {len}\r\nConnection: close\r\n",
        reason(code)
    );
    for (n, v) in extra {
        h.push_str(&format!("{n}: {v}\r\n"));
    }
    h.push_str("\r\n");
    s.write_all(h.as_bytes())
}

fn simple(s: &mut TcpStream, code: u16, body: &str, extra: &[(&str, String)], head_only: bool) -> std::io::Result<()> {
    let mut extra = extra.to_vec();
    extra.push(("Content-Type", "text/plain".into()));
    head(s, code, body.len(), &extra)?;
    if !head_only {
        s.write_all(body.as_bytes())?;
    }
    Ok(())
}

fn respond(s: &mut TcpStream, answer: Answer, head_only: bool) -> std::io::Result<()> {
    match answer {
        Answer::NotFound => simple(s, 404, "Not Found", &[], head_only),
        Answer::Moved(to) => simple(s, 301, "", &[("Location", to)], head_only),
        Answer::File(bytes, ct) => {
            head(s, 200, bytes.len(), &[("Content-Type", ct)])?;
            if !head_only {
                s.write_all(&bytes)?;
            }
            Ok(())
        }
        Answer::Fault(Fault::Status(code), _) => simple(s, code, &format!("injected {code}"), &[], head_only),
        Answer::Fault(Fault::Redirect(to), _) => simple(s, 302, "", &[("Location", to)], head_only),
        Answer::Fault(Fault::RateLimited { reset }, _) => simple(
            s,
            403,
            r#"{"message":"API rate limit exceeded"}"#,
            &[
                ("X-RateLimit-Limit", "60".into()),
                ("X-RateLimit-Remaining", "0".into()),
                ("X-RateLimit-Reset", reset.to_string()),
            ],
            head_only,
        ),
        Answer::Fault(Fault::Endless { declared }, _) => {
            let mut h =
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n".to_string();
            if let Some(len) = declared {
                h.push_str(&format!("Content-Length: {len}\r\n"));
            }
            h.push_str("\r\n");
            s.write_all(h.as_bytes())?;
            if !head_only {
                let zeros = vec![0u8; 64 * 1024];
                loop {
                    s.write_all(&zeros)?;
                }
            }
            Ok(())
        }
        Answer::Fault(Fault::Trickle(every), file) => {
            let bytes = file.unwrap_or_else(|| Arc::new(vec![b'.'; 1 << 20]));
            head(
                s,
                200,
                bytes.len(),
                &[("Content-Type", "application/octet-stream".into())],
            )?;
            if !head_only {
                for b in bytes.iter() {
                    s.write_all(&[*b])?;
                    s.flush()?;
                    std::thread::sleep(every);
                }
            }
            Ok(())
        }
        Answer::Fault(fault @ (Fault::DropMidBody | Fault::Stall(_)), file) => {
            let bytes = file.unwrap_or_else(|| Arc::new(b"0123456789abcdef0123456789abcdef".to_vec()));
            head(
                s,
                200,
                bytes.len(),
                &[("Content-Type", "application/octet-stream".into())],
            )?;
            if !head_only {
                s.write_all(&bytes[..bytes.len() / 2])?;
                s.flush()?;
                if let Fault::Stall(d) = fault {
                    std::thread::sleep(d);
                }
            }
            Ok(())
        }
    }
}

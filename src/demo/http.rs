//! A minimal std-only HTTP/1.1 server: one thread per connection, one
//! request per connection (`Connection: close`). Enough for the demo
//! exporter, a static release server and tests; not for the internet.
//!
//! Binding: std's `TcpListener::bind` sets `SO_REUSEADDR` on Unix, so a
//! restarted server can bind its port again while old connections sit in
//! `TIME_WAIT` (a test below checks this).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Request line plus headers may not exceed this.
const MAX_HEAD: u64 = 16 * 1024;
/// Request bodies larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path without the query, as sent (not percent-decoded).
    pub path: String,
    /// What follows `?`, if anything.
    pub query: Option<String>,
    /// Names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: Option<SocketAddr>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub enum Body {
    Bytes(Vec<u8>),
    /// Streamed from an open file of this length.
    File(File, u64),
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    pub fn not_found() -> Response {
        Response::text(404, "not found\n")
    }

    /// Serves a file (404 if it cannot be opened); `application/octet-stream`.
    pub fn file(path: &Path) -> Response {
        match File::open(path).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok((f, m)) if m.is_file() => Response {
                status: 200,
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: Body::File(f, m.len()),
            },
            _ => Response::not_found(),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = Body::Bytes(body);
        self
    }

    fn len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Serves forever (until accepting fails for good), one thread per connection.
pub fn serve<H>(listener: TcpListener, handler: H) -> io::Result<()>
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    serve_until(listener, Arc::new(handler), Arc::new(AtomicBool::new(false)))
}

fn serve_until<H>(listener: TcpListener, handler: Arc<H>, stop: Arc<AtomicBool>) -> io::Result<()>
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    let mut consecutive_errors = 0u32;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match accepted {
            Ok((stream, peer)) => {
                consecutive_errors = 0;
                let handler = Arc::clone(&handler);
                let spawned = std::thread::Builder::new()
                    .name("http-conn".into())
                    .spawn(move || handle_connection(stream, peer, &*handler));
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and friends pass; a listener that keeps failing is broken.
                consecutive_errors += 1;
                if consecutive_errors > 100 {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A server running on a background thread (for tests and the demo).
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and closes the listening socket (new connections are
    /// refused); requests already being answered finish on their own.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); the loop sees the flag and returns,
        // dropping the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = thread.join();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts [`serve`] on a background thread.
pub fn spawn<H>(listener: TcpListener, handler: H) -> io::Result<ServerHandle>
where
    H: Fn(&Request) -> Response + Send + Sync + 'static,
{
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name(format!("http-{addr}"))
            .spawn(move || serve_until(listener, Arc::new(handler), stop))?
    };
    Ok(ServerHandle {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn handle_connection(stream: TcpStream, peer: SocketAddr, handler: &dyn Fn(&Request) -> Response) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let response = match read_request(&mut reader, peer) {
        Ok(Some(req)) => {
            let mut resp = handler(&req);
            if req.method == "HEAD" {
                let len = resp.len();
                resp.body = Body::Bytes(Vec::new());
                resp = resp.header("Content-Length", len.to_string());
            }
            resp
        }
        Ok(None) => return, // closed before sending anything
        Err(e) => Response::text(e.status, format!("{}\n", e.message)),
    };
    let mut out = stream;
    let _ = write_response(&mut out, response);
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Write);
}

struct BadRequest {
    status: u16,
    message: String,
}

fn bad(status: u16, message: impl Into<String>) -> BadRequest {
    BadRequest {
        status,
        message: message.into(),
    }
}

fn read_request(reader: &mut impl BufRead, peer: SocketAddr) -> Result<Option<Request>, BadRequest> {
    let mut head = reader.take(MAX_HEAD);
    let mut line = String::new();
    let n = head
        .read_line(&mut line)
        .map_err(|_| bad(400, "cannot read the request"))?;
    if n == 0 {
        return Ok(None);
    }
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(400, "malformed request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(bad(400, "malformed request line"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let method = method.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = head
            .read_line(&mut line)
            .map_err(|_| bad(400, "cannot read the headers"))?;
        if n == 0 || !line.ends_with('\n') {
            return Err(bad(431, "request head too large or truncated"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(bad(400, "malformed header"));
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
        peer: Some(peer),
    };
    if let Some(len) = req.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad(400, "bad Content-Length"))?;
        if len > MAX_BODY {
            return Err(bad(413, "request body too large"));
        }
        req.body = vec![0; len];
        reader
            .read_exact(&mut req.body)
            .map_err(|_| bad(400, "truncated request body"))?;
    } else if req.header("transfer-encoding").is_some() {
        return Err(bad(411, "chunked request bodies are not supported"));
    }
    Ok(Some(req))
}

fn write_response(out: &mut impl Write, resp: Response) -> io::Result<()> {
    let has_len = resp
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason_phrase(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        head.push_str(&format!("Content-Length: {}\r\n", resp.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    match resp.body {
        Body::Bytes(b) => out.write_all(&b),
        Body::File(f, n) => io::copy(&mut f.take(n), out).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, raw: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn echo_server() -> ServerHandle {
        // Below the ephemeral range (see `demo::port`): the tests rebind the
        // port after shutdown, and a parallel test's outgoing connection
        // must not have taken it meanwhile.
        let port = crate::demo::free_port().unwrap();
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        spawn(l, |req: &Request| {
            Response::text(
                200,
                format!(
                    "{} {} {:?} ua={:?} body={}",
                    req.method,
                    req.path,
                    req.query,
                    req.header("User-Agent"),
                    String::from_utf8_lossy(&req.body)
                ),
            )
        })
        .unwrap()
    }

    #[test]
    fn answers_and_closes() {
        let srv = echo_server();
        let out = get(
            srv.addr(),
            "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.contains("Connection: close\r\n"));
        assert!(
            out.ends_with("GET /metrics Some(\"x=1\") ua=Some(\"t\") body="),
            "{out}"
        );
        let out = get(srv.addr(), "POST /p HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
        assert!(out.ends_with("body=abc"), "{out}");
    }

    #[test]
    fn head_has_length_but_no_body() {
        let srv = echo_server();
        let out = get(srv.addr(), "HEAD / HTTP/1.1\r\n\r\n");
        assert!(out.contains("Content-Length: "), "{out}");
        assert!(out.ends_with("\r\n\r\n"), "{out}");
    }

    #[test]
    fn malformed_requests_get_400() {
        let srv = echo_server();
        assert!(get(srv.addr(), "NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(get(srv.addr(), "GET / HTTP/1.1\r\nno colon\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert!(get(srv.addr(), &huge).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn works_with_reqwest_and_serves_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.tar.gz");
        std::fs::write(&f, vec![7u8; 200_000]).unwrap();
        let root = dir.path().to_path_buf();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let srv = spawn(l, move |req: &Request| {
            Response::file(&root.join(req.path.trim_start_matches('/')))
        })
        .unwrap();
        let c = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
        let r = c.get(format!("{}/a.tar.gz", srv.url())).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().unwrap().len(), 200_000);
        let r = c.get(format!("{}/missing", srv.url())).send().unwrap();
        assert_eq!(r.status(), 404);
    }

    #[test]
    fn shutdown_refuses_new_connections() {
        let srv = echo_server();
        let addr = srv.addr();
        srv.shutdown();
        assert_eq!(
            TcpStream::connect(addr).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    /// std sets SO_REUSEADDR: the port can be bound again at once although
    /// the server closed a connection first (its side is in TIME_WAIT).
    #[test]
    fn rebinding_right_after_a_served_connection_works() {
        let srv = echo_server();
        let addr = srv.addr();
        let out = get(addr, "GET / HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200"));
        srv.shutdown();
        let again = TcpListener::bind(addr).expect("rebinding the port at once (SO_REUSEADDR)");
        drop(again);
    }

    #[test]
    fn std_listeners_have_so_reuseaddr() {
        use std::os::fd::AsRawFd;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut v: nix::libc::c_int = 0;
        let mut len = std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t;
        // SAFETY: valid socket fd and out-pointers of the right size.
        let rc = unsafe {
            nix::libc::getsockopt(
                l.as_raw_fd(),
                nix::libc::SOL_SOCKET,
                nix::libc::SO_REUSEADDR,
                (&mut v as *mut nix::libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_ne!(v, 0, "SO_REUSEADDR is not set");
    }
}

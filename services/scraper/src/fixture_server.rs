//! A small local HTTP server of recorded responses, for the scraper's tests, the
//! end-to-end tests and `make demo`. Each path (with its query) has a script of replies:
//! request N gets reply N, and the last reply repeats. That is enough to play a 429
//! then a 200, a slow server, or a site that loops its pagination.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait before answering (to provoke client timeouts).
    pub delay: Duration,
}

impl Reply {
    /// A 200 with a content type.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An empty response with this status.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), delay: Duration::ZERO }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Answers after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Routes = Arc<Mutex<BTreeMap<String, (Vec<Reply>, usize)>>>;

/// A running server; it stops when dropped.
pub struct FixtureServer {
    addr: SocketAddr,
    routes: Routes,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The content type of a fixture file, by extension.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "application/xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "text/plain",
    }
}

impl FixtureServer {
    /// Serves `routes` (path with query → replies) on 127.0.0.1 at `port` (0: any).
    pub async fn start(port: u16, routes: BTreeMap<String, Vec<Reply>>) -> std::io::Result<FixtureServer> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let routes: Routes = Arc::new(Mutex::new(routes.into_iter().map(|(k, v)| (k, (v, 0))).collect()));
        let shared = routes.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, shared.clone()));
            }
        });
        Ok(FixtureServer { addr, routes, task })
    }

    /// Serves every file under `dir` at `/<relative path>`; a file named
    /// `name@page=2.json` is served at `/name?page=2`.
    pub async fn serve_dir(port: u16, dir: &Path) -> std::io::Result<FixtureServer> {
        let mut routes = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let relative =
                    path.strip_prefix(dir).map_err(std::io::Error::other)?.to_string_lossy().replace('\\', "/");
                let route = match relative.split_once('@') {
                    Some((name, query)) => {
                        let query = query.rsplit_once('.').map(|(q, _)| q).unwrap_or(query);
                        format!("/{name}?{query}")
                    }
                    None => format!("/{relative}"),
                };
                routes.insert(route, vec![Reply::ok(content_type(&path), std::fs::read(&path)?)]);
            }
        }
        Self::start(port, routes).await
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, every route answers after `delay`.
    pub fn delay_all(&self, delay: Duration) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.values_mut().flat_map(|(replies, _)| replies.iter_mut()).for_each(|r| r.delay = delay);
        }
    }

    /// How many requests a route has had.
    pub fn hits(&self, route: &str) -> usize {
        self.routes.lock().map(|r| r.get(route).map(|(_, n)| *n).unwrap_or(0)).unwrap_or(0)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn answer(mut stream: TcpStream, routes: Routes) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_owned();
    let reply = {
        let mut routes = routes.lock().unwrap_or_else(|p| p.into_inner());
        match routes.get_mut(&target) {
            Some((replies, served)) => {
                let reply = replies.get(*served).or_else(|| replies.last()).cloned();
                *served += 1;
                reply
            }
            None => None,
        }
    }
    .unwrap_or_else(|| Reply::status(404));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

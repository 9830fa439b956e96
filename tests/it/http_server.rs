//! A small HTTP/1.1 server on loopback for the tests that need one to talk to: it plays an
//! access service (the http backend), a ticketing system, a webhook receiver and an audit
//! collector. Real sockets, one thread per connection, `Connection: close` on every answer.
//! Every request is recorded; answers come from routes (method + path prefix), and a route
//! can hold a script of answers used up one by one before its standing answer.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path with its query string, as sent.
    pub path: String,
    /// Header names in lowercase, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == &name.to_ascii_lowercase())
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    /// Hold the answer this long (to test timeouts).
    pub delay: Option<Duration>,
    /// More header lines, such as a redirect's `Location`.
    pub headers: Vec<(String, String)>,
    /// Hold the answer until this many requests to the route have arrived (up to 20 s), so
    /// that a test can know its callers were all inside their calls at once.
    pub gather: Option<usize>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
            content_type: "text/plain",
            delay: None,
            headers: Vec::new(),
            gather: None,
        }
    }

    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json",
            delay: None,
            headers: Vec::new(),
            gather: None,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }

    pub fn gathering(mut self, count: usize) -> Reply {
        self.gather = Some(count);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

struct Route {
    method: String,
    prefix: String,
    script: Vec<Reply>,
    standing: Reply,
}

#[derive(Default)]
struct State {
    routes: Vec<Route>,
    requests: Vec<Recorded>,
}

pub struct HttpServer {
    port: u16,
    shared: Arc<(Mutex<State>, Condvar)>,
    listener: Mutex<Option<Arc<TcpListener>>>,
}

impl HttpServer {
    /// Listen on a free loopback port; unrouted requests get 404.
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer {
            port,
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
            listener: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: TcpListener) {
        let listener = Arc::new(listener);
        *self.listener.lock().unwrap() = Some(Arc::clone(&listener));
        let shared = Arc::clone(&self.shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || answer(stream, &shared));
            }
        });
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer `method` requests whose path starts with `prefix` with `reply` (a later route
    /// for the same method and prefix replaces it).
    pub fn route(&self, method: &str, prefix: &str, reply: Reply) {
        let mut state = self.shared.0.lock().unwrap();
        match state
            .routes
            .iter_mut()
            .find(|r| r.method == method && r.prefix == prefix)
        {
            Some(route) => route.standing = reply,
            None => state.routes.push(Route {
                method: method.to_owned(),
                prefix: prefix.to_owned(),
                script: Vec::new(),
                standing: reply,
            }),
        }
    }

    /// Answer the next requests of an existing route with `replies`, in order, then go
    /// back to its standing answer.
    pub fn script(&self, method: &str, prefix: &str, replies: Vec<Reply>) {
        let mut state = self.shared.0.lock().unwrap();
        let route = state
            .routes
            .iter_mut()
            .find(|r| r.method == method && r.prefix == prefix)
            .expect("script a route that exists");
        route.script.extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.0.lock().unwrap().requests.clone()
    }

    /// The recorded requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Wait (up to 20 s) until `count` requests to `prefix` have arrived; returns them.
    pub fn wait_for(&self, prefix: &str, count: usize) -> Vec<Recorded> {
        let (lock, arrived) = &*self.shared;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut state = lock.lock().unwrap();
        loop {
            let seen: Vec<Recorded> = state
                .requests
                .iter()
                .filter(|r| r.path.starts_with(prefix))
                .cloned()
                .collect();
            if seen.len() >= count {
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "waited 20 s for {count} requests to {prefix}; got {}",
                seen.len()
            );
            state = arrived.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Stop listening: connections are refused until [`HttpServer::resume`].
    pub fn pause(&self) {
        if let Some(listener) = self.listener.lock().unwrap().take() {
            // Wake the accept loop so that it ends and the socket closes.
            let _ = listener.set_nonblocking(true);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
        }
        // The port is free once the accept thread has dropped its handle.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Listen again on the same port.
    pub fn resume(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.serve(listener);
    }
}

fn answer(stream: TcpStream, shared: &(Mutex<State>, Condvar)) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let reply = {
        let mut state = shared.0.lock().unwrap();
        let (prefix, reply) = state
            .routes
            .iter_mut()
            .filter(|r| r.method == request.method && request.path.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
            .map(|route| {
                let reply = if route.script.is_empty() {
                    route.standing.clone()
                } else {
                    route.script.remove(0)
                };
                (route.prefix.clone(), reply)
            })
            .unwrap_or_else(|| (String::new(), Reply::status(404)));
        state.requests.push(request);
        shared.1.notify_all();
        if let Some(count) = reply.gather {
            let deadline = Instant::now() + Duration::from_secs(20);
            while state
                .requests
                .iter()
                .filter(|r| r.path.starts_with(&prefix))
                .count()
                < count
            {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = shared.1.wait_timeout(state, left).unwrap().0;
            }
        }
        reply
    };
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    let extra: String = reply
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    );
}

fn read_request(stream: &TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

//! Outgoing HTTP for the http backend, ticket checks, notifications and audit shipping:
//! one client setup (rustls with the system roots, as the other backends), URL templates
//! whose values are percent-encoded, the auth header and HMAC-SHA256 signature of
//! [`Endpoint`]s, and retries with backoff on 5xx, 429 and unreachable endpoints.
//!
//! Errors never hold the URL (a URL may itself be a secret): callers name the endpoint as
//! configured, with [`Location::shown`].

use crate::config::endpoint::{Endpoint, Location};
use crate::secret::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::cell::OnceCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The header carrying the signature: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Jit-Signature";
/// The header carrying the signature's time, in unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Jit-Timestamp";

/// What came back from a request that got an answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

#[derive(Debug)]
pub enum HttpError {
    /// An answer outside 2xx.
    Status { status: u16, body: String },
    /// No answer, after the request may have been sent (a timeout, a connection lost).
    Transport(String),
    /// No connection could be opened (refused, name not found, TLS handshake failed):
    /// nothing was sent.
    Unreached(String),
    /// Nothing was sent: a secret could not be read or the request not be built.
    Local(String),
}

impl HttpError {
    /// Worth sending again: the server failed or asked to slow down, or did not answer.
    pub fn transient(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status >= 500 || *status == 429,
            HttpError::Transport(_) | HttpError::Unreached(_) => true,
            HttpError::Local(_) => false,
        }
    }

    /// Whether the request is known not to have left this process.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, HttpError::Unreached(_) | HttpError::Local(_))
    }

    /// The failure of the last of several attempts, when an earlier one may have been
    /// received: then nothing can be said about what was sent.
    pub fn after(self, reached_before: bool) -> HttpError {
        match self {
            HttpError::Unreached(message) | HttpError::Local(message) if reached_before => {
                HttpError::Transport(message)
            }
            other => other,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status { status, body } => {
                write!(f, "HTTP {status}")?;
                let first = body.lines().map(str::trim).find(|l| !l.is_empty());
                match first {
                    Some(line) => write!(f, ": {}", line.chars().take(200).collect::<String>()),
                    None => Ok(()),
                }
            }
            HttpError::Transport(message)
            | HttpError::Unreached(message)
            | HttpError::Local(message) => f.write_str(message),
        }
    }
}

/// One request to send: method, the URL's placeholder values, a body, extra headers.
pub struct Call<'a> {
    pub method: reqwest::Method,
    pub values: &'a [(&'a str, &'a str)],
    /// A JSON (or JSON lines) body, signed when the endpoint has a signing secret.
    pub body: Option<(&'a str, &'static str)>,
    pub headers: &'a [(&'static str, String)],
}

/// A client for one endpoint, built on first use and reused (connections too).
pub struct Client {
    endpoint: Endpoint,
    http: OnceCell<reqwest::blocking::Client>,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        Client {
            endpoint,
            http: OnceCell::new(),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn http(&self) -> Result<&reqwest::blocking::Client, HttpError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = build_client(self.endpoint.timeout).map_err(HttpError::Local)?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Send `call` to the endpoint's URL, again after a transient failure up to `retries`
    /// times with backoff; the 2xx answer.
    pub fn send(&self, call: &Call<'_>) -> Result<Reply, HttpError> {
        self.send_to(&self.endpoint.url, call)
    }

    /// [`Client::send`] to another URL of the same service (such as a revoke URL).
    pub fn send_to(&self, url: &Location, call: &Call<'_>) -> Result<Reply, HttpError> {
        let mut attempt = 0;
        let mut reached = false;
        loop {
            match self.send_once(url, call) {
                Err(err) if err.transient() && attempt < self.endpoint.retries => {
                    reached |= !err.nothing_sent();
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
                outcome => return outcome.map_err(|err| err.after(reached)),
            }
        }
    }

    fn send_once(&self, location: &Location, call: &Call<'_>) -> Result<Reply, HttpError> {
        let url = match location {
            Location::Template(template) => expand(template, call.values),
            Location::Secret(reference) => {
                let secret = reference
                    .resolve()
                    .map_err(|err| HttpError::Local(format!("url: {err}")))?;
                expand(secret.expose(), call.values)
            }
        };
        // A template was checked when the configuration was read; a secret URL only now.
        // Neither the URL nor the parser's message (which may quote it) is shown.
        let url = reqwest::Url::parse(&url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                HttpError::Local("the secret's value is not an http(s) URL".to_owned())
            })?;
        let mut request = self.http()?.request(call.method.clone(), url);
        if let Some(reference) = &self.endpoint.auth {
            let value = reference
                .resolve()
                .map_err(|err| HttpError::Local(format!("auth: {err}")))?;
            let mut value =
                reqwest::header::HeaderValue::from_str(value.expose().trim()).map_err(|_| {
                    HttpError::Local(format!(
                        "auth: secret {reference} is not a valid header value"
                    ))
                })?;
            value.set_sensitive(true);
            request = request.header(self.endpoint.auth_header.as_str(), value);
        }
        for (name, value) in call.headers {
            request = request.header(*name, value);
        }
        if let Some((body, content_type)) = call.body {
            if let Some(reference) = &self.endpoint.signing_secret {
                let key = reference
                    .resolve()
                    .map_err(|err| HttpError::Local(format!("signing_secret: {err}")))?;
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    .to_string();
                request = request
                    .header(TIMESTAMP_HEADER, &timestamp)
                    .header(SIGNATURE_HEADER, signature(&key, &timestamp, body));
            }
            request = request
                .header("content-type", content_type)
                .body(body.to_owned());
        }
        let transport = |err: reqwest::Error| HttpError::Transport(cause(&err));
        let response = request.send().map_err(|err| {
            if err.is_connect() {
                HttpError::Unreached(cause(&err))
            } else {
                transport(err)
            }
        })?;
        let status = response.status().as_u16();
        let body = response.text().map_err(transport)?;
        if (200..300).contains(&status) {
            Ok(Reply { status, body })
        } else {
            Err(HttpError::Status { status, body })
        }
    }
}

/// A blocking client with jit's TLS setup (system roots, full verification). The roots are
/// read once per process, however many endpoints a command talks to.
pub fn build_client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    static TLS: std::sync::OnceLock<Result<rustls::ClientConfig, String>> =
        std::sync::OnceLock::new();
    let tls = TLS
        .get_or_init(|| crate::net::tls::client_config(&crate::net::tls::TlsMode::VerifyFull, None))
        .clone()?;
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .tls_backend_preconfigured(tls)
        // A redirect is an answer like any other non-2xx one: following it would send the
        // signed body (and a custom auth header, which reqwest keeps across hosts) to
        // wherever the answer points, and would turn a POST into a GET whose 2xx reads as
        // a grant or revocation done.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| format!("HTTP client: {err}"))
}

/// `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"` under `key`.
pub fn signature(key: &Secret<String>, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Fill `{name}` placeholders with their values, percent-encoded so that a value stays
/// within one path segment or query value.
pub fn expand(template: &str, values: &[(&str, &str)]) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let mut out = template.to_owned();
    for (name, value) in values {
        let encoded = utf8_percent_encode(value, VALUE).to_string();
        out = out.replace(&format!("{{{name}}}"), &encoded);
    }
    out
}

/// The innermost cause of a failure ("Connection refused (os error 111)"); never the URL.
pub fn cause(err: &reqwest::Error) -> String {
    let mut inner: &dyn std::error::Error = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "reading the answer"
    } else {
        "request failed"
    };
    // "timed out: operation timed out" says it twice.
    if std::ptr::eq(inner, err as &dyn std::error::Error) || err.is_timeout() {
        kind.to_owned()
    } else {
        format!("{kind}: {inner}")
    }
}

/// 200 ms for the first retry, doubling up to 5 s, with up to 100 ms of jitter.
pub fn backoff(attempt: u32) -> Duration {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    let base = 100u64.saturating_mul(1 << attempt.min(6)).min(5000);
    Duration::from_millis(base + u64::from(jitter[0]) * 100 / 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_in_their_segment() {
        assert_eq!(
            expand(
                "https://t.example/issue/{ticket}?x={ticket}",
                &[("ticket", "CHG-1/../a b&c")]
            ),
            "https://t.example/issue/CHG-1%2F..%2Fa%20b%26c?x=CHG-1%2F..%2Fa%20b%26c"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with Python: hmac.new(b"key", b"1700000000.{\"v\":1}", sha256).
        let key = Secret::new("key".to_owned());
        assert_eq!(
            signature(&key, "1700000000", "{\"v\":1}"),
            "sha256=afc180db7100385a559c0f5c5e3d6a432cd1ec1049002cc3920aac6cc071a1ec"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert!(
            backoff(1) >= Duration::from_millis(200) && backoff(1) <= Duration::from_millis(300)
        );
        assert!(backoff(9) <= Duration::from_millis(5100));
    }

    #[test]
    fn only_server_failures_throttling_and_silence_are_retried() {
        let status = |status| HttpError::Status {
            status,
            body: String::new(),
        };
        assert!(status(500).transient());
        assert!(status(503).transient());
        assert!(status(429).transient());
        assert!(!status(404).transient());
        assert!(!status(400).transient());
        assert!(HttpError::Transport("x".into()).transient());
        assert!(HttpError::Unreached("x".into()).transient());
        assert!(!HttpError::Local("x".into()).transient());
    }

    #[test]
    fn nothing_was_sent_only_when_no_attempt_could_have_been() {
        assert!(HttpError::Unreached("x".into()).nothing_sent());
        assert!(HttpError::Local("x".into()).nothing_sent());
        assert!(!HttpError::Transport("x".into()).nothing_sent());
        assert!(HttpError::Unreached("x".into()).after(false).nothing_sent());
        assert!(!HttpError::Unreached("x".into()).after(true).nothing_sent());
    }
}

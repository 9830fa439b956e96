//! `backend = "http"`: grants and revocations are calls to a service's HTTP API, with the
//! versioned JSON body of `docs/backends/http.md`, an auth header from a secret reference,
//! an HMAC-SHA256 signature over each body, and retries with backoff on 5xx, 429 and
//! unreachable endpoints. A 404 or 410 answer to a revoke means the grant is already gone.

pub mod config;

use super::{BackendError, Check, EndRequest, Grant, GrantRequest, Presence, Traits, TypedBackend};
use super::discover::{Discovery, Finding, Scope};
use super::{Sharing, command, command::protocol::Envelope};
use crate::config::endpoint::Location;
use crate::http::{Call, Client, HttpError, Reply};
use crate::lease::Lease;
use chrono::{DateTime, Utc};
use config::HttpTarget;
use config::RevokeMethod;
use serde_json::Value;

pub struct HttpBackend {
    settings: HttpTarget,
    client: Client,
}

impl HttpBackend {
    pub fn new(settings: HttpTarget) -> Self {
        HttpBackend {
            client: Client::new(settings.endpoint.clone()),
            settings,
        }
    }

    /// The request body: the same envelope as the command protocol's, version 1.
    fn body(
        op: &str,
        target: &str,
        lease: &Lease,
        expires_at: Option<DateTime<Utc>>,
        params: &Value,
    ) -> String {
        Envelope::about(op, target, lease, expires_at, params, &lease.handle).to_text()
    }

    fn values(target: &'_ str, lease: &'_ Lease) -> [(&'static str, String); 4] {
        [
            ("lease_id", lease.id.clone()),
            ("role", lease.role.clone()),
            ("subject", lease.subject.clone()),
            ("target", target.to_owned()),
        ]
    }

    /// POST `op` (a grant or a new end) to the URL; the 2xx answer.
    fn post(&self, op: &str, request: &GrantRequest<'_>) -> Result<Reply, BackendError> {
        let lease = request.lease;
        let body = Envelope::granting(op, request, &lease.handle).to_text();
        let values = Self::values(&lease.target, lease);
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.client
            .send(&Call {
                method: reqwest::Method::POST,
                values: &values,
                body: Some((&body, "application/json")),
                headers: &[],
            })
            .map_err(|err| failure(op, &self.settings.endpoint.url, &err))
    }

    /// POST an envelope about no lease (`check`, `discover`, `remove`) to the URL, the lease
    /// placeholders empty.
    fn post_about_target(&self, target: &str, body: &str) -> Result<Reply, HttpError> {
        self.client.send(&Call {
            method: reqwest::Method::POST,
            values: &[
                ("lease_id", ""),
                ("role", ""),
                ("subject", ""),
                ("target", target),
            ],
            body: Some((body, "application/json")),
            headers: &[],
        })
    }
}

/// A failed call to `url` as a backend error: unreached or refused when nothing was sent;
/// retryable when the service failed or did not answer. The URL is named as configured (a secret URL by its reference).
fn failure(op: &str, url: &Location, err: &HttpError) -> BackendError {
    let message = format!("{op}: {}: {err}", url.shown());
    if let HttpError::Unreached(_) = err {
        BackendError::unreached(message)
    } else if let HttpError::Local(_) = err {
        BackendError::refused(message)
    } else if err.transient() {
        BackendError::transient(message)
    } else {
        BackendError::permanent(message)
    }
}

/// The first line of an answer's body, for a note: `: LINE`, or nothing.
fn line_of(body: &str) -> String {
    match body.lines().find(|line| !line.trim().is_empty()) {
        Some(line) => format!(": {}", line.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

/// A 2xx answer's body: empty, or a JSON object.
fn answer_of(body: &str) -> Result<Value, BackendError> {
    if body.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(BackendError::permanent(
            "the service answered with JSON that is not an object",
        )),
        Err(err) => Err(BackendError::permanent(format!(
            "the service answered with something that is not JSON ({err})"
        ))),
    }
}

impl TypedBackend for HttpBackend {
    type Grant = Value;
    const GRANT: &'static str = "an http";

    fn kind(&self) -> &'static str {
        "http"
    }

    /// Each lease is its own grant on the service, known by its lease id.
    fn traits(&self, _grant: &Value) -> Traits {
        Traits {
            sharing: Sharing::PerLease,
            ..Traits::default()
        }
    }

    fn grant(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<Grant, BackendError> {
        let reply = self.post("grant", request)?;
        let answer = answer_of(&reply.body)?;
        Grant::from_answer(answer.as_object().expect("answer_of gives an object"))
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<(), BackendError> {
        let body = Self::body(
            "revoke",
            &request.lease.target,
            request.lease,
            None,
            &request.lease.params,
        );
        let values = Self::values(&request.lease.target, request.lease);
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let method = match self.settings.revoke_method {
            RevokeMethod::Post => reqwest::Method::POST,
            RevokeMethod::Delete => reqwest::Method::DELETE,
        };
        let url = self
            .settings
            .revoke_url
            .as_ref()
            .unwrap_or(&self.settings.endpoint.url);
        let outcome = self.client.send_to(
            url,
            &Call {
                method,
                values: &values,
                body: Some((&body, "application/json")),
                headers: &[],
            },
        );
        match outcome {
            Ok(_) => Ok(()),
            // Not there: already revoked, or never granted.
            Err(HttpError::Status {
                status: 404 | 410, ..
            }) => Ok(()),
            Err(err) => Err(failure("revoke", url, &err)),
        }
    }

    /// A 2xx answer is success whatever its body (as for revoke): the service has moved
    /// the end, so the lease must move with it.
    fn extend(&self, request: &GrantRequest<'_>, _grant: &Value) -> Result<(), BackendError> {
        self.post("extend", request)?;
        Ok(())
    }

    /// The service is not asked: an interrupted grant is revoked, which is idempotent.
    fn inspect(
        &self,
        _request: &EndRequest<'_>,
        _grant: Result<&Value, BackendError>,
    ) -> Result<Presence, BackendError> {
        Ok(Presence::Present)
    }

    /// `op: "discover"` to `url`. A service that does not know the op (a 501, a 4xx whose
    /// body says `"code": "unknown-op"`, a 2xx without `findings`) is noted, not an error.
    fn discover(
        &self,
        scope: &Scope<'_>,
        _roles: &[(&str, Value)],
    ) -> Result<Discovery, BackendError> {
        let body = Envelope::discover(scope).to_text();
        let unsupported = |said: String| {
            Ok(Discovery {
                findings: Vec::new(),
                notes: vec![format!("the service does not support discover ({said})")],
            })
        };
        match self.post_about_target(scope.target, &body) {
            Ok(reply) => {
                let answer = answer_of(&reply.body)?;
                let answer = answer.as_object().expect("answer_of gives an object");
                if !answer.get("findings").is_some_and(Value::is_array) {
                    return unsupported(format!("HTTP {} without findings", reply.status));
                }
                command::protocol::discovery(answer, scope)
            }
            Err(HttpError::Status { status, body }) if status == 501 => {
                unsupported(format!("HTTP {status}{}", line_of(&body)))
            }
            Err(HttpError::Status { status, body })
                if (400..500).contains(&status)
                    && command::protocol::unknown_op(&body).is_some() =>
            {
                unsupported(format!("HTTP {status}{}", line_of(&body)))
            }
            Err(err) => Err(failure("discover", &self.settings.endpoint.url, &err)),
        }
    }

    /// `op: "remove"` to `url` with the finding as `discover` answered it; any 2xx is done.
    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        let (target, sent) = command::protocol::removal(finding)?;
        let body = Envelope::remove(&target, sent).to_text();
        self.post_about_target(&target, &body)
            .map(drop)
            .map_err(|err| failure("remove", &self.settings.endpoint.url, &err))
    }

    /// `op: "check"` to `url`, with `{target}` filled in and the lease placeholders empty.
    fn check(&self, target: &str, _grants: &[Value]) -> Vec<Check> {
        let body = Envelope::check(target).to_text();
        let outcome = self.post_about_target(target, &body);
        let shown = self.settings.endpoint.url.shown();
        vec![Check {
            name: format!("target {target}: check"),
            ok: outcome.is_ok(),
            detail: match outcome {
                Ok(reply) => format!("{shown} answered {}", reply.status),
                Err(err) => format!("{shown}: {err}"),
            },
        }]
    }
}

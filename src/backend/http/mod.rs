//! `backend = "http"`: grants and revocations are calls to a service's HTTP API, with the
//! versioned JSON body of `docs/backends/http.md`, an auth header from a secret reference,
//! an HMAC-SHA256 signature over each body, and retries with backoff on 5xx, 429 and
//! unreachable endpoints. A 404 or 410 answer to a revoke means the grant is already gone.

pub mod config;

use super::{BackendError, Check, EndRequest, Grant, GrantRequest, Presence, Traits, TypedBackend};
use super::{Sharing, command::protocol::Envelope};
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

    /// POST `op` about `lease` to the URL; the 2xx answer.
    fn post(
        &self,
        op: &str,
        target: &str,
        lease: &Lease,
        expires_at: Option<DateTime<Utc>>,
        params: &Value,
    ) -> Result<Reply, BackendError> {
        let body = Self::body(op, target, lease, expires_at, params);
        let values = Self::values(target, lease);
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
        let reply = self.post(
            "grant",
            &request.lease.target,
            request.lease,
            Some(request.expires_at),
            &request.lease.params,
        )?;
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
        self.post(
            "extend",
            &request.lease.target,
            request.lease,
            Some(request.expires_at),
            &request.lease.params,
        )?;
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

    /// `op: "check"` to `url`, with `{target}` filled in and the lease placeholders empty.
    fn check(&self, target: &str, _grants: &[Value]) -> Vec<Check> {
        let body = Envelope::check(target).to_text();
        let outcome = self.client.send(&Call {
            method: reqwest::Method::POST,
            values: &[
                ("lease_id", ""),
                ("role", ""),
                ("subject", ""),
                ("target", target),
            ],
            body: Some((&body, "application/json")),
            headers: &[],
        });
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

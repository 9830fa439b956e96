//! Backends: the code that talks to one kind of target. The trait is narrow and
//! synchronous: grant (returning a handle that any later process can revoke with), revoke
//! (idempotent: already gone is success), extend, inspect, and a check for `jit doctor`.

/// Declares each backend's folder and lists its kind in [`KINDS`].
macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        $(pub mod $kind;)*

        /// Every kind of backend, in the order `jit config check` lists them: the one list
        /// that names them all.
        pub const KINDS: &[&Kind] = &[$(&$kind::config::KIND),*];
    };
}

// The registry: a backend is a folder `backend/<kind>/` (its backend, its `config.rs` with
// a `KIND`) and one line here.
pub mod discover;

kinds! {
    aws,
    command,
    file,
    http,
    mysql,
    postgres,
    ssh,
    sudo,
}

use crate::config::Target;
use crate::config::document::{Fields, Node, Reader};
use crate::lease::Lease;
use crate::lease::TtlLimits;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use discover::{Discovery, Finding, Scope};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// Credential material for the requester: shown once, never stored.
pub type Credentials = Secret<BTreeMap<String, String>>;

/// What a backend is asked to grant, or to move the end of.
pub struct GrantRequest<'a> {
    /// The lease, with its target and its `params` (the role's grant table as recorded).
    pub lease: &'a Lease,
    /// When the entitlement must end on the target (the latest end among the leases it covers).
    pub expires_at: DateTime<Utc>,
    /// The name of the store that records the lease: what the grant is marked with
    /// ([`discover::Mark`]), where the target can carry a mark.
    pub store: &'a str,
    /// Another live lease already holds this (shared) entitlement: the grant renews it.
    pub renewal: bool,
    /// For a grant: records a new handle with the lease in the store, at once, for a later
    /// process that finds the grant interrupted (the process group of the program a grant
    /// started, say). It stands until the grant's own handle replaces it. `None` when
    /// moving an end.
    pub checkpoint: Option<Checkpoint<'a>>,
}

/// See [`GrantRequest::checkpoint`].
pub type Checkpoint<'a> = &'a dyn Fn(&serde_json::Value) -> Result<(), BackendError>;

/// What a backend is asked to revoke or inspect. `lease.handle` is what the grant returned,
/// or what was planned before it if the grant was interrupted.
pub struct EndRequest<'a> {
    /// The lease, with its target and its `params` (the role's grant table as recorded).
    pub lease: &'a Lease,
}

pub struct Grant {
    pub handle: serde_json::Value,
    pub credentials: Option<Credentials>,
    /// The end the target itself enforces, where it reports one.
    pub native_expiry: Option<DateTime<Utc>>,
    /// Something the requester should know about this grant (printed as a note).
    pub notice: Option<String>,
}

impl Grant {
    /// A grant from a JSON answer, as the command protocol and the http backend read one:
    /// `handle` (any JSON), `credentials` (an object; values that are not strings are kept
    /// as their JSON text) and `expires_at` (RFC 3339, the target's own end).
    pub fn from_answer(
        answer: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Grant, BackendError> {
        use serde_json::Value;
        let credentials = match answer.get("credentials") {
            None | Some(Value::Null) => None,
            Some(Value::Object(fields)) => Some(Credentials::new(
                fields
                    .iter()
                    .map(|(key, value)| {
                        let text = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (key.clone(), text)
                    })
                    .collect(),
            )),
            Some(_) => {
                return Err(BackendError::permanent(
                    "\"credentials\" must be an object of strings",
                ));
            }
        };
        let native_expiry = match answer.get("expires_at") {
            Some(Value::String(text)) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|err| {
                        BackendError::permanent(format!("\"expires_at\" {text:?}: {err}"))
                    })?
                    .with_timezone(&Utc),
            ),
            _ => None,
        };
        Ok(Grant {
            handle: answer.get("handle").cloned().unwrap_or(Value::Null),
            credentials,
            native_expiry,
            notice: None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Present,
    Absent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Worth retrying: the target was unreachable, timed out, or said so.
    Transient,
    /// Retrying will not help without a change (configuration, rights, protocol).
    Permanent,
    /// Nothing changed on the target, and trying again will not help without a change:
    /// the target refused before changing anything (a grant rolled back as a whole, a login
    /// refused), or the request was never sent because it could not be prepared (a secret
    /// that cannot be read, a program that cannot be started). Nothing to clean up.
    Refused,
    /// Nothing reached the target, and it may be reachable later: no connection could be
    /// opened (refused, timed out connecting, name not found, TLS handshake failed).
    /// Nothing to clean up. Never used once a request may have been sent: a timeout
    /// waiting for an answer is [`ErrorKind::Transient`].
    Unreached,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BackendError {
    pub fn transient(message: impl Into<String>) -> Self {
        BackendError {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        BackendError {
            kind: ErrorKind::Refused,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        BackendError {
            kind: ErrorKind::Permanent,
            message: message.into(),
        }
    }

    pub fn unreached(message: impl Into<String>) -> Self {
        BackendError {
            kind: ErrorKind::Unreached,
            message: message.into(),
        }
    }

    /// The same failure, known to have happened before anything reached the target:
    /// unreached if it may pass, refused otherwise.
    pub fn before_sending(self) -> Self {
        let kind = match self.kind {
            ErrorKind::Transient | ErrorKind::Unreached => ErrorKind::Unreached,
            ErrorKind::Permanent | ErrorKind::Refused => ErrorKind::Refused,
        };
        BackendError { kind, ..self }
    }

    /// Whether the target is known to be unchanged by the failed step.
    pub fn nothing_changed(&self) -> bool {
        matches!(self.kind, ErrorKind::Refused | ErrorKind::Unreached)
    }

    /// Whether trying again later may succeed without a change to the configuration.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient | ErrorKind::Unreached)
    }
}

/// A path that is not what it claims to be (see [`crate::trusted_dir`]) is refused before
/// anything is written; a missing directory is a setting to fix; anything else may pass.
pub fn fs_error(err: crate::trusted_dir::Error) -> BackendError {
    if err.is_untrusted() {
        BackendError::refused(err.to_string())
    } else if err.is_missing() {
        BackendError::permanent(err.to_string())
    } else {
        BackendError::transient(err.to_string())
    }
}

/// A role's grant parameters as the backend's own type; `what` names it in the error
/// ("an aws", "a mysql").
pub fn grant_table<T: serde::de::DeserializeOwned>(
    params: &serde_json::Value,
    what: &str,
) -> Result<T, BackendError> {
    serde_json::from_value(params.clone()).map_err(|err| {
        BackendError::permanent(format!("the role's grant table is not {what} grant: {err}"))
    })
}

/// Is one entitlement on the target shared by every lease of a role for a subject, or does
/// each lease get its own?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// Shared: ending one lease must not remove it while another still covers it.
    PerSubject,
    /// Each lease has its own (such as an ephemeral login).
    PerLease,
}

/// One line of `jit doctor`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What the engine needs to know about a grant before making it, read from its parameters
/// in one call per operation.
#[derive(Clone, Copy, Debug)]
pub struct Traits {
    /// Whether one entitlement is shared by every lease of a role for a subject.
    pub sharing: Sharing,
    /// Limits the target puts on the length of a lease.
    pub limits: TtlLimits,
    /// Whether the credentials a grant issues are kept (in the user keyring, until they
    /// end) for clients that fetch them again, such as AWS `credential_process`.
    pub caches_credentials: bool,
    /// Whether a grant hands the requester credentials: `Some(true)` always, `Some(false)`
    /// never, `None` when only the target knows (a program, a service).
    pub issues_credentials: Option<bool>,
}

impl Default for Traits {
    fn default() -> Self {
        Traits {
            sharing: Sharing::PerSubject,
            limits: TtlLimits::default(),
            caches_credentials: false,
            issues_credentials: None,
        }
    }
}

impl Traits {
    /// Of parameters the backend cannot read as its grant: its own entitlement per lease,
    /// nothing else known.
    const UNREADABLE: Traits = Traits {
        sharing: Sharing::PerLease,
        limits: TtlLimits {
            min: None,
            max: None,
            max_source: None,
        },
        caches_credentials: false,
        issues_credentials: None,
    };
}

/// The backend of a target, as the engine sees it: grant parameters as stored with the lease.
/// Backends implement [`TypedBackend`] instead, which receives them parsed.
pub trait Backend {
    fn kind(&self) -> &'static str;

    /// What a grant with these parameters is like (see [`Traits`]).
    fn traits(&self, _params: &serde_json::Value) -> Traits {
        Traits::default()
    }

    /// What to record *before* granting so that an interrupted grant can be found again
    /// (such as the deterministic name of an ephemeral user).
    fn plan(&self, _lease: &Lease, _params: &serde_json::Value) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError>;

    /// Remove the entitlement and end what it opened. Already gone is success.
    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError>;

    /// Move the target's own expiry to `request.expires_at`.
    fn extend(&self, request: &GrantRequest<'_>) -> Result<(), BackendError>;

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError>;

    /// Reachability and the rights that the roles with these grant parameters need, for
    /// `jit doctor`.
    fn check(&self, target: &str, grants: &[&serde_json::Value]) -> Vec<Check>;

    /// Standing privilege on the target (`jit discover`): read only, changing nothing.
    fn discover(&self, _scope: &Scope<'_>) -> Result<Discovery, BackendError> {
        Ok(Discovery::unsupported(self.kind()))
    }

    /// Take away what a finding of [`Backend::discover`] holds (`jit discover --adopt`).
    /// Already gone is success.
    fn remove(&self, _finding: &Finding) -> Result<(), BackendError> {
        Err(BackendError::refused(format!(
            "the {} backend removes nothing it finds",
            self.kind()
        )))
    }
}

/// A backend with its own grant type: the role's `grant` table as stored with each lease,
/// parsed once per call (here, for every backend) rather than by each method.
pub trait TypedBackend {
    type Grant: serde::de::DeserializeOwned;

    /// The grant type named in an error: "a sudo", "an aws".
    const GRANT: &'static str;

    fn kind(&self) -> &'static str;

    fn traits(&self, _grant: &Self::Grant) -> Traits {
        Traits::default()
    }

    fn plan(&self, _lease: &Lease, _grant: &Self::Grant) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn grant(&self, request: &GrantRequest<'_>, grant: &Self::Grant)
    -> Result<Grant, BackendError>;

    /// `grant` is an error when the lease's parameters are not this backend's grant (a
    /// revocation that needs only the handle can still go ahead).
    fn revoke(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&Self::Grant, BackendError>,
    ) -> Result<(), BackendError>;

    fn extend(&self, request: &GrantRequest<'_>, grant: &Self::Grant) -> Result<(), BackendError>;

    /// As for [`TypedBackend::revoke`], `grant` may be an error.
    fn inspect(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&Self::Grant, BackendError>,
    ) -> Result<Presence, BackendError>;

    /// The grants of the target's roles (those that parse).
    fn check(&self, target: &str, grants: &[Self::Grant]) -> Vec<Check>;

    /// As [`Backend::discover`], with the roles' grants parsed (those that parse), each
    /// with its role's name.
    fn discover(
        &self,
        _scope: &Scope<'_>,
        _roles: &[(&str, Self::Grant)],
    ) -> Result<Discovery, BackendError> {
        Ok(Discovery::unsupported(TypedBackend::kind(self)))
    }

    /// As [`Backend::remove`].
    fn remove(&self, _finding: &Finding) -> Result<(), BackendError> {
        Err(BackendError::refused(format!(
            "the {} backend removes nothing it finds",
            TypedBackend::kind(self)
        )))
    }
}

impl<B: TypedBackend> Backend for B {
    fn kind(&self) -> &'static str {
        TypedBackend::kind(self)
    }

    fn traits(&self, params: &serde_json::Value) -> Traits {
        match grant_table::<B::Grant>(params, B::GRANT) {
            Ok(grant) => TypedBackend::traits(self, &grant),
            Err(_) => Traits::UNREADABLE,
        }
    }

    fn plan(&self, lease: &Lease, params: &serde_json::Value) -> serde_json::Value {
        match grant_table::<B::Grant>(params, B::GRANT) {
            Ok(grant) => TypedBackend::plan(self, lease, &grant),
            Err(_) => serde_json::Value::Null,
        }
    }

    fn grant(&self, request: &GrantRequest<'_>) -> Result<Grant, BackendError> {
        let grant = grant_table::<B::Grant>(&request.lease.params, B::GRANT)?;
        TypedBackend::grant(self, request, &grant)
    }

    fn revoke(&self, request: &EndRequest<'_>) -> Result<(), BackendError> {
        let grant = grant_table::<B::Grant>(&request.lease.params, B::GRANT);
        TypedBackend::revoke(self, request, grant.as_ref().map_err(Clone::clone))
    }

    fn extend(&self, request: &GrantRequest<'_>) -> Result<(), BackendError> {
        let grant = grant_table::<B::Grant>(&request.lease.params, B::GRANT)?;
        TypedBackend::extend(self, request, &grant)
    }

    fn inspect(&self, request: &EndRequest<'_>) -> Result<Presence, BackendError> {
        let grant = grant_table::<B::Grant>(&request.lease.params, B::GRANT);
        TypedBackend::inspect(self, request, grant.as_ref().map_err(Clone::clone))
    }

    fn check(&self, target: &str, grants: &[&serde_json::Value]) -> Vec<Check> {
        let grants: Vec<B::Grant> = grants
            .iter()
            .filter_map(|params| grant_table(params, B::GRANT).ok())
            .collect();
        TypedBackend::check(self, target, &grants)
    }

    fn discover(&self, scope: &Scope<'_>) -> Result<Discovery, BackendError> {
        let roles: Vec<(&str, B::Grant)> = scope
            .roles
            .iter()
            .filter_map(|(name, params)| Some((*name, grant_table(params, B::GRANT).ok()?)))
            .collect();
        TypedBackend::discover(self, scope, &roles)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        TypedBackend::remove(self, finding)
    }
}

/// A kind of backend, as the registry ([`KINDS`]) lists it: its name (the value of
/// `backend`) and the reader of its targets' settings.
pub struct Kind {
    /// `backend = "NAME"`.
    pub name: &'static str,
    /// Read the keys of a `[targets.NAME]` table of this kind (`backend` and `description`
    /// are read already; the caller refuses the keys nobody read).
    pub read_target: fn(&mut Reader<'_>, &mut Fields<'_>, &Path) -> Option<Arc<dyn Settings>>,
}

/// A configured target's settings, opaque to everything outside its backend's folder.
pub trait Settings: std::fmt::Debug + Send + Sync {
    /// Every secret reference the target uses, with the key that names it.
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        Vec::new()
    }

    /// A role's `grant` table for this target, as the parameters stored with each lease.
    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value>;

    /// The grant parameters of a role without a `grant` table; `None` when one is required.
    fn default_grant(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether a grant on this target is for the requester's public key (`--pubkey`, or
    /// `~/.ssh/id_ed25519.pub`).
    fn takes_public_key(&self) -> bool {
        false
    }

    /// The backend that grants on this target.
    fn backend(&self) -> Box<dyn Backend>;
}

/// What a grant hands the requester beyond its credentials (a certificate written beside the
/// key it certifies, the ssh-agent), and the key a request certifies.
pub use ssh::delivery;
/// `jit init`'s starter configuration.
pub use ssh::starter;

/// The kind `backend = "name"` names.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|kind| kind.name == name)
}

/// The valid values of `backend`, for error messages: `aws, command, ...`.
pub fn kind_names() -> String {
    KINDS
        .iter()
        .map(|kind| kind.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The backend for a configured target.
pub fn for_target(target: &Target) -> Box<dyn Backend> {
    target.settings.backend()
}

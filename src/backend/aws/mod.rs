//! `backend = "aws"`: STS sessions (`assume-role`) and time-boxed IAM policies
//! (`iam-policy`), over the Query APIs of STS and IAM (see `api`).
//!
//! - assume-role: `AssumeRole` with `DurationSeconds` = the lease, clamped to 900 s and the
//!   role's `max_session` (the lease is capped to it). The credentials go to the requester
//!   once and are cached in the user keyring for `jit credential-process`. A revoke before
//!   they end puts the role's `AWSRevokeOlderSessions` policy: deny everything to sessions
//!   issued before the revoke (`aws:TokenIssueTime`), as AWS documents for revoking sessions.
//! - iam-policy: an inline policy `jit-<lease id>` on the user or group, each statement
//!   conditioned on `aws:CurrentTime` before the lease end (AWS ends it by itself), or a
//!   managed policy attached for the lease. A revoke deletes or detaches exactly it.

pub mod api;
pub mod config;
mod discover;

use super::discover::{Discovery, Finding, Mark, Scope};
use super::{
    BackendError, Check, Credentials, EndRequest, Grant, GrantRequest, Presence, Sharing, Traits,
    TypedBackend,
};
use crate::lease::{Lease, TtlLimits, rfc3339};
use api::{ApiError, AwsApi, Service, text_at, texts_of};
use chrono::{DateTime, Utc};
use config::{
    AssumeRole, AwsGrant, AwsTarget, IamPolicy, Policy, Principal, STS_MIN_SESSION,
    is_iam_name_char,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a revoke waits for credentials about to end instead of denying the role's
/// older sessions.
const EXPIRY_SLACK: Duration = Duration::from_secs(5);

/// The role policy AWS's console writes to revoke active sessions; jit writes the same.
pub const REVOKE_POLICY: &str = "AWSRevokeOlderSessions";

pub struct AwsBackend {
    api: AwsApi,
    /// What this backend's own `discover` found removable: `remove` takes away nothing
    /// else, whatever the finding it is handed says.
    removable: std::sync::Mutex<Vec<Value>>,
}

/// A grant's call failed. Each grant is one changing call, and an AWS error answer means
/// it did not happen: nothing to clean up. Without an answer, it may have.
fn granting(err: ApiError) -> BackendError {
    match err {
        ApiError::Aws { .. } => BackendError::refused(err.to_string()),
        other => other.into(),
    }
}

/// The name of the inline policy a lease puts.
pub fn policy_name(lease_id: &str) -> String {
    format!("jit-{lease_id}")
}

/// `jit-<subject>-<lease id>`, within STS's 64 characters and its name characters.
pub fn session_name(subject: &str, lease_id: &str) -> String {
    let room = 64 - "jit--".len() - lease_id.len();
    format!("jit-{}-{lease_id}", iam_name(subject, room))
}

/// `text` in IAM's name characters (others become `-`), at most `max` of them.
fn iam_name(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if is_iam_name_char(c) { c } else { '-' })
        .take(max)
        .collect()
}

/// When the STS credentials a grant recorded end by themselves.
fn credentials_end(handle: &Value) -> Option<DateTime<Utc>> {
    let text = handle.get("credentials_expire_at")?.as_str()?;
    Some(DateTime::parse_from_rfc3339(text).ok()?.to_utc())
}

/// `Present` or `Absent`.
fn presence(present: bool) -> Presence {
    if present {
        Presence::Present
    } else {
        Presence::Absent
    }
}

/// The role's name: the last segment of its ARN.
fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

/// Where an iam-policy grant goes: (`User` or `Group`, the name).
fn principal(grant: &IamPolicy, subject: &str) -> Result<(&'static str, String), BackendError> {
    let (kind, template) = match &grant.principal {
        Principal::User(user) => ("User", user),
        Principal::Group(group) => ("Group", group),
    };
    let name = template.replace("{user}", subject);
    if name.is_empty() || name.len() > 128 || !name.chars().all(is_iam_name_char) {
        return Err(BackendError::refused(format!(
            "{name:?} is not an IAM {} name",
            kind.to_ascii_lowercase()
        )));
    }
    Ok((kind, name))
}

/// `policy` with every statement also conditioned on `aws:CurrentTime` before `until`.
pub fn until_policy(policy: &str, until: DateTime<Utc>) -> Result<String, BackendError> {
    let bad = || BackendError::permanent("the role's policy is not an IAM policy document");
    let mut document: Value = serde_json::from_str(policy).map_err(|_| bad())?;
    let statements: Vec<&mut Value> = match document.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return Err(bad()),
    };
    for statement in statements {
        let statement = statement.as_object_mut().ok_or_else(bad)?;
        let condition = statement
            .entry("Condition")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(bad)?;
        let before = condition
            .entry("DateLessThan")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(bad)?;
        before.insert("aws:CurrentTime".to_owned(), json!(rfc3339::format(&until)));
    }
    Ok(document.to_string())
}

/// `policy` with its first statement's `Sid` set to `mark` (a [`Mark::word`]): what
/// `jit discover` knows a leftover `jit-` policy by. IAM wants a policy's Sids unique, so
/// one statement carries it (replacing the Sid it had in the role's `policy`).
pub fn marked_policy(policy: &str, mark: &Mark) -> Result<String, BackendError> {
    let bad = || BackendError::permanent("the role's policy is not an IAM policy document");
    let mut document: Value = serde_json::from_str(policy).map_err(|_| bad())?;
    let first = match document.get_mut("Statement") {
        Some(Value::Array(list)) => list.first_mut(),
        Some(single @ Value::Object(_)) => Some(single),
        _ => None,
    };
    first
        .and_then(Value::as_object_mut)
        .ok_or_else(bad)?
        .insert("Sid".to_owned(), json!(mark.word()));
    Ok(document.to_string())
}

/// The deny-older-sessions policy, for sessions issued before `cutoff`.
pub fn revoke_policy(cutoff: DateTime<Utc>) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": cutoff.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                }
            }
        }]
    })
    .to_string()
}

/// The cutoff of a deny-older-sessions policy document (URL-encoded as IAM returns it, or
/// plain).
fn cutoff_of(document: &str) -> Option<DateTime<Utc>> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    let value: Value = serde_json::from_str(&decoded).ok()?;
    let statements = match value.get("Statement")? {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    statements
        .iter()
        .filter_map(|s| {
            s.pointer("/Condition/DateLessThan/aws:TokenIssueTime")?
                .as_str()
        })
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

impl AwsBackend {
    pub fn new(settings: AwsTarget) -> Self {
        AwsBackend {
            api: AwsApi::new(settings),
            removable: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn call(
        &self,
        service: Service,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, ApiError> {
        self.api.call(service, action, params)
    }

    fn assume_role(
        &self,
        grant: &AssumeRole,
        request: &GrantRequest<'_>,
    ) -> Result<Grant, BackendError> {
        let lease = request.lease;
        let role_arn = grant.role_arn.as_str();
        let max = Duration::from_secs(grant.max_session);
        let left = (request.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default();
        let seconds = left
            .as_secs()
            .saturating_add(u64::from(left.subsec_nanos() > 0))
            .clamp(STS_MIN_SESSION.as_secs(), max.as_secs())
            .to_string();
        let session = session_name(&lease.subject, &lease.id);
        let mut params = vec![
            ("RoleArn", role_arn),
            ("RoleSessionName", session.as_str()),
            ("DurationSeconds", seconds.as_str()),
        ];
        if let Some(policy) = &grant.session_policy {
            params.push(("Policy", policy.as_str()));
        }
        let source = iam_name(&lease.subject, 64);
        if grant.source_identity {
            params.push(("SourceIdentity", source.as_str()));
        }
        let answer = self
            .call(Service::Sts, "AssumeRole", &params)
            .map_err(granting)?;
        let field = |name: &str| {
            text_at(&answer, &["Credentials", name]).ok_or_else(|| {
                BackendError::permanent(format!("the AssumeRole answer has no Credentials/{name}"))
            })
        };
        let access_key_id = field("AccessKeyId")?;
        let secret_access_key = field("SecretAccessKey")?;
        let session_token = field("SessionToken")?;
        let expiration = field("Expiration")?;
        let expires_at = DateTime::parse_from_rfc3339(&expiration)
            .map_err(|err| {
                BackendError::permanent(format!("the AssumeRole Expiration {expiration:?}: {err}"))
            })?
            .with_timezone(&Utc);
        let assumed = text_at(&answer, &["AssumedRoleUser", "Arn"]).unwrap_or_default();
        let mut credentials = BTreeMap::new();
        credentials.insert("AWS_ACCESS_KEY_ID".to_owned(), access_key_id.clone());
        credentials.insert("AWS_SECRET_ACCESS_KEY".to_owned(), secret_access_key);
        credentials.insert("AWS_SESSION_TOKEN".to_owned(), session_token);
        credentials.insert(
            "AWS_CREDENTIAL_EXPIRATION".to_owned(),
            rfc3339::format(&expires_at),
        );
        Ok(Grant {
            handle: json!({
                "mode": "assume-role",
                "role": role_name(role_arn),
                "session": session,
                "assumed_role_arn": assumed,
                "access_key_id": access_key_id,
                "credentials_expire_at": rfc3339::format(&expires_at),
            }),
            credentials: Some(Credentials::new(credentials)),
            native_expiry: Some(expires_at),
            notice: (expires_at > request.expires_at + chrono::Duration::seconds(1)).then(|| {
                format!(
                    "STS sessions last at least 15 minutes: these credentials work until {}; \
                     the lease end revokes them with the role's {REVOKE_POLICY} policy",
                    rfc3339::format(&expires_at)
                )
            }),
        })
    }

    fn put_policy(
        &self,
        grant: &IamPolicy,
        document: &str,
        request: &GrantRequest<'_>,
    ) -> Result<(), BackendError> {
        let lease = request.lease;
        let (kind, name) = principal(grant, &lease.subject)?;
        let document = until_policy(document, request.expires_at)?;
        let document = marked_policy(&document, &Mark::of(request.store, lease))?;
        let policy = policy_name(&lease.id);
        self.call(
            Service::Iam,
            &format!("Put{kind}Policy"),
            &[
                (&format!("{kind}Name"), name.as_str()),
                ("PolicyName", policy.as_str()),
                ("PolicyDocument", document.as_str()),
            ],
        )
        .map_err(granting)?;
        Ok(())
    }

    fn attached(&self, kind: &str, name: &str, arn: &str) -> Result<bool, ApiError> {
        let answer = self.call(
            Service::Iam,
            &format!("ListAttached{kind}Policies"),
            &[(&format!("{kind}Name"), name)],
        )?;
        Ok(texts_of(&answer, "PolicyArn").iter().any(|a| a == arn))
    }

    fn revoke_sessions(&self, handle: &Value) -> Result<(), BackendError> {
        let now = Utc::now();
        if let Some(end) = credentials_end(handle) {
            // STS counts a session from when it got the call, so credentials of a lease
            // that ends now end a moment later: wait for that rather than deny every older
            // session of the role. Ended by themselves either way.
            let left = (end - now).to_std().unwrap_or_default();
            if left <= EXPIRY_SLACK {
                std::thread::sleep(left);
                return Ok(());
            }
        }
        let Some(role) = handle.get("role").and_then(Value::as_str) else {
            return Err(BackendError::permanent(
                "the lease does not record its role",
            ));
        };
        let existing = match self.call(
            Service::Iam,
            "GetRolePolicy",
            &[("RoleName", role), ("PolicyName", REVOKE_POLICY)],
        ) {
            Ok(answer) => text_at(&answer, &["PolicyDocument"]).and_then(|d| cutoff_of(&d)),
            // No such policy yet; or no such role, and then no session of it either.
            Err(err) if err.is("NoSuchEntity") => None,
            Err(err) => return Err(err.into()),
        };
        // A second later than now, for clocks a little apart; never earlier than a cutoff
        // already there (that would give back sessions another revoke took away).
        let cutoff = now + chrono::Duration::seconds(1);
        if existing.is_some_and(|there| there >= cutoff) {
            return Ok(());
        }
        let document = revoke_policy(cutoff);
        match self.call(
            Service::Iam,
            "PutRolePolicy",
            &[
                ("RoleName", role),
                ("PolicyName", REVOKE_POLICY),
                ("PolicyDocument", document.as_str()),
            ],
        ) {
            Ok(_) => Ok(()),
            Err(err) if err.is("NoSuchEntity") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

impl TypedBackend for AwsBackend {
    type Grant = AwsGrant;
    const GRANT: &'static str = "an aws";

    fn kind(&self) -> &'static str {
        "aws"
    }

    fn traits(&self, grant: &AwsGrant) -> Traits {
        match grant {
            AwsGrant::AssumeRole(role) => Traits {
                sharing: Sharing::PerLease,
                limits: TtlLimits {
                    min: None,
                    max: Some(Duration::from_secs(role.max_session)),
                    max_source: Some("aws assume-role max_session (the role's MaxSessionDuration)"),
                },
                caches_credentials: true,
                issues_credentials: Some(true),
            },
            AwsGrant::IamPolicy(iam) => Traits {
                sharing: match iam.policy {
                    Policy::Inline(_) => Sharing::PerLease,
                    Policy::Managed(_) => Sharing::PerSubject,
                },
                limits: TtlLimits::default(),
                caches_credentials: false,
                issues_credentials: Some(false),
            },
        }
    }

    fn plan(&self, lease: &Lease, grant: &AwsGrant) -> Value {
        match grant {
            AwsGrant::AssumeRole(role) => json!({
                "mode": "assume-role",
                "role": role_name(&role.role_arn),
                "session": session_name(&lease.subject, &lease.id),
            }),
            AwsGrant::IamPolicy(iam) => match principal(iam, &lease.subject) {
                Ok((kind, name)) => json!({
                    "mode": "iam-policy",
                    "principal": kind.to_ascii_lowercase(),
                    "name": name,
                    "policy": match &iam.policy {
                        Policy::Inline(_) => policy_name(&lease.id),
                        Policy::Managed(arn) => arn.clone(),
                    },
                }),
                Err(_) => Value::Null,
            },
        }
    }

    fn grant(&self, request: &GrantRequest<'_>, grant: &AwsGrant) -> Result<Grant, BackendError> {
        let lease = request.lease;
        let iam = match grant {
            AwsGrant::AssumeRole(role) => return self.assume_role(role, request),
            AwsGrant::IamPolicy(iam) => iam,
        };
        match &iam.policy {
            Policy::Inline(document) => {
                self.put_policy(iam, document, request)?;
                Ok(Grant {
                    // What was put is what was planned.
                    handle: self.plan(lease, grant),
                    credentials: None,
                    native_expiry: Some(request.expires_at),
                    notice: None,
                })
            }
            Policy::Managed(arn) => {
                let (kind, name) = principal(iam, &lease.subject)?;
                if !request.renewal && self.attached(kind, &name, arn).map_err(granting)? {
                    return Err(BackendError::refused(format!(
                        "{arn} is already attached to {} {name} outside jit: a lease would \
                         detach it at its end",
                        kind.to_ascii_lowercase()
                    )));
                }
                self.call(
                    Service::Iam,
                    &format!("Attach{kind}Policy"),
                    &[(&format!("{kind}Name"), name.as_str()), ("PolicyArn", arn)],
                )
                .map_err(granting)?;
                Ok(Grant {
                    handle: self.plan(lease, grant),
                    credentials: None,
                    native_expiry: None,
                    notice: Some(format!(
                        "a managed policy attachment has no end on AWS: {arn} stays attached \
                         until `jit sweep` (or `jit revoke`) detaches it"
                    )),
                })
            }
        }
    }

    fn revoke(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&AwsGrant, BackendError>,
    ) -> Result<(), BackendError> {
        let grant = grant?;
        let lease = request.lease;
        let iam = match grant {
            AwsGrant::AssumeRole(_) => {
                let mut handle = lease.handle.clone();
                if handle.get("role").is_none() {
                    handle = self.plan(lease, grant);
                }
                return self.revoke_sessions(&handle);
            }
            AwsGrant::IamPolicy(iam) => iam,
        };
        let (kind, name) = principal(iam, &lease.subject)?;
        let outcome = match &iam.policy {
            Policy::Inline(_) => self.call(
                Service::Iam,
                &format!("Delete{kind}Policy"),
                &[
                    (&format!("{kind}Name"), name.as_str()),
                    ("PolicyName", policy_name(&lease.id).as_str()),
                ],
            ),
            Policy::Managed(arn) => self.call(
                Service::Iam,
                &format!("Detach{kind}Policy"),
                &[(&format!("{kind}Name"), name.as_str()), ("PolicyArn", arn)],
            ),
        };
        match outcome {
            Ok(_) => Ok(()),
            // Already gone (or its user or group is).
            Err(err) if err.is("NoSuchEntity") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    fn extend(&self, request: &GrantRequest<'_>, grant: &AwsGrant) -> Result<(), BackendError> {
        match grant {
            AwsGrant::AssumeRole(_) => {
                let ends = credentials_end(&request.lease.handle);
                match ends {
                    Some(end) if request.expires_at <= end => Ok(()),
                    _ => Err(BackendError::refused(format!(
                        "STS credentials cannot be extended: these end at {}; request a new lease",
                        ends.map_or_else(|| "an unknown time".to_owned(), |e| rfc3339::format(&e))
                    ))),
                }
            }
            AwsGrant::IamPolicy(iam) => match &iam.policy {
                Policy::Inline(document) => self.put_policy(iam, document, request),
                Policy::Managed(_) => Ok(()),
            },
        }
    }

    fn inspect(
        &self,
        request: &EndRequest<'_>,
        grant: Result<&AwsGrant, BackendError>,
    ) -> Result<Presence, BackendError> {
        let lease = request.lease;
        let iam = match grant? {
            // No API lists a role's sessions: present unless they have ended.
            AwsGrant::AssumeRole(_) => {
                let present = credentials_end(&lease.handle).is_none_or(|end| end > Utc::now());
                return Ok(presence(present));
            }
            AwsGrant::IamPolicy(iam) => iam,
        };
        let (kind, name) = principal(iam, &lease.subject)?;
        let present = match &iam.policy {
            Policy::Inline(_) => match self.call(
                Service::Iam,
                &format!("Get{kind}Policy"),
                &[
                    (&format!("{kind}Name"), name.as_str()),
                    ("PolicyName", policy_name(&lease.id).as_str()),
                ],
            ) {
                Ok(_) => true,
                Err(err) if err.is("NoSuchEntity") => false,
                Err(err) => return Err(err.into()),
            },
            Policy::Managed(arn) => match self.attached(kind, &name, arn) {
                Ok(found) => found,
                Err(err) if err.is("NoSuchEntity") => false,
                Err(err) => return Err(err.into()),
            },
        };
        Ok(presence(present))
    }

    fn discover(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, AwsGrant)],
    ) -> Result<Discovery, BackendError> {
        let discovery = discover::discover(self, scope, roles)?;
        let mut removable = self.removable.lock().unwrap_or_else(|e| e.into_inner());
        removable.extend(
            discovery
                .findings
                .iter()
                .filter(|f| f.removable())
                .map(|f| f.removal.clone()),
        );
        Ok(discovery)
    }

    fn remove(&self, finding: &Finding) -> Result<(), BackendError> {
        let found = self
            .removable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&finding.removal);
        if !found {
            return Err(BackendError::refused(
                "the finding is not one this target's discovery reported",
            ));
        }
        discover::remove(self, &finding.removal)
    }

    fn check(&self, target: &str, _grants: &[AwsGrant]) -> Vec<Check> {
        let name = format!("target {target}: connect");
        match self.call(Service::Sts, "GetCallerIdentity", &[]) {
            Ok(answer) => vec![Check {
                name,
                ok: true,
                detail: format!(
                    "{} (region {})",
                    text_at(&answer, &["GetCallerIdentityResult", "Arn"]).unwrap_or_default(),
                    self.api.region()
                ),
            }],
            Err(err) => vec![Check {
                name,
                ok: false,
                detail: err.to_string(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(session_name("alice", "k3f9x2m7qa"), "jit-alice-k3f9x2m7qa");
        assert_eq!(session_name("a b/c", "k3f9x2m7qa"), "jit-a-b-c-k3f9x2m7qa");
        let long = session_name(&"x".repeat(100), "k3f9x2m7qa");
        assert_eq!(long.len(), 64);
        assert!(long.ends_with("-k3f9x2m7qa"));
    }

    #[test]
    fn every_statement_gets_the_end() {
        let until = DateTime::parse_from_rfc3339("2026-11-22T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let one = until_policy(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
            until,
        )
        .unwrap();
        let one: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(
            one["Statement"]["Condition"]["DateLessThan"]["aws:CurrentTime"],
            "2026-11-22T16:00:00Z"
        );
        let two = until_policy(
            r#"{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}},{"Effect":"Allow","Action":"c:d","Resource":"*"}]}"#,
            until,
        )
        .unwrap();
        let two: Value = serde_json::from_str(&two).unwrap();
        for statement in two["Statement"].as_array().unwrap() {
            assert_eq!(
                statement["Condition"]["DateLessThan"]["aws:CurrentTime"],
                "2026-11-22T16:00:00Z"
            );
        }
        assert_eq!(
            two["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
            "true"
        );
        assert!(until_policy("[]", until).is_err());
    }

    #[test]
    fn the_first_statement_carries_the_mark() {
        let mark = Mark {
            store: "0f3a9c1200d4e5b6".into(),
            lease: "k3f9x2m7qa".into(),
        };
        let two = marked_policy(
            r#"{"Statement":[{"Sid":"Read","Effect":"Allow","Action":"a:b","Resource":"*"},{"Sid":"Other","Effect":"Allow","Action":"c:d","Resource":"*"}]}"#,
            &mark,
        )
        .unwrap();
        let two: Value = serde_json::from_str(&two).unwrap();
        assert_eq!(two["Statement"][0]["Sid"], mark.word());
        assert_eq!(two["Statement"][1]["Sid"], "Other");
        let one = marked_policy(r#"{"Statement":{"Effect":"Allow"}}"#, &mark).unwrap();
        let one: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(Mark::from_word(one["Statement"]["Sid"].as_str().unwrap()), Some(mark.clone()));
        assert!(marked_policy(r#"{"Statement":[]}"#, &mark).is_err());
    }

    #[test]
    fn the_revoke_policy_round_trips_its_cutoff() {
        let cutoff = DateTime::parse_from_rfc3339("2026-11-22T16:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        let document = revoke_policy(cutoff);
        assert_eq!(cutoff_of(&document), Some(cutoff));
        let encoded: String =
            percent_encoding::utf8_percent_encode(&document, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(cutoff_of(&encoded), Some(cutoff));
    }
}

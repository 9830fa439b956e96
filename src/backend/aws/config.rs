//! Settings of `backend = "aws"` targets and the `grant` table of their roles.

use crate::config::document::{Fields, Node, Reader};
use crate::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// STS's shortest session.
pub const STS_MIN_SESSION: Duration = Duration::from_secs(900);
/// The longest session a role can allow (its `MaxSessionDuration`).
pub const STS_MAX_SESSION: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone, Debug)]
pub struct AwsTarget {
    pub region: String,
    /// Where every API call goes instead of AWS's endpoints (an emulator, a private endpoint).
    pub endpoint: Option<String>,
    pub access_key_id: SecretRef,
    pub secret_access_key: SecretRef,
    pub session_token: Option<SecretRef>,
    /// For each HTTP request, connecting included.
    pub timeout: Duration,
    /// Further attempts after a throttled, 5xx or unreachable call.
    pub retries: u32,
    /// `jit discover` reports the access keys of admin users older than this.
    pub discover_key_age: Duration,
}

/// The default of `discover_key_age`: 90 days.
pub const DISCOVER_KEY_AGE: Duration = Duration::from_secs(90 * 24 * 3600);

/// `mode` in a role's `grant` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsMode {
    AssumeRole,
    IamPolicy,
}

/// A role's `grant` table, as stored with each lease (never a secret), by its `mode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum AwsGrant {
    /// STS `AssumeRole`: temporary credentials for the requester.
    AssumeRole(AssumeRole),
    /// A policy on an IAM user or group, for the lease.
    IamPolicy(IamPolicy),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssumeRole {
    /// The role to assume.
    pub role_arn: String,
    /// The role's `MaxSessionDuration`, in seconds (a lease is capped to it).
    pub max_session: u64,
    /// An inline session policy (JSON) narrowing the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Set `SourceIdentity` to the subject.
    #[serde(default)]
    pub source_identity: bool,
}

/// Earlier versions also stored `"source_identity": false` in these; it is ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamPolicy {
    /// Who gets the policy: `user` or `group`.
    #[serde(flatten)]
    pub principal: Principal,
    /// What is put: `policy` or `policy_arn`.
    #[serde(flatten)]
    pub policy: Policy,
}

/// An iam-policy grant's principal, stored as its key (`"user": TEMPLATE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Principal {
    /// The IAM user, from a template (`{user}` is the subject).
    User(String),
    /// The IAM group, from a template.
    Group(String),
}

/// An iam-policy grant's policy, stored as its key (`"policy": DOCUMENT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    /// The policy document (JSON) put inline, with the lease end as a condition.
    #[serde(rename = "policy")]
    Inline(String),
    /// A managed policy attached for the lease.
    #[serde(rename = "policy_arn")]
    Managed(String),
}

/// `arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME`, the name made of IAM's name characters.
pub fn is_iam_arn(arn: &str, kind: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
        || (kind == "policy" && account == "aws");
    partition.starts_with("aws")
        && account_ok
        && resource
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|path| {
                path.split('/')
                    .all(|segment| !segment.is_empty() && segment.chars().all(is_iam_name_char))
            })
}

/// The characters IAM allows in user, group, role and session names.
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// A policy document: a JSON object with `Statement`.
fn check_policy(text: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| format!("is not JSON: {err}"))?;
    match value.get("Statement") {
        Some(serde_json::Value::Object(_)) => Ok(()),
        Some(serde_json::Value::Array(list))
            if !list.is_empty() && list.iter().all(|s| s.is_object()) =>
        {
            Ok(())
        }
        _ => Err("is not an IAM policy document (an object with `Statement`)".to_owned()),
    }
}

/// `Err(complaint)` unless `ok`: "\"TEXT\" COMPLAINT".
fn unless(ok: bool, text: &str, complaint: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(format!("{text:?} {complaint}")) }
}

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<AwsTarget> {
    let region = fields.need_as(reader, "region", " (such as \"eu-west-1\")", |r, n, what| {
        r.checked(n, what, |region| {
            let ok = !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            unless(ok, region, "is not an AWS region (such as \"eu-west-1\")")
        })
    });
    let endpoint = fields.get(reader, "endpoint", |r, n, what| {
        let text = r.checked(n, what, |text| {
            let ok = (text.starts_with("https://") || text.starts_with("http://"))
                && reqwest::Url::parse(text).is_ok_and(|u| u.host_str().is_some());
            unless(ok, text, "is not an http:// or https:// URL")
        })?;
        Some(text.trim_end_matches('/').to_owned())
    });
    let mut secret = |key: &str| {
        let hint = " (a secret reference: keyring:NAME, env:VAR or file:PATH)";
        fields.need_as(reader, key, hint, |r, n, what| r.secret(n, what, base))
    };
    let access_key_id = secret("access_key_id");
    let secret_access_key = secret("secret_access_key");
    let session_token = fields.secret(reader, "session_token", base);
    let timeout = fields
        .duration(reader, "timeout")
        .unwrap_or(Duration::from_secs(10));
    let retries = fields.count(reader, "retries", 10).unwrap_or(3);
    let discover_key_age = fields
        .duration(reader, "discover_key_age")
        .unwrap_or(DISCOVER_KEY_AGE);
    Some(AwsTarget {
        region: region?,
        endpoint,
        access_key_id: access_key_id?,
        secret_access_key: secret_access_key?,
        session_token,
        timeout,
        retries,
        discover_key_age,
    })
}

pub fn parse_grant(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<serde_json::Value> {
    let mut fields = reader.table(node, "grant")?.prefixed("grant.");
    let before = reader.errors.len();
    let mode = reader.grant_mode(
        &mut fields,
        [
            ("assume-role", AwsMode::AssumeRole),
            ("iam-policy", AwsMode::IamPolicy),
        ],
    );
    let arn = |r: &mut Reader<'_>, n: &Spanned<Node>, what: &str, kind: &str| {
        r.checked(n, what, |text| {
            let complaint = format!("is not an IAM {kind} ARN (arn:aws:iam::123456789012:{kind}/NAME)");
            unless(is_iam_arn(text, kind), text, &complaint)
        })
    };
    let policy_text =
        |r: &mut Reader<'_>, n: &Spanned<Node>, what: &str| r.checked(n, what, check_policy);
    let role_arn = fields.get(reader, "role_arn", |r, n, what| arn(r, n, what, "role"));
    let max_session = fields.get(reader, "max_session", |reader, n, what| {
        let d = reader.duration(n, what)?;
        if (STS_MIN_SESSION..=STS_MAX_SESSION).contains(&d) {
            Some(d.as_secs())
        } else {
            reader.error(
                n.span(),
                "grant.max_session must be between 15m and 12h (the range of a role's MaxSessionDuration)",
            );
            None
        }
    });
    let session_policy = fields.get(reader, "session_policy", policy_text);
    let source_identity = fields.boolean(reader, "source_identity").unwrap_or(false);
    let template = |r: &mut Reader<'_>, n: &Spanned<Node>, what: &str| {
        r.checked(n, what, |text| {
            let ok = !text.is_empty() && text.replace("{user}", "u").chars().all(is_iam_name_char);
            unless(ok, text, "is not an IAM name (letters, digits, +=,.@_- and {user})")
        })
    };
    let user = fields.get(reader, "user", template);
    let group = fields.get(reader, "group", template);
    let policy = fields.get(reader, "policy", policy_text);
    let policy_arn = fields.get(reader, "policy_arn", |r, n, what| arn(r, n, what, "policy"));
    fields.finish(reader);
    let mode = mode?;
    if reader.errors.len() != before {
        return None;
    }
    // Each key, whether it was given, and the mode it belongs to.
    let keys = [
        ("role_arn", role_arn.is_some(), AwsMode::AssumeRole),
        ("max_session", max_session.is_some(), AwsMode::AssumeRole),
        ("session_policy", session_policy.is_some(), AwsMode::AssumeRole),
        ("source_identity", source_identity, AwsMode::AssumeRole),
        ("user", user.is_some(), AwsMode::IamPolicy),
        ("group", group.is_some(), AwsMode::IamPolicy),
        ("policy", policy.is_some(), AwsMode::IamPolicy),
        ("policy_arn", policy_arn.is_some(), AwsMode::IamPolicy),
    ];
    let misplaced: Vec<&str> = keys
        .iter()
        .filter(|(_, given, of)| *given && *of != mode)
        .map(|(key, _, _)| *key)
        .collect();
    if !misplaced.is_empty() {
        reader.error(
            node.span(),
            format!(
                "grant: {} {} not used by mode {:?}",
                misplaced.join(", "),
                if misplaced.len() == 1 { "is" } else { "are" },
                match mode {
                    AwsMode::AssumeRole => "assume-role",
                    AwsMode::IamPolicy => "iam-policy",
                }
            ),
        );
        return None;
    }
    let grant = match mode {
        AwsMode::AssumeRole => {
            let Some(role_arn) = role_arn else {
                reader.error(node.span(), "grant: assume-role needs `role_arn`");
                return None;
            };
            AwsGrant::AssumeRole(AssumeRole {
                role_arn,
                max_session: max_session.unwrap_or(3600),
                session_policy,
                source_identity,
            })
        }
        AwsMode::IamPolicy => {
            let principal = match (user, group) {
                (Some(user), None) => Principal::User(user),
                (None, Some(group)) => Principal::Group(group),
                _ => {
                    reader.error(
                        node.span(),
                        "grant: iam-policy needs exactly one of `user` and `group` (such as user = \"{user}\")",
                    );
                    return None;
                }
            };
            let policy = match (policy, policy_arn) {
                (Some(document), None) => Policy::Inline(document),
                (None, Some(arn)) => Policy::Managed(arn),
                _ => {
                    reader.error(
                        node.span(),
                        "grant: iam-policy needs exactly one of `policy` (a JSON document) and `policy_arn`",
                    );
                    return None;
                }
            };
            AwsGrant::IamPolicy(IamPolicy { principal, policy })
        }
    };
    serde_json::to_value(grant).ok()
}

/// `backend = "aws"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "aws",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for AwsTarget {
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        [
            ("access_key_id", Some(&self.access_key_id)),
            ("secret_access_key", Some(&self.secret_access_key)),
            ("session_token", self.session_token.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, reference)| Some((key.to_owned(), reference?)))
        .collect()
    }

    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        parse_grant(reader, node)
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::AwsBackend::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_arns() {
        assert!(is_iam_arn("arn:aws:iam::123456789012:role/admin", "role"));
        assert!(is_iam_arn(
            "arn:aws-us-gov:iam::123456789012:role/path/to/db-admin",
            "role"
        ));
        assert!(is_iam_arn(
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "policy"
        ));
        assert!(!is_iam_arn("arn:aws:iam::aws:role/x", "role"));
        assert!(!is_iam_arn("arn:aws:iam::12345:role/admin", "role"));
        assert!(!is_iam_arn("arn:aws:sts::123456789012:role/admin", "role"));
        assert!(!is_iam_arn("arn:aws:iam::123456789012:user/admin", "role"));
        assert!(!is_iam_arn("arn:aws:iam::123456789012:role/a b", "role"));
        assert!(!is_iam_arn("arn:aws:iam::123456789012:role/", "role"));
    }
}

#[cfg(test)]
mod grant_tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/admin";
    const SESSION_POLICY: &str = r#"{\"Statement\":{\"Action\":\"s3:GetObject\",\"Effect\":\"Allow\",\"Resource\":\"*\"}}"#;

    /// Leases keep their grant as JSON: what earlier versions stored (every mode with
    /// `source_identity`) still reads, and is written again as the new type writes it.
    #[test]
    fn stored_grants_read_and_write_the_same() {
        let assume_role = format!(
            r#"{{"max_session":3600,"mode":"assume-role","role_arn":"{ROLE}","source_identity":false}}"#
        );
        let narrowed = format!(
            r#"{{"max_session":43200,"mode":"assume-role","role_arn":"{ROLE}","session_policy":"{SESSION_POLICY}","source_identity":true}}"#
        );
        let inline = format!(
            r#"{{"mode":"iam-policy","policy":"{SESSION_POLICY}","source_identity":false,"user":"{{user}}"}}"#
        );
        let managed = r#"{"group":"ops","mode":"iam-policy","policy_arn":"arn:aws:iam::aws:policy/ReadOnlyAccess","source_identity":false}"#;
        let cases = [
            (assume_role.as_str(), assume_role.clone()),
            (narrowed.as_str(), narrowed.clone()),
            (inline.as_str(), inline.replace(r#""source_identity":false,"#, "")),
            (managed, managed.replace(r#","source_identity":false"#, "")),
        ];
        for (stored, written) in cases {
            let grant: AwsGrant = serde_json::from_str(stored).unwrap();
            assert_eq!(serde_json::to_value(&grant).unwrap().to_string(), written);
            let again: AwsGrant = serde_json::from_str(&written).unwrap();
            assert_eq!(again, grant);
        }
        let managed: AwsGrant = serde_json::from_str(managed).unwrap();
        assert_eq!(
            managed,
            AwsGrant::IamPolicy(IamPolicy {
                principal: Principal::Group("ops".to_owned()),
                policy: Policy::Managed("arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()),
            })
        );
        let narrowed: AwsGrant = serde_json::from_str(&narrowed).unwrap();
        assert_eq!(
            narrowed,
            AwsGrant::AssumeRole(AssumeRole {
                role_arn: ROLE.to_owned(),
                max_session: 43200,
                session_policy: Some(SESSION_POLICY.replace(r#"\""#, "\"")),
                source_identity: true,
            })
        );
    }

    /// An iam-policy grant names one principal and one policy: without either it does not
    /// read.
    #[test]
    fn an_iam_policy_grant_needs_its_principal_and_policy() {
        for stored in [
            r#"{"mode":"iam-policy","policy_arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}"#,
            r#"{"mode":"iam-policy","user":"{user}"}"#,
            r#"{"mode":"assume-role","source_identity":false}"#,
        ] {
            assert!(serde_json::from_str::<AwsGrant>(stored).is_err(), "{stored}");
        }
    }
}

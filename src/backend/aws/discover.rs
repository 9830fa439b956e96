//! `jit discover` on an aws target. One paginated `GetAccountAuthorizationDetails` (users,
//! groups and roles, with their inline policies, attached managed policies, group
//! memberships and trust policies) answers every kind of finding but one; then
//! `GetCallerIdentity` (jit's own principal) and a `ListAccessKeys` per admin user.
//!
//! - `standing`: a user or group holding a managed policy that a role attaches, outside a
//!   live lease (removed by detaching it); a principal other than jit's that a trust policy
//!   of an assume-role role lets assume it (reported: jit does not edit trust policies).
//! - `leftover`: a `jit-<lease id>` inline policy carrying this store's mark (the `Sid` of
//!   its first statement, see [`super::marked_policy`]) for a lease that is not live
//!   (removed by deleting it); `unmarked`: one with no store's mark and no live lease.
//! - `admin`: an active access key, older than `discover_key_age`, of a user with
//!   `AdministratorAccess` or an inline allow of `*` on `*` (its own or a group's).

use super::api::{Service, text_at};
use super::config::{AwsGrant, IamPolicy, Policy, Principal, is_iam_arn, is_iam_name_char};
use super::{AwsBackend, principal};
use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Mark, Scope};
use chrono::{DateTime, Utc};
use roxmltree::Node;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A user or a group, as `GetAccountAuthorizationDetails` describes it.
#[derive(Debug, Default)]
struct Holder {
    /// `User` or `Group`, as the API's action names spell it.
    kind: &'static str,
    name: String,
    arn: String,
    /// Inline policies: (name, document).
    inline: Vec<(String, Option<Value>)>,
    /// The ARNs of the attached managed policies.
    attached: Vec<String>,
    /// A user's groups.
    groups: Vec<String>,
}

impl Holder {
    /// `user/alice`, `group/ops`: how findings name it.
    fn shown(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    /// Why it has admin rights of its own, if it has: `AdministratorAccess` attached, or an
    /// inline policy (not a lease's) that allows `*` on `*`.
    fn admin(&self) -> Option<String> {
        if let Some(arn) = self.attached.iter().find(|arn| is_administrator_access(arn)) {
            return Some(arn.clone());
        }
        self.inline
            .iter()
            .filter(|(name, _)| lease_of(name).is_none())
            .find(|(_, document)| document.as_ref().is_some_and(allows_everything))
            .map(|(name, _)| format!("inline policy {name}"))
    }
}

/// A role, as `GetAccountAuthorizationDetails` describes it.
#[derive(Debug)]
struct RoleDetail {
    name: String,
    arn: String,
    trust: Option<Value>,
}

#[derive(Debug, Default)]
struct Account {
    users: Vec<Holder>,
    groups: Vec<Holder>,
    roles: Vec<RoleDetail>,
}

/// The lease id of a policy named `jit-<lease id>`.
fn lease_of(policy_name: &str) -> Option<&str> {
    policy_name
        .strip_prefix("jit-")
        .filter(|id| crate::lease::is_valid_id(id))
}

/// `arn:PARTITION:iam::aws:policy/AdministratorAccess`.
fn is_administrator_access(arn: &str) -> bool {
    arn.starts_with("arn:aws")
        && arn.ends_with(":iam::aws:policy/AdministratorAccess")
        && arn.matches(':').count() == 5
}

/// A string or a list of strings, as policy documents write `Action`, `Resource` and
/// principals.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A document's statements (a list, or a single object).
fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn allows(statement: &Value) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// Whether a policy document allows every action on every resource.
fn allows_everything(document: &Value) -> bool {
    statements(document).into_iter().any(|statement| {
        allows(statement)
            && strings(statement.get("Action"))
                .iter()
                .any(|a| *a == "*" || *a == "*:*")
            && strings(statement.get("Resource")).contains(&"*")
    })
}

/// Whether a trust policy statement's actions let its principals assume the role.
fn lets_assume(statement: &Value) -> bool {
    strings(statement.get("Action")).iter().any(|action| {
        let action = action.to_ascii_lowercase();
        action == "*" || action == "sts:*" || action.starts_with("sts:assumerole")
    })
}

/// The principals of a statement, as written: each `AWS`, `Service`, `Federated` and
/// `CanonicalUser` value, or `*`.
fn principals(statement: &Value) -> Vec<&str> {
    match statement.get("Principal") {
        Some(Value::String(all)) => vec![all.as_str()],
        Some(Value::Object(by_kind)) => by_kind
            .values()
            .flat_map(|value| strings(Some(value)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a trust policy's principal is jit's own (`me`, the caller's ARN; for a session
/// of a role, that role).
fn is_own(principal: &str, me: &str) -> bool {
    if principal == me {
        return true;
    }
    // arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION is trusted as the role,
    // arn:PARTITION:iam::ACCOUNT:role/PATH/ROLE.
    let mut parts = me.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sts"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let Some(role) = resource
        .strip_prefix("assumed-role/")
        .and_then(|rest| rest.split('/').next())
    else {
        return false;
    };
    principal
        .strip_prefix(&format!("arn:{partition}:iam::{account}:role/"))
        .is_some_and(|path| path == role || path.ends_with(&format!("/{role}")))
}

/// A policy document as IAM returns it: URL-encoded (AWS), or plain (some emulators).
fn policy_document(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok().or_else(|| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .ok()?;
        serde_json::from_str(&decoded).ok()
    })
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn child_text(node: Node<'_, '_>, name: &str) -> String {
    child(node, name)
        .and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The `member` elements of the list `name` under `node`.
fn members<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Vec<Node<'a, 'i>> {
    child(node, name)
        .map(|list| {
            list.children()
                .filter(|n| n.is_element() && n.tag_name().name() == "member")
                .collect()
        })
        .unwrap_or_default()
}

fn holder(node: Node<'_, '_>, kind: &'static str) -> Holder {
    let inline_list = if kind == "User" {
        "UserPolicyList"
    } else {
        "GroupPolicyList"
    };
    Holder {
        kind,
        name: child_text(node, &format!("{kind}Name")),
        arn: child_text(node, "Arn"),
        inline: members(node, inline_list)
            .into_iter()
            .map(|m| {
                (
                    child_text(m, "PolicyName"),
                    policy_document(&child_text(m, "PolicyDocument")),
                )
            })
            .collect(),
        attached: members(node, "AttachedManagedPolicies")
            .into_iter()
            .map(|m| child_text(m, "PolicyArn"))
            .collect(),
        groups: members(node, "GroupList")
            .into_iter()
            .map(|m| m.text().unwrap_or_default().trim().to_owned())
            .collect(),
    }
}

/// One page of `GetAccountAuthorizationDetails` into `account`; the marker of the next.
fn read_page(xml: &str, account: &mut Account) -> Result<Option<String>, BackendError> {
    let document = roxmltree::Document::parse(xml).map_err(|err| {
        BackendError::permanent(format!(
            "the GetAccountAuthorizationDetails answer is not XML: {err}"
        ))
    })?;
    let result = document
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "GetAccountAuthorizationDetailsResult")
        .ok_or_else(|| {
            BackendError::permanent("the GetAccountAuthorizationDetails answer has no result")
        })?;
    for user in members(result, "UserDetailList") {
        account.users.push(holder(user, "User"));
    }
    for group in members(result, "GroupDetailList") {
        account.groups.push(holder(group, "Group"));
    }
    for role in members(result, "RoleDetailList") {
        account.roles.push(RoleDetail {
            name: child_text(role, "RoleName"),
            arn: child_text(role, "Arn"),
            trust: policy_document(&child_text(role, "AssumeRolePolicyDocument")),
        });
    }
    let truncated = child_text(result, "IsTruncated") == "true";
    let marker = child_text(result, "Marker");
    Ok((truncated && !marker.is_empty()).then_some(marker))
}

impl AwsBackend {
    fn account(&self) -> Result<Account, BackendError> {
        let mut account = Account::default();
        let mut marker: Option<String> = None;
        loop {
            let mut params = vec![
                ("Filter.member.1", "User"),
                ("Filter.member.2", "Group"),
                ("Filter.member.3", "Role"),
                ("MaxItems", "1000"),
            ];
            if let Some(marker) = &marker {
                params.push(("Marker", marker.as_str()));
            }
            let answer = self.call(Service::Iam, "GetAccountAuthorizationDetails", &params)?;
            match read_page(&answer, &mut account)? {
                Some(next) => marker = Some(next),
                None => return Ok(account),
            }
        }
    }

    /// The active access keys of a user: (id, created).
    fn access_keys(&self, user: &str) -> Result<Vec<(String, DateTime<Utc>)>, BackendError> {
        let answer = self.call(Service::Iam, "ListAccessKeys", &[("UserName", user)])?;
        let document = roxmltree::Document::parse(&answer).map_err(|err| {
            BackendError::permanent(format!("the ListAccessKeys answer is not XML: {err}"))
        })?;
        Ok(document
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "AccessKeyMetadata")
            .flat_map(|list| {
                list.children()
                    .filter(|n| n.is_element() && n.tag_name().name() == "member")
            })
            .filter(|key| child_text(*key, "Status") == "Active")
            .filter_map(|key| {
                let created = DateTime::parse_from_rfc3339(&child_text(key, "CreateDate")).ok()?;
                Some((child_text(key, "AccessKeyId"), created.to_utc()))
            })
            .collect())
    }
}

/// The subject that `grant` maps to the IAM user or group `name` of kind `kind`, if it
/// does: `{user}` in its template, read back (`mgd-alice` from `mgd-{user}` is alice).
fn subject_of(grant: &IamPolicy, kind: &str, name: &str) -> Option<String> {
    let (of, template) = match &grant.principal {
        Principal::User(t) => ("User", t),
        Principal::Group(t) => ("Group", t),
    };
    if of != kind || !template.contains("{user}") {
        return None;
    }
    let (prefix, rest) = template.split_once("{user}")?;
    let suffix = rest.rsplit("{user}").next().unwrap_or(rest);
    let candidate = name
        .strip_prefix(prefix)?
        .strip_suffix(suffix)
        .filter(|c| !c.is_empty())?;
    let (_, mapped) = principal(grant, candidate).ok()?;
    (mapped == name).then(|| format!("user:{candidate}"))
}

pub(super) fn discover(
    backend: &AwsBackend,
    scope: &Scope<'_>,
    roles: &[(&str, AwsGrant)],
) -> Result<Discovery, BackendError> {
    let account = backend.account()?;
    let me = backend
        .call(Service::Sts, "GetCallerIdentity", &[])
        .map(|answer| text_at(&answer, &["GetCallerIdentityResult", "Arn"]).unwrap_or_default())?;
    let mut discovery = Discovery::default();
    let holders: Vec<&Holder> = account.users.iter().chain(&account.groups).collect();
    standing_attachments(scope, roles, &holders, &mut discovery);
    trusted_principals(roles, &account, &me, &mut discovery);
    inline_policies(scope, &holders, &mut discovery);
    admin_keys(backend, scope, &account, &me, &mut discovery)?;
    Ok(discovery)
}

/// Users and groups holding a managed policy a role attaches, but not for a live lease.
fn standing_attachments(
    scope: &Scope<'_>,
    roles: &[(&str, AwsGrant)],
    holders: &[&Holder],
    discovery: &mut Discovery,
) {
    let managed: Vec<(&str, &IamPolicy, &str)> = roles
        .iter()
        .filter_map(|(name, grant)| match grant {
            AwsGrant::IamPolicy(iam) => match &iam.policy {
                Policy::Managed(arn) => Some((*name, iam, arn.as_str())),
                Policy::Inline(_) => None,
            },
            AwsGrant::AssumeRole(_) => None,
        })
        .collect();
    if managed.is_empty() {
        return;
    }
    // (User or Group, name, policy ARN) of each live lease's attachment.
    let mut live: BTreeSet<(String, String, String)> = BTreeSet::new();
    for lease in scope.live {
        let handle = &lease.handle;
        if let (Some(kind), Some(name), Some(arn)) = (
            handle["principal"].as_str(),
            handle["name"].as_str(),
            handle["policy"].as_str(),
        ) {
            let kind = if kind == "group" { "Group" } else { "User" };
            live.insert((kind.to_owned(), name.to_owned(), arn.to_owned()));
        }
        // The grant as recorded with the lease; a lease as the store lists it leaves that
        // out, and then the role's grant as configured now stands in.
        let recorded = serde_json::from_value::<AwsGrant>(lease.params.clone()).ok();
        let configured = roles
            .iter()
            .find(|(role, _)| *role == lease.role)
            .map(|(_, grant)| grant);
        if let Some(AwsGrant::IamPolicy(iam)) = recorded.as_ref().or(configured)
            && let Policy::Managed(arn) = &iam.policy
            && let Ok((kind, name)) = principal(iam, &lease.subject)
        {
            live.insert((kind.to_owned(), name, arn.clone()));
        }
    }
    for holder in holders {
        for arn in &holder.attached {
            let of_arn: Vec<_> = managed.iter().filter(|(_, _, a)| a == arn).collect();
            if of_arn.is_empty()
                || live.contains(&(holder.kind.to_owned(), holder.name.clone(), arn.clone()))
            {
                continue;
            }
            // The role whose grant names this holder, else the first that attaches it.
            let (role, subject) = of_arn
                .iter()
                .find_map(|(role, iam, _)| {
                    Some((*role, Some(subject_of(iam, holder.kind, &holder.name)?)))
                })
                .unwrap_or((of_arn[0].0, None));
            let kind = holder.kind.to_ascii_lowercase();
            discovery.findings.push(Finding {
                kind: FindingKind::Standing,
                holder: holder.shown(),
                subject,
                role: Some(role.to_owned()),
                entitlement: format!("managed policy {arn}"),
                since: None,
                action: format!("adopt: detach it, and request role {role} instead"),
                removal: json!({ "detach": arn, kind: holder.name }),
            });
        }
    }
}

/// Principals other than jit's own that the assume-role roles' trust policies let assume
/// them. Reported only: a trust policy is the role's own business, and an edit that went
/// wrong would lock jit out of it.
fn trusted_principals(
    roles: &[(&str, AwsGrant)],
    account: &Account,
    me: &str,
    discovery: &mut Discovery,
) {
    for (role, grant) in roles {
        let AwsGrant::AssumeRole(assume) = grant else {
            continue;
        };
        let arn = assume.role_arn.as_str();
        let Some(detail) = account
            .roles
            .iter()
            .find(|r| r.arn == arn)
            .or_else(|| account.roles.iter().find(|r| r.name == super::role_name(arn)))
        else {
            discovery.notes.push(format!(
                "role {role}: the IAM role {arn} is not in the account"
            ));
            continue;
        };
        let Some(trust) = &detail.trust else {
            discovery.notes.push(format!(
                "role {role}: the trust policy of {arn} could not be read"
            ));
            continue;
        };
        let mut seen = BTreeSet::new();
        for statement in statements(trust) {
            if !allows(statement) || !lets_assume(statement) {
                continue;
            }
            for who in principals(statement) {
                if is_own(who, me) || !seen.insert(who) {
                    continue;
                }
                discovery.findings.push(Finding {
                    kind: FindingKind::Standing,
                    holder: who.to_owned(),
                    subject: None,
                    role: Some((*role).to_owned()),
                    entitlement: format!("may assume {arn} (trust policy)"),
                    since: None,
                    action: format!(
                        "remove it from the trust policy of {} (aws iam update-assume-role-policy)",
                        detail.name
                    ),
                    removal: Value::Null,
                });
            }
        }
    }
}

/// `jit-<lease id>` inline policies of users and groups without a live lease.
fn inline_policies(scope: &Scope<'_>, holders: &[&Holder], discovery: &mut Discovery) {
    for holder in holders {
        for (name, document) in &holder.inline {
            let Some(lease) = lease_of(name) else {
                continue;
            };
            let mark = document.as_ref().and_then(|document| {
                statements(document)
                    .into_iter()
                    .find_map(|s| s.get("Sid").and_then(Value::as_str).and_then(Mark::from_word))
            });
            let entitlement = format!("inline policy {name}");
            let finding = match mark.as_ref().map(|mark| (mark, scope.leftover(mark))) {
                // Another store's, or this store's for a live lease.
                Some((_, None | Some(false))) => continue,
                Some((mark, Some(true))) => Finding::leftover(holder.shown(), entitlement, &mark.lease, json!({
                        "delete": name,
                        holder.kind.to_ascii_lowercase(): holder.name,
                    })),
                None if scope.is_live(lease) => continue,
                None => Finding::unmarked(holder.shown(), entitlement),
            };
            discovery.findings.push(finding);
        }
    }
}

/// Active access keys older than `discover_key_age` of users with admin rights (but jit's
/// own).
fn admin_keys(
    backend: &AwsBackend,
    scope: &Scope<'_>,
    account: &Account,
    me: &str,
    discovery: &mut Discovery,
) -> Result<(), BackendError> {
    let age = backend.api.settings().discover_key_age;
    let oldest = scope.now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    for user in &account.users {
        if user.arn == me {
            continue;
        }
        let why = user.admin().or_else(|| {
            account
                .groups
                .iter()
                .filter(|group| user.groups.contains(&group.name))
                .find_map(|group| Some(format!("group {}: {}", group.name, group.admin()?)))
        });
        let Some(why) = why else {
            continue;
        };
        for (key, created) in backend.access_keys(&user.name)? {
            if created > oldest {
                continue;
            }
            discovery.findings.push(Finding {
                kind: FindingKind::Admin,
                holder: user.shown(),
                subject: None,
                role: None,
                entitlement: format!("access key {key}, admin through {why}"),
                since: Some(created),
                action: format!(
                    "rotate or delete the key (older than {}); give admin rights through a jit role",
                    crate::duration::format(age)
                ),
                removal: Value::Null,
            });
        }
    }
    Ok(())
}

/// Take away what a finding's `removal` names: detach a managed policy, or delete a
/// `jit-` inline policy, of a user or group. Already gone is success.
pub(super) fn remove(backend: &AwsBackend, removal: &Value) -> Result<(), BackendError> {
    let bad = || BackendError::refused("the finding names nothing jit removes on an aws target");
    let (kind, name) = match (removal["user"].as_str(), removal["group"].as_str()) {
        (Some(user), None) => ("User", user),
        (None, Some(group)) => ("Group", group),
        _ => return Err(bad()),
    };
    if name.is_empty() || name.len() > 128 || !name.chars().all(is_iam_name_char) {
        return Err(bad());
    }
    let name_key = format!("{kind}Name");
    let outcome = match (removal["detach"].as_str(), removal["delete"].as_str()) {
        (Some(arn), None) if is_iam_arn(arn, "policy") => backend.call(
            Service::Iam,
            &format!("Detach{kind}Policy"),
            &[(&name_key, name), ("PolicyArn", arn)],
        ),
        (None, Some(policy)) if lease_of(policy).is_some() => backend.call(
            Service::Iam,
            &format!("Delete{kind}Policy"),
            &[(&name_key, name), ("PolicyName", policy)],
        ),
        _ => return Err(bad()),
    };
    match outcome {
        Ok(_) => Ok(()),
        Err(err) if err.is("NoSuchEntity") => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iam(template: &str) -> IamPolicy {
        IamPolicy {
            principal: Principal::User(template.to_owned()),
            policy: Policy::Managed("arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()),
        }
    }

    #[test]
    fn a_user_name_maps_back_to_its_subject_through_the_template() {
        assert_eq!(
            subject_of(&iam("mgd-{user}"), "User", "mgd-alice").as_deref(),
            Some("user:alice")
        );
        assert_eq!(
            subject_of(&iam("{user}"), "User", "bob").as_deref(),
            Some("user:bob")
        );
        assert_eq!(
            subject_of(&iam("{user}@corp"), "User", "bob@corp").as_deref(),
            Some("user:bob")
        );
        assert_eq!(subject_of(&iam("mgd-{user}"), "User", "other"), None);
        assert_eq!(subject_of(&iam("mgd-{user}"), "Group", "mgd-alice"), None);
        assert_eq!(subject_of(&iam("ops"), "User", "ops"), None);
        assert_eq!(subject_of(&iam("mgd-{user}"), "User", "mgd-"), None);
    }

    #[test]
    fn admin_rights_are_administrator_access_or_an_allow_of_everything() {
        let allow = |action: Value, resource: Value| {
            json!({"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})
        };
        assert!(allows_everything(&allow(json!("*"), json!("*"))));
        assert!(allows_everything(&allow(json!(["s3:*", "*:*"]), json!(["*"]))));
        assert!(!allows_everything(&allow(json!("iam:*"), json!("*"))));
        assert!(!allows_everything(&allow(json!("*"), json!("arn:aws:s3:::b"))));
        assert!(!allows_everything(
            &json!({"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}})
        ));
        assert!(is_administrator_access(
            "arn:aws:iam::aws:policy/AdministratorAccess"
        ));
        assert!(is_administrator_access(
            "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"
        ));
        assert!(!is_administrator_access(
            "arn:aws:iam::123456789012:policy/AdministratorAccess"
        ));
        // A lease's own inline policy is not a standing admin right.
        let user = Holder {
            kind: "User",
            inline: vec![(
                "jit-abcdefgh23".to_owned(),
                Some(allow(json!("*"), json!("*"))),
            )],
            ..Holder::default()
        };
        assert_eq!(user.admin(), None);
    }

    #[test]
    fn trust_principals_are_read_as_written_and_jit_is_its_own() {
        let statement = json!({
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::123456789012:user/jit", "123456789012"], "Service": "ec2.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        });
        assert!(lets_assume(&statement));
        let mut found = principals(&statement);
        found.sort_unstable();
        assert_eq!(
            found,
            [
                "123456789012",
                "arn:aws:iam::123456789012:user/jit",
                "ec2.amazonaws.com"
            ]
        );
        assert_eq!(principals(&json!({"Principal": "*"})), ["*"]);
        assert!(!lets_assume(&json!({"Action": "sts:TagSession"})));
        let me = "arn:aws:iam::123456789012:user/jit";
        assert!(is_own(me, me));
        assert!(!is_own("arn:aws:iam::123456789012:user/bob", me));
        let session = "arn:aws:sts::123456789012:assumed-role/jit-runner/i-0abc";
        assert!(is_own("arn:aws:iam::123456789012:role/ci/jit-runner", session));
        assert!(!is_own("arn:aws:iam::123456789012:role/other", session));
    }

    #[test]
    fn policy_documents_are_read_encoded_or_plain() {
        let plain = r#"{"Statement":[{"Sid":"x","Effect":"Allow"}]}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(plain, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(policy_document(plain), policy_document(&encoded));
        assert!(policy_document(plain).is_some());
        assert_eq!(policy_document("not json"), None);
    }

    #[test]
    fn a_page_of_account_details_is_read_with_its_marker() {
        let xml = r#"<GetAccountAuthorizationDetailsResponse><GetAccountAuthorizationDetailsResult><UserDetailList><member><UserName>alice</UserName><Arn>arn:aws:iam::123456789012:user/alice</Arn><UserPolicyList><member><PolicyName>jit-abcdefgh23</PolicyName><PolicyDocument>%7B%22Statement%22%3A%5B%5D%7D</PolicyDocument></member></UserPolicyList><GroupList><member>ops</member></GroupList><AttachedManagedPolicies><member><PolicyName>p</PolicyName><PolicyArn>arn:aws:iam::123456789012:policy/p</PolicyArn></member></AttachedManagedPolicies></member></UserDetailList><GroupDetailList/><RoleDetailList><member><RoleName>r</RoleName><Arn>arn:aws:iam::123456789012:role/jit/r</Arn><AssumeRolePolicyDocument>%7B%7D</AssumeRolePolicyDocument></member></RoleDetailList><IsTruncated>true</IsTruncated><Marker>next</Marker></GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>"#;
        let mut account = Account::default();
        assert_eq!(read_page(xml, &mut account).unwrap().as_deref(), Some("next"));
        let alice = &account.users[0];
        assert_eq!(alice.shown(), "user/alice");
        assert_eq!(alice.groups, ["ops"]);
        assert_eq!(alice.attached, ["arn:aws:iam::123456789012:policy/p"]);
        assert_eq!(alice.inline[0].0, "jit-abcdefgh23");
        assert_eq!(alice.inline[0].1, Some(json!({"Statement": []})));
        assert_eq!(account.roles[0].trust, Some(json!({})));
    }
}

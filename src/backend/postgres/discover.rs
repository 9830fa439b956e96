//! `jit discover` on a postgres target: who is a member, outside any live lease, of the group
//! roles this target's roles hand out; which roles hold admin-level attributes; which of
//! those logins never expire; and which `jit_` logins outlived their lease. One query per
//! kind of finding, whatever the number of logins. See `docs/backends/postgres.md`.

use super::config::PostgresGrant;
use super::{PostgresBackend, ephemeral_login, handle_login, run, texts};
use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Mark, Scope};
use crate::lease::Lease;
use postgres::types::Type;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The admin-level attributes that make just-in-time access moot, in the order the admin
/// query reads them (`rolsuper`, `rolcreaterole`, `rolbypassrls`, `rolreplication`).
const ADMIN_ATTRIBUTES: [&str; 4] = ["SUPERUSER", "CREATEROLE", "BYPASSRLS", "REPLICATION"];

/// The subject a membership grant's login template maps to `login` (`{user}` is the
/// subject), if it maps any: the inverse of `PostgresBackend::membership_login`.
fn subject_of(template: &str, login: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{user}")?;
    let user = login.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!user.is_empty() && template.replace("{user}", user) == login).then(|| user.to_owned())
}

/// What live leases hold on the target: ephemeral logins (all of theirs) and memberships
/// (login, group role).
struct Held {
    logins: BTreeSet<String>,
    memberships: BTreeSet<(String, String)>,
}

fn held(live: &[Lease]) -> Held {
    let mut held = Held {
        logins: BTreeSet::new(),
        memberships: BTreeSet::new(),
    };
    for lease in live {
        match serde_json::from_value::<PostgresGrant>(lease.params.clone()) {
            Ok(PostgresGrant::Membership(grant)) => {
                let login = handle_login(lease)
                    .unwrap_or_else(|| PostgresBackend::membership_login(&grant, lease));
                for group in &grant.roles {
                    held.memberships.insert((login.clone(), group.clone()));
                }
            }
            // An ephemeral lease, or one whose grant cannot be read: its login is its own.
            _ => {
                held.logins
                    .insert(handle_login(lease).unwrap_or_else(|| ephemeral_login(&lease.id)));
            }
        }
    }
    held
}

/// The jit role whose grant hands out `group`, and the subject it maps `login` to: a
/// membership role whose login template names `login` first, else any role naming `group`.
fn role_for(
    roles: &[(&str, PostgresGrant)],
    group: &str,
    login: &str,
) -> (Option<String>, Option<String>) {
    let naming = || {
        roles
            .iter()
            .filter(move |(_, grant)| grant.roles().iter().any(|g| g == group))
    };
    for (role, grant) in naming() {
        if let PostgresGrant::Membership(membership) = grant
            && let Some(user) = subject_of(&membership.login, login)
        {
            return (Some((*role).to_owned()), Some(format!("user:{user}")));
        }
    }
    (naming().next().map(|(role, _)| (*role).to_owned()), None)
}

const ADOPT: &str = "adopt: jit discover --adopt ID --yes";

impl PostgresBackend {
    pub(super) fn discover_standing(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, PostgresGrant)],
    ) -> Result<Discovery, BackendError> {
        let groups: BTreeSet<String> = roles
            .iter()
            .flat_map(|(_, grant)| grant.roles().iter().cloned())
            .collect();
        *self.groups.borrow_mut() = groups.clone();
        let groups: Vec<String> = groups.into_iter().collect();
        let held = held(scope.live);
        let mut discovery = Discovery::default();
        // Logins seen holding something, for the no-expiry findings: login → never expires.
        let mut holders: BTreeMap<String, bool> = BTreeMap::new();

        // Members of the group roles (standing). The admin login is left out: jit needs it.
        let members = self.with_client(|_, client| {
            client.query_typed(
                "SELECT g.rolname::text, u.rolname::text, u.rolcanlogin, \
                 u.rolvaliduntil IS NULL OR u.rolvaliduntil = 'infinity', \
                 coalesce(shobj_description(u.oid, 'pg_authid'), '') \
                 FROM pg_auth_members m \
                 JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                 WHERE g.rolname = ANY($1) AND u.rolname <> current_user \
                 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2",
                &[(&groups, Type::TEXT_ARRAY)],
            )
        })?;
        for row in &members {
            let (group, login): (String, String) = (row.get(0), row.get(1));
            let (can_login, forever, comment): (bool, bool, String) =
                (row.get(2), row.get(3), row.get(4));
            if held.logins.contains(&login)
                || held.memberships.contains(&(login.clone(), group.clone()))
            {
                continue;
            }
            // A jit login of some store: its own findings (leftover, or another deployment's).
            if login.starts_with("jit_") && Mark::find(&comment).is_some() {
                continue;
            }
            if can_login {
                holders.entry(login.clone()).or_insert(forever);
            }
            let (role, subject) = role_for(roles, &group, &login);
            discovery.findings.push(Finding {
                kind: FindingKind::Standing,
                holder: login.clone(),
                subject: subject.filter(|_| can_login),
                role,
                entitlement: format!("member of {group:?}"),
                since: None,
                action: ADOPT.to_owned(),
                removal: json!({ "revoke": group, "from": login }),
            });
        }

        // Admin-level attributes. A group role a jit role hands out may carry them (that is
        // what its lease gives); any other role is reported.
        let admins = self.with_client(|_, client| {
            client.query_typed(
                "SELECT r.rolname::text, r.rolsuper, r.rolcreaterole, r.rolbypassrls, \
                 r.rolreplication, r.rolcanlogin, \
                 r.rolvaliduntil IS NULL OR r.rolvaliduntil = 'infinity' \
                 FROM pg_roles r \
                 WHERE (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication) \
                 AND r.rolname <> current_user \
                 AND NOT (r.rolname = ANY($1) AND NOT r.rolcanlogin) ORDER BY 1",
                &[(&groups, Type::TEXT_ARRAY)],
            )
        })?;
        for row in &admins {
            let login: String = row.get(0);
            if held.logins.contains(&login) {
                continue;
            }
            let attributes: Vec<&str> = ADMIN_ATTRIBUTES
                .iter()
                .enumerate()
                .filter(|(i, _)| row.get::<_, bool>(i + 1))
                .map(|(_, name)| *name)
                .collect();
            if row.get::<_, bool>(5) {
                holders.entry(login.clone()).or_insert(row.get(6));
            }
            discovery.findings.push(Finding {
                kind: FindingKind::Admin,
                holder: login,
                subject: None,
                role: None,
                entitlement: attributes.join(", "),
                since: None,
                action: "remove the attribute (ALTER ROLE ... NO...) or make it a jit role"
                    .to_owned(),
                removal: Value::Null,
            });
        }
        for (login, forever) in holders {
            if forever {
                discovery.findings.push(Finding {
                    kind: FindingKind::NoExpiry,
                    holder: login,
                    subject: None,
                    role: None,
                    entitlement: "login without VALID UNTIL".to_owned(),
                    since: None,
                    action: "give it an end (ALTER ROLE ... VALID UNTIL) or adopt what it holds"
                        .to_owned(),
                    removal: Value::Null,
                });
            }
        }

        // Logins named as jit names its own: this store's mark for a lease no longer live
        // is a leftover; no mark is reported only; another store's mark is left alone.
        let logins = self.with_client(|_, client| {
            client.query_typed(
                "SELECT r.rolname::text, coalesce(shobj_description(r.oid, 'pg_authid'), '') \
                 FROM pg_roles r WHERE r.rolname LIKE 'jit\\_%' AND r.rolname <> current_user \
                 ORDER BY 1",
                &[],
            )
        })?;
        for row in &logins {
            let (login, comment): (String, String) = (row.get(0), row.get(1));
            let entitlement = format!("login {login:?}");
            let finding = match Mark::find(&comment) {
                Some(mark) => match scope.leftover(&mark) {
                    None | Some(false) => continue,
                    Some(true) => Finding::leftover(login.clone(), entitlement, &mark.lease, json!({ "drop": login, "mark": mark.text() })),
                },
                None if held.logins.contains(&login) => continue,
                None => Finding::unmarked(login, entitlement),
            };
            discovery.findings.push(finding);
        }
        Ok(discovery)
    }

    /// Take a finding's holding away: a membership revoked, or a leftover login dropped as
    /// a revoke drops it. What the finding names is checked again first.
    pub(super) fn remove_finding(&self, finding: &Finding) -> Result<(), BackendError> {
        let removal = &finding.removal;
        if let (Some(group), Some(login)) = (removal["revoke"].as_str(), removal["from"].as_str())
        {
            if !self.groups.borrow().contains(group) {
                return Err(BackendError::refused(format!(
                    "{group:?} is not a group role this target's roles hand out"
                )));
            }
            let still = self.with_client(|_, client| {
                let member = "SELECT EXISTS (SELECT 1 FROM pg_auth_members m \
                     JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member \
                     WHERE g.rolname = $1 AND u.rolname = $2)";
                let held: bool = client
                    .query_typed_one(member, &texts(&[group, login]))?
                    .get(0);
                if held {
                    run(client, "REVOKE %I FROM %I", &[group, login])?;
                }
                Ok(client
                    .query_typed_one(member, &texts(&[group, login]))?
                    .get::<_, bool>(0))
            })?;
            // PostgreSQL only warns when a REVOKE takes nothing away (a membership granted
            // by another role, from version 16): never report a removal that did not happen.
            return if still {
                Err(BackendError::permanent(format!(
                    "{login:?} is still a member of {group:?} (granted by another role: REVOKE {group} FROM {login} GRANTED BY that role)"
                )))
            } else {
                Ok(())
            };
        }
        if let (Some(login), Some(mark)) = (removal["drop"].as_str(), removal["mark"].as_str()) {
            let mark = Mark::find(mark)
                .ok_or_else(|| BackendError::refused("the finding carries no mark"))?;
            if login != ephemeral_login(&mark.lease) {
                return Err(BackendError::refused(format!(
                    "{login:?} is not the login of lease {}",
                    mark.lease
                )));
            }
            // The login still carries the same mark (or is gone: nothing to do).
            let comment = self.with_client(|_, client| {
                Ok(client
                    .query_typed_opt(
                        "SELECT coalesce(shobj_description(oid, 'pg_authid'), '') \
                         FROM pg_roles WHERE rolname = $1",
                        &texts(&[login]),
                    )?
                    .map(|row| row.get::<_, String>(0)))
            })?;
            return match comment {
                None => Ok(()),
                Some(comment) if Mark::find(&comment).as_ref() == Some(&mark) => {
                    self.revoke_ephemeral(login)
                }
                Some(_) => Err(BackendError::refused(format!(
                    "{login:?} no longer carries the mark of lease {}",
                    mark.lease
                ))),
            };
        }
        Err(BackendError::refused(
            "the finding names no membership and no leftover login",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_template_maps_back_to_its_subject() {
        assert_eq!(subject_of("{user}", "alice"), Some("alice".into()));
        assert_eq!(subject_of("app_{user}", "app_alice"), Some("alice".into()));
        assert_eq!(subject_of("{user}_ro", "alice_ro"), Some("alice".into()));
        assert_eq!(subject_of("app_{user}", "alice"), None);
        assert_eq!(subject_of("app_{user}", "app_"), None);
        assert_eq!(subject_of("shared", "shared"), None);
    }
}

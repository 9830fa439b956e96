//! `jit discover` on a mysql (MariaDB) target: which accounts hold, outside any live lease,
//! the roles and privileges this target's roles hand out; which hold global admin rights;
//! and which `jit_` accounts and `jit_expire_`/`jit_mark_` events outlived their lease. One
//! query per kind of finding, whatever the number of accounts. See `docs/backends/mysql.md`.

use super::config::{MysqlGrant, parse_privilege};
use super::{
    MysqlBackend, NOT_GRANTED, batch, ephemeral_user, event_name, ident, mark_event_name, text,
};
use crate::backend::BackendError;
use crate::backend::discover::{Discovery, Finding, FindingKind, Mark, Scope};
use crate::lease::Lease;
use mysql::prelude::Queryable;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// What the last discovery saw this target's roles hand out: a removal must name one.
#[derive(Default)]
pub(super) struct Seen {
    roles: BTreeSet<String>,
    /// `(database, table)` of the ephemeral grants.
    objects: BTreeSet<(String, String)>,
}

/// A privilege as `GRANT` names it, and its column in `mysql.db` and `mysql.user`.
const COLUMNS: [(&str, &str); 18] = [
    ("SELECT", "Select_priv"),
    ("INSERT", "Insert_priv"),
    ("UPDATE", "Update_priv"),
    ("DELETE", "Delete_priv"),
    ("CREATE", "Create_priv"),
    ("DROP", "Drop_priv"),
    ("INDEX", "Index_priv"),
    ("ALTER", "Alter_priv"),
    ("CREATE VIEW", "Create_view_priv"),
    ("SHOW VIEW", "Show_view_priv"),
    ("TRIGGER", "Trigger_priv"),
    ("EXECUTE", "Execute_priv"),
    ("CREATE ROUTINE", "Create_routine_priv"),
    ("ALTER ROUTINE", "Alter_routine_priv"),
    ("EVENT", "Event_priv"),
    ("LOCK TABLES", "Lock_tables_priv"),
    ("REFERENCES", "References_priv"),
    ("CREATE TEMPORARY TABLES", "Create_tmp_table_priv"),
];

/// A privilege as `mysql.tables_priv.Table_priv` names it (table-level ones only).
fn table_privilege(privilege: &str) -> Option<&'static str> {
    Some(match privilege {
        "SELECT" => "Select",
        "INSERT" => "Insert",
        "UPDATE" => "Update",
        "DELETE" => "Delete",
        "CREATE" => "Create",
        "DROP" => "Drop",
        "INDEX" => "Index",
        "ALTER" => "Alter",
        "CREATE VIEW" => "Create View",
        "SHOW VIEW" => "Show view",
        "TRIGGER" => "Trigger",
        "REFERENCES" => "References",
        _ => return None,
    })
}

/// Every global privilege column of `mysql.user` (MariaDB 10.6 to 11): `ALL PRIVILEGES ON
/// *.*` holds each.
const GLOBAL: [&str; 30] = [
    "Select_priv",
    "Insert_priv",
    "Update_priv",
    "Delete_priv",
    "Create_priv",
    "Drop_priv",
    "Reload_priv",
    "Shutdown_priv",
    "Process_priv",
    "File_priv",
    "Grant_priv",
    "References_priv",
    "Index_priv",
    "Alter_priv",
    "Show_db_priv",
    "Super_priv",
    "Create_tmp_table_priv",
    "Lock_tables_priv",
    "Execute_priv",
    "Repl_slave_priv",
    "Repl_client_priv",
    "Create_view_priv",
    "Show_view_priv",
    "Create_routine_priv",
    "Alter_routine_priv",
    "Create_user_priv",
    "Event_priv",
    "Trigger_priv",
    "Create_tablespace_priv",
    "Delete_history_priv",
];

/// The account as MySQL writes it, for reading (never sent to the server).
fn account(user: &str, host: &str) -> String {
    format!("'{}'@'{}'", user.replace('\'', "''"), host.replace('\'', "''"))
}

/// The privileges of a grant, `ALL` spelt out.
fn privileges(listed: &[String]) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| {
            listed
                .iter()
                .any(|p| p == name || p == "ALL" || p == "ALL PRIVILEGES")
        })
        .collect()
}

/// The query that lists who holds any of `privileges` on `database.table`, with what they
/// hold: `(index, user, host, held)`.
fn holders_query(index: usize, privileges: &[&str], database: &str, table: &str) -> String {
    let (from, held, whole): (&str, Vec<String>, Option<String>) = if table == "*" {
        let held = privileges
            .iter()
            .filter_map(|p| COLUMNS.iter().find(|(name, _)| name == p))
            .map(|(name, column)| format!("IF({column} = 'Y', '{name}', NULL)"))
            .collect();
        if database == "*" {
            ("mysql.user", held, Some("is_role = 'N'".to_owned()))
        } else {
            ("mysql.db", held, Some(format!("Db = {}", text(database))))
        }
    } else {
        let held = privileges
            .iter()
            .filter_map(|p| table_privilege(p).map(|t| (p, t)))
            .map(|(name, set)| format!("IF(FIND_IN_SET('{set}', Table_priv), '{name}', NULL)"))
            .collect();
        (
            "mysql.tables_priv",
            held,
            Some(format!(
                "Db = {} AND Table_name = {}",
                text(database),
                text(table)
            )),
        )
    };
    let held = if held.is_empty() {
        "''".to_owned()
    } else {
        format!("CONCAT_WS(', ', {})", held.join(", "))
    };
    format!(
        "SELECT * FROM (SELECT {index} AS i, CAST(User AS CHAR), CAST(Host AS CHAR), \
         CAST({held} AS CHAR) AS held FROM {from} WHERE Host <> '' AND {}) t WHERE held <> ''",
        whole.unwrap_or_else(|| "TRUE".to_owned())
    )
}

/// The subject a role grant's account template maps `user` to (`{user}` is the subject).
fn subject_of(template: &str, user: &str) -> Option<String> {
    let (prefix, suffix) = template.split_once("{user}")?;
    let name = user.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!name.is_empty() && template.replace("{user}", name) == user).then(|| name.to_owned())
}

/// What live leases hold: ephemeral accounts (all of theirs), and roles `(user, host, role)`.
struct Held {
    users: BTreeSet<String>,
    roles: BTreeSet<(String, String, String)>,
}

fn held(live: &[Lease]) -> Held {
    let mut held = Held {
        users: BTreeSet::new(),
        roles: BTreeSet::new(),
    };
    for lease in live {
        let recorded = |key: &str| lease.handle.get(key).and_then(Value::as_str);
        match serde_json::from_value::<MysqlGrant>(lease.params.clone()) {
            Ok(MysqlGrant::Role(grant)) => {
                let user = recorded("user").map_or_else(
                    || MysqlBackend::role_account(&grant, lease),
                    str::to_owned,
                );
                for role in &grant.roles {
                    held.roles
                        .insert((user.clone(), grant.host.clone(), role.clone()));
                }
            }
            _ => {
                held.users.insert(
                    recorded("user").map_or_else(|| ephemeral_user(&lease.id), str::to_owned),
                );
            }
        }
    }
    held
}

const ADOPT: &str = "adopt: jit discover --adopt ID --yes";

impl MysqlBackend {
    pub(super) fn discover_standing(
        &self,
        scope: &Scope<'_>,
        roles: &[(&str, MysqlGrant)],
    ) -> Result<Discovery, BackendError> {
        let held = held(scope.live);
        let mut seen = Seen::default();
        for (_, grant) in roles {
            seen.roles.extend(grant.roles().iter().cloned());
        }
        // The ephemeral grants: (role, privileges, database, table).
        let mut grants: Vec<(&str, Vec<&'static str>, String, String)> = Vec::new();
        for (role, grant) in roles {
            if let MysqlGrant::Ephemeral(grant) = grant {
                for statement in &grant.grants {
                    if let Ok((listed, database, table)) = parse_privilege(statement) {
                        seen.objects.insert((database.clone(), table.clone()));
                        grants.push((role, privileges(&listed), database, table));
                    }
                }
            }
        }
        let role_list: Vec<String> = seen.roles.iter().map(|r| text(r)).collect();
        *self.seen.borrow_mut() = seen;

        let all = GLOBAL
            .iter()
            .map(|c| format!("{c} = 'Y'"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let (admins, members, privileged, accounts, events) = self.with_conn(|conn| {
            // Global ALL PRIVILEGES, SUPER or GRANT OPTION: mariadb.sys is a locked system
            // account (the owner of system views), never a person's.
            let admins: Vec<(String, String, u8, String, String)> = conn.query(format!(
                "SELECT CAST(User AS CHAR), CAST(Host AS CHAR), {all}, Super_priv, Grant_priv \
                 FROM mysql.user WHERE is_role = 'N' \
                 AND CONCAT(User, '@', Host) <> CURRENT_USER() \
                 AND NOT (User = 'mariadb.sys' AND Host = 'localhost') \
                 AND (Super_priv = 'Y' OR Grant_priv = 'Y' OR ({all})) ORDER BY 1, 2"
            ))?;
            let members: Vec<(String, String, String)> = if role_list.is_empty() {
                Vec::new()
            } else {
                conn.query(format!(
                    "SELECT CAST(User AS CHAR), CAST(Host AS CHAR), CAST(Role AS CHAR) \
                     FROM mysql.roles_mapping WHERE Host <> '' AND Role IN ({}) \
                     ORDER BY 3, 1, 2",
                    role_list.join(", ")
                ))?
            };
            let privileged: Vec<(usize, String, String, String)> = if grants.is_empty() {
                Vec::new()
            } else {
                let queries: Vec<String> = grants
                    .iter()
                    .enumerate()
                    .map(|(i, (_, privileges, database, table))| {
                        holders_query(i, privileges, database, table)
                    })
                    .collect();
                conn.query(format!("{} ORDER BY 1, 2, 3", queries.join(" UNION ALL ")))?
            };
            let accounts: Vec<(String, String)> = conn.query(
                "SELECT CAST(User AS CHAR), CAST(Host AS CHAR) FROM mysql.user \
                 WHERE User LIKE 'jit\\_%' AND is_role = 'N' \
                 AND CONCAT(User, '@', Host) <> CURRENT_USER() ORDER BY 1, 2",
            )?;
            let events: Vec<(String, String, String)> = conn.query(
                "SELECT CAST(EVENT_SCHEMA AS CHAR), CAST(EVENT_NAME AS CHAR), \
                 CAST(EVENT_COMMENT AS CHAR) FROM information_schema.EVENTS \
                 WHERE EVENT_NAME LIKE 'jit\\_expire\\_%' OR EVENT_NAME LIKE 'jit\\_mark\\_%' \
                 ORDER BY 1, 2",
            )?;
            Ok((admins, members, privileged, accounts, events))
        })?;
        let mut discovery = Discovery::default();

        // Admin accounts: reported, not removed. They hold every role and privilege anyway,
        // so they are not reported as standing holders too.
        let mut admin_accounts = BTreeSet::new();
        for (user, host, all, super_priv, grant_priv) in admins {
            if held.users.contains(&user) {
                continue;
            }
            let mut rights = Vec::new();
            if all == 1 {
                rights.push("ALL PRIVILEGES");
            } else if super_priv == "Y" {
                rights.push("SUPER");
            }
            if grant_priv == "Y" {
                rights.push("GRANT OPTION");
            }
            admin_accounts.insert((user.clone(), host.clone()));
            discovery.findings.push(Finding {
                kind: FindingKind::Admin,
                holder: account(&user, &host),
                subject: None,
                role: None,
                entitlement: format!("{} ON *.*", rights.join(", ")),
                since: None,
                action: "revoke the global right or make it a jit role".to_owned(),
                removal: Value::Null,
            });
        }
        let standing = |user: &str, host: &str| {
            let system = user == "mariadb.sys" && host == "localhost";
            !(system
                || admin_accounts.contains(&(user.to_owned(), host.to_owned()))
                || held.users.contains(user)
                || user.starts_with("jit_"))
        };

        // Roles granted to accounts outside a live lease.
        for (user, host, role) in members {
            if !standing(&user, &host)
                || held
                    .roles
                    .contains(&(user.clone(), host.clone(), role.clone()))
            {
                continue;
            }
            let naming = || {
                roles
                    .iter()
                    .filter(|(_, grant)| grant.roles().iter().any(|r| r == &role))
            };
            let mapped = naming().find_map(|(name, grant)| match grant {
                MysqlGrant::Role(grant) if grant.host == host => {
                    subject_of(&grant.account, &user).map(|s| (*name, format!("user:{s}")))
                }
                _ => None,
            });
            let (jit_role, subject) = match mapped {
                Some((name, subject)) => (Some(name.to_owned()), Some(subject)),
                None => (naming().next().map(|(name, _)| (*name).to_owned()), None),
            };
            discovery.findings.push(Finding {
                kind: FindingKind::Standing,
                holder: account(&user, &host),
                subject,
                role: jit_role,
                entitlement: format!("role {role}"),
                since: None,
                action: ADOPT.to_owned(),
                removal: json!({ "revoke_role": role, "user": user, "host": host }),
            });
        }

        // Privileges an ephemeral grant hands out, held outside a lease.
        let mut reported = BTreeSet::new();
        for (index, user, host, held_privileges) in privileged {
            let Some((role, _, database, table)) = grants.get(index) else {
                continue;
            };
            if !standing(&user, &host)
                || !reported.insert((user.clone(), host.clone(), database, table))
            {
                continue;
            }
            let object = format!("{database}.{table}");
            discovery.findings.push(Finding {
                kind: FindingKind::Standing,
                holder: account(&user, &host),
                subject: None,
                role: Some((*role).to_owned()),
                entitlement: format!("{held_privileges} ON {object}"),
                since: None,
                action: ADOPT.to_owned(),
                removal: json!({
                    "revoke": held_privileges, "on": [database, table], "user": user, "host": host,
                }),
            });
        }

        // jit's accounts and events, known by the mark on the event.
        let mut marks: BTreeMap<String, (Mark, Vec<(String, String)>)> = BTreeMap::new();
        let mut unmarked_events = Vec::new();
        for (schema, name, comment) in &events {
            let lease = name
                .strip_prefix("jit_expire_")
                .or_else(|| name.strip_prefix("jit_mark_"))
                .unwrap_or_default();
            match Mark::find(comment).filter(|mark| mark.lease == lease) {
                Some(mark) => {
                    marks
                        .entry(mark.lease.clone())
                        .or_insert_with(|| (mark, Vec::new()))
                        .1
                        .push((schema.clone(), name.clone()));
                }
                None => unmarked_events.push((schema.clone(), name.clone(), lease.to_owned())),
            }
        }
        let mut accounted = BTreeSet::new();
        for (user, host) in accounts {
            let lease = user.strip_prefix("jit_").unwrap_or_default().to_owned();
            let holder = account(&user, &host);
            let entitlement = format!("account {holder}");
            let finding = match marks.get(&lease) {
                Some((mark, events)) => {
                    accounted.insert(lease.clone());
                    match scope.leftover(mark) {
                        None | Some(false) => continue,
                        Some(true) => Finding::leftover(holder, entitlement, &mark.lease, json!({
                                "drop_user": user, "host": host, "events": events,
                                "mark": mark.text(),
                            })),
                    }
                }
                None if held.users.contains(&user) => continue,
                None => Finding::unmarked(holder, entitlement),
            };
            discovery.findings.push(finding);
        }
        // Marked events whose account is gone (the expiry event dropped it, say).
        for (lease, (mark, events)) in &marks {
            if accounted.contains(lease) || scope.leftover(mark) != Some(true) {
                continue;
            }
            for (schema, name) in events {
                discovery.findings.push(Finding::leftover(ephemeral_user(lease), format!("event {schema}.{name}"), &mark.lease, json!({
                        "drop_event": [schema, name], "mark": mark.text(),
                    })));
            }
        }
        for (schema, name, lease) in unmarked_events {
            if held.users.contains(&ephemeral_user(&lease)) || scope.is_live(&lease) {
                continue;
            }
            discovery.findings.push(Finding::unmarked(ephemeral_user(&lease), format!("event {schema}.{name}")));
        }
        Ok(discovery)
    }

    /// Take a finding's holding away. What it names is checked again first: a role or an
    /// object this target's roles hand out, or a leftover whose event still carries the mark.
    pub(super) fn remove_finding(&self, finding: &Finding) -> Result<(), BackendError> {
        let removal = &finding.removal;
        let field = |key: &str| removal[key].as_str();
        if let (Some(role), Some(user), Some(host)) =
            (field("revoke_role"), field("user"), field("host"))
        {
            if !self.seen.borrow().roles.contains(role) {
                return Err(BackendError::refused(format!(
                    "{role:?} is not a role this target's roles hand out"
                )));
            }
            return self.with_conn(|conn| {
                let found = Self::lookup(conn, user, host)?;
                if !found.present {
                    return Ok(());
                }
                let default: Option<String> = conn.query_first(format!(
                    "SELECT CAST(default_role AS CHAR) FROM mysql.user WHERE User = {} AND Host = {}",
                    text(user),
                    text(host)
                ))?;
                if default.as_deref() == Some(role) {
                    conn.query_drop(format!("SET DEFAULT ROLE NONE FOR {}", found.account))?;
                }
                match conn.query_drop(format!("REVOKE {} FROM {}", ident(role), found.account)) {
                    Err(mysql::Error::MySqlError(err)) if NOT_GRANTED.contains(&err.code) => {
                        Ok(())
                    }
                    other => other,
                }
            });
        }
        if let (Some(privileges), Some(user), Some(host)) =
            (field("revoke"), field("user"), field("host"))
        {
            let on: Vec<&str> = removal["on"]
                .as_array()
                .map(|on| on.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let [database, table] = on[..] else {
                return Err(BackendError::refused("the finding names no object"));
            };
            if !self
                .seen
                .borrow()
                .objects
                .contains(&(database.to_owned(), table.to_owned()))
            {
                return Err(BackendError::refused(format!(
                    "{database}.{table} is not an object this target's roles grant on"
                )));
            }
            // Checked as a configured grant is: known privileges, plain names.
            let (privileges, database, table) =
                parse_privilege(&format!("{privileges} ON {database}.{table}"))
                    .map_err(BackendError::refused)?;
            let object = |n: &str| if n == "*" { "*".to_owned() } else { ident(n) };
            return self.with_conn(|conn| {
                let found = Self::lookup(conn, user, host)?;
                if !found.present {
                    return Ok(());
                }
                match conn.query_drop(format!(
                    "REVOKE {} ON {}.{} FROM {}",
                    privileges.join(", "),
                    object(&database),
                    object(&table),
                    found.account
                )) {
                    Err(mysql::Error::MySqlError(err)) if NOT_GRANTED.contains(&err.code) => {
                        Ok(())
                    }
                    other => other,
                }
            });
        }
        let mark = field("mark")
            .and_then(Mark::find)
            .ok_or_else(|| BackendError::refused("the finding carries no mark"))?;
        let names = [event_name(&mark.lease), mark_event_name(&mark.lease)];
        // The mark is still on one of the lease's events (else the account is not known as
        // this store's any more): checked again before anything is dropped.
        let schema = self.event_schema();
        let marked = self.with_conn(|conn| {
            let comments: Vec<String> = conn.query(format!(
                "SELECT CAST(EVENT_COMMENT AS CHAR) FROM information_schema.EVENTS \
                 WHERE EVENT_NAME IN ({}, {})",
                text(&names[0]),
                text(&names[1])
            ))?;
            Ok(comments
                .iter()
                .any(|c| Mark::find(c).as_ref() == Some(&mark)))
        })?;
        if let (Some(user), Some(host)) = (field("drop_user"), field("host")) {
            if user != ephemeral_user(&mark.lease) {
                return Err(BackendError::refused(format!(
                    "{user:?} is not the account of lease {}",
                    mark.lease
                )));
            }
            if !marked {
                return Err(BackendError::refused(format!(
                    "no event carries the mark of lease {} any more",
                    mark.lease
                )));
            }
            return self.end_account(user, host, &mark.lease);
        }
        let event: Vec<&str> = removal["drop_event"]
            .as_array()
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let [event_schema, name] = event[..] else {
            return Err(BackendError::refused(
                "the finding names no role, privilege, account or event",
            ));
        };
        if !names.iter().any(|n| n == name) || schema.as_deref() != Some(event_schema) {
            return Err(BackendError::refused(format!(
                "{event_schema}.{name} is not an event of lease {} in this target's event schema",
                mark.lease
            )));
        }
        if !marked {
            return Ok(());
        }
        self.with_conn(|conn| {
            batch(
                conn,
                &[format!(
                    "DROP EVENT IF EXISTS {}.{}",
                    ident(event_schema),
                    ident(name)
                )],
            )
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_template_maps_back_to_its_subject() {
        assert_eq!(subject_of("app_{user}", "app_alice"), Some("alice".into()));
        assert_eq!(subject_of("{user}", "bob"), Some("bob".into()));
        assert_eq!(subject_of("app_{user}", "bob"), None);
    }

    #[test]
    fn all_privileges_are_spelt_out() {
        assert_eq!(privileges(&["ALL".into()]).len(), COLUMNS.len());
        assert_eq!(
            privileges(&["INSERT".into(), "SELECT".into()]),
            ["SELECT", "INSERT"]
        );
    }
}

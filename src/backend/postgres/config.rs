//! Settings of `backend = "postgres"` targets and the `grant` table of their roles.

use crate::config::document::{Fields, Node, Reader};
use crate::net::postgres::Connection;
use serde::{Deserialize, Serialize};
use std::path::Path;
use toml::Spanned;

/// A postgres target's settings: how jit reaches the server as the admin login.
pub type PostgresTarget = Connection;

/// `mode` in a role's `grant` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantMode {
    Ephemeral,
    Membership,
}

/// A role's `grant` table, as stored with each lease (never a secret), by its `mode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum PostgresGrant {
    /// A new login role per lease, with a random password and `VALID UNTIL` the lease end.
    Ephemeral(Ephemeral),
    /// The group roles granted to an existing login.
    Membership(Membership),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ephemeral {
    /// Group roles the login is a member of.
    pub roles: Vec<String>,
    /// Privileges on the target's database (`CONNECT`, `CREATE`, `TEMPORARY`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_privileges: Vec<String>,
    /// Privileges on schemas of the target's database (`USAGE`, `CREATE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_privileges: Vec<(String, Vec<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Group roles granted to the login.
    pub roles: Vec<String>,
    /// The existing login, from a template (`{user}` is the subject).
    #[serde(default = "subject_template")]
    pub login: String,
}

fn subject_template() -> String {
    "{user}".to_owned()
}

impl PostgresGrant {
    /// The group roles the entitlement is membership in.
    pub fn roles(&self) -> &[String] {
        match self {
            PostgresGrant::Ephemeral(grant) => &grant.roles,
            PostgresGrant::Membership(grant) => &grant.roles,
        }
    }
}

const DATABASE_PRIVILEGES: &[&str] = &["CONNECT", "CREATE", "TEMPORARY"];
const SCHEMA_PRIVILEGES: &[&str] = &["USAGE", "CREATE"];

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<PostgresTarget> {
    let what = fields.what().to_owned();
    crate::config::connection::parse_postgres(reader, fields, base, &what, true)
}

/// A PostgreSQL role name as jit accepts it in configuration: anything but NUL, at most 63
/// bytes. It is always sent as a quoted identifier.
fn check_identifier(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 || name.contains('\0') {
        return Err(format!(
            "{name:?} is not a PostgreSQL identifier (1 to 63 bytes, no NUL)"
        ));
    }
    Ok(())
}

fn privileges(
    reader: &mut Reader<'_>,
    node: &Spanned<Node>,
    what: &str,
    valid: &[&str],
) -> Option<Vec<String>> {
    let list = reader.strings(node, what)?;
    let mut out = Vec::new();
    for item in list {
        let upper = item.get_ref().to_ascii_uppercase();
        if valid.contains(&upper.as_str()) {
            out.push(upper);
        } else {
            reader.error(
                item.span(),
                format!(
                    "{what}: {:?} is not one of {}",
                    item.get_ref(),
                    valid.join(", ")
                ),
            );
            return None;
        }
    }
    Some(out)
}

pub fn parse_grant(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<serde_json::Value> {
    let mut fields = reader.table(node, "grant")?.prefixed("grant.");
    let before = reader.errors.len();
    let mode = reader.grant_mode(
        &mut fields,
        [
            ("ephemeral", GrantMode::Ephemeral),
            ("membership", GrantMode::Membership),
        ],
    );
    let roles = fields.get(reader, "roles", |reader, n, what| {
        let list = reader.strings(n, what)?;
        let mut out = Vec::new();
        for role in list {
            if let Err(err) = check_identifier(role.get_ref()) {
                reader.error(role.span(), format!("grant.roles: {err}"));
            }
            out.push(role.into_inner());
        }
        Some(out)
    });
    let login = fields.get(reader, "login", |reader, n, what| {
        let template = reader.string(n, what)?;
        if !template.contains("{user}") && template.contains('{') {
            reader.error(n.span(), "grant.login: the only placeholder is {user}");
        }
        Some(template)
    });
    let database_privileges = fields
        .get(reader, "database_privileges", |reader, n, what| {
            privileges(reader, n, what, DATABASE_PRIVILEGES)
        })
        .unwrap_or_default();
    let mut schema_privileges = Vec::new();
    if let Some(n) = fields.take("schema_privileges")
        && let Some(mut table) = reader.table(n, "grant.schema_privileges")
    {
        for (schema, list) in table.rest() {
            if let Err(err) = check_identifier(schema.get_ref()) {
                reader.error(schema.span(), format!("grant.schema_privileges: {err}"));
                continue;
            }
            let what = format!("grant.schema_privileges.{}", schema.get_ref());
            if let Some(privs) = privileges(reader, list, &what, SCHEMA_PRIVILEGES) {
                schema_privileges.push((schema.get_ref().clone(), privs));
            }
        }
    }
    let connection_limit = fields.count(reader, "connection_limit", 10_000);
    fields.finish(reader);

    let mode = mode?;
    let roles = roles.unwrap_or_default();
    if mode == GrantMode::Membership && roles.is_empty() {
        reader.error(
            node.span(),
            "grant: membership needs `roles` (the group roles to grant)",
        );
    }
    if mode == GrantMode::Membership
        && (!database_privileges.is_empty() || !schema_privileges.is_empty())
    {
        reader.error(
            node.span(),
            "grant: database_privileges and schema_privileges apply to ephemeral logins only",
        );
    }
    if mode == GrantMode::Membership && connection_limit.is_some() {
        reader.error(
            node.span(),
            "grant: connection_limit applies to ephemeral logins only",
        );
    }
    if mode == GrantMode::Ephemeral && login.is_some() {
        reader.error(node.span(), "grant: `login` applies to membership only (an ephemeral login is named after the lease)");
    }
    if reader.errors.len() != before {
        return None;
    }
    let grant = match mode {
        GrantMode::Membership => PostgresGrant::Membership(Membership {
            roles,
            login: login.unwrap_or_else(subject_template),
        }),
        GrantMode::Ephemeral => PostgresGrant::Ephemeral(Ephemeral {
            roles,
            database_privileges,
            schema_privileges,
            connection_limit,
        }),
    };
    serde_json::to_value(grant).ok()
}

/// `backend = "postgres"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "postgres",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for PostgresTarget {
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        self.password
            .iter()
            .map(|reference| ("password".to_owned(), reference))
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
        Box::new(super::PostgresBackend::new(self.clone()))
    }
}

#[cfg(test)]
mod grant_tests {
    use super::*;

    /// Leases keep their grant as JSON: what earlier versions stored still reads, and is
    /// written again the same.
    #[test]
    fn stored_grants_read_and_write_the_same() {
        for stored in [
            r#"{"mode":"ephemeral","roles":["app_admin"]}"#,
            r#"{"connection_limit":3,"database_privileges":["CONNECT"],"mode":"ephemeral","roles":[],"schema_privileges":[["app",["USAGE"]]]}"#,
            r#"{"login":"{user}_ro","mode":"membership","roles":["readers","writers"]}"#,
        ] {
            let grant: PostgresGrant = serde_json::from_str(stored).unwrap();
            assert_eq!(serde_json::to_value(&grant).unwrap().to_string(), stored);
        }
    }
}

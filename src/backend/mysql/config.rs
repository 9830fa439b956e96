//! Settings of `backend = "mysql"` targets (MariaDB 10.6+, MySQL 8) and the `grant` table of
//! their roles.

use crate::config::document::{Fields, Node, Reader};
use crate::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

#[derive(Clone, Debug)]
pub struct MysqlTarget {
    /// `mysql://USER@HOST:PORT/DATABASE`, without a password; TLS settings split off.
    pub url: String,
    pub password: Option<SecretRef>,
    pub tls: MysqlTls,
    pub connect_timeout: Duration,
    /// Where expiry events are created (default: the URL's database).
    pub event_schema: Option<String>,
}

/// `ssl-mode` as the MySQL clients read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MysqlTls {
    Disabled,
    /// Encrypt, check nothing.
    Required,
    /// Encrypt and check the chain (`ssl-ca`), not the host name.
    VerifyCa(Option<PathBuf>),
    /// Encrypt, check the chain and the host name.
    VerifyIdentity(Option<PathBuf>),
}

/// `mode` in a role's `grant` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MysqlMode {
    Ephemeral,
    Role,
}

/// A role's `grant` table, as stored with each lease, by its `mode`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum MysqlGrant {
    /// A new account per lease, with a random password.
    Ephemeral(MysqlEphemeral),
    /// Roles granted to an existing account, and made its default.
    Role(MysqlRole),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MysqlEphemeral {
    /// Privilege grants, `PRIVILEGES ON db.table`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The host part of the account (`'name'@'host'`).
    pub host: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MysqlRole {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The existing account, from a template (`{user}` is the subject).
    #[serde(default = "subject_template")]
    pub account: String,
    /// The host part of the account (`'name'@'host'`).
    pub host: String,
}

fn subject_template() -> String {
    "{user}".to_owned()
}

impl MysqlGrant {
    pub fn roles(&self) -> &[String] {
        match self {
            MysqlGrant::Ephemeral(grant) => &grant.roles,
            MysqlGrant::Role(grant) => &grant.roles,
        }
    }

    /// The host part of the account.
    pub fn host(&self) -> &str {
        match self {
            MysqlGrant::Ephemeral(grant) => &grant.host,
            MysqlGrant::Role(grant) => &grant.host,
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        matches!(self, MysqlGrant::Ephemeral(_))
    }
}

const PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "INDEX",
    "ALTER",
    "CREATE VIEW",
    "SHOW VIEW",
    "TRIGGER",
    "EXECUTE",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EVENT",
    "LOCK TABLES",
    "REFERENCES",
    "CREATE TEMPORARY TABLES",
    "ALL",
    "ALL PRIVILEGES",
];

/// `SELECT, INSERT ON app.*`: known privileges, and a `db.table` of plain names or `*`. Returns
/// the privileges and the two names, so the backend writes the statement itself.
pub fn parse_privilege(text: &str) -> Result<(Vec<String>, String, String), String> {
    let err = || {
        format!(
            "{text:?} is not `PRIVILEGES ON database.table` (such as \"SELECT, INSERT ON app.*\")"
        )
    };
    let (privileges, object) = text.split_once(" ON ").ok_or_else(err)?;
    let privileges: Vec<String> = privileges
        .split(',')
        .map(|p| p.trim().to_ascii_uppercase())
        .collect();
    if privileges.iter().any(|p| !PRIVILEGES.contains(&p.as_str())) {
        return Err(format!(
            "{text:?}: privileges must be among {}",
            PRIVILEGES.join(", ")
        ));
    }
    let (database, table) = object.trim().split_once('.').ok_or_else(err)?;
    let name = |n: &str| {
        n == "*"
            || (!n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    if !name(database) || !name(table) || (database == "*" && table != "*") {
        return Err(err());
    }
    Ok((privileges, database.to_owned(), table.to_owned()))
}

/// Split `ssl-mode` and `ssl-ca` off the URL.
pub fn split_tls(url: &str, base: &Path) -> Result<(String, MysqlTls), String> {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = "DISABLED".to_owned();
    let mut ca = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("ssl-mode", value)) => mode = value.to_ascii_uppercase(),
            Some(("ssl-ca", value)) => ca = Some(base.join(value)),
            _ => kept.push(pair),
        }
    }
    let tls = match mode.as_str() {
        "DISABLED" => MysqlTls::Disabled,
        "REQUIRED" if ca.is_some() => MysqlTls::VerifyCa(ca),
        "REQUIRED" => MysqlTls::Required,
        "VERIFY_CA" => MysqlTls::VerifyCa(ca),
        "VERIFY_IDENTITY" => MysqlTls::VerifyIdentity(ca),
        other => {
            return Err(format!(
                "ssl-mode {other:?} is not one of DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
            ));
        }
    };
    let url = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<MysqlTarget> {
    let hint = " (mysql://USER@HOST:PORT/DATABASE)";
    let url = fields.need_as(reader, "url", hint, |reader, node, what| {
        reader.parsed(node, what, |text| {
            let (url, tls) = split_tls(text, base)?;
            let opts =
                mysql::Opts::from_url(&url).map_err(|e| format!("url is not a MySQL URL: {e}"))?;
            if opts.get_pass().is_some() {
                return Err(crate::secret::url_password_refused());
            }
            if opts.get_user().is_none() {
                return Err(
                    "url must name a user, such as mysql://jit_admin@db.internal:3306/app".to_owned(),
                );
            }
            Ok((url, tls))
        })
    });
    let password = fields.secret(reader, "password", base);
    let connect_timeout = fields
        .duration(reader, "connect_timeout")
        .unwrap_or(Duration::from_secs(10));
    let event_schema = fields.string(reader, "event_schema");
    let (url, tls) = url?;
    Some(MysqlTarget {
        url,
        password,
        tls,
        connect_timeout,
        event_schema,
    })
}

pub fn parse_grant(reader: &mut Reader<'_>, node: &Spanned<Node>) -> Option<serde_json::Value> {
    let mut fields = reader.table(node, "grant")?.prefixed("grant.");
    let before = reader.errors.len();
    let mode = reader.grant_mode(
        &mut fields,
        [
            ("ephemeral", MysqlMode::Ephemeral),
            ("role", MysqlMode::Role),
        ],
    );
    let grants = fields
        .strings_each(reader, "grants", |g| parse_privilege(g).map(drop))
        .unwrap_or_default();
    let roles = fields
        .strings_each(reader, "roles", |r| {
            let ok = !r.is_empty()
                && r.len() <= 64
                && r.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if ok {
                return Ok(());
            }
            Err(format!("{r:?} is not a role name (letters, digits, _ and -)"))
        })
        .unwrap_or_default();
    let account = fields.string(reader, "account");
    let host = fields
        .string(reader, "host")
        .unwrap_or_else(|| "%".to_owned());
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".%_-:".contains(c))
        || host.is_empty()
    {
        reader.error(
            node.span(),
            format!("grant.host {host:?} is not a host pattern"),
        );
    }
    fields.finish(reader);
    let mode = mode?;
    // An entry already reported above is not also reported as missing.
    if reader.errors.len() != before {
        return None;
    }
    if mode == MysqlMode::Role && roles.is_empty() {
        reader.error(node.span(), "grant: role mode needs `roles`");
    }
    if mode == MysqlMode::Ephemeral && grants.is_empty() && roles.is_empty() {
        reader.error(
            node.span(),
            "grant: an ephemeral account needs `grants` or `roles`",
        );
    }
    if reader.errors.len() != before {
        return None;
    }
    let grant = match mode {
        MysqlMode::Role => MysqlGrant::Role(MysqlRole {
            roles,
            account: account.unwrap_or_else(subject_template),
            host,
        }),
        MysqlMode::Ephemeral => MysqlGrant::Ephemeral(MysqlEphemeral {
            grants,
            roles,
            host,
        }),
    };
    serde_json::to_value(grant)
    .ok()
}

/// `backend = "mysql"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "mysql",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for MysqlTarget {
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
        Box::new(super::MysqlBackend::new(self.clone()))
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
            r#"{"grants":["SELECT ON app.*"],"host":"%","mode":"ephemeral"}"#,
            r#"{"host":"10.0.%","mode":"ephemeral","roles":["app_read"]}"#,
            r#"{"account":"{user}_ro","host":"%","mode":"role","roles":["app_read"]}"#,
        ] {
            let grant: MysqlGrant = serde_json::from_str(stored).unwrap();
            assert_eq!(serde_json::to_value(&grant).unwrap().to_string(), stored);
        }
    }
}

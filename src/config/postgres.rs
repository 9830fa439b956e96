//! Settings of `backend = "postgres"` targets and the `grant` table of their roles.

use super::document::{Fields, Node, Reader};
use crate::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::Path;
use toml::Spanned;

pub const TARGET_KEYS: &[&str] = &[
    "backend",
    "url",
    "password",
    "connect_timeout",
    "description",
];
pub const GRANT_KEYS: &[&str] = &[
    "mode",
    "roles",
    "login",
    "database_privileges",
    "schema_privileges",
    "connection_limit",
];

/// How jit reaches the server, as the admin login.
#[derive(Clone, Debug)]
pub struct PostgresTarget {
    /// The connection URL without TLS settings and without a password.
    pub url: String,
    pub tls: Tls,
    pub password: Option<SecretRef>,
    pub connect_timeout: std::time::Duration,
}

/// `sslmode` as libpq reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    /// Encrypt, without checking the server's certificate (libpq's `require`).
    Require,
    /// Encrypt and check the certificate chain, not the host name.
    VerifyCa,
    /// Encrypt and check the chain and the host name.
    VerifyFull,
}

#[derive(Clone, Debug)]
pub struct Tls {
    pub mode: TlsMode,
    /// `sslrootcert`: the CA certificate (PEM) to trust.
    pub root_cert: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantMode {
    /// A new login role per lease, with a random password and `VALID UNTIL` the lease end.
    Ephemeral,
    /// The group roles granted to an existing login.
    Membership,
}

/// A role's `grant` table, as stored with each lease (never a secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostgresGrant {
    pub mode: GrantMode,
    /// Group roles the entitlement is membership in.
    pub roles: Vec<String>,
    /// Membership: the existing login, from a template (`{user}` is the subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Ephemeral: privileges on the target's database (`CONNECT`, `CREATE`, `TEMPORARY`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_privileges: Vec<String>,
    /// Ephemeral: privileges on schemas of the target's database (`USAGE`, `CREATE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_privileges: Vec<(String, Vec<String>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
}

pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const DATABASE_PRIVILEGES: &[&str] = &["CONNECT", "CREATE", "TEMPORARY"];
const SCHEMA_PRIVILEGES: &[&str] = &["USAGE", "CREATE"];

/// Split libpq TLS settings off a URL: (the URL without them, TLS settings).
pub fn split_tls(url: &str) -> Result<(String, Tls), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut tls = Tls {
        mode: TlsMode::Prefer,
        root_cert: None,
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                tls.mode = match value {
                    "disable" => TlsMode::Disable,
                    "allow" | "prefer" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-ca" => TlsMode::VerifyCa,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        ));
                    }
                }
            }
            "sslrootcert" => tls.root_cert = Some(value.into()),
            _ => kept.push(pair),
        }
    }
    // As in libpq: `require` with a root certificate checks the chain.
    if tls.mode == TlsMode::Require && tls.root_cert.is_some() {
        tls.mode = TlsMode::VerifyCa;
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, tls))
}

pub fn parse_target(
    reader: &mut Reader<'_>,
    fields: &mut Fields<'_>,
    base: &Path,
    table: std::ops::Range<usize>,
    what: &str,
) -> Option<PostgresTarget> {
    parse_connection(reader, fields, base, table, what, true)
}

/// `url`, `password` and `connect_timeout` of a PostgreSQL connection. Without
/// `user_required`, the URL may leave the user out (it is then the caller's own login).
pub fn parse_connection(
    reader: &mut Reader<'_>,
    fields: &mut Fields<'_>,
    base: &Path,
    table: std::ops::Range<usize>,
    what: &str,
    user_required: bool,
) -> Option<PostgresTarget> {
    let url_node = fields.take("url");
    let url = match url_node {
        Some(node) => reader.string(node, "url").and_then(|text| {
            let checked = split_tls(&text).and_then(|(url, tls)| {
                let config: postgres::Config = url.parse().map_err(|e| format!("url is not a PostgreSQL URL: {e}"))?;
                if config.get_password().is_some() {
                                        return Err(crate::secret::url_password_refused());
                }
                if config.get_hosts().is_empty() {
                    return Err("url must name a host, such as postgres://db.internal:5432/jit".to_owned());
                }
                if user_required && config.get_user().is_none() {
                    return Err("url must name a host and a user, such as postgres://jit_admin@db.internal:5432/app".to_owned());
                }
                Ok((url, tls))
            });
            match checked {
                Ok(ok) => Some(ok),
                Err(err) => {
                    reader.error(node.span(), err);
                    None
                }
            }
        }),
        None => {
            reader.error(table, format!("{what} needs `url` (postgres://USER@HOST:PORT/DATABASE)"));
            None
        }
    };
    let password = fields
        .take("password")
        .and_then(|node| reader.secret(node, "password", base));
    let connect_timeout = fields
        .take("connect_timeout")
        .and_then(|node| reader.duration(node, "connect_timeout"))
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let (url, tls) = url?;
    let tls = Tls {
        root_cert: tls
            .root_cert
            .map(|p| if p.is_relative() { base.join(p) } else { p }),
        ..tls
    };
    Some(PostgresTarget {
        url,
        tls,
        password,
        connect_timeout,
    })
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
    let mut fields = reader.table(node, "grant")?;
    let before = reader.errors.len();
    let mode = reader.grant_mode(
        &mut fields,
        node,
        [
            ("ephemeral", GrantMode::Ephemeral),
            ("membership", GrantMode::Membership),
        ],
    );
    let roles = fields.take("roles").and_then(|n| {
        let list = reader.strings(n, "grant.roles")?;
        let mut out = Vec::new();
        for role in list {
            if let Err(err) = check_identifier(role.get_ref()) {
                reader.error(role.span(), format!("grant.roles: {err}"));
            }
            out.push(role.into_inner());
        }
        Some(out)
    });
    let login = fields.take("login").and_then(|n| {
        let template = reader.string(n, "grant.login")?;
        if !template.contains("{user}") && template.contains('{') {
            reader.error(n.span(), "grant.login: the only placeholder is {user}");
        }
        Some(template)
    });
    let database_privileges = fields
        .take("database_privileges")
        .and_then(|n| privileges(reader, n, "grant.database_privileges", DATABASE_PRIVILEGES))
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
    let connection_limit = fields
        .take("connection_limit")
        .and_then(|n| reader.count(n, "grant.connection_limit", 10_000));
    fields.finish(reader, GRANT_KEYS);

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
    let grant = PostgresGrant {
        mode,
        roles,
        login: match mode {
            GrantMode::Membership => Some(login.unwrap_or_else(|| "{user}".to_owned())),
            GrantMode::Ephemeral => None,
        },
        database_privileges,
        schema_privileges,
        connection_limit,
    };
    serde_json::to_value(grant).ok()
}

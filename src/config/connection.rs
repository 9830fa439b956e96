//! Reading the settings of a PostgreSQL connection (a postgres target's, or the team
//! store's) from the configuration.

use super::document::{Fields, Reader};
use crate::net::postgres::{Connection, DEFAULT_CONNECT_TIMEOUT, split_tls};
use crate::net::tls::Tls;
use std::path::Path;

/// `url`, `password` and `connect_timeout` of a PostgreSQL connection. Without
/// `user_required`, the URL may leave the user out (it is then the caller's own login).
pub fn parse_postgres(
    reader: &mut Reader<'_>,
    fields: &mut Fields<'_>,
    base: &Path,
    what: &str,
    user_required: bool,
) -> Option<Connection> {
    let url = match fields.take("url") {
        Some(node) => reader.parsed(node, "url", |text| {
            let (url, tls) = split_tls(text)?;
            let config: postgres::Config =
                url.parse().map_err(|e| format!("url is not a PostgreSQL URL: {e}"))?;
            if config.get_password().is_some() {
                return Err(crate::secret::url_password_refused());
            }
            if config.get_hosts().is_empty() {
                return Err(
                    "url must name a host, such as postgres://db.internal:5432/jit".to_owned(),
                );
            }
            if user_required && config.get_user().is_none() {
                return Err("url must name a host and a user, such as postgres://jit_admin@db.internal:5432/app".to_owned());
            }
            Ok((url, tls))
        }),
        None => {
            let hint = "(postgres://USER@HOST:PORT/DATABASE)";
            reader.error(fields.span(), format!("{what} needs `url` {hint}"));
            None
        }
    };
    let password = fields.secret(reader, "password", base);
    let connect_timeout = fields
        .duration(reader, "connect_timeout")
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let (url, tls) = url?;
    let tls = Tls {
        root_cert: tls
            .root_cert
            .map(|p| if p.is_relative() { base.join(p) } else { p }),
        ..tls
    };
    Some(Connection {
        url,
        tls,
        password,
        connect_timeout,
    })
}

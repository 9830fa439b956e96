//! PostgreSQL connections, shared by the postgres backend and the team store: the settings
//! (`url` without TLS settings or password, TLS, password reference, timeout), libpq's TLS
//! keys split off a URL, and connecting.

use super::tls::{Tls, TlsMode};
use crate::secret::SecretRef;
use postgres::Client;

/// How jit reaches a PostgreSQL server: a target's admin login, or the team store.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The connection URL without TLS settings and without a password.
    pub url: String,
    pub tls: crate::net::tls::Tls,
    pub password: Option<SecretRef>,
    pub connect_timeout: std::time::Duration,
}

pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Why a connection could not be opened.
pub enum Refused {
    /// The TLS settings are unusable (a root certificate that cannot be read, say).
    Tls(String),
    Server(postgres::Error),
}

/// Connect with `config`, encrypted as `tls` asks. Shared with the team store.
pub fn open(config: &postgres::Config, tls: &Tls) -> Result<Client, Refused> {
    if tls.mode == TlsMode::Disable {
        return config.connect(postgres::NoTls).map_err(Refused::Server);
    }
    let client =
        super::tls::client_config(&tls.mode, tls.root_cert.as_deref()).map_err(Refused::Tls)?;
    config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(client))
        .map_err(Refused::Server)
}

/// The first host and port `config` connects to (libpq's defaults when it names none), for
/// messages. Shared with the team store.
pub fn host_port(config: &postgres::Config) -> (String, u16) {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

/// The connection settings of `settings` before the password: timeout, application name,
/// and whether to try TLS.
pub fn base_config(settings: &Connection) -> Result<postgres::Config, String> {
    settings
        .url
        .parse::<postgres::Config>()
        .map(|mut config| {
            config.connect_timeout(settings.connect_timeout);
            config.application_name("jit");
            config.ssl_mode(match settings.tls.mode {
                TlsMode::Disable => postgres::config::SslMode::Disable,
                TlsMode::Prefer => postgres::config::SslMode::Prefer,
                _ => postgres::config::SslMode::Require,
            });
            config
        })
        .map_err(|err| format!("url: {err}"))
}

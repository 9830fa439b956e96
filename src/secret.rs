//! Secrets: a wrapper that cannot be printed by accident, and secret references
//! (`keyring:NAME`, `env:VAR`, `file:PATH`) resolved at the moment of use.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The keyring service name under which jit keeps its secrets.
pub const KEYRING_SERVICE: &str = "jit";

/// The reference forms, for error messages.
pub const REFERENCE_FORMS: &str = "keyring:NAME, env:VAR or file:PATH";

/// The refusal of a connection URL that carries its password.
pub fn url_password_refused() -> String {
    format!(
        "url holds a password: a literal secret is refused; put it in `password` as a reference ({REFERENCE_FORMS})"
    )
}

/// A secret value. `Debug` is redacted, there is no `Display` and no `Serialize`:
/// the only way to the value is [`Secret::expose`], one call per use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a secret lives. Displaying a reference shows the reference, never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    Keyring(String),
    Env(String),
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {reference}: {message}")]
    Unavailable { reference: String, message: String },
}

impl SecretRef {
    /// Parse a reference. Anything else is taken as a literal secret and refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = || {
            format!("a secret must be a reference ({REFERENCE_FORMS}); a literal secret is refused")
        };
        let (scheme, rest) = text.split_once(':').ok_or_else(refused)?;
        if rest.is_empty() {
            return Err(format!(
                "secret reference {text:?} names nothing after `{scheme}:`"
            ));
        }
        match scheme {
            "keyring" => {
                if !rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/@".contains(c))
                {
                    return Err(format!(
                        "keyring name {rest:?} may hold only letters, digits and . _ - / @"
                    ));
                }
                Ok(SecretRef::Keyring(rest.to_owned()))
            }
            "env" => {
                if !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("{rest:?} is not an environment variable name"));
                }
                Ok(SecretRef::Env(rest.to_owned()))
            }
            "file" => Ok(SecretRef::File(PathBuf::from(rest))),
            _ => Err(refused()),
        }
    }

    /// Make a relative `file:` path relative to the configuration's directory.
    pub fn anchored(self, base: &Path) -> Self {
        match self {
            SecretRef::File(path) if path.is_relative() => SecretRef::File(base.join(path)),
            other => other,
        }
    }

    /// Fetch the secret now.
    pub fn resolve(&self) -> Result<Secret<String>, SecretError> {
        let unavailable = |message: String| SecretError::Unavailable {
            reference: self.to_string(),
            message,
        };
        match self {
            SecretRef::Keyring(name) => keyring_entry(name)
                .and_then(|(entry, _)| entry.get_password())
                .map(Secret::new)
                .map_err(|err| unavailable(keyring_message(&err))),
            SecretRef::Env(var) => std::env::var(var)
                .map(Secret::new)
                .map_err(|_| unavailable("the environment variable is not set".to_owned())),
            SecretRef::File(path) => {
                let meta = fs::metadata(path).map_err(|err| unavailable(err.to_string()))?;
                if meta.mode() & 0o077 != 0 {
                    return Err(unavailable(format!(
                        "the file is readable by group or others (mode {:o}); chmod 600 it",
                        meta.mode() & 0o777
                    )));
                }
                let text = fs::read_to_string(path).map_err(|err| unavailable(err.to_string()))?;
                Ok(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned()))
            }
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Keyring(name) => write!(f, "keyring:{name}"),
            SecretRef::Env(var) => write!(f, "env:{var}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// The keyring entry for `name`: in the kernel session keyring where the process has one
/// of its own (a login session), else in the user keyring of the account jit runs as, which
/// every user has (cron, systemd, containers). Under `sudo`, the session keyring is still
/// the caller's: the service account's secrets are in its own user keyring, never there.
/// Either way the entry is also linked into the persistent keyring where available.
fn keyring_entry(name: &str) -> keyring::Result<(keyring::Entry, &'static str)> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let failure = |err: linux_keyutils::KeyError| keyring::Error::PlatformFailure(Box::new(err));
    let me = nix::unistd::geteuid().as_raw();
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false);
    let own = |ring: &KeyRing| ring.metadata().is_ok_and(|m| m.get_uid() == me);
    let persistent = || KeyRing::get_persistent(KeyRingIdentifier::User).ok();
    let (ring, persistent, which) = match session {
        Ok(ring) if own(&ring) => (ring, persistent(), "session keyring"),
        // The user keyring is not reachable from another user's session keyring, so this
        // process would not possess it, and could neither read nor link what it holds: it
        // is linked into a keyring of this process's own, which goes with the process.
        Ok(_) => {
            let user = KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(failure)?;
            KeyRing::from_special_id(KeyRingIdentifier::Process, true)
                .and_then(|process| process.link_keyring(user))
                .map_err(failure)?;
            (
                user,
                persistent(),
                "user keyring (the session keyring is another user's, as under sudo)",
            )
        }
        Err(_) => (
            KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(failure)?,
            persistent(),
            "user keyring (this process has no session keyring)",
        ),
    };
    let credential = keyring::keyutils::KeyutilsCredential {
        session: ring,
        persistent,
        description: format!("keyring-rs:{name}@{KEYRING_SERVICE}"),
    };
    Ok((
        keyring::Entry::new_with_credential(Box::new(credential)),
        which,
    ))
}

fn keyring_message(err: &keyring::Error) -> String {
    match err {
        keyring::Error::NoEntry => {
            "no such entry in the keyring; store it with `jit secret set NAME`".to_owned()
        }
        other => other.to_string(),
    }
}

/// Store a secret in the OS keyring under `name`.
pub fn keyring_store(name: &str, value: &Secret<String>) -> anyhow::Result<()> {
    SecretRef::parse(&format!("keyring:{name}")).map_err(anyhow::Error::msg)?;
    keyring_entry(name)?.0.set_password(value.expose())?;
    Ok(())
}

/// Remove a secret from the OS keyring. Already gone is success.
pub fn keyring_delete(name: &str) -> anyhow::Result<()> {
    SecretRef::parse(&format!("keyring:{name}")).map_err(anyhow::Error::msg)?;
    match keyring_entry(name)?.0.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Which keyring store is in use, and whether it answers.
pub fn keyring_status() -> (String, Result<(), String>) {
    match keyring_entry("jit-doctor-probe") {
        Ok((entry, which)) => {
            let store = format!("Linux kernel keyutils, {which} (in memory: lost at reboot)");
            let probe = match entry.get_password() {
                Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(err) => Err(err.to_string()),
            };
            (store, probe)
        }
        Err(err) => ("Linux kernel keyutils".to_owned(), Err(err.to_string())),
    }
}

/// Keys whose values are secrets wherever they appear in configuration.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "passphrase",
    ]
    .iter()
    .any(|word| key == *word || key.ends_with(&format!("_{word}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn parses_references_and_refuses_literals() {
        assert_eq!(
            SecretRef::parse("keyring:prod-db"),
            Ok(SecretRef::Keyring("prod-db".into()))
        );
        assert_eq!(
            SecretRef::parse("env:PGPASS"),
            Ok(SecretRef::Env("PGPASS".into()))
        );
        assert_eq!(
            SecretRef::parse("file:/etc/jit/pw"),
            Ok(SecretRef::File("/etc/jit/pw".into()))
        );
        let err = SecretRef::parse("hunter2").unwrap_err();
        assert!(err.contains("keyring:NAME, env:VAR or file:PATH"), "{err}");
        assert!(SecretRef::parse("mysql:pass").is_err());
        assert!(SecretRef::parse("env:").is_err());
        assert!(SecretRef::parse("env:A;B").is_err());
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("password"));
        assert!(is_secret_key("admin_password"));
        assert!(is_secret_key("API_TOKEN"));
        assert!(!is_secret_key("url"));
        assert!(!is_secret_key("tokens_per_minute"));
    }
}

//! Settings of `backend = "ssh"` targets (mode `certificate`) and the `grant` table of their
//! roles.

use crate::config::document::{Fields, Node, Reader};
use crate::secret::SecretRef;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub const EXTENSIONS: &[&str] = &[
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
];
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// How an ssh target gives access.
#[derive(Clone, Debug)]
pub enum SshTarget {
    /// A certificate authority signs OpenSSH user certificates; a revocation list ends them
    /// early.
    Certificate {
        /// The CA's private key (OpenSSH format, unencrypted): a secret reference.
        ca_key: SecretRef,
        /// The key revocation list jit maintains (hosts: `RevokedKeys`).
        krl: PathBuf,
        /// How far before "now" a certificate becomes valid, for clocks that disagree.
        clock_skew: Duration,
    },
    /// A line with `expiry-time=` in a local account's `authorized_keys`.
    AuthorizedKeys {
        /// The file, with `%u` for the account and `%h` for its home
        /// (default `%h/.ssh/authorized_keys`).
        file: String,
    },
}

/// A role's `grant` table, stored with each lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshGrant {
    /// Certificate mode: the principals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Authorized-keys mode: the local account whose `authorized_keys` gets the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_address: Vec<String>,
    pub extensions: Vec<String>,
    /// Certificate mode: also add the certificate (with its key) to the requester's running
    /// ssh-agent, for the lease's time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub agent: bool,
}

pub fn parse_target(reader: &mut Reader<'_>, fields: &mut Fields<'_>, base: &Path) -> Option<SshTarget> {
    // Messages name the keys of both modes, `authorized_keys` first.
    fields.list(&["authorized_keys", "backend"]);
    let modes = [("certificate", false), ("authorized-keys", true)];
    let authorized_keys = fields.get_or(reader, "mode", false, |r, n, what| {
        r.choice(n, what, &modes, true)
    });
    let Some(authorized_keys) = authorized_keys else {
        // Without a mode nothing else is read: the other keys are refused.
        fields.list(&["ca_key", "krl", "clock_skew"]);
        return None;
    };
    if authorized_keys {
        for key in ["ca_key", "krl", "clock_skew"] {
            if let Some(node) = fields.take(key) {
                reader.error(
                    node.span(),
                    format!("`{key}` applies to mode \"certificate\" only"),
                );
            }
        }
        let file = fields
            .string(reader, "authorized_keys")
            .unwrap_or_else(|| "%h/.ssh/authorized_keys".to_owned());
        return Some(SshTarget::AuthorizedKeys { file });
    }
    if let Some(node) = fields.take("authorized_keys") {
        reader.error(
            node.span(),
            "`authorized_keys` applies to mode \"authorized-keys\" only",
        );
    }
    let ca_key = fields.need_as(reader, "ca_key", " (such as \"file:/etc/jit/ssh_ca\")", |r, n, what| {
        r.secret(n, what, base)
    });
    let krl = fields.need_as(reader, "krl", " (the revocation list hosts read)", |r, n, what| {
        r.path(n, what, base)
    });
    let clock_skew = fields
        .duration(reader, "clock_skew")
        .unwrap_or(DEFAULT_CLOCK_SKEW);
    Some(SshTarget::Certificate {
        ca_key: ca_key?,
        krl: krl?,
        clock_skew,
    })
}

/// Principals, addresses and commands reach the certificate verbatim: anything that could
/// change its meaning (separators, control characters) is refused.
fn check_text(text: &str, forbidden: &str) -> Result<(), String> {
    if text.is_empty() || text.len() > 1024 {
        return Err("must be 1 to 1024 characters".to_owned());
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || forbidden.contains(*c))
    {
        return Err(format!("{text:?} holds {c:?}, which is not allowed"));
    }
    Ok(())
}

fn check_address(text: &str) -> Result<(), String> {
    let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| format!("source_address {text:?} is not an address or CIDR block"))?;
    if !prefix.is_empty() {
        let bits: u8 = prefix
            .parse()
            .map_err(|_| format!("source_address {text:?}: bad prefix length"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(format!("source_address {text:?}: prefix longer than {max}"));
        }
    }
    Ok(())
}

pub fn parse_grant(
    reader: &mut Reader<'_>,
    node: &Spanned<Node>,
    target: &SshTarget,
) -> Option<serde_json::Value> {
    let certificate = matches!(target, SshTarget::Certificate { .. });
    let mut fields = reader.table(node, "grant")?.prefixed("grant.");
    let before = reader.errors.len();
    let account = fields.get(reader, "account", |reader, n, what| {
        reader.checked(n, what, |name| {
            if certificate {
                return Err(
                    "applies to mode \"authorized-keys\"; certificates name `principals`".to_owned(),
                );
            }
            let valid = !name.is_empty()
                && name.len() <= 32
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid {
                return Err(format!("{name:?} is not a local account name"));
            }
            Ok(())
        })
    });
    // Listed here, read below.
    fields.list(&["agent"]);
    if !certificate {
        if let Some(n) = fields.take("principals") {
            reader.error(
                n.span(),
                "grant.principals applies to mode \"certificate\"; authorized-keys names `account`",
            );
        }
        if account.is_none() && reader.errors.len() == before {
            reader.error(
                node.span(),
                "grant needs `account` (the local account whose authorized_keys gets the key)",
            );
        }
    }
    let principals = match fields.take("principals") {
        Some(n) => reader.strings_each(n, "grant.principals", |p| {
            check_text(p, ", \t").map_err(|complaint| format!("principal {complaint}"))
        }),
        None if certificate => {
            reader.error(
                node.span(),
                "grant needs `principals` (the accounts the certificate may log in as)",
            );
            None
        }
        None => Some(Vec::new()),
    };
    // In an authorized_keys line a backslash would escape what follows.
    let forbidden = if certificate { "" } else { "\\" };
    let force_command = fields.get(reader, "force_command", |reader, n, what| {
        reader.checked(n, what, |text| check_text(text, forbidden))
    });
    let source_address = fields
        .strings(reader, "source_address")
        .map(|list| {
            list.into_iter()
                .filter_map(|a| match check_address(a.get_ref()) {
                    Ok(()) => Some(a.into_inner()),
                    Err(err) => {
                        reader.error(a.span(), format!("grant.{err}"));
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let agent = fields.get(reader, "agent", |reader, n, what| {
        let on = reader.boolean(n, what)?;
        if on && !certificate {
            reader.error(n.span(), "grant.agent applies to mode \"certificate\" only");
        }
        Some(on)
    });
    let extensions = match fields.take("extensions") {
        Some(n) => reader
            .strings_each(n, "grant.extensions", |e| {
                if EXTENSIONS.contains(&e) {
                    return Ok(());
                }
                Err(format!("{e:?} is not one of {}", EXTENSIONS.join(", ")))
            })
            .unwrap_or_default(),
        None => vec!["permit-pty".to_owned()],
    };
    fields.finish(reader);
    let principals = principals?;
    if certificate && principals.is_empty() {
        reader.error(
            node.span(),
            "grant.principals must name at least one principal",
        );
    }
    if reader.errors.len() != before {
        return None;
    }
    serde_json::to_value(SshGrant {
        principals,
        account,
        force_command,
        source_address,
        extensions,
        agent: agent.unwrap_or(false),
    })
    .ok()
}

/// `backend = "ssh"` in the registry ([`crate::backend::KINDS`]).
pub const KIND: crate::backend::Kind = crate::backend::Kind {
    name: "ssh",
    read_target: |reader, fields, base| {
        Some(std::sync::Arc::new(parse_target(reader, fields, base)?))
    },
};

impl crate::backend::Settings for SshTarget {
    fn secret_refs(&self) -> Vec<(String, &crate::secret::SecretRef)> {
        match self {
            SshTarget::Certificate { ca_key, .. } => vec![("ca_key".to_owned(), ca_key)],
            SshTarget::AuthorizedKeys { .. } => Vec::new(),
        }
    }

    fn read_grant(
        &self,
        reader: &mut Reader<'_>,
        node: &Spanned<Node>,
    ) -> Option<serde_json::Value> {
        parse_grant(reader, node, self)
    }

    fn takes_public_key(&self) -> bool {
        true
    }

    fn backend(&self) -> Box<dyn crate::backend::Backend> {
        Box::new(super::SshBackend::new(self.clone()))
    }
}

//! What `jit discover` asks of a backend: who holds, on the target and outside any live
//! lease, what the target's roles hand out; which admin-level rights make just-in-time
//! access moot there; and which of jit's own entitlements outlived their lease. And the
//! mark jit leaves on what it grants, by which a leftover is known as its own.

use crate::lease::Lease;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a backend is asked to look at.
pub struct Scope<'a> {
    pub target: &'a str,
    /// The roles granted on this target: their names and grant parameters as configured.
    pub roles: Vec<(&'a str, &'a serde_json::Value)>,
    /// The live leases on this target: what they hold is not a finding.
    pub live: &'a [Lease],
    /// This store's name ([`crate::store::Store::identity`]): a mark naming another store
    /// belongs to another deployment sharing the target, and is left alone.
    pub store: &'a str,
    pub now: DateTime<Utc>,
}

impl Scope<'_> {
    /// Whether a live lease carries `lease_id`.
    pub fn is_live(&self, lease_id: &str) -> bool {
        self.live.iter().any(|lease| lease.id == lease_id)
    }

    /// Whether a mark found on the target makes an entitlement a leftover of this store's:
    /// made by this store, for a lease that is not live. `None`: not this store's.
    pub fn leftover(&self, mark: &Mark) -> Option<bool> {
        (mark.store == self.store).then(|| !self.is_live(&mark.lease))
    }
}

/// What a backend found on one target.
#[derive(Debug, Default)]
pub struct Discovery {
    pub findings: Vec<Finding>,
    /// Something the reader should know about the target (it cannot be asked, say).
    pub notes: Vec<String>,
}

impl Discovery {
    /// The answer of a backend that cannot look for standing privilege.
    pub fn unsupported(kind: &str) -> Discovery {
        Discovery {
            findings: Vec::new(),
            notes: vec![format!(
                "the {kind} backend does not look for standing access"
            )],
        }
    }
}

/// What kind of standing privilege a finding is. The names are stable (`--json`, `--kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Someone holds what one of jit's roles hands out, outside any live lease.
    Standing,
    /// An admin-level right that makes just-in-time access moot (a superuser, say).
    Admin,
    /// A standing holding or admin right without an end on the target (no `VALID UNTIL`,
    /// no `expiry-time`).
    NoExpiry,
    /// An entitlement this store made for a lease that is not live any more (after a
    /// restore, say): jit's own, removed on command.
    Leftover,
    /// An entitlement named as jit names its own but carrying no store's mark (made by a
    /// jit before marks, or by hand): reported, never removed by jit.
    Unmarked,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Standing => "standing",
            FindingKind::Admin => "admin",
            FindingKind::NoExpiry => "no-expiry",
            FindingKind::Leftover => "leftover",
            FindingKind::Unmarked => "unmarked",
        }
    }
}

/// One finding, as a backend reports it. The target and the id are added by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    /// Who holds it, as the target names them (a login, an account, a user or group, an
    /// ARN).
    pub holder: String,
    /// The person jit would know the holder as (`user:NAME` or `group:NAME`), where the
    /// target names one: the subject of the eligibility rule that `--adopt` prints.
    pub subject: Option<String>,
    /// The jit role whose entitlement it is, where one is.
    pub role: Option<String>,
    /// What is held, as the target names it (`member of "app_admin"`, `SUPERUSER`).
    pub entitlement: String,
    /// Since when, where the target knows.
    pub since: Option<DateTime<Utc>>,
    /// What to do about it, in a few words.
    pub action: String,
    /// What the backend needs to remove it (`jit discover --adopt`); null when jit does not
    /// remove this kind of finding. Never a secret.
    pub removal: serde_json::Value,
}

impl Finding {
    /// A leftover of this store's, for `lease`, which is not live: `removal` takes it away.
    pub fn leftover(
        holder: String,
        entitlement: String,
        lease: &str,
        removal: serde_json::Value,
    ) -> Finding {
        Finding {
            kind: FindingKind::Leftover,
            holder,
            subject: None,
            role: None,
            entitlement,
            since: None,
            action: format!("remove: lease {lease} is not live in this store"),
            removal,
        }
    }

    /// Named as jit names its own, with no store's mark: reported, never removed.
    pub fn unmarked(holder: String, entitlement: String) -> Finding {
        Finding {
            kind: FindingKind::Unmarked,
            holder,
            subject: None,
            role: None,
            entitlement,
            since: None,
            action: "check by hand: no store's mark".to_owned(),
            removal: serde_json::Value::Null,
        }
    }

    pub fn removable(&self) -> bool {
        !self.removal.is_null()
    }
}

/// The mark jit leaves on what it grants: the store that granted it and the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub store: String,
    pub lease: String,
}

impl Mark {
    /// The mark of a lease granted from the store named `store`.
    pub fn of(store: &str, lease: &Lease) -> Mark {
        Mark {
            store: store.to_owned(),
            lease: lease.id.clone(),
        }
    }

    /// As text, for a comment or a tag: `jit:STORE:LEASE`.
    pub fn text(&self) -> String {
        format!("jit:{}:{}", self.store, self.lease)
    }

    /// The mark within a text (a comment that says more around it), if there is one.
    pub fn find(text: &str) -> Option<Mark> {
        text.match_indices("jit:").find_map(|(at, _)| {
            let rest = &text[at + 4..];
            let store: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            let rest = rest[store.len()..].strip_prefix(':')?;
            let lease: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            (!store.is_empty() && crate::lease::is_valid_id(&lease))
                .then_some(Mark { store, lease })
        })
    }

    /// As one word of letters and digits, where nothing else is allowed (an IAM statement's
    /// `Sid`): `jitSTOREzLEASE`.
    pub fn word(&self) -> String {
        format!("jit{}z{}", self.store, self.lease)
    }

    /// The mark a [`Mark::word`] is.
    pub fn from_word(word: &str) -> Option<Mark> {
        let rest = word.strip_prefix("jit")?;
        // A store's name is hex, so the first `z` ends it (a lease id may hold one).
        let (store, lease) = rest.split_once('z')?;
        let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        (alnum(store) && crate::lease::is_valid_id(lease)).then(|| Mark {
            store: store.to_owned(),
            lease: lease.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> Mark {
        Mark {
            store: "0f3a9c1200d4e5b6".into(),
            lease: "abczefgh23".into(),
        }
    }

    #[test]
    fn a_mark_is_found_in_the_text_around_it() {
        let text = format!("jit lease for alice ({})", mark().text());
        assert_eq!(Mark::find(&text), Some(mark()));
        assert_eq!(Mark::find("jit:0f3a:not-a-lease"), None);
        assert_eq!(Mark::find("made by hand"), None);
    }

    #[test]
    fn a_mark_as_a_word_reads_back() {
        let word = mark().word();
        assert!(word.chars().all(|c| c.is_ascii_alphanumeric()), "{word}");
        assert_eq!(Mark::from_word(&word), Some(mark()));
        assert_eq!(Mark::from_word("jitAllowAll"), None);
        assert_eq!(Mark::from_word("AllowS3"), None);
    }
}

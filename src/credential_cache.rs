//! Credentials kept for the life of a lease, for clients that fetch them again (AWS
//! `credential_process`). They live only in the kernel's user keyring (`@u`: in memory,
//! this user's processes only, never on disk), under `jit:credentials:<lease id>`, with a
//! kernel timeout at the lease end (moved by `jit extend`), so they vanish then even if jit
//! never runs again. A revoke deletes them at once.

use crate::backend::Credentials;
use crate::secret::Secret;
use anyhow::{Context, Result};

use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};
use std::collections::BTreeMap;

fn description(lease_id: &str) -> String {
    format!("jit:credentials:{lease_id}")
}

fn ring() -> Result<KeyRing, KeyError> {
    KeyRing::from_special_id(KeyRingIdentifier::User, true)
}

/// Keep `credentials` of `lease_id` for `seconds` (the rest of the lease).
pub fn store(lease_id: &str, credentials: &Credentials, seconds: i64) -> Result<()> {
    if seconds <= 0 {
        return Ok(());
    }
    let payload = Secret::new(serde_json::to_vec(credentials.expose())?);
    let ring = ring().context("the user keyring")?;
    let key = ring
        .add_key(&description(lease_id), payload.expose())
        .context("caching the credentials in the user keyring")?;
    key.set_timeout(usize::try_from(seconds).unwrap_or(usize::MAX))
        .context("setting the cached credentials' timeout")?;
    Ok(())
}

/// The credentials cached for `lease_id`, if any (gone once they expired or were revoked).
pub fn load(lease_id: &str) -> Result<Option<Credentials>> {
    let ring = ring().context("the user keyring")?;
    // Absent, timed out or revoked (between the search and the read, too): nothing kept.
    let gone = |err: &KeyError| {
        matches!(
            err,
            KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked
        )
    };
    let key = match ring.search(&description(lease_id)) {
        Ok(key) => key,
        Err(err) if gone(&err) => return Ok(None),
        Err(err) => return Err(err).context("reading the user keyring"),
    };
    let bytes = match key.read_to_vec() {
        Ok(bytes) => Secret::new(bytes),
        Err(err) if gone(&err) => return Ok(None),
        Err(err) => return Err(err).context("reading the cached credentials"),
    };
    let map: BTreeMap<String, String> =
        serde_json::from_slice(bytes.expose()).context("the cached credentials are damaged")?;
    Ok(Some(Secret::new(map)))
}

/// Keep what is cached for `lease_id` for `seconds` from now (an extended lease).
pub fn retime(lease_id: &str, seconds: i64) {
    if let Ok(ring) = ring()
        && let Ok(key) = ring.search(&description(lease_id))
    {
        let _ = key.set_timeout(usize::try_from(seconds.max(1)).unwrap_or(usize::MAX));
    }
}

/// Delete what is cached for `lease_id`. Nothing cached is fine; so is a keyring this
/// process cannot reach (the kernel timeout still ends the entry).
pub fn forget(lease_id: &str) {
    if let Ok(ring) = ring()
        && let Ok(key) = ring.search(&description(lease_id))
    {
        let _ = key.invalidate();
    }
}

//! Credentials from a worker to the one process that asked for them. The requesting
//! `jit request` makes a one-time key pair and sends the public half with its request; the
//! worker seals the credentials to it (libsodium's sealed box: X25519 and
//! XSalsa20-Poly1305, through `crypto_box`); the ciphertext waits in the store until that
//! process opens it and deletes it, or the lease ends. The secret half never leaves the
//! process's memory, so neither the database, its backups nor anyone reading them learns
//! the credentials.

use crate::backend::Credentials;
use crate::secret::Secret;
use anyhow::{Context as _, Result};
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey};
use std::collections::BTreeMap;

/// The requesting process's one-time key. Its secret half is wiped when dropped.
pub struct OneTimeKey(SecretKey);

impl OneTimeKey {
    pub fn generate() -> OneTimeKey {
        OneTimeKey(SecretKey::generate(&mut OsRng))
    }

    /// The public half, sent with the request.
    pub fn public(&self) -> Vec<u8> {
        self.0.public_key().as_bytes().to_vec()
    }

    /// Open credentials sealed to this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Credentials> {
        let plain = Secret::new(self.0.unseal(sealed).map_err(|_| {
            anyhow::anyhow!("the sealed credentials do not open with this request's key")
        })?);
        let map: BTreeMap<String, String> = serde_json::from_slice(plain.expose())
            .context("the sealed credentials are not a JSON object")?;
        Ok(Credentials::new(map))
    }
}

/// Seal `credentials` to the public key a request sent.
pub fn seal(public: &[u8], credentials: &Credentials) -> Result<Vec<u8>> {
    let key = PublicKey::from_slice(public)
        .map_err(|_| anyhow::anyhow!("the request's public key is not 32 bytes"))?;
    let plain = Secret::new(serde_json::to_vec(credentials.expose())?);
    key.seal(&mut OsRng, plain.expose())
        .map_err(|_| anyhow::anyhow!("sealing the credentials failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::new(BTreeMap::from([(
            "PGPASSWORD".to_owned(),
            "s3cret-value".to_owned(),
        )]))
    }

    #[test]
    fn only_the_requesting_key_opens_the_credentials() {
        let key = OneTimeKey::generate();
        let sealed = seal(&key.public(), &credentials()).unwrap();
        assert!(!sealed.windows(12).any(|w| w == b"s3cret-value"));
        assert_eq!(key.open(&sealed).unwrap().expose(), credentials().expose());
        let other = OneTimeKey::generate();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered).is_err());
    }

    #[test]
    fn a_malformed_public_key_is_refused() {
        assert!(seal(&[1, 2, 3], &credentials()).is_err());
    }
}

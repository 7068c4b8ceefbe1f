//! Secrets Berth must keep and use again (the credentials of the
//! registries it replicates with), sealed at rest with AES-256-GCM under a
//! key of its own: a database dump alone gives nothing away. The key is
//! `secret-key` in the data directory (or `--secret-key-file`), made (0600)
//! at the first start; replicas on one database must all have it, and the
//! token signing key it seals in the database tells them when one does not.

use crate::error::{CoreError, CoreResult};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use std::sync::Arc;

/// What a sealed value starts with (the format's version).
const SEALED: &str = "sealed:v1:";
/// The key's file in the data directory unless configured elsewhere.
pub const KEY_FILE: &str = "secret-key";

/// Seals and opens secrets.
#[derive(Clone)]
pub struct Secrets {
    key: Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl Secrets {
    /// The key in the file at `path`, made on first use.
    pub fn load_or_create(path: &Path) -> CoreResult<Secrets> {
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                rng.fill(&mut k)
                    .map_err(|_| CoreError::Internal("generating the secret key".into()))?;
                super::token::write_private(path, &k)?;
                k.to_vec()
            }
            Err(e) => {
                return Err(CoreError::Internal(format!(
                    "reading {}: {e}",
                    path.display()
                )))
            }
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| CoreError::Internal(format!("{} is not a 32-byte key", path.display())))?;
        Ok(Secrets {
            key: Arc::new(LessSafeKey::new(key)),
            rng,
        })
    }

    /// `plain` sealed under a fresh nonce; nothing stays nothing.
    pub fn seal(&self, plain: &str) -> CoreResult<String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| CoreError::Internal("generating a nonce".into()))?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .map_err(|_| CoreError::Internal("sealing a secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Ok(format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Whether a stored value is sealed (not written in the clear by an
    /// earlier version).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED)
    }

    /// What `sealed` holds; an error when another key sealed it or it was
    /// changed.
    pub fn open(&self, sealed: &str) -> CoreResult<String> {
        if sealed.is_empty() {
            return Ok(String::new());
        }
        let broken =
            || CoreError::Internal("a stored secret cannot be opened with this key".into());
        let bytes = (sealed.strip_prefix(SEALED))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(b)
                    .ok()
            })
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(broken)?;
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| broken())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .map_err(|_| broken())?;
        String::from_utf8(plain.to_vec()).map_err(|_| broken())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s =
            Secrets::load_or_create(&dir.path().join(KEY_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let sealed = s.seal("hunter2").unwrap_or_default();
        assert!(sealed.starts_with(SEALED) && !sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            s.seal("hunter2").unwrap_or_default(),
            "a nonce each time"
        );
        assert_eq!(s.open(&sealed).ok().as_deref(), Some("hunter2"));
        // The same key again from the file.
        let again =
            Secrets::load_or_create(&dir.path().join(KEY_FILE)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.open(&sealed).ok().as_deref(), Some("hunter2"));
        let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let stranger =
            Secrets::load_or_create(&other.path().join(KEY_FILE)).unwrap_or_else(|e| panic!("{e}"));
        assert!(stranger.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        assert!(s.open(&tampered).is_err());
        assert_eq!(s.seal("").unwrap_or_default(), "");
    }
}

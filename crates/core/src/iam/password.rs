//! Password hashing (argon2id) and Harbor's password rule.

use crate::error::{CoreError, CoreResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Harbor's rule: 8–128 characters with at least one upper-case letter, one
/// lower-case letter and one digit.
pub fn check_rule(password: &str) -> CoreResult<()> {
    let n = password.chars().count();
    let ok = (8..=128).contains(&n)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(CoreError::BadRequest(
            "password must be 8 to 128 characters long with at least one uppercase letter, \
             one lowercase letter and one digit"
                .into(),
        ))
    }
}

/// Hashes a password with argon2id (off the async runtime: it is deliberately slow).
pub async fn hash(password: &str) -> CoreResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
}

/// Verifies a password against a stored hash (constant-time comparison inside argon2).
pub async fn verify(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A random password that satisfies the rule (for the first admin).
pub fn generate() -> String {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    // SystemRandom only fails if the OS has no randomness, which a registry cannot run without.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let body: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    // Guarantee each required class regardless of the draw.
    format!("Aa1{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        assert!(check_rule("Harbor12345").is_ok());
        assert!(check_rule("harbor12345").is_err());
        assert!(check_rule("HARBOR12345").is_err());
        assert!(check_rule("HarborHarbor").is_err());
        assert!(check_rule("Ha1").is_err());
        assert!(check_rule(&format!("Ha1{}", "x".repeat(126))).is_err());
        assert!(check_rule(&generate()).is_ok());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("Harbor12345").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Harbor12345", &h).await);
        assert!(!verify("Harbor12346", &h).await);
        assert!(!verify("Harbor12345", "not a hash").await);
    }
}

//! Password hashing (argon2id) and Harbor's password rule.
//!
//! argon2 is memory-hard by design: each hash fills `M_COST_KIB` of memory.
//! Hashes run on blocking threads, at most one per core, so a burst of
//! logins costs bounded CPU and memory; each work area is freed when its
//! hash is done (large blocks go back to the system: see `berth`'s
//! allocator settings), so an idle server does not hold them.

use crate::error::{CoreError, CoreResult};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// OWASP's argon2id setting for a small memory budget: 7 MiB, 5 passes.
const M_COST_KIB: u32 = 7 * 1024;
const T_COST: u32 = 5;
const OUTPUT_LEN: usize = 32;

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

/// Hashes running at once: one per core.
fn permits() -> &'static Semaphore {
    static P: OnceLock<Semaphore> = OnceLock::new();
    P.get_or_init(|| {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Semaphore::new(n)
    })
}

/// Runs one argon2 computation on a blocking thread.
async fn compute(password: Vec<u8>, salt: Vec<u8>, params: Params) -> CoreResult<Vec<u8>> {
    let _permit = (permits().acquire().await).map_err(|e| CoreError::Internal(e.to_string()))?;
    let out = tokio::task::spawn_blocking(move || {
        let mut out = vec![0u8; params.output_len().unwrap_or(OUTPUT_LEN)];
        let r = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(&password, &salt, &mut out);
        r.map(|()| out)
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?;
    out.map_err(|e| CoreError::Internal(format!("argon2: {e}")))
}

fn params_default() -> Params {
    Params::new(M_COST_KIB, T_COST, 1, Some(OUTPUT_LEN)).unwrap_or_default()
}

/// Hashes a password with argon2id into a PHC string.
pub async fn hash(password: &str) -> CoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut raw_salt = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut raw_salt)
        .map_err(|e| CoreError::Internal(e.to_string()))?
        .to_vec();
    let params = params_default();
    let out = compute(password.as_bytes().to_vec(), salt_bytes, params.clone()).await?;
    let output =
        argon2::password_hash::Output::new(&out).map_err(|e| CoreError::Internal(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| CoreError::Internal(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies a password against a stored PHC hash (constant-time comparison).
pub async fn verify(password: &str, stored: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected), Ok(params)) = (phc.salt, phc.hash, Params::try_from(&phc))
    else {
        return false;
    };
    if phc.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    let mut raw_salt = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut raw_salt) else {
        return false;
    };
    match compute(password.as_bytes().to_vec(), salt.to_vec(), params).await {
        // Output's equality is constant-time.
        Ok(out) => argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected),
        Err(_) => false,
    }
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
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(verify("Harbor12345", &h).await);
        assert!(!verify("Harbor12346", &h).await);
        assert!(!verify("Harbor12345", "not a hash").await);
        // Hashes made with the crate's own defaults (other costs) still verify.
        use argon2::PasswordHasher;
        let other = Argon2::default()
            .hash_password(b"Harbor12345", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify("Harbor12345", &other).await);
        assert!(!verify("harbor12345", &other).await);
    }
}

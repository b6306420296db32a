//! Authentication: argon2 password hashes, opaque bearer tokens stored as SHA-256, logins and
//! browser sessions ([`session`]), named API tokens ([`tokens`]) and directory logins
//! ([`ldap`]). What an authenticated caller may do is the kernel's [`crate::app::Actor`].
//! Secrets never reach a log line: tokens and passwords are only ever hashed or compared here.

pub mod cookies;
pub mod ldap;
pub mod session;
pub mod tokens;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use vdc_types::Error;

/// Hashes a password (argon2id, PHC string).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| Error::internal(format!("no randomness for a salt: {e}")))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// True when `password` matches the PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so a login for an unknown name
/// takes as long as one with a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").expect("argon2 with defaults hashes"))
}

/// 32 random bytes, base64url: a new bearer token or generated password.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("s3cret-pass").unwrap();
        assert!(verify_password("s3cret-pass", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
        let t = random_secret();
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_secret());
        assert_eq!(token_hash(&t).len(), 64);
    }
}

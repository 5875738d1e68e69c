//! Secrets handed to users (session cookies, API tokens, generated passwords) and password hashes.
//!
//! Session and token secrets are 256 random bits; only their SHA-256 digest is stored, which is
//! enough for secrets that cannot be guessed (a slow hash protects low-entropy passwords only).

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// Name of the browser session cookie; also the prefix of its value.
pub const SESSION_COOKIE: &str = "labforge_session";
/// Prefix of API tokens, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "lfp_";

pub(super) fn generate_secret(prefix: &str) -> String {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let separator = if prefix.ends_with('_') { "" } else { "_" };
    format!("{prefix}{separator}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A one-time password: 20 characters from an alphabet without look-alikes (~113 bits).
pub(super) fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0_u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect()
}

pub(super) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(super) async fn hash_password(password: String) -> String {
    crate::passwords::hash_off_thread(password).await
}

/// Verifies `password` against `stored`; with no stored hash a dummy one is checked so that the
/// answer takes as long as for a real account.
pub(super) async fn verify_password(password: String, stored: Option<String>) -> bool {
    static DUMMY_HASH: LazyLock<String> =
        LazyLock::new(|| crate::passwords::hash("labforge timing equaliser"));
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
    crate::passwords::verify_off_thread(password, stored).await && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_long_and_different() {
        let first = generate_secret(TOKEN_PREFIX);
        let second = generate_secret(TOKEN_PREFIX);
        assert!(first.starts_with("lfp_"));
        assert!(first.len() > 40);
        assert_ne!(first, second);
        assert_ne!(digest(&first), digest(&second));
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse".to_owned()).await;
        assert!(verify_password("correct horse".to_owned(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse".to_owned(), Some(hash)).await);
        assert!(!verify_password("correct horse".to_owned(), None).await);
    }
}

//! Password hashes: argon2id in PHC form, shared by labforge's accounts and the registry's grants
//! file. Hashing and checking take tens of milliseconds on purpose, so async callers use the
//! `_off_thread` forms, which run on the blocking pool instead of an async worker thread.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// An argon2id hash of `password` in PHC form.
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .expect("argon2 with default parameters hashes any password")
}

/// Whether `password` matches the PHC hash `stored`; a malformed hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

pub async fn hash_off_thread(password: String) -> String {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .expect("password hashing does not panic")
}

pub async fn verify_off_thread(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&password, &stored))
        .await
        .expect("password verification does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let stored = hash_off_thread("correct horse".to_owned()).await;
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_off_thread("correct horse".to_owned(), stored.clone()).await);
        assert!(!verify("wrong horse", &stored));
        assert!(!verify("correct horse", "not a hash"));
    }
}

//! Users, browser sessions and API tokens. Secrets are stored only as SHA-256 hashes.

use chrono::{DateTime, Utc};

use super::{Database, StorageError, with_pool};

/// A `users` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub affiliation_country: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// The columns of [`UserRow`], as a literal so that queries stay `&'static str`.
macro_rules! user_columns {
    () => {
        "id, name, email, role, affiliation_country, password_hash, disabled, created_at"
    };
    ($table:literal) => {
        concat!(
            $table,
            ".id, ",
            $table,
            ".name, ",
            $table,
            ".email, ",
            $table,
            ".role, ",
            $table,
            ".affiliation_country, ",
            $table,
            ".password_hash, ",
            $table,
            ".disabled, ",
            $table,
            ".created_at"
        )
    };
}

/// An `api_tokens` row without its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The changes an administrator may make to an account; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub role: Option<String>,
    pub affiliation_country: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

impl Database {
    pub async fn count_users(&self) -> Result<i64, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?
        }))
    }

    pub async fn insert_user(&self, user: &UserRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO users (id, name, email, role, affiliation_country, password_hash, \
                 disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.email)
            .bind(&user.role)
            .bind(&user.affiliation_country)
            .bind(&user.password_hash)
            .bind(user.disabled)
            .bind(user.created_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!("user {:?}", user.name)))?;
        });
        Ok(())
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, StorageError> {
        let query = concat!("SELECT ", user_columns!(), " FROM users WHERE name = $1");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, StorageError> {
        let query = concat!("SELECT ", user_columns!(), " FROM users ORDER BY name");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).fetch_all(pool).await?
        }))
    }

    /// Applies `changes` to the user `id`; returns the updated row, or `None` if there is none.
    pub async fn update_user(
        &self,
        id: &str,
        changes: &UserChanges,
    ) -> Result<Option<UserRow>, StorageError> {
        let query = concat!(
            "UPDATE users SET \
             email = CASE WHEN $2 THEN $3 ELSE email END, \
             role = COALESCE($4, role), \
             affiliation_country = CASE WHEN $5 THEN $6 ELSE affiliation_country END, \
             disabled = COALESCE($7, disabled), \
             password_hash = COALESCE($8, password_hash) \
             WHERE id = $1 RETURNING ",
            user_columns!()
        );
        Ok(with_pool!(self, write, |pool| {
            sqlx::query_as(query)
                .bind(id)
                .bind(changes.email.is_some())
                .bind(changes.email.clone().flatten())
                .bind(&changes.role)
                .bind(changes.affiliation_country.is_some())
                .bind(changes.affiliation_country.clone().flatten())
                .bind(changes.disabled)
                .bind(&changes.password_hash)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(created_at)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The enabled user holding the unexpired session `token_hash`.
    pub async fn user_for_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u JOIN sessions s ON s.user_id = u.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT u.disabled"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes the sessions of `user_id` (after a password change or when it is disabled).
    pub async fn delete_sessions_of(&self, user_id: &str) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes the sessions that expired at or before `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    pub async fn insert_api_token(
        &self,
        user_id: &str,
        token: &ApiTokenRow,
        token_hash: &str,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&token.id)
            .bind(user_id)
            .bind(&token.name)
            .bind(token_hash)
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "API token {:?}",
                token.name
            )))?;
        });
        Ok(())
    }

    /// The enabled user holding the unexpired API token `token_hash`; records the use.
    pub async fn user_for_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            user_columns!("u"),
            " FROM users u JOIN api_tokens t ON t.user_id = u.id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) \
             AND NOT u.disabled"
        );
        let user: Option<UserRow> = with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        if user.is_some() {
            with_pool!(self, write, |pool| {
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(now)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(user)
    }

    pub async fn api_tokens_of(&self, user_id: &str) -> Result<Vec<ApiTokenRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT id, name, created_at, last_used_at, expires_at FROM api_tokens \
                 WHERE user_id = $1 ORDER BY created_at",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deletes the token `id` of `user_id`; false when there was none.
    pub async fn delete_api_token(&self, user_id: &str, id: &str) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND id = $2")
                .bind(user_id)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        }))
    }
}

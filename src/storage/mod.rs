//! The service's database: SQLite by default (a WAL file under the data folder), PostgreSQL when
//! the database URL says so. All SQL of labforge lives in this module; services call it, never the
//! reverse.
//!
//! Both backends run the same statements: they are written in the dialect the two share (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`, partial indexes) and decode into the same row types,
//! so the [`with_pool!`] macro only picks the pool. Each backend has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`) because the column types differ: text and RFC 3339
//! times in SQLite, `JSONB` and `TIMESTAMPTZ` in PostgreSQL.
//!
//! SQLite allows one writer at a time; a pool of one connection serialises writes in labforge
//! instead of in SQLite's busy loop, and a separate pool serves reads concurrently from WAL.

pub mod accounts;
pub mod builds;
pub mod catalog;
pub mod datalabs;
pub mod launcher;
pub mod sessions;
pub mod submissions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Where the service keeps its state.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:///path/labforge.db` or `postgres://user@host/database`; when absent, SQLite at
    /// `<data_dir>/labforge.db`.
    pub url: Option<String>,
    /// Connections of the PostgreSQL pool, or readers of the SQLite pool.
    pub max_connections: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database URL {url:?} is not supported: use sqlite://<path> or postgres://...")]
    UnsupportedUrl { url: String },
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule of the schema refused the write: `what` already exists.
    #[error("{what} already exists")]
    Conflict { what: String },
    /// Stored data that does not decode: a bug or a hand-edited database.
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StorageError {
    /// Maps a unique-constraint violation to [`StorageError::Conflict`] naming `what`.
    pub(crate) fn conflict_as(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        move |error| match &error {
            sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
                Self::Conflict { what: what.into() }
            }
            _ => Self::Database(error),
        }
    }
}

/// Which backend the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct SqlitePools {
    /// One connection: SQLite has one writer.
    pub write: SqlitePool,
    pub read: SqlitePool,
}

/// A connection pool on one of the two backends. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool for `write` or `read` work on either backend. The
/// body is compiled once per backend, so it must only use SQL and types both share.
#[macro_export]
macro_rules! with_pool {
    ($database:expr, write, |$pool:ident| $body:expr) => {
        match $database {
            $crate::storage::Database::Sqlite(pools) => {
                let $pool = &pools.write;
                $body
            }
            $crate::storage::Database::Postgres(postgres) => {
                let $pool = postgres;
                $body
            }
        }
    };
    ($database:expr, read, |$pool:ident| $body:expr) => {
        match $database {
            $crate::storage::Database::Sqlite(pools) => {
                let $pool = &pools.read;
                $body
            }
            $crate::storage::Database::Postgres(postgres) => {
                let $pool = postgres;
                $body
            }
        }
    };
}
pub use with_pool;

/// Stores each listed state enum as its text (`as_str` / `FromStr`), on either backend: the
/// columns stay TEXT with a CHECK where the schema has one, and a row that holds an unknown value
/// fails to decode instead of reaching a service.
macro_rules! stored_as_text {
    ($($state:ty),* $(,)?) => {
        $(
            impl<DB: sqlx::Database> sqlx::Type<DB> for $state
            where
                str: sqlx::Type<DB>,
            {
                fn type_info() -> DB::TypeInfo {
                    <str as sqlx::Type<DB>>::type_info()
                }

                fn compatible(type_info: &DB::TypeInfo) -> bool {
                    <str as sqlx::Type<DB>>::compatible(type_info)
                }
            }

            impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $state
            where
                &'q str: sqlx::Encode<'q, DB>,
            {
                fn encode_by_ref(
                    &self,
                    buffer: &mut <DB as sqlx::Database>::ArgumentBuffer,
                ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                    <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buffer)
                }
            }

            impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $state
            where
                &'r str: sqlx::Decode<'r, DB>,
            {
                fn decode(
                    value: <DB as sqlx::Database>::ValueRef<'r>,
                ) -> Result<Self, sqlx::error::BoxDynError> {
                    Ok(<&'r str as sqlx::Decode<'r, DB>>::decode(value)?.parse()?)
                }
            }
        )*
    };
}

stored_as_text!(
    crate::datalabs::states::Visibility,
    crate::datalabs::states::DatalabState,
    crate::datalabs::states::VersionState,
    crate::datalabs::states::BuildStatus,
    crate::publishing::states::SubmissionState,
    crate::sessions::SessionStatus,
);

impl Database {
    /// Opens the database named by `config` (SQLite under `data_dir` by default) and brings its
    /// schema up to date.
    pub async fn open(config: &DatabaseConfig, data_dir: &Path) -> Result<Self, StorageError> {
        let url = if let Some(url) = &config.url {
            url.clone()
        } else {
            std::fs::create_dir_all(data_dir).map_err(|source| StorageError::Connect {
                url: data_dir.display().to_string(),
                source: sqlx::Error::Io(source),
            })?;
            format!("sqlite://{}", data_dir.join("labforge.db").display())
        };
        let database = Self::connect(&url, config.max_connections).await?;
        database.migrate().await?;
        Ok(database)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str, max_connections: Option<u32>) -> Result<Self, StorageError> {
        let connect_error = |source| StorageError::Connect {
            url: redact_password(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(connect_error)?;
            let read = SqlitePoolOptions::new()
                .max_connections(max_connections.unwrap_or(4))
                .connect_with(options.read_only(true))
                .await
                .map_err(connect_error)?;
            Ok(Self::Sqlite(SqlitePools { write, read }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.unwrap_or(10))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(connect_error)?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StorageError::UnsupportedUrl {
                url: redact_password(url),
            })
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations this binary carries that the database has not seen.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Sqlite(pools) => {
                sqlx::migrate!("migrations/sqlite")
                    .run(&pools.write)
                    .await?;
            }
            Self::Postgres(pool) => {
                sqlx::migrate!("migrations/postgres").run(pool).await?;
            }
        }
        Ok(())
    }

    /// Versions of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StorageError> {
        let versions = with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(pool)
                .await?
        });
        Ok(versions)
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(pools) => {
                pools.write.close().await;
                pools.read.close().await;
            }
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// `url` with the password part replaced, for messages and logs.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A fresh identifier for a stored row.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_password("postgres://labforge:secret@db/labforge"),
            "postgres://labforge:REDACTED@db/labforge"
        );
        assert_eq!(redact_password("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_with_the_supported_ones() {
        let error = Database::connect("mysql://x@y/z", None).await.unwrap_err();
        assert!(error.to_string().contains("sqlite://"), "{error}");
    }

    #[tokio::test]
    async fn a_new_sqlite_file_is_created_and_migrated() {
        let folder = tempfile::tempdir().unwrap();
        let database = Database::open(&DatabaseConfig::default(), folder.path())
            .await
            .unwrap();
        assert_eq!(database.backend(), Backend::Sqlite);
        let applied = database.applied_migrations().await.unwrap();
        assert!(!applied.is_empty());
        assert!(folder.path().join("labforge.db").exists());
        // Opening again applies nothing new and keeps the data.
        database.close().await;
        let again = Database::open(&DatabaseConfig::default(), folder.path())
            .await
            .unwrap();
        assert_eq!(again.applied_migrations().await.unwrap(), applied);
    }

    /// Migration 0006 rebuilds `datalabs` on SQLite (a CHECK cannot change in place): rows that
    /// existed before keep their versions and members, and deleting a datalab still cascades.
    #[tokio::test]
    async fn the_sqlite_datalabs_rebuild_keeps_rows_and_foreign_keys() {
        let folder = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", folder.path().join("old.db").display());
        let database = Database::connect(&url, None).await.unwrap();
        let Database::Sqlite(pools) = &database else {
            unreachable!("a sqlite URL")
        };
        sqlx::migrate!("migrations/sqlite")
            .run_to(5, &pools.write)
            .await
            .unwrap();
        for statement in [
            "INSERT INTO users (id, name, role, created_at) VALUES ('u', 'olga', 'author', 'now')",
            "INSERT INTO datalabs (id, name, kind, owner_id, visibility, state, created_at, \
             updated_at) VALUES ('d', 'lab', 'jupyterlab', 'u', 'public', 'published', 'now', 'now')",
            "INSERT INTO versions (id, datalab_id, version, source_kind, source_location, \
             created_at, updated_at) VALUES ('v', 'd', '1.0.0', 'git', 'x', 'now', 'now')",
            "INSERT INTO datalab_members (datalab_id, user_id) VALUES ('d', 'u')",
        ] {
            sqlx::query(statement).execute(&pools.write).await.unwrap();
        }
        database.migrate().await.unwrap();
        let count = |table: &'static str| {
            let pool = pools.read.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {table}"
                )))
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        assert_eq!(count("datalabs").await, 1);
        assert_eq!(count("versions").await, 1);
        sqlx::query("UPDATE datalabs SET visibility = 'member_states' WHERE id = 'd'")
            .execute(&pools.write)
            .await
            .expect("the new audience is allowed");
        let refused = sqlx::query("UPDATE datalabs SET visibility = 'everyone' WHERE id = 'd'")
            .execute(&pools.write)
            .await;
        assert!(refused.is_err(), "the CHECK still holds");
        sqlx::query("DELETE FROM datalabs WHERE id = 'd'")
            .execute(&pools.write)
            .await
            .unwrap();
        assert_eq!(
            count("versions").await,
            0,
            "the cascade reaches the renamed table"
        );
        assert_eq!(count("datalab_members").await, 0);
    }
}

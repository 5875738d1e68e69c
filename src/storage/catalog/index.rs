//! The marketplace index's writer. The index (migration `0002_marketplace`) holds one entry per
//! published datalab: a narrow row that listings filter, sort and count on
//! (`marketplace_entries`), its searchable text (`marketplace_documents`, indexed by FTS5 in SQLite
//! and by a weighted tsvector in PostgreSQL) and its facet values (`marketplace_facet_values`,
//! `marketplace_facets`). Only [`Database::refresh_datalab_search`] writes it, from the datalab row
//! and the metadata the marketplace shows, so the index can always be rebuilt from the tables it
//! summarises. What an entry holds is catalog policy, [`crate::catalog::search_entry`]: this file
//! reads its source and writes its result, in one transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::catalog::search_entry::{SearchEntrySource, search_entry};
use crate::datalabs::states::{DatalabState, Visibility};
use crate::storage::{Database, StorageError, with_pool};

const FACET_CODE: &str =
    "SELECT code FROM marketplace_facet_values WHERE facet = $1 AND value = $2";

/// The datalab and its shown version, as [`search_entry`] takes them.
#[derive(sqlx::FromRow)]
struct SearchEntrySourceRow {
    name: String,
    kind: String,
    owner_id: String,
    visibility: Visibility,
    state: DatalabState,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    metadata: Option<Json<Value>>,
    version_updated_at: Option<DateTime<Utc>>,
}

impl From<SearchEntrySourceRow> for SearchEntrySource {
    fn from(row: SearchEntrySourceRow) -> Self {
        Self {
            name: row.name,
            kind: row.kind,
            owner_id: row.owner_id,
            visibility: row.visibility,
            state: row.state,
            created_at: row.created_at,
            updated_at: row.updated_at,
            metadata: row.metadata.map(|Json(metadata)| metadata),
            version_updated_at: row.version_updated_at,
        }
    }
}

impl Database {
    /// Rebuilds the search entry of every datalab (after a restore, or an upgrade that changed
    /// how entries are made); returns how many datalabs were visited.
    pub async fn refresh_all_datalab_search(&self) -> Result<usize, StorageError> {
        let ids: Vec<String> = with_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT id FROM datalabs ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        for id in &ids {
            self.refresh_datalab_search(id).await?;
        }
        Ok(ids.len())
    }

    /// Brings the marketplace's entry for the datalab `datalab_id` in line with the datalab and its
    /// versions: indexes it when it is published and has a version with metadata, removes it
    /// otherwise (or when the datalab no longer exists). Idempotent; its own transaction.
    ///
    /// The marketplace reads only this index, so **call it after committing any change to what
    /// the marketplace shows**: a version's metadata or state, the datalab's state (publication,
    /// deprecation, withdrawal), visibility, name, kind or owner. Members, stars and deletions need
    /// no call: listings read `datalab_members` directly, starring keeps the count itself, and
    /// deleting a datalab deletes its entry.
    #[expect(
        clippy::too_many_lines,
        reason = "one transaction whose body is compiled once per backend's pool type; split into \
                  functions it would need a generic executor bound on each"
    )]
    pub async fn refresh_datalab_search(&self, datalab_id: &str) -> Result<(), StorageError> {
        let source_query = concat!(
            "SELECT d.name, d.kind, d.owner_id, d.visibility, d.state, d.created_at, d.updated_at, \
             v.metadata, v.updated_at AS version_updated_at \
             FROM datalabs d LEFT JOIN versions v ON v.id = ",
            shown_version_id!(),
            " WHERE d.id = $1"
        );
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            let source: Option<SearchEntrySourceRow> = sqlx::query_as(source_query)
                .bind(datalab_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let entry = match source {
                Some(source) => {
                    search_entry(source.into()).map_err(|error| StorageError::Corrupt {
                        what: "datalab metadata",
                        detail: error.to_string(),
                    })?
                }
                None => None,
            };
            let Some(entry) = entry else {
                sqlx::query("DELETE FROM marketplace_entries WHERE datalab_id = $1")
                    .bind(datalab_id)
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                return Ok(());
            };
            let mut codes = Vec::with_capacity(entry.facet_values.len());
            for (facet, value) in &entry.facet_values {
                // Looked up before inserting: an upsert would draw a new number from PostgreSQL's
                // sequence every time, and codes must stay small to count by position.
                let mut code: Option<i64> = sqlx::query_scalar(FACET_CODE)
                    .bind(facet.as_str())
                    .bind(value)
                    .fetch_optional(&mut *transaction)
                    .await?;
                if code.is_none() {
                    code = sqlx::query_scalar(
                        "INSERT INTO marketplace_facet_values (facet, value) VALUES ($1, $2) \
                         ON CONFLICT (facet, value) DO NOTHING RETURNING code",
                    )
                    .bind(facet.as_str())
                    .bind(value)
                    .fetch_optional(&mut *transaction)
                    .await?;
                }
                if code.is_none() {
                    // Inserted meanwhile by a concurrent refresh.
                    code = sqlx::query_scalar(FACET_CODE)
                        .bind(facet.as_str())
                        .bind(value)
                        .fetch_optional(&mut *transaction)
                        .await?;
                }
                codes.push(code.ok_or_else(|| StorageError::Corrupt {
                    what: "marketplace facet value",
                    detail: format!("{} {value:?} has no code", facet.as_str()),
                })?);
            }
            codes.sort_unstable();
            let facet_codes = codes
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            // The documents keep keywords as a JSON array, which is what search hits decode.
            let keywords =
                serde_json::to_string(&entry.keywords).expect("a list of strings serialises");
            let entry_id: i64 = sqlx::query_scalar(
                "INSERT INTO marketplace_entries (datalab_id, name, kind, owner_id, public, \
                 licence, esa_official, stars, facet_codes, created_at, updated_at, \
                 member_states) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 (SELECT COUNT(*) FROM stars WHERE datalab_id = $1), $8, $9, $10, $11) \
                 ON CONFLICT (datalab_id) DO UPDATE SET name = excluded.name, \
                 kind = excluded.kind, owner_id = excluded.owner_id, public = excluded.public, \
                 member_states = excluded.member_states, \
                 licence = excluded.licence, esa_official = excluded.esa_official, \
                 stars = excluded.stars, facet_codes = excluded.facet_codes, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at \
                 RETURNING entry_id",
            )
            .bind(datalab_id)
            .bind(&entry.name)
            .bind(&entry.kind)
            .bind(&entry.owner_id)
            .bind(entry.public)
            .bind(&entry.licence)
            .bind(entry.esa_official)
            .bind(&facet_codes)
            .bind(entry.created_at)
            .bind(entry.updated_at)
            .bind(entry.member_states)
            .fetch_one(&mut *transaction)
            .await?;
            sqlx::query(
                "INSERT INTO marketplace_documents (entry_id, title, alternate_name, abstract, \
                 keywords) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (entry_id) DO UPDATE SET title = excluded.title, \
                 alternate_name = excluded.alternate_name, abstract = excluded.abstract, \
                 keywords = excluded.keywords",
            )
            .bind(entry_id)
            .bind(&entry.title)
            .bind(&entry.alternate_name)
            .bind(&entry.r#abstract)
            .bind(&keywords)
            .execute(&mut *transaction)
            .await?;
            sqlx::query("DELETE FROM marketplace_facets WHERE entry_id = $1")
                .bind(entry_id)
                .execute(&mut *transaction)
                .await?;
            for code in codes {
                sqlx::query("INSERT INTO marketplace_facets (code, entry_id) VALUES ($1, $2)")
                    .bind(code)
                    .bind(entry_id)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
        });
        Ok(())
    }
}

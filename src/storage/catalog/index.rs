//! The marketplace index's writer. The index (migration `0002_marketplace`) holds one entry per
//! published datalab: a narrow row that listings filter, sort and count on
//! (`marketplace_entries`), its searchable text (`marketplace_documents`, indexed by FTS5 in SQLite
//! and by a weighted tsvector in PostgreSQL) and its facet values (`marketplace_facet_values`,
//! `marketplace_facets`). Only [`Database::refresh_datalab_search`] writes it, from the datalab row
//! and the metadata the marketplace shows, so the index can always be rebuilt from the tables it
//! summarises.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::types::Json;

use crate::catalog::facet::Facet;
use crate::storage::{Database, StorageError, with_pool};

const FACET_CODE: &str =
    "SELECT code FROM marketplace_facet_values WHERE facet = $1 AND value = $2";

/// The metadata fields the index is built from, read leniently: the metadata was validated when it
/// was stored, and a field missing here only leaves the entry without it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IndexedMetadata {
    title: String,
    alternate_name: String,
    r#abstract: String,
    keywords: Vec<String>,
    domain: Vec<String>,
    mission: Vec<String>,
    instrument: Vec<String>,
    audience_type: Vec<String>,
    license: Option<String>,
    #[serde(rename = "ESAOfficial")]
    esa_official: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct IndexSource {
    name: String,
    kind: String,
    owner_id: String,
    visibility: String,
    state: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    metadata: Option<Json<Value>>,
    version_updated_at: Option<DateTime<Utc>>,
}

/// An entry as [`Database::refresh_datalab_search`] writes it.
struct IndexedEntry {
    name: String,
    kind: String,
    owner_id: String,
    public: bool,
    licence: Option<String>,
    esa_official: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    title: String,
    alternate_name: String,
    summary: String,
    keywords: String,
    facet_values: Vec<(Facet, String)>,
}

impl IndexSource {
    /// The entry for this datalab, or `None` when the marketplace must not list it: not published,
    /// or no version with metadata.
    fn into_entry(self) -> Result<Option<IndexedEntry>, StorageError> {
        let (Some(Json(metadata)), Some(version_updated_at)) =
            (self.metadata, self.version_updated_at)
        else {
            return Ok(None);
        };
        if self.state != "published" {
            return Ok(None);
        }
        let metadata: IndexedMetadata =
            serde_json::from_value(metadata).map_err(|error| StorageError::Corrupt {
                what: "datalab metadata",
                detail: format!("{}: {error}", self.name),
            })?;
        let licence = metadata
            .license
            .map(|licence| licence.trim().to_owned())
            .filter(|licence| !licence.is_empty());
        let esa_official = metadata.esa_official.unwrap_or(false);
        let mut facet_values = vec![
            (Facet::Kind, self.kind.clone()),
            (Facet::EsaOfficial, esa_official.to_string()),
        ];
        facet_values.extend(
            licence
                .iter()
                .map(|licence| (Facet::Licence, licence.clone())),
        );
        for (facet, values) in [
            (Facet::Domain, &metadata.domain),
            (Facet::Mission, &metadata.mission),
            (Facet::Instrument, &metadata.instrument),
            (Facet::Audience, &metadata.audience_type),
        ] {
            facet_values.extend(
                values
                    .iter()
                    .map(|value| value.trim())
                    .filter(|value| !value.is_empty())
                    .map(|value| (facet, value.to_owned())),
            );
        }
        facet_values.sort();
        facet_values.dedup();
        Ok(Some(IndexedEntry {
            name: self.name,
            kind: self.kind,
            owner_id: self.owner_id,
            public: self.visibility == "public",
            licence,
            esa_official,
            created_at: self.created_at,
            updated_at: self.updated_at.max(version_updated_at),
            title: metadata.title,
            alternate_name: metadata.alternate_name,
            summary: metadata.r#abstract,
            keywords: serde_json::to_string(&metadata.keywords)
                .expect("a list of strings serialises"),
            facet_values,
        }))
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
            let source: Option<IndexSource> = sqlx::query_as(source_query)
                .bind(datalab_id)
                .fetch_optional(&mut *transaction)
                .await?;
            let entry = match source {
                Some(source) => source.into_entry()?,
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
            let entry_id: i64 = sqlx::query_scalar(
                "INSERT INTO marketplace_entries (datalab_id, name, kind, owner_id, public, \
                 licence, esa_official, stars, facet_codes, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 (SELECT COUNT(*) FROM stars WHERE datalab_id = $1), $8, $9, $10) \
                 ON CONFLICT (datalab_id) DO UPDATE SET name = excluded.name, \
                 kind = excluded.kind, owner_id = excluded.owner_id, public = excluded.public, \
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
            .bind(&entry.summary)
            .bind(&entry.keywords)
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

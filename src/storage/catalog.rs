//! The marketplace's search index, stars, and the reads behind the catalogue.
//!
//! The index (migration `0002_marketplace`) holds one entry per published datalab: a narrow row
//! that listings filter, sort and count on (`marketplace_entries`), its searchable text
//! (`marketplace_documents`, indexed by FTS5 in SQLite and by a weighted tsvector in PostgreSQL) and
//! its facet values (`marketplace_facet_values`, `marketplace_facets`). Only
//! [`Database::refresh_datalab_search`] writes it, from the datalab row and the metadata the
//! marketplace shows, so the index can always be rebuilt from the tables it summarises.
//!
//! Facet counts follow the usual app-store rule: each facet is counted over the entries that match
//! the words and every *other* facet's filter, so choosing `domain=astronomy` still shows how many
//! entries the other domains would add. They are computed here, from the matching entries' facet
//! codes read as one aggregated string and counted in one pass, rather than by a grouped join over
//! the facet rows: for 10,000 entries the join took about 100 ms in SQLite, the read and the pass a
//! few milliseconds (measured while choosing; `bench/marketplace.sh` measures the whole search).

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::types::Json;

use super::{Backend, Database, StorageError, with_pool};
use crate::datalabs::states::{DatalabState, Visibility};

/// A property of datalabs that listings can be filtered by and that search results count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Facet {
    Kind,
    Domain,
    Mission,
    Instrument,
    Audience,
    Licence,
    EsaOfficial,
}

impl Facet {
    pub const ALL: [Self; 7] = [
        Self::Kind,
        Self::Domain,
        Self::Mission,
        Self::Instrument,
        Self::Audience,
        Self::Licence,
        Self::EsaOfficial,
    ];

    /// The facet's name, both in the index and as the API's query parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::Domain => "domain",
            Self::Mission => "mission",
            Self::Instrument => "instrument",
            Self::Audience => "audience",
            Self::Licence => "licence",
            Self::EsaOfficial => "esa_official",
        }
    }

    fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|facet| facet.as_str() == name)
    }

    const fn position(self) -> usize {
        self as usize
    }
}

/// Who is looking, as far as the visibility rule needs to know: published public datalabs are
/// listed to everyone, the others to their owner, their members, moderators and administrators.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// `None` for an anonymous caller.
    pub user_id: Option<&'a str>,
    /// Moderators and administrators see every datalab.
    pub sees_everything: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOrder {
    /// The backend's text rank (FTS5 bm25, PostgreSQL `ts_rank`), then stars; by stars without
    /// words.
    Relevance,
    Stars,
    /// Most recently created datalabs first.
    Newest,
    Name,
}

/// One marketplace search.
#[derive(Debug, Clone, Copy)]
pub struct MarketplaceQuery<'a> {
    pub viewer: Viewer<'a>,
    /// Words an entry must all contain (in its title, slug, abstract or keywords), stemmed where the
    /// backend stems; the last one also matches as a prefix, for search as you type. Each word is
    /// letters and digits only: the backends' query syntaxes are built from them.
    pub words: &'a [String],
    /// Values allowed per facet: an entry must carry one of the values of every facet listed.
    pub filters: &'a [(Facet, Vec<String>)],
    pub order: SearchOrder,
    pub limit: i64,
    pub offset: i64,
}

/// One page of results, the number of results in all, and the facet counts.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketplacePage {
    pub total: i64,
    pub hits: Vec<MarketplaceHit>,
    /// Values with at least one entry, by facet, then most entries first, then by value.
    pub facet_counts: Vec<FacetCount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub facet: Facet,
    pub value: String,
    pub count: i64,
}

/// A search result, from its index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketplaceHit {
    pub name: String,
    pub kind: String,
    pub title: String,
    pub r#abstract: String,
    pub keywords: Vec<String>,
    pub licence: Option<String>,
    pub stars: i64,
    pub esa_official: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    name: String,
    kind: String,
    title: String,
    #[sqlx(rename = "abstract")]
    summary: String,
    keywords: String,
    licence: Option<String>,
    stars: i64,
    esa_official: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<HitRow> for MarketplaceHit {
    type Error = StorageError;

    fn try_from(row: HitRow) -> Result<Self, Self::Error> {
        let keywords =
            serde_json::from_str(&row.keywords).map_err(|error| StorageError::Corrupt {
                what: "marketplace keywords",
                detail: error.to_string(),
            })?;
        Ok(Self {
            name: row.name,
            kind: row.kind,
            title: row.title,
            r#abstract: row.summary,
            keywords,
            licence: row.licence,
            stars: row.stars,
            esa_official: row.esa_official,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// What the visibility rule needs of a datalab, with whether the viewer is one of its members.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CatalogDatalabRow {
    pub id: String,
    pub owner_id: String,
    pub visibility: Visibility,
    pub state: DatalabState,
    pub viewer_is_member: bool,
}

/// A datalab with the metadata the marketplace shows for it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DescribedDatalabRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored metadata, private fields included.
    pub metadata: Json<Value>,
    pub version_updated_at: DateTime<Utc>,
}

/// The id of the version whose metadata the marketplace shows for the datalab `d`: the newest
/// published version with metadata, else the newest version with metadata.
macro_rules! shown_version_id {
    () => {
        "(SELECT v.id FROM versions v WHERE v.datalab_id = d.id AND v.metadata IS NOT NULL \
         ORDER BY (v.state = 'published') DESC, v.created_at DESC, v.id DESC LIMIT 1)"
    };
}

/// The visibility rule over the entry `e`: `$1` is true for moderators and administrators, `$2`
/// is the viewer's user id (NULL when anonymous).
macro_rules! visible_entry {
    () => {
        "($1 OR e.public OR e.owner_id = $2 OR EXISTS (SELECT 1 FROM datalab_members m \
         WHERE m.datalab_id = e.datalab_id AND m.user_id = $2))"
    };
}

/// The entry `e`'s text matches the SQLite FTS5 query `$3`.
macro_rules! sqlite_text_match {
    () => {
        "e.entry_id IN (SELECT rowid FROM marketplace_search WHERE marketplace_search MATCH $3)"
    };
}

/// The entry `e`'s text matches the PostgreSQL tsquery `$3`.
macro_rules! postgres_text_match {
    () => {
        "e.entry_id IN (SELECT entry_id FROM marketplace_documents \
         WHERE search_vector @@ to_tsquery('english', $3))"
    };
}

/// The facet codes of the visible entries `e` (that match the text), one entry per
/// `;`-separated part.
macro_rules! matching_facet_codes {
    () => {
        concat!(
            "SELECT COALESCE(string_agg(e.facet_codes, ';'), '') FROM marketplace_entries e WHERE ",
            visible_entry!()
        )
    };
    ($text_match:expr) => {
        concat!(matching_facet_codes!(), " AND ", $text_match)
    };
}

/// Sets the star count of the entry of the datalab `$1`, if it has one, from the stars.
const RECOUNT_STARS: &str = "UPDATE marketplace_entries \
     SET stars = (SELECT COUNT(*) FROM stars WHERE datalab_id = $1) WHERE datalab_id = $1";
const COUNT_STARS: &str = "SELECT COUNT(*) FROM stars WHERE datalab_id = $1";

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

    /// One page of marketplace results for `query`, with the total and the facet counts.
    pub async fn search_marketplace(
        &self,
        query: &MarketplaceQuery<'_>,
    ) -> Result<MarketplacePage, StorageError> {
        let backend = self.backend();
        let text = text_query(backend, query.words);
        let codes_query = match (&text, backend) {
            (None, _) => matching_facet_codes!(),
            (Some(_), Backend::Sqlite) => matching_facet_codes!(sqlite_text_match!()),
            (Some(_), Backend::Postgres) => matching_facet_codes!(postgres_text_match!()),
        };
        with_pool!(self, read, |pool| {
            let dictionary: Vec<(i64, String, String)> =
                sqlx::query_as("SELECT code, facet, value FROM marketplace_facet_values")
                    .fetch_all(pool)
                    .await?;
            let dictionary = FacetDictionary::new(dictionary)?;
            let filters = dictionary.filter_codes(query.filters);
            let mut codes_statement = sqlx::query_scalar::<_, String>(codes_query)
                .bind(query.viewer.sees_everything)
                .bind(query.viewer.user_id);
            if let Some(text) = &text {
                codes_statement = codes_statement.bind(text);
            }
            // A filter none of whose values was ever indexed matches nothing.
            let page_statement = filters.iter().all(|(_, codes)| !codes.is_empty()).then(|| {
                let page_query = page_query(backend, text.is_some(), query.order, &filters);
                let mut statement = sqlx::query_as::<_, HitRow>(sqlx::AssertSqlSafe(page_query))
                    .bind(query.viewer.sees_everything)
                    .bind(query.viewer.user_id);
                if let Some(text) = &text {
                    statement = statement.bind(text);
                }
                for code in filters.iter().flat_map(|(_, codes)| codes) {
                    statement = statement.bind(*code);
                }
                statement.bind(query.limit).bind(query.offset)
            });
            // The two reads are independent: on two connections at once, a search takes as long
            // as the slower of them rather than both.
            let (facet_codes, hit_rows) =
                tokio::try_join!(codes_statement.fetch_one(pool), async {
                    match page_statement {
                        Some(statement) => statement.fetch_all(pool).await,
                        None => Ok(Vec::new()),
                    }
                })?;
            let tally = FacetTally::count(&facet_codes, &dictionary, &filters);
            Ok(MarketplacePage {
                total: tally.total,
                hits: hit_rows
                    .into_iter()
                    .map(MarketplaceHit::try_from)
                    .collect::<Result<_, _>>()?,
                facet_counts: tally.into_facet_counts(&dictionary),
            })
        })
    }

    /// Records that `user_id` stars `datalab_id` (starring twice changes nothing); returns the
    /// datalab's number of stars.
    pub async fn star_datalab(
        &self,
        datalab_id: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query(
                "INSERT INTO stars (datalab_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (datalab_id, user_id) DO NOTHING",
            )
            .bind(datalab_id)
            .bind(user_id)
            .bind(at)
            .execute(&mut *transaction)
            .await?;
            sqlx::query(RECOUNT_STARS)
                .bind(datalab_id)
                .execute(&mut *transaction)
                .await?;
            let stars = sqlx::query_scalar(COUNT_STARS)
                .bind(datalab_id)
                .fetch_one(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(stars)
        })
    }

    /// Removes `user_id`'s star from `datalab_id`, if any; returns the datalab's number of stars.
    pub async fn unstar_datalab(
        &self,
        datalab_id: &str,
        user_id: &str,
    ) -> Result<i64, StorageError> {
        with_pool!(self, write, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM stars WHERE datalab_id = $1 AND user_id = $2")
                .bind(datalab_id)
                .bind(user_id)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(RECOUNT_STARS)
                .bind(datalab_id)
                .execute(&mut *transaction)
                .await?;
            let stars = sqlx::query_scalar(COUNT_STARS)
                .bind(datalab_id)
                .fetch_one(&mut *transaction)
                .await?;
            transaction.commit().await?;
            Ok(stars)
        })
    }

    /// The datalab named `name`, with whether `viewer_id` is one of its members.
    pub async fn catalog_datalab(
        &self,
        name: &str,
        viewer_id: Option<&str>,
    ) -> Result<Option<CatalogDatalabRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT d.id, d.owner_id, d.visibility, d.state, EXISTS (SELECT 1 \
                 FROM datalab_members m WHERE m.datalab_id = d.id AND m.user_id = $2) \
                 AS viewer_is_member FROM datalabs d WHERE d.name = $1",
            )
            .bind(name)
            .bind(viewer_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The datalab `datalab_id` with the metadata the marketplace shows for it; `None` when it has
    /// no version with metadata.
    pub async fn described_datalab(
        &self,
        datalab_id: &str,
    ) -> Result<Option<DescribedDatalabRow>, StorageError> {
        let query = concat!(
            "SELECT d.id, d.name, d.kind, d.created_at, d.updated_at, v.metadata, \
             v.updated_at AS version_updated_at \
             FROM datalabs d JOIN versions v ON v.id = ",
            shown_version_id!(),
            " WHERE d.id = $1"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(datalab_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every published public datalab that has metadata, by name: what the public catalogue lists.
    pub async fn published_public_datalabs(
        &self,
    ) -> Result<Vec<DescribedDatalabRow>, StorageError> {
        let query = concat!(
            "SELECT d.id, d.name, d.kind, d.created_at, d.updated_at, v.metadata, \
             v.updated_at AS version_updated_at \
             FROM datalabs d JOIN versions v ON v.id = ",
            shown_version_id!(),
            " WHERE d.state = 'published' AND d.visibility = 'public' ORDER BY d.name"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).fetch_all(pool).await?
        }))
    }
}

/// The backend's full-text query for `words` (all of them; the last also as a prefix), or `None`
/// without words. Characters other than letters and digits are dropped, so that no word can carry
/// query syntax.
fn text_query(backend: Backend, words: &[String]) -> Option<String> {
    let words: Vec<String> = words
        .iter()
        .map(|word| {
            word.chars()
                .filter(|character| character.is_alphanumeric())
                .collect()
        })
        .filter(|word: &String| !word.is_empty())
        .collect();
    let (last, others) = words.split_last()?;
    let query = match backend {
        // FTS5: each word a quoted string, all required; `*` makes the last one a prefix.
        Backend::Sqlite => others
            .iter()
            .map(|word| format!("\"{word}\" "))
            .chain([format!("\"{last}\"*")])
            .collect::<String>(),
        // tsquery: `&` requires every word, `:*` makes the last one a prefix.
        Backend::Postgres => others
            .iter()
            .map(|word| format!("{word} & "))
            .chain([format!("{last}:*")])
            .collect::<String>(),
    };
    Some(query)
}

/// The statement for one page of hits: the visibility rule, the text match and one condition per
/// filtered facet, assembled from fixed fragments; every value is a bound parameter (`$1` the
/// viewer's override, `$2` their id, `$3` the text query when there are words, then the filters'
/// codes, then limit and offset). The page is chosen among the narrow entries first and only its
/// rows are joined to their (long) documents.
fn page_query(
    backend: Backend,
    has_text: bool,
    order: SearchOrder,
    filters: &[(Facet, Vec<i64>)],
) -> String {
    let ranked = has_text && order == SearchOrder::Relevance;
    let mut query = String::from(
        "SELECT e.name, e.kind, d.title, d.abstract, d.keywords, e.licence, e.stars, \
         e.esa_official, e.created_at, e.updated_at FROM (SELECT e.entry_id, e.name, e.kind, \
         e.licence, e.stars, e.esa_official, e.created_at, e.updated_at",
    );
    match (ranked, backend) {
        // CROSS JOIN keeps the full-text table the outer loop: SQLite would otherwise look each
        // entry up in it by rowid, running the text query once per entry.
        (true, Backend::Sqlite) => query.push_str(
            ", marketplace_search.rank AS text_rank FROM marketplace_search \
             CROSS JOIN marketplace_entries e ON e.entry_id = marketplace_search.rowid \
             WHERE marketplace_search MATCH $3 AND ",
        ),
        (true, Backend::Postgres) => query.push_str(
            ", ts_rank(d.search_vector, to_tsquery('english', $3)) AS text_rank \
             FROM marketplace_entries e JOIN marketplace_documents d \
             ON d.entry_id = e.entry_id WHERE d.search_vector @@ to_tsquery('english', $3) AND ",
        ),
        (false, _) => {
            query.push_str(" FROM marketplace_entries e WHERE ");
            if has_text {
                query.push_str(match backend {
                    Backend::Sqlite => sqlite_text_match!(),
                    Backend::Postgres => postgres_text_match!(),
                });
                query.push_str(" AND ");
            }
        }
    }
    query.push_str(visible_entry!());
    let mut parameter = if has_text { 4 } else { 3 };
    for (_, codes) in filters {
        query.push_str(
            " AND e.entry_id IN (SELECT entry_id FROM marketplace_facets WHERE code IN (",
        );
        let placeholders: Vec<String> = (parameter..parameter + codes.len())
            .map(|number| format!("${number}"))
            .collect();
        query.push_str(&placeholders.join(", "));
        query.push_str("))");
        parameter += codes.len();
    }
    let ordering = match (order, ranked, backend) {
        // bm25 is lower for better matches, ts_rank higher.
        (_, true, Backend::Sqlite) => " ORDER BY text_rank, e.stars DESC, e.name",
        (_, true, Backend::Postgres) => " ORDER BY text_rank DESC, e.stars DESC, e.name",
        (SearchOrder::Relevance | SearchOrder::Stars, false, _) => " ORDER BY e.stars DESC, e.name",
        (SearchOrder::Newest, false, _) => " ORDER BY e.created_at DESC, e.name",
        (SearchOrder::Name, false, _) => " ORDER BY e.name",
    };
    query.push_str(ordering);
    write!(
        query,
        " LIMIT ${parameter} OFFSET ${}) e JOIN marketplace_documents d ON d.entry_id = e.entry_id",
        parameter + 1
    )
    .expect("writing to a String");
    query.push_str(ordering);
    query
}

/// The facet values by code, read at the start of each search. Codes are small and dense (one per
/// distinct value ever indexed), so counts are kept in vectors indexed by code.
struct FacetDictionary {
    by_code: Vec<Option<(Facet, String)>>,
}

impl FacetDictionary {
    fn new(rows: Vec<(i64, String, String)>) -> Result<Self, StorageError> {
        let mut by_code = Vec::new();
        for (code, facet_name, value) in rows {
            let facet = Facet::from_stored(&facet_name).ok_or_else(|| StorageError::Corrupt {
                what: "marketplace facet",
                detail: facet_name.clone(),
            })?;
            let position = code_position(code).ok_or_else(|| StorageError::Corrupt {
                what: "marketplace facet code",
                detail: code.to_string(),
            })?;
            if by_code.len() <= position {
                by_code.resize(position + 1, None);
            }
            by_code[position] = Some((facet, value));
        }
        Ok(Self { by_code })
    }

    fn facet_of(&self, position: usize) -> Option<Facet> {
        self.by_code
            .get(position)
            .and_then(Option::as_ref)
            .map(|(facet, _)| *facet)
    }

    /// The codes of each filter's values; a value never indexed has no code, so a filter of only
    /// such values matches nothing.
    fn filter_codes(&self, filters: &[(Facet, Vec<String>)]) -> Vec<(Facet, Vec<i64>)> {
        let codes: HashMap<(Facet, &str), i64> = self
            .by_code
            .iter()
            .enumerate()
            .filter_map(|(position, entry)| {
                let (facet, value) = entry.as_ref()?;
                Some(((*facet, value.as_str()), i64::try_from(position).ok()?))
            })
            .collect();
        filters
            .iter()
            .map(|(facet, values)| {
                let mut facet_codes: Vec<i64> = values
                    .iter()
                    .filter_map(|value| codes.get(&(*facet, value.as_str())).copied())
                    .collect();
                facet_codes.sort_unstable();
                facet_codes.dedup();
                (*facet, facet_codes)
            })
            .collect()
    }
}

fn code_position(code: i64) -> Option<usize> {
    usize::try_from(code).ok()
}

/// Facet counts and the number of results, from the matching entries' codes.
struct FacetTally {
    total: i64,
    /// Entries counted for each code, by position.
    counts: Vec<i64>,
}

impl FacetTally {
    /// Counts over `entries` (`;` between entries, spaces between an entry's codes). An entry that
    /// passes every filter is a result and counts for all its values; one that fails exactly one
    /// facet's filter counts only for that facet's values, which is what the facet would show were
    /// its own filter lifted. Codes the dictionary does not know (indexed after it was read) are
    /// skipped.
    fn count(entries: &str, dictionary: &FacetDictionary, filters: &[(Facet, Vec<i64>)]) -> Self {
        let mut counts = vec![0_i64; dictionary.by_code.len()];
        // For each code of a filter value, the bit of its facet; zero for other codes.
        let mut facet_bit_of_code = vec![0_u8; dictionary.by_code.len()];
        let mut filtered = 0_u8;
        for (facet, codes) in filters {
            let bit = 1 << facet.position();
            filtered |= bit;
            for position in codes.iter().filter_map(|code| code_position(*code)) {
                if let Some(slot) = facet_bit_of_code.get_mut(position) {
                    *slot |= bit;
                }
            }
        }
        let mut total = 0;
        let mut entry_codes: Vec<(usize, Facet)> = Vec::new();
        for entry in entries.split(';').filter(|entry| !entry.is_empty()) {
            entry_codes.clear();
            let mut passed = 0_u8;
            for position in entry
                .split(' ')
                .filter_map(|code| code.parse::<usize>().ok())
            {
                if let Some(facet) = dictionary.facet_of(position) {
                    entry_codes.push((position, facet));
                    passed |= facet_bit_of_code[position];
                }
            }
            let failed = filtered & !passed;
            if failed == 0 {
                total += 1;
                for (position, _) in &entry_codes {
                    counts[*position] += 1;
                }
            } else if failed.is_power_of_two() {
                for (position, facet) in &entry_codes {
                    if 1 << facet.position() == failed {
                        counts[*position] += 1;
                    }
                }
            }
        }
        Self { total, counts }
    }

    fn into_facet_counts(self, dictionary: &FacetDictionary) -> Vec<FacetCount> {
        let mut facet_counts: Vec<FacetCount> = self
            .counts
            .into_iter()
            .zip(&dictionary.by_code)
            .filter(|(count, _)| *count > 0)
            .filter_map(|(count, entry)| {
                let (facet, value) = entry.as_ref()?;
                Some(FacetCount {
                    facet: *facet,
                    value: value.clone(),
                    count,
                })
            })
            .collect();
        facet_counts.sort_by(|left, right| {
            (left.facet, std::cmp::Reverse(left.count), &left.value).cmp(&(
                right.facet,
                std::cmp::Reverse(right.count),
                &right.value,
            ))
        });
        facet_counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dictionary() -> FacetDictionary {
        FacetDictionary::new(vec![
            (1, "kind".to_owned(), "jupyterlab".to_owned()),
            (2, "kind".to_owned(), "desktop".to_owned()),
            (3, "domain".to_owned(), "astronomy".to_owned()),
            (4, "domain".to_owned(), "heliophysics".to_owned()),
            (5, "mission".to_owned(), "Gaia".to_owned()),
        ])
        .unwrap()
    }

    fn counts(tally: FacetTally, dictionary: &FacetDictionary) -> Vec<(String, i64)> {
        tally
            .into_facet_counts(dictionary)
            .into_iter()
            .map(|count| {
                (
                    format!("{}={}", count.facet.as_str(), count.value),
                    count.count,
                )
            })
            .collect()
    }

    #[test]
    fn each_facet_is_counted_without_its_own_filter() {
        let dictionary = dictionary();
        let entries = "1 3 5;1 4;2 3;2 4 5";
        let unfiltered = FacetTally::count(entries, &dictionary, &[]);
        assert_eq!(unfiltered.total, 4);
        let filters = dictionary.filter_codes(&[
            (Facet::Kind, vec!["jupyterlab".to_owned()]),
            (Facet::Domain, vec!["astronomy".to_owned()]),
        ]);
        let tally = FacetTally::count(entries, &dictionary, &filters);
        assert_eq!(tally.total, 1, "only the first entry passes both filters");
        assert_eq!(
            counts(tally, &dictionary),
            [
                // Kinds among the astronomy entries, domains among the JupyterLab ones.
                ("kind=desktop".to_owned(), 1),
                ("kind=jupyterlab".to_owned(), 1),
                ("domain=astronomy".to_owned(), 1),
                ("domain=heliophysics".to_owned(), 1),
                // Other facets among the results only.
                ("mission=Gaia".to_owned(), 1),
            ]
        );
    }

    #[test]
    fn unknown_filter_values_match_nothing_and_unknown_codes_are_skipped() {
        let dictionary = dictionary();
        let filters = dictionary.filter_codes(&[(Facet::Mission, vec!["Euclid".to_owned()])]);
        let tally = FacetTally::count("1 3 5;2 99", &dictionary, &filters);
        assert_eq!(tally.total, 0);
        assert_eq!(counts(tally, &dictionary), [("mission=Gaia".to_owned(), 1)]);
        assert_eq!(FacetTally::count("", &dictionary, &[]).total, 0);
    }

    #[test]
    fn words_become_query_syntax_without_carrying_any() {
        let words = ["galaxy".to_owned(), "\"clu*ster\"".to_owned()];
        assert_eq!(
            text_query(Backend::Sqlite, &words).unwrap(),
            "\"galaxy\" \"cluster\"*"
        );
        assert_eq!(
            text_query(Backend::Postgres, &words).unwrap(),
            "galaxy & cluster:*"
        );
        assert_eq!(text_query(Backend::Sqlite, &["&|".to_owned()]), None);
    }

    #[test]
    fn page_statements_number_their_parameters_in_binding_order() {
        let filters = [(Facet::Kind, vec![1, 2]), (Facet::Mission, vec![5])];
        let with_text = page_query(Backend::Postgres, true, SearchOrder::Relevance, &filters);
        assert!(with_text.contains("code IN ($4, $5)"), "{with_text}");
        assert!(with_text.contains("code IN ($6)"), "{with_text}");
        assert!(with_text.contains("LIMIT $7 OFFSET $8"), "{with_text}");
        assert!(with_text.contains("ts_rank"), "{with_text}");
        let without_text = page_query(Backend::Sqlite, false, SearchOrder::Newest, &[]);
        assert!(!without_text.contains("MATCH"), "{without_text}");
        assert!(
            without_text.contains("created_at DESC, e.name LIMIT $3 OFFSET $4"),
            "{without_text}"
        );
    }
}

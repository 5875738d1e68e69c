//! Marketplace search: one page of hits, the number of results and the facet counts, read from
//! the index that `index` writes. Visibility is applied at query time (members are read
//! live), so that sharing a datalab needs no index refresh.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::facets::{FacetCount, FacetDictionary, FacetTally};
use crate::catalog::facet::Facet;
use crate::storage::{Backend, Database, StorageError, with_pool};

/// Who is looking, as far as the visibility rule needs to know: published public datalabs are
/// listed to everyone, those for the ESA Member States to users of a member state, the others to
/// their owner, their members, moderators and administrators.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// `None` for an anonymous caller.
    pub user_id: Option<&'a str>,
    pub reach: Reach,
}

/// Which audiences' datalabs a viewer is in, besides their own and those shared with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Public,
    /// Public and ESA Member States datalabs.
    MemberStates,
    /// Moderators and administrators see every datalab.
    Everything,
}

impl Reach {
    /// As the visibility clause's `$1` compares it.
    const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::MemberStates => "member_states",
            Self::Everything => "everything",
        }
    }
}

/// How marketplace results are sorted (`sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
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

/// The visibility rule over the entry `e`: `$1` is the viewer's [`Reach`] as text, `$2` the
/// viewer's user id (NULL when anonymous).
macro_rules! visible_entry {
    () => {
        "($1 = 'everything' OR e.public OR ($1 = 'member_states' AND e.member_states) \
         OR e.owner_id = $2 OR EXISTS (SELECT 1 FROM datalab_members m \
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

impl Database {
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
                .bind(query.viewer.reach.as_str())
                .bind(query.viewer.user_id);
            if let Some(text) = &text {
                codes_statement = codes_statement.bind(text);
            }
            // A filter none of whose values was ever indexed matches nothing.
            let page_statement = filters.iter().all(|(_, codes)| !codes.is_empty()).then(|| {
                let page_query = page_query(backend, text.is_some(), query.order, &filters);
                let mut statement = sqlx::query_as::<_, HitRow>(sqlx::AssertSqlSafe(page_query))
                    .bind(query.viewer.reach.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

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

//! What a datalab's marketplace search entry holds: which datalabs are listed, which metadata
//! fields become searchable text (title, alternate name, abstract, keywords), which become facet
//! values (kind, domain, mission, instrument, audience, licence, ESA official), and how those
//! values are cleaned. The text's weights (a title match ranks above a keyword match) belong to
//! the index itself, in PostgreSQL's migration `0002_marketplace`.
//!
//! [`search_entry`] is a pure function, and storage calls it: `Database::refresh_datalab_search`
//! reads the datalab and the version the marketplace shows, asks this module for the entry and
//! writes it, all in one transaction. That keeps the read, the decision and the write together (on
//! SQLite, whose one writer connection runs the whole refresh alone, the entry always matches the
//! rows it was made from), keeps the index rebuildable from storage alone (`labforge migrate`),
//! and leaves the refresh's callers unchanged. Storage therefore depends on this module's plain
//! types and function, never on a catalog service; this module does no I/O and knows no SQL.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::facet::Facet;
use crate::datalabs::states::{DatalabState, Visibility};

/// A datalab as its entry is made from: the datalab and the version the marketplace shows for it
/// (the newest published version with metadata, else the newest with metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchEntrySource {
    pub name: String,
    pub kind: String,
    pub owner_id: String,
    pub visibility: Visibility,
    pub state: DatalabState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The shown version's stored metadata, private fields included; `None` without such a
    /// version.
    pub metadata: Option<Value>,
    /// When the shown version last changed; `None` without such a version.
    pub version_updated_at: Option<DateTime<Utc>>,
}

/// A datalab's entry in the marketplace index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchEntry {
    pub name: String,
    pub kind: String,
    pub owner_id: String,
    /// Listed to everyone; otherwise only to its owner, its members and moderators.
    pub public: bool,
    /// Listed to signed-in users of an ESA Member State too.
    pub member_states: bool,
    /// Trimmed SPDX expression; `None` when the metadata gives none or a blank one.
    pub licence: Option<String>,
    pub esa_official: bool,
    pub created_at: DateTime<Utc>,
    /// The later of the datalab's and its shown version's last changes: either changes what the
    /// marketplace shows.
    pub updated_at: DateTime<Utc>,
    pub title: String,
    pub alternate_name: String,
    pub r#abstract: String,
    /// As the metadata lists them.
    pub keywords: Vec<String>,
    /// Sorted, each pair once; values trimmed and never empty.
    pub facet_values: Vec<(Facet, String)>,
}

/// Stored metadata whose searched fields do not have their expected shape. It was validated when
/// stored, so this is a bug or a hand-edited database.
#[derive(Debug, thiserror::Error)]
#[error("{datalab}: {source}")]
pub struct UnreadableMetadata {
    /// The datalab's name.
    pub datalab: String,
    pub source: serde_json::Error,
}

/// The metadata fields the index is built from, read leniently: the metadata was validated when it
/// was stored, and a field missing here only leaves the entry without it. Every other field,
/// private ones included, is ignored.
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

/// The entry for this datalab, or `None` when the marketplace must not list it: not published, or
/// no version with metadata.
pub fn search_entry(source: SearchEntrySource) -> Result<Option<SearchEntry>, UnreadableMetadata> {
    let (Some(metadata), Some(version_updated_at)) = (source.metadata, source.version_updated_at)
    else {
        return Ok(None);
    };
    if source.state != DatalabState::Published {
        return Ok(None);
    }
    let metadata: IndexedMetadata =
        serde_json::from_value(metadata).map_err(|error| UnreadableMetadata {
            datalab: source.name.clone(),
            source: error,
        })?;
    let licence = metadata
        .license
        .map(|licence| licence.trim().to_owned())
        .filter(|licence| !licence.is_empty());
    let esa_official = metadata.esa_official.unwrap_or(false);
    let mut facet_values = vec![
        (Facet::Kind, source.kind.clone()),
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
    Ok(Some(SearchEntry {
        name: source.name,
        kind: source.kind,
        owner_id: source.owner_id,
        public: source.visibility == Visibility::Public,
        member_states: source.visibility == Visibility::MemberStates,
        licence,
        esa_official,
        created_at: source.created_at,
        updated_at: source.updated_at.max(version_updated_at),
        title: metadata.title,
        alternate_name: metadata.alternate_name,
        r#abstract: metadata.r#abstract,
        keywords: metadata.keywords,
        facet_values,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, hour, 0, 0).unwrap()
    }

    fn source(
        state: DatalabState,
        visibility: Visibility,
        metadata: Option<Value>,
    ) -> SearchEntrySource {
        SearchEntrySource {
            name: "jl-euclid-tools".to_owned(),
            kind: "jupyterlab".to_owned(),
            owner_id: "owner".to_owned(),
            visibility,
            state,
            created_at: at(1),
            updated_at: at(2),
            version_updated_at: metadata.as_ref().map(|_| at(3)),
            metadata,
        }
    }

    fn entry(metadata: Value) -> SearchEntry {
        search_entry(source(
            DatalabState::Published,
            Visibility::Public,
            Some(metadata),
        ))
        .unwrap()
        .expect("a published datalab with metadata is listed")
    }

    fn facet_values(entry: &SearchEntry) -> Vec<(&str, &str)> {
        entry
            .facet_values
            .iter()
            .map(|(facet, value)| (facet.as_str(), value.as_str()))
            .collect()
    }

    #[test]
    fn text_comes_from_title_alternate_name_abstract_and_keywords() {
        let entry = entry(json!({
            "title": "Euclid tools",
            "alternateName": "jl-euclid-tools",
            "abstract": "Quick-look of VIS frames.",
            "keywords": ["euclid", "vis", "euclid"],
            "creator": "A. Author",
            "citation": "Author et al. 2025",
        }));
        assert_eq!(entry.title, "Euclid tools");
        assert_eq!(entry.alternate_name, "jl-euclid-tools");
        assert_eq!(entry.r#abstract, "Quick-look of VIS frames.");
        assert_eq!(
            entry.keywords,
            ["euclid", "vis", "euclid"],
            "kept as listed"
        );
        let text = format!("{entry:?}");
        assert!(!text.contains("A. Author"), "{text}");
        assert!(!text.contains("Author et al."), "{text}");
    }

    #[test]
    fn private_metadata_fields_never_reach_the_entry() {
        let entry = entry(json!({
            "title": "Euclid tools",
            "keywords": ["euclid"],
            "datalabImage": {
                "id": "registry.example/datalabs/jl-x@sha256:0123",
                "keyword": ["internal-only"],
            },
            "dateCreated": "2019-07-04T12:00:00Z",
        }));
        assert_eq!(entry.keywords, ["euclid"]);
        let text = format!("{entry:?}");
        for private in ["internal-only", "sha256:0123", "2019-07-04"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
    }

    #[test]
    fn facet_values_are_trimmed_without_blanks_sorted_and_each_given_once() {
        let entry = entry(json!({
            "domain": [" astronomy ", "astronomy", "", "cosmology"],
            "mission": ["Euclid", "  "],
            "instrument": ["VIS"],
            "audienceType": ["researchers"],
            "license": "  MIT ",
            "ESAOfficial": true,
        }));
        assert_eq!(entry.licence.as_deref(), Some("MIT"));
        assert!(entry.esa_official);
        assert_eq!(
            facet_values(&entry),
            [
                ("kind", "jupyterlab"),
                ("domain", "astronomy"),
                ("domain", "cosmology"),
                ("mission", "Euclid"),
                ("instrument", "VIS"),
                ("audience", "researchers"),
                ("licence", "MIT"),
                ("esa_official", "true"),
            ]
        );
    }

    #[test]
    fn missing_fields_leave_the_entry_without_them() {
        let entry = entry(json!({ "license": "   " }));
        assert_eq!(entry.title, "");
        assert!(entry.keywords.is_empty());
        assert_eq!(entry.licence, None, "a blank licence is none");
        assert!(!entry.esa_official);
        assert_eq!(
            facet_values(&entry),
            [("kind", "jupyterlab"), ("esa_official", "false")],
            "every entry has a kind and an ESA official value"
        );
    }

    #[test]
    fn keywords_must_be_a_list() {
        let error = search_entry(source(
            DatalabState::Published,
            Visibility::Public,
            Some(json!({ "keywords": "euclid, vis" })),
        ))
        .unwrap_err();
        assert_eq!(error.datalab, "jl-euclid-tools");
        assert!(
            error.to_string().starts_with("jl-euclid-tools: "),
            "{error}"
        );
    }

    #[test]
    fn only_published_datalabs_with_metadata_are_listed() {
        let metadata = json!({ "title": "Euclid tools" });
        for &state in DatalabState::ALL {
            if state == DatalabState::Published {
                continue;
            }
            assert_eq!(
                search_entry(source(state, Visibility::Public, Some(metadata.clone()))).unwrap(),
                None,
                "{state}"
            );
        }
        assert_eq!(
            search_entry(source(DatalabState::Published, Visibility::Public, None)).unwrap(),
            None
        );
        // Unreadable metadata of a datalab that is not listed is no error.
        let unreadable = json!({ "keywords": "euclid" });
        assert_eq!(
            search_entry(source(
                DatalabState::Draft,
                Visibility::Public,
                Some(unreadable)
            ))
            .unwrap(),
            None
        );
    }

    #[test]
    fn visibility_and_dates_come_from_the_datalab_and_its_shown_version() {
        let public = entry(json!({}));
        assert!(public.public);
        assert_eq!(public.created_at, at(1));
        assert_eq!(public.updated_at, at(3), "the version changed last");
        let private = search_entry(source(
            DatalabState::Published,
            Visibility::Private,
            Some(json!({})),
        ))
        .unwrap()
        .unwrap();
        assert!(!private.public);
        let mut newer_datalab =
            source(DatalabState::Published, Visibility::Public, Some(json!({})));
        newer_datalab.updated_at = at(4);
        assert_eq!(
            search_entry(newer_datalab).unwrap().unwrap().updated_at,
            at(4)
        );
    }
}

//! A marketplace search as the query string of `GET /api/marketplace` gives it, and its answer.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::CatalogError;
use super::facet::Facet;
use crate::metadata::DatalabKind;
use crate::storage::catalog::{MarketplacePage, SearchOrder};

pub const DEFAULT_PER_PAGE: u32 = 20;
/// Larger pages are refused: a client pages through instead.
pub const MAX_PER_PAGE: u32 = 100;
/// Highest page number accepted (far past any real result set; it keeps offsets small).
pub const MAX_PAGE: u32 = 1_000_000;
/// Longest `q` accepted, in characters.
pub const MAX_QUERY_CHARACTERS: usize = 200;
/// Most values one facet filter may list.
pub const MAX_VALUES_PER_FACET: usize = 20;

/// The single-valued parameters, besides the facets (which may repeat).
const SINGLE_PARAMETERS: [&str; 4] = ["q", "sort", "page", "per_page"];

/// A validated marketplace search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketplaceRequest {
    /// Lowercase words of letters and digits.
    pub words: Vec<String>,
    /// Allowed values per facet, each facet once.
    pub filters: Vec<(Facet, Vec<String>)>,
    pub order: SearchOrder,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl Default for MarketplaceRequest {
    fn default() -> Self {
        Self {
            words: Vec::new(),
            filters: Vec::new(),
            order: SearchOrder::Relevance,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl MarketplaceRequest {
    /// Reads the query string. Every parameter is checked, and an unknown one, a repeated single
    /// one or a value out of range is refused naming it: a misspelt filter (`license=MIT`) silently
    /// ignored would show results that look filtered and are not. A facet may repeat
    /// (`domain=a&domain=b` means either); an empty value of an open facet (`domain=`) is no
    /// filter, as an unset select box sends it, while the closed ones (`kind`, `esa_official`)
    /// refuse it as the OpenAPI document's enumerations do.
    pub fn from_query_string(query: &str) -> Result<Self, CatalogError> {
        let mut request = Self::default();
        let mut seen = BTreeSet::new();
        let mut filters: BTreeMap<Facet, Vec<String>> = BTreeMap::new();
        let mut given_values: BTreeMap<Facet, usize> = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let name = name.as_ref();
            if let Some(facet) = Facet::from_name(name) {
                // Counted as given, repeats and empty ones included, as the OpenAPI document's
                // `maxItems` counts them.
                let given = given_values.entry(facet).or_insert(0_usize);
                *given += 1;
                if *given > MAX_VALUES_PER_FACET {
                    return Err(invalid(
                        name,
                        format!("give at most {MAX_VALUES_PER_FACET} values"),
                    ));
                }
                let value = value.trim();
                if value.is_empty() && !facet.is_closed() {
                    continue;
                }
                check_facet_value(facet, value)?;
                let values = filters.entry(facet).or_default();
                if !values.iter().any(|known| known == value) {
                    values.push(value.to_owned());
                }
                continue;
            }
            if SINGLE_PARAMETERS.contains(&name) && !seen.insert(name.to_owned()) {
                return Err(invalid(name, "give it once"));
            }
            match name {
                "q" => request.words = words(&value)?,
                "sort" => request.order = order(&value)?,
                "page" => {
                    request.page = number(name, &value, 1, MAX_PAGE)?;
                }
                "per_page" => {
                    request.per_page = number(name, &value, 1, MAX_PER_PAGE)?;
                }
                other => {
                    let known: Vec<&str> = SINGLE_PARAMETERS
                        .into_iter()
                        .chain(Facet::ALL.into_iter().map(Facet::as_str))
                        .collect();
                    return Err(invalid(
                        other,
                        format!("unknown parameter; known are {}", known.join(", ")),
                    ));
                }
            }
        }
        request.filters = filters.into_iter().collect();
        Ok(request)
    }

    /// How many results come before this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

fn invalid(parameter: &str, reason: impl Into<String>) -> CatalogError {
    CatalogError::InvalidParameter {
        parameter: parameter.to_owned(),
        reason: reason.into(),
    }
}

/// The words of `q`: runs of letters and digits, lowercased; everything else separates them.
fn words(query: &str) -> Result<Vec<String>, CatalogError> {
    let characters = query.chars().count();
    if characters > MAX_QUERY_CHARACTERS {
        return Err(invalid(
            "q",
            format!("it has {characters} characters; at most {MAX_QUERY_CHARACTERS} are allowed"),
        ));
    }
    // The character limit bounds the words too (at most 100), so it is the only limit: one a
    // client can read in the OpenAPI document.
    let words: Vec<String> = query
        .split(|character: char| !character.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    Ok(words)
}

fn order(value: &str) -> Result<SearchOrder, CatalogError> {
    match value {
        "relevance" => Ok(SearchOrder::Relevance),
        "stars" => Ok(SearchOrder::Stars),
        "newest" => Ok(SearchOrder::Newest),
        "name" => Ok(SearchOrder::Name),
        other => Err(invalid(
            "sort",
            format!("{other:?} is not a sort order; use relevance, stars, newest or name"),
        )),
    }
}

fn number(parameter: &str, value: &str, least: u32, most: u32) -> Result<u32, CatalogError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|number| (least..=most).contains(number))
        .ok_or_else(|| {
            invalid(
                parameter,
                format!("{value:?} is not a whole number from {least} to {most}"),
            )
        })
}

/// Facets with a closed set of values refuse others; open ones (domains, missions...) take any.
fn check_facet_value(facet: Facet, value: &str) -> Result<(), CatalogError> {
    match facet {
        Facet::Kind => value
            .parse::<DatalabKind>()
            .map(drop)
            .map_err(|error| invalid(facet.as_str(), error.to_string())),
        Facet::EsaOfficial if !matches!(value, "true" | "false") => Err(invalid(
            facet.as_str(),
            format!("{value:?} is neither true nor false"),
        )),
        _ => Ok(()),
    }
}

/// One page of the marketplace.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MarketplaceResults {
    /// Results in all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub hits: Vec<MarketplaceHit>,
    pub facets: FacetCounts,
}

/// A datalab in the results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MarketplaceHit {
    pub name: String,
    /// `jupyterlab`, `desktop` or `generic`.
    pub kind: String,
    pub title: String,
    pub r#abstract: String,
    pub keywords: Vec<String>,
    /// SPDX expression.
    pub licence: Option<String>,
    pub stars: i64,
    pub esa_official: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// For each facet, its values and how many datalabs each would show: counted over the results of
/// the words and of the *other* facets' filters, so that a chosen value does not hide its
/// alternatives. Values without datalabs are left out; most datalabs first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FacetCounts {
    pub kind: Vec<FacetValueCount>,
    pub domain: Vec<FacetValueCount>,
    pub mission: Vec<FacetValueCount>,
    pub instrument: Vec<FacetValueCount>,
    pub audience: Vec<FacetValueCount>,
    pub licence: Vec<FacetValueCount>,
    /// `true` or `false`.
    pub esa_official: Vec<FacetValueCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FacetValueCount {
    pub value: String,
    pub count: i64,
}

impl MarketplaceResults {
    pub fn new(request: &MarketplaceRequest, page: MarketplacePage) -> Self {
        let mut facets = FacetCounts::default();
        for count in page.facet_counts {
            let values = match count.facet {
                Facet::Kind => &mut facets.kind,
                Facet::Domain => &mut facets.domain,
                Facet::Mission => &mut facets.mission,
                Facet::Instrument => &mut facets.instrument,
                Facet::Audience => &mut facets.audience,
                Facet::Licence => &mut facets.licence,
                Facet::EsaOfficial => &mut facets.esa_official,
            };
            values.push(FacetValueCount {
                value: count.value,
                count: count.count,
            });
        }
        let hits = page
            .hits
            .into_iter()
            .map(|hit| MarketplaceHit {
                name: hit.name,
                kind: hit.kind,
                title: hit.title,
                r#abstract: hit.r#abstract,
                keywords: hit.keywords,
                licence: hit.licence,
                stars: hit.stars,
                esa_official: hit.esa_official,
                created_at: hit.created_at,
                updated_at: hit.updated_at,
            })
            .collect();
        Self {
            total: page.total,
            page: request.page,
            per_page: request.per_page,
            hits,
            facets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str) -> String {
        match MarketplaceRequest::from_query_string(query) {
            Err(CatalogError::InvalidParameter { parameter, .. }) => parameter,
            other => panic!("{query}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_words_filters_order_and_page() {
        let request = MarketplaceRequest::from_query_string(
            "q=Galaxy+clusters%2C+X-ray&domain=astronomy&domain=cosmology&kind=jupyterlab\
             &esa_official=true&mission=&sort=stars&page=3&per_page=50",
        )
        .unwrap();
        assert_eq!(request.words, ["galaxy", "clusters", "x", "ray"]);
        assert_eq!(
            request.filters,
            [
                (Facet::Kind, vec!["jupyterlab".to_owned()]),
                (
                    Facet::Domain,
                    vec!["astronomy".to_owned(), "cosmology".to_owned()]
                ),
                (Facet::EsaOfficial, vec!["true".to_owned()]),
            ]
        );
        assert_eq!(request.order, SearchOrder::Stars);
        assert_eq!(request.offset(), 100);
        assert_eq!(
            MarketplaceRequest::from_query_string("").unwrap(),
            MarketplaceRequest::default()
        );
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        assert_eq!(refused("sort=popular"), "sort");
        assert_eq!(refused("page=0"), "page");
        assert_eq!(refused("page=two"), "page");
        assert_eq!(refused("page=1&page=2"), "page");
        assert_eq!(refused("per_page=101"), "per_page");
        assert_eq!(refused("license=MIT"), "license");
        assert_eq!(refused("kind=notebook"), "kind");
        assert_eq!(refused("esa_official=yes"), "esa_official");
        assert_eq!(refused("kind="), "kind");
        assert_eq!(refused("esa_official="), "esa_official");
        assert!(
            MarketplaceRequest::from_query_string("domain=&mission=")
                .unwrap()
                .filters
                .is_empty()
        );
        assert_eq!(refused(&format!("q={}", "a".repeat(201))), "q");
        assert_eq!(refused(&format!("page={}", MAX_PAGE + 1)), "page");
    }
}

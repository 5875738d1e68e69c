//! The marketplace catalogue: what is published, who may see it, how it is searched and starred,
//! and how it is described to the outside world (JSON-LD in [`linked_data`]).
//!
//! Where things live:
//!
//! - [`facet`]: the facets listings filter by and searches count (catalog vocabulary);
//! - [`search_entry`]: what a datalab's search entry holds (which metadata fields are searched
//!   and counted, how their values are cleaned), a pure function;
//! - [`search`]: a search as the query string gives it, and its answer;
//! - [`linked_data`]: the DCAT-AP / schema.org JSON-LD documents;
//! - [`routes`]: the HTTP handlers; [`CatalogService`] here, which they call.
//!
//! The SQL is in `storage::catalog`: the index writer, search, facet counts, stars and the
//! catalogue's reads. Searching reads the marketplace index; whoever changes what the marketplace
//! shows (a version's metadata or state, a datalab's state or visibility) calls
//! [`Database::refresh_datalab_search`](crate::storage::Database::refresh_datalab_search)
//! afterwards, which builds the entry with [`search_entry::search_entry`]. Storage may use the
//! plain types and functions of [`facet`] and [`search_entry`], which do no I/O; it never calls
//! [`CatalogService`].

pub mod facet;
pub mod linked_data;
pub mod routes;
pub mod search;
pub mod search_entry;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::accounts::{Caller, Role, User};
use crate::datalabs::visibility::{Access, Exposure, access, in_member_state};
use crate::licences::MemberStates;
use crate::metadata::policy::public_view;
use crate::metadata::{DatalabKind, Metadata};
use crate::storage::catalog::{
    CatalogDatalabRow, DescribedDatalabRow, MarketplaceQuery, Reach, Viewer,
};
use crate::storage::{Database, StorageError};
use linked_data::{BaseUrl, CatalogDescription, DatalabEntry, LinkedDataError};
use search::{MarketplaceRequest, MarketplaceResults};

/// How the operator describes the catalogue to harvesters: DCAT-AP requires a title, a description
/// and a publisher on every catalogue.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    pub title: String,
    pub description: String,
    /// Who runs the marketplace.
    pub publisher_name: String,
    /// The publisher's website, when it has one.
    pub publisher_url: Option<String>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            title: "labforge datalabs".to_owned(),
            description: "Ready-to-run analysis environments (datalabs) published on this \
                          labforge service, with the data volumes they can mount."
                .to_owned(),
            publisher_name: "labforge".to_owned(),
            publisher_url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A search parameter that cannot be used; `parameter` is its name in the query string.
    #[error("query parameter `{parameter}`: {reason}")]
    InvalidParameter { parameter: String, reason: String },
    /// No such datalab, or one the caller may not see: the two are not told apart.
    #[error("there is no datalab {0:?}")]
    UnknownDatalab(String),
    #[error("datalab {0:?} has no version with metadata yet")]
    NoMetadata(String),
    /// Stored metadata that does not make a description (it passed validation when stored).
    #[error("the metadata of datalab {name:?} cannot be described: {detail}")]
    UnreadableMetadata { name: String, detail: String },
    /// The public URL or the publisher URL of the configuration cannot start links.
    #[error("the catalogue's configured URL {url:?} is not usable: {detail}")]
    UnusableUrl { url: String, detail: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<LinkedDataError> for CatalogError {
    fn from(error: LinkedDataError) -> Self {
        match error {
            LinkedDataError::UnusableBaseUrl { url } => Self::UnusableUrl {
                url: url.to_string(),
                detail: "it must be an http or https URL without query or fragment".to_owned(),
            },
        }
    }
}

/// Whether `viewer` (`None` when anonymous) may see the datalab, by the one rule of
/// [`crate::datalabs::visibility`]; marketplace listings apply the same rule in SQL
/// (`storage::catalog`'s search), and the tests of both hold them together.
pub fn may_see(
    viewer: Option<&User>,
    datalab: &CatalogDatalabRow,
    member_states: &MemberStates,
) -> bool {
    let caller = viewer.map_or(Caller::Anonymous, |user| Caller::User(user.clone()));
    let exposure = Exposure {
        owner_id: &datalab.owner_id,
        state: datalab.state,
        visibility: datalab.visibility,
        caller_is_member: datalab.viewer_is_member,
        caller_in_member_state: in_member_state(&caller, member_states),
    };
    access(&caller, &exposure) >= Access::View
}

/// Whether the caller starred a datalab, and how many users did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StarState {
    pub starred: bool,
    pub stars: i64,
}

#[derive(Debug, Clone)]
pub struct CatalogService {
    database: Database,
    config: CatalogConfig,
    /// The URL users reach the service at, without a trailing slash.
    public_url: String,
    /// Who is in the ESA Member States audience.
    member_states: MemberStates,
}

impl CatalogService {
    pub fn new(
        database: Database,
        config: CatalogConfig,
        public_url: String,
        member_states: MemberStates,
    ) -> Self {
        Self {
            database,
            config,
            public_url,
            member_states,
        }
    }

    /// One page of the marketplace as `caller` may see it.
    pub async fn search(
        &self,
        caller: &Caller,
        request: &MarketplaceRequest,
    ) -> Result<MarketplaceResults, CatalogError> {
        let page = self
            .database
            .search_marketplace(&MarketplaceQuery {
                viewer: viewer(caller, &self.member_states),
                words: &request.words,
                filters: &request.filters,
                order: request.order,
                limit: i64::from(request.per_page),
                offset: request.offset(),
            })
            .await?;
        Ok(MarketplaceResults::new(request, page))
    }

    /// Stars the datalab `name` for `user`; starring twice is starring once.
    pub async fn star(&self, user: &User, name: &str) -> Result<StarState, CatalogError> {
        let datalab = self.visible_datalab(Some(user), name).await?;
        let stars = self
            .database
            .star_datalab(&datalab.id, &user.id, Utc::now())
            .await?;
        Ok(StarState {
            starred: true,
            stars,
        })
    }

    /// Takes `user`'s star back from the datalab `name`, if they gave one.
    pub async fn unstar(&self, user: &User, name: &str) -> Result<StarState, CatalogError> {
        let datalab = self.visible_datalab(Some(user), name).await?;
        let stars = self.database.unstar_datalab(&datalab.id, &user.id).await?;
        Ok(StarState {
            starred: false,
            stars,
        })
    }

    /// The JSON-LD document of the datalab `name` (`dcat:DataService` and
    /// `schema:SoftwareApplication`) with only the public view of its metadata, if `caller` may see
    /// it. This is what `GET /api/datalabs/{name}` answers to `Accept: application/ld+json`.
    pub async fn datalab_json_ld(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Value, CatalogError> {
        let datalab = self.visible_datalab(caller.user(), name).await?;
        let described = self
            .database
            .described_datalab(&datalab.id)
            .await?
            .ok_or_else(|| CatalogError::NoMetadata(name.to_owned()))?;
        let base_url = self.base_url()?;
        let entry = self.entry(described)?;
        Ok(linked_data::datalab_document(&entry, &base_url))
    }

    /// The public catalogue: every published public datalab, as one `dcat:Catalog` document. The
    /// same for every caller, so that harvesters and search engines see what anyone sees.
    pub async fn catalog_json_ld(&self) -> Result<Value, CatalogError> {
        let base_url = self.base_url()?;
        let mut entries = Vec::new();
        for described in self.database.published_public_datalabs().await? {
            match self.entry(described) {
                Ok(entry) => entries.push(entry),
                // One unreadable datalab must not take the whole catalogue down.
                Err(error) => tracing::warn!(%error, "datalab left out of the catalogue"),
            }
        }
        let publisher_url = self
            .config
            .publisher_url
            .as_deref()
            .map(parse_url)
            .transpose()?;
        let description = CatalogDescription {
            title: self.config.title.clone(),
            description: self.config.description.clone(),
            publisher_name: self.config.publisher_name.clone(),
            publisher_url,
            homepage: self.link(&["marketplace"])?,
        };
        Ok(linked_data::catalog_document(
            &description,
            &entries,
            &base_url,
        ))
    }

    async fn visible_datalab(
        &self,
        viewer: Option<&User>,
        name: &str,
    ) -> Result<CatalogDatalabRow, CatalogError> {
        let viewer_id = viewer.map(|user| user.id.as_str());
        self.database
            .catalog_datalab(name, viewer_id)
            .await?
            .filter(|datalab| may_see(viewer, datalab, &self.member_states))
            .ok_or_else(|| CatalogError::UnknownDatalab(name.to_owned()))
    }

    /// The linked-data entry of a described datalab, from the public view of its metadata.
    fn entry(&self, described: DescribedDatalabRow) -> Result<DatalabEntry, CatalogError> {
        let unreadable = |detail: String| CatalogError::UnreadableMetadata {
            name: described.name.clone(),
            detail,
        };
        let metadata: Metadata = serde_json::from_value(public_view(&described.metadata.0))
            .map_err(|error| unreadable(error.to_string()))?;
        let kind = described
            .kind
            .parse::<DatalabKind>()
            .map_err(|error| unreadable(error.to_string()))?;
        Ok(DatalabEntry {
            page_url: self.link(&["marketplace", &described.name])?,
            endpoint_url: self.link(&["launch", &described.id])?,
            id: described.id,
            kind,
            metadata,
            issued: described.created_at,
            modified: described.updated_at.max(described.version_updated_at),
            // Volumes are chosen at launch, which does not exist yet; until a datalab can declare
            // the volumes it works with, it serves none.
            volumes: Vec::new(),
        })
    }

    fn base_url(&self) -> Result<BaseUrl, CatalogError> {
        Ok(BaseUrl::new(parse_url(&self.public_url)?)?)
    }

    /// `public_url` with `segments` appended, each percent-encoded as one path segment.
    fn link(&self, segments: &[&str]) -> Result<Url, CatalogError> {
        let mut url = parse_url(&self.public_url)?;
        url.path_segments_mut()
            .map_err(|()| CatalogError::UnusableUrl {
                url: self.public_url.clone(),
                detail: "it cannot have a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

fn parse_url(text: &str) -> Result<Url, CatalogError> {
    Url::parse(text).map_err(|error| CatalogError::UnusableUrl {
        url: text.to_owned(),
        detail: error.to_string(),
    })
}

fn viewer<'a>(caller: &'a Caller, member_states: &MemberStates) -> Viewer<'a> {
    let reach = if caller.is_at_least(Role::Moderator) {
        Reach::Everything
    } else if in_member_state(caller, member_states) {
        Reach::MemberStates
    } else {
        Reach::Public
    };
    Viewer {
        user_id: caller.user().map(|user| user.id.as_str()),
        reach,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::accounts::User;
    use crate::datalabs::states::{DatalabState, Visibility};

    fn datalab(
        state: DatalabState,
        visibility: Visibility,
        viewer_is_member: bool,
    ) -> CatalogDatalabRow {
        CatalogDatalabRow {
            id: "d-1".to_owned(),
            owner_id: "owner".to_owned(),
            visibility,
            state,
            viewer_is_member,
        }
    }

    fn user(id: &str, role: Role) -> User {
        User {
            id: id.to_owned(),
            name: id.to_owned(),
            email: None,
            role,
            affiliation_country: None,
            disabled: false,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn published_public_datalabs_are_for_everyone_the_rest_for_owner_members_and_moderators() {
        let stranger = user("stranger", Role::Author);
        let owner = user("owner", Role::Researcher);
        let moderator = user("moderator", Role::Moderator);
        let admin = user("admin", Role::Admin);
        let public = datalab(DatalabState::Published, Visibility::Public, false);
        for viewer in [None, Some(&stranger), Some(&owner), Some(&moderator)] {
            assert!(may_see(viewer, &public, &MemberStates::default()));
        }
        for hidden in [
            datalab(DatalabState::Published, Visibility::Private, false),
            datalab(DatalabState::Draft, Visibility::Public, false),
        ] {
            assert!(!may_see(None, &hidden, &MemberStates::default()));
            assert!(!may_see(Some(&stranger), &hidden, &MemberStates::default()));
            assert!(may_see(Some(&owner), &hidden, &MemberStates::default()));
            assert!(may_see(Some(&moderator), &hidden, &MemberStates::default()));
            assert!(may_see(Some(&admin), &hidden, &MemberStates::default()));
        }
        let shared = datalab(DatalabState::Published, Visibility::Private, true);
        assert!(
            may_see(Some(&stranger), &shared, &MemberStates::default()),
            "a member sees it"
        );
        assert!(!may_see(None, &shared, &MemberStates::default()));
    }
}

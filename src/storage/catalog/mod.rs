//! The marketplace in storage: its search index, stars, and the reads behind the catalogue, one
//! file per concern, each adding its methods to [`Database`](super::Database):
//!
//! - `index`: the index's only writer, `refresh_datalab_search`; what an entry holds is decided by
//!   [`crate::catalog::search_entry`], a pure function this writer calls in its transaction;
//! - `search`: `search_marketplace`, its text query and its page statement;
//! - `facets`: the facet values by code and the one-pass facet count of a search;
//! - `stars`: `star_datalab`, `unstar_datalab`;
//! - `reads`: the datalab rows the catalogue's visibility check and JSON-LD documents are made of.
//!
//! Storage depends on the catalog's plain vocabulary ([`Facet`](crate::catalog::facet::Facet),
//! the entry policy), never on its service; the catalog service calls storage.

/// The id of the version whose metadata the marketplace shows for the datalab `d`: the newest
/// published version with metadata, else the newest version with metadata.
macro_rules! shown_version_id {
    () => {
        "(SELECT v.id FROM versions v WHERE v.datalab_id = d.id AND v.metadata IS NOT NULL \
         ORDER BY (v.state = 'published') DESC, v.created_at DESC, v.id DESC LIMIT 1)"
    };
}

mod facets;
mod index;
mod reads;
mod search;
mod stars;

pub use facets::FacetCount;
pub use reads::{CatalogDatalabRow, DescribedDatalabRow};
pub use search::{MarketplaceHit, MarketplacePage, MarketplaceQuery, Reach, SearchOrder, Viewer};

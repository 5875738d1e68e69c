//! The marketplace's facets: the properties of datalabs that listings filter by and that search
//! results count. They are catalog vocabulary, shared by the query string
//! ([`super::search`]), the policy of what an entry holds ([`super::search_entry`]) and the index
//! in storage, which keeps each facet's values under the facet's name.

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

    /// The facet whose [`as_str`](Self::as_str) is `name`, read back from the index or the query
    /// string.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|facet| facet.as_str() == name)
    }

    /// Whether the facet takes only a fixed set of values (`kind`, `esa_official`) rather than
    /// whatever the published metadata says.
    pub const fn is_closed(self) -> bool {
        matches!(self, Self::Kind | Self::EsaOfficial)
    }

    /// A distinct number below [`Self::ALL`]'s length, so that a set of facets fits in the bits of
    /// a byte when counting.
    pub const fn position(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_facet_is_found_by_its_name_and_only_by_it() {
        for facet in Facet::ALL {
            assert_eq!(Facet::from_name(facet.as_str()), Some(facet));
        }
        assert_eq!(Facet::from_name("license"), None);
        assert_eq!(Facet::from_name("Kind"), None);
    }

    #[test]
    fn positions_are_distinct_and_fit_in_a_byte() {
        let mut positions: Vec<usize> = Facet::ALL.into_iter().map(Facet::position).collect();
        positions.sort_unstable();
        positions.dedup();
        assert_eq!(positions.len(), Facet::ALL.len());
        assert!(
            positions.iter().all(|position| *position < 8),
            "counting keeps a set of facets in the bits of a u8"
        );
    }
}

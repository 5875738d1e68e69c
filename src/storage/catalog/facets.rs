//! Facet counts of a marketplace search, and the dictionary of facet values by code they are
//! counted with.
//!
//! Facet counts follow the usual app-store rule: each facet is counted over the entries that match
//! the words and every *other* facet's filter, so choosing `domain=astronomy` still shows how many
//! entries the other domains would add. They are computed here, from the matching entries' facet
//! codes read as one aggregated string and counted in one pass, rather than by a grouped join over
//! the facet rows: for 10,000 entries the join took about 100 ms in SQLite, the read and the pass a
//! few milliseconds (measured while choosing; `bench/marketplace.sh` measures the whole search).

use std::collections::HashMap;

use crate::catalog::facet::Facet;
use crate::storage::StorageError;

/// How many entries one facet value would show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub facet: Facet,
    pub value: String,
    pub count: i64,
}

/// The facet values by code, read at the start of each search. Codes are small and dense (one per
/// distinct value ever indexed), so counts are kept in vectors indexed by code.
pub(super) struct FacetDictionary {
    by_code: Vec<Option<(Facet, String)>>,
}

impl FacetDictionary {
    pub(super) fn new(rows: Vec<(i64, String, String)>) -> Result<Self, StorageError> {
        let mut by_code = Vec::new();
        for (code, facet_name, value) in rows {
            let facet = Facet::from_name(&facet_name).ok_or_else(|| StorageError::Corrupt {
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
    pub(super) fn filter_codes(&self, filters: &[(Facet, Vec<String>)]) -> Vec<(Facet, Vec<i64>)> {
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
pub(super) struct FacetTally {
    pub(super) total: i64,
    /// Entries counted for each code, by position.
    counts: Vec<i64>,
}

impl FacetTally {
    /// Counts over `entries` (`;` between entries, spaces between an entry's codes). An entry that
    /// passes every filter is a result and counts for all its values; one that fails exactly one
    /// facet's filter counts only for that facet's values, which is what the facet would show were
    /// its own filter lifted. Codes the dictionary does not know (indexed after it was read) are
    /// skipped.
    pub(super) fn count(
        entries: &str,
        dictionary: &FacetDictionary,
        filters: &[(Facet, Vec<i64>)],
    ) -> Self {
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

    pub(super) fn into_facet_counts(self, dictionary: &FacetDictionary) -> Vec<FacetCount> {
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
}

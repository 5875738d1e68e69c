//! What each licence is, for publishing: the table `spdx-licenses/classification.csv` (each row
//! with its source), and, for a licence not in it, what the SPDX list's flags say (OSI-approved or
//! FSF-libre: redistributable; copyleft). The categories decide the audiences in
//! [`Category::audiences`]; the copyleft strength decides the obligations in
//! [`super::decision`].

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;

use super::decision::Audience;
use super::expression::{Licence, NOASSERTION};

const CLASSIFICATION_CSV: &str = include_str!("../../spdx-licenses/classification.csv");

/// The `LicenseRef-` ids labforge knows (each has a row in the table): the ESA Software Community
/// Licence v2.4, which the SPDX list does not carry, and "proprietary".
pub const KNOWN_REFERENCES: [&str; 4] = [
    "LicenseRef-ESA-CL-permissive-2.4",
    "LicenseRef-ESA-CL-weak-copyleft-2.4",
    "LicenseRef-ESA-CL-strong-copyleft-2.4",
    "LicenseRef-proprietary",
];

/// The ESA licences, in the order the picker shows them after the popular ones.
pub const ESA_LICENCES: [&str; 6] = [
    "ESA-PL-permissive-2.4",
    "ESA-PL-weak-copyleft-2.4",
    "ESA-PL-strong-copyleft-2.4",
    "LicenseRef-ESA-CL-permissive-2.4",
    "LicenseRef-ESA-CL-weak-copyleft-2.4",
    "LicenseRef-ESA-CL-strong-copyleft-2.4",
];

/// What a licence allows, for publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Permissive,
    WeakCopyleft,
    StrongCopyleft,
    /// Copyleft that also covers use over a network (AGPL; ESA-PL strong copyleft, section 3.4).
    NetworkCopyleft,
    /// Forbids commercial use (the CC BY-NC family).
    NonCommercial,
    /// Limits use and distribution to the ESA Member States (the ESA-CL licences).
    MemberStatesOnly,
    Proprietary,
    /// Not in labforge's table; SPDX marks it OSI-approved or FSF-libre.
    OsiOrFsfApproved,
    /// Not in labforge's table, and SPDX marks it neither OSI-approved nor FSF-libre.
    NotClassified,
    /// `NOASSERTION`: the licence was not determined.
    NoAssertion,
}

impl Category {
    /// The audiences a licence of this category allows, widest first.
    pub const fn audiences(self) -> &'static [Audience] {
        match self {
            Self::Permissive
            | Self::WeakCopyleft
            | Self::StrongCopyleft
            | Self::NetworkCopyleft
            | Self::OsiOrFsfApproved => {
                &[Audience::Public, Audience::MemberStates, Audience::Private]
            }
            Self::MemberStatesOnly => &[Audience::MemberStates, Audience::Private],
            Self::NonCommercial | Self::Proprietary | Self::NotClassified | Self::NoAssertion => {
                &[Audience::Private]
            }
        }
    }

    pub fn allows(self, audience: Audience) -> bool {
        self.audiences().contains(&audience)
    }

    /// The category in words, for reasons.
    pub const fn in_words(self) -> &'static str {
        match self {
            Self::Permissive => "permissive",
            Self::WeakCopyleft => "weak copyleft",
            Self::StrongCopyleft => "strong copyleft",
            Self::NetworkCopyleft => "network copyleft",
            Self::NonCommercial => "non-commercial",
            Self::MemberStatesOnly => "limited to the ESA Member States",
            Self::Proprietary => "proprietary",
            Self::OsiOrFsfApproved => "not in labforge's table, but OSI-approved or FSF-libre",
            Self::NotClassified => "not in labforge's table",
            Self::NoAssertion => "no licence stated",
        }
    }

    fn from_table(text: &str) -> Option<Self> {
        Some(match text {
            "permissive" => Self::Permissive,
            "weak-copyleft" => Self::WeakCopyleft,
            "strong-copyleft" => Self::StrongCopyleft,
            "network-copyleft" => Self::NetworkCopyleft,
            "non-commercial" => Self::NonCommercial,
            "member-states-only" => Self::MemberStatesOnly,
            "proprietary" => Self::Proprietary,
            _ => return None,
        })
    }
}

/// How far a licence's copyleft reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Copyleft {
    None,
    /// Changes to the licensed files stay open.
    Weak,
    /// The whole work stays open when distributed.
    Strong,
    /// Also when the work is used over a network.
    Network,
}

impl Copyleft {
    fn from_table(text: &str) -> Option<Self> {
        Some(match text {
            "none" => Self::None,
            "weak" => Self::Weak,
            "strong" => Self::Strong,
            "network" => Self::Network,
            _ => return None,
        })
    }
}

/// One licence as labforge classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    pub copyleft: Copyleft,
    /// Where the classification comes from: a table row's source, or the SPDX list's flags.
    pub source: &'static str,
    /// Rank in the picker's popular group.
    pub popular: Option<u32>,
}

/// A row of `classification.csv`.
#[derive(Debug)]
struct Row {
    id: &'static str,
    name: &'static str,
    category: Category,
    copyleft: Copyleft,
    popular: Option<u32>,
    source: &'static str,
}

/// The table, parsed once; a malformed row is a programming error the unit tests catch.
static TABLE: LazyLock<Vec<Row>> = LazyLock::new(|| {
    parse_table(CLASSIFICATION_CSV)
        .unwrap_or_else(|problem| panic!("classification.csv: {problem}"))
});

static BY_ID: LazyLock<HashMap<&'static str, &'static Row>> =
    LazyLock::new(|| TABLE.iter().map(|row| (row.id, row)).collect());

fn parse_table(text: &'static str) -> Result<Vec<Row>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err("no header".to_owned());
    };
    if header != "id,name,category,copyleft,popular,source" {
        return Err(format!("unexpected header `{header}`"));
    }
    lines
        .map(|(index, line)| {
            let fields: Vec<&'static str> = line.splitn(6, ',').collect();
            let [id, name, category, copyleft, popular, source] = fields[..] else {
                return Err(format!("line {}: six fields expected", index + 1));
            };
            let problem = |what: &str| format!("line {}: {what}", index + 1);
            Ok(Row {
                id,
                name,
                category: Category::from_table(category)
                    .ok_or_else(|| problem(&format!("unknown category `{category}`")))?,
                copyleft: Copyleft::from_table(copyleft)
                    .ok_or_else(|| problem(&format!("unknown copyleft `{copyleft}`")))?,
                popular: if popular.is_empty() {
                    None
                } else {
                    Some(
                        popular
                            .parse()
                            .map_err(|_| problem(&format!("popular `{popular}` is no rank")))?,
                    )
                },
                source,
            })
        })
        .collect()
}

const FLAGS_SOURCE: &str = "the SPDX licence list's OSI-approved, FSF-libre and copyleft flags";

/// How labforge classifies `licence`: its table row, else what the SPDX list's flags say.
pub fn classify(licence: Licence) -> Classification {
    let from_row = |row: &Row, name: &'static str| Classification {
        id: row.id,
        name,
        category: row.category,
        copyleft: row.copyleft,
        source: row.source,
        popular: row.popular,
    };
    match licence {
        Licence::Spdx(id) => match BY_ID.get(id.name) {
            Some(row) => from_row(row, id.full_name),
            None => by_flags(id),
        },
        // The table has a row for each known reference (checked by the unit tests).
        Licence::Reference(reference) => {
            let row = BY_ID[reference];
            from_row(row, row.name)
        }
        Licence::NoAssertion => Classification {
            id: NOASSERTION,
            name: "No assertion: the licence was not determined",
            category: Category::NoAssertion,
            copyleft: Copyleft::None,
            source: "SPDX specification: NOASSERTION",
            popular: None,
        },
    }
}

/// A listed licence labforge's table does not classify: OSI-approved or FSF-libre means
/// redistributable; the copyleft flag, whose strength SPDX does not give, counts as strong.
fn by_flags(id: spdx::LicenseId) -> Classification {
    Classification {
        id: id.name,
        name: id.full_name,
        category: if id.is_osi_approved() || id.is_fsf_free_libre() {
            Category::OsiOrFsfApproved
        } else {
            Category::NotClassified
        },
        copyleft: if id.is_copyleft() {
            Copyleft::Strong
        } else {
            Copyleft::None
        },
        source: FLAGS_SOURCE,
        popular: None,
    }
}

/// Every licence an author can pick: the table's and the SPDX list's current ids, popular first
/// (by rank), then the ESA licences, then all others by id.
pub fn picker_order() -> Vec<(PickerGroup, Classification)> {
    let mut popular: Vec<Classification> = TABLE
        .iter()
        .filter(|row| row.popular.is_some())
        .map(|row| classify(licence_of(row.id)))
        .collect();
    popular.sort_by_key(|classification| classification.popular);
    let esa = ESA_LICENCES.iter().map(|id| classify(licence_of(id)));
    let listed = spdx::identifiers::LICENSES
        .iter()
        .filter_map(|known| spdx::license_id(known.name))
        .filter(|id| !id.is_deprecated())
        .map(Licence::Spdx);
    let mut others: Vec<Classification> = listed
        .chain([Licence::Reference("LicenseRef-proprietary")])
        .map(classify)
        .filter(|classification| {
            classification.popular.is_none() && !ESA_LICENCES.contains(&classification.id)
        })
        .collect();
    others.sort_by_key(|classification| classification.id.to_ascii_lowercase());
    popular
        .into_iter()
        .map(|classification| (PickerGroup::Popular, classification))
        .chain(esa.map(|classification| (PickerGroup::Esa, classification)))
        .chain(
            others
                .into_iter()
                .map(|classification| (PickerGroup::Other, classification)),
        )
        .collect()
}

/// Which group of the licence picker a licence is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PickerGroup {
    Popular,
    Esa,
    Other,
}

/// The licence a table id names: an SPDX id or one of [`KNOWN_REFERENCES`].
fn licence_of(id: &str) -> Licence {
    spdx::license_id(id).map_or_else(
        || {
            Licence::Reference(
                KNOWN_REFERENCES
                    .iter()
                    .find(|known| **known == id)
                    .unwrap_or_else(|| panic!("{id} is neither an SPDX id nor a known reference")),
            )
        },
        Licence::Spdx,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_row_names_a_current_id_once_with_a_source_and_agreeing_columns() {
        let table = parse_table(CLASSIFICATION_CSV).unwrap();
        assert!(table.len() > 50, "{} rows", table.len());
        let mut seen = HashSet::new();
        for row in &table {
            assert!(seen.insert(row.id), "{} appears twice", row.id);
            if row.id.starts_with("LicenseRef-") {
                assert!(KNOWN_REFERENCES.contains(&row.id), "{}", row.id);
                assert!(!row.name.is_empty(), "{} needs a name", row.id);
            } else {
                let id = spdx::license_id(row.id)
                    .unwrap_or_else(|| panic!("{} is not on the spdx crate's list", row.id));
                assert_eq!(id.name, row.id, "{} is written as on the list", row.id);
                assert!(!id.is_deprecated(), "{} is deprecated", row.id);
                assert!(row.name.is_empty(), "{} takes the SPDX list's name", row.id);
            }
            assert!(row.source.len() > 10, "{} needs a source", row.id);
            let expected_copyleft = match row.category {
                Category::Permissive | Category::Proprietary => Some(Copyleft::None),
                Category::WeakCopyleft => Some(Copyleft::Weak),
                Category::StrongCopyleft => Some(Copyleft::Strong),
                Category::NetworkCopyleft => Some(Copyleft::Network),
                _ => None,
            };
            if let Some(expected) = expected_copyleft {
                assert_eq!(row.copyleft, expected, "{}", row.id);
            }
        }
        for known in KNOWN_REFERENCES {
            assert!(seen.contains(known), "{known} has no row");
        }
        for esa in ESA_LICENCES {
            assert!(seen.contains(esa), "{esa} has no row");
        }
        let mut ranks: Vec<u32> = table.iter().filter_map(|row| row.popular).collect();
        ranks.sort_unstable();
        assert_eq!(
            ranks,
            (1..=u32::try_from(ranks.len()).unwrap()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_esa_public_licences_are_not_all_permissive() {
        let category = |id| classify(licence_of(id)).category;
        assert_eq!(category("ESA-PL-permissive-2.4"), Category::Permissive);
        assert_eq!(category("ESA-PL-weak-copyleft-2.4"), Category::WeakCopyleft);
        assert_eq!(
            category("ESA-PL-strong-copyleft-2.4"),
            Category::NetworkCopyleft
        );
    }

    #[test]
    fn licences_outside_the_table_are_judged_by_their_spdx_flags() {
        let gfdl = classify(Licence::Spdx(spdx::license_id("GFDL-1.3-only").unwrap()));
        assert_eq!(gfdl.category, Category::OsiOrFsfApproved);
        assert_eq!(gfdl.copyleft, Copyleft::Strong);
        assert_eq!(gfdl.source, FLAGS_SOURCE);
        let beerware = classify(Licence::Spdx(spdx::license_id("Beerware").unwrap()));
        assert_eq!(beerware.category, Category::NotClassified);
    }

    #[test]
    fn the_picker_shows_popular_then_esa_then_all_others_once() {
        let order = picker_order();
        let ids: Vec<&str> = order.iter().map(|(_, licence)| licence.id).collect();
        assert_eq!(&ids[..3], ["MIT", "Apache-2.0", "BSD-3-Clause"]);
        let first_esa = ids.iter().position(|id| *id == ESA_LICENCES[0]).unwrap();
        assert_eq!(&ids[first_esa..first_esa + 6], ESA_LICENCES);
        assert!(
            order[..first_esa]
                .iter()
                .all(|(group, _)| *group == PickerGroup::Popular)
        );
        assert!(
            order[first_esa + 6..]
                .iter()
                .all(|(group, _)| *group == PickerGroup::Other)
        );
        let unique: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.contains(&"Beerware") && ids.contains(&"LicenseRef-proprietary"));
        assert!(!ids.contains(&"GPL-2.0"), "deprecated ids are not offered");
    }
}

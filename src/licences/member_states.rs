//! The ESA Member States: dated configuration, not code. The default is
//! `spdx-licenses/esa-member-states.toml`, embedded at build time; an operator replaces it with
//! `[licences.member_states]` in the configuration file (the same keys) when ESA's membership
//! changes before a release does.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

const DEFAULT_TOML: &str = include_str!("../../spdx-licenses/esa-member-states.toml");

/// The ESA Member States as ISO 3166-1 alpha-2 codes, with the date the list was taken and where
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MemberStatesFile", into = "MemberStatesFile")]
pub struct MemberStates {
    taken: NaiveDate,
    source: String,
    countries: BTreeSet<String>,
}

/// The list as written in TOML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberStatesFile {
    /// `YYYY-MM-DD`.
    taken: String,
    source: String,
    countries: Vec<String>,
}

impl TryFrom<MemberStatesFile> for MemberStates {
    type Error = String;

    fn try_from(file: MemberStatesFile) -> Result<Self, String> {
        let taken = NaiveDate::parse_from_str(&file.taken, "%Y-%m-%d").map_err(|_| {
            format!(
                "member states: taken = {:?} is not a date like \"2025-01-13\"",
                file.taken
            )
        })?;
        if file.source.trim().is_empty() {
            return Err("member states: `source` must say where the list comes from".to_owned());
        }
        let mut countries = BTreeSet::new();
        for country in file.countries {
            if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
                return Err(format!(
                    "member states: {country:?} is not an ISO 3166-1 alpha-2 code like \"DE\""
                ));
            }
            if !countries.insert(country.clone()) {
                return Err(format!("member states: {country:?} is listed twice"));
            }
        }
        if countries.is_empty() {
            return Err("member states: `countries` lists none".to_owned());
        }
        Ok(Self {
            taken,
            source: file.source,
            countries,
        })
    }
}

impl From<MemberStates> for MemberStatesFile {
    fn from(states: MemberStates) -> Self {
        Self {
            taken: states.taken.format("%Y-%m-%d").to_string(),
            source: states.source,
            countries: states.countries.into_iter().collect(),
        }
    }
}

impl Default for MemberStates {
    fn default() -> Self {
        toml::from_str(DEFAULT_TOML).expect("spdx-licenses/esa-member-states.toml is valid")
    }
}

impl MemberStates {
    /// Whether `country` (an ISO 3166-1 alpha-2 code, either case) is an ESA Member State.
    pub fn includes(&self, country: &str) -> bool {
        self.countries.contains(&country.to_ascii_uppercase())
    }

    pub fn taken(&self) -> NaiveDate {
        self.taken
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The codes, in alphabetical order.
    pub fn countries(&self) -> impl Iterator<Item = &str> {
        self.countries.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_holds_the_twenty_three_member_states() {
        let states = MemberStates::default();
        assert_eq!(states.countries().count(), 23);
        assert!(states.includes("de") && states.includes("SI") && states.includes("GB"));
        assert!(!states.includes("US") && !states.includes("CA") && !states.includes("SK"));
        assert_eq!(
            states.taken(),
            NaiveDate::from_ymd_opt(2025, 1, 13).unwrap()
        );
    }

    #[test]
    fn a_list_with_a_bad_code_or_date_is_refused() {
        let read = |text: &str| toml::from_str::<MemberStates>(text).map_err(|e| e.to_string());
        let error =
            read("taken = \"2025-01-13\"\nsource = \"x\"\ncountries = [\"DEU\"]").unwrap_err();
        assert!(
            error.contains("\"DEU\" is not an ISO 3166-1 alpha-2 code"),
            "{error}"
        );
        let error =
            read("taken = \"13/01/2025\"\nsource = \"x\"\ncountries = [\"DE\"]").unwrap_err();
        assert!(error.contains("not a date"), "{error}");
        let states =
            read("taken = \"2030-01-01\"\nsource = \"ESA\"\ncountries = [\"DE\", \"UA\"]").unwrap();
        assert!(states.includes("UA"));
    }

    #[test]
    fn the_list_survives_a_round_trip_through_the_configuration() {
        let states = MemberStates::default();
        let text = toml::to_string(&states).unwrap();
        assert_eq!(toml::from_str::<MemberStates>(&text).unwrap(), states);
    }
}

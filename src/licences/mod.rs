//! The licence engine: which audiences a datalab's SPDX licence expression allows, with which
//! obligations, and why. One engine answers the metadata check, the licence picker
//! (`GET /api/licences`), the evaluate endpoint, the command line (`labforge licence check`) and
//! the publishing workflow.
//!
//! Where things live:
//!
//! - [`expression`]: reading an expression strictly, within limits ([`LicenceExpression::parse`]);
//! - [`classification`]: what each licence is (`spdx-licenses/classification.csv`, else the SPDX
//!   list's flags) and which audiences its category allows;
//! - [`decision`]: combining the licences of an expression for a requested audience
//!   ([`decide`]), `AND` needing all, `OR` taking the side that asks the least;
//! - [`member_states`]: the dated list of ESA Member States, configuration rather than code;
//! - [`routes`]: the HTTP handlers; [`LicenceService`] here, which they call.
//!
//! The engine does no I/O: publishing calls [`evaluate`] (or [`LicenceExpression::parse`] then
//! [`decide`]) with the audience an author asks for and checks [`Decision::allowed`] and
//! [`Decision::obligations`]; audiences use [`MemberStates::includes`] for a user's country.

pub mod classification;
pub mod decision;
pub mod error;
pub mod expression;
pub mod member_states;
pub mod routes;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use classification::{Category, Copyleft, PickerGroup};
pub use decision::{Audience, Decision, LicenceSummary, Obligation, decide};
pub use error::LicenceError;
pub use expression::{LicenceExpression, MAX_EXPRESSION_CHARACTERS, MAX_NESTING};
pub use member_states::MemberStates;

/// Parses `expression` and decides what it allows for `audience`.
pub fn evaluate(expression: &str, audience: Audience) -> Result<Decision, LicenceError> {
    Ok(decide(&LicenceExpression::parse(expression)?, audience))
}

/// The licences domain's settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LicencesConfig {
    /// The ESA Member States (`taken`, `source`, `countries`); replace all three together.
    pub member_states: MemberStates,
}

/// A request to evaluate an expression.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRequest {
    /// An SPDX licence expression, like `MIT OR Apache-2.0`.
    #[schema(min_length = 1, max_length = 1000, example = "MIT OR Apache-2.0")]
    pub expression: String,
    /// The audience to decide for; public when left out.
    #[serde(default = "public")]
    pub audience: Audience,
}

const fn public() -> Audience {
    Audience::Public
}

/// Every licence an author can pick, in the picker's order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LicenceList {
    /// The version of the SPDX licence list the ids come from.
    pub spdx_list_version: String,
    /// Popular licences first, then the ESA licences, then all others by id.
    pub licences: Vec<LicenceEntry>,
    /// The countries of the `member_states` audience.
    pub member_states: MemberStatesView,
}

/// One licence of the picker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LicenceEntry {
    pub id: String,
    pub name: String,
    pub group: PickerGroup,
    pub category: Category,
    /// The audiences it allows alone, widest first.
    pub audiences: Vec<Audience>,
}

/// The ESA Member States as configured.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberStatesView {
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// The date the list was taken.
    pub taken: chrono::NaiveDate,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct LicenceService {
    member_states: Arc<MemberStates>,
}

impl LicenceService {
    pub fn new(config: LicencesConfig) -> Self {
        Self {
            member_states: Arc::new(config.member_states),
        }
    }

    pub fn member_states(&self) -> &MemberStates {
        &self.member_states
    }

    /// The decision for `request`; when the ESA Member States matter to it, a last reason says
    /// which countries they are and as of when.
    pub fn evaluate(&self, request: &EvaluationRequest) -> Result<Decision, LicenceError> {
        let mut decision = evaluate(&request.expression, request.audience)?;
        let member_states_matter = request.audience == Audience::MemberStates
            || decision
                .licences
                .iter()
                .any(|licence| licence.category == Category::MemberStatesOnly);
        if member_states_matter {
            decision.reasons.push(format!(
                "The ESA Member States, as listed on {}: {}.",
                self.member_states.taken(),
                self.member_states
                    .countries()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(decision)
    }

    pub fn list(&self) -> LicenceList {
        LicenceList {
            spdx_list_version: spdx::license_version().to_owned(),
            licences: classification::picker_order()
                .into_iter()
                .map(|(group, licence)| LicenceEntry {
                    id: licence.id.to_owned(),
                    name: licence.name.to_owned(),
                    group,
                    category: licence.category,
                    audiences: licence.category.audiences().to_vec(),
                })
                .collect(),
            member_states: MemberStatesView {
                countries: self.member_states.countries().map(str::to_owned).collect(),
                taken: self.member_states.taken(),
                source: self.member_states.source().to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod cases;

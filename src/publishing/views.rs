//! Submissions, reviews and the history as the API shows them and takes them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::changes::FieldChange;
use super::states::{ReviewDecision, SubmissionState};
use crate::datalabs::{Build, Visibility};
use crate::licences::Decision;
use crate::metadata::DatalabKind;
use crate::storage::StorageError;
use crate::storage::submissions::{HistoryRow, SubmissionRow};

/// What an author asks for when submitting a version.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    /// Who may see the datalab once it is published.
    pub audience: Visibility,
    /// A note for the moderators (what changed, what was fixed); kept in the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 10000)]
    pub comment: Option<String>,
}

/// A moderator's decision on a submission awaiting review.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: ReviewDecision,
    /// Required to request changes or reject; shown to the author and kept in the history.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub comment: Option<String>,
}

/// Why a datalab is deprecated or archived; kept in its history.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRequest {
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub comment: Option<String>,
}

/// A version put forward for publication.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: String,
    pub datalab: String,
    pub kind: DatalabKind,
    pub version: String,
    /// The build that was checked, `<version>-<number>`.
    pub build: String,
    pub submitted_by: String,
    pub audience: Visibility,
    /// The SPDX expression of the version's metadata when it was submitted.
    pub licence: String,
    pub state: SubmissionState,
    /// For an update of a published datalab, what differs from the last approved version;
    /// empty for a first publication.
    pub changes: Vec<FieldChange>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<SubmissionRow> for Submission {
    type Error = StorageError;

    fn try_from(row: SubmissionRow) -> Result<Self, StorageError> {
        let changes = match row.changes {
            Some(changes) => {
                serde_json::from_value(changes.0).map_err(|error| StorageError::Corrupt {
                    what: "submission changes",
                    detail: error.to_string(),
                })?
            }
            None => Vec::new(),
        };
        Ok(Self {
            kind: row.kind.parse().map_err(|_| StorageError::Corrupt {
                what: "datalab kind",
                detail: row.kind.clone(),
            })?,
            build: format!("{}-{}", row.version, row.build_number),
            id: row.id,
            datalab: row.datalab_name,
            version: row.version,
            submitted_by: row.submitter_name,
            audience: row.visibility,
            licence: row.licence,
            state: row.state,
            changes,
            submitted_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Everything a moderator looks at before deciding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub submission: Submission,
    /// The checked build: lint findings, smoke test, environment hash, image digest, and the
    /// licence report of its dependencies (`licence_report.flags`: what to look at, and why).
    pub build: Build,
    /// Where its log is read (`GET`, JSON or text).
    pub build_log: String,
    /// Where its SPDX document is downloaded; absent when the build kept none.
    pub sbom: Option<String>,
    /// The metadata as the build validated it.
    pub metadata: serde_json::Value,
    /// What the licence allows, in plain words.
    pub licence: LicenceReview,
    /// What differs from the last approved version, computed now; empty for a first
    /// publication.
    pub changes: Vec<FieldChange>,
    /// The datalab's history so far, for the context of earlier decisions.
    pub history: Vec<HistoryEvent>,
}

/// The licence as the moderator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LicenceReview {
    pub expression: String,
    /// Whether the licence allows the audience asked for.
    pub allows_audience: bool,
    pub reasons: Vec<String>,
    /// The licence engine's whole decision (audiences, obligations such as the source being
    /// reachable, each licence classified); absent when the expression cannot be read.
    pub decision: Option<Decision>,
}

/// One transition of a datalab's publication.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEvent {
    /// 1, 2, 3... within the datalab.
    pub sequence: i64,
    pub submission: Option<String>,
    /// The user who acted; absent when labforge did (automatic checks, the operator's examples).
    pub actor: Option<String>,
    /// `submitted`, `approved`, `changes_requested`, `published`, `rebased` (onto a patched
    /// base by `labforge rebase`), ...
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub version: Option<String>,
    pub build: Option<String>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<HistoryRow> for HistoryEvent {
    fn from(row: HistoryRow) -> Self {
        let build = match (&row.version, row.build_number) {
            (Some(version), Some(number)) => Some(format!("{version}-{number}")),
            _ => None,
        };
        Self {
            sequence: row.sequence,
            submission: row.submission_id,
            actor: row.actor,
            action: row.action,
            from: row.from_state,
            to: row.to_state,
            version: row.version,
            build,
            comment: row.comment,
            at: row.created_at,
        }
    }
}

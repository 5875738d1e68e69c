//! What can go wrong when submitting, reviewing and publishing, each variant saying what the
//! caller can do about it. `http::error` maps them to statuses.

use serde::Serialize;

use super::states::{ReviewDecision, StepNotAllowed};
use crate::datalabs::{DatalabError, DatalabState};
use crate::storage::StorageError;

/// Longest moderator comment kept, in characters.
pub const MAX_COMMENT_CHARACTERS: usize = 10_000;

/// One condition a submission does not meet, named by the part of the request or the datalab
/// it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnmetCondition {
    /// `build`, `smoke_test`, `metadata` or `licence`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishingError {
    #[error(transparent)]
    Datalab(#[from] DatalabError),
    #[error(
        "version {version} of {name:?} cannot be submitted yet: {}",
        unmet.iter().map(|condition| condition.message.as_str()).collect::<Vec<_>>().join("; ")
    )]
    NotReady {
        name: String,
        version: String,
        unmet: Vec<UnmetCondition>,
    },
    #[error(
        "version {version} of {name:?} is already awaiting review; withdraw it first \
         (POST /api/submissions/{id}/withdraw) to submit it again"
    )]
    AlreadyPending {
        name: String,
        version: String,
        id: String,
    },
    #[error("{name:?} is archived; archived datalabs are not published again")]
    Archived { name: String },
    #[error("submission {id:?}")]
    UnknownSubmission { id: String },
    #[error("reviewing submissions needs the moderator role")]
    ModeratorRequired,
    #[error("no one reviews their own datalab: {name:?} is yours; another moderator must decide")]
    OwnDatalab { name: String },
    #[error(
        "a comment is required to {decision}: say what the author should change or why it is \
         refused"
    )]
    CommentRequired { decision: ReviewDecision },
    #[error("the comment has {characters} characters; at most {MAX_COMMENT_CHARACTERS} are kept")]
    CommentTooLong { characters: usize },
    #[error("only the datalab's owner, an administrator or a moderator may read its {what}")]
    NotYours { what: &'static str },
    #[error(transparent)]
    StepNotAllowed(#[from] StepNotAllowed),
    #[error(
        "{name:?} is {from}; only a published datalab can be deprecated, and only a published or \
         deprecated one archived (it is {to} only after that)"
    )]
    LifecycleNotAllowed {
        name: String,
        from: DatalabState,
        to: DatalabState,
    },
    #[error("submission {id:?} was decided or withdrawn meanwhile; reload it to see its state")]
    ChangedMeanwhile { id: String },
    #[error("{parameter}: {detail}")]
    InvalidFilter {
        parameter: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for PublishingError {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

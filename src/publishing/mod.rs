//! Publishing: the path from a built version to the marketplace. An author submits a version for
//! an audience; the submission is checked (a green build with a passed smoke test, validated
//! metadata, a licence that allows the audience); a moderator who is not its author approves it,
//! requests changes or rejects it; approving publishes. An update of a published datalab is
//! compared with the last approved version and held for review only when it changes a
//! [`changes::SENSITIVE_FIELDS`] field or the audience. Every step is one append-only
//! [`HistoryEvent`].
//!
//! - [`states`]: the state machine, a pure function; [`changes`]: the field-by-field diff;
//! - `service`: [`PublishingService`]; [`routes`]: its HTTP endpoints; `views`: what the API
//!   shows; `error`: [`PublishingError`].

pub mod changes;
mod error;
pub mod routes;
mod service;
pub mod states;
mod views;

pub use error::{PublishingError, UnmetCondition};
pub use service::{PublishingService, QueueQuery};
pub use states::{ReviewDecision, SubmissionState};
pub use views::{
    DecisionRequest, HistoryEvent, LicenceReview, LifecycleRequest, Review, Submission,
    SubmissionRequest,
};

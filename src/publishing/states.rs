//! The submission state machine: which step may follow which state, as a pure function the
//! service applies before it writes anything.
//!
//! ```text
//!            submit (held for review)            approve            publish
//!   (none) ─────────────────────────▶ awaiting_review ──▶ approved ──────────▶ published
//!     │                                │  ▲      │
//!     │ submit (update, no sensitive   │  │      └── reject ──▶ rejected
//!     │ change: checks passed)         │  └ resubmit (latest build green)
//!     └──────────▶ approved            ▼  │
//!                              changes_requested
//!   awaiting_review | changes_requested ── withdraw ──▶ withdrawn
//!   awaiting_review | changes_requested ── supersede ─▶ superseded (a newer version submitted)
//! ```

use crate::datalabs::states::{UnknownState, text_states};

text_states! {
    /// Where a submission stands. `awaiting_review` and `changes_requested` are pending; the
    /// others are final.
    pub enum SubmissionState ("submission state") {
        AwaitingReview = "awaiting_review",
        ChangesRequested = "changes_requested",
        Approved = "approved",
        Published = "published",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        Superseded = "superseded",
    }
}

text_states! {
    /// What a moderator decides about a submission awaiting review.
    pub enum ReviewDecision ("decision") {
        /// Publish it to the audience it asks for.
        Approve = "approve",
        /// Send it back to the author with a comment; they fix it and resubmit.
        RequestChanges = "request_changes",
        /// Refuse it for good, with a comment.
        Reject = "reject",
    }
}

/// One step of the state machine, as the history names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A new submission that needs a moderator.
    Submit,
    /// An update whose changes need no review, its checks passed.
    SubmitUnreviewed,
    Resubmit,
    Decide(ReviewDecision),
    Publish,
    Withdraw,
    Supersede,
}

impl Step {
    /// The history's name for the step.
    pub const fn action(self) -> &'static str {
        match self {
            Self::Submit => "submitted",
            Self::SubmitUnreviewed => "submitted_without_review",
            Self::Resubmit => "resubmitted",
            Self::Decide(ReviewDecision::Approve) => "approved",
            Self::Decide(ReviewDecision::RequestChanges) => "changes_requested",
            Self::Decide(ReviewDecision::Reject) => "rejected",
            Self::Publish => "published",
            Self::Withdraw => "withdrawn",
            Self::Supersede => "superseded",
        }
    }
}

/// A step the state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a submission that is {from} cannot be {action}", action = step.action())]
pub struct StepNotAllowed {
    pub from: SubmissionState,
    pub step: Step,
}

impl SubmissionState {
    /// True while the submission waits for a moderator or for its author.
    pub const fn is_pending(self) -> bool {
        matches!(self, Self::AwaitingReview | Self::ChangesRequested)
    }

    /// The state a new submission starts in.
    pub const fn first(step: Step) -> Option<Self> {
        match step {
            Step::Submit => Some(Self::AwaitingReview),
            Step::SubmitUnreviewed => Some(Self::Approved),
            _ => None,
        }
    }

    /// The state after `step`, or why the step is not allowed now.
    pub fn after(self, step: Step) -> Result<Self, StepNotAllowed> {
        let next = match (self, step) {
            (Self::AwaitingReview, Step::Decide(ReviewDecision::Approve)) => Self::Approved,
            (Self::AwaitingReview, Step::Decide(ReviewDecision::RequestChanges)) => {
                Self::ChangesRequested
            }
            (Self::AwaitingReview, Step::Decide(ReviewDecision::Reject)) => Self::Rejected,
            (Self::ChangesRequested, Step::Resubmit) => Self::AwaitingReview,
            (Self::Approved, Step::Publish) => Self::Published,
            (state, Step::Withdraw) if state.is_pending() => Self::Withdrawn,
            (state, Step::Supersede) if state.is_pending() => Self::Superseded,
            (from, step) => return Err(StepNotAllowed { from, step }),
        };
        Ok(next)
    }
}

impl ReviewDecision {
    /// Request changes and reject must say why; the author reads it.
    pub const fn needs_comment(self) -> bool {
        !matches!(self, Self::Approve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Step; 9] = [
        Step::Submit,
        Step::SubmitUnreviewed,
        Step::Resubmit,
        Step::Decide(ReviewDecision::Approve),
        Step::Decide(ReviewDecision::RequestChanges),
        Step::Decide(ReviewDecision::Reject),
        Step::Publish,
        Step::Withdraw,
        Step::Supersede,
    ];

    /// Every allowed (from, step, to), written out: anything not listed must be refused.
    const ALLOWED: [(SubmissionState, Step, SubmissionState); 9] = {
        use SubmissionState::{
            Approved, AwaitingReview, ChangesRequested, Published, Rejected, Superseded, Withdrawn,
        };
        [
            (
                AwaitingReview,
                Step::Decide(ReviewDecision::Approve),
                Approved,
            ),
            (
                AwaitingReview,
                Step::Decide(ReviewDecision::RequestChanges),
                ChangesRequested,
            ),
            (
                AwaitingReview,
                Step::Decide(ReviewDecision::Reject),
                Rejected,
            ),
            (AwaitingReview, Step::Withdraw, Withdrawn),
            (AwaitingReview, Step::Supersede, Superseded),
            (ChangesRequested, Step::Resubmit, AwaitingReview),
            (ChangesRequested, Step::Withdraw, Withdrawn),
            (ChangesRequested, Step::Supersede, Superseded),
            (Approved, Step::Publish, Published),
        ]
    };

    #[test]
    fn exactly_the_drawn_transitions_are_allowed() {
        for &from in SubmissionState::ALL {
            for step in STEPS {
                let expected = ALLOWED
                    .iter()
                    .find(|(state, allowed, _)| *state == from && *allowed == step)
                    .map(|(_, _, to)| *to);
                assert_eq!(from.after(step).ok(), expected, "{from} + {step:?}");
            }
        }
    }

    #[test]
    fn final_states_allow_nothing_and_say_so() {
        for state in [
            SubmissionState::Published,
            SubmissionState::Rejected,
            SubmissionState::Withdrawn,
            SubmissionState::Superseded,
        ] {
            assert!(!state.is_pending());
            assert!(STEPS.iter().all(|step| state.after(*step).is_err()));
        }
        let refused = SubmissionState::Rejected
            .after(Step::Decide(ReviewDecision::Approve))
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "a submission that is rejected cannot be approved"
        );
    }

    #[test]
    fn new_submissions_start_held_or_approved_and_only_by_submitting() {
        assert_eq!(
            SubmissionState::first(Step::Submit),
            Some(SubmissionState::AwaitingReview)
        );
        assert_eq!(
            SubmissionState::first(Step::SubmitUnreviewed),
            Some(SubmissionState::Approved)
        );
        assert_eq!(SubmissionState::first(Step::Publish), None);
    }

    #[test]
    fn only_approval_goes_without_a_comment() {
        assert!(!ReviewDecision::Approve.needs_comment());
        assert!(ReviewDecision::RequestChanges.needs_comment());
        assert!(ReviewDecision::Reject.needs_comment());
    }
}

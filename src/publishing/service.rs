//! [`PublishingService`]: submitting versions, the review queue, decisions and the history.
//! Each method checks who may act, asks the state machine whether the step is allowed, and
//! writes the step with its history in one transaction (`storage::submissions`).

use chrono::{Duration, Utc};
use serde_json::Value;

use super::changes::{FieldChange, changes, needs_review};
use super::error::{MAX_COMMENT_CHARACTERS, PublishingError, UnmetCondition};
use super::states::{ReviewDecision, Step, StepNotAllowed, SubmissionState};
use super::views::{
    DecisionRequest, HistoryEvent, LicenceReview, Review, Submission, SubmissionRequest,
};
use crate::accounts::{Caller, Role, User};
use crate::datalabs::visibility::Access;
use crate::datalabs::{Build, BuildStatus, DatalabService, DatalabState, VersionState, Visibility};
use crate::licences::{self, Obligation};
use crate::storage::datalabs::{DatalabRow, VersionRow};
use crate::storage::submissions::{
    DatalabStateChange, HistoryEntry, Publication, PublishingWrite, QueueFilter, StateChange,
    SubmissionInsert, SubmissionRow,
};
use crate::storage::{Database, StorageError, new_id};

/// Longest wait a queue filter may ask about, in hours (ten years).
pub const MAX_QUEUE_AGE_HOURS: i64 = 87_600;

#[derive(Clone)]
pub struct PublishingService {
    database: Database,
    datalabs: DatalabService,
}

/// The queue's filters as the API takes them.
#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    pub kind: Option<String>,
    pub state: Option<SubmissionState>,
    /// Only submissions waiting at least this many hours.
    pub min_age_hours: Option<i64>,
}

impl PublishingService {
    pub fn new(database: Database, datalabs: DatalabService) -> Self {
        Self { database, datalabs }
    }

    /// Submits `version` of `name` for publication to `request.audience`. Every unmet condition
    /// is reported at once. An update of a published datalab that changes nothing sensitive is
    /// published at once; a submission of a version whose earlier submission was sent back is
    /// that submission resubmitted; a newer submission supersedes older pending ones.
    pub async fn submit(
        &self,
        user: &User,
        name: &str,
        version: &str,
        request: SubmissionRequest,
    ) -> Result<(Submission, bool), PublishingError> {
        let caller = Caller::User(user.clone());
        let (datalab, version_row) = self
            .datalabs
            .reach_version(&caller, name, version, Access::Edit)
            .await?;
        if datalab.state == DatalabState::Archived {
            return Err(PublishingError::Archived {
                name: name.to_owned(),
            });
        }
        let earlier = self.database.submissions_of_datalab(&datalab.id).await?;
        let sent_back = earlier.iter().find(|submission| {
            submission.version_id == version_row.id
                && submission.state == SubmissionState::ChangesRequested
        });
        if let Some(pending) = earlier.iter().find(|submission| {
            submission.version_id == version_row.id
                && submission.state == SubmissionState::AwaitingReview
        }) {
            return Err(PublishingError::AlreadyPending {
                name: name.to_owned(),
                version: version.to_owned(),
                id: pending.id.clone(),
            });
        }
        let comment = checked_comment(request.comment)?;
        let checked = self.check(&datalab, &version_row, request.audience).await?;
        let mut steps = Steps::new(&datalab);
        // Older pending submissions of other versions give way to this one.
        for older in earlier.iter().filter(|submission| {
            submission.state.is_pending() && submission.version_id != version_row.id
        }) {
            steps.advance(&Position::of(older), Step::Supersede, None, None)?;
        }
        let (id, created) = if let Some(sent_back) = sent_back {
            let position = Position {
                build_number: checked.build.number,
                new_build_id: Some(checked.build.id.clone()),
                ..Position::of(sent_back)
            };
            steps.advance(&position, Step::Resubmit, Some(user), comment)?;
            (sent_back.id.clone(), false)
        } else {
            let id = new_id();
            let held = checked.changes.as_deref().is_none_or(needs_review);
            let step = if held {
                Step::Submit
            } else {
                Step::SubmitUnreviewed
            };
            let first = SubmissionState::first(step).expect("submitting starts a submission");
            let insert = SubmissionInsert {
                id: id.clone(),
                datalab_id: datalab.id.clone(),
                version_id: version_row.id.clone(),
                build_id: checked.build.id.clone(),
                submitted_by: user.id.clone(),
                visibility: request.audience,
                licence: checked.licence.clone(),
                state: first,
                changes: checked
                    .changes
                    .as_ref()
                    .map(|changes| serde_json::to_value(changes).expect("changes serialise")),
                created_at: Utc::now(),
            };
            steps.start(
                insert,
                step,
                user,
                comment,
                &version_row.version,
                checked.build.number,
            );
            if !held {
                let position = Position {
                    id: &id,
                    state: first,
                    version: &version_row.version,
                    build_number: checked.build.number,
                    new_build_id: None,
                };
                steps.advance(
                    &position,
                    Step::Publish,
                    None,
                    Some(
                        "published without review: the update changes no sensitive field and its \
                         checks passed"
                            .to_owned(),
                    ),
                )?;
                steps.publish(&version_row.id, request.audience);
            }
            (id, true)
        };
        self.apply(&steps.write, &id).await?;
        Ok((self.submission(&id).await?, created))
    }

    /// The review queue, oldest first: submissions awaiting review unless `query.state` says
    /// otherwise.
    pub async fn queue(
        &self,
        user: &User,
        query: QueueQuery,
    ) -> Result<Vec<Submission>, PublishingError> {
        require_moderator(user)?;
        if let Some(kind) = &query.kind {
            kind.parse::<crate::metadata::DatalabKind>()
                .map_err(|error| PublishingError::InvalidFilter {
                    parameter: "kind",
                    detail: error.to_string(),
                })?;
        }
        let submitted_before = match query.min_age_hours {
            Some(hours) if !(0..=MAX_QUEUE_AGE_HOURS).contains(&hours) => {
                return Err(PublishingError::InvalidFilter {
                    parameter: "min_age_hours",
                    detail: format!("expected 0 to {MAX_QUEUE_AGE_HOURS} hours, got {hours}"),
                });
            }
            Some(hours) => Some(Utc::now() - Duration::hours(hours)),
            None => None,
        };
        let filter = QueueFilter {
            state: query.state.unwrap_or(SubmissionState::AwaitingReview),
            kind: query.kind,
            submitted_before,
        };
        let rows = self.database.review_queue(&filter).await?;
        rows.into_iter()
            .map(|row| Submission::try_from(row).map_err(PublishingError::from))
            .collect()
    }

    /// What a moderator (or the datalab's owner, to follow their submission) sees of one
    /// submission.
    pub async fn review(&self, user: &User, id: &str) -> Result<Review, PublishingError> {
        let row = self.reach_submission(user, id).await?;
        let version = self
            .database
            .version_by_id(&row.version_id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let datalab = self
            .database
            .datalab_by_id(&row.datalab_id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let build_row = self
            .database
            .build_by_id(&row.build_id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let metadata = version.metadata.clone().map_or(Value::Null, |json| json.0);
        let last_approved = self.last_approved(&datalab, &version).await?;
        let changes = last_approved
            .map(|(approved, audience)| changes(&approved, audience, &metadata, row.visibility))
            .unwrap_or_default();
        let licence = licence_review(Some(&row.licence), row.visibility);
        let history = self.history_rows(&datalab.id).await?;
        let build_log = format!(
            "/api/datalabs/{}/versions/{}/builds/{}/log",
            row.datalab_name, row.version, row.build_number
        );
        let build = Build::from_row(build_row, &row.datalab_name, &row.version)?;
        let sbom = build.licence_report.is_some().then(|| {
            format!(
                "/api/datalabs/{}/versions/{}/builds/{}/sbom",
                row.datalab_name, row.version, row.build_number
            )
        });
        Ok(Review {
            build,
            sbom,
            submission: Submission::try_from(row)?,
            build_log,
            metadata,
            licence,
            changes,
            history,
        })
    }

    /// Records a moderator's decision; approving publishes.
    pub async fn decide(
        &self,
        user: &User,
        id: &str,
        request: DecisionRequest,
    ) -> Result<Submission, PublishingError> {
        require_moderator(user)?;
        let row = self
            .database
            .submission_by_id(id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        if row.owner_id == user.id || row.submitted_by == user.id {
            return Err(PublishingError::OwnDatalab {
                name: row.datalab_name,
            });
        }
        let comment = checked_comment(request.comment)?;
        if comment.is_none() && request.decision.needs_comment() {
            return Err(PublishingError::CommentRequired {
                decision: request.decision,
            });
        }
        let step = Step::Decide(request.decision);
        let datalab = self
            .database
            .datalab_by_id(&row.datalab_id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let mut steps = Steps::new(&datalab);
        let decided = steps.advance(&Position::of(&row), step, Some(user), comment)?;
        if request.decision == ReviewDecision::Approve {
            let position = Position {
                state: decided,
                ..Position::of(&row)
            };
            steps.advance(&position, Step::Publish, None, None)?;
            steps.publish(&row.version_id, row.visibility);
        }
        self.apply(&steps.write, id).await?;
        self.submission(id).await
    }

    /// The author (or an administrator) takes back a pending submission.
    pub async fn withdraw(&self, user: &User, id: &str) -> Result<Submission, PublishingError> {
        let row = self
            .database
            .submission_by_id(id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let datalab = self
            .datalabs
            .reach(&Caller::User(user.clone()), &row.datalab_name, Access::Edit)
            .await
            .map_err(|error| match error {
                crate::datalabs::DatalabError::UnknownDatalab { .. } => unknown_submission(id),
                other => other.into(),
            })?;
        let mut steps = Steps::new(&datalab);
        steps.advance(&Position::of(&row), Step::Withdraw, Some(user), None)?;
        self.apply(&steps.write, id).await?;
        self.submission(id).await
    }

    /// Marks a published datalab deprecated (still seen and launchable by those who may see it,
    /// no longer listed) or archives it (listed nowhere; its images stay for existing
    /// references). The owner or an administrator deprecates; moderators may archive too.
    pub async fn retire(
        &self,
        user: &User,
        name: &str,
        to: DatalabState,
        comment: Option<String>,
    ) -> Result<crate::datalabs::Datalab, PublishingError> {
        let caller = Caller::User(user.clone());
        let needed = if to == DatalabState::Archived && user.is_at_least(Role::Moderator) {
            Access::View
        } else {
            Access::Edit
        };
        let datalab = self.datalabs.reach(&caller, name, needed).await?;
        let allowed = match to {
            DatalabState::Deprecated => datalab.state == DatalabState::Published,
            DatalabState::Archived => matches!(
                datalab.state,
                DatalabState::Published | DatalabState::Deprecated
            ),
            DatalabState::Draft | DatalabState::Published => false,
        };
        if !allowed {
            return Err(PublishingError::LifecycleNotAllowed {
                name: name.to_owned(),
                from: datalab.state,
                to,
            });
        }
        let comment = checked_comment(comment)?;
        let write = PublishingWrite {
            datalab_state: Some(DatalabStateChange {
                datalab_id: datalab.id.clone(),
                from: datalab.state,
                to,
            }),
            history: vec![HistoryEntry {
                datalab_id: datalab.id.clone(),
                datalab_name: datalab.name.clone(),
                submission_id: None,
                actor: Some(user.name.clone()),
                action: to.as_str(),
                from_state: Some(datalab.state.to_string()),
                to_state: to.to_string(),
                version: None,
                build_number: None,
                comment,
            }],
            ..PublishingWrite::default()
        };
        self.database
            .apply_publishing(&write, Utc::now())
            .await
            .map_err(|error| match error {
                StorageError::Conflict { .. } => PublishingError::LifecycleNotAllowed {
                    name: name.to_owned(),
                    from: datalab.state,
                    to,
                },
                other => other.into(),
            })?;
        self.database.refresh_datalab_search(&datalab.id).await?;
        let row = self
            .database
            .datalab_by_id(&datalab.id)
            .await?
            .ok_or_else(|| crate::datalabs::DatalabError::UnknownDatalab {
                name: name.to_owned(),
            })?;
        Ok(crate::datalabs::Datalab::try_from(row)?)
    }

    /// The submissions of a datalab, oldest first, for its owner and the moderators.
    pub async fn submissions_of(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<Submission>, PublishingError> {
        let datalab = self.reach_records(caller, name, "submissions").await?;
        let rows = self.database.submissions_of_datalab(&datalab.id).await?;
        rows.into_iter()
            .map(|row| Submission::try_from(row).map_err(PublishingError::from))
            .collect()
    }

    /// Every transition of the datalab's publication, for its owner and the moderators.
    pub async fn history(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<HistoryEvent>, PublishingError> {
        let datalab = self.reach_records(caller, name, "history").await?;
        self.history_rows(&datalab.id).await
    }

    async fn history_rows(&self, datalab_id: &str) -> Result<Vec<HistoryEvent>, PublishingError> {
        Ok(self
            .database
            .history_of(datalab_id)
            .await?
            .into_iter()
            .map(HistoryEvent::from)
            .collect())
    }

    /// The datalab `name` when the caller may read its publication records: its owner, an
    /// administrator or a moderator. Others who may see it get 403; those who may not, 404.
    async fn reach_records(
        &self,
        caller: &Caller,
        name: &str,
        what: &'static str,
    ) -> Result<DatalabRow, PublishingError> {
        let datalab = self.datalabs.reach(caller, name, Access::View).await?;
        let allowed = caller
            .user()
            .is_some_and(|user| user.id == datalab.owner_id || user.is_at_least(Role::Moderator));
        if !allowed {
            return Err(PublishingError::NotYours { what });
        }
        Ok(datalab)
    }

    /// The submission `id` for a moderator or the owner of its datalab; 404 for anyone else.
    async fn reach_submission(
        &self,
        user: &User,
        id: &str,
    ) -> Result<SubmissionRow, PublishingError> {
        let row = self
            .database
            .submission_by_id(id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        let allowed = user.is_at_least(Role::Moderator) || user.id == row.owner_id;
        if !allowed {
            return Err(unknown_submission(id));
        }
        Ok(row)
    }

    async fn submission(&self, id: &str) -> Result<Submission, PublishingError> {
        let row = self
            .database
            .submission_by_id(id)
            .await?
            .ok_or_else(|| unknown_submission(id))?;
        Ok(Submission::try_from(row)?)
    }

    async fn apply(&self, write: &PublishingWrite, id: &str) -> Result<(), PublishingError> {
        let datalab_id = write.history.first().map(|entry| entry.datalab_id.clone());
        self.database
            .apply_publishing(write, Utc::now())
            .await
            .map_err(|error| match error {
                StorageError::Conflict { .. } => {
                    PublishingError::ChangedMeanwhile { id: id.to_owned() }
                }
                other => other.into(),
            })?;
        if let Some(datalab_id) = datalab_id
            && write.publication.is_some()
        {
            self.database.refresh_datalab_search(&datalab_id).await?;
        }
        Ok(())
    }

    /// The conditions of submitting, each unmet one named.
    async fn check(
        &self,
        datalab: &DatalabRow,
        version: &VersionRow,
        audience: Visibility,
    ) -> Result<Checked, PublishingError> {
        let mut unmet = Vec::new();
        let builds = self.database.builds_of_version(&version.id).await?;
        let latest = builds.iter().max_by_key(|build| build.number);
        let build = match latest {
            None => {
                unmet.push(condition(
                    "build",
                    format!(
                        "version {} has no build; queue one (POST /api/datalabs/{}/versions/{}/builds)",
                        version.version, datalab.name, version.version
                    ),
                ));
                None
            }
            Some(build) if build.status != BuildStatus::Succeeded => {
                unmet.push(condition(
                    "build",
                    format!(
                        "the latest build {}-{} is {}, not succeeded; submit once a build is green",
                        version.version, build.number, build.status
                    ),
                ));
                None
            }
            Some(build) => Some(build.clone()),
        };
        if let Some(build) = &build {
            let smoke: Option<crate::pipeline::smoke::SmokeTestResult> = build
                .smoke_test
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok());
            match smoke {
                Some(result) if result.passed => {}
                Some(result) => unmet.push(condition(
                    "smoke_test",
                    format!(
                        "the smoke test of build {}-{} did not pass: {}",
                        version.version, build.number, result.detail
                    ),
                )),
                None => unmet.push(condition(
                    "smoke_test",
                    format!(
                        "build {}-{} has no smoke test result; build again with the smoke test on",
                        version.version, build.number
                    ),
                )),
            }
        }
        let metadata = version.metadata.as_ref().map(|json| &json.0);
        if metadata.is_none() && build.is_some() {
            unmet.push(condition(
                "metadata",
                "the version has no validated metadata; build it again".to_owned(),
            ));
        }
        let licence = metadata
            .and_then(|metadata| metadata.get("license"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let review = licence_review(licence.as_deref(), audience);
        if !review.allows_audience {
            unmet.push(condition("licence", review.reasons.join("; ")));
        } else if let Some(message) = source_obligation_unmet(&review, version) {
            unmet.push(condition("licence", message));
        }
        let (Some(build), Some(metadata), Some(licence), true) =
            (build, metadata, licence, unmet.is_empty())
        else {
            return Err(PublishingError::NotReady {
                name: datalab.name.clone(),
                version: version.version.clone(),
                unmet,
            });
        };
        let changes =
            self.last_approved(datalab, version)
                .await?
                .map(|(approved, approved_audience)| {
                    changes(&approved, approved_audience, metadata, audience)
                });
        Ok(Checked {
            build,
            licence,
            changes,
        })
    }

    /// The metadata and audience of the datalab's last approved version other than `version`,
    /// if it was ever published.
    async fn last_approved(
        &self,
        datalab: &DatalabRow,
        version: &VersionRow,
    ) -> Result<Option<(Value, Visibility)>, PublishingError> {
        if datalab.state == DatalabState::Draft {
            return Ok(None);
        }
        let versions = self.database.versions_of(&datalab.id).await?;
        Ok(versions
            .into_iter()
            .filter(|candidate| {
                candidate.state == VersionState::Published && candidate.id != version.id
            })
            .max_by_key(|candidate| candidate.updated_at)
            .and_then(|approved| approved.metadata)
            .map(|metadata| (metadata.0, datalab.visibility)))
    }
}

/// What passed the checks.
struct Checked {
    build: crate::storage::builds::BuildRow,
    licence: String,
    /// `None` for a first publication.
    changes: Option<Vec<FieldChange>>,
}

fn condition(field: &str, message: String) -> UnmetCondition {
    UnmetCondition {
        field: field.to_owned(),
        message,
    }
}

fn require_moderator(user: &User) -> Result<(), PublishingError> {
    if user.is_at_least(Role::Moderator) {
        Ok(())
    } else {
        Err(PublishingError::ModeratorRequired)
    }
}

fn unknown_submission(id: &str) -> PublishingError {
    PublishingError::UnknownSubmission { id: id.to_owned() }
}

/// The comment trimmed, absent when blank, and within the length kept.
fn checked_comment(comment: Option<String>) -> Result<Option<String>, PublishingError> {
    let comment = comment
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    match &comment {
        Some(text) if text.chars().count() > MAX_COMMENT_CHARACTERS => {
            Err(PublishingError::CommentTooLong {
                characters: text.chars().count(),
            })
        }
        _ => Ok(comment),
    }
}

/// Where a submission stands before a step.
struct Position<'a> {
    id: &'a str,
    state: SubmissionState,
    version: &'a str,
    build_number: i64,
    /// The build a resubmission is checked with.
    new_build_id: Option<String>,
}

impl<'a> Position<'a> {
    fn of(row: &'a SubmissionRow) -> Self {
        Self {
            id: &row.id,
            state: row.state,
            version: &row.version,
            build_number: row.build_number,
            new_build_id: None,
        }
    }
}

/// The steps of one write on one datalab, each with its history entry.
struct Steps<'a> {
    datalab: &'a DatalabRow,
    write: PublishingWrite,
}

impl<'a> Steps<'a> {
    fn new(datalab: &'a DatalabRow) -> Self {
        Self {
            datalab,
            write: PublishingWrite::default(),
        }
    }

    fn entry(
        &self,
        submission_id: &str,
        step: Step,
        to: SubmissionState,
        version: &str,
        build_number: i64,
    ) -> HistoryEntry {
        HistoryEntry {
            datalab_id: self.datalab.id.clone(),
            datalab_name: self.datalab.name.clone(),
            submission_id: Some(submission_id.to_owned()),
            actor: None,
            action: step.action(),
            from_state: None,
            to_state: to.to_string(),
            version: Some(version.to_owned()),
            build_number: Some(build_number),
            comment: None,
        }
    }

    /// Starts a new submission.
    fn start(
        &mut self,
        insert: SubmissionInsert,
        step: Step,
        actor: &User,
        comment: Option<String>,
        version: &str,
        build_number: i64,
    ) {
        let entry = HistoryEntry {
            actor: Some(actor.name.clone()),
            comment,
            ..self.entry(&insert.id, step, insert.state, version, build_number)
        };
        self.write.history.push(entry);
        self.write.insert = Some(insert);
    }

    /// Moves a submission one step, if the state machine allows it; returns the new state.
    fn advance(
        &mut self,
        position: &Position<'_>,
        step: Step,
        actor: Option<&User>,
        comment: Option<String>,
    ) -> Result<SubmissionState, StepNotAllowed> {
        let to = position.state.after(step)?;
        self.write.state_changes.push(StateChange {
            submission_id: position.id.to_owned(),
            from: position.state,
            to,
            build_id: position.new_build_id.clone(),
        });
        let entry = HistoryEntry {
            actor: actor.map(|user| user.name.clone()),
            from_state: Some(position.state.to_string()),
            comment,
            ..self.entry(
                position.id,
                step,
                to,
                position.version,
                position.build_number,
            )
        };
        self.write.history.push(entry);
        Ok(to)
    }

    /// Publishes `version_id` of the datalab to `audience` in the same write.
    fn publish(&mut self, version_id: &str, audience: Visibility) {
        self.write.publication = Some(Publication {
            datalab_id: self.datalab.id.clone(),
            version_id: version_id.to_owned(),
            visibility: audience,
        });
    }
}

/// The licence engine's decision on `expression` for `audience`, as the moderator reads it.
fn licence_review(expression: Option<&str>, audience: Visibility) -> LicenceReview {
    let Some(expression) = expression else {
        return LicenceReview {
            expression: String::new(),
            allows_audience: false,
            reasons: vec![
                "the metadata names no licence; add `license:` with an SPDX expression to \
                 metadata.yaml and build again"
                    .to_owned(),
            ],
            decision: None,
        };
    };
    match licences::evaluate(expression, audience.into()) {
        Ok(decision) => LicenceReview {
            expression: expression.to_owned(),
            allows_audience: decision.allowed,
            reasons: decision.reasons.clone(),
            decision: Some(decision),
        },
        Err(error) => LicenceReview {
            expression: expression.to_owned(),
            allows_audience: false,
            reasons: vec![format!("`{expression}` cannot be read: {error}")],
            decision: None,
        },
    }
}

/// Network copyleft asks for a public source URL before the datalab is public: a git source.
fn source_obligation_unmet(review: &LicenceReview, version: &VersionRow) -> Option<String> {
    let needs_url = review
        .decision
        .as_ref()
        .is_some_and(|decision| decision.obligations.contains(&Obligation::PublicSourceUrl));
    (needs_url && version.source_kind != "git").then(|| {
        format!(
            "{} is network copyleft: a public datalab needs a public source URL; build the \
             version from a public git repository, or ask for a private audience",
            review.expression
        )
    })
}

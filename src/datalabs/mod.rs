//! Datalabs as authors manage them: a named datalab of a kind, its versions (each with the source
//! it is built from), zip uploads, and the builds of each version with their logs.
//!
//! The Trow rule holds: [`routes`] extract and call one [`DatalabService`] method, which checks
//! the caller's [`visibility::access`] and calls `storage`; nothing here writes SQL. Builds are
//! only queued here; `jobs` runs them.

pub mod events;
pub mod examples;
mod log_follower;
pub mod registry_access;
pub mod routes;
mod upload;
pub mod visibility;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use crate::accounts::{Caller, Role, User};
use crate::config::Config;
use crate::metadata::DatalabKind;
use crate::pipeline::PhaseTimings;
use crate::pipeline::smoke::SmokeTestResult;
use crate::recipe::lint::LintFinding;
use crate::sources::{Source, SourceError};
use crate::storage::builds::{BuildRow, LogLineRow};
use crate::storage::datalabs::{DatalabRow, UploadRow, VersionRow};
use crate::storage::{Database, StorageError, new_id};

pub use events::BuildEvents;
pub use log_follower::LogEvent;
use visibility::{Access, Exposure, access};

/// Longest version text: with `-<build number>` it must stay a valid image tag (128 characters).
const MAX_VERSION_CHARACTERS: usize = 100;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DatalabsConfig {
    /// Largest zip upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// An upload no version has named for this long is removed.
    pub unused_upload_hours: u32,
}

impl Default for DatalabsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 512 * 1024 * 1024,
            unused_upload_hours: 24,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatalabError {
    #[error(
        "datalab name {name:?} is not valid: {reason}. Use 2 to 63 lowercase letters, digits and \
         hyphens, starting and ending with a letter or digit, like jl-euclid-tools"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "version {version:?} is not a semantic version like 1.2.3 or 1.2.3-rc.1 (at most \
         {MAX_VERSION_CHARACTERS} characters)"
    )]
    InvalidVersion { version: String },
    #[error("creating datalabs needs the author role; ask an administrator for it")]
    AuthorRequired,
    /// Also the answer for datalabs the caller may not see.
    #[error("datalab {name:?}")]
    UnknownDatalab { name: String },
    #[error("version {version} of datalab {name:?}")]
    UnknownVersion { name: String, version: String },
    #[error("build {version}-{number} of datalab {name:?}")]
    UnknownBuild {
        name: String,
        version: String,
        number: i64,
    },
    #[error("there is no user {0:?}")]
    UnknownUser(String),
    #[error("only the owner of {name:?} or an administrator may change it")]
    EditForbidden { name: String },
    #[error(
        "{name:?} is {state}, not a draft: only drafts can be deleted. Deprecate or archive it \
         instead"
    )]
    NotDraft { name: String, state: String },
    #[error(transparent)]
    InvalidSource(#[from] SourceError),
    #[error(
        "there is no upload {id:?} of yours; upload the zip first with POST /api/uploads and use \
         the id it returns"
    )]
    UnknownUpload { id: String },
    #[error(
        "the upload is larger than the limit of {limit} bytes; leave data sets out of the source \
         and mount them as data volumes"
    )]
    UploadTooLarge { limit: u64 },
    #[error("the upload is not a zip archive: {detail}")]
    NotZip { detail: String },
    #[error("the upload could not be read: {0}")]
    UploadInterrupted(String),
    #[error("cannot store the upload at {path}: {source}")]
    UploadStorage {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("build {version}-{number} already ended ({status}); there is nothing to cancel")]
    BuildEnded {
        version: String,
        number: i64,
        status: BuildStatus,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Who may see a datalab beyond its owner, its members and the moderators, once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

/// A datalab as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Datalab {
    pub id: String,
    /// The slug used in URLs and image names.
    pub name: String,
    pub kind: DatalabKind,
    /// Name of the owning user.
    pub owner: String,
    pub visibility: Visibility,
    /// `draft` until a version is published; the publishing workflow owns the other states.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<DatalabRow> for Datalab {
    type Error = StorageError;

    fn try_from(row: DatalabRow) -> Result<Self, StorageError> {
        Ok(Self {
            kind: row.kind.parse().map_err(|_| StorageError::Corrupt {
                what: "datalab kind",
                detail: row.kind.clone(),
            })?,
            visibility: match row.visibility.as_str() {
                "public" => Visibility::Public,
                "private" => Visibility::Private,
                other => {
                    return Err(StorageError::Corrupt {
                        what: "datalab visibility",
                        detail: other.to_owned(),
                    });
                }
            },
            id: row.id,
            name: row.name,
            owner: row.owner_name,
            state: row.state,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDatalab {
    pub name: String,
    pub kind: DatalabKind,
}

/// Where a version's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum VersionSource {
    /// A public repository over https, at a branch, tag or commit (the default branch when
    /// absent).
    Git {
        url: String,
        #[serde(default)]
        reference: Option<String>,
    },
    /// A zip archive uploaded with `POST /api/uploads`.
    Zip { upload: String },
    /// A folder of the workspace, relative to the workspace root.
    Workspace { path: String },
}

impl VersionSource {
    fn kind(&self) -> &'static str {
        match self {
            Self::Git { .. } => "git",
            Self::Zip { .. } => "zip",
            Self::Workspace { .. } => "workspace",
        }
    }
}

/// A version as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: String,
    pub source: VersionSource,
    /// metadata.yaml as validated by the last succeeded build; absent before one.
    pub metadata: Option<serde_json::Value>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Version {
    /// The version as shown to a reader who may (`private_fields`) or may not see the metadata
    /// fields the field table marks private and the service's own paths.
    fn shown_to(mut self, private_fields: bool) -> Self {
        if !private_fields {
            self.metadata = self
                .metadata
                .as_ref()
                .map(crate::metadata::policy::public_view);
            // Where the service keeps workspaces is its own business: readers get the folder's
            // name only.
            if let VersionSource::Workspace { path } = &mut self.source
                && let Some(name) = std::path::Path::new(path.as_str()).file_name()
            {
                *path = name.to_string_lossy().into_owned();
            }
        }
        self
    }
}

/// Whether `caller` reads a datalab's private metadata: its owner, moderators and
/// administrators do (the field table's `private`); members and the public do not.
fn reads_private_fields(caller: &Caller, owner_id: &str) -> bool {
    caller
        .user()
        .is_some_and(|user| user.id == owner_id || user.is_at_least(Role::Moderator))
}

impl TryFrom<VersionRow> for Version {
    type Error = StorageError;

    fn try_from(row: VersionRow) -> Result<Self, StorageError> {
        let source = match row.source_kind.as_str() {
            "git" => VersionSource::Git {
                url: row.source_location,
                reference: row.source_reference,
            },
            "zip" => VersionSource::Zip {
                upload: row.source_location,
            },
            "workspace" => VersionSource::Workspace {
                path: row.source_location,
            },
            other => {
                return Err(StorageError::Corrupt {
                    what: "version source kind",
                    detail: other.to_owned(),
                });
            }
        };
        Ok(Self {
            version: row.version,
            source,
            metadata: row.metadata.map(|metadata| metadata.0),
            state: row.state,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Semantic version; metadata.yaml of the source must state the same.
    pub version: String,
    pub source: VersionSource,
}

/// A stored zip archive, ready to be named by a version's source.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: String,
    pub size_bytes: u64,
    /// Hex SHA-256 of the archive, to compare with the file that was sent.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl BuildStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// True once the build can no longer change.
    pub const fn has_ended(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for BuildStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for BuildStatus {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, StorageError> {
        Ok(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(StorageError::Corrupt {
                    what: "build status",
                    detail: other.to_owned(),
                });
            }
        })
    }
}

/// A build as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Build {
    /// Number within the version: build `0.0.1-2` is number 2 of version 0.0.1.
    pub number: i64,
    pub version: String,
    pub status: BuildStatus,
    /// Name of the user who queued it.
    pub requested_by: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// A cancel was asked for while it runs; its worker stops it shortly.
    pub cancel_requested: bool,
    /// Why it failed or was cancelled.
    pub failure: Option<String>,
    pub environment_hash: Option<String>,
    pub content_hash: Option<String>,
    /// `registry/datalabs/<name>:<version>-<number>`.
    pub image: Option<String>,
    pub digest: Option<String>,
    /// Nothing changed since an earlier build of the version, whose image it names.
    pub reused: bool,
    pub smoke_test: Option<SmokeTestResult>,
    pub lint_findings: Vec<LintFinding>,
    /// Seconds spent in each phase, once succeeded.
    pub phase_timings: Option<PhaseTimings>,
}

impl Build {
    fn from_row(row: BuildRow, version: &str) -> Result<Self, StorageError> {
        let corrupt = |what| {
            move |error: serde_json::Error| StorageError::Corrupt {
                what,
                detail: error.to_string(),
            }
        };
        Ok(Self {
            number: row.number,
            version: version.to_owned(),
            status: row.status.parse()?,
            requested_by: row.requested_by,
            queued_at: row.queued_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            cancel_requested: row.cancel_requested,
            failure: row.failure,
            environment_hash: row.environment_hash,
            content_hash: row.content_hash,
            image: row.image,
            digest: row.digest,
            reused: row.reused,
            smoke_test: row
                .smoke_test
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(corrupt("smoke-test result"))?,
            lint_findings: row
                .lint_findings
                .map(|findings| serde_json::from_value(findings.0))
                .transpose()
                .map_err(corrupt("lint findings"))?
                .unwrap_or_default(),
            phase_timings: row
                .phase_timings
                .map(|timings| serde_json::from_value(timings.0))
                .transpose()
                .map_err(corrupt("phase timings"))?,
        })
    }
}

/// One line of a build log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Position in the log from 0; Server-Sent Events use it as the event id.
    pub line: i64,
    pub at: DateTime<Utc>,
    /// Pipeline phase (`fetch`, `package`, `lint`, `solve`, `push`, `smoke-test`) or `queue`.
    pub phase: String,
    pub text: String,
}

impl From<LogLineRow> for LogLine {
    fn from(row: LogLineRow) -> Self {
        Self {
            line: row.line_number,
            at: row.logged_at,
            phase: row.phase,
            text: row.text,
        }
    }
}

/// The datalab's files as the pipeline fetches them: zip uploads live at
/// `<data_dir>/uploads/<id>.zip`, workspace paths are relative to the workspace root.
pub fn build_source(version: &VersionRow, data_dir: &Path) -> Result<Source, StorageError> {
    match Version::try_from(version.clone())?.source {
        VersionSource::Git { url, reference } => Ok(Source::Git { url, reference }),
        VersionSource::Zip { upload } => Ok(Source::Zip {
            path: upload::upload_path(data_dir, &upload),
        }),
        VersionSource::Workspace { path } => Ok(Source::Workspace {
            path: PathBuf::from(path),
        }),
    }
}

#[derive(Debug, Clone)]
pub struct DatalabService {
    database: Database,
    config: Arc<Config>,
    events: BuildEvents,
}

impl DatalabService {
    pub fn new(database: Database, config: Arc<Config>, events: BuildEvents) -> Self {
        Self {
            database,
            config,
            events,
        }
    }

    pub fn events(&self) -> &BuildEvents {
        &self.events
    }

    /// Creates a draft, private datalab owned by `user`.
    pub async fn create(&self, user: &User, new: NewDatalab) -> Result<Datalab, DatalabError> {
        if !user.is_at_least(Role::Author) {
            return Err(DatalabError::AuthorRequired);
        }
        check_name(&new.name)?;
        let now = Utc::now();
        let row = DatalabRow {
            id: new_id(),
            name: new.name,
            kind: new.kind.as_str().to_owned(),
            owner_id: user.id.clone(),
            owner_name: user.name.clone(),
            visibility: "private".to_owned(),
            state: "draft".to_owned(),
            created_at: now,
            updated_at: now,
        };
        self.database.insert_datalab(&row).await?;
        Ok(Datalab::try_from(row)?)
    }

    pub async fn get(&self, caller: &Caller, name: &str) -> Result<Datalab, DatalabError> {
        let reached = self.reach(caller, name, Access::View).await?;
        Ok(Datalab::try_from(reached)?)
    }

    /// Publishes `version` of `name` publicly without review: for the operator's own content
    /// (the examples of `labforge run`), never reachable over the API.
    pub async fn publish_as_operator(&self, name: &str, version: &str) -> Result<(), DatalabError> {
        let unknown = || DatalabError::UnknownDatalab {
            name: name.to_owned(),
        };
        let datalab = self
            .database
            .datalab_by_name(name)
            .await?
            .ok_or_else(unknown)?;
        let version_row = self
            .database
            .version_of(&datalab.id, version)
            .await?
            .ok_or_else(unknown)?;
        self.database
            .publish_publicly(&datalab.id, &version_row.id, Utc::now())
            .await?;
        self.database.refresh_datalab_search(&datalab.id).await?;
        Ok(())
    }

    /// The datalabs `user` owns.
    pub async fn owned_by(&self, user: &User) -> Result<Vec<Datalab>, DatalabError> {
        Ok(self
            .database
            .datalabs_owned_by(&user.id)
            .await?
            .into_iter()
            .map(Datalab::try_from)
            .collect::<Result<_, _>>()?)
    }

    /// Deletes a draft with everything it holds; published datalabs are kept for their users.
    pub async fn delete(&self, user: &User, name: &str) -> Result<(), DatalabError> {
        let reached = self.reach_as_editor(user, name).await?;
        let uploads = self.database.uploads_used_only_by(&reached.id).await?;
        if self.database.delete_draft_datalab(&reached.id).await? {
            self.remove_unused_uploads(&uploads).await;
            Ok(())
        } else {
            // It changed state since we read it, or was already not a draft.
            let state = self
                .database
                .datalab_by_name(name)
                .await?
                .map_or(reached.state, |row| row.state);
            Err(DatalabError::NotDraft {
                name: name.to_owned(),
                state,
            })
        }
    }

    /// Removes uploads older than `unused_upload_hours` that no version names (sent, then never
    /// used); returns how many. Run periodically by `labforge serve`.
    pub async fn remove_stale_uploads(&self) -> Result<usize, DatalabError> {
        let cutoff = Utc::now()
            - chrono::Duration::hours(i64::from(self.config.datalabs.unused_upload_hours));
        let stale = self.database.unused_uploads_before(cutoff).await?;
        self.remove_unused_uploads(&stale).await;
        Ok(stale.len())
    }

    /// Removes the archives of `uploads` that no version names any more. A failure leaves a file
    /// behind, which is logged: the deletion the caller asked for has happened.
    async fn remove_unused_uploads(&self, uploads: &[String]) {
        for id in uploads {
            match self.database.delete_unused_upload(id).await {
                Ok(true) => {
                    let path = upload::upload_path(&self.config.data_dir, id);
                    if let Err(error) = tokio::fs::remove_file(&path).await {
                        tracing::warn!(upload = %id, path = %path.display(), %error, "cannot remove an unused upload");
                    }
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(upload = %id, %error, "cannot forget an unused upload");
                }
            }
        }
    }

    /// Shares the datalab with the user `member`, who may then view it while it is private.
    pub async fn share(&self, user: &User, name: &str, member: &str) -> Result<(), DatalabError> {
        let (datalab_id, member_id) = self.membership(user, name, member).await?;
        self.database
            .add_datalab_member(&datalab_id, &member_id)
            .await?;
        Ok(())
    }

    /// Stops sharing the datalab with `member`.
    pub async fn unshare(&self, user: &User, name: &str, member: &str) -> Result<(), DatalabError> {
        let (datalab_id, member_id) = self.membership(user, name, member).await?;
        self.database
            .remove_datalab_member(&datalab_id, &member_id)
            .await?;
        Ok(())
    }

    /// The ids of the datalab `name`, which `user` must be able to edit, and of the user `member`.
    async fn membership(
        &self,
        user: &User,
        name: &str,
        member: &str,
    ) -> Result<(String, String), DatalabError> {
        let reached = self.reach_as_editor(user, name).await?;
        let member = self
            .database
            .user_by_name(member)
            .await?
            .ok_or_else(|| DatalabError::UnknownUser(member.to_owned()))?;
        Ok((reached.id, member.id))
    }

    /// Stores a zip archive sent as a byte stream, refusing it as soon as it passes the size
    /// limit (or at once when `declared_length` already does) and when it is not a zip.
    pub async fn upload_zip<S, E>(
        &self,
        user: &User,
        declared_length: Option<u64>,
        body: S,
    ) -> Result<Upload, DatalabError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        if !user.is_at_least(Role::Author) {
            return Err(DatalabError::AuthorRequired);
        }
        let limit = self.config.datalabs.max_upload_bytes;
        if declared_length.is_some_and(|length| length > limit) {
            return Err(DatalabError::UploadTooLarge { limit });
        }
        let id = new_id();
        let stored = upload::store(&self.config.data_dir, &id, body, limit).await?;
        let row = UploadRow {
            id,
            user_id: user.id.clone(),
            size_bytes: i64::try_from(stored.size_bytes).unwrap_or(i64::MAX),
            sha256: stored.sha256,
            created_at: Utc::now(),
        };
        self.database.insert_upload(&row).await?;
        Ok(Upload {
            id: row.id,
            size_bytes: stored.size_bytes,
            sha256: row.sha256,
            created_at: row.created_at,
        })
    }

    /// Adds a version built from `new.source`, which is checked as far as it can be without
    /// fetching it.
    pub async fn create_version(
        &self,
        user: &User,
        name: &str,
        new: NewVersion,
    ) -> Result<Version, DatalabError> {
        let reached = self.reach_as_editor(user, name).await?;
        check_version(&new.version)?;
        let (location, reference) = match &new.source {
            VersionSource::Git { url, reference } => {
                crate::sources::check(
                    &Source::Git {
                        url: url.clone(),
                        reference: reference.clone(),
                    },
                    &self.config.sources,
                )?;
                (url.clone(), reference.clone())
            }
            VersionSource::Zip { upload } => {
                let owned = self
                    .database
                    .upload_by_id(upload)
                    .await?
                    .filter(|row| row.user_id == user.id);
                if owned.is_none() {
                    return Err(DatalabError::UnknownUpload { id: upload.clone() });
                }
                (upload.clone(), None)
            }
            VersionSource::Workspace { path } => {
                crate::sources::check(
                    &Source::Workspace {
                        path: PathBuf::from(path),
                    },
                    &self.config.sources,
                )?;
                (path.clone(), None)
            }
        };
        let now = Utc::now();
        let row = VersionRow {
            id: new_id(),
            datalab_id: reached.id,
            version: new.version,
            source_kind: new.source.kind().to_owned(),
            source_location: location,
            source_reference: reference,
            metadata: None,
            state: "draft".to_owned(),
            created_at: now,
            updated_at: now,
        };
        self.database.insert_version(&row, name).await?;
        Ok(Version::try_from(row)?)
    }

    pub async fn versions(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<Version>, DatalabError> {
        let reached = self.reach(caller, name, Access::View).await?;
        let private_fields = reads_private_fields(caller, &reached.owner_id);
        self.database
            .versions_of(&reached.id)
            .await?
            .into_iter()
            .map(|row| Ok(Version::try_from(row)?.shown_to(private_fields)))
            .collect()
    }

    pub async fn version(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<Version, DatalabError> {
        let (reached, row) = self
            .reach_version(caller, name, version, Access::View)
            .await?;
        let private_fields = reads_private_fields(caller, &reached.owner_id);
        Ok(Version::try_from(row)?.shown_to(private_fields))
    }

    /// Queues a build of the version; a worker picks it up when the datalab has no other build
    /// running and a worker is free.
    pub async fn queue_build(
        &self,
        user: &User,
        name: &str,
        version: &str,
    ) -> Result<Build, DatalabError> {
        let caller = Caller::User(user.clone());
        let (reached, version_row) = self
            .reach_version(&caller, name, version, Access::Edit)
            .await?;
        let row = self
            .database
            .insert_queued_build(
                &new_id(),
                &reached.id,
                &version_row.id,
                &user.id,
                Utc::now(),
            )
            .await?;
        self.events.build_queued();
        Ok(Build::from_row(row, version)?)
    }

    /// The builds of a version, newest first.
    pub async fn builds(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<Vec<Build>, DatalabError> {
        let (_, version_row) = self
            .reach_version(caller, name, version, Access::View)
            .await?;
        Ok(self
            .database
            .builds_of_version(&version_row.id)
            .await?
            .into_iter()
            .map(|row| Build::from_row(row, version))
            .collect::<Result<_, _>>()?)
    }

    pub async fn build(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<Build, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        Ok(Build::from_row(row, version)?)
    }

    /// Cancels a queued build at once; asks the worker of a running build to stop it, which it
    /// does within a heartbeat (at once when the worker runs in this process).
    pub async fn cancel_build(
        &self,
        user: &User,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<Build, DatalabError> {
        let row = self
            .reach_build(
                &Caller::User(user.clone()),
                name,
                version,
                number,
                Access::Edit,
            )
            .await?;
        let reason = format!("cancelled by {} before it started", user.name);
        let cancelled = self
            .database
            .cancel_queued_build(&row.id, Utc::now(), &reason)
            .await?
            || self.database.request_build_cancel(&row.id).await?;
        let current = self.database.build_by_id(&row.id).await?.ok_or_else(|| {
            DatalabError::UnknownBuild {
                name: name.to_owned(),
                version: version.to_owned(),
                number,
            }
        })?;
        let build = Build::from_row(current, version)?;
        if !cancelled {
            return Err(DatalabError::BuildEnded {
                version: version.to_owned(),
                number,
                status: build.status,
            });
        }
        self.events.build_changed(&row.id);
        Ok(build)
    }

    /// Up to `limit` stored log lines after line `after` (-1 for the start).
    pub async fn log(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        Ok(self
            .database
            .build_log(&row.id, after, limit)
            .await?
            .into_iter()
            .map(LogLine::from)
            .collect())
    }

    /// The log from line `after` on, live while the build runs, then one [`LogEvent::End`] with
    /// how it ended. Works the same for a build that ended long ago.
    pub async fn follow_log(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
        after: i64,
    ) -> Result<impl Stream<Item = LogEvent> + Send + 'static, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        Ok(log_follower::follow(
            self.database.clone(),
            &self.events,
            row.id,
            after,
        ))
    }

    /// The datalab `name` if the caller's access is at least `needed`: hidden datalabs are
    /// reported as unknown, visible ones the caller may not change as forbidden.
    async fn reach(
        &self,
        caller: &Caller,
        name: &str,
        needed: Access,
    ) -> Result<DatalabRow, DatalabError> {
        let unknown = || DatalabError::UnknownDatalab {
            name: name.to_owned(),
        };
        let row = self
            .database
            .datalab_by_name(name)
            .await?
            .ok_or_else(unknown)?;
        let mut exposure = Exposure {
            owner_id: &row.owner_id,
            state: &row.state,
            visibility: &row.visibility,
            caller_is_member: false,
        };
        let mut granted = access(caller, &exposure);
        if granted < Access::View
            && let Some(user) = caller.user()
        {
            exposure.caller_is_member = self.database.is_datalab_member(&row.id, &user.id).await?;
            granted = access(caller, &exposure);
        }
        if granted < Access::View {
            return Err(unknown());
        }
        if granted < needed {
            return Err(DatalabError::EditForbidden {
                name: name.to_owned(),
            });
        }
        Ok(row)
    }

    /// The datalab `name` if `user` may change it.
    async fn reach_as_editor(&self, user: &User, name: &str) -> Result<DatalabRow, DatalabError> {
        self.reach(&Caller::User(user.clone()), name, Access::Edit)
            .await
    }

    async fn reach_version(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        needed: Access,
    ) -> Result<(DatalabRow, VersionRow), DatalabError> {
        let reached = self.reach(caller, name, needed).await?;
        let row = self
            .database
            .version_of(&reached.id, version)
            .await?
            .ok_or_else(|| DatalabError::UnknownVersion {
                name: name.to_owned(),
                version: version.to_owned(),
            })?;
        Ok((reached, row))
    }

    async fn reach_build(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
        needed: Access,
    ) -> Result<BuildRow, DatalabError> {
        let (_, version_row) = self.reach_version(caller, name, version, needed).await?;
        self.database
            .build_by_number(&version_row.id, number)
            .await?
            .ok_or_else(|| DatalabError::UnknownBuild {
                name: name.to_owned(),
                version: version.to_owned(),
                number,
            })
    }
}

/// Datalab names become URL segments and image repository names (`datalabs/<name>`).
fn check_name(name: &str) -> Result<(), DatalabError> {
    let invalid = |reason| DatalabError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if !(2..=63).contains(&name.len()) {
        return Err(invalid("it has fewer than 2 or more than 63 characters"));
    }
    if !name.chars().all(|character| {
        character.is_ascii_lowercase() || character.is_ascii_digit() || character == '-'
    }) {
        return Err(invalid("it has a character other than a-z, 0-9 and '-'"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid("it starts or ends with '-'"));
    }
    Ok(())
}

/// Semantic versions as metadata.yaml's schema accepts them: `MAJOR.MINOR.PATCH` without leading
/// zeros, optionally `-` and dot-separated pre-release identifiers.
fn check_version(version: &str) -> Result<(), DatalabError> {
    let numeric = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|byte| byte.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
    };
    let identifier = |part: &str| {
        numeric(part)
            || (!part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
                && !part.bytes().all(|byte| byte.is_ascii_digit()))
    };
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (version, None),
    };
    let core_parts: Vec<&str> = core.split('.').collect();
    let valid = version.len() <= MAX_VERSION_CHARACTERS
        && core_parts.len() == 3
        && core_parts.iter().all(|part| numeric(part))
        && pre_release.is_none_or(|pre_release| pre_release.split('.').all(identifier));
    if valid {
        Ok(())
    } else {
        Err(DatalabError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_without_private_access_see_neither_private_fields_nor_service_paths() {
        let version = Version {
            version: "0.0.1".to_owned(),
            source: VersionSource::Workspace {
                path: "/srv/labforge/workspaces/alice/jl-demo".to_owned(),
            },
            metadata: Some(serde_json::json!({"title": "Demo", "dateCreated": "2026-11-21"})),
            state: "published".to_owned(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let public = version.clone().shown_to(false);
        assert_eq!(
            public.source,
            VersionSource::Workspace {
                path: "jl-demo".to_owned()
            }
        );
        let metadata = public.metadata.unwrap();
        assert_eq!(metadata["title"], "Demo");
        assert!(metadata.get("dateCreated").is_none());
        assert_eq!(version.clone().shown_to(true).source, version.source);
    }

    #[test]
    fn names_follow_the_slug_rule_and_say_what_is_wrong() {
        for good in ["jl-euclid-tools", "x1", "web-catalog-browser"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("a", "fewer than 2"),
            ("Upper", "other than a-z"),
            ("under_score", "other than a-z"),
            ("-lead", "starts or ends"),
            ("trail-", "starts or ends"),
        ] {
            let message = check_name(bad).unwrap_err().to_string();
            assert!(message.contains(reason), "{bad}: {message}");
        }
        assert!(check_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn versions_are_semantic() {
        for good in ["0.0.1", "1.20.3", "1.2.3-rc.1", "1.2.3-alpha-2.0"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in [
            "1.2",
            "01.2.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+build",
            "v1.2.3",
            "1.2.3-a..b",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}

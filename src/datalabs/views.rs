//! Datalabs, versions, uploads, builds and log lines as the API shows them and takes them, made
//! from storage rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::states::{BuildStatus, DatalabState, VersionState, Visibility};
use crate::accounts::{Caller, Role};
use crate::evidence::LicenceReport;
use crate::metadata::DatalabKind;
use crate::pipeline::PhaseTimings;
use crate::pipeline::checks::NotebookChecks;
use crate::pipeline::smoke::SmokeTestResult;
use crate::recipe::lint::LintFinding;
use crate::storage::StorageError;
use crate::storage::builds::{BuildRow, LogLineRow};
use crate::storage::datalabs::{DatalabRow, VersionRow};

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
    pub state: DatalabState,
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
            visibility: row.visibility,
            id: row.id,
            name: row.name,
            owner: row.owner_name,
            state: row.state,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
        /// One folder of the repository, relative to its root, staged alone (one tutorial of a
        /// repository of tutorials); the whole repository when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subfolder: Option<String>,
    },
    /// A zip archive uploaded with `POST /api/uploads`.
    Zip { upload: String },
    /// A folder of the workspace, relative to the workspace root.
    Workspace { path: String },
}

impl VersionSource {
    pub(super) fn kind(&self) -> &'static str {
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
    pub state: VersionState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Version {
    /// The version as shown to a reader who may (`private_fields`) or may not see the metadata
    /// fields the field table marks private and the service's own paths.
    pub(super) fn shown_to(mut self, private_fields: bool) -> Self {
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
pub(super) fn reads_private_fields(caller: &Caller, owner_id: &str) -> bool {
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
                subfolder: row.source_subfolder,
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

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
    /// The dependencies whose licences a moderator must look at, once succeeded; the full SPDX
    /// document is at `.../builds/{number}/sbom`.
    pub licence_report: Option<LicenceReport>,
    /// A JupyterLab datalab's notebooks executed in the image before review.
    pub notebooks: Option<NotebookChecks>,
    /// Where the desktop's screenshot after its smoke test is (`.../builds/{number}/screenshot`,
    /// a PNG), when the build keeps one.
    pub screenshot: Option<String>,
}

impl Build {
    /// `name` is the datalab's, for the links.
    pub(crate) fn from_row(row: BuildRow, name: &str, version: &str) -> Result<Self, StorageError> {
        let corrupt = |what| {
            move |error: serde_json::Error| StorageError::Corrupt {
                what,
                detail: error.to_string(),
            }
        };
        Ok(Self {
            number: row.number,
            version: version.to_owned(),
            status: row.status,
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
            licence_report: row
                .licence_report
                .map(|report| serde_json::from_value(report.0))
                .transpose()
                .map_err(corrupt("licence report"))?,
            notebooks: row
                .notebook_checks
                .map(|checks| serde_json::from_value(checks.0))
                .transpose()
                .map_err(corrupt("notebook checks"))?,
            screenshot: row.has_screenshot.then(|| {
                format!(
                    "/api/datalabs/{name}/versions/{version}/builds/{}/screenshot",
                    row.number
                )
            }),
        })
    }
}

/// A PNG image, as bytes.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Png(pub Vec<u8>);

/// One line of a build log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Position in the log from 0; Server-Sent Events use it as the event id.
    pub line: i64,
    pub at: DateTime<Utc>,
    /// Pipeline phase (`fetch`, `package`, `lint`, `solve`, `push`, `smoke-test`, `checks`) or `queue`.
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
            state: VersionState::Published,
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
}

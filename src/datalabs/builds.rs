//! Builds as the datalabs service offers them: queued here (the `jobs` workers run them), listed,
//! cancelled, and their logs read or followed live.

use std::path::{Path, PathBuf};

use chrono::Utc;
use futures_util::Stream;

use super::log_follower::{self, LogEvent};
use super::visibility::Access;
use super::{
    Build, DatalabError, DatalabService, LogLine, Version, VersionSource, Workspaces, upload,
};
use crate::accounts::{Caller, User};
use crate::evidence::LicenceReport;
use crate::sources::Source;
use crate::storage::datalabs::VersionRow;
use crate::storage::new_id;

/// The datalab's files as the pipeline fetches them: zip uploads live at
/// `<data_dir>/uploads/<id>.zip`, workspace paths are folders of the datalab owner's workspace,
/// whoever queued the build.
pub fn build_source(
    version: &VersionRow,
    owner_name: &str,
    data_dir: &Path,
    workspaces: &Workspaces,
) -> Result<Source, DatalabError> {
    Ok(match Version::try_from(version.clone())?.source {
        VersionSource::Git {
            url,
            reference,
            subfolder,
        } => Source::Git {
            url,
            reference,
            subfolder,
        },
        VersionSource::Zip { upload } => Source::Zip {
            path: upload::upload_path(data_dir, &upload),
        },
        VersionSource::Workspace { path } => Source::Workspace {
            root: workspaces.of(owner_name)?,
            path: PathBuf::from(path),
        },
    })
}

impl DatalabService {
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
        Ok(Build::from_row(row, name, version)?)
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
            .map(|row| Build::from_row(row, name, version))
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
        Ok(Build::from_row(row, name, version)?)
    }

    /// The SPDX 2.3 document of the build's image, for whoever may see the build.
    pub async fn build_sbom(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<serde_json::Value, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        self.database
            .build_sbom(&row.id)
            .await?
            .ok_or(DatalabError::NoEvidence {
                version: version.to_owned(),
                number,
                status: row.status,
            })
    }

    /// The PNG screenshot of a desktop build, for whoever may see the build.
    pub async fn build_screenshot(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<Vec<u8>, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        self.database
            .build_screenshot(&row.id)
            .await?
            .ok_or(DatalabError::NoScreenshot {
                version: version.to_owned(),
                number,
            })
    }

    /// The licence report of the build's dependencies, for whoever may see the build.
    pub async fn build_licence_report(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        number: i64,
    ) -> Result<LicenceReport, DatalabError> {
        let row = self
            .reach_build(caller, name, version, number, Access::View)
            .await?;
        let status = row.status;
        Build::from_row(row, name, version)?
            .licence_report
            .ok_or(DatalabError::NoEvidence {
                version: version.to_owned(),
                number,
                status,
            })
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
        let build = Build::from_row(current, name, version)?;
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
}

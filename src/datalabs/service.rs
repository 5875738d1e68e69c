//! The datalabs service: datalabs, sharing, uploads and versions, checked against the caller's
//! [`access`] before `storage` is called. Builds are in `builds`.

use std::sync::Arc;

use chrono::Utc;
use futures_util::Stream;

use super::names::{check_name, check_version};
use super::views::reads_private_fields;
use super::visibility::{Access, Exposure, access, in_member_state};
use super::{
    BuildEvents, Datalab, DatalabError, DatalabSettings, DatalabState, NewDatalab, NewVersion,
    Upload, Version, VersionSource, VersionState, Visibility, WorkspaceFolder, upload,
};
use crate::accounts::{Caller, Role, User};
use crate::sources::Source;
use crate::storage::builds::BuildRow;
use crate::storage::datalabs::{DatalabRow, UploadRow, VersionRow};
use crate::storage::submissions::{HistoryEntry, Publication, PublishingWrite};
use crate::storage::{Database, new_id};

#[derive(Debug, Clone)]
pub struct DatalabService {
    pub(super) database: Database,
    pub(super) settings: Arc<DatalabSettings>,
    pub(super) events: BuildEvents,
}

impl DatalabService {
    pub fn new(database: Database, settings: DatalabSettings, events: BuildEvents) -> Self {
        Self {
            database,
            settings: Arc::new(settings),
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
            visibility: Visibility::Private,
            state: DatalabState::Draft,
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
        let write = PublishingWrite {
            publication: Some(Publication {
                datalab_id: datalab.id.clone(),
                version_id: version_row.id.clone(),
                visibility: Visibility::Public,
            }),
            history: vec![HistoryEntry {
                datalab_id: datalab.id.clone(),
                datalab_name: datalab.name.clone(),
                submission_id: None,
                actor: None,
                action: "published",
                from_state: Some(datalab.state.to_string()),
                to_state: DatalabState::Published.to_string(),
                version: Some(version_row.version.clone()),
                build_number: None,
                comment: Some(
                    "published by the operator's `labforge run`, without review".to_owned(),
                ),
            }],
            ..PublishingWrite::default()
        };
        self.database.apply_publishing(&write, Utc::now()).await?;
        self.database.refresh_datalab_search(&datalab.id).await?;
        Ok(())
    }

    /// The folders of `user`'s workspace that hold a `metadata.yaml`: what a version can be built
    /// from.
    pub async fn workspace_projects(
        &self,
        user: &User,
    ) -> Result<Vec<WorkspaceFolder>, DatalabError> {
        let workspaces = self.settings.workspaces.clone();
        let owner = user.name.clone();
        tokio::task::spawn_blocking(move || workspaces.projects(&owner))
            .await
            .expect("listing a workspace does not panic")
    }

    /// `user`'s workspace folder, created on first use.
    pub fn workspace_of(&self, user: &User) -> Result<std::path::PathBuf, DatalabError> {
        self.settings.workspaces.of(&user.name)
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
            - chrono::Duration::hours(i64::from(self.settings.limits.unused_upload_hours));
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
                    let path = upload::upload_path(&self.settings.data_dir, id);
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

    /// The users the datalab is shared with, for those who may change it.
    pub async fn members(&self, user: &User, name: &str) -> Result<Vec<String>, DatalabError> {
        let reached = self.reach_as_editor(user, name).await?;
        Ok(self.database.datalab_member_names(&reached.id).await?)
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
        let limit = self.settings.limits.max_upload_bytes;
        if declared_length.is_some_and(|length| length > limit) {
            return Err(DatalabError::UploadTooLarge { limit });
        }
        let id = new_id();
        let stored = upload::store(&self.settings.data_dir, &id, body, limit).await?;
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
        let (location, reference, subfolder) =
            self.checked_source(user, &reached, &new.source).await?;
        let now = Utc::now();
        let row = VersionRow {
            id: new_id(),
            datalab_id: reached.id,
            version: new.version,
            source_kind: new.source.kind().to_owned(),
            source_location: location,
            source_reference: reference,
            source_subfolder: subfolder,
            metadata: None,
            state: VersionState::Draft,
            created_at: now,
            updated_at: now,
        };
        self.database.insert_version(&row, name).await?;
        Ok(Version::try_from(row)?)
    }

    /// Gives the draft `version` other sources (ESA Datalabs' "Upload new sources"), checked
    /// as a new version's are; the next build uses them. A published version's never change.
    pub async fn replace_source(
        &self,
        user: &User,
        name: &str,
        version: &str,
        source: VersionSource,
    ) -> Result<Version, DatalabError> {
        let (reached, row) = self
            .reach_version(&Caller::User(user.clone()), name, version, Access::Edit)
            .await?;
        let published = || DatalabError::VersionPublished {
            name: name.to_owned(),
            version: version.to_owned(),
        };
        if row.state == VersionState::Published {
            return Err(published());
        }
        let (location, reference, subfolder) = self.checked_source(user, &reached, &source).await?;
        let changed = self
            .database
            .set_draft_version_source(
                &row.id,
                &crate::storage::datalabs::SourceColumns {
                    kind: source.kind(),
                    location: &location,
                    reference: reference.as_deref(),
                    subfolder: subfolder.as_deref(),
                },
                Utc::now(),
            )
            .await?;
        if !changed {
            return Err(published());
        }
        self.version_by_id(&row.id, name, version).await
    }

    /// The version `id` (`version` of `name`) as it is stored now, after a change of its sources.
    pub(super) async fn version_by_id(
        &self,
        id: &str,
        name: &str,
        version: &str,
    ) -> Result<Version, DatalabError> {
        let row =
            self.database
                .version_by_id(id)
                .await?
                .ok_or_else(|| DatalabError::UnknownVersion {
                    name: name.to_owned(),
                    version: version.to_owned(),
                })?;
        Ok(Version::try_from(row)?)
    }

    /// `source` checked as far as it can be without fetching it, as the columns that keep it:
    /// location, reference and subfolder.
    async fn checked_source(
        &self,
        user: &User,
        reached: &DatalabRow,
        source: &VersionSource,
    ) -> Result<(String, Option<String>, Option<String>), DatalabError> {
        Ok(match source {
            VersionSource::Git {
                url,
                reference,
                subfolder,
            } => {
                crate::sources::check(
                    &Source::Git {
                        url: url.clone(),
                        reference: reference.clone(),
                        subfolder: subfolder.clone(),
                    },
                    &self.settings.sources,
                )?;
                (url.clone(), reference.clone(), subfolder.clone())
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
                (upload.clone(), None, None)
            }
            // The caller names a folder of the datalab owner's workspace: their own, or (for an
            // administrator adding a version) the owner's, never anyone else's.
            VersionSource::Workspace { path } => {
                self.settings.workspaces.source(&reached.owner_name, path)?;
                (path.clone(), None, None)
            }
        })
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

    /// The datalab `name` if the caller's access is at least `needed`: hidden datalabs are
    /// reported as unknown, visible ones the caller may not change as forbidden.
    pub(crate) async fn reach(
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
            state: row.state,
            visibility: row.visibility,
            caller_is_member: false,
            caller_in_member_state: in_member_state(caller, &self.settings.member_states),
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
    pub(super) async fn reach_as_editor(
        &self,
        user: &User,
        name: &str,
    ) -> Result<DatalabRow, DatalabError> {
        self.reach(&Caller::User(user.clone()), name, Access::Edit)
            .await
    }

    pub(crate) async fn reach_version(
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

    pub(super) async fn reach_build(
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

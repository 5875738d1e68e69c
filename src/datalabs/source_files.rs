//! The two files an author edits in the browser, `metadata.yaml` and `requirements.txt`, read from
//! and written to the sources of a draft version (the editor's Metadata and Testing tabs).
//!
//! - A **zip** source is staged as a build stages it (ignore rules applied, secret-looking files
//!   left out), the file replaced, and the staged files zipped into a new upload of the same
//!   owner; the version then points at it. Files a build would never see are not carried over.
//! - A **workspace** folder gets the file written in place: a temporary file beside it, renamed
//!   over it, owned as the folder is; a file that is a link is refused like a missing folder.
//! - A **git** source is refused: the file is edited in the repository, and a new version made
//!   from the new commit.
//!
//! A published version's sources never change. What is written is checked first, as the build
//! will check it: metadata.yaml parsed and validated (every problem with its field, line and
//! column), requirements.txt read with the packaging rules (index options, local paths).

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use chrono::Utc;
use sha2::{Digest as _, Sha256};

use super::export::zip_tree;
use super::states::VersionState;
use super::upload::upload_path;
use super::visibility::Access;
use super::{DatalabError, DatalabService, Version, VersionSource};
use crate::accounts::{Caller, User};
use crate::metadata::{MAX_METADATA_BYTES, read_metadata};
use crate::recipe::requirements::parse_requirement_lines;
use crate::sources::stage;
use crate::storage::datalabs::{SourceColumns, UploadRow};
use crate::storage::new_id;

/// A file of a version's sources that the editor reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
pub enum SourceFile {
    #[serde(rename = "metadata.yaml")]
    Metadata,
    #[serde(rename = "requirements.txt")]
    Requirements,
}

impl SourceFile {
    /// The file named `name` in a path: `metadata.yaml` or `requirements.txt`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Metadata, Self::Requirements]
            .into_iter()
            .find(|file| file.name() == name)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Metadata => "metadata.yaml",
            Self::Requirements => "requirements.txt",
        }
    }
}

/// The largest file the editor writes: metadata.yaml's own limit, for both.
pub const MAX_SOURCE_FILE_BYTES: usize = MAX_METADATA_BYTES;

impl DatalabService {
    /// The text of `file` in the sources of `version`; a missing requirements.txt is empty.
    pub async fn source_file(
        &self,
        user: &User,
        name: &str,
        version: &str,
        file: SourceFile,
    ) -> Result<String, DatalabError> {
        let editable = self.editable(user, name, version, file).await?;
        let result = async {
            let folder = editable.folder().await?;
            read_file(&folder, file)?.map_or_else(
                || match file {
                    SourceFile::Requirements => Ok(String::new()),
                    SourceFile::Metadata => Err(DatalabError::NoSourceFile {
                        name: name.to_owned(),
                        version: version.to_owned(),
                        file: file.name(),
                    }),
                },
                Ok,
            )
        }
        .await;
        editable.clean_up();
        result
    }

    /// Replaces `file` in the sources of the draft `version` with `text`, once it passes the
    /// checks a build makes of it. `text` is the request's body as read: a body that is not text
    /// is refused only once the caller is known to be allowed to edit the file, so that others
    /// learn nothing from it. Returns the version, pointing at its new sources.
    pub async fn replace_source_file(
        &self,
        user: &User,
        name: &str,
        version: &str,
        file: SourceFile,
        text: Result<String, DatalabError>,
    ) -> Result<Version, DatalabError> {
        let editable = self.editable(user, name, version, file).await?;
        let text = text?;
        if text.len() > MAX_SOURCE_FILE_BYTES {
            return Err(DatalabError::SourceFileTooLarge {
                file: file.name(),
                size: text.len(),
                limit: MAX_SOURCE_FILE_BYTES,
            });
        }
        let result = async {
            let folder = editable.folder().await?;
            self.check(&folder, file, &text)?;
            write_file(&folder, file, &text)?;
            if let Editable::Zip { upload_owner, .. } = &editable {
                let upload = self.store_folder_as_upload(&folder, upload_owner).await?;
                let changed = self
                    .database
                    .set_draft_version_source(
                        &editable.version_id(),
                        &SourceColumns {
                            kind: "zip",
                            location: &upload,
                            reference: None,
                            subfolder: None,
                        },
                        Utc::now(),
                    )
                    .await?;
                if !changed {
                    return Err(published(name, version, file));
                }
            }
            self.version_by_id(&editable.version_id(), name, version)
                .await
        }
        .await;
        editable.clean_up();
        result
    }

    /// The version's sources as the editor may change them, or why it may not.
    async fn editable(
        &self,
        user: &User,
        name: &str,
        version: &str,
        file: SourceFile,
    ) -> Result<Editable, DatalabError> {
        let (datalab, row) = self
            .reach_version(&Caller::User(user.clone()), name, version, Access::Edit)
            .await?;
        if row.state == VersionState::Published {
            return Err(published(name, version, file));
        }
        match Version::try_from(row.clone())?.source {
            VersionSource::Git { .. } => Err(DatalabError::NotEditable {
                name: name.to_owned(),
                version: version.to_owned(),
                file: file.name(),
                reason: "its sources are a git repository: change the file there, then add a \
                         version from the new commit",
            }),
            VersionSource::Zip { upload } => {
                let upload_owner = self
                    .database
                    .upload_by_id(&upload)
                    .await?
                    .map_or_else(|| user.id.clone(), |row| row.user_id);
                let staging = self.settings.data_dir.join("edits").join(new_id());
                Ok(Editable::Zip {
                    version_id: row.id,
                    source: crate::sources::Source::Zip {
                        path: upload_path(&self.settings.data_dir, &upload),
                    },
                    staging,
                    settings: self.settings.sources.clone(),
                    upload_owner,
                })
            }
            VersionSource::Workspace { path } => Ok(Editable::Workspace {
                version_id: row.id,
                folder: self
                    .settings
                    .workspaces
                    .folder(&datalab.owner_name, &path)?,
            }),
        }
    }

    /// What a build would say of `text` as `file` in `folder`.
    fn check(&self, folder: &Path, file: SourceFile, text: &str) -> Result<(), DatalabError> {
        match file {
            SourceFile::Metadata => {
                read_metadata(text, file.name())?;
            }
            SourceFile::Requirements => {
                let lines: Vec<(usize, String)> = text
                    .lines()
                    .enumerate()
                    .map(|(index, line)| (index + 1, line.to_owned()))
                    .collect();
                parse_requirement_lines(
                    folder,
                    Path::new(file.name()),
                    &lines,
                    &self.settings.packaging,
                )
                .map_err(|error| DatalabError::InvalidRequirementsFile(error.to_string()))?;
            }
        }
        Ok(())
    }

    /// Zips `folder` into a new upload of `owner`; its id.
    async fn store_folder_as_upload(
        &self,
        folder: &Path,
        owner: &str,
    ) -> Result<String, DatalabError> {
        let id = new_id();
        let target = upload_path(&self.settings.data_dir, &id);
        let folder = folder.to_owned();
        let written = target.clone();
        let (size_bytes, sha256) =
            tokio::task::spawn_blocking(move || zip_folder(&folder, &written))
                .await
                .expect("the archive writer does not panic")?;
        let row = UploadRow {
            id: id.clone(),
            user_id: owner.to_owned(),
            size_bytes: i64::try_from(size_bytes).unwrap_or(i64::MAX),
            sha256,
            created_at: Utc::now(),
        };
        if let Err(error) = self.database.insert_upload(&row).await {
            let _ = std::fs::remove_file(&target);
            return Err(error.into());
        }
        Ok(id)
    }
}

fn published(name: &str, version: &str, file: SourceFile) -> DatalabError {
    DatalabError::NotEditable {
        name: name.to_owned(),
        version: version.to_owned(),
        file: file.name(),
        reason: "the version is published and its sources never change: add a new version",
    }
}

/// A version's sources opened for editing.
enum Editable {
    Zip {
        version_id: String,
        source: crate::sources::Source,
        staging: PathBuf,
        settings: crate::sources::SourcesConfig,
        upload_owner: String,
    },
    /// The workspace folder, resolved inside its workspace.
    Workspace { version_id: String, folder: PathBuf },
}

impl Editable {
    fn version_id(&self) -> String {
        match self {
            Self::Zip { version_id, .. } | Self::Workspace { version_id, .. } => version_id.clone(),
        }
    }

    /// The folder holding the files: the staged zip, or the workspace folder.
    async fn folder(&self) -> Result<PathBuf, DatalabError> {
        match self {
            Self::Zip {
                source,
                staging,
                settings,
                ..
            } => {
                let edits = staging.parent().expect("staging lives in the edits folder");
                std::fs::create_dir_all(edits).map_err(|source| DatalabError::EditStorage {
                    path: edits.to_owned(),
                    source,
                })?;
                Ok(stage(source, staging, settings).await?.root)
            }
            Self::Workspace { folder, .. } => Ok(folder.clone()),
        }
    }

    fn clean_up(&self) {
        if let Self::Zip { staging, .. } = self {
            let _ = std::fs::remove_dir_all(staging);
        }
    }
}

/// The text of `file` in `folder`, `None` when there is none; a link is never followed.
fn read_file(folder: &Path, file: SourceFile) -> Result<Option<String>, DatalabError> {
    let path = folder.join(file.name());
    let storage = |source| DatalabError::EditStorage {
        path: path.clone(),
        source,
    };
    match std::fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(storage(error)),
        Ok(kind) if !kind.is_file() => return Ok(None),
        Ok(_) => {}
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|file| {
            file.take(MAX_SOURCE_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(storage)?;
    if bytes.len() > MAX_SOURCE_FILE_BYTES {
        return Err(DatalabError::SourceFileTooLarge {
            file: file.name(),
            size: bytes.len(),
            limit: MAX_SOURCE_FILE_BYTES,
        });
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Writes `text` as `file` in `folder` through a temporary file renamed over it, owned as the
/// folder is (the datalab user's, in a workspace). A link in its place is replaced, never
/// followed.
fn write_file(folder: &Path, file: SourceFile, text: &str) -> Result<(), DatalabError> {
    let storage = |path: &Path| {
        let path = path.to_owned();
        move |source| DatalabError::EditStorage { path, source }
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".labforge-edit-")
        .tempfile_in(folder)
        .map_err(storage(folder))?;
    temporary
        .write_all(text.as_bytes())
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(storage(temporary.path()))?;
    let owner = std::fs::metadata(folder).map_err(storage(folder))?;
    match std::os::unix::fs::fchown(temporary.as_file(), Some(owner.uid()), Some(owner.gid())) {
        Ok(()) => {}
        // Not running as root: the file stays the service's, as the folder may be.
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {}
        Err(error) => return Err(storage(temporary.path())(error)),
    }
    std::fs::set_permissions(
        temporary.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .map_err(storage(temporary.path()))?;
    let target = folder.join(file.name());
    temporary
        .persist(&target)
        .map_err(|error| storage(&target)(error.error))?;
    Ok(())
}

/// Zips every file under `folder` into `target` (written beside it, then renamed); its size and
/// SHA-256.
fn zip_folder(folder: &Path, target: &Path) -> Result<(u64, String), DatalabError> {
    let storage = |path: &Path| {
        let path = path.to_owned();
        move |source: std::io::Error| DatalabError::EditStorage { path, source }
    };
    let uploads = target.parent().expect("uploads live in a folder");
    std::fs::create_dir_all(uploads).map_err(storage(uploads))?;
    let partial = tempfile::Builder::new()
        .suffix(".zip.partial")
        .tempfile_in(uploads)
        .map_err(storage(uploads))?;
    let mut writer = zip::ZipWriter::new(partial.reopen().map_err(storage(partial.path()))?);
    zip_tree(&mut writer, folder, None)
        .map_err(|(path, source)| DatalabError::EditStorage { path, source })?;
    writer
        .finish()
        .map_err(|error| storage(target)(std::io::Error::other(error)))?;
    let mut hasher = Sha256::new();
    let mut reader = std::fs::File::open(partial.path()).map_err(storage(partial.path()))?;
    let size = std::io::copy(&mut reader, &mut hasher).map_err(storage(partial.path()))?;
    partial
        .persist(target)
        .map_err(|error| storage(target)(error.error))?;
    Ok((size, format!("{:x}", hasher.finalize())))
}

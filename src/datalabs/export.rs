//! A version exported as one zip archive: its sources as the build stages them (ignore files
//! applied, `.git` and secret-looking files left out), with `labforge-export.json` recording
//! where they came from and what the last green build made of them. Uploading the archive as the
//! source of a new version builds the same environment (the same environment hash): the
//! metadata, requirements, Binder files and any Dockerfile are the staged sources themselves.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::builds::build_source;
use super::visibility::Access;
use super::{DatalabError, DatalabService, Version, VersionSource};
use crate::accounts::Caller;
use crate::sources::{StagedSource, stage};
use crate::storage::new_id;

/// The manifest's name at the archive's top level.
pub const MANIFEST_FILE: &str = "labforge-export.json";

/// What an exported archive records beside the sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportManifest {
    pub datalab: String,
    pub version: String,
    /// Where the version's sources came from.
    pub source: VersionSource,
    /// The commit a git source was at when exported.
    pub revision: Option<String>,
    /// The newest succeeded build, `<version>-<number>`, and what it made.
    pub build: Option<String>,
    pub environment_hash: Option<String>,
    pub image: Option<String>,
    pub digest: Option<String>,
    pub exported_at: DateTime<Utc>,
}

/// An export ready to send: an unlinked file (removed from the folder as soon as it was written)
/// positioned at its start.
#[derive(Debug)]
pub struct ExportArchive {
    /// `<name>-<version>.zip`.
    pub file_name: String,
    pub size: u64,
    pub file: std::fs::File,
}

impl DatalabService {
    /// Exports `version` of `name` for anyone who may see the datalab: a published datalab's
    /// sources are offered with it (what copyleft licences ask for), a private one's only to
    /// those who see it.
    pub async fn export_version(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<ExportArchive, DatalabError> {
        let (datalab, version_row) = self
            .reach_version(caller, name, version, Access::View)
            .await?;
        let source = build_source(
            &version_row,
            &datalab.owner_name,
            &self.settings.data_dir,
            &self.settings.workspaces,
        )?;
        let exports = self.settings.data_dir.join("exports");
        std::fs::create_dir_all(&exports).map_err(|source| DatalabError::ExportStorage {
            path: exports.clone(),
            source,
        })?;
        let staging = exports.join(new_id());
        let staged = stage(&source, &staging, &self.settings.sources).await;
        let build = self.database.latest_succeeded_build(&version_row.id).await;
        let result = async {
            let staged = staged?;
            let build = build?;
            let manifest = ExportManifest {
                datalab: datalab.name.clone(),
                version: version_row.version.clone(),
                source: Version::try_from(version_row.clone())?.source,
                revision: staged.revision.clone(),
                build: build
                    .as_ref()
                    .map(|build| format!("{}-{}", version_row.version, build.number)),
                environment_hash: build
                    .as_ref()
                    .and_then(|build| build.environment_hash.clone()),
                image: build.as_ref().and_then(|build| build.image.clone()),
                digest: build.as_ref().and_then(|build| build.digest.clone()),
                exported_at: Utc::now(),
            };
            let folder = exports.clone();
            tokio::task::spawn_blocking(move || write_archive(&staged, &manifest, &folder))
                .await
                .expect("the archive writer does not panic")
        }
        .await;
        // The staged copy is not needed once the archive holds it, nor after a failure.
        let _ = std::fs::remove_dir_all(&staging);
        let (file, size) = result?;
        Ok(ExportArchive {
            file_name: format!("{}-{}.zip", datalab.name, version_row.version),
            size,
            file,
        })
    }
}

/// Zips the staged files (links as the files they name inside the source, folders implied) and
/// the manifest into an unlinked temporary file in `folder`.
fn write_archive(
    staged: &StagedSource,
    manifest: &ExportManifest,
    folder: &Path,
) -> Result<(std::fs::File, u64), DatalabError> {
    let storage = |path: &Path| {
        let path = path.to_owned();
        move |source: std::io::Error| DatalabError::ExportStorage { path, source }
    };
    let temporary = tempfile::tempfile_in(folder).map_err(storage(folder))?;
    let mut writer = zip::ZipWriter::new(temporary);
    let zip_error = |error: zip::result::ZipError| DatalabError::ExportStorage {
        path: folder.to_owned(),
        source: std::io::Error::other(error),
    };
    // A re-exported archive gets a fresh manifest, not two.
    zip_tree(&mut writer, &staged.root, Some(MANIFEST_FILE))
        .map_err(|(path, source)| DatalabError::ExportStorage { path, source })?;
    writer
        .start_file(MANIFEST_FILE, zip_options())
        .map_err(zip_error)?;
    let text = serde_json::to_vec_pretty(manifest).expect("the manifest serialises");
    writer.write_all(&text).map_err(storage(folder))?;
    let mut file = writer.finish().map_err(zip_error)?;
    let size = file.seek(SeekFrom::End(0)).map_err(storage(folder))?;
    file.seek(SeekFrom::Start(0)).map_err(storage(folder))?;
    Ok((file, size))
}

/// How labforge writes the entries of the zip archives it makes.
fn zip_options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644)
}

/// Adds every file under the staged `root` to `writer`, at its path relative to `root`, but the
/// top-level file named `leave_out`. A failure names the file or folder it concerns.
pub(super) fn zip_tree<W: std::io::Write + std::io::Seek>(
    writer: &mut zip::ZipWriter<W>,
    root: &Path,
    leave_out: Option<&str>,
) -> Result<(), (PathBuf, std::io::Error)> {
    for (relative, path) in files_of(root).map_err(|error| (root.to_owned(), error))? {
        if leave_out == Some(relative.as_str()) {
            continue;
        }
        writer
            .start_file(relative, zip_options())
            .map_err(|error| (path.clone(), std::io::Error::other(error)))?;
        let mut file = std::fs::File::open(&path).map_err(|error| (path.clone(), error))?;
        std::io::copy(&mut file, writer).map_err(|error| (path.clone(), error))?;
    }
    Ok(())
}

/// Every regular file under `root` (links followed only when they stay inside it, as staging
/// guarantees), as `(path relative to root with '/', path)`, sorted.
fn files_of(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let kind = std::fs::metadata(&path)?;
            if kind.is_dir() {
                folders.push(path);
            } else if kind.is_file() {
                let relative = path
                    .strip_prefix(root)
                    .expect("found under the root")
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                found.push((relative, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn the_archive_holds_the_files_and_one_fresh_manifest() {
        let folder = tempfile::tempdir().unwrap();
        let root = folder.path().join("source");
        std::fs::create_dir_all(root.join("notebooks")).unwrap();
        std::fs::write(root.join("metadata.yaml"), "title: T\n").unwrap();
        std::fs::write(root.join("notebooks/a.ipynb"), "{}").unwrap();
        std::fs::write(root.join(MANIFEST_FILE), "{\"old\": true}").unwrap();
        let staged = StagedSource {
            root,
            revision: None,
            origin: "folder".to_owned(),
            files: 3,
            bytes: 10,
            left_out: crate::sources::LeftOut::default(),
        };
        let manifest = ExportManifest {
            datalab: "lab".to_owned(),
            version: "1.0.0".to_owned(),
            source: VersionSource::Workspace {
                path: "lab".to_owned(),
            },
            revision: None,
            build: Some("1.0.0-2".to_owned()),
            environment_hash: Some("abc".to_owned()),
            image: None,
            digest: None,
            exported_at: Utc::now(),
        };
        let (file, size) = write_archive(&staged, &manifest, folder.path()).unwrap();
        assert!(size > 0);
        let mut archive = zip::ZipArchive::new(file).unwrap();
        let mut names: Vec<String> = archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [MANIFEST_FILE, "metadata.yaml", "notebooks/a.ipynb"]);
        let mut text = String::new();
        archive
            .by_name(MANIFEST_FILE)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let read: ExportManifest = serde_json::from_str(&text).unwrap();
        assert_eq!(read, manifest);
        // The temporary file was never left in the folder.
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);
    }
}

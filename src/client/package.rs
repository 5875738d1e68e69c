//! What `labforge push` sends: which kind of source was given, the name, version and kind its
//! `metadata.yaml` states, and a folder packed as a zip archive.
//!
//! A folder is staged with the service's own rules before it is packed ([`crate::sources`]:
//! `.git`, notebook checkpoints and Python caches, `.dockerignore` and `.gitignore` patterns,
//! files that look like secrets), so what leaves the machine is what the build would keep, and a
//! private key beside the notebooks is never uploaded. The metadata is read only for the name,
//! version and kind; validating it is the service's job, whose build reports every problem.

use std::fs;
use std::io::{Cursor, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use zip::write::SimpleFileOptions;

use super::ClientError;
use crate::metadata::DatalabKind;
use crate::sources::{LeftOut, Source, SourcesConfig};

const METADATA_FILE: &str = "metadata.yaml";

/// What the user gave to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushSource {
    Folder(PathBuf),
    Zip(PathBuf),
    Git {
        url: String,
        reference: Option<String>,
        subfolder: Option<String>,
    },
}

impl PushSource {
    /// A git URL, a zip file or a folder, told apart the way a user would.
    pub fn parse(
        given: &str,
        reference: Option<String>,
        subfolder: Option<String>,
    ) -> Result<Self, ClientError> {
        if given.contains("://") || given.starts_with("git@") {
            return Ok(Self::Git {
                url: given.to_owned(),
                reference,
                subfolder,
            });
        }
        let git_only = |flag| ClientError::GitOnlyFlag {
            flag,
            source_given: given.to_owned(),
        };
        if reference.is_some() {
            return Err(git_only("ref"));
        }
        if subfolder.is_some() {
            return Err(git_only("subfolder"));
        }
        let path = PathBuf::from(given);
        let metadata =
            fs::metadata(&path).map_err(|_| ClientError::NoSource { path: path.clone() })?;
        if metadata.is_dir() {
            Ok(Self::Folder(path))
        } else if path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("zip"))
        {
            Ok(Self::Zip(path))
        } else {
            Err(ClientError::UnknownSource { path })
        }
    }

    /// The text of the source's `metadata.yaml`: at a folder's root, or at a zip's root (or in
    /// the one folder all its entries sit in, as the service reads it). `None` for git.
    pub fn metadata_text(&self) -> Result<Option<String>, ClientError> {
        match self {
            Self::Folder(folder) => {
                let path = folder.join(METADATA_FILE);
                match fs::read_to_string(&path) {
                    Ok(text) => Ok(Some(text)),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        Err(ClientError::NoMetadata {
                            path: folder.clone(),
                        })
                    }
                    Err(error) => Err(ClientError::UnreadableSource {
                        path,
                        detail: error.to_string(),
                    }),
                }
            }
            Self::Zip(path) => zip_metadata(path).map(Some),
            Self::Git { .. } => Ok(None),
        }
    }
}

/// The name, version and kind a `metadata.yaml` states, each `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub name: Option<String>,
    pub version: Option<String>,
    pub kind: Option<DatalabKind>,
}

impl Identity {
    /// Reads `alternateName`, `version` and `kind` out of `text`; anything else in it is for the
    /// service to judge.
    pub fn from_metadata(text: &str) -> Result<Self, ClientError> {
        let document = crate::metadata::yaml::load(text).map_err(|problems| {
            ClientError::UnreadableSource {
                path: PathBuf::from(METADATA_FILE),
                detail: problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })?;
        let text_of = |key: &str| match document.value.get(key) {
            Some(Value::String(text)) => Some(text.clone()),
            // `version: 1.0` is read by YAML as a number.
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        Ok(Self {
            name: text_of("alternateName"),
            version: text_of("version"),
            kind: text_of("kind").and_then(|kind| kind.parse().ok()),
        })
    }
}

fn zip_metadata(path: &Path) -> Result<String, ClientError> {
    let unreadable = |detail: String| ClientError::UnreadableSource {
        path: path.to_path_buf(),
        detail,
    };
    let file = fs::File::open(path).map_err(|error| unreadable(error.to_string()))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|error| unreadable(format!("not a zip archive: {error}")))?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|name| {
            name.ok()
                .map(|name| name.trim_start_matches("./").to_owned())
        })
        .collect();
    let wanted = if names.iter().any(|name| name == METADATA_FILE) {
        METADATA_FILE.to_owned()
    } else {
        // A zip whose entries all sit in one folder has that folder as its root.
        let tops: std::collections::BTreeSet<&str> = names
            .iter()
            .filter_map(|name| name.split('/').next())
            .collect();
        match tops.into_iter().collect::<Vec<_>>().as_slice() {
            [top] => format!("{top}/{METADATA_FILE}"),
            _ => String::new(),
        }
    };
    let Some(name) = names.into_iter().find(|name| *name == wanted) else {
        return Err(ClientError::NoMetadata {
            path: path.to_path_buf(),
        });
    };
    let mut entry = archive
        .by_name(&name)
        .map_err(|error| unreadable(error.to_string()))?;
    let mut text = String::new();
    entry
        .by_ref()
        .take(crate::metadata::MAX_METADATA_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|error| unreadable(format!("{name}: {error}")))?;
    Ok(text)
}

/// A folder packed for upload, and what the service's rules left out of it.
#[derive(Debug)]
pub struct PackedFolder {
    pub archive: Vec<u8>,
    /// Entries (files, folders, links) in the archive.
    pub entries: u64,
    pub left_out: LeftOut,
}

/// Stages `folder` under the service's rules and packs what remains as a zip archive.
pub async fn pack_folder(folder: &Path) -> Result<PackedFolder, ClientError> {
    let folder = fs::canonicalize(folder).map_err(|error| ClientError::UnreadableSource {
        path: folder.to_path_buf(),
        detail: error.to_string(),
    })?;
    // The folder is its own workspace: its parent is the root it must stay inside.
    let root = folder.parent().unwrap_or(Path::new("/")).to_path_buf();
    let scratch = tempfile::tempdir().map_err(|error| ClientError::Zip {
        detail: format!("cannot create a temporary folder: {error}"),
    })?;
    let staged = crate::sources::stage(
        &Source::Workspace { root, path: folder },
        &scratch.path().join("staging"),
        &SourcesConfig::default(),
    )
    .await?;
    let archive = zip_tree(&staged.root).map_err(|error| ClientError::Zip {
        detail: error.to_string(),
    })?;
    Ok(PackedFolder {
        archive,
        entries: staged.files,
        left_out: staged.left_out,
    })
}

/// The tree at `root` as a zip archive: folders, files with their permissions, and links.
fn zip_tree(root: &Path) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let mut children: Vec<PathBuf> = fs::read_dir(&folder)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        children.sort();
        for path in children {
            let name = path
                .strip_prefix(root)?
                .to_str()
                .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
                .to_owned();
            let metadata = fs::symlink_metadata(&path)?;
            let mode = metadata.permissions().mode() & 0o777;
            if metadata.is_dir() {
                writer.add_directory(format!("{name}/"), options.unix_permissions(mode))?;
                folders.push(path);
            } else if metadata.file_type().is_symlink() {
                let target = fs::read_link(&path)?;
                let target = target
                    .to_str()
                    .ok_or_else(|| format!("the link {name} is not UTF-8"))?;
                writer.add_symlink(name, target, options)?;
            } else {
                writer.start_file(name, options.unix_permissions(mode))?;
                writer.write_all(&fs::read(&path)?)?;
            }
        }
    }
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_version_and_kind_come_from_the_metadata_and_nothing_else_is_judged() {
        let identity = Identity::from_metadata(
            "title: Demo\nalternateName: jl-demo\nversion: 1.0\nkind: desktop\nlicense: 42\n",
        )
        .unwrap();
        assert_eq!(
            identity,
            Identity {
                name: Some("jl-demo".to_owned()),
                version: Some("1.0".to_owned()),
                kind: Some(DatalabKind::Desktop),
            }
        );
        assert_eq!(
            Identity::from_metadata("title: x\n").unwrap(),
            Identity::default()
        );
        let broken = Identity::from_metadata("title: [unclosed\n").unwrap_err();
        assert!(broken.to_string().contains("line"), "{broken}");
    }

    #[test]
    fn sources_are_told_apart_and_git_flags_refused_for_folders() {
        let folder = tempfile::tempdir().unwrap();
        let given = folder.path().to_str().unwrap();
        assert_eq!(
            PushSource::parse(given, None, None).unwrap(),
            PushSource::Folder(folder.path().to_path_buf())
        );
        assert!(matches!(
            PushSource::parse("https://example.org/lab.git", Some("main".to_owned()), None),
            Ok(PushSource::Git { .. })
        ));
        assert!(matches!(
            PushSource::parse(given, Some("main".to_owned()), None),
            Err(ClientError::GitOnlyFlag { flag: "ref", .. })
        ));
        let text = folder.path().join("notes.txt");
        fs::write(&text, "x").unwrap();
        assert!(matches!(
            PushSource::parse(text.to_str().unwrap(), None, None),
            Err(ClientError::UnknownSource { .. })
        ));
        assert!(matches!(
            PushSource::parse("/nonexistent/lab", None, None),
            Err(ClientError::NoSource { .. })
        ));
    }

    #[tokio::test]
    async fn a_packed_folder_leaves_out_what_the_service_would_and_keeps_its_metadata() {
        let folder = tempfile::tempdir().unwrap();
        let lab = folder.path().join("lab");
        fs::create_dir_all(lab.join("notebooks/.ipynb_checkpoints")).unwrap();
        fs::write(
            lab.join(METADATA_FILE),
            "alternateName: jl-demo\nversion: 0.0.1\n",
        )
        .unwrap();
        fs::write(lab.join("notebooks/a.ipynb"), "{}").unwrap();
        fs::write(lab.join("notebooks/.ipynb_checkpoints/a.ipynb"), "{}").unwrap();
        fs::write(lab.join("id_rsa"), "-----BEGIN KEY-----").unwrap();
        fs::write(lab.join(".gitignore"), "scratch/\n").unwrap();
        fs::create_dir(lab.join("scratch")).unwrap();
        fs::write(lab.join("scratch/big.bin"), "data").unwrap();

        let packed = pack_folder(&lab).await.unwrap();
        assert_eq!(packed.left_out.secrets, vec!["id_rsa".to_owned()]);
        let zip_path = folder.path().join("lab.zip");
        fs::write(&zip_path, &packed.archive).unwrap();
        let mut archive = zip::ZipArchive::new(fs::File::open(&zip_path).unwrap()).unwrap();
        let mut names: Vec<String> = archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ".gitignore",
                "metadata.yaml",
                "notebooks/",
                "notebooks/a.ipynb"
            ]
        );
        let mut text = String::new();
        archive
            .by_name("notebooks/a.ipynb")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{}");
        let identity =
            Identity::from_metadata(&PushSource::Zip(zip_path).metadata_text().unwrap().unwrap())
                .unwrap();
        assert_eq!(identity.name.as_deref(), Some("jl-demo"));
    }

    #[test]
    fn a_zip_whose_entries_sit_in_one_folder_has_its_metadata_found_there() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("lab.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        writer
            .start_file("lab-main/metadata.yaml", SimpleFileOptions::default())
            .unwrap();
        writer
            .write_all(b"alternateName: jl-zip\nversion: 2.0.0\n")
            .unwrap();
        writer.finish().unwrap();
        let text = PushSource::Zip(path).metadata_text().unwrap().unwrap();
        assert_eq!(
            Identity::from_metadata(&text).unwrap().version.as_deref(),
            Some("2.0.0")
        );
    }
}

//! The example datalabs that `labforge run` sets up next to a running service: each folder of
//! `examples/` becomes a datalab of the first administrator, built by the service's own queue and
//! workers like any author's, then published publicly. Examples are the operator's own content, so
//! they skip review; everything else about them is the normal path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::{BuildStatus, DatalabError, DatalabService, NewDatalab, NewVersion, VersionSource};
use crate::accounts::{AccountService, Caller, User};
use crate::metadata::{DatalabKind, parse_metadata};

/// What became of one example.
#[derive(Debug)]
pub struct ExampleOutcome {
    pub name: String,
    pub version: String,
    pub status: BuildStatus,
    pub failure: Option<String>,
}

/// Folders under `examples` that hold a `metadata.yaml`, in name order.
pub fn example_folders(examples: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(examples)
        .with_context(|| format!("cannot list {}", examples.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("metadata.yaml").is_file())
        .collect();
    folders.sort();
    Ok(folders)
}

/// Registers each example as a datalab of `owner`, queues a build of its version unless one
/// already succeeded, waits for the service's workers to finish them, and publishes the datalabs
/// whose build succeeded. Idempotent: running it again only builds what is missing.
pub async fn set_up_examples(
    accounts: &AccountService,
    datalabs: &DatalabService,
    owner_name: &str,
    examples: &Path,
) -> anyhow::Result<Vec<ExampleOutcome>> {
    let owner = accounts.user_named(owner_name).await.with_context(|| {
        format!("the examples belong to {owner_name:?}; start `labforge serve` once to create it")
    })?;
    let workspace = datalabs.workspace_of(&owner)?;
    let mut pending = Vec::new();
    for example in example_folders(examples)? {
        // Built from the owner's workspace like any author's folder: a fresh copy each run, so an
        // edited example is built again.
        let folder_name = example
            .file_name()
            .context("example folders have a name")?
            .to_owned();
        let folder = workspace.join(&folder_name);
        copy_folder(&example, &folder).with_context(|| {
            format!("cannot copy {} to {}", example.display(), folder.display())
        })?;
        let (name, version) =
            register(datalabs, &owner, &folder, &folder_name.to_string_lossy()).await?;
        pending.push((name, version));
    }
    let caller = Caller::User(owner.clone());
    let mut outcomes = Vec::new();
    for (name, version) in pending {
        let build = wait_for_newest_build(datalabs, &caller, &name, &version).await?;
        if build.status == BuildStatus::Succeeded {
            datalabs.publish_as_operator(&name, &version).await?;
        }
        outcomes.push(ExampleOutcome {
            name,
            version,
            status: build.status,
            failure: build.failure,
        });
    }
    Ok(outcomes)
}

/// Creates the datalab and version of `folder` if missing and queues a build unless one
/// succeeded or is under way; returns the datalab's name and version.
async fn register(
    datalabs: &DatalabService,
    owner: &User,
    folder: &Path,
    workspace_path: &str,
) -> anyhow::Result<(String, String)> {
    let metadata_path = folder.join("metadata.yaml");
    let text = std::fs::read_to_string(&metadata_path)
        .with_context(|| format!("cannot read {}", metadata_path.display()))?;
    let metadata = parse_metadata(&text, &metadata_path.display().to_string())?;
    let name = metadata.alternate_name.clone();
    let version = metadata.version.clone();
    let caller = Caller::User(owner.clone());
    match datalabs.get(&caller, &name).await {
        Ok(_) => {}
        Err(DatalabError::UnknownDatalab { .. }) => {
            datalabs
                .create(
                    owner,
                    NewDatalab {
                        name: name.clone(),
                        kind: metadata.kind.unwrap_or(DatalabKind::JupyterLab),
                    },
                )
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    if datalabs.version(&caller, &name, &version).await.is_err() {
        datalabs
            .create_version(
                owner,
                &name,
                NewVersion {
                    version: version.clone(),
                    source: VersionSource::Workspace {
                        path: workspace_path.to_owned(),
                    },
                },
            )
            .await?;
    }
    let builds = datalabs.builds(&caller, &name, &version).await?;
    let settled = builds.iter().any(|build| {
        matches!(
            build.status,
            BuildStatus::Succeeded | BuildStatus::Queued | BuildStatus::Running
        )
    });
    if !settled {
        datalabs.queue_build(owner, &name, &version).await?;
        eprintln!("queued a build of example {name} {version}");
    }
    Ok((name, version))
}

/// Replaces `destination` with a copy of the regular files and folders of `source`.
fn copy_folder(source: &Path, destination: &Path) -> std::io::Result<()> {
    if destination.exists() {
        std::fs::remove_dir_all(destination)?;
    }
    std::fs::create_dir_all(destination)?;
    for entry in std::fs::read_dir(source)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = destination.join(entry.file_name());
        if kind.is_dir() {
            copy_folder(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn wait_for_newest_build(
    datalabs: &DatalabService,
    caller: &Caller,
    name: &str,
    version: &str,
) -> anyhow::Result<super::Build> {
    let mut announced = None;
    loop {
        let builds = datalabs.builds(caller, name, version).await?;
        let Some(newest) = builds.into_iter().max_by_key(|build| build.number) else {
            bail!("example {name} {version} has no build");
        };
        if announced != Some(newest.status) {
            eprintln!(
                "example {name} {version}-{}: {}",
                newest.number,
                newest.status.as_str()
            );
            announced = Some(newest.status);
        }
        if !matches!(newest.status, BuildStatus::Queued | BuildStatus::Running) {
            return Ok(newest);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

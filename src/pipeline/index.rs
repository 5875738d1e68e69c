//! The record of finished builds, one JSON file under the data folder, written whole to a
//! temporary file and renamed so a crash never leaves it half-written. (The service's database
//! takes this role when it exists; the pipeline only needs "the last build of name@version".)

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PhaseTimings;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub name: String,
    pub version: String,
    /// Number of the build within its version: `0.0.1-0`, `0.0.1-1`, ...
    pub number: u32,
    pub kind: String,
    pub environment_hash: String,
    pub content_hash: String,
    /// `registry/namespace/name:version-number`.
    pub image: String,
    pub digest: String,
    pub created: DateTime<Utc>,
    pub timings: PhaseTimings,
}

/// The number the next build of a version gets: one after the newest, 0 for the first.
pub fn next_number(previous: Option<&BuildRecord>) -> u32 {
    previous.map_or(0, |build| build.number + 1)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    builds: Vec<BuildRecord>,
}

#[derive(Debug, Clone)]
pub struct BuildIndex {
    path: PathBuf,
}

impl BuildIndex {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("builds.json"),
        }
    }

    fn read(&self) -> std::io::Result<IndexFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(error) => Err(error),
        }
    }

    /// The newest build of `name` at `version`.
    pub fn latest(&self, name: &str, version: &str) -> std::io::Result<Option<BuildRecord>> {
        Ok(self
            .read()?
            .builds
            .into_iter()
            .filter(|build| build.name == name && build.version == version)
            .max_by_key(|build| build.number))
    }

    pub fn append(&self, record: BuildRecord) -> std::io::Result<()> {
        let mut index = self.read()?;
        index.builds.push(record);
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&index).map_err(std::io::Error::other)?;
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: u32) -> BuildRecord {
        BuildRecord {
            name: "jl-demo".into(),
            version: "0.0.1".into(),
            number,
            kind: "jupyterlab".into(),
            environment_hash: "sha256:e".into(),
            content_hash: "sha256:c".into(),
            image: format!("127.0.0.1:5000/datalabs/jl-demo:0.0.1-{number}"),
            digest: "sha256:d".into(),
            created: Utc::now(),
            timings: PhaseTimings::default(),
        }
    }

    #[test]
    fn builds_are_numbered_per_version_and_survive_reopening() {
        let folder = tempfile::tempdir().unwrap();
        let index = BuildIndex::new(folder.path());
        assert_eq!(
            next_number(index.latest("jl-demo", "0.0.1").unwrap().as_ref()),
            0
        );
        index.append(record(0)).unwrap();
        index.append(record(1)).unwrap();
        let reopened = BuildIndex::new(folder.path());
        assert_eq!(
            next_number(reopened.latest("jl-demo", "0.0.1").unwrap().as_ref()),
            2
        );
        assert_eq!(
            next_number(reopened.latest("jl-demo", "0.0.2").unwrap().as_ref()),
            0
        );
        assert_eq!(
            reopened.latest("jl-demo", "0.0.1").unwrap().unwrap().number,
            1
        );
    }
}

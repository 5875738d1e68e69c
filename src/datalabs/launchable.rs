//! What a launch needs to know about a datalab: the version to run and the image it was built
//! into, found with the same visibility rule as every other read.

use super::visibility::Access;
use super::{DatalabError, DatalabService, VersionState};
use crate::accounts::Caller;

/// A version of a datalab the caller may run, with its newest succeeded build.
#[derive(Debug, Clone)]
pub struct Launchable {
    pub datalab_id: String,
    pub datalab: String,
    /// `jupyterlab`, `desktop` or `generic`.
    pub kind: String,
    pub version: String,
    /// The version's metadata document, as stored.
    pub metadata: Option<serde_json::Value>,
    /// The newest succeeded build's image (`repository:tag`) and digest; `None` when the version
    /// has no succeeded build yet.
    pub image: Option<(String, String)>,
}

impl DatalabService {
    /// The version `version` of `name` (by default the newest one that has a succeeded build) if
    /// the caller may run it: a datalab they cannot see is unknown; a version that is not
    /// published runs only for those who may change the datalab, and is unknown to the others.
    pub async fn launchable(
        &self,
        caller: &Caller,
        name: &str,
        version: Option<&str>,
    ) -> Result<Launchable, DatalabError> {
        let datalab = self.reach(caller, name, Access::View).await?;
        let editor = self.reach(caller, name, Access::Edit).await.is_ok();
        let mut versions = self.database.versions_of(&datalab.id).await?;
        versions.retain(|row| editor || row.state == VersionState::Published);
        versions.sort_by_key(|row| std::cmp::Reverse(row.created_at));
        let unknown_version = |version: &str| DatalabError::UnknownVersion {
            name: name.to_owned(),
            version: version.to_owned(),
        };
        let mut chosen = None;
        for row in versions {
            if version.is_some_and(|wanted| wanted != row.version) {
                continue;
            }
            let build = self.database.latest_succeeded_build(&row.id).await?;
            let image = build.and_then(|build| build.image.zip(build.digest));
            if image.is_some() || version.is_some() {
                chosen = Some((row, image));
                break;
            }
        }
        let Some((row, image)) = chosen else {
            return match version {
                Some(wanted) => Err(unknown_version(wanted)),
                None => Ok(Launchable {
                    datalab_id: datalab.id,
                    datalab: datalab.name,
                    kind: datalab.kind,
                    version: String::new(),
                    metadata: None,
                    image: None,
                }),
            };
        };
        Ok(Launchable {
            datalab_id: datalab.id,
            datalab: datalab.name,
            kind: datalab.kind,
            version: row.version,
            metadata: row.metadata.map(|json| json.0),
            image,
        })
    }
}

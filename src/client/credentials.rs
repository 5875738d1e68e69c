//! Where `labforge login` keeps the service's address and the API token: one JSON file,
//! `$XDG_CONFIG_HOME/labforge/credentials.json` (or `~/.config/labforge/credentials.json`),
//! readable by its owner only (0600, in a 0700 folder). It is written to a temporary file in the
//! same folder and renamed over the old one, so a reader sees the old file or the new one, never
//! half of one.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClientError;

/// The file's name inside the configuration folder.
pub const FILE_NAME: &str = "credentials.json";

/// The service and the token the command line calls it with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The service's address, without a trailing slash (`https://labforge.example.org`).
    pub url: String,
    /// An API token, sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// The token's id on the service when `labforge login` made it (so that `labforge logout`
    /// revokes it); absent for a token given with `--token`, which its owner manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs and panics.
        formatter
            .debug_struct("Credentials")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The credentials file of this user: under `XDG_CONFIG_HOME` when set (and absolute, as the
/// XDG specification asks), else under `HOME/.config`.
pub fn default_path() -> Result<PathBuf, ClientError> {
    let absolute = |variable: &str| {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let folder = absolute("XDG_CONFIG_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".config")))
        .ok_or(ClientError::NoConfigFolder)?;
    Ok(folder.join("labforge").join(FILE_NAME))
}

/// Reads the credentials at `path`; a missing file means not signed in.
pub fn load(path: &Path) -> Result<Credentials, ClientError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::NotSignedIn {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(ClientError::CredentialsFile {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_str(&text).map_err(|error| ClientError::CredentialsCorrupt {
        path: path.to_path_buf(),
        detail: error.to_string(),
    })
}

/// Deletes the credentials at `path`; whether there were any.
pub fn remove(path: &Path) -> Result<bool, ClientError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ClientError::CredentialsFile {
            action: "delete",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `credentials` to `path` with mode 0600, replacing any earlier file in one rename.
pub fn save(path: &Path, credentials: &Credentials) -> Result<(), ClientError> {
    let failed = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::CredentialsFile {
            action,
            path,
            source,
        }
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .map_err(failed("create the folder", folder))?;
    // tempfile creates the file with mode 0600 and a name no other process can have chosen.
    let mut temporary = tempfile::Builder::new()
        .prefix(".credentials-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(folder)
        .map_err(failed("create a temporary file in", folder))?;
    let text = serde_json::to_string_pretty(credentials).expect("credentials serialise");
    temporary
        .write_all(text.as_bytes())
        .and_then(|()| temporary.as_file().sync_all())
        .map_err(failed("write", temporary.path()))?;
    temporary
        .persist(path)
        .map_err(|error| failed("replace", path)(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(token: &str) -> Credentials {
        Credentials {
            url: "https://labforge.example.org".to_owned(),
            token: token.to_owned(),
            token_id: None,
        }
    }

    #[test]
    fn saved_credentials_are_read_back_and_only_their_owner_may_read_them() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("config/labforge").join(FILE_NAME);
        save(&path, &credentials("lf_first")).unwrap();
        save(&path, &credentials("lf_second")).unwrap();
        assert_eq!(load(&path).unwrap(), credentials("lf_second"));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(folder_mode & 0o777, 0o700);
        // Nothing but the file itself is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn a_missing_file_means_not_signed_in_and_a_damaged_one_says_to_log_in_again() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(FILE_NAME);
        assert!(matches!(
            load(&path),
            Err(ClientError::NotSignedIn { path: missing }) if missing == path
        ));
        fs::write(&path, "{\"url\": \"https://x\"").unwrap();
        let error = load(&path).unwrap_err();
        assert!(matches!(error, ClientError::CredentialsCorrupt { .. }));
        assert!(error.to_string().contains("labforge login"), "{error}");
    }

    #[test]
    fn the_token_is_not_shown_in_debug_output() {
        let shown = format!("{:?}", credentials("lf_secret_value"));
        assert!(!shown.contains("lf_secret_value"), "{shown}");
        assert!(shown.contains("labforge.example.org"));
    }
}

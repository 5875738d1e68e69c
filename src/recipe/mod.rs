//! Recipe: what goes into the image and how. Requirements are policed, a user Dockerfile is checked
//! against the approved bases, a Dockerfile is generated per kind, and every Dockerfile built is
//! linted with hadolint.

pub mod application;
pub mod base;
pub mod binder;
pub mod error;
pub mod generate;
pub mod lint;
pub mod requirements;
pub mod user_dockerfile;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PackagingConfig {
    /// Allow requirement options that change where packages come from (`--index-url`,
    /// `--extra-index-url`, `--trusted-host`, `--find-links`).
    pub allow_index_options: bool,
    /// Allow local paths and editable installs in requirements.
    pub allow_local_paths: bool,
    /// Whether error-level hadolint findings in a user Dockerfile fail the build.
    pub lint_errors_fail_build: bool,
    /// The hadolint program (a path, or a name looked up in `PATH`).
    pub hadolint: String,
    /// The shellcheck program for Binder `postBuild` scripts (a path, or a name looked up in
    /// `PATH`); without it, postBuild is built unlinted, with a warning in the build log.
    pub shellcheck: String,
}

impl Default for PackagingConfig {
    fn default() -> Self {
        Self {
            allow_index_options: false,
            allow_local_paths: false,
            lint_errors_fail_build: true,
            hadolint: "hadolint".to_owned(),
            shellcheck: "shellcheck".to_owned(),
        }
    }
}

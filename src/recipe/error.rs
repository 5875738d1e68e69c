//! Errors of the recipe domain, one enum per area: [`RequirementsError`] for `requirements.txt`
//! and the files it includes, [`UserDockerfileError`] for an author's own Dockerfile. Each variant
//! carries the file, the line and the offending text, and its message says how to fix it.

use std::io;
use std::path::PathBuf;

use super::base::BaseImage;

#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{}: the requirements file must be inside the package folder {}",
        file.display(),
        package_root.display()
    )]
    OutsidePackage {
        file: PathBuf,
        package_root: PathBuf,
    },
    #[error(
        "{}:{line}: `{option}` changes where packages are downloaded from, which is not allowed \
         here: packages are installed from the configured package index only. Remove the line \
         `{text}` (an administrator can allow it with packaging.allow_index_options)",
        file.display()
    )]
    IndexOption {
        file: PathBuf,
        line: usize,
        option: String,
        text: String,
    },
    #[error(
        "{}:{line}: `{text}` is an editable install of local code; packages must come from the \
         package index. Require the package by name and version (like `name==1.2.3`), or put its \
         code in the datalab folder and import it from there",
        file.display()
    )]
    EditableInstall {
        file: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{}:{line}: `{text}` installs from a local path; packages must come from the package \
         index. Require the package by name and version (like `name==1.2.3`), or put its code in \
         the datalab folder and import it from there",
        file.display()
    )]
    LocalPath {
        file: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{}:{line}: `{text}` installs from a direct URL; packages must come from the package \
         index. Require the package by name and version instead (like `name==1.2.3`)",
        file.display()
    )]
    DirectUrl {
        file: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{}:{line}: `{option}` is not an option of requirements files; check its spelling or \
         remove it",
        file.display()
    )]
    UnknownOption {
        file: PathBuf,
        line: usize,
        option: String,
    },
    #[error(
        "{}:{line}: `{option}` is not supported here; the options allowed in requirements files \
         are -r/--requirement, -c/--constraint and --hash",
        file.display()
    )]
    UnsupportedOption {
        file: PathBuf,
        line: usize,
        option: String,
    },
    #[error("{}:{line}: `{option}` needs a value, like `{option} {example}`", file.display())]
    MissingOptionValue {
        file: PathBuf,
        line: usize,
        option: String,
        example: &'static str,
    },
    #[error("{}:{line}: `{text}`: {reason}", file.display())]
    MisplacedOption {
        file: PathBuf,
        line: usize,
        text: String,
        reason: &'static str,
    },
    #[error(
        "{}:{line}: `{value}` is not a valid hash; write it as --hash=sha256:<64 hex digits>",
        file.display()
    )]
    InvalidHash {
        file: PathBuf,
        line: usize,
        value: String,
    },
    #[error(
        "{}:{line}: `{text}` is not a valid requirement: {reason}. Write it like \
         `name[extra]>=1.0,<2; python_version >= \"3.10\"`",
        file.display()
    )]
    InvalidRequirement {
        file: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    #[error(
        "{}:{line}: `{target}` is an absolute path; name included files relative to {}",
        file.display(),
        file.display()
    )]
    AbsoluteInclude {
        file: PathBuf,
        line: usize,
        target: String,
    },
    #[error(
        "{}:{line}: `{target}` is a URL; included files must be inside the package folder",
        file.display()
    )]
    RemoteInclude {
        file: PathBuf,
        line: usize,
        target: String,
    },
    #[error(
        "{}:{line}: `{target}` is outside the package folder; included files must be inside it",
        file.display()
    )]
    IncludeOutsidePackage {
        file: PathBuf,
        line: usize,
        target: String,
    },
    #[error("{}:{line}: cannot read the included file `{target}`: {source}", file.display())]
    IncludeUnreadable {
        file: PathBuf,
        line: usize,
        target: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "requirements files include each other in a cycle: {}; remove one of the includes",
        chain.iter().map(|file| file.display().to_string()).collect::<Vec<_>>().join(" -> ")
    )]
    IncludeCycle {
        /// From the first file to the file included again.
        chain: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserDockerfileError {
    #[error(
        "Dockerfile has no FROM instruction. Start it with:\n{}",
        approved_form(*suggested)
    )]
    NoFrom { suggested: BaseImage },
    #[error(
        "Dockerfile line {line}: FROM {image} is not an approved base. Use:\n{}",
        approved_form(*suggested)
    )]
    UnapprovedBase {
        line: usize,
        image: String,
        suggested: BaseImage,
    },
    #[error(
        "Dockerfile line {line}: FROM {image} uses ${variable} but `ARG {variable}` is not \
         declared before the first FROM. Use:\n{}",
        approved_form(*base)
    )]
    UndeclaredArgument {
        line: usize,
        image: String,
        variable: String,
        base: BaseImage,
    },
    #[error("Dockerfile line {line}: FROM {option} is not allowed; only --platform may be given")]
    UnsupportedFromOption { line: usize, option: String },
    #[error("Dockerfile line {line}: `{text}` is not a valid FROM: {reason}")]
    MalformedFrom {
        line: usize,
        text: String,
        reason: &'static str,
    },
    #[error(
        "Dockerfile line {line}: {instruction} takes files from `{source_image}`, which is \
         neither an earlier stage nor an approved base; copy only from earlier stages \
         (FROM ... AS name, then --from=name)"
    )]
    ForeignSource {
        line: usize,
        instruction: String,
        source_image: String,
    },
    #[error(
        "Dockerfile line {line}: the escape directive must be a backslash or a backtick, not \
         `{value}`"
    )]
    InvalidEscape { line: usize, value: String },
}

/// The lines a Dockerfile must use to build on `base`.
pub fn approved_form(base: BaseImage) -> String {
    format!(
        "ARG REGISTRY\nARG {variable}\nFROM $REGISTRY/datalabs/{image}:${variable}",
        variable = base.version_arg(),
        image = base.image_name()
    )
}

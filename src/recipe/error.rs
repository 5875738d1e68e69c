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

/// What is wrong with a repository's Binder configuration (repo2docker's files: `apt.txt`,
/// `environment.yml`, `runtime.txt`, `postBuild`, a `binder/` or `.binder/` folder). Each variant
/// names the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum BinderError {
    #[error(
        "the repository has both a `binder/` and a `.binder/` folder; like repo2docker, labforge \
         reads its configuration from one of them only: merge them into one"
    )]
    BothBinderFolders,
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: the file is {size} bytes; it may be at most {limit} bytes", file.display())]
    TooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: the file is not UTF-8 text; save it as UTF-8", file.display())]
    NotUtf8 { file: PathBuf },
    #[error(
        "{}:{line}: `{text}` is not a Debian package: write one package per line, a name of \
         lowercase letters, digits, `+`, `-` and `.` (like `jq` or `libxml2-dev`), optionally \
         followed by `=version` (like `jq=1.6-2.1`); options and shell syntax are not allowed",
        file.display()
    )]
    AptPackage {
        file: PathBuf,
        line: usize,
        text: String,
    },
    #[error(
        "{}: {count} Debian packages; at most {limit} may be listed (packages they depend on are \
         installed with them and need not be listed)",
        file.display()
    )]
    TooManyAptPackages {
        file: PathBuf,
        count: usize,
        limit: usize,
    },
    #[error(
        "{}: `{text}` asks for R, and R is not supported: labforge's bases run Python. Install R \
         from Debian with apt.txt (`r-base`, and `r-cran-<name>` for R packages) and remove \
         runtime.txt",
        file.display()
    )]
    RuntimeR { file: PathBuf, text: String },
    #[error(
        "{}: `{text}` is not a runtime labforge knows: write `python-3.11` (the bases' Python), or \
         remove the file",
        file.display()
    )]
    RuntimeFormat { file: PathBuf, text: String },
    #[error(
        "{}: `{text}` asks for another Python than the bases' {base_python}, which a datalab cannot \
         change. Write `python-3.11` (or remove runtime.txt) and make sure the requirements work on \
         it",
        file.display()
    )]
    RuntimeMismatch {
        file: PathBuf,
        text: String,
        base_python: String,
    },
    #[error("{}", problems.join("\n"))]
    EnvironmentYaml {
        file: PathBuf,
        /// `file:line:column: message`, in file order.
        problems: Vec<String>,
    },
    #[error("{}:{line}: {message}", file.display())]
    EnvironmentShape {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{}:{line}: `{text}` cannot be installed from PyPI: {reason}. Write it like `numpy=1.26` or \
         `numpy>=1.26,<2`",
        file.display()
    )]
    CondaSpec {
        file: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    #[error(
        "{}: these conda packages have no PyPI distribution labforge can install in their place \
         (the image has no conda; environment.yml is installed from PyPI):\n{}",
        file.display(),
        packages.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    CondaOnly {
        file: PathBuf,
        packages: Vec<CondaOnlyPackage>,
    },
    #[error(
        "{}:{line}: `{text}` asks for another Python than the bases' {base_python}, which a \
         datalab cannot change. Pin `python=3.11` (or remove the line) and make sure the other \
         packages work on it",
        file.display()
    )]
    PythonMismatch {
        file: PathBuf,
        line: usize,
        text: String,
        base_python: String,
    },
    #[error(transparent)]
    PipSection(#[from] RequirementsError),
    #[error("{} cannot be run: {reason}", file.display())]
    PostBuild { file: PathBuf, reason: String },
    #[error(
        "the repository describes its environment only in files labforge cannot install:\n{}\n\
         labforge installs requirements.txt, environment.yml (from PyPI), apt.txt and postBuild; \
         add a requirements.txt with the packages (an empty one if the base image is all the \
         datalab needs)",
        files.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    )]
    Unsupported { files: Vec<UnsupportedFile> },
}

/// A Binder file labforge does not install, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedFile {
    pub file: PathBuf,
    pub advice: &'static str,
}

impl std::fmt::Display for UnsupportedFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "  {}: {}", self.file.display(), self.advice)
    }
}

/// A conda dependency with no PyPI counterpart, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaOnlyPackage {
    pub line: usize,
    /// The dependency as written.
    pub name: String,
    pub advice: String,
}

impl std::fmt::Display for CondaOnlyPackage {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "  line {}: `{}`: {}",
            self.line, self.name, self.advice
        )
    }
}

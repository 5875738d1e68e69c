//! Everything that can go wrong while staging a source. Each message says what was wrong and how
//! the author can fix it; variants carry the entry, path, limit or address involved.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    // Staging folder.
    #[error(
        "staging folder {path} already exists; every staging needs a fresh folder that `stage` \
         creates itself"
    )]
    StagingExists { path: PathBuf },

    #[error("could not {action} {path}: {source}")]
    Filesystem {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // Limits shared by every kind of source.
    #[error(
        "the source holds more than {limit} bytes (limit reached at `{entry}`); remove large \
         files such as data sets from the source and mount them as data volumes instead"
    )]
    TooManyBytes { limit: u64, entry: String },

    #[error(
        "the source holds more than {limit} files and folders (limit reached at `{entry}`); \
         remove generated or vendored files from the source"
    )]
    TooManyFiles { limit: u64, entry: String },

    #[error(
        "staging the source took longer than {seconds} s while {step}; make the source smaller \
         or use a faster host"
    )]
    Timeout { seconds: u64, step: &'static str },

    #[error("could not read `{entry}` of the source: {source}; re-create the source and try again")]
    EntryUnreadable {
        entry: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "symbolic link `{path}` points to `{target}`, which does not resolve inside the source; \
         replace it with the file itself or a relative link that stays inside the source"
    )]
    SymlinkEscapes { path: String, target: PathBuf },

    #[error(
        "`{path}` is a {kind}, which a source cannot contain; keep only regular files, folders \
         and symbolic links"
    )]
    UnsupportedFileType { path: String, kind: &'static str },

    #[error(
        ".dockerignore line {line}: `{pattern}` is not a valid pattern ({reason}); fix or remove \
         the line"
    )]
    DockerignorePatternInvalid {
        line: usize,
        pattern: String,
        reason: String,
    },

    #[error(".dockerignore cannot be used ({reason}); make it shorter or simpler")]
    DockerignoreUnusable { reason: String },

    // Git URLs.
    #[error(
        "`{url}` is not a valid git URL ({reason}); give an https:// URL such as https://github.com/org/repo.git"
    )]
    GitUrlInvalid { url: String, reason: String },

    #[error(
        "git URLs must use https://; {scheme}:// is refused. Push the repository to a public \
         https host or upload a zip"
    )]
    GitSchemeRefused { scheme: String },

    #[error(
        "`{url}` is an scp-like ssh address; ssh is refused. Use the repository's https:// URL \
         (for example https://github.com/org/repo.git) or upload a zip"
    )]
    GitScpLikeUrl { url: String },

    #[error(
        "`{url}` uses a git remote helper (`transport::address`), which is refused; give an \
         https:// URL"
    )]
    GitRemoteHelper { url: String },

    #[error(
        "plain http:// git URLs are refused because the content could be altered on the way; \
         use the repository's https:// URL. An administrator can allow plain http with \
         LABFORGE_GIT_ALLOW_HTTP=true"
    )]
    GitHttpRefused { url: String },

    #[error(
        "git URL `{url}` carries credentials; only public repositories can be fetched. Remove \
         the user name and password from the URL, or upload a zip"
    )]
    GitCredentialsInUrl { url: String },

    #[error("could not resolve git host `{host}`: {source}; check the URL for typos")]
    GitHostUnresolvable {
        host: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "git host `{host}` resolves to {address}, a {range} address, which is refused; only \
         public hosts can be fetched from. An administrator can allow this host with \
         LABFORGE_GIT_ALLOWED_HOSTS"
    )]
    PrivateAddress {
        host: String,
        address: IpAddr,
        range: &'static str,
    },

    #[error(
        "`{reference}` is not a valid git reference ({reason}); give a branch name, a tag or a \
         commit sha"
    )]
    GitReferenceInvalid {
        reference: String,
        reason: &'static str,
    },

    #[error(
        "git source field `subfolder`: `{subfolder}` cannot be used ({reason}); give a folder of \
         the repository relative to its root, such as `tutorials/FITS-header`"
    )]
    GitSubfolderInvalid {
        subfolder: String,
        reason: &'static str,
    },

    #[error(
        "git source field `subfolder`: `{subfolder}` is not a folder of {url} at the requested \
         reference; its top-level folders: {folders}"
    )]
    GitSubfolderMissing {
        url: String,
        subfolder: String,
        folders: String,
    },

    #[error(
        "`{reference}` is not a branch, tag or commit of {url}; known branches and tags: \
         {known}"
    )]
    GitUnknownReference {
        url: String,
        reference: String,
        known: String,
    },

    #[error(
        "commit abbreviation `{reference}` matches several commits of {url}; give more \
         characters of the sha"
    )]
    GitAmbiguousCommit { url: String, reference: String },

    #[error("could not run git: {source}; install git on the labforge host")]
    GitUnavailable {
        #[source]
        source: std::io::Error,
    },

    #[error("git failed while {step} ({status}): {stderr}")]
    GitFailed {
        step: &'static str,
        status: ExitStatus,
        stderr: String,
    },

    // Zip uploads.
    #[error("could not read the zip archive {path}: {source}; upload a valid .zip file")]
    ZipUnreadable {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },

    #[error(
        "zip entry `{entry}` would be written outside the archive's folder (absolute path, \
         drive letter or `..`); re-create the archive from inside the project folder"
    )]
    ZipEntryEscapes { entry: String },

    #[error(
        "zip entry `{entry}` has an unusable name ({reason}); rename it and re-create the archive"
    )]
    ZipEntryNameInvalid { entry: String, reason: &'static str },

    #[error("zip entry `{entry}` is encrypted; upload an archive without a password")]
    ZipEntryEncrypted { entry: String },

    #[error(
        "zip entries `{entry}` and `{other}` name the same path; keep only one of them and \
         re-create the archive"
    )]
    ZipDuplicateEntry { entry: String, other: String },

    #[error(
        "zip entry `{entry}` needs `{other}` to be a folder, but the archive makes it a file or \
         a link; rename one of them and re-create the archive"
    )]
    ZipEntryConflict { entry: String, other: String },

    // Workspace folders.
    #[error("workspace folder {path} cannot be used: {source}; check that it exists")]
    WorkspaceUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "workspace folder {path} is not inside the workspace root {root}; choose a folder of \
         your workspace"
    )]
    WorkspaceOutsideRoot { path: PathBuf, root: PathBuf },

    #[error("workspace path {path} is not a folder; choose the folder that holds your project")]
    WorkspaceNotAFolder { path: PathBuf },
}

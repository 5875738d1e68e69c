//! Git repositories, fetched shallowly by the `git` command line in a hardened environment: no
//! system or user configuration, no prompts or credential helpers, https only (http where
//! allowed), no redirects, no hooks, objects checked on receipt, and the connection pinned to
//! the addresses vetted by [`GitUrl::resolve`]. The process group is killed at the deadline or
//! when the download outgrows the byte limit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::SourcesConfig;
use super::budget::StagingBudget;
use super::error::SourceError;
use super::git_url::{GitUrl, VettedHost};

const GIT: &str = "/usr/bin/git";
/// How often the download's size is measured while git runs.
const SIZE_POLL: Duration = Duration::from_millis(250);
/// The end of git's error output kept for an error message.
const STDERR_KEPT: usize = 2000;
/// Most branch and tag names listed when a reference is unknown.
const KNOWN_LISTED: usize = 20;

/// A fetched repository: its checked-out tree (without `.git`) and commit.
#[derive(Debug)]
pub struct FetchedRepository {
    pub root: PathBuf,
    pub revision: String,
}

/// Fetches `reference` (default branch when `None`) of `url` into `staging_dir/source`, using
/// `staging_dir/git-home` as git's home; both live in the staging folder. With a `subfolder`,
/// only that folder is checked out (a sparse checkout) and it is the fetched root.
pub async fn fetch(
    url: &str,
    reference: Option<&str>,
    subfolder: Option<&str>,
    staging_dir: &Path,
    config: &SourcesConfig,
    budget: &StagingBudget,
) -> Result<FetchedRepository, SourceError> {
    let url = GitUrl::parse(url, config)?;
    if let Some(reference) = reference {
        validate_reference(reference)?;
    }
    let subfolder = subfolder.map(validate_subfolder).transpose()?;
    let vetted = url.resolve(config).await?;

    let home = staging_dir.join("git-home");
    let root = staging_dir.join("source");
    tokio::fs::create_dir(&home)
        .await
        .map_err(|source| SourceError::Filesystem {
            action: "create the folder",
            path: home.clone(),
            source,
        })?;
    let git = Git {
        home: home.clone(),
        url,
        vetted,
        allow_http: config.allow_http,
        ca_bundle: config.ca_bundle.clone(),
    };

    git.run(
        "creating the repository",
        None,
        &["init", "--quiet", "--template=", "--"],
        &[root.as_os_str()],
        budget,
    )
    .await?;
    let advertised = git
        .run(
            "listing the repository's branches and tags",
            Some(&root),
            &["ls-remote", "--", git.url.as_str()],
            &[],
            budget,
        )
        .await?;
    let wanted = match reference {
        None => "HEAD".to_owned(),
        Some(reference) => choose_ref(&git, staging_dir, reference, &advertised, budget).await?,
    };

    git.run_watching_size(
        "downloading the repository",
        &root,
        &[
            "fetch",
            "--quiet",
            "--depth=1",
            "--no-tags",
            "--no-recurse-submodules",
            "--",
            git.url.as_str(),
            &wanted,
        ],
        budget,
    )
    .await?;
    check_out(&git, &root, subfolder, budget).await?;
    let revision = git
        .run(
            "reading the commit",
            Some(&root),
            &["rev-parse", "--verify", "HEAD"],
            &[],
            budget,
        )
        .await?
        .trim()
        .to_owned();

    for folder in [root.join(".git"), home] {
        tokio::fs::remove_dir_all(&folder)
            .await
            .map_err(|source| SourceError::Filesystem {
                action: "remove",
                path: folder,
                source,
            })?;
    }
    let root = match subfolder {
        None => root,
        Some(subfolder) => folder_inside(&root, subfolder)?,
    };
    Ok(FetchedRepository { root, revision })
}

/// Checks the fetched commit's tree (or `subfolder` of it) against the limits, then checks it
/// out into `root`: with a `subfolder`, only that folder, which must be a folder of the tree.
async fn check_out(
    git: &Git,
    root: &Path,
    subfolder: Option<&str>,
    budget: &StagingBudget,
) -> Result<(), SourceError> {
    let listing = git
        .run(
            "listing the downloaded files",
            Some(root),
            &["ls-tree", "-r", "-t", "-l", "-z", "FETCH_HEAD^{commit}"],
            &[],
            budget,
        )
        .await?;
    check_listing(&listing, subfolder, &mut budget.fresh())?;
    if let Some(subfolder) = subfolder {
        if !listing_has_folder(&listing, subfolder) {
            return Err(SourceError::GitSubfolderMissing {
                url: git.url.as_str().to_owned(),
                subfolder: subfolder.to_owned(),
                folders: top_level_folders(&listing),
            });
        }
        check_out_only(root, subfolder).await?;
    }
    let sparse = format!("core.sparseCheckout={}", subfolder.is_some());
    git.run(
        "checking out the files",
        Some(root),
        &[
            "-c",
            &sparse,
            "checkout",
            "--quiet",
            "--detach",
            "FETCH_HEAD^{commit}",
        ],
        &[],
        budget,
    )
    .await?;
    Ok(())
}

/// Refuses a subfolder that could leave the repository or that git's sparse-checkout patterns
/// would read as a pattern, before anything is contacted; returns it without trailing `/`.
pub(super) fn validate_subfolder(subfolder: &str) -> Result<&str, SourceError> {
    let invalid = |reason| SourceError::GitSubfolderInvalid {
        subfolder: subfolder.to_owned(),
        reason,
    };
    if subfolder.starts_with('/') {
        return Err(invalid(
            "it is an absolute path; give it relative to the repository's root",
        ));
    }
    let trimmed = subfolder.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() > 1024 {
        return Err(invalid("it must have 1 to 1024 characters"));
    }
    if trimmed.chars().any(|character| {
        character.is_control() || matches!(character, '\\' | '*' | '?' | '[' | ']' | '!' | '#')
    }) {
        return Err(invalid(
            "it cannot contain control characters, `\\`, `*`, `?`, `[`, `]`, `!` or `#`",
        ));
    }
    for component in trimmed.split('/') {
        match component {
            "" => return Err(invalid("it cannot contain `//`")),
            "." | ".." => return Err(invalid("it cannot contain `.` or `..` as a folder")),
            ".git" => return Err(invalid("it cannot name git's own `.git` folder")),
            _ if component.trim() != component => {
                return Err(invalid("a folder name cannot start or end with a space"));
            }
            _ => {}
        }
    }
    Ok(trimmed)
}

/// Whether the `git ls-tree -r -t` listing has `folder` as a tree. A folder under a symbolic
/// link is not listed, so a subfolder found here is a real folder all the way down.
fn listing_has_folder(listing: &str, folder: &str) -> bool {
    listing_records(listing).any(|(object_type, _, path)| object_type == "tree" && path == folder)
}

/// The repository's top-level folders, for an error that names what could have been meant.
fn top_level_folders(listing: &str) -> String {
    let folders: Vec<&str> = listing_records(listing)
        .filter(|(object_type, _, path)| *object_type == "tree" && !path.contains('/'))
        .map(|(_, _, path)| path)
        .take(KNOWN_LISTED)
        .collect();
    if folders.is_empty() {
        "(none)".to_owned()
    } else {
        folders.join(", ")
    }
}

/// Records of `git ls-tree -r -t -l -z` output: object type, size (`-` for trees) and path.
fn listing_records(listing: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    listing
        .split('\0')
        .filter_map(|record| record.split_once('\t'))
        .map(|(meta, path)| {
            let mut fields = meta.split_whitespace();
            let object_type = fields.nth(1).unwrap_or_default();
            let size = fields.nth(1).unwrap_or_default();
            (object_type, size, path)
        })
}

/// Writes the sparse-checkout pattern that makes a checkout with `core.sparseCheckout` write
/// only `subfolder` (one anchored folder pattern), so the rest of the repository never reaches
/// the disk.
async fn check_out_only(root: &Path, subfolder: &str) -> Result<(), SourceError> {
    let info = root.join(".git/info");
    let sparse = info.join("sparse-checkout");
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Filesystem {
            action: "write",
            path,
            source,
        }
    };
    tokio::fs::create_dir_all(&info)
        .await
        .map_err(write_error(&info))?;
    tokio::fs::write(&sparse, format!("/{subfolder}/\n"))
        .await
        .map_err(write_error(&sparse))?;
    Ok(())
}

/// The checked-out `subfolder` of `root`, which must resolve to a folder inside it.
fn folder_inside(root: &Path, subfolder: &str) -> Result<PathBuf, SourceError> {
    let canonical_root = super::tree::canonical(root)?;
    let folder =
        std::fs::canonicalize(root.join(subfolder)).map_err(|source| SourceError::Filesystem {
            action: "resolve",
            path: root.join(subfolder),
            source,
        })?;
    if folder == canonical_root || !folder.starts_with(&canonical_root) || !folder.is_dir() {
        return Err(SourceError::GitSubfolderInvalid {
            subfolder: subfolder.to_owned(),
            reason: "it does not resolve to a folder inside the repository",
        });
    }
    Ok(folder)
}

/// Refuses references that git could read as options or that are not valid ref names, before
/// anything is contacted.
pub(super) fn validate_reference(reference: &str) -> Result<(), SourceError> {
    let invalid = |reason| SourceError::GitReferenceInvalid {
        reference: reference.to_owned(),
        reason,
    };
    if reference.is_empty() || reference.len() > 255 {
        return Err(invalid("it must have 1 to 255 characters"));
    }
    if !reference
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        return Err(invalid(
            "only letters, digits, `.`, `_`, `-` and `/` are accepted",
        ));
    }
    if reference.starts_with(['-', '/', '.']) {
        return Err(invalid("it cannot start with `-`, `/` or `.`"));
    }
    if reference.contains("..") || reference.contains("//") || reference.contains("/.") {
        return Err(invalid("it cannot contain `..`, `//` or `/.`"));
    }
    if reference.ends_with(['/', '.'])
        || Path::new(reference)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("lock"))
    {
        return Err(invalid("it cannot end with `/`, `.` or `.lock`"));
    }
    Ok(())
}

/// The ref or commit to fetch for `reference`, given the remote's `ls-remote` listing.
async fn choose_ref(
    git: &Git,
    staging_dir: &Path,
    reference: &str,
    advertised: &str,
    budget: &StagingBudget,
) -> Result<String, SourceError> {
    let refs: Vec<(&str, &str)> = advertised
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .collect();
    let candidates = [
        reference.to_owned(),
        format!("refs/heads/{reference}"),
        format!("refs/tags/{reference}"),
    ];
    for candidate in candidates
        .iter()
        .filter(|candidate| candidate.starts_with("refs/"))
    {
        if refs.iter().any(|(_, name)| name == candidate) {
            return Ok(candidate.clone());
        }
    }
    let is_hex = reference.chars().all(|c| c.is_ascii_hexdigit());
    if is_hex && (reference.len() == 40 || reference.len() == 64) {
        return Ok(reference.to_ascii_lowercase());
    }
    if is_hex && reference.len() >= 4 {
        return resolve_abbreviation(git, staging_dir, reference, budget).await;
    }
    Err(unknown_reference(git, reference, &refs))
}

/// Finds the full commit for an abbreviated sha by downloading the history of every branch and
/// tag without trees or file contents (`--filter=tree:0`) into a scratch repository.
async fn resolve_abbreviation(
    git: &Git,
    staging_dir: &Path,
    reference: &str,
    budget: &StagingBudget,
) -> Result<String, SourceError> {
    let scratch = staging_dir.join("history");
    git.run(
        "creating the repository",
        None,
        &["init", "--quiet", "--bare", "--template=", "--"],
        &[scratch.as_os_str()],
        budget,
    )
    .await?;
    git.run_watching_size(
        "downloading the history to find the commit",
        &scratch,
        &[
            "fetch",
            "--quiet",
            "--filter=tree:0",
            "--no-tags",
            "--",
            git.url.as_str(),
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
        budget,
    )
    .await?;
    let lookup = git
        .output(
            "finding the commit",
            Some(&scratch),
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                &format!("{reference}^{{commit}}"),
            ],
            &[],
            budget,
        )
        .await?;
    tokio::fs::remove_dir_all(&scratch)
        .await
        .map_err(|source| SourceError::Filesystem {
            action: "remove",
            path: scratch.clone(),
            source,
        })?;
    if lookup.status.success() {
        return Ok(lookup.stdout.trim().to_owned());
    }
    if lookup.stderr.contains("ambiguous") {
        return Err(SourceError::GitAmbiguousCommit {
            url: git.url.as_str().to_owned(),
            reference: reference.to_owned(),
        });
    }
    Err(SourceError::GitUnknownReference {
        url: git.url.as_str().to_owned(),
        reference: reference.to_owned(),
        known: "no commit starts with these characters".to_owned(),
    })
}

fn unknown_reference(git: &Git, reference: &str, refs: &[(&str, &str)]) -> SourceError {
    let names: Vec<&str> = refs
        .iter()
        .filter_map(|(_, name)| {
            name.strip_prefix("refs/heads/")
                .or_else(|| name.strip_prefix("refs/tags/"))
        })
        .filter(|name| !name.ends_with("^{}"))
        .collect();
    let mut known = names
        .iter()
        .take(KNOWN_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.is_empty() {
        known.push_str("(none)");
    } else if names.len() > KNOWN_LISTED {
        let _ = write!(known, " and {} more", names.len() - KNOWN_LISTED);
    }
    SourceError::GitUnknownReference {
        url: git.url.as_str().to_owned(),
        reference: reference.to_owned(),
        known,
    }
}

/// Counts the entries and bytes of `git ls-tree -r -t -l -z` output against the limits, so an
/// oversized tree is refused before it is checked out; with a `subfolder`, only what it holds.
fn check_listing(
    listing: &str,
    subfolder: Option<&str>,
    budget: &mut StagingBudget,
) -> Result<(), SourceError> {
    let inside = |path: &str| {
        subfolder.is_none_or(|folder| {
            path.strip_prefix(folder)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    for (_, size, path) in listing_records(listing).filter(|(_, _, path)| inside(path)) {
        budget.add_entry(path)?;
        if let Ok(size) = size.parse::<u64>() {
            budget.add_bytes(path, size)?;
        }
    }
    Ok(())
}

struct Git {
    home: PathBuf,
    url: GitUrl,
    vetted: VettedHost,
    allow_http: bool,
    ca_bundle: Option<PathBuf>,
}

struct GitOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Git {
    fn command(&self, directory: Option<&Path>) -> Command {
        let mut command = Command::new(GIT);
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .env("GIT_PROTOCOL_FROM_USER", "0");
        if let Some(bundle) = &self.ca_bundle {
            command.env("GIT_SSL_CAINFO", bundle);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut settings = vec![
            "protocol.allow=never".to_owned(),
            "protocol.https.allow=always".to_owned(),
            "http.followRedirects=false".to_owned(),
            "credential.helper=".to_owned(),
            "core.hooksPath=/dev/null".to_owned(),
            "core.fsmonitor=false".to_owned(),
            "core.symlinks=true".to_owned(),
            "transfer.fsckObjects=true".to_owned(),
            "gc.auto=0".to_owned(),
            "maintenance.auto=false".to_owned(),
            "advice.detachedHead=false".to_owned(),
            "init.defaultBranch=main".to_owned(),
            "submodule.recurse=false".to_owned(),
        ];
        if self.allow_http {
            settings.push("protocol.http.allow=always".to_owned());
        }
        if let Some(pin) = &self.vetted.curl_resolve {
            settings.push(format!("http.curloptResolve={pin}"));
        }
        for setting in settings {
            command.arg("-c").arg(setting);
        }
        if let Some(directory) = directory {
            command.arg("-C").arg(directory);
        }
        command
    }

    /// Runs git and returns its standard output; a failure becomes [`SourceError::GitFailed`].
    async fn run(
        &self,
        step: &'static str,
        directory: Option<&Path>,
        arguments: &[&str],
        paths: &[&std::ffi::OsStr],
        budget: &StagingBudget,
    ) -> Result<String, SourceError> {
        let output = self
            .output(step, directory, arguments, paths, budget)
            .await?;
        succeeded(step, output)
    }

    async fn run_watching_size(
        &self,
        step: &'static str,
        directory: &Path,
        arguments: &[&str],
        budget: &StagingBudget,
    ) -> Result<String, SourceError> {
        let output = self
            .spawn(
                step,
                Some(directory),
                arguments,
                &[],
                Some(directory),
                budget,
            )
            .await?;
        succeeded(step, output)
    }

    async fn output(
        &self,
        step: &'static str,
        directory: Option<&Path>,
        arguments: &[&str],
        paths: &[&std::ffi::OsStr],
        budget: &StagingBudget,
    ) -> Result<GitOutput, SourceError> {
        self.spawn(step, directory, arguments, paths, None, budget)
            .await
    }

    /// Runs git until it exits, the deadline passes, or (with `watched`) the folder outgrows
    /// the byte limit; in the last two cases its whole process group is killed.
    async fn spawn(
        &self,
        step: &'static str,
        directory: Option<&Path>,
        arguments: &[&str],
        paths: &[&std::ffi::OsStr],
        watched: Option<&Path>,
        budget: &StagingBudget,
    ) -> Result<GitOutput, SourceError> {
        let mut command = self.command(directory);
        command.args(arguments).args(paths);
        let mut child = command
            .spawn()
            .map_err(|source| SourceError::GitUnavailable { source })?;
        let group = ProcessGroup(child.id());
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stdout = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stdout.read_to_end(&mut text).await;
            text
        });
        let stderr = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text).await;
            text
        });

        let deadline = tokio::time::sleep(budget.remaining());
        tokio::pin!(deadline);
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(|source| SourceError::GitUnavailable { source })?,
                () = &mut deadline => {
                    group.kill();
                    let _ = child.wait().await;
                    return Err(budget.timeout_error(step));
                }
                () = tokio::time::sleep(SIZE_POLL), if watched.is_some() => {
                    let folder = watched.unwrap_or(Path::new("")).to_path_buf();
                    let size = tokio::task::spawn_blocking(move || folder_size(&folder))
                        .await
                        .unwrap_or(0);
                    if size > budget.max_bytes() {
                        group.kill();
                        let _ = child.wait().await;
                        return Err(SourceError::TooManyBytes {
                            limit: budget.max_bytes(),
                            entry: "(git download)".to_owned(),
                        });
                    }
                }
            }
        };
        group.forget();
        let stdout = String::from_utf8_lossy(&stdout.await.unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.await.unwrap_or_default()).into_owned();
        Ok(GitOutput {
            status,
            stdout,
            stderr,
        })
    }
}

fn succeeded(step: &'static str, output: GitOutput) -> Result<String, SourceError> {
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = output.stderr.trim();
    let start = stderr.len().saturating_sub(STDERR_KEPT);
    let start = (start..stderr.len())
        .find(|index| stderr.is_char_boundary(*index))
        .unwrap_or(0);
    Err(SourceError::GitFailed {
        step,
        status: output.status,
        stderr: stderr[start..].to_owned(),
    })
}

/// Bytes of the regular files under `folder`, without following links.
fn folder_size(folder: &Path) -> u64 {
    let mut total = 0;
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(children) = std::fs::read_dir(&folder) else {
            continue;
        };
        for child in children.flatten() {
            match child.metadata() {
                Ok(metadata) if metadata.is_dir() => folders.push(child.path()),
                Ok(metadata) if metadata.is_file() => total += metadata.len(),
                _ => {}
            }
        }
    }
    total
}

/// The process group of a running git, killed when the staging stops waiting for it (deadline,
/// size limit, or the staging future being dropped).
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    fn kill(&self) {
        if let Some(id) = self.0.and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(id),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Git exited on its own; its group is gone and its id may be reused.
    fn forget(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn git_trusts_the_configured_ca_bundle_in_its_cleared_environment() {
        let git = Git {
            home: PathBuf::from("/staging/git-home"),
            url: GitUrl::parse("https://git.example.org/lab.git", &SourcesConfig::default())
                .unwrap(),
            vetted: VettedHost { curl_resolve: None },
            allow_http: false,
            ca_bundle: Some(PathBuf::from("/etc/institute/ca.pem")),
        };
        let command = git.command(None);
        let bundle = command
            .as_std()
            .get_envs()
            .find(|(name, _)| *name == "GIT_SSL_CAINFO")
            .and_then(|(_, value)| value);
        assert_eq!(bundle, Some(std::ffi::OsStr::new("/etc/institute/ca.pem")));
    }

    #[test]
    fn references_that_could_be_options_are_refused() {
        for reference in [
            "--upload-pack=touch /tmp/owned",
            "-b",
            "+refs/heads/main",
            "main..dev",
            "refs/heads/.hidden",
            "a lock.lock",
            "",
            "main^{tree}",
            "/abs",
        ] {
            assert!(
                matches!(
                    validate_reference(reference),
                    Err(SourceError::GitReferenceInvalid { .. })
                ),
                "{reference}"
            );
        }
        for reference in [
            "main",
            "feature/new-plot",
            "v1.2.3",
            "0a1b2c3",
            "refs/tags/v1",
        ] {
            validate_reference(reference).unwrap();
        }
    }

    #[test]
    fn oversized_listings_are_refused_before_checkout() {
        let listing = "100644 blob 0123 40\tnotebook.ipynb\0\
                       040000 tree 4567       -\tdata\0\
                       100644 blob 89ab 5000\tdata/big.csv\0";
        let config = SourcesConfig {
            max_bytes: 1000,
            ..SourcesConfig::default()
        };
        let mut budget = StagingBudget::new(&config, Arc::default());
        let error = check_listing(listing, None, &mut budget).unwrap_err();
        assert!(
            matches!(&error, SourceError::TooManyBytes { limit: 1000, entry } if entry == "data/big.csv"),
            "{error}"
        );
        // One folder of the repository counts alone.
        let mut budget = StagingBudget::new(&config, Arc::default());
        check_listing(listing, Some("notebooks"), &mut budget).unwrap();
        assert_eq!((budget.files(), budget.bytes()), (0, 0));
    }

    #[test]
    fn subfolders_stay_inside_the_repository() {
        for subfolder in [
            "../outside",
            "tutorials/../../outside",
            "/etc",
            "",
            "/",
            "a//b",
            "./tutorials",
            "tutorials/*",
            "!tutorials",
            ".git",
            "tutorials/.git/hooks",
            " tutorials",
        ] {
            let error = validate_subfolder(subfolder).unwrap_err();
            assert!(
                matches!(&error, SourceError::GitSubfolderInvalid { subfolder: named, .. } if named == subfolder),
                "{subfolder}: {error}"
            );
            assert!(error.to_string().contains("`subfolder`"), "{error}");
        }
        assert_eq!(
            validate_subfolder("tutorials/FITS-header/").unwrap(),
            "tutorials/FITS-header"
        );
        assert_eq!(validate_subfolder("notebooks").unwrap(), "notebooks");
    }

    #[test]
    fn a_subfolder_must_be_a_folder_of_the_listing() {
        let listing = "040000 tree 4567       -\ttutorials\0\
                       040000 tree 4568       -\ttutorials/fits\0\
                       120000 blob 89ab      10\tlinked\0\
                       100644 blob 89ac      10\tREADME.md\0";
        assert!(listing_has_folder(listing, "tutorials/fits"));
        assert!(!listing_has_folder(listing, "linked"));
        assert!(!listing_has_folder(listing, "linked/inner"));
        assert!(!listing_has_folder(listing, "README.md"));
        assert_eq!(top_level_folders(listing), "tutorials");
    }
}

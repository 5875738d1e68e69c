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
/// `staging_dir/git-home` as git's home; both live in the staging folder.
pub async fn fetch(
    url: &str,
    reference: Option<&str>,
    staging_dir: &Path,
    config: &SourcesConfig,
    budget: &StagingBudget,
) -> Result<FetchedRepository, SourceError> {
    let url = GitUrl::parse(url, config)?;
    if let Some(reference) = reference {
        validate_reference(reference)?;
    }
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
    let listing = git
        .run(
            "listing the downloaded files",
            Some(&root),
            &["ls-tree", "-r", "-t", "-l", "-z", "FETCH_HEAD^{commit}"],
            &[],
            budget,
        )
        .await?;
    check_listing(&listing, &mut budget.fresh())?;
    git.run(
        "checking out the files",
        Some(&root),
        &["checkout", "--quiet", "--detach", "FETCH_HEAD^{commit}"],
        &[],
        budget,
    )
    .await?;
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
    Ok(FetchedRepository { root, revision })
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
/// oversized tree is refused before it is checked out.
fn check_listing(listing: &str, budget: &mut StagingBudget) -> Result<(), SourceError> {
    for record in listing.split('\0').filter(|record| !record.is_empty()) {
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        budget.add_entry(path)?;
        if let Some(size) = meta.split_whitespace().nth(3)
            && let Ok(size) = size.parse::<u64>()
        {
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
        let error = check_listing(listing, &mut budget).unwrap_err();
        assert!(
            matches!(&error, SourceError::TooManyBytes { limit: 1000, entry } if entry == "data/big.csv"),
            "{error}"
        );
    }
}

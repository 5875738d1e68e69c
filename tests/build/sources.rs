//! Staging sources end to end: a real git server over smart HTTP on 127.0.0.1, hostile zips
//! written with the zip writer, and workspace folders on disk. Every failure must leave nothing
//! behind: the staging folder is gone and the folder around it is unchanged.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use labforge::sources::{Source, SourceError, SourcesConfig, StagedSource, stage};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::common::git_server::{self, FixtureRepository, GitServer, SilentServer};

/// A parent folder holding a sentinel file, where the staging folder is created.
struct Sandbox {
    _temporary: tempfile::TempDir,
    parent: PathBuf,
    staging_dir: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let temporary = tempfile::tempdir().unwrap();
        let parent = temporary.path().join("parent");
        fs::create_dir(&parent).unwrap();
        fs::write(parent.join("sentinel"), b"untouched").unwrap();
        let staging_dir = parent.join("staging");
        Self {
            _temporary: temporary,
            parent,
            staging_dir,
        }
    }

    /// Scratch space beside the parent folder, for zips and repositories.
    fn scratch(&self, name: &str) -> PathBuf {
        let path = self.parent.parent().unwrap().join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }

    async fn stage(
        &self,
        source: &Source,
        config: &SourcesConfig,
    ) -> Result<StagedSource, SourceError> {
        stage(source, &self.staging_dir, config).await
    }

    /// Stages and expects a failure that left nothing behind.
    async fn refused(&self, source: &Source, config: &SourcesConfig) -> SourceError {
        let error = self.stage(source, config).await.unwrap_err();
        self.assert_nothing_left();
        error
    }

    fn assert_nothing_left(&self) {
        assert!(
            !self.staging_dir.exists(),
            "the staging folder was left behind"
        );
        let listing: Vec<_> = fs::read_dir(&self.parent)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            listing,
            ["sentinel"],
            "something was written beside the staging folder"
        );
        assert_eq!(
            fs::read(self.parent.join("sentinel")).unwrap(),
            b"untouched"
        );
        let outside: Vec<_> = fs::read_dir(self.parent.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name == "evil" || name == "abs" || name == "passwd")
            .collect();
        assert!(outside.is_empty(), "written outside: {outside:?}");
    }
}

fn git_config() -> SourcesConfig {
    SourcesConfig {
        allow_http: true,
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        timeout_seconds: 60,
        ..SourcesConfig::default()
    }
}

fn git_source(url: &str, reference: Option<&str>) -> Source {
    Source::Git {
        url: url.to_owned(),
        reference: reference.map(String::from),
        subfolder: None,
    }
}

struct ServedRepository {
    server: GitServer,
    repository: FixtureRepository,
    url: String,
}

fn serve_fixture(sandbox: &Sandbox) -> ServedRepository {
    let projects = sandbox.scratch("projects");
    let repository = FixtureRepository::create(&projects, "lab");
    let server = GitServer::start(&projects);
    let url = format!("{}/lab.git", server.base_url);
    ServedRepository {
        server,
        repository,
        url,
    }
}

fn assert_lab_files(root: &Path) {
    for file in [
        "metadata.yaml",
        "requirements.txt",
        "notebooks/explore.ipynb",
    ] {
        assert_eq!(
            fs::read(root.join(file)).unwrap(),
            fs::read(git_server::fixture_folder().join(file)).unwrap(),
            "{file}"
        );
    }
}

// Git.

#[tokio::test]
async fn git_stages_the_default_branch_without_its_history() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let staged = sandbox
        .stage(&git_source(&served.url, None), &git_config())
        .await
        .unwrap();
    assert_eq!(
        staged.revision.as_deref(),
        Some(served.repository.main_tip.as_str())
    );
    assert_eq!(staged.origin, served.url);
    assert!(staged.root.starts_with(&sandbox.staging_dir));
    assert_lab_files(&staged.root);
    assert!(staged.root.join("notebooks/second.ipynb").is_file());
    assert!(!staged.root.join(".git").exists());
    // metadata.yaml, requirements.txt, notebooks, two notebooks.
    assert_eq!(staged.files, 5);
    let mode = fs::metadata(&sandbox.staging_dir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let staging_listing: Vec<_> = fs::read_dir(&sandbox.staging_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        staging_listing,
        ["source"],
        "git's scratch folders must be removed"
    );
}

#[tokio::test]
async fn git_stages_a_branch() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let staged = sandbox
        .stage(&git_source(&served.url, Some("dev")), &git_config())
        .await
        .unwrap();
    assert_eq!(
        staged.revision.as_deref(),
        Some(served.repository.dev_tip.as_str())
    );
    assert!(staged.root.join("dev-only.txt").is_file());
    assert!(!staged.root.join("notebooks/second.ipynb").exists());
}

#[tokio::test]
async fn git_stages_annotated_and_lightweight_tags() {
    for tag in ["v1.0", "light", "refs/tags/v1.0"] {
        let sandbox = Sandbox::new();
        let served = serve_fixture(&sandbox);
        let staged = sandbox
            .stage(&git_source(&served.url, Some(tag)), &git_config())
            .await
            .unwrap();
        assert_eq!(
            staged.revision.as_deref(),
            Some(served.repository.first.as_str()),
            "{tag}"
        );
        assert_lab_files(&staged.root);
        assert!(!staged.root.join("dev-only.txt").exists());
    }
}

#[tokio::test]
async fn git_stages_a_commit_that_is_no_branch_tip() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let first = served.repository.first.clone();
    let staged = sandbox
        .stage(&git_source(&served.url, Some(&first)), &git_config())
        .await
        .unwrap();
    assert_eq!(staged.revision.as_deref(), Some(first.as_str()));
    assert!(!staged.root.join("notebooks/second.ipynb").exists());
}

#[tokio::test]
async fn git_stages_an_abbreviated_commit() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let first = served.repository.first.clone();
    let staged = sandbox
        .stage(&git_source(&served.url, Some(&first[..8])), &git_config())
        .await
        .unwrap();
    assert_eq!(staged.revision.as_deref(), Some(first.as_str()));
}

#[tokio::test]
async fn git_unknown_reference_names_the_known_ones() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let error = sandbox
        .refused(
            &git_source(&served.url, Some("no-such-branch")),
            &git_config(),
        )
        .await;
    assert!(
        matches!(error, SourceError::GitUnknownReference { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "`no-such-branch` is not a branch, tag or commit of {}",
            served.url
        )),
        "{message}"
    );
    for known in ["main", "dev", "v1.0", "light"] {
        assert!(message.contains(known), "{message}");
    }
}

#[tokio::test]
async fn git_unknown_abbreviated_commit_is_refused() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    // No sha of the fixture starts with these characters (checked below).
    let abbreviation = "0000000";
    for commit in [
        &served.repository.first,
        &served.repository.dev_tip,
        &served.repository.main_tip,
    ] {
        assert!(!commit.starts_with(abbreviation));
    }
    let error = sandbox
        .refused(&git_source(&served.url, Some(abbreviation)), &git_config())
        .await;
    assert!(
        matches!(error, SourceError::GitUnknownReference { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn git_loopback_is_refused_without_the_allowlist_before_any_request() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let config = SourcesConfig {
        allowed_hosts: Vec::new(),
        ..git_config()
    };
    let error = sandbox
        .refused(&git_source(&served.url, None), &config)
        .await;
    assert!(
        matches!(&error, SourceError::PrivateAddress { host, range: "loopback", .. } if host == "127.0.0.1"),
        "{error}"
    );
    assert!(
        served.server.requests().is_empty(),
        "{:?}",
        served.server.requests()
    );
}

#[tokio::test]
async fn git_plain_http_is_refused_unless_allowed() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let config = SourcesConfig {
        allow_http: false,
        ..git_config()
    };
    let error = sandbox
        .refused(&git_source(&served.url, None), &config)
        .await;
    assert!(
        matches!(error, SourceError::GitHttpRefused { .. }),
        "{error}"
    );
    assert!(served.server.requests().is_empty());
}

#[tokio::test]
async fn git_refuses_hostile_urls_and_references_before_connecting() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let port = served
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    for (url, reference) in [
        (
            format!(
                "file://{}",
                sandbox.scratch("projects").join("lab.git").display()
            ),
            None,
        ),
        (format!("ssh://127.0.0.1:{port}/lab.git"), None),
        (format!("git://127.0.0.1:{port}/lab.git"), None),
        ("git@127.0.0.1:lab.git".to_owned(), None),
        (format!("http://user:secret@127.0.0.1:{port}/lab.git"), None),
        (served.url.clone(), Some("--upload-pack=touch /tmp/owned")),
    ] {
        let error = sandbox
            .refused(&git_source(&url, reference), &git_config())
            .await;
        assert!(
            !matches!(error, SourceError::GitFailed { .. }),
            "{url}: refused too late: {error}"
        );
    }
    assert!(
        served.server.requests().is_empty(),
        "{:?}",
        served.server.requests()
    );
}

#[tokio::test]
async fn git_download_over_the_byte_limit_is_refused() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let config = SourcesConfig {
        max_bytes: 100,
        ..git_config()
    };
    let error = sandbox
        .refused(&git_source(&served.url, None), &config)
        .await;
    assert!(
        matches!(error, SourceError::TooManyBytes { limit: 100, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn git_tree_over_the_file_limit_is_refused() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let config = SourcesConfig {
        max_files: 3,
        ..git_config()
    };
    let error = sandbox
        .refused(&git_source(&served.url, None), &config)
        .await;
    assert!(
        matches!(error, SourceError::TooManyFiles { limit: 3, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn git_server_that_never_answers_times_out() {
    let sandbox = Sandbox::new();
    let silent = SilentServer::start();
    let config = SourcesConfig {
        timeout_seconds: 2,
        ..git_config()
    };
    let started = Instant::now();
    let error = sandbox
        .refused(
            &git_source(&format!("{}/lab.git", silent.base_url), None),
            &config,
        )
        .await;
    assert!(
        matches!(error, SourceError::Timeout { seconds: 2, .. }),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

// Zip.

enum ZipEntry<'a> {
    File(&'a str, &'a [u8]),
    Folder(&'a str),
    Link(&'a str, &'a str),
}

fn write_zip(path: &Path, entries: &[ZipEntry<'_>]) {
    let mut writer = ZipWriter::new(File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            ZipEntry::File(name, content) => {
                writer.start_file(*name, options).unwrap();
                writer.write_all(content).unwrap();
            }
            ZipEntry::Folder(name) => writer.add_directory(*name, options).unwrap(),
            ZipEntry::Link(name, target) => writer.add_symlink(*name, *target, options).unwrap(),
        }
    }
    writer.finish().unwrap();
}

fn zip_config() -> SourcesConfig {
    SourcesConfig {
        max_bytes: 1024 * 1024,
        max_files: 100,
        ..SourcesConfig::default()
    }
}

fn zip_source(sandbox: &Sandbox, entries: &[ZipEntry<'_>]) -> Source {
    let path = sandbox.scratch("uploads").join("upload.zip");
    write_zip(&path, entries);
    Source::Zip { path }
}

#[tokio::test]
async fn zip_is_staged_with_links_that_stay_inside() {
    let sandbox = Sandbox::new();
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::File("metadata.yaml", b"title: Lab\n"),
            ZipEntry::Folder("notebooks/"),
            ZipEntry::File("notebooks/explore.ipynb", b"{}"),
            ZipEntry::File("./data/./table.csv", b"a,b\n1,2\n"),
            ZipEntry::Link("latest.ipynb", "notebooks/explore.ipynb"),
        ],
    );
    let staged = sandbox.stage(&source, &zip_config()).await.unwrap();
    assert_eq!(staged.root, sandbox.staging_dir.join("source"));
    assert_eq!(
        fs::read(staged.root.join("notebooks/explore.ipynb")).unwrap(),
        b"{}"
    );
    assert_eq!(
        fs::read(staged.root.join("data/table.csv")).unwrap(),
        b"a,b\n1,2\n"
    );
    assert_eq!(
        fs::read_link(staged.root.join("latest.ipynb")).unwrap(),
        Path::new("notebooks/explore.ipynb")
    );
    // 3 files, 2 folders, 1 link; 11 + 2 + 8 bytes.
    assert_eq!((staged.files, staged.bytes), (6, 21));
    assert_eq!(staged.revision, None);
}

#[tokio::test]
async fn zip_with_a_single_top_folder_is_rooted_in_it() {
    let sandbox = Sandbox::new();
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::Folder("lab-main/"),
            ZipEntry::File("lab-main/metadata.yaml", b"title: Lab\n"),
            ZipEntry::File("lab-main/notebooks/explore.ipynb", b"{}"),
        ],
    );
    let staged = sandbox.stage(&source, &zip_config()).await.unwrap();
    assert_eq!(staged.root, sandbox.staging_dir.join("source/lab-main"));
    assert!(staged.root.join("metadata.yaml").is_file());
    assert_eq!(staged.files, 3);
}

#[tokio::test]
async fn zip_entries_escaping_the_root_are_refused() {
    for name in [
        "../evil",
        "../../evil",
        "/abs",
        "C:/evil",
        "notebooks/../../evil",
    ] {
        let sandbox = Sandbox::new();
        let source = zip_source(
            &sandbox,
            &[
                ZipEntry::File("metadata.yaml", b"title: Lab\n"),
                ZipEntry::File(name, b"owned"),
            ],
        );
        let error = sandbox.refused(&source, &zip_config()).await;
        assert!(
            matches!(&error, SourceError::ZipEntryEscapes { entry } if entry == name),
            "{name}: {error}"
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("zip entry `{name}` would be written outside"))
        );
    }
}

#[tokio::test]
async fn zip_backslash_names_are_refused() {
    let sandbox = Sandbox::new();
    let source = zip_source(&sandbox, &[ZipEntry::File("..\\evil", b"owned")]);
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(error, SourceError::ZipEntryNameInvalid { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn zip_links_leaving_the_root_are_refused() {
    for (link, target) in [
        ("passwd", "../../etc/passwd"),
        ("absolute", "/etc/passwd"),
        ("notebooks/up", "../.."),
    ] {
        let sandbox = Sandbox::new();
        let source = zip_source(
            &sandbox,
            &[
                ZipEntry::File("notebooks/explore.ipynb", b"{}"),
                ZipEntry::Link(link, target),
            ],
        );
        let error = sandbox.refused(&source, &zip_config()).await;
        assert!(
            matches!(&error, SourceError::SymlinkEscapes { path, .. } if path == link),
            "{link}: {error}"
        );
    }
}

#[tokio::test]
async fn zip_entries_inside_a_link_are_refused() {
    let sandbox = Sandbox::new();
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::Link("data", "."),
            ZipEntry::File("data/table.csv", b"a"),
        ],
    );
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(&error, SourceError::ZipEntryConflict { entry, other } if entry == "data/table.csv" && other == "data"),
        "{error}"
    );
}

#[tokio::test]
async fn zip_with_too_many_entries_is_refused() {
    let sandbox = Sandbox::new();
    let names: Vec<String> = (0..101)
        .map(|number| format!("file-{number:03}.txt"))
        .collect();
    let entries: Vec<ZipEntry<'_>> = names
        .iter()
        .map(|name| ZipEntry::File(name, b"x"))
        .collect();
    let source = zip_source(&sandbox, &entries);
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(&error, SourceError::TooManyFiles { limit: 100, entry } if entry == "file-100.txt"),
        "{error}"
    );
}

#[tokio::test]
async fn zip_bomb_stops_at_the_byte_limit() {
    let sandbox = Sandbox::new();
    let zeros = vec![0_u8; 16 * 1024 * 1024];
    let source = zip_source(&sandbox, &[ZipEntry::File("bomb.bin", &zeros)]);
    let Source::Zip { path } = &source else {
        unreachable!()
    };
    assert!(
        fs::metadata(path).unwrap().len() < 100 * 1024,
        "not compressed enough to be a bomb"
    );
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(&error, SourceError::TooManyBytes { limit: 1_048_576, entry } if entry == "bomb.bin"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "the source holds more than 1048576 bytes (limit reached at `bomb.bin`); remove large \
         files such as data sets from the source and mount them as data volumes instead"
    );
}

#[tokio::test]
async fn zip_bomb_with_a_lying_header_stops_at_the_byte_limit() {
    let sandbox = Sandbox::new();
    let zeros = vec![0_u8; 4 * 1024 * 1024];
    let source = zip_source(&sandbox, &[ZipEntry::File("bomb.bin", &zeros)]);
    let Source::Zip { path } = &source else {
        unreachable!()
    };
    // Rewrite the declared uncompressed size (4 MiB) to 10 bytes in every header.
    let mut bytes = fs::read(path).unwrap();
    let declared = 4_u32 * 1024 * 1024;
    let mut rewritten = 0;
    for at in 0..bytes.len() - 4 {
        if bytes[at..at + 4] == declared.to_le_bytes() {
            bytes[at..at + 4].copy_from_slice(&10_u32.to_le_bytes());
            rewritten += 1;
        }
    }
    assert!(rewritten >= 2);
    fs::write(path, bytes).unwrap();
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(
            error,
            SourceError::TooManyBytes { .. } | SourceError::EntryUnreadable { .. }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn zip_duplicate_names_are_refused() {
    for (first, second) in [
        ("a/b.txt", "a/./b.txt"),
        ("notes.txt", "./notes.txt"),
        ("a/x/../b.txt", "a/b.txt"),
    ] {
        let sandbox = Sandbox::new();
        let source = zip_source(
            &sandbox,
            &[
                ZipEntry::File(first, b"one"),
                ZipEntry::File(second, b"two"),
            ],
        );
        let error = sandbox.refused(&source, &zip_config()).await;
        assert!(
            matches!(&error, SourceError::ZipDuplicateEntry { entry, other } if entry == second && other == first),
            "{first} {second}: {error}"
        );
    }
}

#[tokio::test]
async fn zip_exact_duplicate_names_are_refused() {
    let sandbox = Sandbox::new();
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::File("dupe/a.txt", b"one"),
            ZipEntry::File("dupe/b.txt", b"two"),
        ],
    );
    let Source::Zip { path } = &source else {
        unreachable!()
    };
    // The writer refuses duplicates, so rename the second entry in place in every header.
    let mut bytes = fs::read(path).unwrap();
    for at in 0..bytes.len() - 10 {
        if &bytes[at..at + 10] == b"dupe/b.txt" {
            bytes[at..at + 10].copy_from_slice(b"dupe/a.txt");
        }
    }
    fs::write(path, bytes).unwrap();
    let error = sandbox.refused(&source, &zip_config()).await;
    assert!(
        matches!(&error, SourceError::ZipDuplicateEntry { entry, .. } if entry == "dupe/a.txt"),
        "{error}"
    );
}

#[tokio::test]
async fn zip_file_and_folder_of_the_same_name_are_refused() {
    for entries in [
        [
            ZipEntry::File("data", b"x"),
            ZipEntry::File("data/table.csv", b"a"),
        ],
        [
            ZipEntry::File("data/table.csv", b"a"),
            ZipEntry::File("data", b"x"),
        ],
    ] {
        let sandbox = Sandbox::new();
        let source = zip_source(&sandbox, &entries);
        let error = sandbox.refused(&source, &zip_config()).await;
        assert!(
            matches!(error, SourceError::ZipEntryConflict { .. }),
            "{error}"
        );
    }
}

#[tokio::test]
async fn zip_encrypted_entries_are_refused() {
    use zip::unstable::write::FileOptionsExt;
    let sandbox = Sandbox::new();
    let path = sandbox.scratch("uploads").join("secret.zip");
    let mut writer = ZipWriter::new(File::create(&path).unwrap());
    writer
        .start_file("plain.txt", SimpleFileOptions::default())
        .unwrap();
    writer.write_all(b"hello").unwrap();
    let encrypted = SimpleFileOptions::default()
        .with_deprecated_encryption(b"password")
        .unwrap();
    writer.start_file("secret.txt", encrypted).unwrap();
    writer.write_all(b"secret").unwrap();
    writer.finish().unwrap();
    let error = sandbox.refused(&Source::Zip { path }, &zip_config()).await;
    assert!(
        matches!(&error, SourceError::ZipEntryEncrypted { entry } if entry == "secret.txt"),
        "{error}"
    );
}

#[tokio::test]
async fn zip_over_time_is_refused() {
    let sandbox = Sandbox::new();
    let source = zip_source(&sandbox, &[ZipEntry::File("a.txt", b"a")]);
    let config = SourcesConfig {
        timeout_seconds: 0,
        ..zip_config()
    };
    let error = sandbox.refused(&source, &config).await;
    assert!(
        matches!(error, SourceError::Timeout { seconds: 0, .. }),
        "{error}"
    );
}

#[tokio::test]
async fn not_a_zip_is_refused() {
    let sandbox = Sandbox::new();
    let path = sandbox.scratch("uploads").join("notes.zip");
    fs::write(&path, b"this is not a zip").unwrap();
    let error = sandbox.refused(&Source::Zip { path }, &zip_config()).await;
    assert!(
        matches!(error, SourceError::ZipUnreadable { .. }),
        "{error}"
    );
}

// Workspace.

struct Workspaces {
    root: PathBuf,
}

fn workspaces(sandbox: &Sandbox) -> Workspaces {
    let root = sandbox.scratch("workspaces");
    let lab = root.join("alice/lab");
    fs::create_dir_all(&lab).unwrap();
    git_server::copy_folder(&git_server::fixture_folder(), &lab);
    fs::create_dir_all(root.join("bob")).unwrap();
    fs::write(root.join("bob/private.txt"), b"bob's").unwrap();
    Workspaces { root }
}

fn workspace_config(workspaces: &Workspaces) -> SourcesConfig {
    SourcesConfig {
        workspace_root: workspaces.root.clone(),
        ..zip_config()
    }
}

#[tokio::test]
async fn workspace_folder_is_copied_with_inner_links() {
    let sandbox = Sandbox::new();
    let workspaces = workspaces(&sandbox);
    let lab = workspaces.root.join("alice/lab");
    symlink("notebooks/explore.ipynb", lab.join("main.ipynb")).unwrap();
    symlink(
        lab.join("requirements.txt"),
        lab.join("notebooks/requirements.txt"),
    )
    .unwrap();
    fs::set_permissions(
        lab.join("requirements.txt"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let staged = sandbox
        .stage(
            &Source::Workspace {
                root: workspaces.root.clone(),
                path: PathBuf::from("alice/lab"),
            },
            &workspace_config(&workspaces),
        )
        .await
        .unwrap();
    assert_lab_files(&staged.root);
    assert_eq!(
        fs::read_link(staged.root.join("main.ipynb")).unwrap(),
        Path::new("notebooks/explore.ipynb")
    );
    assert_eq!(
        fs::read_link(staged.root.join("notebooks/requirements.txt")).unwrap(),
        Path::new("../requirements.txt")
    );
    let mode = fs::metadata(staged.root.join("requirements.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
    assert_eq!(
        staged.origin,
        fs::canonicalize(&lab).unwrap().display().to_string()
    );
    // 3 files, 1 folder, 2 links.
    assert_eq!(staged.files, 6);
}

#[tokio::test]
async fn workspace_escape_through_dot_dot_is_refused() {
    let sandbox = Sandbox::new();
    let workspaces = workspaces(&sandbox);
    for path in ["alice/../bob/../..", "alice/lab/../../../parent", "/etc"] {
        let error = sandbox
            .refused(
                &Source::Workspace {
                    root: workspaces.root.clone(),
                    path: PathBuf::from(path),
                },
                &workspace_config(&workspaces),
            )
            .await;
        assert!(
            matches!(error, SourceError::WorkspaceOutsideRoot { .. }),
            "{path}: {error}"
        );
    }
}

#[tokio::test]
async fn workspace_links_leaving_the_folder_are_refused_by_name() {
    for (link, target) in [
        ("notebooks/bob.txt", "../../../bob/private.txt"),
        ("passwd", "/etc/passwd"),
        ("home", "../.."),
    ] {
        let sandbox = Sandbox::new();
        let workspaces = workspaces(&sandbox);
        symlink(target, workspaces.root.join("alice/lab").join(link)).unwrap();
        let error = sandbox
            .refused(
                &Source::Workspace {
                    root: workspaces.root.clone(),
                    path: PathBuf::from("alice/lab"),
                },
                &workspace_config(&workspaces),
            )
            .await;
        assert!(
            matches!(&error, SourceError::SymlinkEscapes { path, .. } if path == link),
            "{link}: {error}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("symbolic link `{link}` points to `{target}`"))
        );
    }
}

#[tokio::test]
async fn workspace_folder_that_is_a_link_out_is_refused() {
    let sandbox = Sandbox::new();
    let workspaces = workspaces(&sandbox);
    symlink(
        sandbox.scratch("elsewhere"),
        workspaces.root.join("alice/away"),
    )
    .unwrap();
    let error = sandbox
        .refused(
            &Source::Workspace {
                root: workspaces.root.clone(),
                path: PathBuf::from("alice/away"),
            },
            &workspace_config(&workspaces),
        )
        .await;
    assert!(
        matches!(error, SourceError::WorkspaceOutsideRoot { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn workspace_over_the_byte_limit_is_refused() {
    let sandbox = Sandbox::new();
    let workspaces = workspaces(&sandbox);
    fs::write(
        workspaces.root.join("alice/lab/big.bin"),
        vec![1_u8; 2 * 1024 * 1024],
    )
    .unwrap();
    let error = sandbox
        .refused(
            &Source::Workspace {
                root: workspaces.root.clone(),
                path: PathBuf::from("alice/lab"),
            },
            &workspace_config(&workspaces),
        )
        .await;
    assert!(matches!(error, SourceError::TooManyBytes { .. }), "{error}");
}

// Staging folder.

#[tokio::test]
async fn an_existing_staging_folder_is_refused_and_kept() {
    let sandbox = Sandbox::new();
    fs::create_dir(&sandbox.staging_dir).unwrap();
    fs::write(sandbox.staging_dir.join("previous.txt"), b"keep me").unwrap();
    let source = zip_source(&sandbox, &[ZipEntry::File("a.txt", b"a")]);
    let error = sandbox.stage(&source, &zip_config()).await.unwrap_err();
    assert!(
        matches!(error, SourceError::StagingExists { .. }),
        "{error}"
    );
    assert_eq!(
        fs::read(sandbox.staging_dir.join("previous.txt")).unwrap(),
        b"keep me"
    );
}

#[tokio::test]
async fn git_host_names_are_pinned_to_their_vetted_addresses() {
    let sandbox = Sandbox::new();
    let served = serve_fixture(&sandbox);
    let url = served.url.replace("127.0.0.1", "localhost");
    let config = SourcesConfig {
        allowed_hosts: vec!["localhost".to_owned()],
        ..git_config()
    };
    let staged = sandbox
        .stage(&git_source(&url, None), &config)
        .await
        .unwrap();
    assert_eq!(
        staged.revision.as_deref(),
        Some(served.repository.main_tip.as_str())
    );
    assert!(!served.server.requests().is_empty());
}

// What a source leaves out.

/// The lab fixture as an author's working tree: git history, a secret, a `.gitignore`d data
/// file and notebook checkpoints beside the notebooks.
fn author_working_tree(folder: &Path) {
    fs::create_dir_all(folder).unwrap();
    git_server::copy_folder(&git_server::fixture_folder(), folder);
    fs::create_dir_all(folder.join("data")).unwrap();
    fs::create_dir_all(folder.join("notebooks/.ipynb_checkpoints")).unwrap();
    fs::write(folder.join(".gitignore"), "data/*.fits\n").unwrap();
    fs::write(folder.join("data/survey.fits"), vec![0_u8; 4096]).unwrap();
    fs::write(folder.join("data/README.md"), "Mount the survey here.\n").unwrap();
    fs::write(folder.join(".env"), "ARCHIVE_TOKEN=not-for-images\n").unwrap();
    fs::write(
        folder.join("notebooks/.ipynb_checkpoints/explore-checkpoint.ipynb"),
        "{}\n",
    )
    .unwrap();
}

/// Every path under `root`, `/`-separated, sorted.
fn staged_paths(root: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                folders.push(path.clone());
            }
            paths.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    paths.sort();
    paths
}

fn assert_only_the_lab_is_staged(staged: &StagedSource) {
    assert_lab_files(&staged.root);
    let paths = staged_paths(&staged.root);
    for left_out in [
        ".git",
        ".env",
        "data/survey.fits",
        "notebooks/.ipynb_checkpoints",
    ] {
        assert!(
            !paths.iter().any(|path| path == left_out),
            "{left_out}: {paths:?}"
        );
    }
    assert!(
        paths.iter().any(|path| path == "data/README.md"),
        "{paths:?}"
    );
    assert_eq!(staged.left_out.secrets, [".env"]);
    assert_eq!(staged.files, paths.len() as u64);
}

#[tokio::test]
async fn workspace_repository_is_staged_without_history_ignored_files_secrets_or_checkpoints() {
    let sandbox = Sandbox::new();
    let workspaces = workspaces(&sandbox);
    let lab = workspaces.root.join("alice/tutorial");
    author_working_tree(&lab);
    git_server::publish_folder(&sandbox.scratch("projects"), "tutorial", &lab);
    let git_history = staged_paths(&lab.join(".git")).len() as u64 + 1;
    let staged = sandbox
        .stage(
            &Source::Workspace {
                root: workspaces.root.clone(),
                path: PathBuf::from("alice/tutorial"),
            },
            &workspace_config(&workspaces),
        )
        .await
        .unwrap();
    assert_only_the_lab_is_staged(&staged);
    // .git, .env, the data file, the checkpoint folder and its notebook.
    assert_eq!(staged.left_out.files, git_history + 4);
    assert!(staged.left_out.bytes > 4096, "{:?}", staged.left_out);
}

#[tokio::test]
async fn zip_upload_is_staged_without_history_ignored_files_secrets_or_checkpoints() {
    let sandbox = Sandbox::new();
    let metadata = fs::read(git_server::fixture_folder().join("metadata.yaml")).unwrap();
    let requirements = fs::read(git_server::fixture_folder().join("requirements.txt")).unwrap();
    let notebook = fs::read(git_server::fixture_folder().join("notebooks/explore.ipynb")).unwrap();
    let survey = vec![0_u8; 4096];
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::File("lab/metadata.yaml", &metadata),
            ZipEntry::File("lab/requirements.txt", &requirements),
            ZipEntry::File("lab/notebooks/explore.ipynb", &notebook),
            ZipEntry::File(
                "lab/notebooks/.ipynb_checkpoints/explore-checkpoint.ipynb",
                b"{}",
            ),
            ZipEntry::File("lab/.git/HEAD", b"ref: refs/heads/main\n"),
            ZipEntry::File("lab/.gitignore", b"data/*.fits\n"),
            ZipEntry::File("lab/.env", b"ARCHIVE_TOKEN=not-for-images\n"),
            ZipEntry::File("lab/data/survey.fits", &survey),
            ZipEntry::File("lab/data/README.md", b"Mount the survey here.\n"),
            ZipEntry::File("lab/src/__pycache__/lab.cpython-312.pyc", b"pyc"),
        ],
    );
    let staged = sandbox.stage(&source, &zip_config()).await.unwrap();
    assert_only_the_lab_is_staged(&staged);
    assert!(!staged.root.join("src/__pycache__").exists());
    // .git and HEAD, the checkpoint folder and its notebook, .env, the data file, __pycache__
    // and its file.
    assert_eq!(staged.left_out.files, 8);
    assert_eq!(
        staged.left_out.bytes,
        21 + 2 + 29 + 4096 + 3,
        "{:?}",
        staged.left_out
    );
}

#[tokio::test]
async fn git_repository_is_staged_without_secrets_checkpoints_or_dockerignored_files() {
    let sandbox = Sandbox::new();
    let projects = sandbox.scratch("projects");
    let work = projects.join("tutorial-work");
    author_working_tree(&work);
    fs::write(work.join(".dockerignore"), "data/README.md\n").unwrap();
    git_server::publish_folder(&projects, "tutorial", &work);
    let server = GitServer::start(&projects);
    let url = format!("{}/tutorial.git", server.base_url);
    let staged = sandbox
        .stage(&git_source(&url, None), &git_config())
        .await
        .unwrap();
    let paths = staged_paths(&staged.root);
    assert_lab_files(&staged.root);
    for left_out in [
        ".git",
        ".env",
        "notebooks/.ipynb_checkpoints",
        "data/README.md",
    ] {
        assert!(
            !paths.iter().any(|path| path == left_out),
            "{left_out}: {paths:?}"
        );
    }
    // A git source's tracked files are its author's choice: .gitignore does not apply to them.
    assert!(
        paths.iter().any(|path| path == "data/survey.fits"),
        "{paths:?}"
    );
    assert_eq!(staged.left_out.secrets, [".env"]);
}

#[tokio::test]
async fn an_invalid_dockerignore_is_refused_with_its_line_and_leaves_nothing() {
    let sandbox = Sandbox::new();
    let source = zip_source(
        &sandbox,
        &[
            ZipEntry::File("metadata.yaml", b"title: Lab\n"),
            ZipEntry::File(".dockerignore", b"# data\ndata/[\n"),
        ],
    );
    let error = sandbox.refused(&source, &zip_config()).await;
    assert_eq!(
        error.to_string(),
        ".dockerignore line 2: `data/[` is not a valid pattern (unclosed character class; \
         missing ']'); fix or remove the line"
    );
}

// One folder of a repository.

/// A repository of tutorials, each its own lab, served as `tutorials.git`.
fn serve_tutorials(sandbox: &Sandbox) -> (GitServer, String) {
    let projects = sandbox.scratch("projects");
    let work = projects.join("tutorials-work");
    let header = work.join("tutorials/FITS-header");
    fs::create_dir_all(&header).unwrap();
    git_server::copy_folder(&git_server::fixture_folder(), &header);
    fs::create_dir_all(work.join("tutorials/plot-catalog")).unwrap();
    fs::write(work.join("tutorials/plot-catalog/plot.ipynb"), "{}\n").unwrap();
    fs::write(work.join("README.md"), "Tutorials\n").unwrap();
    symlink("tutorials/plot-catalog", work.join("latest")).unwrap();
    let escaping = work.join("tutorials/escaping");
    fs::create_dir_all(&escaping).unwrap();
    symlink("../plot-catalog/plot.ipynb", escaping.join("plot.ipynb")).unwrap();
    git_server::publish_folder(&projects, "tutorials", &work);
    let server = GitServer::start(&projects);
    let url = format!("{}/tutorials.git", server.base_url);
    (server, url)
}

fn subfolder_source(url: &str, subfolder: &str) -> Source {
    Source::Git {
        url: url.to_owned(),
        reference: None,
        subfolder: Some(subfolder.to_owned()),
    }
}

#[tokio::test]
async fn git_subfolder_is_staged_alone_as_the_root() {
    let sandbox = Sandbox::new();
    let (_server, url) = serve_tutorials(&sandbox);
    let staged = sandbox
        .stage(
            &subfolder_source(&url, "tutorials/FITS-header/"),
            &git_config(),
        )
        .await
        .unwrap();
    assert_lab_files(&staged.root);
    assert_eq!(
        staged_paths(&staged.root),
        [
            "metadata.yaml",
            "notebooks",
            "notebooks/explore.ipynb",
            "requirements.txt"
        ]
    );
    assert_eq!(staged.files, 4);
    // The rest of the repository was never checked out.
    let source = sandbox.staging_dir.join("source");
    assert_eq!(
        staged_paths(&source)
            .iter()
            .filter(|path| !path.starts_with("tutorials/FITS-header"))
            .collect::<Vec<_>>(),
        ["tutorials"]
    );
}

#[tokio::test]
async fn git_subfolder_that_is_no_folder_of_the_repository_is_refused_naming_the_field() {
    let sandbox = Sandbox::new();
    let (_server, url) = serve_tutorials(&sandbox);
    for subfolder in ["tutorials/missing", "latest", "README.md"] {
        let error = sandbox
            .refused(&subfolder_source(&url, subfolder), &git_config())
            .await;
        assert!(
            matches!(&error, SourceError::GitSubfolderMissing { subfolder: named, folders, .. }
                if named == subfolder && folders == "tutorials"),
            "{subfolder}: {error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("git source field `subfolder`: "),
            "{error}"
        );
    }
}

#[tokio::test]
async fn git_subfolder_leaving_the_repository_is_refused_before_connecting() {
    let sandbox = Sandbox::new();
    let (server, url) = serve_tutorials(&sandbox);
    for subfolder in [
        "../tutorials-work",
        "/etc",
        "tutorials/../..",
        "tutorials/.git",
    ] {
        let error = sandbox
            .refused(&subfolder_source(&url, subfolder), &git_config())
            .await;
        assert!(
            matches!(&error, SourceError::GitSubfolderInvalid { subfolder: named, .. } if named == subfolder),
            "{subfolder}: {error}"
        );
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[tokio::test]
async fn git_subfolder_links_leaving_the_subfolder_are_refused() {
    let sandbox = Sandbox::new();
    let (_server, url) = serve_tutorials(&sandbox);
    let error = sandbox
        .refused(&subfolder_source(&url, "tutorials/escaping"), &git_config())
        .await;
    assert!(
        matches!(&error, SourceError::SymlinkEscapes { path, .. } if path == "plot.ipynb"),
        "{error}"
    );
}

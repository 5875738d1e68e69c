//! The `labforge` binary as an author's client of a running service: the real router on a
//! loopback port with its build workers (real dockerd, BuildKit and registry), the real binary,
//! its configuration folder in a temporary `XDG_CONFIG_HOME`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use axum::http::{Method, StatusCode};
use labforge::accounts::Role;
use labforge::storage::Backend;
use tokio::io::AsyncWriteExt as _;

use crate::common;
use crate::common::git_server::{self, GitServer};
use crate::common::service::{As, RunningWorkers, TestApp, TestUser};
use crate::sessions::{Containers, docker};

/// The service on a loopback port, and a configuration folder for the command line.
struct Served {
    app: TestApp,
    url: String,
    config_home: tempfile::TempDir,
    author: TestUser,
}

impl Served {
    async fn start(adjust: fn(&mut labforge::config::Config)) -> Self {
        let app = TestApp::with_config(Backend::Sqlite, adjust).await;
        let author = app.user("alice", Role::Author).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (router, _) = labforge::app::api(app.state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            app,
            url,
            config_home: tempfile::tempdir().unwrap(),
            author,
        }
    }

    fn credentials_file(&self) -> PathBuf {
        self.config_home.path().join("labforge/credentials.json")
    }

    /// Runs `labforge` with `arguments`, `stdin` as its standard input.
    async fn run(&self, arguments: &[&str], stdin: &str, environment: &[(&str, &str)]) -> Run {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_labforge"))
            .args(arguments)
            .env("XDG_CONFIG_HOME", self.config_home.path())
            .env_remove("LABFORGE_TOKEN")
            .envs(environment.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        Run(child.wait_with_output().await.unwrap())
    }

    /// The author's `comment` is in the datalab's history, with the author as its actor.
    async fn assert_in_history(&self, name: &str, comment: &str) {
        let (status, history) = self
            .app
            .call(
                Method::GET,
                &format!("/api/datalabs/{name}/history"),
                As::User(&self.author),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let entries = history.as_array().expect("the history is a list");
        assert!(
            entries
                .iter()
                .any(|entry| entry["comment"] == comment && entry["actor"] == "alice"),
            "{history}"
        );
    }

    /// Signs the command line in as the author.
    async fn login(&self) {
        let run = self
            .run(
                &["login", &self.url, "--user", "alice"],
                "alice-password-long-enough\n",
                &[],
            )
            .await;
        assert_eq!(run.code(), 0, "{run}");
    }
}

struct Run(Output);

impl Run {
    fn code(&self) -> i32 {
        self.0.status.code().expect("the binary exits")
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.0.status.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

fn example(folder: &Path, name: &str) -> PathBuf {
    let target = folder.join(name);
    common::copy_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
        &target,
    );
    target
}

/// Signing out revokes the token `login` made and forgets it; a token given to `login` is its
/// owner's, forgotten but left valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token_login_made_and_leaves_a_given_one_valid() {
    let served = Served::start(|_| {}).await;
    served.login().await;
    let file = served.credentials_file();
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let made = TestUser {
        name: "alice".to_owned(),
        token: stored["token"].as_str().unwrap().to_owned(),
    };

    let logout = served.run(&["logout"], "", &[]).await;
    assert_eq!(logout.code(), 0, "{logout}");
    assert!(logout.stdout().contains("API token is revoked"), "{logout}");
    assert!(!file.exists(), "the credentials file is deleted");
    let (status, answer) = served
        .app
        .call(Method::GET, "/api/me", As::User(&made), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let again = served.run(&["logout"], "", &[]).await;
    assert_eq!(again.code(), 0, "{again}");
    assert!(again.stdout().contains("not signed in"), "{again}");

    let given = served
        .run(
            &["login", &served.url, "--token", &served.author.token],
            "",
            &[],
        )
        .await;
    assert_eq!(given.code(), 0, "{given}");
    let logout = served.run(&["logout"], "", &[]).await;
    assert_eq!(logout.code(), 0, "{logout}");
    assert!(logout.stdout().contains("stays valid"), "{logout}");
    assert!(!file.exists(), "the credentials file is deleted");
    let (status, answer) = served
        .app
        .call(Method::GET, "/api/me", As::User(&served.author), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_a_working_token_0600_and_refused_credentials_leave_no_file() {
    let served = Served::start(|_| {}).await;

    let refused = served
        .run(
            &["login", &served.url, "--user", "alice"],
            "not-her-password\n",
            &[],
        )
        .await;
    assert_eq!(refused.code(), 3, "{refused}");
    assert!(
        refused
            .stderr()
            .contains(&format!("{} refused the credentials", served.url)),
        "{refused}"
    );
    assert!(
        !served.config_home.path().join("labforge").exists(),
        "nothing is written"
    );

    let not_labforge = served
        .run(
            &[
                "login",
                &format!("{}/elsewhere", served.url),
                "--user",
                "alice",
            ],
            "alice-password-long-enough\n",
            &[],
        )
        .await;
    assert_eq!(not_labforge.code(), 5, "{not_labforge}");
    assert!(
        not_labforge
            .stderr()
            .contains("is it the address of a labforge service"),
        "{not_labforge}"
    );

    let signed_out = served.run(&["sessions"], "", &[]).await;
    assert_eq!(signed_out.code(), 3, "{signed_out}");
    assert!(
        signed_out.stderr().contains("labforge login"),
        "{signed_out}"
    );

    served.login().await;
    let file = served.credentials_file();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["url"], served.url.as_str());
    let token = stored["token"].as_str().unwrap().to_owned();
    assert_ne!(token, served.author.token, "a token of its own");
    let stored_user = TestUser {
        name: "alice".to_owned(),
        token,
    };
    let (status, me) = served
        .app
        .call(Method::GET, "/api/me", As::User(&stored_user), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["name"], "alice");

    // Scripts sign in with a token instead; a token the service does not know is refused.
    let scripted = served
        .run(
            &["login", &served.url],
            "",
            &[("LABFORGE_TOKEN", &served.author.token)],
        )
        .await;
    assert_eq!(scripted.code(), 0, "{scripted}");
    assert!(
        scripted.stdout().contains("as alice (author)"),
        "{scripted}"
    );
    let unknown = served
        .run(
            &["login", &served.url, "--token", "lf_not_a_real_token"],
            "",
            &[],
        )
        .await;
    assert_eq!(unknown.code(), 3, "{unknown}");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        kept["token"], served.author.token,
        "a refused token does not replace a working one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_the_service_refuses_shows_the_field_at_fault() {
    let served = Served::start(|_| {}).await;
    served.login().await;
    let folder = tempfile::tempdir().unwrap();
    let lab = example(folder.path(), "web-catalog-browser");
    let metadata = std::fs::read_to_string(lab.join("metadata.yaml")).unwrap();
    std::fs::write(
        lab.join("metadata.yaml"),
        metadata.replace(
            "alternateName: web-catalog-browser",
            "alternateName: Web Browser!",
        ),
    )
    .unwrap();

    let refused = served.run(&["push", lab.to_str().unwrap()], "", &[]).await;
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(
        refused
            .stderr()
            .contains("datalab name \"Web Browser!\" is not valid")
            && refused.stderr().contains("(field `name`)"),
        "{refused}"
    );

    let bad_version = served
        .run(
            &[
                "push",
                lab.to_str().unwrap(),
                "--name",
                "web-lab",
                "--version",
                "one",
            ],
            "",
            &[],
        )
        .await;
    assert_eq!(bad_version.code(), 4, "{bad_version}");
    assert!(
        bad_version.stderr().contains("(field `version`)"),
        "{bad_version}"
    );

    let unknown = served.run(&["logs", "no-such-lab"], "", &[]).await;
    assert_eq!(unknown.code(), 4, "{unknown}");
    assert!(
        unknown
            .stderr()
            .contains("datalab \"no-such-lab\" does not exist"),
        "{unknown}"
    );

    let missing = served.run(&["push", "/nonexistent/lab"], "", &[]).await;
    assert_eq!(missing.code(), 2, "{missing}");
    assert!(
        missing
            .stderr()
            .contains("no file or folder at /nonexistent/lab"),
        "{missing}"
    );
}

/// A folder whose metadata the build refuses: the build fails, the push exits 1 with the
/// build's reason, and submitting the version lists every unmet condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_exits_one_with_its_reason_and_its_submission_lists_what_is_unmet() {
    let served = Served::start(common::real_builds).await;
    let workers: RunningWorkers = served.app.start_workers();
    served.login().await;
    let folder = tempfile::tempdir().unwrap();
    let lab = example(folder.path(), "web-catalog-browser");
    let metadata = std::fs::read_to_string(lab.join("metadata.yaml")).unwrap();
    std::fs::write(
        lab.join("metadata.yaml"),
        metadata.replace("title: Catalogue browser\n", ""),
    )
    .unwrap();
    let name = common::unique_name("cli-failed");

    let failed = served
        .run(&["push", lab.to_str().unwrap(), "--name", &name], "", &[])
        .await;
    assert_eq!(failed.code(), 1, "{failed}");
    assert!(
        failed
            .stderr()
            .contains(&format!("build 0.0.1-0 of \"{name}\" failed")),
        "{failed}"
    );
    assert!(failed.stderr().contains("title"), "{failed}");

    // Every unmet condition of a submission comes back at once, each on a line of its own.
    let refused = served.run(&["submit", &name, "0.0.1"], "", &[]).await;
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(
        refused.stderr().contains(&format!(
            "version 0.0.1 of \"{name}\" cannot be submitted yet"
        )) && refused.stderr().contains("\n  - build: "),
        "{refused}"
    );
    workers.stop().await;
}

/// The whole journey of an author: push a folder (real build), read its log, submit it,
/// launch it, list and stop the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pushed_folder_is_built_submitted_launched_and_stopped() {
    let served = Served::start(common::real_builds).await;
    let containers = Containers {
        docker: docker().await,
        instance: served.app.config.instance(),
    };
    let workers = served.app.start_workers();
    served.login().await;
    let folder = tempfile::tempdir().unwrap();
    let lab = example(folder.path(), "web-catalog-browser");
    std::fs::write(
        lab.join("id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    )
    .unwrap();
    // Its own repository in the shared registry, whose tags outlive the test.
    let name = common::unique_name("cli-push");
    let lab = lab.to_str().unwrap();

    let pushed = served.run(&["push", lab, "--name", &name], "", &[]).await;
    assert_eq!(pushed.code(), 0, "{pushed}");
    let stdout = pushed.stdout();
    assert!(
        stdout.contains(&format!("/datalabs/{name}:0.0.1-0\n")),
        "{pushed}"
    );
    assert!(stdout.contains("digest: sha256:"), "{pushed}");
    let stderr = pushed.stderr();
    assert!(
        stderr.contains(&format!("created datalab {name} (generic)")),
        "{pushed}"
    );
    assert!(
        stderr.contains("left out files that look like secrets: id_ed25519"),
        "{pushed}"
    );
    assert!(
        stderr.contains(" solve ") && stderr.contains(" push "),
        "the log is shown as the build runs: {pushed}"
    );

    let logs = served.run(&["logs", &name], "", &[]).await;
    assert_eq!(logs.code(), 0, "{logs}");
    assert!(logs.stdout().contains(" solve "), "{logs}");
    assert!(logs.stderr().contains("build 0.0.1-0: succeeded"), "{logs}");

    let again = served.run(&["push", lab, "--name", &name], "", &[]).await;
    assert_eq!(again.code(), 4, "{again}");
    assert!(again.stderr().contains("raise `version`"), "{again}");

    let note = "first release: the catalogue browser";
    let submit = [
        "submit",
        &name,
        "0.0.1",
        "--audience",
        "public",
        "--comment",
        note,
    ];
    let submitted = served.run(&submit, "", &[]).await;
    assert_eq!(submitted.code(), 0, "{submitted}");
    assert!(
        submitted.stdout().contains("submitted for public"),
        "{submitted}"
    );
    served.assert_in_history(&name, note).await;

    let launched = served.run(&["launch", &name, "--cpu", "1"], "", &[]).await;
    assert_eq!(launched.code(), 0, "{launched}");
    let address = launched.stdout().trim().to_owned();
    let prefix = format!("{}/sessions/", served.url);
    assert!(address.starts_with(&prefix), "{launched}");
    let id = address[prefix.len()..]
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(launched.stderr().contains("ready"), "{launched}");

    let listed = served.run(&["sessions"], "", &[]).await;
    assert_eq!(listed.code(), 0, "{listed}");
    let row = listed
        .stdout()
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("session {id} is listed: {listed}"))
        .to_owned();
    assert!(row.contains("ready") && row.contains(&address), "{row}");

    let stopped = served.run(&["sessions", "stop", &id], "", &[]).await;
    assert_eq!(stopped.code(), 0, "{stopped}");
    let running = served.run(&["sessions"], "", &[]).await;
    assert!(!running.stdout().contains(&id), "{running}");
    let everything = served.run(&["sessions", "--all"], "", &[]).await;
    assert!(
        everything
            .stdout()
            .lines()
            .any(|line| line.starts_with(&id) && line.contains("ended")),
        "{everything}"
    );
    assert!(containers.of_instance().await.is_empty());
    workers.stop().await;
}

fn real_builds_and_local_git(config: &mut labforge::config::Config) {
    common::real_builds(config);
    config.sources.allow_http = true;
    config.sources.allowed_hosts = vec!["127.0.0.1".to_owned()];
}

/// A git source is named, not read: its name and version come from the flags, and pushing the
/// same URL and reference again builds the version again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_url_is_pushed_by_name_and_version_and_pushing_it_again_rebuilds_it() {
    let served = Served::start(real_builds_and_local_git).await;
    let workers = served.app.start_workers();
    served.login().await;
    let folder = tempfile::tempdir().unwrap();
    let projects = folder.path().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    let work = example(&folder.path().join("work"), "web-catalog-browser");
    git_server::publish_folder(&projects, "catalog", &work);
    let git = GitServer::start(&projects);
    let url = format!("{}/catalog.git", git.base_url);
    let name = common::unique_name("cli-git");

    let unnamed = served.run(&["push", &url], "", &[]).await;
    assert_eq!(unnamed.code(), 2, "{unnamed}");
    assert!(
        unnamed.stderr().contains("pass --name and --version"),
        "{unnamed}"
    );

    let arguments = [
        "push",
        &url,
        "--ref",
        "main",
        "--name",
        &name,
        "--version",
        "0.0.1",
        "--kind",
        "generic",
    ];
    let first = served.run(&arguments, "", &[]).await;
    assert_eq!(first.code(), 0, "{first}");
    assert!(
        first
            .stdout()
            .contains(&format!("/datalabs/{name}:0.0.1-0\n")),
        "{first}"
    );
    assert!(first.stderr().contains(" fetch "), "{first}");

    let again = served.run(&arguments, "", &[]).await;
    assert_eq!(again.code(), 0, "{again}");
    assert!(
        again
            .stderr()
            .contains("version 0.0.1 exists with this source: building it again")
            && again.stderr().contains("build 0.0.1-1 queued"),
        "{again}"
    );
    assert!(again.stdout().contains("digest: sha256:"), "{again}");
    workers.stop().await;
}

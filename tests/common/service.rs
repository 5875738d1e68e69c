//! The service in-process for API tests: a real database (a fresh SQLite file, or a fresh
//! database in the PostgreSQL that `scripts/test.sh` starts), the real router, and users with
//! API tokens. Requests go through the router without a socket.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use labforge::accounts::{NewUser, Role};
use labforge::app::AppState;
use labforge::config::Config;
use labforge::storage::{Backend, Database, StorageError};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Runs each listed `async fn(TestApp)` once on SQLite and once on PostgreSQL, as the tests
/// `<name>::sqlite` and `<name>::postgres`. With `config = adjust;` first, each test app's
/// configuration goes through `fn adjust(&mut Config)` before the service starts.
#[macro_export]
macro_rules! on_both_backends {
    (config = $adjust:ident; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name(
                        $crate::common::service::TestApp::with_config(
                            labforge::storage::Backend::Sqlite,
                            super::$adjust,
                        )
                        .await,
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name(
                        $crate::common::service::TestApp::with_config(
                            labforge::storage::Backend::Postgres,
                            super::$adjust,
                        )
                        .await,
                    )
                    .await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(
                        $crate::common::service::TestApp::new(
                            labforge::storage::Backend::Sqlite,
                        )
                        .await,
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(
                        $crate::common::service::TestApp::new(
                            labforge::storage::Backend::Postgres,
                        )
                        .await,
                    )
                    .await;
                }
            }
        )*
    };
}

/// The PostgreSQL server tests create their databases in.
pub fn postgres_url() -> String {
    std::env::var("LABFORGE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "LABFORGE_TEST_POSTGRES_URL is not set: run the suite with `bash scripts/test.sh`, \
             which starts PostgreSQL, or point it at a server where this user may create databases"
        )
    })
}

/// A user of the test app and the API token it calls with.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub name: String,
    pub token: String,
}

/// Who a request is made as.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    Anonymous,
    User(&'a TestUser),
}

pub struct TestApp {
    /// The configuration the app was made from (the root reads it, tests may too).
    pub config: Config,
    pub state: AppState,
    pub router: Router,
    pub folder: tempfile::TempDir,
}

impl TestApp {
    /// `user`'s own workspace, which their workspace sources name folders of.
    pub fn workspace_of(&self, user: &TestUser) -> std::path::PathBuf {
        self.config.workspaces().of(&user.name).unwrap()
    }

    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {}).await
    }

    /// A test app whose configuration `adjust` may change before the service starts.
    pub async fn with_config(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: folder.path().join("data"),
            ..Config::default()
        };
        // Every user's workspace lives inside the test's own folder.
        config.datalabs.workspaces_dir = Some(folder.path().join("workspaces"));
        config.database.url = Some(match backend {
            Backend::Sqlite => format!("sqlite://{}", folder.path().join("labforge.db").display()),
            Backend::Postgres => create_postgres_database().await,
        });
        adjust(&mut config);
        let database = Database::open(&config.database, &config.data_dir)
            .await
            .expect("the test database opens and migrates");
        let state = AppState::new(&config, database);
        let (router, _) = labforge::app::api(state.clone());
        Self {
            config,
            state,
            router,
            folder,
        }
    }

    /// Creates a user with `role`, affiliated in the Netherlands, and an API token.
    pub async fn user(&self, name: &str, role: Role) -> TestUser {
        self.user_in(name, role, Some("NL")).await
    }

    /// Creates a user with `role` affiliated in `country` (none when `None`), and an API token.
    pub async fn user_in(&self, name: &str, role: Role, country: Option<&str>) -> TestUser {
        let (user, _) = self
            .state
            .accounts
            .create_user(NewUser {
                name: name.to_owned(),
                email: Some(format!("{name}@example.org")),
                role,
                affiliation_country: country.map(str::to_owned),
                password: Some(format!("{name}-password-long-enough")),
            })
            .await
            .unwrap();
        let (_, token) = self
            .state
            .accounts
            .create_token(&user, "tests".to_owned(), None)
            .await
            .unwrap();
        TestUser {
            name: name.to_owned(),
            token,
        }
    }

    /// The database id of `user`.
    pub async fn user_id(&self, user: &TestUser) -> String {
        self.state
            .database
            .user_by_name(&user.name)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// Creates the datalab `name` of `kind` as `owner` with version `version` from `source`,
    /// checking both answers.
    pub async fn create_datalab_with_version(
        &self,
        owner: &TestUser,
        name: &str,
        kind: &str,
        version: &str,
        source: Value,
    ) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/datalabs",
                As::User(owner),
                Some(serde_json::json!({"name": name, "kind": kind})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/datalabs/{name}/versions"),
                As::User(owner),
                Some(serde_json::json!({"version": version, "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Sends a request with an optional JSON body; returns the status and the JSON answer
    /// (`Value::Null` for an empty body, a string for a non-JSON one).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        caller: As<'_>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let As::User(user) = caller {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", user.token));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.send(request).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn send(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// Starts the build workers of the configuration in this process, as `labforge serve` does.
    pub fn start_workers(&self) -> RunningWorkers {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(labforge::jobs::run_workers(
            self.config.worker_settings(),
            self.state.database.clone(),
            self.state.datalabs.events().clone(),
            shutdown.clone(),
        ));
        RunningWorkers { shutdown, handle }
    }

    /// Polls `GET path` as `caller` until `done` holds for the answer, or panics after `limit`
    /// with the last answer.
    pub async fn wait_for(
        &self,
        path: &str,
        caller: As<'_>,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (status, body) = self.call(Method::GET, path, caller, None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} did not reach the expected state within {limit:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Build workers running in a test; [`RunningWorkers::stop`] stops them as SIGTERM would.
pub struct RunningWorkers {
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), StorageError>>,
}

impl RunningWorkers {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle
            .await
            .expect("the workers do not panic")
            .expect("the workers stop cleanly");
    }
}

async fn create_postgres_database() -> String {
    let server = postgres_url();
    let name = format!("labforge_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&server)
        .await
        .unwrap_or_else(|error| panic!("cannot reach PostgreSQL at {server}: {error}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&name);
    url.to_string()
}

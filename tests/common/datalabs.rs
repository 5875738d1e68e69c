//! Datalabs written straight into the database, the way the publishing workflow will leave them: a
//! datalab row, a version with its metadata, members and stars, then the marketplace index
//! refreshed. Used by the API and registry tests and by `bench/marketplace.rs`.

use chrono::{DateTime, Utc};
use labforge::storage::Database;
use serde_json::{Value, json};

/// A datalab and its one version.
#[derive(Debug, Clone)]
pub struct DatalabFixture {
    pub name: String,
    /// `jupyterlab`, `desktop` or `generic`.
    pub kind: &'static str,
    pub owner_id: String,
    /// `public` or `private`.
    pub visibility: &'static str,
    /// The datalab's state, and its version's: `published`, `draft`, ...
    pub state: &'static str,
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    /// Users who starred it.
    pub starred_by: Vec<String>,
}

impl DatalabFixture {
    /// A published public JupyterLab datalab of `owner_id` with [`metadata`] of its name.
    pub fn published(name: &str, owner_id: &str, title: &str, summary: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: "jupyterlab",
            owner_id: owner_id.to_owned(),
            visibility: "public",
            state: "published",
            metadata: metadata(name, title, summary),
            created_at: Utc::now(),
            starred_by: Vec::new(),
        }
    }
}

/// Valid metadata with every mandatory field, and the private fields labforge stamps (which must
/// never appear in public views).
pub fn metadata(name: &str, title: &str, summary: &str) -> Value {
    json!({
        "title": title,
        "alternateName": name,
        "abstract": summary,
        "contactPoint": "datalabs@example.org",
        "creator": "Example Observatory",
        "version": "1.0.0",
        "datalabImage": {
            "id": format!("registry.example.org/datalabs/{name}@sha256:private-digest"),
            "platform": "linux/amd64",
            "keyword": ["private-image-tag"]
        },
        "dateCreated": "2025-01-02T03:04:05Z",
        "dateModified": "2025-01-02T03:04:05Z"
    })
}

/// Inserts the datalab, its version and its stars, refreshes its marketplace entry and returns its
/// id.
pub async fn insert_datalab(database: &Database, fixture: &DatalabFixture) -> String {
    let id = labforge::storage::new_id();
    labforge::with_pool!(database, write, |pool| {
        sqlx::query(
            "INSERT INTO datalabs (id, name, kind, owner_id, visibility, state, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(&fixture.name)
        .bind(fixture.kind)
        .bind(&fixture.owner_id)
        .bind(fixture.visibility)
        .bind(fixture.state)
        .bind(fixture.created_at)
        .execute(pool)
        .await
        .unwrap();
    });
    insert_version(database, &id, "1.0.0", fixture.state, &fixture.metadata).await;
    insert_stars(database, &id, &fixture.starred_by).await;
    database.refresh_datalab_search(&id).await.unwrap();
    id
}

/// Adds a version to a datalab; the caller refreshes the index.
pub async fn insert_version(
    database: &Database,
    datalab_id: &str,
    version: &str,
    state: &str,
    metadata: &Value,
) {
    let now = Utc::now();
    labforge::with_pool!(database, write, |pool| {
        sqlx::query(
            "INSERT INTO versions (id, datalab_id, version, source_kind, source_location, \
             metadata, state, created_at, updated_at) \
             VALUES ($1, $2, $3, 'git', 'https://git.example.org/lab.git', $4, $5, $6, $6)",
        )
        .bind(labforge::storage::new_id())
        .bind(datalab_id)
        .bind(version)
        .bind(sqlx::types::Json(metadata))
        .bind(state)
        .bind(now)
        .execute(pool)
        .await
        .unwrap();
    });
}

/// Changes a datalab's state and visibility, as publishing or withdrawing does; the caller
/// refreshes the index.
pub async fn set_datalab_state(
    database: &Database,
    datalab_id: &str,
    state: &str,
    visibility: &str,
) {
    labforge::with_pool!(database, write, |pool| {
        sqlx::query("UPDATE datalabs SET state = $2, visibility = $3 WHERE id = $1")
            .bind(datalab_id)
            .bind(state)
            .bind(visibility)
            .execute(pool)
            .await
            .unwrap();
    });
}

/// Sets the state and visibility of the datalab `name` straight in the database (no index
/// refresh), as a restore or the future publishing workflow would leave it.
pub async fn set_state_of_named(database: &Database, name: &str, state: &str, visibility: &str) {
    let statement = "UPDATE datalabs SET state = $2, visibility = $3 WHERE name = $1";
    let updated = labforge::with_pool!(database, write, |pool| {
        sqlx::query(statement)
            .bind(name)
            .bind(state)
            .bind(visibility)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
    });
    assert_eq!(updated, 1, "no datalab {name:?}");
}

/// Stores `metadata` on `version` of the datalab `name`, as a finished build does (no index
/// refresh).
pub async fn set_metadata_of_named(
    database: &Database,
    name: &str,
    version: &str,
    metadata: &Value,
) {
    let statement = "UPDATE versions SET metadata = $1 WHERE version = $2 \
                     AND datalab_id = (SELECT id FROM datalabs WHERE name = $3)";
    let updated = labforge::with_pool!(database, write, |pool| {
        sqlx::query(statement)
            .bind(sqlx::types::Json(metadata))
            .bind(version)
            .bind(name)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected()
    });
    assert_eq!(updated, 1, "no version {version} of {name:?}");
}

pub async fn add_member(database: &Database, datalab_id: &str, user_id: &str) {
    labforge::with_pool!(database, write, |pool| {
        sqlx::query("INSERT INTO datalab_members (datalab_id, user_id) VALUES ($1, $2)")
            .bind(datalab_id)
            .bind(user_id)
            .execute(pool)
            .await
            .unwrap();
    });
}

/// Stars `datalab_id` by each of `user_ids` in one statement per thousand, without refreshing.
async fn insert_stars(database: &Database, datalab_id: &str, user_ids: &[String]) {
    let now = Utc::now();
    for chunk in user_ids.chunks(1000) {
        let mut query = String::from("INSERT INTO stars (datalab_id, user_id, created_at) VALUES ");
        let rows: Vec<String> = (0..chunk.len())
            .map(|index| format!("($1, ${}, $2)", index + 3))
            .collect();
        query.push_str(&rows.join(", "));
        labforge::with_pool!(database, write, |pool| {
            let mut statement = sqlx::query(sqlx::AssertSqlSafe(query.clone()))
                .bind(datalab_id)
                .bind(now);
            for user_id in chunk {
                statement = statement.bind(user_id);
            }
            statement.execute(pool).await.unwrap();
        });
    }
}

/// Records a finished build `number` of `version` of the datalab `datalab_id`, as a worker leaves
/// it: `status` (`succeeded`, `failed`, ...) and, when `smoke_passed` is given, a smoke-test
/// result. The publishing tests check submissions against it; the build tests run real builds.
pub async fn insert_finished_build(
    database: &Database,
    datalab_id: &str,
    version: &str,
    number: i64,
    status: &str,
    smoke_passed: Option<bool>,
) {
    let now = Utc::now();
    let smoke = smoke_passed.map(|passed| {
        json!({
            "passed": passed,
            "health_url_path": "/api",
            "detail": if passed { "answered 200" } else { "no answer within 60 s" },
            "seconds_to_healthy": if passed { Some(1.5) } else { None },
        })
        .to_string()
    });
    labforge::with_pool!(database, write, |pool| {
        sqlx::query(
            "INSERT INTO builds (id, datalab_id, version_id, number, status, queued_at, \
             started_at, finished_at, smoke_test, lint_findings, image, digest) \
             SELECT $1, $2, v.id, $4, $5, $6, $6, $6, $7, $8, 'registry/datalabs/x:1', \
             'sha256:0000' FROM versions v WHERE v.datalab_id = $2 AND v.version = $3",
        )
        .bind(labforge::storage::new_id())
        .bind(datalab_id)
        .bind(version)
        .bind(number)
        .bind(status)
        .bind(now)
        .bind(smoke)
        .bind(sqlx::types::Json(json!([])))
        .execute(pool)
        .await
        .unwrap();
    });
}

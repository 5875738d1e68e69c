//! Sessions: launched datalabs, their progress and where the proxy reaches them.

use chrono::{DateTime, Utc};

use super::{Database, StorageError, with_pool};
use crate::sessions::SessionStatus;

/// A `sessions` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub datalab_id: String,
    pub datalab: String,
    pub version: String,
    pub kind: String,
    /// `repository@sha256:...`: never a moving tag.
    pub image: String,
    pub port: i32,
    pub health_path: String,
    pub cpu_millis: i64,
    pub memory_mib: i64,
    /// JSON list of `{name, mount_path}`.
    pub data_volumes: String,
    pub datazone: String,
    /// `docker` or `kubernetes`, as the datazone said at launch.
    pub runtime: String,
    /// Docker: the daemon's endpoint. Kubernetes: the kubeconfig's path, empty for labforge's own.
    pub runtime_endpoint: String,
    /// Kubernetes: the API server replacing the kubeconfig's.
    pub api_server: Option<String>,
    /// Kubernetes: the namespace of the session's objects, `None` for the kubeconfig's.
    pub namespace: Option<String>,
    pub status: SessionStatus,
    pub reason: Option<String>,
    pub container_id: Option<String>,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
}

/// What a user's live sessions hold against their quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionUsage {
    pub sessions: i64,
    pub cpu_millis: i64,
    pub memory_mib: i64,
}

/// The totals of live sessions (neither failed nor ended), before the condition that picks them;
/// PostgreSQL sums BIGINTs as NUMERIC, hence the casts.
macro_rules! session_usage {
    () => {
        "SELECT COUNT(*), CAST(COALESCE(SUM(cpu_millis), 0) AS BIGINT), \
         CAST(COALESCE(SUM(memory_mib), 0) AS BIGINT) FROM datalab_sessions \
         WHERE status NOT IN ('failed', 'ended') AND "
    };
}

macro_rules! session_columns {
    () => {
        "id, user_id, name, datalab_id, datalab, version, kind, image, port, health_path, \
         cpu_millis, memory_mib, data_volumes, datazone, runtime, runtime_endpoint, api_server, \
         namespace, status, reason, container_id, address, created_at, ready_at, ended_at, \
         last_activity_at"
    };
}

impl Database {
    pub async fn insert_datalab_session(&self, session: &SessionRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(concat!(
                "INSERT INTO datalab_sessions (",
                session_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
            ))
            .bind(&session.id)
            .bind(&session.user_id)
            .bind(&session.name)
            .bind(&session.datalab_id)
            .bind(&session.datalab)
            .bind(&session.version)
            .bind(&session.kind)
            .bind(&session.image)
            .bind(session.port)
            .bind(&session.health_path)
            .bind(session.cpu_millis)
            .bind(session.memory_mib)
            .bind(&session.data_volumes)
            .bind(&session.datazone)
            .bind(&session.runtime)
            .bind(&session.runtime_endpoint)
            .bind(&session.api_server)
            .bind(&session.namespace)
            .bind(session.status)
            .bind(&session.reason)
            .bind(&session.container_id)
            .bind(&session.address)
            .bind(session.created_at)
            .bind(session.ready_at)
            .bind(session.ended_at)
            .bind(session.last_activity_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn datalab_session(&self, id: &str) -> Result<Option<SessionRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                session_columns!(),
                " FROM datalab_sessions WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// `user_id`'s sessions, newest first.
    pub async fn datalab_sessions_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<SessionRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                session_columns!(),
                " FROM datalab_sessions WHERE user_id = $1 ORDER BY created_at DESC, id"
            ))
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Every session that has neither failed nor ended, for reconciling with the runtime.
    pub async fn live_datalab_sessions(&self) -> Result<Vec<SessionRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                session_columns!(),
                " FROM datalab_sessions WHERE status NOT IN ('failed', 'ended') ORDER BY created_at"
            ))
            .fetch_all(pool)
            .await?
        }))
    }

    /// What `user_id`'s live sessions hold.
    pub async fn session_usage_of(&self, user_id: &str) -> Result<SessionUsage, StorageError> {
        self.session_usage(concat!(session_usage!(), "user_id = $1"), user_id)
            .await
    }

    /// What the live sessions in the datazone `name` hold together.
    pub async fn session_usage_in(&self, datazone: &str) -> Result<SessionUsage, StorageError> {
        self.session_usage(concat!(session_usage!(), "datazone = $1"), datazone)
            .await
    }

    async fn session_usage(
        &self,
        query: &'static str,
        value: &str,
    ) -> Result<SessionUsage, StorageError> {
        let (sessions, cpu_millis, memory_mib): (i64, i64, i64) = with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(value).fetch_one(pool).await?
        });
        Ok(SessionUsage {
            sessions,
            cpu_millis,
            memory_mib,
        })
    }

    /// Moves a live session to `status`; a session that already failed or ended stays so. True
    /// when it moved.
    pub async fn set_session_status(
        &self,
        id: &str,
        status: SessionStatus,
        reason: Option<&str>,
    ) -> Result<bool, StorageError> {
        let now = Utc::now();
        let ended = status.has_ended().then_some(now);
        let ready = (status == SessionStatus::Ready).then_some(now);
        let query = "UPDATE datalab_sessions SET status = $2, reason = COALESCE($3, reason), \
                     ended_at = COALESCE($4, ended_at), ready_at = COALESCE($5, ready_at) \
                     WHERE id = $1 AND status NOT IN ('failed', 'ended')";
        let moved = with_pool!(self, write, |pool| {
            sqlx::query(query)
                .bind(id)
                .bind(status)
                .bind(reason)
                .bind(ended)
                .bind(ready)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(moved > 0)
    }

    /// Records the container of a session and where the proxy reaches it.
    pub async fn set_session_container(
        &self,
        id: &str,
        container_id: &str,
        address: Option<&str>,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE datalab_sessions SET container_id = $2, address = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(container_id)
            .bind(address)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Notes activity in a session at `at` (proxied traffic, a kernel's work); an older time
    /// than the one recorded changes nothing.
    pub async fn touch_session(&self, id: &str, at: DateTime<Utc>) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE datalab_sessions SET last_activity_at = $2 \
                 WHERE id = $1 AND last_activity_at < $2",
            )
            .bind(id)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

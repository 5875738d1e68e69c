//! The reads behind the catalogue: a datalab with what the visibility rule needs, and datalabs
//! with the metadata the marketplace shows for them (the JSON-LD documents are made from these).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::datalabs::states::{DatalabState, Visibility};
use crate::storage::{Database, StorageError, with_pool};

/// What the visibility rule needs of a datalab, with whether the viewer is one of its members.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CatalogDatalabRow {
    pub id: String,
    pub owner_id: String,
    pub visibility: Visibility,
    pub state: DatalabState,
    pub viewer_is_member: bool,
}

/// A datalab with the metadata the marketplace shows for it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DescribedDatalabRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored metadata, private fields included.
    pub metadata: Json<Value>,
    pub version_updated_at: DateTime<Utc>,
}

impl Database {
    /// The datalab named `name`, with whether `viewer_id` is one of its members.
    pub async fn catalog_datalab(
        &self,
        name: &str,
        viewer_id: Option<&str>,
    ) -> Result<Option<CatalogDatalabRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT d.id, d.owner_id, d.visibility, d.state, EXISTS (SELECT 1 \
                 FROM datalab_members m WHERE m.datalab_id = d.id AND m.user_id = $2) \
                 AS viewer_is_member FROM datalabs d WHERE d.name = $1",
            )
            .bind(name)
            .bind(viewer_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The datalab `datalab_id` with the metadata the marketplace shows for it; `None` when it has
    /// no version with metadata.
    pub async fn described_datalab(
        &self,
        datalab_id: &str,
    ) -> Result<Option<DescribedDatalabRow>, StorageError> {
        let query = concat!(
            "SELECT d.id, d.name, d.kind, d.created_at, d.updated_at, v.metadata, \
             v.updated_at AS version_updated_at \
             FROM datalabs d JOIN versions v ON v.id = ",
            shown_version_id!(),
            " WHERE d.id = $1"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(datalab_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Every published public datalab that has metadata, by name: what the public catalogue lists.
    pub async fn published_public_datalabs(
        &self,
    ) -> Result<Vec<DescribedDatalabRow>, StorageError> {
        let query = concat!(
            "SELECT d.id, d.name, d.kind, d.created_at, d.updated_at, v.metadata, \
             v.updated_at AS version_updated_at \
             FROM datalabs d JOIN versions v ON v.id = ",
            shown_version_id!(),
            " WHERE d.state = 'published' AND d.visibility = 'public' ORDER BY d.name"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).fetch_all(pool).await?
        }))
    }
}

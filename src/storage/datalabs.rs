//! Datalabs, the users they are shared with, their versions and the zip uploads versions are
//! built from.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::{Database, StorageError, with_pool};
use crate::datalabs::states::{DatalabState, VersionState, Visibility};

/// A `datalabs` row with its owner's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatalabRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub owner_id: String,
    pub owner_name: String,
    pub visibility: Visibility,
    pub state: DatalabState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`DatalabRow`] from `datalabs d JOIN users u ON u.id = d.owner_id`.
macro_rules! datalab_columns {
    () => {
        "d.id, d.name, d.kind, d.owner_id, u.name AS owner_name, d.visibility, d.state, \
         d.created_at, d.updated_at FROM datalabs d JOIN users u ON u.id = d.owner_id"
    };
}

/// A `versions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: String,
    pub datalab_id: String,
    pub version: String,
    pub source_kind: String,
    pub source_location: String,
    pub source_reference: Option<String>,
    pub source_subfolder: Option<String>,
    pub metadata: Option<Json<serde_json::Value>>,
    pub state: VersionState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! version_columns {
    () => {
        "id, datalab_id, version, source_kind, source_location, source_reference, \
         source_subfolder, metadata, state, created_at, updated_at"
    };
}

/// An `uploads` row: a zip archive stored at `<data_dir>/uploads/<id>.zip`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: String,
    pub user_id: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

/// A version's source as its columns keep it.
pub struct SourceColumns<'a> {
    pub kind: &'a str,
    pub location: &'a str,
    pub reference: Option<&'a str>,
    pub subfolder: Option<&'a str>,
}

impl Database {
    /// Stores a new datalab; a taken name is a [`StorageError::Conflict`].
    pub async fn insert_datalab(&self, datalab: &DatalabRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO datalabs (id, name, kind, owner_id, visibility, state, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&datalab.id)
            .bind(&datalab.name)
            .bind(&datalab.kind)
            .bind(&datalab.owner_id)
            .bind(datalab.visibility)
            .bind(datalab.state)
            .bind(datalab.created_at)
            .bind(datalab.updated_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "a datalab named {:?}",
                datalab.name
            )))?;
        });
        Ok(())
    }

    pub async fn datalab_by_name(&self, name: &str) -> Result<Option<DatalabRow>, StorageError> {
        let query = concat!("SELECT ", datalab_columns!(), " WHERE d.name = $1");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(name)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn datalab_by_id(&self, id: &str) -> Result<Option<DatalabRow>, StorageError> {
        let query = concat!("SELECT ", datalab_columns!(), " WHERE d.id = $1");
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The datalabs `user_id` owns, by name.
    pub async fn datalabs_owned_by(&self, user_id: &str) -> Result<Vec<DatalabRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            datalab_columns!(),
            " WHERE d.owner_id = $1 ORDER BY d.name"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// Whether `user_id` is one of the users the datalab is shared with.
    pub async fn is_datalab_member(
        &self,
        datalab_id: &str,
        user_id: &str,
    ) -> Result<bool, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM datalab_members WHERE datalab_id = $1 AND user_id = $2",
            )
            .bind(datalab_id)
            .bind(user_id)
            .fetch_one(pool)
            .await?
                > 0
        }))
    }

    pub async fn add_datalab_member(
        &self,
        datalab_id: &str,
        user_id: &str,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO datalab_members (datalab_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(datalab_id)
            .bind(user_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn remove_datalab_member(
        &self,
        datalab_id: &str,
        user_id: &str,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM datalab_members WHERE datalab_id = $1 AND user_id = $2")
                .bind(datalab_id)
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The names of the users the datalab `datalab_id` is shared with, sorted.
    pub async fn datalab_member_names(
        &self,
        datalab_id: &str,
    ) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT users.name FROM datalab_members \
                 JOIN users ON users.id = datalab_members.user_id \
                 WHERE datalab_members.datalab_id = $1 ORDER BY users.name",
            )
            .bind(datalab_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Gives the draft version `version_id` other sources (new sources uploaded, or a new upload
    /// after one of its files was edited). Returns whether a draft version was changed.
    pub async fn set_draft_version_source(
        &self,
        version_id: &str,
        source: &SourceColumns<'_>,
        updated_at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query(
                "UPDATE versions SET source_kind = $2, source_location = $3, \
                 source_reference = $4, source_subfolder = $5, updated_at = $6 \
                 WHERE id = $1 AND state = 'draft'",
            )
            .bind(version_id)
            .bind(source.kind)
            .bind(source.location)
            .bind(source.reference)
            .bind(source.subfolder)
            .bind(updated_at)
            .execute(pool)
            .await?
            .rows_affected()
                > 0
        }))
    }

    /// Deletes the datalab `id` with its versions, builds and logs if it is still a draft, in one
    /// statement so a publication cannot slip in between the check and the delete. Returns
    /// whether it was deleted.
    pub async fn delete_draft_datalab(&self, id: &str) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM datalabs WHERE id = $1 AND state = 'draft'")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        }))
    }

    /// Stores a new version; a version number the datalab already has is a
    /// [`StorageError::Conflict`].
    pub async fn insert_version(
        &self,
        version: &VersionRow,
        datalab_name: &str,
    ) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO versions (id, datalab_id, version, source_kind, source_location, \
                 source_reference, source_subfolder, metadata, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&version.id)
            .bind(&version.datalab_id)
            .bind(&version.version)
            .bind(&version.source_kind)
            .bind(&version.source_location)
            .bind(&version.source_reference)
            .bind(&version.source_subfolder)
            .bind(&version.metadata)
            .bind(version.state)
            .bind(version.created_at)
            .bind(version.updated_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "version {} of {datalab_name}",
                version.version
            )))?;
        });
        Ok(())
    }

    pub async fn version_of(
        &self,
        datalab_id: &str,
        version: &str,
    ) -> Result<Option<VersionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            version_columns!(),
            " FROM versions WHERE datalab_id = $1 AND version = $2"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(datalab_id)
                .bind(version)
                .fetch_optional(pool)
                .await?
        }))
    }

    pub async fn version_by_id(&self, id: &str) -> Result<Option<VersionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            version_columns!(),
            " FROM versions WHERE id = $1"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).bind(id).fetch_optional(pool).await?
        }))
    }

    /// The versions of a datalab, oldest first.
    /// Every published version of every datalab, oldest first.
    pub async fn published_versions(&self) -> Result<Vec<VersionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            version_columns!(),
            " FROM versions WHERE state = 'published' ORDER BY created_at, id"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query).fetch_all(pool).await?
        }))
    }

    pub async fn versions_of(&self, datalab_id: &str) -> Result<Vec<VersionRow>, StorageError> {
        let query = concat!(
            "SELECT ",
            version_columns!(),
            " FROM versions WHERE datalab_id = $1 ORDER BY created_at, version"
        );
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(query)
                .bind(datalab_id)
                .fetch_all(pool)
                .await?
        }))
    }

    pub async fn insert_upload(&self, upload: &UploadRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO uploads (id, user_id, size_bytes, sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&upload.id)
            .bind(&upload.user_id)
            .bind(upload.size_bytes)
            .bind(&upload.sha256)
            .bind(upload.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn upload_by_id(&self, id: &str) -> Result<Option<UploadRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT id, user_id, size_bytes, sha256, created_at FROM uploads WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The uploads that the versions of datalab `id` use and no other datalab's version does:
    /// what deleting the datalab leaves unused.
    pub async fn uploads_used_only_by(
        &self,
        datalab_id: &str,
    ) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT v.source_location FROM versions v \
                 WHERE v.datalab_id = $1 AND v.source_kind = 'zip' AND NOT EXISTS ( \
                 SELECT 1 FROM versions other WHERE other.source_kind = 'zip' \
                 AND other.source_location = v.source_location AND other.datalab_id <> $1)",
            )
            .bind(datalab_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Uploads created before `cutoff` that no version names.
    pub async fn unused_uploads_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_scalar(
                "SELECT u.id FROM uploads u WHERE u.created_at < $1 AND NOT EXISTS ( \
                 SELECT 1 FROM versions v WHERE v.source_kind = 'zip' AND v.source_location = u.id)",
            )
            .bind(cutoff)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Forgets the upload `id` unless a version still names it; returns whether it was removed.
    pub async fn delete_unused_upload(&self, id: &str) -> Result<bool, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query(
                "DELETE FROM uploads WHERE id = $1 AND NOT EXISTS ( \
                 SELECT 1 FROM versions WHERE source_kind = 'zip' AND source_location = $1)",
            )
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
                > 0
        }))
    }
}

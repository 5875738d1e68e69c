//! The launcher's catalogues: the data volumes a launch can mount and the datazones it can run in.

use chrono::{DateTime, Utc};

use super::{Database, StorageError, with_pool};

/// A `data_volumes` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DataVolumeRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub mission: Option<String>,
    pub source: String,
    pub mount_path: String,
    pub read_only: bool,
    pub created_at: DateTime<Utc>,
}

/// A `datazones` row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DatazoneRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub runtime: String,
    /// Empty for the runtime's default (the local daemon, the kubeconfig's API server).
    pub endpoint: String,
    pub kubeconfig: Option<String>,
    pub namespace: Option<String>,
    /// Totals of all its live sessions; `None` is no limit.
    pub max_sessions: Option<i64>,
    pub max_cpu: Option<i64>,
    pub max_memory_gib: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// The columns of [`DataVolumeRow`], as a literal so that queries stay `&'static str`.
macro_rules! data_volume_columns {
    () => {
        "id, name, description, mission, source, mount_path, read_only, created_at"
    };
}

/// The columns of [`DatazoneRow`].
macro_rules! datazone_columns {
    () => {
        "id, name, description, runtime, endpoint, kubeconfig, namespace, max_sessions, max_cpu, \
         max_memory_gib, created_at"
    };
}

impl Database {
    pub async fn list_data_volumes(&self) -> Result<Vec<DataVolumeRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                data_volume_columns!(),
                " FROM data_volumes ORDER BY name"
            ))
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn insert_data_volume(&self, volume: &DataVolumeRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO data_volumes (id, name, description, mission, source, mount_path, \
                 read_only, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&volume.id)
            .bind(&volume.name)
            .bind(&volume.description)
            .bind(&volume.mission)
            .bind(&volume.source)
            .bind(&volume.mount_path)
            .bind(volume.read_only)
            .bind(volume.created_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "data volume {:?}",
                volume.name
            )))?;
        });
        Ok(())
    }

    /// Replaces the description of the volume now called `name` with `volume`'s (which may rename
    /// it); its id and creation time stay. `None` when there is no such volume.
    pub async fn update_data_volume(
        &self,
        name: &str,
        volume: &DataVolumeRow,
    ) -> Result<Option<DataVolumeRow>, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query_as(concat!(
                "UPDATE data_volumes SET name = $2, description = $3, mission = $4, source = $5, \
                 mount_path = $6, read_only = $7 WHERE name = $1 RETURNING ",
                data_volume_columns!()
            ))
            .bind(name)
            .bind(&volume.name)
            .bind(&volume.description)
            .bind(&volume.mission)
            .bind(&volume.source)
            .bind(&volume.mount_path)
            .bind(volume.read_only)
            .fetch_optional(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "data volume {:?}",
                volume.name
            )))?
        }))
    }

    /// Deletes the volume `name`; false when there is none.
    pub async fn delete_data_volume(&self, name: &str) -> Result<bool, StorageError> {
        let result = with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM data_volumes WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(result > 0)
    }

    pub async fn list_datazones(&self) -> Result<Vec<DatazoneRow>, StorageError> {
        Ok(with_pool!(self, read, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                datazone_columns!(),
                " FROM datazones ORDER BY name"
            ))
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn insert_datazone(&self, datazone: &DatazoneRow) -> Result<(), StorageError> {
        with_pool!(self, write, |pool| {
            sqlx::query(
                "INSERT INTO datazones (id, name, description, runtime, endpoint, kubeconfig, \
                 namespace, max_sessions, max_cpu, max_memory_gib, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&datazone.id)
            .bind(&datazone.name)
            .bind(&datazone.description)
            .bind(&datazone.runtime)
            .bind(&datazone.endpoint)
            .bind(&datazone.kubeconfig)
            .bind(&datazone.namespace)
            .bind(datazone.max_sessions)
            .bind(datazone.max_cpu)
            .bind(datazone.max_memory_gib)
            .bind(datazone.created_at)
            .execute(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "datazone {:?}",
                datazone.name
            )))?;
        });
        Ok(())
    }

    /// Replaces the description of the datazone now called `name` with `datazone`'s (which may
    /// rename it); its id and creation time stay. `None` when there is no such datazone.
    pub async fn update_datazone(
        &self,
        name: &str,
        datazone: &DatazoneRow,
    ) -> Result<Option<DatazoneRow>, StorageError> {
        Ok(with_pool!(self, write, |pool| {
            sqlx::query_as(concat!(
                "UPDATE datazones SET name = $2, description = $3, runtime = $4, endpoint = $5, \
                 kubeconfig = $6, namespace = $7, max_sessions = $8, max_cpu = $9, \
                 max_memory_gib = $10 WHERE name = $1 RETURNING ",
                datazone_columns!()
            ))
            .bind(name)
            .bind(&datazone.name)
            .bind(&datazone.description)
            .bind(&datazone.runtime)
            .bind(&datazone.endpoint)
            .bind(&datazone.kubeconfig)
            .bind(&datazone.namespace)
            .bind(datazone.max_sessions)
            .bind(datazone.max_cpu)
            .bind(datazone.max_memory_gib)
            .fetch_optional(pool)
            .await
            .map_err(StorageError::conflict_as(format!(
                "datazone {:?}",
                datazone.name
            )))?
        }))
    }

    /// Deletes the datazone `name`; false when there is none.
    pub async fn delete_datazone(&self, name: &str) -> Result<bool, StorageError> {
        let result = with_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM datazones WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(result > 0)
    }
}

//! Zip uploads, streamed to `<data_dir>/uploads/<id>.zip` with their size counted and their
//! SHA-256 computed as the bytes arrive, so no upload is ever held in memory and an oversized one
//! is cut off at the limit. Only the archive's structure is checked here; its entries are
//! checked (paths, links, sizes) by the sources domain when a build extracts it.

use std::path::{Path, PathBuf};

use futures_util::{Stream, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::DatalabError;

pub(super) struct StoredUpload {
    pub size_bytes: u64,
    pub sha256: String,
}

/// Where the upload `id` is kept.
pub(super) fn upload_path(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("uploads").join(format!("{id}.zip"))
}

/// Writes `body` to the upload `id`. The file appears under its final name only once it is
/// complete and known to be a zip archive; on any failure nothing is left behind.
pub(super) async fn store<S, E>(
    data_dir: &Path,
    id: &str,
    body: S,
    limit: u64,
) -> Result<StoredUpload, DatalabError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let target = upload_path(data_dir, id);
    let partial = target.with_extension("zip.partial");
    let storage_error = |path: &Path| {
        let path = path.to_owned();
        move |source| DatalabError::UploadStorage { path, source }
    };
    let folder = target.parent().expect("uploads live in a folder");
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(storage_error(folder))?;
    let result = write(&partial, body, limit).await;
    let checked = match result {
        Ok(stored) => check_zip(partial.clone()).await.map(|()| stored),
        Err(error) => Err(error),
    };
    match checked {
        Ok(stored) => {
            tokio::fs::rename(&partial, &target)
                .await
                .map_err(storage_error(&target))?;
            Ok(stored)
        }
        Err(error) => {
            if let Err(remove_error) = tokio::fs::remove_file(&partial).await {
                tracing::warn!(path = %partial.display(), %remove_error, "cannot remove a refused upload");
            }
            Err(error)
        }
    }
}

async fn write<S, E>(path: &Path, body: S, limit: u64) -> Result<StoredUpload, DatalabError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let storage_error = |source| DatalabError::UploadStorage {
        path: path.to_owned(),
        source,
    };
    let mut file = tokio::fs::File::create(path).await.map_err(storage_error)?;
    let mut hasher = Sha256::new();
    let mut size_bytes: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| DatalabError::UploadInterrupted(error.to_string()))?;
        size_bytes += chunk.len() as u64;
        if size_bytes > limit {
            return Err(DatalabError::UploadTooLarge { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(storage_error)?;
    }
    file.sync_all().await.map_err(storage_error)?;
    Ok(StoredUpload {
        size_bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Reads the archive's central directory: enough to tell a zip from anything else.
async fn check_zip(path: PathBuf) -> Result<(), DatalabError> {
    let checked = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|source| DatalabError::UploadStorage {
            path: path.clone(),
            source,
        })?;
        zip::ZipArchive::new(file)
            .map(drop)
            .map_err(|error| DatalabError::NotZip {
                detail: error.to_string(),
            })
    })
    .await;
    match checked {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn chunks(
        parts: Vec<Vec<u8>>,
    ) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
        futures_util::stream::iter(parts.into_iter().map(|part| Ok(bytes::Bytes::from(part))))
    }

    fn small_zip() -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer
            .start_file("metadata.yaml", zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(b"title: x\n").unwrap();
        writer.finish().unwrap().into_inner()
    }

    #[tokio::test]
    async fn a_zip_is_stored_with_its_size_and_hash() {
        let folder = tempfile::tempdir().unwrap();
        let archive = small_zip();
        let (first, second) = archive.split_at(10);
        let stored = store(
            folder.path(),
            "u1",
            chunks(vec![first.to_vec(), second.to_vec()]),
            1 << 20,
        )
        .await
        .unwrap();
        assert_eq!(stored.size_bytes, archive.len() as u64);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&archive)));
        assert_eq!(
            std::fs::read(upload_path(folder.path(), "u1")).unwrap(),
            archive
        );
    }

    #[tokio::test]
    async fn oversized_and_non_zip_uploads_leave_nothing() {
        let folder = tempfile::tempdir().unwrap();
        let too_large = store(
            folder.path(),
            "big",
            chunks(vec![vec![0; 600], vec![0; 600]]),
            1000,
        )
        .await
        .err()
        .unwrap();
        assert!(
            matches!(too_large, DatalabError::UploadTooLarge { limit: 1000 }),
            "{too_large}"
        );
        let not_zip = store(folder.path(), "text", chunks(vec![b"hello".to_vec()]), 1000)
            .await
            .err()
            .unwrap();
        assert!(matches!(not_zip, DatalabError::NotZip { .. }), "{not_zip}");
        let left: Vec<_> = std::fs::read_dir(folder.path().join("uploads"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

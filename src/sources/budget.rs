//! The limits a staging must stay within, counted as entries are actually written: header sizes
//! and listings are never trusted.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{SourceError, SourcesConfig};

/// Size of the chunks a copy writes between two checks of the byte limit and the deadline.
const COPY_CHUNK: usize = 64 * 1024;

/// Bytes, entries and time left to a staging. Blocking work checks it between chunks, so a
/// timeout or a cancelled staging stops the work itself instead of abandoning it mid-write.
#[derive(Debug)]
pub struct StagingBudget {
    max_bytes: u64,
    max_files: u64,
    timeout: Duration,
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
    bytes: u64,
    files: u64,
}

impl StagingBudget {
    pub fn new(config: &SourcesConfig, cancelled: Arc<AtomicBool>) -> Self {
        let timeout = Duration::from_secs(config.timeout_seconds);
        Self {
            max_bytes: config.max_bytes,
            max_files: config.max_files,
            timeout,
            deadline: Instant::now() + timeout,
            cancelled,
            bytes: 0,
            files: 0,
        }
    }

    /// A budget with the same limits, deadline and cancellation but nothing counted yet, to
    /// count a second view of the same source.
    pub fn fresh(&self) -> Self {
        Self {
            bytes: 0,
            files: 0,
            cancelled: Arc::clone(&self.cancelled),
            ..*self
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn max_files(&self) -> u64 {
        self.max_files
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn files(&self) -> u64 {
        self.files
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn timeout_error(&self, step: &'static str) -> SourceError {
        SourceError::Timeout {
            seconds: self.timeout.as_secs(),
            step,
        }
    }

    /// Fails once the deadline has passed or the staging was dropped by its caller.
    pub fn check_time(&self, step: &'static str) -> Result<(), SourceError> {
        if Instant::now() >= self.deadline || self.cancelled.load(Ordering::Relaxed) {
            return Err(self.timeout_error(step));
        }
        Ok(())
    }

    /// Counts one more file, folder or link.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), SourceError> {
        self.files += 1;
        if self.files > self.max_files {
            return Err(SourceError::TooManyFiles {
                limit: self.max_files,
                entry: entry.to_owned(),
            });
        }
        Ok(())
    }

    /// Counts bytes about to be written.
    pub fn add_bytes(&mut self, entry: &str, bytes: u64) -> Result<(), SourceError> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > self.max_bytes {
            return Err(SourceError::TooManyBytes {
                limit: self.max_bytes,
                entry: entry.to_owned(),
            });
        }
        Ok(())
    }

    /// Copies `reader` into `writer` chunk by chunk, counting every byte read against the limit
    /// before it is written, and checking the deadline between chunks.
    pub fn copy(
        &mut self,
        entry: &str,
        reader: &mut impl Read,
        writer: &mut impl Write,
        step: &'static str,
    ) -> Result<(), SourceError> {
        let mut chunk = vec![0_u8; COPY_CHUNK];
        loop {
            self.check_time(step)?;
            let read = match reader.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(SourceError::EntryUnreadable {
                        entry: entry.to_owned(),
                        source,
                    });
                }
            };
            self.add_bytes(entry, read as u64)?;
            writer
                .write_all(&chunk[..read])
                .map_err(|source| SourceError::Filesystem {
                    action: "write",
                    path: entry.into(),
                    source,
                })?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_bytes: u64, max_files: u64) -> StagingBudget {
        let config = SourcesConfig {
            max_bytes,
            max_files,
            ..SourcesConfig::default()
        };
        StagingBudget::new(&config, Arc::default())
    }

    #[test]
    fn copy_stops_at_the_byte_limit_without_writing_past_it() {
        let mut budget = budget(100_000, 10);
        let mut written = Vec::new();
        let error = budget
            .copy(
                "big.bin",
                &mut std::io::repeat(0).take(1_000_000),
                &mut written,
                "testing",
            )
            .unwrap_err();
        assert!(
            matches!(error, SourceError::TooManyBytes { limit: 100_000, ref entry } if entry == "big.bin")
        );
        assert!(written.len() <= 100_000);
    }

    #[test]
    fn entries_beyond_the_limit_are_refused() {
        let mut budget = budget(10, 2);
        budget.add_entry("a").unwrap();
        budget.add_entry("b").unwrap();
        let error = budget.add_entry("c").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the source holds more than 2 files and folders (limit reached at `c`); remove \
             generated or vendored files from the source"
        );
    }

    #[test]
    fn a_cancelled_staging_stops() {
        let cancelled = Arc::new(AtomicBool::new(false));
        let budget = StagingBudget::new(&SourcesConfig::default(), Arc::clone(&cancelled));
        budget.check_time("testing").unwrap();
        cancelled.store(true, Ordering::Relaxed);
        assert!(matches!(
            budget.check_time("testing"),
            Err(SourceError::Timeout { .. })
        ));
    }
}

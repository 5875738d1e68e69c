//! A build log read from the database as it grows: the stored lines first, then each new batch
//! as the worker stores it, then how the build ended. The database is the only source, so a
//! follower sees the same log whichever process runs the build; an in-process signal only makes
//! it look sooner than its next poll.

use std::time::Duration;

use futures_util::{Stream, StreamExt as _, stream};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::events::BuildEvents;
use super::{BuildStatus, LogLine};
use crate::storage::Database;

/// How often the database is asked again when no signal came (builds run in another process).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Lines read at a time.
const BATCH_LINES: i64 = 500;

/// What a follower of a build log receives.
#[derive(Debug, Clone)]
pub enum LogEvent {
    Line(LogLine),
    /// The last event: the build ended.
    End {
        status: BuildStatus,
        failure: Option<String>,
    },
}

struct Follower {
    database: Database,
    changes: broadcast::Receiver<String>,
    closing: CancellationToken,
    build_id: String,
    after: i64,
    ended: bool,
}

/// The events of the log of `build_id` after line `after`. The stream stops after
/// [`LogEvent::End`], when the build is deleted, when the process is closing, or on a database
/// error (logged); a client then reconnects from its last line.
pub(super) fn follow(
    database: Database,
    events: &BuildEvents,
    build_id: String,
    after: i64,
) -> impl Stream<Item = LogEvent> + Send + 'static {
    let follower = Follower {
        database,
        // Subscribed before the first read, so no change between the read and the wait is missed.
        changes: events.follow_changes(),
        closing: events.closing().clone(),
        build_id,
        after,
        ended: false,
    };
    stream::unfold(follower, |mut follower| async move {
        match follower.next_batch().await {
            Ok(Some(batch)) => Some((batch, follower)),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(build = %follower.build_id, %error, "stopped following a build log");
                None
            }
        }
    })
    .flat_map(stream::iter)
}

impl Follower {
    async fn next_batch(&mut self) -> Result<Option<Vec<LogEvent>>, crate::storage::StorageError> {
        if self.ended {
            return Ok(None);
        }
        loop {
            let lines = self.read_lines().await?;
            if !lines.is_empty() {
                return Ok(Some(lines));
            }
            let Some(build) = self.database.build_by_id(&self.build_id).await? else {
                return Ok(None);
            };
            let status = build.status;
            if status.has_ended() {
                // The worker stores its last lines before the status: lines that arrived between
                // the read above and the status are read now.
                let rest = self.read_lines().await?;
                if !rest.is_empty() {
                    return Ok(Some(rest));
                }
                self.ended = true;
                return Ok(Some(vec![LogEvent::End {
                    status,
                    failure: build.failure,
                }]));
            }
            if !self.wait_for_change().await {
                return Ok(None);
            }
        }
    }

    async fn read_lines(&mut self) -> Result<Vec<LogEvent>, crate::storage::StorageError> {
        let rows = self
            .database
            .build_log(&self.build_id, self.after, BATCH_LINES)
            .await?;
        if let Some(last) = rows.last() {
            self.after = last.line_number;
        }
        Ok(rows
            .into_iter()
            .map(|row| LogEvent::Line(row.into()))
            .collect())
    }

    /// Waits for a signal about this build or the poll interval; false when the process closes.
    async fn wait_for_change(&mut self) -> bool {
        let changes = &mut self.changes;
        let build_id = &self.build_id;
        let signalled = async {
            loop {
                match changes.recv().await {
                    Ok(id) if id == *build_id => return,
                    Ok(_) => {}
                    // Missed signals may have been ours: look now.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        tokio::select! {
            () = signalled => true,
            () = tokio::time::sleep(POLL_INTERVAL) => true,
            () = self.closing.cancelled() => false,
        }
    }
}

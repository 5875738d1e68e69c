//! Copies a running build's log into the database in batches, so that followers in any process
//! can read it while the build runs. The in-memory [`BuildLog`] keeps every line, so a batch that
//! fails to store is tried again with the next one and nothing is lost.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::build_log::BuildLog;
use crate::datalabs::BuildEvents;
use crate::storage::Database;
use crate::storage::builds::LogLineRow;

/// How long lines gather before they are stored together.
const BATCH_INTERVAL: Duration = Duration::from_millis(200);
/// How often the last batch is tried when the database refuses it.
const LAST_BATCH_ATTEMPTS: u32 = 5;

pub(super) struct LogWriter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl LogWriter {
    pub fn start(database: Database, events: BuildEvents, build_id: String, log: BuildLog) -> Self {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut stored = 0;
            let mut last_attempts = 0;
            loop {
                let last_round = stopped.is_cancelled()
                    || tokio::select! {
                        () = tokio::time::sleep(BATCH_INTERVAL) => false,
                        () = stopped.cancelled() => true,
                    };
                if last_round {
                    last_attempts += 1;
                }
                let lines = log.lines_from(stored);
                if !lines.is_empty() {
                    let rows: Vec<LogLineRow> = lines
                        .into_iter()
                        .zip(stored..)
                        .map(|(line, index)| LogLineRow {
                            line_number: i64::try_from(index).unwrap_or(i64::MAX),
                            logged_at: line.at,
                            phase: line.phase.as_str().to_owned(),
                            text: line.text,
                        })
                        .collect();
                    match database.append_build_log(&build_id, &rows).await {
                        Ok(()) => {
                            stored += rows.len();
                            events.build_changed(&build_id);
                        }
                        Err(error) => {
                            tracing::warn!(build = %build_id, %error, "cannot store build log lines; trying again");
                            if last_round && last_attempts < LAST_BATCH_ATTEMPTS {
                                tokio::time::sleep(BATCH_INTERVAL).await;
                                continue;
                            }
                        }
                    }
                }
                if last_round {
                    return;
                }
            }
        });
        Self { stop, task }
    }

    /// Stores the lines written so far and stops.
    pub async fn finish(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the build log writer stopped abnormally");
        }
    }
}

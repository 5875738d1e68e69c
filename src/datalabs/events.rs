//! In-process signals between the API and the build workers of one labforge process.
//!
//! The database is the record: every signal only says "look again now" so that a worker starts a
//! queued build, or a log follower shows new lines, without waiting for its next poll. Workers and
//! followers in other processes (`labforge worker` next to `labforge serve`) miss the signals and
//! see the same changes at their next poll instead.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// Cheap to clone: every clone signals the same listeners.
#[derive(Debug, Clone)]
pub struct BuildEvents {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queued: Notify,
    changed: broadcast::Sender<String>,
    closing: CancellationToken,
}

impl Default for BuildEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildEvents {
    pub fn new() -> Self {
        // Receivers that fall behind only miss hints; they poll the database anyway.
        let (changed, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Shared {
                queued: Notify::new(),
                changed,
                closing: CancellationToken::new(),
            }),
        }
    }

    /// A build was queued: idle workers look for work.
    pub fn build_queued(&self) {
        self.inner.queued.notify_waiters();
    }

    /// Resolves at the next [`Self::build_queued`]. A worker enables it before it looks at the
    /// queue, so a build queued between its look and its wait still wakes it.
    pub fn next_queued(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.queued.notified()
    }

    /// The build `id` changed: new log lines, a new status, or a cancel request.
    pub fn build_changed(&self, id: &str) {
        // Nobody listening is fine: the change is in the database.
        let _ = self.inner.changed.send(id.to_owned());
    }

    /// Ids of builds that change from now on.
    pub fn follow_changes(&self) -> broadcast::Receiver<String> {
        self.inner.changed.subscribe()
    }

    /// The process is stopping: open log streams end so the server can finish.
    pub fn close(&self) {
        self.inner.closing.cancel();
    }

    pub fn closing(&self) -> &CancellationToken {
        &self.inner.closing
    }
}

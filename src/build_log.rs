//! The timestamped log of one build, kept whole for later reading and broadcast live to whoever
//! follows the build (the CLI's progress display; the service's workers copy it into the database,
//! from where Server-Sent Events serve it).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// The phase of the pipeline a log line or a timing belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The service's build queue: which worker took the build and how it ended.
    Queue,
    Fetch,
    Package,
    Lint,
    Solve,
    Push,
    SmokeTest,
    /// Notebooks executed in the image, the desktop's screenshot.
    Checks,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "queue",
            Self::Fetch => "fetch",
            Self::Package => "package",
            Self::Lint => "lint",
            Self::Solve => "solve",
            Self::Push => "push",
            Self::SmokeTest => "smoke-test",
            Self::Checks => "checks",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub phase: Phase,
    pub text: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {:<10} {}",
            self.at.format("%H:%M:%S%.3f"),
            self.phase,
            self.text
        )
    }
}

/// Cheap to clone: every clone appends to the same log.
#[derive(Debug, Clone)]
pub struct BuildLog {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    lines: Mutex<Vec<LogLine>>,
    live: broadcast::Sender<LogLine>,
}

impl Default for BuildLog {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildLog {
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Shared {
                lines: Mutex::new(Vec::new()),
                live,
            }),
        }
    }

    /// Appends one line per line of `text` (multi-line messages stay readable).
    pub fn write(&self, phase: Phase, text: impl AsRef<str>) {
        let at = Utc::now();
        let mut lines = self
            .inner
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for part in text.as_ref().lines() {
            let line = LogLine {
                at,
                phase,
                text: part.trim_end().to_owned(),
            };
            // Nobody following the build is not an error: the line is kept either way.
            let _ = self.inner.live.send(line.clone());
            lines.push(line);
        }
    }

    pub fn lines(&self) -> Vec<LogLine> {
        self.inner
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lines from the `start`-th on (none when `start` is past the end): what a reader that
    /// already has `start` lines is missing, without copying the whole log.
    pub fn lines_from(&self, start: usize) -> Vec<LogLine> {
        self.inner
            .lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(start..)
            .map(<[LogLine]>::to_vec)
            .unwrap_or_default()
    }

    /// Lines written from now on. A follower that falls more than 1024 lines behind misses some
    /// (it is told so by the receiver) but the stored log stays complete.
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.inner.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_stored_and_broadcast_one_per_text_line() {
        let log = BuildLog::new();
        let mut follower = log.follow();
        log.write(Phase::Solve, "first\nsecond  \n");
        assert_eq!(follower.recv().await.unwrap().text, "first");
        assert_eq!(follower.recv().await.unwrap().text, "second");
        let stored: Vec<_> = log.lines().into_iter().map(|line| line.text).collect();
        assert_eq!(stored, ["first", "second"]);
        assert_eq!(log.lines_from(1)[0].text, "second");
        assert!(log.lines_from(2).is_empty());
        assert!(log.lines_from(5).is_empty());
    }
}

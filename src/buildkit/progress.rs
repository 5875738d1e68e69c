//! Turns BuildKit's status stream (vertexes, their logs and completion) into readable log lines in
//! the style of `docker buildx --progress=plain`: `#3 [2/5] RUN uv pip install ...`, its output,
//! then `#3 DONE 2.1s` or `#3 CACHED`.

use std::collections::{HashMap, HashSet, VecDeque};

use bollard::moby::buildkit::v1::StatusResponse;

use crate::build_log::{BuildLog, Phase};

#[derive(Debug, Default)]
pub struct ProgressRenderer {
    numbers: HashMap<String, usize>,
    names: HashMap<String, String>,
    announced: HashSet<String>,
    finished: HashSet<String>,
    partial_lines: HashMap<String, String>,
    /// The last lines each step printed: a failed step's cause is in them, a few lines above the
    /// executor's own "failed running" line.
    recent_output: HashMap<String, VecDeque<String>>,
    /// The first step BuildKit reported as failed.
    failed_step: Option<String>,
    /// Steps BuildKit reused from its cache, and all steps, for the build summary.
    pub cached_steps: usize,
    pub steps: usize,
}

/// Lines of a step's output kept for explaining its failure.
const RECENT_OUTPUT_LINES: usize = 40;

/// A step that failed, with the last lines it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// The step as BuildKit names it: `[3/5] RUN uv pip install ...`.
    pub name: String,
    pub output: Vec<String>,
}

impl FailedStep {
    /// What the failing tool said was wrong: the innermost `cause:` of an error chain (uv prints
    /// `error: No solution found...` then `  cause: Because python was not found...`), else its
    /// `error:` line, else the step's last line.
    pub fn cause(&self) -> Option<String> {
        let lines: Vec<&str> = self.output.iter().map(|line| line.trim()).collect();
        ["cause:", "error:"]
            .iter()
            .find_map(|label| {
                lines
                    .iter()
                    .rev()
                    .find_map(|line| line.strip_prefix(label))
                    .map(|cause| cause.trim().to_owned())
            })
            .or_else(|| {
                lines
                    .iter()
                    .rev()
                    .find(|line| !line.is_empty())
                    .map(|line| (*line).to_owned())
            })
    }
}

impl ProgressRenderer {
    pub fn render(&mut self, status: &StatusResponse, log: &BuildLog) {
        for vertex in &status.vertexes {
            let number = self.number(&vertex.digest);
            if (vertex.started.is_some() || vertex.cached)
                && self.announced.insert(vertex.digest.clone())
            {
                self.steps += 1;
                self.names
                    .insert(vertex.digest.clone(), vertex.name.clone());
                log.write(Phase::Solve, format!("#{number} {}", vertex.name));
            }
            if self.finished.contains(&vertex.digest) {
                continue;
            }
            let outcome = if !vertex.error.is_empty() {
                self.failed_step
                    .get_or_insert_with(|| vertex.digest.clone());
                format!("ERROR: {}", vertex.error)
            } else if vertex.cached {
                self.cached_steps += 1;
                "CACHED".to_owned()
            } else if let (Some(started), Some(completed)) = (&vertex.started, &vertex.completed) {
                let millis = (completed.seconds - started.seconds) * 1000
                    + i64::from(completed.nanos - started.nanos) / 1_000_000;
                format!("DONE {}.{}s", millis / 1000, (millis % 1000) / 100)
            } else {
                continue;
            };
            self.finished.insert(vertex.digest.clone());
            log.write(Phase::Solve, format!("#{number} {outcome}"));
        }
        for entry in &status.logs {
            let number = self.number(&entry.vertex);
            let buffer = self.partial_lines.entry(entry.vertex.clone()).or_default();
            buffer.push_str(&String::from_utf8_lossy(&entry.msg));
            while let Some(end) = buffer.find(['\n', '\r']) {
                let line: String = buffer.drain(..=end).collect();
                let line = line.trim_end();
                if !line.is_empty() {
                    log.write(Phase::Solve, format!("#{number} {line}"));
                    let recent = self.recent_output.entry(entry.vertex.clone()).or_default();
                    if recent.len() == RECENT_OUTPUT_LINES {
                        recent.pop_front();
                    }
                    recent.push_back(line.to_owned());
                }
            }
        }
        for warning in &status.warnings {
            let number = self.number(&warning.vertex);
            log.write(
                Phase::Solve,
                format!(
                    "#{number} WARNING: {}",
                    String::from_utf8_lossy(&warning.short)
                ),
            );
        }
    }

    /// The step that failed and its last lines, once BuildKit has reported one.
    pub fn failed_step(&self) -> Option<FailedStep> {
        let digest = self.failed_step.as_ref()?;
        Some(FailedStep {
            name: self.names.get(digest).cloned().unwrap_or_default(),
            output: self
                .recent_output
                .get(digest)
                .map(|lines| lines.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_owned()).or_insert(next)
    }
}

#[cfg(test)]
mod tests {
    use bollard::moby::buildkit::v1::{Vertex, VertexLog};
    use bollard_buildkit_proto::google::protobuf::Timestamp;

    use super::*;

    /// A vertex started at second 10 and, when `completed`, finished at second 12.
    fn vertex(completed: bool) -> Vertex {
        let mut vertex = Vertex {
            digest: "sha256:a".into(),
            name: "[2/3] RUN uv pip install".into(),
            started: Some(Timestamp::default()),
            completed: completed.then(Timestamp::default),
            ..Vertex::default()
        };
        vertex.started.as_mut().unwrap().seconds = 10;
        if let Some(end) = vertex.completed.as_mut() {
            end.seconds = 12;
        }
        vertex
    }

    #[test]
    fn a_step_is_announced_once_its_output_is_split_into_lines_and_its_end_is_timed() {
        let log = BuildLog::new();
        let mut renderer = ProgressRenderer::default();
        renderer.render(
            &StatusResponse {
                vertexes: vec![vertex(false)],
                logs: vec![VertexLog {
                    vertex: "sha256:a".into(),
                    msg: b"Resolved 3 packages\nInstal".to_vec(),
                    ..VertexLog::default()
                }],
                ..StatusResponse::default()
            },
            &log,
        );
        renderer.render(
            &StatusResponse {
                vertexes: vec![vertex(true)],
                logs: vec![VertexLog {
                    vertex: "sha256:a".into(),
                    msg: b"led 3 packages\n".to_vec(),
                    ..VertexLog::default()
                }],
                ..StatusResponse::default()
            },
            &log,
        );
        let text: Vec<_> = log.lines().into_iter().map(|line| line.text).collect();
        assert_eq!(
            text,
            [
                "#1 [2/3] RUN uv pip install",
                "#1 Resolved 3 packages",
                "#1 DONE 2.0s",
                "#1 Installed 3 packages"
            ]
        );
        assert_eq!((renderer.steps, renderer.cached_steps), (1, 0));
    }

    #[test]
    fn a_failed_step_keeps_its_output_and_names_uv_s_cause() {
        let log = BuildLog::new();
        let mut renderer = ProgressRenderer::default();
        let mut failed = vertex(true);
        failed.error = "executor failed running [/bin/sh -c uv pip install]: exit code: 1".into();
        renderer.render(
            &StatusResponse {
                vertexes: vec![failed],
                logs: vec![VertexLog {
                    vertex: "sha256:a".into(),
                    msg: "Using Python 3.11.2 environment at: /opt/datalab/venv\nerror: No \
                          solution found when resolving dependencies\n  cause: Because python \
                          was not found in the package registry and you require python, we can \
                          conclude that your requirements are unsatisfiable.\n"
                        .as_bytes()
                        .to_vec(),
                    ..VertexLog::default()
                }],
                ..StatusResponse::default()
            },
            &log,
        );
        let step = renderer.failed_step().expect("the step failed");
        assert_eq!(step.name, "[2/3] RUN uv pip install");
        assert_eq!(
            step.cause().as_deref(),
            Some(
                "Because python was not found in the package registry and you require python, \
                 we can conclude that your requirements are unsatisfiable."
            )
        );
    }

    #[test]
    fn cached_steps_are_counted() {
        let log = BuildLog::new();
        let mut renderer = ProgressRenderer::default();
        let vertex = Vertex {
            digest: "d".into(),
            name: "COPY . .".into(),
            cached: true,
            ..Vertex::default()
        };
        renderer.render(
            &StatusResponse {
                vertexes: vec![vertex.clone(), vertex],
                ..StatusResponse::default()
            },
            &log,
        );
        assert_eq!((renderer.steps, renderer.cached_steps), (1, 1));
        assert_eq!(log.lines().len(), 2);
    }
}

//! Errors of the metadata domain. A `metadata.yaml` can have many problems at once; they are all
//! reported together so an author fixes them in one round.

use std::fmt;

/// A place in `metadata.yaml`, 1-based like an editor shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One thing wrong with `metadata.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataProblem {
    /// The field as a dotted path (`minimumResources.cpu`, `keywords[2]`); `None` for problems of
    /// the YAML text itself.
    pub field: Option<String>,
    pub position: Position,
    /// What is wrong and what is expected, in plain words.
    pub message: String,
}

impl fmt::Display for MetadataProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Position { line, column } = self.position;
        match &self.field {
            Some(field) => write!(
                formatter,
                "`{field}` at line {line}, column {column}: {}",
                self.message
            ),
            None => write!(formatter, "line {line}, column {column}: {}", self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{file}: the file is {size} bytes; metadata.yaml may be at most {limit} bytes")]
    TooLarge {
        file: String,
        size: usize,
        limit: usize,
    },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: String,
        /// Sorted by position.
        problems: Vec<MetadataProblem>,
    },
}

impl MetadataError {
    /// Every problem found; a file that is too large has a single one at its start.
    pub fn problems(&self) -> Vec<MetadataProblem> {
        match self {
            Self::TooLarge { size, limit, .. } => vec![MetadataProblem {
                field: None,
                position: Position { line: 1, column: 1 },
                message: format!(
                    "the file is {size} bytes; metadata.yaml may be at most {limit} bytes"
                ),
            }],
            Self::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn render_problems(file: &str, problems: &[MetadataProblem]) -> String {
    problems
        .iter()
        .map(|problem| {
            let Position { line, column } = problem.position;
            match &problem.field {
                Some(field) => format!("{file}:{line}:{column}: `{field}`: {}", problem.message),
                None => format!("{file}:{line}:{column}: {}", problem.message),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

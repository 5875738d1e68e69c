//! Checks an author's own Dockerfile (the advanced path): every stage must build on an approved
//! labforge base, named through the build arguments labforge passes
//! (`FROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION`), or on an earlier stage. Files may be copied
//! only from earlier stages, so no other image enters the build.
//!
//! The reader follows the Dockerfile syntax far enough for that: parser directives (`# escape=`),
//! comments, line continuations, case-insensitive instructions.

use std::collections::HashSet;

use super::base::BaseImage;
use super::error::UserDockerfileError;

/// Checks `text` and returns the base of the final stage, the one the image is built from.
pub fn check_user_dockerfile(text: &str) -> Result<BaseImage, UserDockerfileError> {
    let mut global_arguments: HashSet<String> = HashSet::new();
    // Stage names (lowercase, as BuildKit compares them) and their bases, in order.
    let mut stages: Vec<(Option<String>, BaseImage)> = Vec::new();
    for instruction in instructions(text)? {
        match instruction.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                for declaration in instruction.arguments.split_whitespace() {
                    let name = declaration
                        .split_once('=')
                        .map_or(declaration, |(name, _)| name);
                    global_arguments.insert(name.to_owned());
                }
            }
            "FROM" => {
                let stage = check_from(&instruction, &global_arguments, &stages)?;
                stages.push(stage);
            }
            "COPY" | "ADD" => check_copy_source(&instruction, &stages)?,
            "RUN" => check_mount_sources(&instruction, &stages)?,
            _ => {}
        }
    }
    stages
        .last()
        .map(|(_, base)| *base)
        .ok_or(UserDockerfileError::NoFrom {
            suggested: BaseImage::JlBase,
        })
}

/// One instruction after joining continuation lines and dropping comments.
#[derive(Debug, PartialEq, Eq)]
struct Instruction {
    /// Line where the instruction starts, 1-based.
    line: usize,
    /// Upper case.
    keyword: String,
    arguments: String,
}

/// Splits a Dockerfile into instructions.
fn instructions(text: &str) -> Result<Vec<Instruction>, UserDockerfileError> {
    let mut escape = '\\';
    let mut lines = text.lines().enumerate().peekable();
    // Parser directives come first; the first other line ends them.
    while let Some((index, line)) = lines.peek() {
        let Some((name, value)) = parse_directive(line) else {
            break;
        };
        if name.eq_ignore_ascii_case("escape") {
            escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(UserDockerfileError::InvalidEscape {
                        line: index + 1,
                        value: other.to_owned(),
                    });
                }
            };
        } else if !name.eq_ignore_ascii_case("syntax") && !name.eq_ignore_ascii_case("check") {
            // An unknown directive is a comment, and a comment ends the directives.
            break;
        }
        lines.next();
    }
    let mut instructions = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in lines {
        let trimmed = line.trim();
        // Comment lines and empty lines vanish, also inside a continued instruction.
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let trimmed_end = line.trim_end();
        let (content, continues) = match trimmed_end.strip_suffix(escape) {
            Some(content) => (content, true),
            None => (trimmed_end, false),
        };
        let entry = pending.get_or_insert_with(|| (index + 1, String::new()));
        entry.1.push_str(content);
        if continues {
            entry.1.push(' ');
        } else if let Some((line, joined)) = pending.take() {
            instructions.extend(split_instruction(line, &joined));
        }
    }
    if let Some((line, joined)) = pending {
        instructions.extend(split_instruction(line, &joined));
    }
    Ok(instructions)
}

/// `# name=value` at the top of the file.
fn parse_directive(line: &str) -> Option<(&str, &str)> {
    let body = line.trim().strip_prefix('#')?;
    let (name, value) = body.split_once('=')?;
    let name = name.trim();
    let is_word = !name.is_empty()
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || character == '_' || character == '-'
        });
    is_word.then(|| (name, value.trim()))
}

fn split_instruction(line: usize, joined: &str) -> Option<Instruction> {
    let joined = joined.trim();
    if joined.is_empty() {
        return None;
    }
    let (keyword, arguments) = joined
        .split_once(char::is_whitespace)
        .unwrap_or((joined, ""));
    Some(Instruction {
        line,
        keyword: keyword.to_ascii_uppercase(),
        arguments: arguments.trim().to_owned(),
    })
}

/// Checks one FROM and returns the stage it opens.
fn check_from(
    instruction: &Instruction,
    global_arguments: &HashSet<String>,
    stages: &[(Option<String>, BaseImage)],
) -> Result<(Option<String>, BaseImage), UserDockerfileError> {
    let line = instruction.line;
    let malformed = |reason| UserDockerfileError::MalformedFrom {
        line,
        text: format!("FROM {}", instruction.arguments),
        reason,
    };
    let mut words = instruction.arguments.split_whitespace().peekable();
    while let Some(option) = words.next_if(|word| word.starts_with("--")) {
        if !option.starts_with("--platform=") {
            return Err(UserDockerfileError::UnsupportedFromOption {
                line,
                option: option.to_owned(),
            });
        }
    }
    let image = words
        .next()
        .ok_or_else(|| malformed("FROM needs an image"))?;
    let stage_name = match words.next() {
        None => None,
        Some(word) if word.eq_ignore_ascii_case("as") => {
            let name = words
                .next()
                .ok_or_else(|| malformed("AS must be followed by a stage name"))?;
            if !is_stage_name(name) {
                return Err(malformed(
                    "a stage name starts with a letter and holds letters, digits, `_`, `.` and `-`",
                ));
            }
            Some(name.to_ascii_lowercase())
        }
        Some(_) => return Err(malformed("after the image only `AS name` may follow")),
    };
    if words.next().is_some() {
        return Err(malformed("after `AS name` nothing may follow"));
    }
    let lowercase_image = image.to_ascii_lowercase();
    if let Some((_, base)) = stages
        .iter()
        .find(|(name, _)| name.as_deref() == Some(lowercase_image.as_str()))
    {
        return Ok((stage_name, *base));
    }
    let Some(base) = approved_base(image) else {
        return Err(UserDockerfileError::UnapprovedBase {
            line,
            image: image.to_owned(),
            suggested: suggested_base(image),
        });
    };
    for variable in ["REGISTRY", base.version_arg()] {
        if !global_arguments.contains(variable) {
            return Err(UserDockerfileError::UndeclaredArgument {
                line,
                image: image.to_owned(),
                variable: variable.to_owned(),
                base,
            });
        }
    }
    Ok((stage_name, base))
}

/// The base named by `$REGISTRY/datalabs/<base>:$<BASE>_VERSION` (either variable form).
fn approved_base(image: &str) -> Option<BaseImage> {
    let rest = image
        .strip_prefix("$REGISTRY/datalabs/")
        .or_else(|| image.strip_prefix("${REGISTRY}/datalabs/"))?;
    let (name, version) = rest.split_once(':')?;
    let base = BaseImage::ALL
        .into_iter()
        .find(|base| base.image_name() == name)?;
    let variable = version
        .strip_prefix("${")
        .and_then(|braced| braced.strip_suffix('}'))
        .or_else(|| version.strip_prefix('$'))?;
    (variable == base.version_arg()).then_some(base)
}

fn suggested_base(image: &str) -> BaseImage {
    BaseImage::ALL
        .into_iter()
        .find(|base| image.contains(base.image_name()))
        .unwrap_or(BaseImage::JlBase)
}

fn is_stage_name(name: &str) -> bool {
    name.starts_with(|character: char| character.is_ascii_alphabetic())
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "_.-".contains(character))
}

/// A `--from=` source is fine when it names an earlier stage, by name or index.
fn is_earlier_stage(source: &str, stages: &[(Option<String>, BaseImage)]) -> bool {
    let lowercase = source.to_ascii_lowercase();
    source.parse::<usize>().map_or_else(
        |_| {
            stages
                .iter()
                .any(|(name, _)| name.as_deref() == Some(lowercase.as_str()))
        },
        |index| index < stages.len(),
    )
}

fn check_copy_source(
    instruction: &Instruction,
    stages: &[(Option<String>, BaseImage)],
) -> Result<(), UserDockerfileError> {
    for flag in instruction
        .arguments
        .split_whitespace()
        .take_while(|word| word.starts_with("--"))
    {
        if let Some(source) = flag.strip_prefix("--from=")
            && !is_earlier_stage(source, stages)
        {
            return Err(UserDockerfileError::ForeignSource {
                line: instruction.line,
                instruction: instruction.keyword.clone(),
                source_image: source.to_owned(),
            });
        }
    }
    Ok(())
}

fn check_mount_sources(
    instruction: &Instruction,
    stages: &[(Option<String>, BaseImage)],
) -> Result<(), UserDockerfileError> {
    for flag in instruction
        .arguments
        .split_whitespace()
        .take_while(|word| word.starts_with("--"))
    {
        let Some(mount) = flag.strip_prefix("--mount=") else {
            continue;
        };
        for field in mount.split(',') {
            if let Some(source) = field.strip_prefix("from=")
                && !is_earlier_stage(source, stages)
            {
                return Err(UserDockerfileError::ForeignSource {
                    line: instruction.line,
                    instruction: "RUN --mount".to_owned(),
                    source_image: source.to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPROVED: &str =
        "ARG REGISTRY\nARG JL_BASE_VERSION\nFROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION\n";

    fn refusal(text: &str) -> String {
        check_user_dockerfile(text)
            .expect_err("expected the Dockerfile to be refused")
            .to_string()
    }

    #[test]
    fn accepts_each_approved_base_in_both_variable_forms() {
        assert_eq!(check_user_dockerfile(APPROVED), Ok(BaseImage::JlBase));
        for base in BaseImage::ALL {
            let variable = base.version_arg();
            let image = base.image_name();
            let braced = format!(
                "ARG REGISTRY\nARG {variable}=1.0\nFROM --platform=linux/amd64 \
                 ${{REGISTRY}}/datalabs/{image}:${{{variable}}} AS build\nRUN true\n"
            );
            assert_eq!(check_user_dockerfile(&braced), Ok(base), "{braced}");
        }
    }

    #[test]
    fn the_final_stage_decides_the_base_and_stages_may_build_on_stages() {
        let text = "ARG REGISTRY\nARG DATALAB_BASE_VERSION\nARG X_BASE_VERSION\n\
                    FROM $REGISTRY/datalabs/datalab_base:$DATALAB_BASE_VERSION AS Tools\n\
                    RUN make\n\
                    FROM $REGISTRY/datalabs/x_base:$X_BASE_VERSION AS desktop\n\
                    COPY --from=tools /opt/tools /opt/tools\n\
                    COPY --from=0 /etc/motd /etc/motd\n\
                    RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=tools,target=/t true\n\
                    from desktop\n";
        assert_eq!(check_user_dockerfile(text), Ok(BaseImage::XBase));
    }

    #[test]
    fn refuses_an_unapproved_base_showing_the_expected_form() {
        assert_eq!(
            refusal("FROM python:3.11\n"),
            "Dockerfile line 1: FROM python:3.11 is not an approved base. Use:\nARG REGISTRY\nARG \
             JL_BASE_VERSION\nFROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION"
        );
        let message = refusal("ARG REGISTRY\nFROM $REGISTRY/datalabs/x_base:latest\n");
        assert!(
            message.starts_with("Dockerfile line 2: FROM $REGISTRY/datalabs/x_base:latest is not"),
            "{message}"
        );
        assert!(
            message.ends_with("FROM $REGISTRY/datalabs/x_base:$X_BASE_VERSION"),
            "{message}"
        );
    }

    #[test]
    fn refuses_look_alikes() {
        for image in [
            "$REGISTRY/datalabs/jl_base:$X_BASE_VERSION",
            "$REGISTRY/datalabs/jl_base",
            "docker.io/datalabs/jl_base:$JL_BASE_VERSION",
            "$REGISTRY/other/jl_base:$JL_BASE_VERSION",
            "${REGISTRY:-evil.example}/datalabs/jl_base:$JL_BASE_VERSION",
            "$REGISTRY/datalabs/jl_base:$JL_BASE_VERSION@sha256:00",
            "\\$REGISTRY/datalabs/jl_base:$JL_BASE_VERSION",
            "$REGISTRY/datalabs/jl_base_evil:$JL_BASE_VERSION",
        ] {
            let text =
                format!("ARG REGISTRY\nARG JL_BASE_VERSION\nARG X_BASE_VERSION\nFROM {image}\n");
            let message = refusal(&text);
            assert!(
                message.contains("is not an approved base"),
                "{image}: {message}"
            );
        }
    }

    #[test]
    fn refuses_arguments_not_declared_before_the_first_from() {
        let message =
            refusal("ARG JL_BASE_VERSION\nFROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION\n");
        assert!(
            message.starts_with(
                "Dockerfile line 2: FROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION uses $REGISTRY \
                 but `ARG REGISTRY` is not declared before the first FROM. Use:\nARG REGISTRY"
            ),
            "{message}"
        );
        let message = refusal(&format!(
            "{APPROVED}ARG X_BASE_VERSION\nFROM $REGISTRY/datalabs/x_base:$X_BASE_VERSION\n"
        ));
        assert!(message.starts_with("Dockerfile line 5:"), "{message}");
        assert!(
            message.contains("uses $X_BASE_VERSION but `ARG X_BASE_VERSION`"),
            "{message}"
        );
    }

    #[test]
    fn refuses_copying_from_other_images() {
        let message = refusal(&format!(
            "{APPROVED}COPY --from=python:3.11 /usr/bin/python3 /usr/bin/\n"
        ));
        assert_eq!(
            message,
            "Dockerfile line 4: COPY takes files from `python:3.11`, which is neither an earlier \
             stage nor an approved base; copy only from earlier stages (FROM ... AS name, then \
             --from=name)"
        );
        let message = refusal(&format!(
            "{APPROVED}RUN --mount=type=bind,from=alpine,target=/a true\n"
        ));
        assert!(
            message.contains("RUN --mount takes files from `alpine`"),
            "{message}"
        );
        let message = refusal(&format!("{APPROVED}copy --from=1 a b\n"));
        assert!(message.contains("`1`"), "{message}");
    }

    #[test]
    fn refuses_malformed_from_lines_and_other_options() {
        assert!(refusal("FROM\n").contains("FROM needs an image"));
        assert!(refusal("FROM --pull=always x\n").contains("FROM --pull=always is not allowed"));
        assert!(
            refusal(&format!("{APPROVED}FROM base AS\n"))
                .contains("AS must be followed by a stage name")
        );
        assert!(refusal("FROM a b\n").contains("only `AS name` may follow"));
        assert!(refusal("FROM a AS 1x\n").contains("a stage name starts with a letter"));
        assert!(refusal("FROM a AS b c\n").contains("nothing may follow"));
    }

    #[test]
    fn refuses_a_dockerfile_without_from() {
        assert_eq!(
            refusal("# only a comment\nRUN true\n"),
            "Dockerfile has no FROM instruction. Start it with:\nARG REGISTRY\nARG JL_BASE_VERSION\n\
             FROM $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION"
        );
    }

    #[test]
    fn reads_continuations_comments_and_case_insensitive_instructions() {
        let text = "# syntax=docker/dockerfile:1\n\
                    arg REGISTRY\n\
                    Arg \\\n  JL_BASE_VERSION\n\
                    # a comment between instructions\n\
                    from \\\n\
                    # a comment inside a continued instruction\n\
                    \n\
                    \t$REGISTRY/datalabs/jl_base:$JL_BASE_VERSION\n";
        assert_eq!(check_user_dockerfile(text), Ok(BaseImage::JlBase));
        // A FROM hidden in a continued RUN is not an instruction...
        let text = format!("{APPROVED}RUN echo \\\nFROM python:3.11\n");
        assert_eq!(check_user_dockerfile(&text), Ok(BaseImage::JlBase));
        // ...but without the continuation it is.
        let text = format!("{APPROVED}RUN echo\nFROM python:3.11\n");
        assert!(refusal(&text).starts_with("Dockerfile line 5: FROM python:3.11"));
    }

    #[test]
    fn honours_the_escape_directive() {
        let text = "# escape=`\nARG REGISTRY\nARG JL_BASE_VERSION\nFROM `\n  $REGISTRY/datalabs/jl_base:$JL_BASE_VERSION\n";
        assert_eq!(check_user_dockerfile(text), Ok(BaseImage::JlBase));
        // With ` as escape, a trailing backslash does not continue: the next line is a FROM.
        let text = format!("# escape=`\n{APPROVED}RUN dir c:\\\nFROM python:3.11\n");
        assert!(
            refusal(&text).starts_with("Dockerfile line 6: FROM python:3.11"),
            "{}",
            refusal(&text)
        );
        assert_eq!(
            refusal("# escape=x\nFROM a\n"),
            "Dockerfile line 1: the escape directive must be a backslash or a backtick, not `x`"
        );
        // A directive after the first instruction is only a comment.
        let text = format!("{APPROVED}# escape=`\nRUN echo \\\nFROM python:3.11\n");
        assert_eq!(check_user_dockerfile(&text), Ok(BaseImage::JlBase));
    }

    #[test]
    fn base_kind_names_its_image_and_version_argument() {
        assert_eq!(BaseImage::JlBase.image_name(), "jl_base");
        assert_eq!(BaseImage::XBase.version_arg(), "X_BASE_VERSION");
        assert_eq!(BaseImage::DatalabBase.image_name(), "datalab_base");
        assert_eq!(BaseImage::DatalabBase.version_arg(), "DATALAB_BASE_VERSION");
    }
}

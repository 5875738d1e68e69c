//! The file side of pip's format: logical lines (`\` continuations, comments), `-r`/`-c` includes
//! (kept inside the package folder, cycles refused), and each line turned into a [`Requirement`],
//! with local and URL sources refused unless the configuration allows them.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::options::{LineOption, check_hash, parse_options};
use super::pep508::{Parsed, is_local_url, is_valid_name, normalise_name, parse_requirement};
use super::{Requirement, Requirements};
use crate::recipe::PackagingConfig;
use crate::recipe::error::RequirementsError;

/// Reads `relative` (already checked to be inside `root`) and everything it includes.
pub(super) fn read_with_includes(
    root: PathBuf,
    relative: &Path,
    config: &PackagingConfig,
) -> Result<Requirements, RequirementsError> {
    let mut reader = Reader {
        root,
        config,
        chain: Vec::new(),
        requirements: Requirements::default(),
    };
    reader.read(relative, false)?;
    Ok(reader.requirements)
}

/// Reads `lines` (numbered as in `file`, a file inside `root` that is not a requirements file)
/// as requirement lines, with their includes.
pub(super) fn read_lines(
    root: PathBuf,
    file: &Path,
    lines: &[(usize, String)],
    config: &PackagingConfig,
) -> Result<Requirements, RequirementsError> {
    let mut reader = Reader {
        root,
        config,
        chain: vec![file.to_path_buf()],
        requirements: Requirements::default(),
    };
    for (number, text) in lines {
        let context = LineContext {
            file,
            number: *number,
            text: text.trim(),
        };
        reader.read_line(&context, false)?;
    }
    Ok(reader.requirements)
}

struct Reader<'config> {
    root: PathBuf,
    config: &'config PackagingConfig,
    /// Files being read, outermost first, relative to the root: the include chain.
    chain: Vec<PathBuf>,
    requirements: Requirements,
}

/// Where one logical line came from.
pub(super) struct LineContext<'a> {
    pub(super) file: &'a Path,
    pub(super) number: usize,
    pub(super) text: &'a str,
}

impl LineContext<'_> {
    pub(super) fn file(&self) -> PathBuf {
        self.file.to_path_buf()
    }
}

impl Reader<'_> {
    /// Reads `relative` (already checked to be inside the root). `constraint` is true inside a
    /// constraints file.
    fn read(&mut self, relative: &Path, constraint: bool) -> Result<(), RequirementsError> {
        if self.chain.iter().any(|file| file == relative) {
            let mut chain = self.chain.clone();
            chain.push(relative.to_path_buf());
            return Err(RequirementsError::IncludeCycle { chain });
        }
        let text = fs::read_to_string(self.root.join(relative)).map_err(|source| {
            RequirementsError::Read {
                file: relative.to_path_buf(),
                source,
            }
        })?;
        self.chain.push(relative.to_path_buf());
        for (number, line) in logical_lines(&text) {
            let context = LineContext {
                file: relative,
                number,
                text: line.trim(),
            };
            self.read_line(&context, constraint)?;
        }
        self.chain.pop();
        Ok(())
    }

    fn read_line(
        &mut self,
        context: &LineContext<'_>,
        constraint: bool,
    ) -> Result<(), RequirementsError> {
        let line = strip_comment(context.text).trim();
        if line.is_empty() {
            return Ok(());
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let first_option = tokens
            .iter()
            .position(|token| token.starts_with('-'))
            .unwrap_or(tokens.len());
        let (arguments, options) = tokens.split_at(first_option);
        let options = parse_options(options, context, self.config.allow_index_options)?;
        let mut hashes = Vec::new();
        let mut include = None;
        let mut editable = None;
        for LineOption { name, value } in options {
            match name {
                "--hash" => hashes.push(check_hash(value, context)?),
                "-r" | "--requirement" => include = Some((value, constraint)),
                "-c" | "--constraint" => include = Some((value, true)),
                "-e" | "--editable" => editable = Some(value),
                "--index-url" | "--extra-index-url" | "--trusted-host" | "--find-links"
                | "--no-index" => {
                    if !arguments.is_empty() {
                        return Err(misplaced(
                            context,
                            "an index option must be alone on its line",
                        ));
                    }
                    let option = if value.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{name} {value}")
                    };
                    self.requirements.index_options.push(option);
                }
                _ => unreachable!("parse_options returns only the options handled here"),
            }
        }
        let requirement_text = arguments.join(" ");
        if let Some(source) = editable {
            if !requirement_text.is_empty() || include.is_some() {
                return Err(misplaced(
                    context,
                    "an editable install must be alone on its line",
                ));
            }
            if !self.config.allow_local_paths {
                return Err(RequirementsError::EditableInstall {
                    file: context.file(),
                    line: context.number,
                    text: context.text.to_owned(),
                });
            }
            let requirement = local_requirement(context, source, &format!("-e {source}"), hashes);
            self.push(requirement, constraint);
            return Ok(());
        }
        if let Some((target, as_constraint)) = include {
            if !requirement_text.is_empty() || !hashes.is_empty() {
                return Err(misplaced(
                    context,
                    "an include (-r or -c) must be alone on its line",
                ));
            }
            let included = self.resolve_include(context, target)?;
            return self.read(&included, as_constraint);
        }
        if requirement_text.is_empty() && hashes.is_empty() {
            // A line of index options only.
            return Ok(());
        }
        if requirement_text.is_empty() {
            return Err(misplaced(
                context,
                "--hash must follow a requirement on the same line",
            ));
        }
        let requirement = self.requirement(context, requirement_text, hashes)?;
        self.push(requirement, constraint);
        Ok(())
    }

    /// The requirement named on a line, refused if it does not come from the index (unless
    /// allowed).
    fn requirement(
        &self,
        context: &LineContext<'_>,
        text: String,
        hashes: Vec<String>,
    ) -> Result<Requirement, RequirementsError> {
        let refuse_source = |local: bool, text: String| {
            if local {
                RequirementsError::LocalPath {
                    file: context.file(),
                    line: context.number,
                    text,
                }
            } else {
                RequirementsError::DirectUrl {
                    file: context.file(),
                    line: context.number,
                    text,
                }
            }
        };
        match parse_requirement(&text) {
            Ok(Parsed::Named { name, line }) => Ok(Requirement {
                name,
                line,
                file: context.file(),
                line_number: context.number,
                hashes,
            }),
            Ok(Parsed::DirectUrl { name, url }) => {
                if !self.config.allow_local_paths {
                    return Err(refuse_source(is_local_url(&url), text));
                }
                Ok(Requirement {
                    name,
                    line: text,
                    file: context.file(),
                    line_number: context.number,
                    hashes,
                })
            }
            Ok(Parsed::Location { local }) => {
                if !self.config.allow_local_paths {
                    return Err(refuse_source(local, text));
                }
                Ok(local_requirement(context, &text, &text, hashes))
            }
            Err(reason) => Err(RequirementsError::InvalidRequirement {
                file: context.file(),
                line: context.number,
                text,
                reason,
            }),
        }
    }

    fn push(&mut self, requirement: Requirement, constraint: bool) {
        if constraint {
            self.requirements.constraints.push(requirement);
        } else {
            self.requirements.entries.push(requirement);
        }
    }

    /// The included file, relative to the root, after checking it stays inside.
    fn resolve_include(
        &self,
        context: &LineContext<'_>,
        target: &str,
    ) -> Result<PathBuf, RequirementsError> {
        let refuse_outside = || RequirementsError::IncludeOutsidePackage {
            file: context.file(),
            line: context.number,
            target: target.to_owned(),
        };
        if target.contains("://") {
            return Err(RequirementsError::RemoteInclude {
                file: context.file(),
                line: context.number,
                target: target.to_owned(),
            });
        }
        let target_path = Path::new(target);
        if target_path.is_absolute() || target.starts_with('~') {
            return Err(RequirementsError::AbsoluteInclude {
                file: context.file(),
                line: context.number,
                target: target.to_owned(),
            });
        }
        let mut resolved = context
            .file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for component in target_path.components() {
            match component {
                Component::Normal(part) => resolved.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !resolved.pop() {
                        return Err(refuse_outside());
                    }
                }
                Component::RootDir | Component::Prefix(_) => return Err(refuse_outside()),
            }
        }
        // A symbolic link inside the folder may still point outside it.
        let canonical = self.root.join(&resolved).canonicalize().map_err(|source| {
            RequirementsError::IncludeUnreadable {
                file: context.file(),
                line: context.number,
                target: target.to_owned(),
                source,
            }
        })?;
        canonical
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .map_err(|_| refuse_outside())
    }
}

/// A path or URL source, allowed by configuration; named by its `#egg=` fragment if any.
fn local_requirement(
    context: &LineContext<'_>,
    source: &str,
    line: &str,
    hashes: Vec<String>,
) -> Requirement {
    let name = source
        .split_once("#egg=")
        .map(|(_, egg)| egg.split('&').next().unwrap_or(egg))
        .filter(|egg| is_valid_name(egg))
        .map_or_else(|| source.to_owned(), normalise_name);
    Requirement {
        name,
        line: line.to_owned(),
        file: context.file(),
        line_number: context.number,
        hashes,
    }
}

fn misplaced(context: &LineContext<'_>, reason: &'static str) -> RequirementsError {
    RequirementsError::MisplacedOption {
        file: context.file(),
        line: context.number,
        text: context.text.to_owned(),
        reason,
    }
}

/// Joins `\` continuations like pip: the joined line keeps the number of its first line, and a
/// comment line never continues.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let is_comment = line.trim_start().starts_with('#');
        match line.strip_suffix('\\') {
            Some(continued) if !is_comment => {
                pending
                    .get_or_insert_with(|| (number, String::new()))
                    .1
                    .push_str(continued);
            }
            _ => {
                // A comment ends a continuation without adding its text.
                let line = if is_comment { "" } else { line };
                match pending.take() {
                    Some((first, mut joined)) => {
                        joined.push_str(line);
                        lines.push((first, joined));
                    }
                    None => lines.push((number, line.to_owned())),
                }
            }
        }
    }
    lines.extend(pending);
    lines
}

/// Removes a comment: `#` at the start of the line or after whitespace, to the end of the line.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (index, character) in line.char_indices() {
        if character == '#' && previous_is_space {
            return &line[..index];
        }
        previous_is_space = character.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::requirements::parse_requirements;
    use crate::recipe::requirements::tests::{fixture_root, refusal};

    #[test]
    fn refuses_includes_that_leave_the_package() {
        let message = parse_requirements(
            &fixture_root("escape"),
            Path::new("requirements.txt"),
            &PackagingConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            "requirements.txt:1: `../valid/requirements.txt` is outside the package folder; \
             included files must be inside it"
        );
        let message = refusal("-r /etc/passwd\n");
        assert!(
            message.contains("`/etc/passwd` is an absolute path"),
            "{message}"
        );
        let message = refusal("-r https://example.org/requirements.txt\n");
        assert!(message.contains("is a URL"), "{message}");
        let message = refusal("-r missing.txt\n");
        assert!(
            message.contains("cannot read the included file `missing.txt`"),
            "{message}"
        );
        let message = refusal("-r numpy==1.0\nnumpy -r x.txt\n");
        assert!(
            message.contains("cannot read the included file"),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_includes_through_symbolic_links_out_of_the_package() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "numpy\n").unwrap();
        let folder = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            folder.path().join("link.txt"),
        )
        .unwrap();
        fs::write(folder.path().join("requirements.txt"), "-r link.txt\n").unwrap();
        let message = parse_requirements(
            folder.path(),
            Path::new("requirements.txt"),
            &PackagingConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("`link.txt` is outside the package folder"),
            "{message}"
        );
    }

    #[test]
    fn names_the_chain_of_an_include_cycle() {
        let message = parse_requirements(
            &fixture_root("cycle"),
            Path::new("requirements.txt"),
            &PackagingConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            "requirements files include each other in a cycle: requirements.txt -> a.txt -> b.txt \
             -> requirements.txt; remove one of the includes"
        );
    }

    #[test]
    fn an_include_mixed_with_a_requirement_is_refused() {
        let message = refusal("numpy -r other.txt\n");
        assert!(message.contains("must be alone on its line"), "{message}");
    }

    #[test]
    fn joins_continuations_and_strips_comments_like_pip() {
        assert_eq!(
            logical_lines("a \\\nb\n# c \\\nd\ne\\"),
            [
                (1, "a b".to_owned()),
                (3, String::new()),
                (4, "d".to_owned()),
                (5, "e".to_owned())
            ]
        );
        assert_eq!(strip_comment("numpy # pinned"), "numpy ");
        assert_eq!(
            strip_comment("pkg @ https://h/x#egg=pkg"),
            "pkg @ https://h/x#egg=pkg"
        );
        assert_eq!(strip_comment("# all"), "");
    }
}

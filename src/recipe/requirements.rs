//! `requirements.txt` read the way pip reads it, and policed: packages come from the configured
//! index only, included files stay inside the package folder, and every requirement is a valid
//! PEP 508 requirement written back in one canonical form (for the environment hash).
//!
//! Supported: comments (`#` at line start or after whitespace), blank lines, `\` continuations,
//! PEP 508 requirements (name, extras, specifiers, `; markers`), `--hash` on a requirement line,
//! `-r`/`--requirement` and `-c`/`--constraint` includes. Index options (`-i`, `--extra-index-url`,
//! `--trusted-host`, `-f`, `--no-index`) and local sources (`-e`, paths, `file:` and other direct
//! URLs) are refused unless [`PackagingConfig`] allows them; every other option is refused.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::PackagingConfig;
use super::error::RequirementsError;

/// One requirement line, as written back canonically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// PEP 503 normalised name (`scikit-learn`); for an allowed local or URL source without a name,
    /// the source as written.
    pub name: String,
    /// Canonical text: `name[extras]specifiers; marker`, extras and specifiers sorted, no spaces
    /// except around the marker.
    pub line: String,
    /// The file it was read from, relative to the package folder.
    pub file: PathBuf,
    /// 1-based number of the line where the requirement starts.
    pub line_number: usize,
    /// `--hash` values given on the line (`sha256:...`), in order.
    pub hashes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// In file order, with included files inlined where they are included.
    pub entries: Vec<Requirement>,
    /// From `-c` files (and files those include).
    pub constraints: Vec<Requirement>,
    /// Index options (`--index-url https://...`, long names), in file order; only when
    /// [`PackagingConfig::allow_index_options`] lets them through.
    pub index_options: Vec<String>,
}

impl Requirements {
    /// One canonical line per entry, in file order, without repeats; two requirement files that
    /// install the same environment give the same text. Allowed index options come first, since
    /// they change what gets installed. Constraints are not included: see
    /// [`Requirements::normalised_constraints`].
    pub fn normalised(&self) -> String {
        let mut text = String::new();
        for option in &self.index_options {
            text.push_str(option);
            text.push('\n');
        }
        text.push_str(&canonical_lines(&self.entries));
        text
    }

    /// The constraints in the same canonical form; they change what gets installed, so an
    /// environment hash must cover them too.
    pub fn normalised_constraints(&self) -> String {
        canonical_lines(&self.constraints)
    }
}

fn canonical_lines(requirements: &[Requirement]) -> String {
    let mut seen = HashSet::new();
    let mut text = String::new();
    for requirement in requirements {
        if seen.insert(requirement.line.as_str()) {
            text.push_str(&requirement.line);
            text.push('\n');
        }
    }
    text
}

/// Reads `file` (relative to `package_root`, or absolute inside it) and everything it includes.
pub fn parse_requirements(
    package_root: &Path,
    file: &Path,
    config: &PackagingConfig,
) -> Result<Requirements, RequirementsError> {
    let root = package_root
        .canonicalize()
        .map_err(|source| RequirementsError::Read {
            file: package_root.to_path_buf(),
            source,
        })?;
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        root.join(file)
    };
    let canonical = absolute
        .canonicalize()
        .map_err(|source| RequirementsError::Read {
            file: file.to_path_buf(),
            source,
        })?;
    let relative = canonical
        .strip_prefix(&root)
        .map_err(|_| RequirementsError::OutsidePackage {
            file: file.to_path_buf(),
            package_root: package_root.to_path_buf(),
        })?
        .to_path_buf();
    let mut reader = Reader {
        root,
        config,
        chain: Vec::new(),
        requirements: Requirements::default(),
    };
    reader.read(&relative, false)?;
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
struct LineContext<'a> {
    file: &'a Path,
    number: usize,
    text: &'a str,
}

impl LineContext<'_> {
    fn file(&self) -> PathBuf {
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

struct LineOption<'a> {
    name: &'static str,
    value: &'a str,
}

/// What an option on a requirements line does.
enum OptionKind {
    /// Handled by the reader; needs a value.
    Allowed(&'static str, &'static str),
    /// Changes the package source; the long name.
    Index {
        canonical: &'static str,
        takes_value: bool,
    },
    /// Installs local code.
    Editable,
    /// Known to pip, not supported here.
    Unsupported,
}

fn classify_option(name: &str) -> Option<OptionKind> {
    Some(match name {
        "--hash" => OptionKind::Allowed("--hash", "sha256:<64 hex digits>"),
        "-r" => OptionKind::Allowed("-r", "other-requirements.txt"),
        "--requirement" => OptionKind::Allowed("--requirement", "other-requirements.txt"),
        "-c" => OptionKind::Allowed("-c", "constraints.txt"),
        "--constraint" => OptionKind::Allowed("--constraint", "constraints.txt"),
        "-e" | "--editable" => OptionKind::Editable,
        "-i" | "--index-url" => OptionKind::Index {
            canonical: "--index-url",
            takes_value: true,
        },
        "--extra-index-url" => OptionKind::Index {
            canonical: "--extra-index-url",
            takes_value: true,
        },
        "--trusted-host" => OptionKind::Index {
            canonical: "--trusted-host",
            takes_value: true,
        },
        "-f" | "--find-links" => OptionKind::Index {
            canonical: "--find-links",
            takes_value: true,
        },
        "--no-index" => OptionKind::Index {
            canonical: "--no-index",
            takes_value: false,
        },
        "--pre" | "--prefer-binary" | "--only-binary" | "--no-binary" | "--require-hashes"
        | "--use-feature" | "--config-settings" | "--global-option" | "-Z" | "--always-unzip" => {
            OptionKind::Unsupported
        }
        _ => return None,
    })
}

/// Reads the options part of a line (`-r x`, `-rx`, `--requirement=x`, `--requirement x`).
fn parse_options<'a>(
    tokens: &[&'a str],
    context: &LineContext<'_>,
    allow_index_options: bool,
) -> Result<Vec<LineOption<'a>>, RequirementsError> {
    let mut options = Vec::new();
    let mut remaining = tokens.iter();
    while let Some(token) = remaining.next() {
        let (name, attached) = if token.starts_with("--") {
            match token.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (*token, None),
            }
        } else if token.starts_with('-') && token.len() > 2 && token.is_char_boundary(2) {
            (&token[..2], Some(&token[2..]))
        } else {
            (*token, None)
        };
        match classify_option(name) {
            None => {
                return Err(RequirementsError::UnknownOption {
                    file: context.file(),
                    line: context.number,
                    option: (*token).to_owned(),
                });
            }
            Some(OptionKind::Unsupported) => {
                return Err(RequirementsError::UnsupportedOption {
                    file: context.file(),
                    line: context.number,
                    option: name.to_owned(),
                });
            }
            Some(OptionKind::Index {
                canonical,
                takes_value,
            }) => {
                if !allow_index_options {
                    return Err(RequirementsError::IndexOption {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        text: context.text.to_owned(),
                    });
                }
                let value = if takes_value {
                    attached
                        .filter(|value| !value.is_empty())
                        .or_else(|| remaining.next().copied())
                        .ok_or_else(|| RequirementsError::MissingOptionValue {
                            file: context.file(),
                            line: context.number,
                            option: name.to_owned(),
                            example: "https://pypi.example.org/simple",
                        })?
                } else {
                    ""
                };
                options.push(LineOption {
                    name: canonical,
                    value,
                });
            }
            Some(OptionKind::Editable) => {
                let value = attached
                    .filter(|value| !value.is_empty())
                    .or_else(|| remaining.next().copied())
                    .ok_or_else(|| RequirementsError::MissingOptionValue {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        example: "./my-package",
                    })?;
                options.push(LineOption { name: "-e", value });
            }
            Some(OptionKind::Allowed(canonical, example)) => {
                let value = attached
                    .filter(|value| !value.is_empty())
                    .or_else(|| remaining.next().copied())
                    .ok_or_else(|| RequirementsError::MissingOptionValue {
                        file: context.file(),
                        line: context.number,
                        option: name.to_owned(),
                        example,
                    })?;
                options.push(LineOption {
                    name: canonical,
                    value,
                });
            }
        }
    }
    Ok(options)
}

fn check_hash(value: &str, context: &LineContext<'_>) -> Result<String, RequirementsError> {
    let valid = value.split_once(':').is_some_and(|(algorithm, digest)| {
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        digest.len() == length
            && digest
                .chars()
                .all(|character| character.is_ascii_hexdigit())
    });
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(RequirementsError::InvalidHash {
            file: context.file(),
            line: context.number,
            value: value.to_owned(),
        })
    }
}

/// What a requirement line names.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A package from the index, in canonical form.
    Named { name: String, line: String },
    /// `name @ url`.
    DirectUrl { name: String, url: String },
    /// A bare path or URL without a name.
    Location { local: bool },
}

fn is_local_url(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("file:")
}

/// Has a URL scheme like `https:` or `git+ssh:` (a Windows drive letter is not one).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    if !rest.starts_with("//") && !scheme.eq_ignore_ascii_case("file") {
        return None;
    }
    let mut characters = scheme.chars();
    let starts_with_letter = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic());
    (starts_with_letter
        && scheme.len() > 1
        && characters
            .all(|character| character.is_ascii_alphanumeric() || "+.-".contains(character)))
    .then_some(scheme)
}

fn looks_like_path(text: &str) -> bool {
    text.starts_with(['.', '/', '~']) || text.contains(['/', '\\']) || looks_like_archive(text)
}

/// A file name pip would install as a local archive (`pkg-1.0.tar.gz`, `pkg-1.0-py3-none-any.whl`).
fn looks_like_archive(text: &str) -> bool {
    const ARCHIVES: [&str; 6] = [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar"];
    let location = text
        .split([' ', ';'])
        .next()
        .unwrap_or(text)
        .to_ascii_lowercase();
    ARCHIVES.iter().any(|suffix| location.ends_with(suffix))
}

/// Parses one PEP 508 requirement (or recognises a path or URL).
fn parse_requirement(text: &str) -> Result<Parsed, String> {
    if let Some(scheme) = url_scheme(text) {
        return Ok(Parsed::Location {
            local: scheme.eq_ignore_ascii_case("file"),
        });
    }
    if looks_like_archive(text) {
        return Ok(Parsed::Location { local: true });
    }
    let mut cursor = Cursor::new(text);
    let name = cursor
        .take_while(|character| character.is_ascii_alphanumeric() || "._-".contains(character));
    if !is_valid_name(name) {
        if looks_like_path(text) {
            return Ok(Parsed::Location { local: true });
        }
        return Err(if name.is_empty() {
            "it must start with a package name".to_owned()
        } else {
            format!(
                "`{name}` is not a valid package name (letters, digits, `.`, `_` and `-`, starting and ending with a letter or digit)"
            )
        });
    }
    let name = normalise_name(name);
    cursor.skip_spaces();
    let mut extras = Vec::new();
    if cursor.eat('[') {
        loop {
            cursor.skip_spaces();
            if cursor.eat(']') {
                break;
            }
            let extra = cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "._-".contains(character)
            });
            if !is_valid_name(extra) {
                return Err("extras must be names separated by commas, like [plot,io]".to_owned());
            }
            extras.push(normalise_name(extra));
            cursor.skip_spaces();
            if cursor.eat(',') {
                continue;
            }
            if cursor.eat(']') {
                break;
            }
            return Err("extras must be names separated by commas and closed with ]".to_owned());
        }
        extras.sort();
        extras.dedup();
        cursor.skip_spaces();
    }
    if cursor.eat('@') {
        cursor.skip_spaces();
        let url = cursor.rest().split(" ;").next().unwrap_or_default().trim();
        if url_scheme(url).is_none() {
            return Err("after @ must come a URL".to_owned());
        }
        return Ok(Parsed::DirectUrl {
            name,
            url: url.to_owned(),
        });
    }
    let specifiers = parse_specifiers(&mut cursor)?;
    cursor.skip_spaces();
    let marker = if cursor.eat(';') {
        Some(parse_marker(cursor.rest())?)
    } else if cursor.rest().is_empty() {
        None
    } else {
        return Err(format!(
            "unexpected `{}` (a version needs an operator, like ==1.0 or >=1.0)",
            cursor.rest()
        ));
    };
    let mut line = name.clone();
    if !extras.is_empty() {
        let _ = write!(line, "[{}]", extras.join(","));
    }
    line.push_str(&specifiers.join(","));
    if let Some(marker) = marker {
        let _ = write!(line, "; {marker}");
    }
    Ok(Parsed::Named { name, line })
}

/// `>=1.0, <2` or `(>=1.0,<2)`, each specifier without spaces, sorted like `packaging` does.
fn parse_specifiers(cursor: &mut Cursor<'_>) -> Result<Vec<String>, String> {
    const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];
    let parenthesised = cursor.eat('(');
    let mut specifiers = Vec::new();
    loop {
        cursor.skip_spaces();
        let Some(operator) = OPERATORS
            .iter()
            .find(|operator| cursor.rest().starts_with(**operator))
        else {
            break;
        };
        cursor.advance(operator.len());
        cursor.skip_spaces();
        let version = if *operator == "===" {
            cursor.take_while(|character| !character.is_whitespace() && !",;)".contains(character))
        } else {
            cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "._*+!-".contains(character)
            })
        };
        check_version(operator, version)?;
        specifiers.push(format!("{operator}{version}"));
        cursor.skip_spaces();
        if !cursor.eat(',') {
            break;
        }
    }
    if parenthesised {
        cursor.skip_spaces();
        if !cursor.eat(')') {
            return Err("a ( before the versions needs a closing )".to_owned());
        }
    }
    specifiers.sort();
    specifiers.dedup();
    Ok(specifiers)
}

fn check_version(operator: &str, version: &str) -> Result<(), String> {
    if version.is_empty() {
        return Err(format!("`{operator}` must be followed by a version"));
    }
    if operator == "===" {
        return Ok(());
    }
    let wildcard = version.find('*');
    if let Some(position) = wildcard {
        let prefix_match = matches!(operator, "==" | "!=")
            && version.ends_with(".*")
            && position == version.len() - 1;
        if !prefix_match {
            return Err(format!(
                "`{operator}{version}`: a * is only allowed at the end, as .*, after == or !="
            ));
        }
    }
    if version.contains('+') && !matches!(operator, "==" | "!=") {
        return Err(format!(
            "`{operator}{version}`: a local version (+...) is only allowed after == or !="
        ));
    }
    if operator == "~=" && !version.contains('.') {
        return Err(format!(
            "`~={version}` needs at least two version parts, like ~=1.4"
        ));
    }
    if !version.starts_with(|character: char| character.is_ascii_digit() || character == 'v') {
        return Err(format!("`{version}` is not a version"));
    }
    Ok(())
}

/// PEP 508 names: letters and digits, with `.`, `_`, `-` inside.
fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(byte))
}

/// PEP 503: lowercase, each run of `-`, `_`, `.` becomes one `-`.
pub fn normalise_name(name: &str) -> String {
    let mut normalised = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for character in name.chars() {
        if "-_.".contains(character) {
            if !in_separator_run {
                normalised.push('-');
            }
            in_separator_run = true;
        } else {
            normalised.push(character.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    normalised
}

struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, position: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn advance(&mut self, bytes: usize) {
        self.position += bytes;
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.rest().starts_with(expected) {
            self.position += expected.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let length = rest
            .find(|character| !keep(character))
            .unwrap_or(rest.len());
        self.position += length;
        &rest[..length]
    }
}

/// Parentheses nested deeper than this in a marker are refused (no real marker comes close).
const MAX_MARKER_DEPTH: usize = 16;

const MARKER_VARIABLES: [&str; 12] = [
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum MarkerToken {
    Open,
    Close,
    Variable(String),
    Text(String),
    Operator(&'static str),
    And,
    Or,
}

fn tokenise_marker(text: &str) -> Result<Vec<MarkerToken>, String> {
    const OPERATORS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];
    let mut cursor = Cursor::new(text);
    let mut tokens = Vec::new();
    loop {
        cursor.skip_spaces();
        let rest = cursor.rest();
        let Some(first) = rest.chars().next() else {
            return Ok(tokens);
        };
        if cursor.eat('(') {
            tokens.push(MarkerToken::Open);
        } else if cursor.eat(')') {
            tokens.push(MarkerToken::Close);
        } else if first == '"' || first == '\'' {
            cursor.advance(1);
            let content = cursor.take_while(|character| character != first);
            if !cursor.eat(first) {
                return Err(format!("the marker has an unclosed quote {first}"));
            }
            tokens.push(MarkerToken::Text(content.to_owned()));
        } else if let Some(operator) = OPERATORS
            .iter()
            .find(|operator| rest.starts_with(**operator))
        {
            cursor.advance(operator.len());
            tokens.push(MarkerToken::Operator(operator));
        } else if first.is_ascii_alphabetic() || first == '_' {
            let word = cursor.take_while(|character| {
                character.is_ascii_alphanumeric() || "_.".contains(character)
            });
            tokens.push(match word {
                "and" => MarkerToken::And,
                "or" => MarkerToken::Or,
                "in" => MarkerToken::Operator("in"),
                "not" => {
                    cursor.skip_spaces();
                    let next = cursor.take_while(|character| character.is_ascii_alphabetic());
                    if next != "in" {
                        return Err("`not` in a marker must be followed by `in`".to_owned());
                    }
                    MarkerToken::Operator("not in")
                }
                variable if MARKER_VARIABLES.contains(&variable) => {
                    MarkerToken::Variable(variable.to_owned())
                }
                other => {
                    return Err(format!(
                        "`{other}` is not a marker variable (like python_version or sys_platform)"
                    ));
                }
            });
        } else {
            return Err(format!("unexpected `{first}` in the marker"));
        }
    }
}

/// Parses a PEP 508 marker and writes it back with single spaces and double quotes.
fn parse_marker(text: &str) -> Result<String, String> {
    let tokens = tokenise_marker(text)?;
    if tokens.is_empty() {
        return Err("a ; must be followed by a marker, like python_version >= \"3.10\"".to_owned());
    }
    let mut parser = MarkerParser {
        tokens: &tokens,
        position: 0,
    };
    let rendered = parser.or_expression(0)?;
    if parser.position != tokens.len() {
        return Err("the marker has extra text at its end".to_owned());
    }
    Ok(rendered)
}

struct MarkerParser<'a> {
    tokens: &'a [MarkerToken],
    position: usize,
}

impl MarkerParser<'_> {
    fn next(&mut self) -> Option<&MarkerToken> {
        let token = self.tokens.get(self.position);
        self.position += 1;
        token
    }

    fn peek(&self) -> Option<&MarkerToken> {
        self.tokens.get(self.position)
    }

    fn or_expression(&mut self, depth: usize) -> Result<String, String> {
        let mut rendered = self.and_expression(depth)?;
        while self.peek() == Some(&MarkerToken::Or) {
            self.position += 1;
            let right = self.and_expression(depth)?;
            let _ = write!(rendered, " or {right}");
        }
        Ok(rendered)
    }

    fn and_expression(&mut self, depth: usize) -> Result<String, String> {
        let mut rendered = self.comparison(depth)?;
        while self.peek() == Some(&MarkerToken::And) {
            self.position += 1;
            let right = self.comparison(depth)?;
            let _ = write!(rendered, " and {right}");
        }
        Ok(rendered)
    }

    fn comparison(&mut self, depth: usize) -> Result<String, String> {
        if self.peek() == Some(&MarkerToken::Open) {
            if depth >= MAX_MARKER_DEPTH {
                return Err(format!(
                    "the marker nests parentheses more than {MAX_MARKER_DEPTH} deep"
                ));
            }
            self.position += 1;
            let inner = self.or_expression(depth + 1)?;
            if self.next() != Some(&MarkerToken::Close) {
                return Err("the marker has a ( without its )".to_owned());
            }
            return Ok(format!("({inner})"));
        }
        let left = self.value()?;
        let Some(MarkerToken::Operator(operator)) = self.next() else {
            return Err(
                "a marker compares a variable with a value, like python_version >= \"3.10\""
                    .to_owned(),
            );
        };
        let operator = *operator;
        let right = self.value()?;
        Ok(format!("{left} {operator} {right}"))
    }

    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(MarkerToken::Variable(variable)) => Ok(variable.clone()),
            Some(MarkerToken::Text(text)) if text.contains('"') => Ok(format!("'{text}'")),
            Some(MarkerToken::Text(text)) => Ok(format!("\"{text}\"")),
            _ => Err(
                "a marker compares a variable with a value, like python_version >= \"3.10\""
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_root(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/requirements")
            .join(name)
    }

    /// Parses `text` as `requirements.txt` in a fresh package folder.
    fn parse_text(text: &str, config: &PackagingConfig) -> Result<Requirements, RequirementsError> {
        let folder = tempfile::tempdir().unwrap();
        fs::write(folder.path().join("requirements.txt"), text).unwrap();
        parse_requirements(folder.path(), Path::new("requirements.txt"), config)
    }

    fn refusal(text: &str) -> String {
        parse_text(text, &PackagingConfig::default())
            .expect_err("expected the requirements to be refused")
            .to_string()
    }

    fn lines(requirements: &[Requirement]) -> Vec<&str> {
        requirements
            .iter()
            .map(|requirement| requirement.line.as_str())
            .collect()
    }

    #[test]
    fn reads_a_real_requirements_tree_like_pip() {
        let requirements = parse_requirements(
            &fixture_root("valid"),
            Path::new("requirements.txt"),
            &PackagingConfig::default(),
        )
        .unwrap();
        assert_eq!(
            lines(&requirements.entries),
            [
                "numpy<3,>=1.26",
                "astropy[all,recommended]==6.1.*",
                "matplotlib==3.9.2",
                "scikit-learn; python_version >= \"3.10\" and (sys_platform == \"linux\" or \
                 sys_platform == \"darwin\")",
                "zope-interface~=6.0",
                "requests",
                "numpy<3,>=1.26",
            ]
        );
        assert_eq!(lines(&requirements.constraints), ["urllib3<3"]);
        let matplotlib = &requirements.entries[2];
        assert_eq!(matplotlib.name, "matplotlib");
        assert_eq!(matplotlib.line_number, 4);
        assert_eq!(matplotlib.file, Path::new("requirements.txt"));
        assert_eq!(
            matplotlib.hashes,
            ["sha256:e4ddbc38e1a7c5e7b9cd3b6ae7e8a6c06e5f2b5de7bb1c1c4b1e2a3f4d5e6f70"]
        );
        let scikit = &requirements.entries[3];
        assert_eq!(
            (scikit.name.as_str(), scikit.line_number),
            ("scikit-learn", 8)
        );
        let requests = &requirements.entries[5];
        assert_eq!(requests.file, Path::new("shared.txt"));
        assert_eq!(requirements.entries[4].file, Path::new("extra/more.txt"));
    }

    #[test]
    fn normalised_text_is_canonical_and_deduplicated() {
        let requirements = parse_requirements(
            &fixture_root("valid"),
            Path::new("requirements.txt"),
            &PackagingConfig::default(),
        )
        .unwrap();
        let normalised = requirements.normalised();
        assert_eq!(normalised.matches("numpy").count(), 1, "{normalised}");
        assert!(normalised.starts_with("numpy<3,>=1.26\nastropy[all,recommended]==6.1.*\n"));
        assert_eq!(requirements.normalised_constraints(), "urllib3<3\n");
        let reordered = parse_text(
            "NumPy <3,>= 1.26\nastropy [all, recommended] == 6.1.*\n",
            &PackagingConfig::default(),
        )
        .unwrap();
        assert_eq!(
            reordered.normalised(),
            "numpy<3,>=1.26\nastropy[all,recommended]==6.1.*\n"
        );
    }

    #[test]
    fn names_are_normalised_per_pep_503() {
        assert_eq!(normalise_name("Zope.Interface"), "zope-interface");
        assert_eq!(normalise_name("a__b-.-c"), "a-b-c");
        assert_eq!(normalise_name("NumPy"), "numpy");
    }

    #[test]
    fn refuses_index_options_naming_file_line_and_fix() {
        for line in [
            "-i https://mirror.example/simple",
            "--index-url=https://mirror.example/simple",
            "--extra-index-url https://evil.example/simple",
            "--trusted-host evil.example",
            "-f ./wheels",
            "--find-links=https://evil.example/wheels",
            "--no-index",
        ] {
            let message = refusal(&format!("numpy\n{line}\n"));
            assert!(message.starts_with("requirements.txt:2: `-"), "{message}");
            assert!(
                message.contains("installed from the configured package index only"),
                "{message}"
            );
            assert!(message.contains("allow_index_options"), "{message}");
        }
    }

    #[test]
    fn index_options_pass_when_allowed_and_lead_the_normalised_text() {
        let config = PackagingConfig {
            allow_index_options: true,
            ..PackagingConfig::default()
        };
        let requirements = parse_text(
            "-i https://mirror.example/simple\n--no-index\nnumpy\n--find-links=./wheels\n",
            &config,
        )
        .unwrap();
        assert_eq!(
            requirements.index_options,
            [
                "--index-url https://mirror.example/simple",
                "--no-index",
                "--find-links ./wheels"
            ]
        );
        assert_eq!(
            requirements.normalised(),
            "--index-url https://mirror.example/simple\n--no-index\n--find-links ./wheels\nnumpy\n"
        );
        let error = parse_text("numpy --index-url https://x.example\n", &config).unwrap_err();
        assert!(
            error.to_string().contains("must be alone on its line"),
            "{error}"
        );
    }

    #[test]
    fn refuses_local_sources_explaining_packages_come_from_the_index() {
        let cases = [
            ("-e ./mypackage", "editable install"),
            (
                "--editable=git+https://github.com/a/b#egg=b",
                "editable install",
            ),
            ("./mypackage", "installs from a local path"),
            ("../sibling", "installs from a local path"),
            (
                "/opt/wheels/pkg-1.0-py3-none-any.whl",
                "installs from a local path",
            ),
            ("pkg-1.0.tar.gz", "installs from a local path"),
            ("file:///opt/pkg", "installs from a local path"),
            ("pkg @ file:///opt/pkg", "installs from a local path"),
            (
                "pkg @ https://example.org/pkg-1.0.tar.gz",
                "installs from a direct URL",
            ),
            (
                "git+https://github.com/a/b.git",
                "installs from a direct URL",
            ),
        ];
        for (line, expected) in cases {
            let message = refusal(&format!("{line}\n"));
            assert!(message.starts_with("requirements.txt:1: `"), "{message}");
            assert!(message.contains(expected), "{line}: {message}");
            assert!(
                message.contains("must come from the package index"),
                "{message}"
            );
        }
    }

    #[test]
    fn local_sources_pass_when_allowed() {
        let config = PackagingConfig {
            allow_local_paths: true,
            ..PackagingConfig::default()
        };
        let requirements = parse_text(
            "-e ./mypackage\nPkg @ https://example.org/pkg.tar.gz\ngit+https://h/x.git#egg=Some_Tool\n",
            &config,
        )
        .unwrap();
        let names: Vec<&str> = requirements
            .entries
            .iter()
            .map(|requirement| requirement.name.as_str())
            .collect();
        assert_eq!(names, ["./mypackage", "pkg", "some-tool"]);
        assert_eq!(requirements.entries[0].line, "-e ./mypackage");
    }

    #[test]
    fn refuses_unknown_and_unsupported_options() {
        let message = refusal("numpy --frobnicate\n");
        assert_eq!(
            message,
            "requirements.txt:1: `--frobnicate` is not an option of requirements files; check its \
             spelling or remove it"
        );
        let message = refusal("--pre\n");
        assert!(
            message.contains("`--pre` is not supported here"),
            "{message}"
        );
        let message = refusal("-x\n");
        assert!(message.contains("`-x` is not an option"), "{message}");
    }

    #[test]
    fn refuses_invalid_requirements_with_the_reason() {
        let cases = [
            ("numpy 1.0", "unexpected `1.0`"),
            ("-numpy", "not an option"),
            ("num$py", "unexpected `$py`"),
            ("_private", "`_private` is not a valid package name"),
            ("[plot]", "must start with a package name"),
            ("numpy[plot", "closed with ]"),
            ("numpy>=", "must be followed by a version"),
            ("numpy>=1.*", "a * is only allowed"),
            ("numpy~=1", "at least two version parts"),
            (
                "numpy; python_version >",
                "compares a variable with a value",
            ),
            (
                "numpy; os.name == 'nt'",
                "`os.name` is not a marker variable",
            ),
            ("numpy; python_version == '3", "unclosed quote"),
        ];
        for (line, expected) in cases {
            let message = refusal(&format!("\n{line}\n"));
            assert!(message.starts_with("requirements.txt:2: "), "{message}");
            assert!(message.contains(expected), "{line}: {message}");
        }
    }

    #[test]
    fn refuses_deeply_nested_markers() {
        let marker = format!("{}python_version > '3'{}", "(".repeat(40), ")".repeat(40));
        let message = refusal(&format!("numpy; {marker}\n"));
        assert!(message.contains("more than 16 deep"), "{message}");
    }

    #[test]
    fn checks_hashes() {
        let message = refusal("numpy==1.0 --hash=md5:abc\n");
        assert!(
            message.contains("`md5:abc` is not a valid hash"),
            "{message}"
        );
        let message = refusal("--hash=sha256:00\n");
        assert!(message.contains("is not a valid hash"), "{message}");
        let message = refusal(&format!("--hash=sha256:{}\n", "a".repeat(64)));
        assert!(
            message.contains("--hash must follow a requirement"),
            "{message}"
        );
        let message = refusal("numpy --hash\n");
        assert!(message.contains("`--hash` needs a value"), "{message}");
    }

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

    #[test]
    fn refuses_a_requirements_file_outside_the_package() {
        let folder = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("r.txt"), "numpy\n").unwrap();
        let error = parse_requirements(
            folder.path(),
            &outside.path().join("r.txt"),
            &PackagingConfig::default(),
        )
        .unwrap_err();
        assert!(
            matches!(error, RequirementsError::OutsidePackage { .. }),
            "{error}"
        );
    }
}

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
use std::path::{Path, PathBuf};

use super::PackagingConfig;
use super::error::RequirementsError;

mod cursor;
mod markers;
mod options;
mod pep508;
mod reader;

pub use pep508::normalise_name;

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
    reader::read_with_includes(root, &relative, config)
}

/// Reads requirement lines written inside another file (an `environment.yml`'s `pip:` section),
/// each with its line number there, exactly as lines of a requirements file: the same policing,
/// and includes (`-r requirements.txt`) resolved next to `file`.
pub fn parse_requirement_lines(
    package_root: &Path,
    file: &Path,
    lines: &[(usize, String)],
    config: &PackagingConfig,
) -> Result<Requirements, RequirementsError> {
    let root = package_root
        .canonicalize()
        .map_err(|source| RequirementsError::Read {
            file: package_root.to_path_buf(),
            source,
        })?;
    reader::read_lines(root, file, lines, config)
}

/// One requirement written as text (a translated conda dependency), as `(normalised name,
/// canonical line)`, or why it is not a valid PEP 508 requirement of a named package.
pub fn canonical_requirement(text: &str) -> Result<(String, String), String> {
    match pep508::parse_requirement(text)? {
        pep508::Parsed::Named { name, line } => Ok((name, line)),
        pep508::Parsed::DirectUrl { .. } | pep508::Parsed::Location { .. } => {
            Err("it must name a package, not a path or URL".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    pub(super) fn fixture_root(name: &str) -> PathBuf {
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

    pub(super) fn refusal(text: &str) -> String {
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

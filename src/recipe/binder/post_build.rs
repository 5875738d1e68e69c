//! `postBuild`: the author's set-up script, run once at build time.
//!
//! repo2docker runs it from the repository's folder with the repository's files present, after
//! the environment is installed; labforge does the same: it runs after the content is copied, as
//! the datalab user (uid 1000), in `/home/datalab/<name>`, so a script that reads or writes the
//! repository's files works as on Binder. The price is that a content change runs it again (as it
//! does on Binder); the Python layers before it stay cached.
//!
//! The script reaches the build as a bind mount (never stored twice) and is run by the interpreter
//! of its `#!` line, which must be a plain path with at most one plain argument
//! (`#!/bin/bash`, `#!/usr/bin/env python3`), since that line is written into the Dockerfile. A
//! script without `#!` is run by `/bin/sh`, as it is on Binder (where the shell runs a script the
//! kernel cannot). Windows line endings are refused (`#!/bin/bash\r` fails on Linux with a
//! puzzling "bad interpreter"), as are binary files and files larger than
//! [`super::MAX_BINDER_FILE_BYTES`]. hadolint checks the Dockerfile's own `RUN` lines only, so a
//! shell script is linted with shellcheck ([`crate::recipe::lint::shellcheck_script`]): its findings
//! go to the build log, and a script shellcheck cannot parse fails the build before anything is
//! installed (it could not run either).

use std::path::{Path, PathBuf};

use crate::recipe::error::BinderError;

/// A checked `postBuild` and how to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBuild {
    /// Where it is in the repository.
    pub file: PathBuf,
    pub script: String,
    /// The interpreter and its argument, from the `#!` line (`/bin/sh` without one).
    pub interpreter: Vec<String>,
    /// True when there was no `#!` line.
    pub implicit_shell: bool,
}

impl PostBuild {
    /// The shell that runs it, for shellcheck's `--shell` (`None` for another interpreter, such as
    /// Python).
    pub fn shell(&self) -> Option<&'static str> {
        let program = match self.interpreter.as_slice() {
            [env, program] if env.ends_with("/env") => program.as_str(),
            [program, ..] => program.rsplit('/').next().unwrap_or(program),
            [] => return None,
        };
        ["sh", "bash", "dash", "ksh"]
            .into_iter()
            .find(|shell| *shell == program)
    }
}

/// Checks `text`, the `postBuild` at `file`.
pub fn check_post_build(text: &str, file: &Path) -> Result<PostBuild, BinderError> {
    let refuse = |reason: &str| BinderError::PostBuild {
        file: file.to_path_buf(),
        reason: reason.to_owned(),
    };
    if text.contains('\0') {
        return Err(refuse(
            "it is a binary file; postBuild must be a script (a shell script, or one with a `#!` \
             line naming its interpreter)",
        ));
    }
    if text.contains("\r\n") {
        return Err(refuse(
            "it has Windows line endings (CR LF), which Linux shells do not read; save it with \
             Unix line endings (LF)",
        ));
    }
    if text.trim().is_empty() {
        return Err(refuse(
            "it is empty; remove it or write the set-up steps into it",
        ));
    }
    let Some(shebang) = text.lines().next().and_then(|line| line.strip_prefix("#!")) else {
        return Ok(PostBuild {
            file: file.to_path_buf(),
            script: text.to_owned(),
            interpreter: vec!["/bin/sh".to_owned()],
            implicit_shell: true,
        });
    };
    let interpreter: Vec<String> = shebang.split_whitespace().map(str::to_owned).collect();
    let plain = |word: &String| {
        !word.is_empty()
            && word
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"/._+-".contains(&byte))
    };
    if interpreter.is_empty()
        || interpreter.len() > 2
        || !interpreter[0].starts_with('/')
        || !interpreter.iter().all(plain)
    {
        return Err(refuse(
            "its `#!` line must name an interpreter by its absolute path, with at most one \
             argument, like `#!/bin/bash` or `#!/usr/bin/env python3`",
        ));
    }
    Ok(PostBuild {
        file: file.to_path_buf(),
        script: text.to_owned(),
        interpreter,
        implicit_shell: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<PostBuild, String> {
        check_post_build(text, Path::new("binder/postBuild")).map_err(|error| error.to_string())
    }

    #[test]
    fn the_interpreter_comes_from_the_shebang_or_is_the_shell() {
        assert_eq!(
            check("#!/bin/bash -e\necho hi\n").unwrap().interpreter,
            ["/bin/bash", "-e"]
        );
        assert_eq!(
            check("#!/usr/bin/env python3\nprint(1)\n")
                .unwrap()
                .interpreter,
            ["/usr/bin/env", "python3"]
        );
        let implicit = check("jupyter labextension list\n").unwrap();
        assert_eq!(implicit.interpreter, ["/bin/sh"]);
        assert!(implicit.implicit_shell);
        assert_eq!(implicit.shell(), Some("sh"));
        assert_eq!(
            check("#!/bin/bash -e\ntrue\n").unwrap().shell(),
            Some("bash")
        );
        assert_eq!(
            check("#!/usr/bin/env bash\ntrue\n").unwrap().shell(),
            Some("bash")
        );
        assert_eq!(
            check("#!/usr/bin/env python3\npass\n").unwrap().shell(),
            None
        );
    }

    #[test]
    fn unusable_scripts_are_refused_naming_the_file() {
        for (text, expected) in [
            ("#!/bin/bash\r\necho hi\r\n", "Windows line endings"),
            ("\u{7f}ELF\0\0", "binary file"),
            ("\n\n", "it is empty"),
            ("#!bash\necho\n", "absolute path"),
            ("#!/usr/bin/env -S bash -e\necho\n", "at most one argument"),
            ("#!/bin/sh;rm -rf /\n", "`#!` line must name"),
            ("#!/bin/sh $(id)\n", "`#!` line must name"),
            ("#!\necho\n", "`#!` line must name"),
        ] {
            let message = check(text).unwrap_err();
            assert!(
                message.starts_with("binder/postBuild cannot be run: "),
                "{message}"
            );
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }
}

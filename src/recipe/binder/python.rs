//! Python version pins (`python=3.10` in `environment.yml`, `python-3.10` in `runtime.txt`)
//! checked against the bases' Python, which a datalab cannot change.
//!
//! Pins are compared on major.minor: the patch level is Debian's to choose, and authors who write
//! `python=3.11.4` mean "3.11". A pin that 3.11 does not satisfy is refused, saying which Python the
//! bases have.

use std::cmp::Ordering;
use std::path::Path;

use crate::recipe::base::{BASE_PYTHON, base_python_description};
use crate::recipe::error::BinderError;

/// Whether the bases' Python satisfies every PEP 440 specifier of `specifiers` (like `>=3.8`,
/// `==3.11.*`, `<3.12`), compared on major.minor. `Err` says why a specifier cannot be read.
pub fn satisfies(specifiers: &[String]) -> Result<bool, String> {
    let (major, minor, _) = BASE_PYTHON;
    let base = [major, minor];
    for specifier in specifiers {
        let operator_length = specifier
            .find(|character: char| character.is_ascii_digit())
            .ok_or_else(|| format!("`{specifier}` has no version"))?;
        let (operator, version) = specifier.split_at(operator_length);
        let version = version.strip_suffix(".*").unwrap_or(version);
        let mut parts = version
            .split('.')
            .map(|part| {
                part.parse::<u32>()
                    .map_err(|_| format!("`{specifier}` is not a Python version"))
            })
            .collect::<Result<Vec<u32>, String>>()?;
        parts.resize(2, 0);
        let wanted = [parts[0], parts[1]];
        let order = base.cmp(&wanted);
        let holds = match operator {
            "~=" => order != Ordering::Less && base[0] == wanted[0],
            "==" | "===" => {
                // `==3` and `==3.*` pin the major version only.
                if version.contains('.') {
                    order == Ordering::Equal
                } else {
                    base[0] == wanted[0]
                }
            }
            "!=" => order != Ordering::Equal,
            ">=" => order != Ordering::Less,
            "<=" => order != Ordering::Greater,
            ">" => order == Ordering::Greater,
            "<" => order == Ordering::Less,
            _ => return Err(format!("`{specifier}` has an unknown operator")),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `runtime.txt`: `python-3.X` (or `python-3.X.Y`, or `python-3`) checked against the bases'
/// Python; R runtimes (`r-4.3-2024-01-10`, `r-2024-01-10`) are not supported.
pub fn check_runtime_txt(text: &str, file: &Path) -> Result<(), BinderError> {
    let runtime = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .unwrap_or_default();
    if runtime.starts_with("r-") {
        return Err(BinderError::RuntimeR {
            file: file.to_path_buf(),
            text: runtime.to_owned(),
        });
    }
    let version = runtime
        .strip_prefix("python-")
        .filter(|version| {
            !version.is_empty()
                && version.split('.').count() <= 3
                && version
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
        })
        .ok_or_else(|| BinderError::RuntimeFormat {
            file: file.to_path_buf(),
            text: runtime.to_owned(),
        })?;
    let specifier = if version.contains('.') {
        format!(
            "=={}.*",
            version.split('.').take(2).collect::<Vec<_>>().join(".")
        )
    } else {
        format!("=={version}")
    };
    match satisfies(&[specifier]) {
        Ok(true) => Ok(()),
        _ => Err(BinderError::RuntimeMismatch {
            file: file.to_path_buf(),
            text: runtime.to_owned(),
            base_python: base_python_description(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(specifiers: &[&str]) -> bool {
        let specifiers: Vec<String> = specifiers.iter().map(|text| (*text).to_owned()).collect();
        satisfies(&specifiers).unwrap()
    }

    #[test]
    fn pins_are_compared_with_python_3_11_on_major_and_minor() {
        assert!(holds(&[]));
        assert!(holds(&["==3.11.*"]));
        assert!(holds(&["==3.11"]));
        assert!(holds(&["==3.11.9"]), "the patch level is Debian's");
        assert!(holds(&["==3"]));
        assert!(holds(&[">=3.8", "<3.13"]));
        assert!(holds(&["~=3.9"]));
        assert!(holds(&["!=3.10"]));
        assert!(!holds(&["==3.10.*"]));
        assert!(!holds(&[">=3.12"]));
        assert!(!holds(&["<3.11"]));
        assert!(!holds(&[">3.11"]));
        assert!(!holds(&["==2.7"]));
        assert!(!holds(&["~=3.12"]));
        assert!(satisfies(&["==three".to_owned()]).is_err());
    }

    #[test]
    fn runtime_txt_is_checked_against_the_base() {
        let file = Path::new("runtime.txt");
        assert!(check_runtime_txt("python-3.11\n", file).is_ok());
        assert!(check_runtime_txt("python-3.11.4", file).is_ok());
        assert!(check_runtime_txt("# which\npython-3\n", file).is_ok());
        let message = check_runtime_txt("python-3.9\n", file)
            .unwrap_err()
            .to_string();
        assert!(
            message
                .starts_with("runtime.txt: `python-3.9` asks for another Python than the bases'")
                && message.contains("Python 3.11 (3.11.2, Debian bookworm's python3)")
                && message.contains("python-3.11"),
            "{message}"
        );
        let message = check_runtime_txt("r-4.3-2024-01-10\n", file)
            .unwrap_err()
            .to_string();
        assert!(message.contains("R is not supported"), "{message}");
        for wrong in ["python3.11", "python-3.x", "python-", "3.11", ""] {
            let message = check_runtime_txt(wrong, file).unwrap_err().to_string();
            assert!(
                message.contains("write `python-3.11`"),
                "{wrong}: {message}"
            );
        }
    }
}

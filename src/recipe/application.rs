//! How a desktop datalab's image carries its application: labforge writes the application from
//! metadata.yaml as JSON into the build context and copies it to [`APPLICATION_FILE`], which
//! `x_base`'s `datalab-application` reads when the desktop starts (menu, launchers, window rules,
//! autostart). The command stays a JSON list of words from metadata.yaml to the `exec` in the
//! image: nothing on the way is a shell line, so no value an author writes is ever interpreted.

use serde_json::json;

use super::generate::CONTEXT_DIR;
use crate::metadata::DesktopApplication;

/// Where `x_base` looks for the application (see `base-images/x_base/datalab-application`).
pub const APPLICATION_FILE: &str = "/etc/labforge/application.json";

/// Where the application's output goes in the running datalab; the smoke test shows it when the
/// window never appears.
pub const APPLICATION_LOG: &str = "/tmp/labforge-application.log";

/// The JSON file in the build context and the Dockerfile instruction that installs it.
pub fn application_files(application: &DesktopApplication) -> (String, String) {
    let contents = json!({
        "name": application.name,
        "command": application.command,
        "window": application.window_title(),
        "maximised": application.maximised,
    });
    (
        format!("{CONTEXT_DIR}/application.json"),
        format!("{contents:#}\n"),
    )
}

/// The instruction that puts the application where `x_base` reads it: owned by root (the context
/// file is 0644), so the user cannot change it, whatever `USER` the Dockerfile left in place.
pub fn copy_instruction() -> String {
    format!(
        "# The desktop's application (labforge, from metadata.yaml), read by x_base at start.\n\
         COPY {CONTEXT_DIR}/application.json {APPLICATION_FILE}\n"
    )
}

/// An author's Dockerfile with the application's instruction at the end of its last stage, the
/// one the image is made of.
pub fn append_to_dockerfile(dockerfile: &str) -> String {
    let mut text = dockerfile.to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&copy_instruction());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds9() -> DesktopApplication {
        DesktopApplication {
            name: "SAOImage \"DS9\"".to_owned(),
            command: vec![
                "ds9".to_owned(),
                "$(rm -rf ~)".to_owned(),
                "m31 image.fits; echo".to_owned(),
            ],
            window: None,
            maximised: true,
        }
    }

    #[test]
    fn the_application_file_keeps_every_word_as_written() {
        let (path, contents) = application_files(&ds9());
        assert_eq!(path, ".labforge/application.json");
        let read: serde_json::Value = serde_json::from_str(&contents).unwrap();
        assert_eq!(
            read,
            json!({
                "name": "SAOImage \"DS9\"",
                "command": ["ds9", "$(rm -rf ~)", "m31 image.fits; echo"],
                "window": "SAOImage \"DS9\"",
                "maximised": true,
            })
        );
    }

    #[test]
    fn an_authors_dockerfile_gets_the_copy_at_its_end() {
        let dockerfile = "ARG REGISTRY\nARG X_BASE_VERSION\n\
                          FROM $REGISTRY/datalabs/x_base:$X_BASE_VERSION\nUSER 1000";
        let text = append_to_dockerfile(dockerfile);
        assert!(text.starts_with(dockerfile), "{text}");
        assert!(
            text.ends_with(
                "USER 1000\n# The desktop's application (labforge, from metadata.yaml), read by \
                 x_base at start.\nCOPY .labforge/application.json \
                 /etc/labforge/application.json\n"
            ),
            "{text}"
        );
    }
}

//! The approved base images every datalab builds on.

use std::fmt;

/// The Python every base's virtualenv (`/opt/datalab/venv`) runs: Debian bookworm's `python3`.
/// A datalab cannot change it; a Binder pin of another Python is refused with this version.
pub const BASE_PYTHON: (u32, u32, u32) = (3, 11, 2);

/// How a message names the bases' Python.
pub fn base_python_description() -> String {
    let (major, minor, patch) = BASE_PYTHON;
    format!("Python {major}.{minor} ({major}.{minor}.{patch}, Debian bookworm's python3)")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseImage {
    /// Minimal Debian with the datalab user, folders and entrypoint contract (any web tool).
    DatalabBase,
    /// `datalab_base` + JupyterLab, serving on 8888.
    JlBase,
    /// `datalab_base` + an X desktop served in the browser by noVNC.
    XBase,
}

impl BaseImage {
    pub const ALL: [Self; 3] = [Self::DatalabBase, Self::JlBase, Self::XBase];

    /// Repository name under the registry namespace (`datalabs/jl_base`).
    pub fn image_name(self) -> &'static str {
        match self {
            Self::DatalabBase => "datalab_base",
            Self::JlBase => "jl_base",
            Self::XBase => "x_base",
        }
    }

    /// The build argument that carries this base's version.
    pub fn version_arg(self) -> &'static str {
        match self {
            Self::DatalabBase => "DATALAB_BASE_VERSION",
            Self::JlBase => "JL_BASE_VERSION",
            Self::XBase => "X_BASE_VERSION",
        }
    }

    /// Port the base serves on and the path that answers 200 once it is up.
    pub fn service(self) -> Option<(u16, &'static str)> {
        match self {
            Self::DatalabBase => None,
            Self::JlBase => Some((8888, "/api/status")),
            Self::XBase => Some((6080, "/vnc.html")),
        }
    }
}

impl fmt::Display for BaseImage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.image_name())
    }
}

//! The command line's client of a labforge service: `labforge login`, `push`, `logs`, `submit`,
//! `launch` and `sessions` call the JSON API of a running service, as an author or researcher
//! does from their own machine (the local `labforge build` stays for operators).
//!
//! Modules: `credentials` (the service's address and API token, kept 0600 in the user's
//! configuration folder), `api` (a typed client of the API over reqwest, whose failures say what
//! to do), `event_stream` (Server-Sent Events: build logs, launch progress), `package` (what a
//! push sends: a folder staged under the service's own rules and zipped), `commands` (one
//! function per command), `error` (the one error type and the exit statuses).

mod api;
pub mod commands;
pub mod credentials;
mod error;
mod event_stream;
mod package;

pub use api::ApiClient;
pub use error::{ClientError, ExitStatus, FieldProblem};

/// An API token for `labforge login`, instead of a user name and password (for scripts).
pub const TOKEN_VARIABLE: &str = "LABFORGE_TOKEN";

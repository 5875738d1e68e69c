//! labforge turns scientists' code into published, launchable datalabs.
//!
//! # Map
//!
//! A build flows through the domain modules in this order:
//!
//! ```text
//! sources   git | zip | workspace folder -> private staging folder (limits on bytes, files, time)
//! metadata  metadata.yaml -> validated `Metadata` (JSON Schema in metadata-schema/)
//! recipe    requirements.txt policy, user Dockerfile checks, generated Dockerfile, hadolint
//! buildkit  BuildKit solve (dockerd's built-in BuildKit or a standalone buildkitd), push, progress
//! pipeline  the end-to-end build: hashes, reuse, phase timings, build log, smoke test
//! registry  labforge's own OCI registry (distribution API, content store, access by visibility)
//! catalog   the marketplace (search, facets, stars) and its DCAT-AP / schema.org JSON-LD
//! launcher  what a launch can use: data volumes to mount, datazones to run in
//! sessions  launched datalabs: checks and quotas, Docker and Kubernetes runtimes, the owner-only proxy
//! licences  SPDX expressions -> the audiences they allow, obligations, reasons (data in spdx-licenses/)
//! publishing submissions, the moderators' queue and decisions, lifecycle, the append-only history
//! ```
//!
//! The service around it: `accounts` (users, sessions, API tokens); `datalabs` (datalabs, versions
//! and their sources, uploads, the builds API, build logs, the typed states and the visibility
//! rule); `jobs` (the build queue's workers, which run the pipeline); `storage` holds all SQL;
//! `http` is what every domain's HTTP face shares (the error envelope and its one status mapping,
//! extractors, metrics). Inside a domain: routes -> service -> storage, never back.
//!
//! `ui` serves the built web application (`web/`) at `/`.
//!
//! `app` is the composition root: the only module besides `cli` that reads the whole
//! [`config::Config`]. It hands each domain its own settings (`DatalabSettings`,
//! `PipelineSettings`, `WorkerSettings`, ...), builds `AppState` and the router from the domains'
//! routes (handlers take their one service through axum's `FromRef`, so no domain imports the
//! state or the router), and runs `serve`, `worker` and `registry` with their shutdown and
//! periodic sweeps. `config` composes every domain's settings struct; `cli` is the command line;
//! `client` holds its commands that call a running service over the API (login, push, logs,
//! submit, launch, sessions).
//! Errors are one `thiserror` enum per domain module whose variants carry what a user needs to fix
//! the problem; `anyhow` is used only at the edges (the binary, start-up).

pub mod accounts;
pub mod app;
pub mod base_images;
pub mod build_log;
pub mod buildkit;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod datalabs;
pub mod evidence;
pub mod http;
pub mod images;
pub mod jobs;
pub mod launcher;
pub mod licences;
pub mod metadata;
pub mod passwords;
pub mod pipeline;
pub mod publishing;
pub mod rebase;
pub mod recipe;
pub mod registry;
pub mod rules;
pub mod sessions;
pub mod sources;
pub mod storage;
pub mod ui;

/// Installs ring as rustls' process-wide crypto provider. Every HTTP client (reqwest, oci-client)
/// needs one; ring is chosen over aws-lc-rs to avoid a long C build. Idempotent.
pub fn install_crypto_provider() {
    // Already installed (by this or an earlier call) is fine: there is only ever one.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

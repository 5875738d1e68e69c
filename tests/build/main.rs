//! Building datalabs with the real parts `scripts/test.sh` starts (dockerd's BuildKit, a standalone
//! buildkitd, labforge's registry on loopback, git over smart HTTP): the engines, the pipeline (also
//! through buildkitd), sources, the build queue, a build through the service end to end, and the
//! `labforge` command line (local builds, and as a client of a running service).

#[path = "../common/mod.rs"]
mod common;

mod binder;
mod build_end_to_end;
mod build_queue;
mod buildkit;
mod buildkitd_fleet;
mod checks;
mod cli;
mod cli_client;
mod desktop;
mod evidence;
mod pipeline;
mod rebase;
mod reproducible;
mod sessions;
mod sources;
mod standalone_buildkitd;
mod two_services;

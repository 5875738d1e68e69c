//! labforge's registry against real clients (skopeo, dockerd, podman, Debian's docker-registry),
//! on its own and as served by the service, following its accounts and datalabs.

#[path = "../common/mod.rs"]
mod common;

mod registry;
mod service_registry;

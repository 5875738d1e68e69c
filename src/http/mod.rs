//! What every domain's HTTP face shares: the error envelope and its one mapping from domain
//! errors to statuses ([`error`]), request extractors that speak it ([`extract`]: JSON bodies
//! naming the field at fault, the caller behind a cookie or token), the OpenAPI parts they imply
//! ([`openapi`]), Prometheus metrics and the access log ([`metrics`]), and the server's own
//! settings. The router that assembles the domains'
//! routes lives in the composition root, `crate::app`.

pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use error::ApiError;
pub use extract::{Admin, ApiJson, SignedIn};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address `labforge serve` listens on: the API, the web UI and the registry.
    pub listen: SocketAddr,
    /// The URL users reach the service at, for links in responses and JSON-LD; derived from
    /// `listen` when absent.
    pub public_url: Option<String>,
    /// Largest JSON body accepted.
    pub max_json_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            public_url: None,
            max_json_bytes: 1 << 20,
        }
    }
}

impl ServerConfig {
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

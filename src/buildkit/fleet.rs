//! Several standalone buildkitd engines. A build goes to the engine its environment ranks first by
//! rendezvous (highest-random-weight) hashing, as `BinderHub` routes builds to nodes: the same
//! environment lands on the same engine, where its layers are cached, and adding or losing an
//! engine moves only the environments that ranked it first. An engine that does not answer is
//! skipped with a line in the build log, for the next in that environment's order.

use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use super::{BuildRequest, BuildkitError, BuildkitdEngine, BuiltImage, LayerCompression};
use crate::build_log::{BuildLog, Phase};
use crate::images::Credentials;

#[derive(Debug, Clone)]
pub struct BuildkitdFleet {
    addresses: Vec<String>,
    credentials: Option<Credentials>,
    layer_compression: LayerCompression,
}

impl BuildkitdFleet {
    /// The engines at `addresses` (`tcp://host:port` each), once at least one has answered: a
    /// fleet of wrong addresses is reported when labforge starts. Those that do not answer now
    /// are logged and tried again for every build.
    pub async fn connect(
        addresses: Vec<String>,
        credentials: Option<Credentials>,
    ) -> Result<Self, BuildkitError> {
        let mut answered = false;
        let mut last_error = None;
        for address in &addresses {
            match BuildkitdEngine::connect(address, credentials.clone()).await {
                Ok(_) => answered = true,
                Err(error) => {
                    tracing::warn!(%address, %error, "a buildkitd does not answer; builds skip it until it does");
                    last_error = Some(error);
                }
            }
        }
        match (answered, last_error) {
            (false, Some(error)) => Err(error),
            _ => Ok(Self {
                addresses,
                credentials,
                layer_compression: LayerCompression::default(),
            }),
        }
    }

    #[must_use]
    pub fn with_layer_compression(mut self, compression: LayerCompression) -> Self {
        self.layer_compression = compression;
        self
    }

    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// Builds on the first engine of `request`'s order that answers.
    pub async fn build_and_push(
        &self,
        request: &BuildRequest,
        log: &BuildLog,
        cancel: &CancellationToken,
    ) -> Result<BuiltImage, BuildkitError> {
        let key = request
            .cache_key
            .clone()
            .unwrap_or_else(|| request.image.repository.clone());
        let mut last_error = None;
        for address in rank(&self.addresses, &key) {
            match BuildkitdEngine::connect(address, self.credentials.clone()).await {
                Ok(engine) => {
                    let engine = engine.with_layer_compression(self.layer_compression);
                    if self.addresses.len() > 1 {
                        log.write(Phase::Solve, format!("building on buildkitd {address}"));
                    }
                    return engine.build_and_push(request, log, cancel).await;
                }
                Err(error) => {
                    log.write(
                        Phase::Solve,
                        format!("skipping buildkitd {address}: {error}"),
                    );
                    tracing::warn!(%address, %error, "skipping a buildkitd that does not answer");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or(BuildkitError::BuildkitdUnreachable {
            address: String::new(),
            message: "no buildkitd is configured".to_owned(),
        }))
    }
}

/// `addresses` in the order a build keyed `key` tries them: by the weight SHA-256 gives each
/// address with the key, highest first.
pub fn rank<'a>(addresses: &'a [String], key: &str) -> Vec<&'a str> {
    let weight = |address: &str| {
        let mut hasher = Sha256::new();
        hasher.update(address.as_bytes());
        hasher.update([0]);
        hasher.update(key.as_bytes());
        hasher.finalize()
    };
    let mut ranked: Vec<(_, &str)> = addresses
        .iter()
        .map(|address| (weight(address), address.as_str()))
        .collect();
    ranked.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    ranked.into_iter().map(|(_, address)| address).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(count: usize) -> Vec<String> {
        (0..count)
            .map(|index| format!("tcp://10.0.0.{index}:1234"))
            .collect()
    }

    #[test]
    fn the_same_key_always_goes_to_the_same_engine_and_keys_spread_over_all() {
        let fleet = addresses(4);
        let mut chosen = std::collections::BTreeMap::<&str, usize>::new();
        for key in 0..400 {
            let key = format!("environment-{key}");
            let first = rank(&fleet, &key)[0];
            assert_eq!(first, rank(&fleet, &key)[0]);
            *chosen.entry(first).or_default() += 1;
        }
        assert_eq!(chosen.len(), 4, "{chosen:?}");
        assert!(chosen.values().all(|count| *count > 50), "{chosen:?}");
    }

    #[test]
    fn losing_an_engine_moves_only_the_keys_it_had() {
        let fleet = addresses(4);
        let smaller: Vec<String> = fleet[..3].to_vec();
        for key in 0..200 {
            let key = format!("environment-{key}");
            let before = rank(&fleet, &key)[0];
            let after = rank(&smaller, &key)[0];
            if before == fleet[3] {
                // Its keys go to their second choice, which is the same order without it.
                assert_eq!(after, rank(&fleet, &key)[1]);
            } else {
                assert_eq!(after, before);
            }
        }
    }
}

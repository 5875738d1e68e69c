//! What can go wrong while reading an image for its evidence or attaching the SBOM to it.

/// Why the SBOM or licence report of an image could not be made or attached.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("cannot read {what} of {image} from the registry: {detail}")]
    Registry {
        image: String,
        what: String,
        detail: String,
    },
    #[error("the manifest {reference} of {image} cannot be read as an image: {reason}")]
    ManifestUnreadable {
        image: String,
        reference: String,
        reason: String,
    },
    #[error("layer {digest} of {image} cannot be read as a tar (plain, gzip'd or zstd): {detail}")]
    Layer {
        image: String,
        digest: String,
        detail: String,
    },
    #[error("cannot attach the SBOM to {image} as a referrer: {detail}")]
    Attach { image: String, detail: String },
}

/// Why an image cannot be rebased; each says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    #[error(
        "{image} does not say which base it was built on (no org.labforge.base.name and \
         org.labforge.base.version labels: built before labforge recorded them, or FROM an image \
         that is not a labforge base); rebuild it instead"
    )]
    UnknownBase { image: String },
    #[error("{image} is already on {base} {version}")]
    AlreadyOnBase {
        image: String,
        base: String,
        version: String,
    },
    #[error("the base {image} is not in the registry: build it first (`labforge base-images`)")]
    BaseMissing { image: String },
    #[error(
        "{base} {version} declares the interface \"{offered}\", but {image} was built for \
         \"{built_for}\": its own layers may not work on it, so it must be rebuilt instead"
    )]
    InterfaceMismatch {
        image: String,
        base: String,
        version: String,
        built_for: String,
        offered: String,
    },
    #[error(
        "the lower layers of {image} are not those of {base} (the base's tag was pushed again, or \
         the image was not built on it); rebuild it instead"
    )]
    NotOnItsBase { image: String, base: String },
    #[error("{image} cannot be read: {detail}")]
    Unreadable { image: String, detail: String },
    #[error("the registry could not be asked about {image}: {detail}")]
    Registry { image: String, detail: String },
}

//! Datalab metadata: `metadata.yaml` parsed with positions, validated against the JSON Schema in
//! `metadata-schema/`, and turned into a typed [`Metadata`].

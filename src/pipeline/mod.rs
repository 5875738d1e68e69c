//! The end-to-end build of a datalab.

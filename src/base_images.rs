//! The three base images, built from a Debian root filesystem.

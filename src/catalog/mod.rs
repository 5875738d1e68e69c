//! The marketplace catalogue: what is published, and how it is described to the outside world.

pub mod linked_data;

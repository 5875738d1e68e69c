//! The HTTP API in-process through the real router, each scenario on SQLite and on PostgreSQL
//! (the licence engine, which stores nothing, on SQLite only): who may call what, accounts,
//! datalabs and their builds, the launcher's catalogues, sessions (on a real kube-apiserver for
//! kubernetes datazones), the licence engine, the marketplace, and the catalogue's JSON-LD
//! against the DCAT-AP shapes.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod accounts;
mod datalabs;
mod kubernetes;
mod launcher;
mod licences;
mod linked_data;
mod marketplace;
mod publishing;
mod sessions;

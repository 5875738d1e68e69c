//! The HTTP API in-process through the real router, each scenario on SQLite and on PostgreSQL: who
//! may call what, accounts, datalabs and their builds, the launcher's catalogues, the marketplace,
//! and the catalogue's JSON-LD against the DCAT-AP shapes.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod accounts;
mod datalabs;
mod launcher;
mod linked_data;
mod marketplace;

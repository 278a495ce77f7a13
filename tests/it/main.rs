//! The single integration-test binary. Every test runs against the real Kafka and Schema
//! Registry started by `cargo xtask stack up`, with its own topics and groups.

#[path = "../common/mod.rs"]
mod common;

mod errors;
mod produce;
mod schema;
mod startup;
mod topics;

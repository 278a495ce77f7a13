//! The single integration-test binary. Every test runs against the real Kafka and Schema
//! Registry started by `cargo xtask stack up`, with its own topics and groups.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod balancer;
mod consume;
mod cors;
mod errors;
mod faults;
mod limits;
mod metadata;
mod negotiation;
mod produce;
mod reliability;
mod schema;
mod spec;
mod sse;
mod startup;
mod stateless;
mod topics;

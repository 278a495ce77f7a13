//! The single integration-test binary. Every test runs against the real Kafka and Schema
//! Registry started by `cargo xtask stack up`, with its own topics and groups.

#[path = "../common/mod.rs"]
mod common;

mod access_log;
mod auth;
mod bad_input;
mod balancer;
mod browser;
mod consume;
mod cors;
mod errors;
mod faults;
mod limits;
mod metadata;
mod metrics;
mod negotiation;
mod produce;
mod reliability;
mod schema;
mod secure_kafka;
mod spec;
mod sse;
mod startup;
mod stateless;
mod telemetry;
mod tls;
mod topics;
mod v3_acls;
mod v3_cluster;
mod v3_configs;
mod v3_groups;
mod v3_produce;
mod v3_topics;

//! Placeholder until the v3 administration service lands: the librdkafka admin calls
//! rust-rdkafka does not wrap, the only module allowed `unsafe`.
#![allow(unsafe_code)]

pub mod acls;
pub mod groups;
pub mod offsets;

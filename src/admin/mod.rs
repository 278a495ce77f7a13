//! Placeholder until the v3 administration service lands: the consumer group, lag and ACL
//! services.

pub mod acls;
pub mod ffi;
pub mod groups;
pub mod lags;

//! Alerts: the finding record (OCSF Detection Finding) built from a detector's candidate, and the
//! sinks that deliver it.

pub mod context;
pub mod dedup;
pub mod finding;
pub mod sinks;

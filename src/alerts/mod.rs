//! Alerts: the finding record (OCSF Detection Finding) built from a detector's candidate.

pub mod context;
pub mod dedup;
pub mod finding;

//! bypassd: catches people and non-human identities routing around identity controls.
//!
//! Data flows one way: sources -> decode -> engine (detectors over event-time windows) ->
//! alerts -> output.
//!
//! - [`event`]: the normalised identity event every decoder produces
//! - [`evidence`]: what detectors keep of an event to show in a finding
//! - [`time`]: timestamps and durations in UTC milliseconds
//! - [`network`]: source networks (/24, /64) from addresses
//! - [`context`]: approvals and other context records
//! - [`inventory`]: declared exceptions, break-glass identities, trusted networks
//! - [`decode`]: format detection and one decoder per vendor format
//! - [`enrich`]: the inventory's view of each decoded event (networks, exceptions, break-glass)
//! - [`detect`]: declarative detector specs, their kinds and state
//! - [`engine`]: reorder buffer, watermark, dispatch and suppression
//! - [`alerts`]: the OCSF Detection Finding
//! - [`sources`]: reading inputs (replay of files, directories, globs, stdin, gzip; live tail)
//! - [`telemetry`]: Prometheus metrics and the /metrics, /healthz, /readyz endpoints
//! - [`replay`]: the replay job: sources through decode and engine to findings and a summary

pub mod alerts;
pub mod config;
pub mod context;
pub mod daemon;
pub mod decode;
pub mod detect;
pub mod engine;
pub mod enrich;
pub mod event;
pub mod evidence;
pub mod inventory;
pub mod network;
pub mod replay;
pub mod sources;
pub mod telemetry;
pub mod time;

//! bypassd's own telemetry: the Prometheus metrics (`metrics`) and the HTTP endpoints that serve
//! them with the health checks (`http`).

pub mod http;
pub mod metrics;

pub use metrics::metrics;

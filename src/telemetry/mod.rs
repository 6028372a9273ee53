//! bypassd's own telemetry: the Prometheus metrics (`metrics`) and the HTTP endpoints that serve
//! them with the health checks (`http`).

pub mod http;
pub mod metrics;

pub use metrics::metrics;

/// librdkafka's log lines (consumer and producer clients) through tracing, by level.
pub fn librdkafka_log(level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(target: "librdkafka", "{fac}: {msg}")
        }
        L::Warning => tracing::warn!(target: "librdkafka", "{fac}: {msg}"),
        _ => tracing::debug!(target: "librdkafka", "{fac}: {msg}"),
    }
}

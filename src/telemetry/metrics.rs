//! Every Prometheus metric bypassd exports, defined in one place.
//!
//! Names follow `bypassd_<subsystem>_<name>_<unit>` (`_total` for counters); labels are of low
//! cardinality only: source, format, reason, detector, family, severity, sink, topic/partition
//! and tailed file path. Never a user, address or token. Hot paths update per batch.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The process-wide metrics.
pub struct Metrics {
    pub registry: Registry,
    // sources
    pub records_read: IntCounterVec,
    pub bytes_read: IntCounterVec,
    pub events_decoded: IntCounterVec,
    pub rejected: IntCounterVec,
    pub late_events: IntCounterVec,
    pub early_events: IntCounterVec,
    pub duplicates: IntCounterVec,
    pub watermark_lag: GaugeVec,
    pub source_up: IntGaugeVec,
    pub checkpoint_age: GaugeVec,
    pub checkpoints: IntCounterVec,
    pub kafka_lag: IntGaugeVec,
    pub kafka_rebalances: IntCounterVec,
    pub tail_lag: IntGaugeVec,
    // detectors and findings
    pub findings: IntCounterVec,
    pub updates: IntCounterVec,
    pub suppressed: IntCounterVec,
    pub excepted: IntCounterVec,
    pub storm: IntGaugeVec,
    pub storms: IntCounterVec,
    pub state_keys: IntGaugeVec,
    pub evictions: IntCounterVec,
    pub detectors_loaded: IntGauge,
    pub detector_set: IntGaugeVec,
    pub reloads: IntCounterVec,
    // sinks
    pub sink_deliveries: IntCounterVec,
    pub sink_failures: IntCounterVec,
    pub sink_retries: IntCounterVec,
    pub sink_dropped: IntCounterVec,
    pub sink_filtered: IntCounterVec,
    pub sink_queue: IntGaugeVec,
    pub sink_spool: IntGaugeVec,
    pub sink_latency: HistogramVec,
    // the process
    pub build_info: IntGaugeVec,
    pub start_time: Gauge,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

macro_rules! reg {
    ($r:expr, $m:expr) => {{
        let m = $m.expect("metric definition");
        $r.register(Box::new(m.clone()))
            .expect("metric registered once");
        m
    }};
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let cv = |name: &str, help: &str, labels: &[&str]| {
            reg!(r, IntCounterVec::new(opts(name, help), labels))
        };
        let gv = |name: &str, help: &str, labels: &[&str]| {
            reg!(r, IntGaugeVec::new(opts(name, help), labels))
        };
        let fv = |name: &str, help: &str, labels: &[&str]| {
            reg!(r, GaugeVec::new(opts(name, help), labels))
        };
        let m = Metrics {
            records_read: cv(
                "bypassd_source_records_read_total",
                "Records (lines or Kafka messages) read from a source",
                &["source"],
            ),
            bytes_read: cv(
                "bypassd_source_read_bytes_total",
                "Bytes read from a source",
                &["source"],
            ),
            events_decoded: cv(
                "bypassd_decode_events_total",
                "Identity events decoded, by source and detected format",
                &["source", "format"],
            ),
            rejected: cv(
                "bypassd_decode_rejected_total",
                "Records that could not be decoded, by source, format and reason",
                &["source", "format", "reason"],
            ),
            late_events: cv(
                "bypassd_engine_late_events_total",
                "Events older than the watermark when they arrived (still taken into open windows)",
                &["source"],
            ),
            early_events: cv(
                "bypassd_engine_early_events_total",
                "Events sent to the detectors before their reorder hold ended because the reorder \
                 buffer was full (the detectors place them, as they do late events)",
                &["source"],
            ),
            duplicates: cv(
                "bypassd_engine_duplicate_events_total",
                "Records of a request already taken (same request id), dropped",
                &["source"],
            ),
            watermark_lag: fv(
                "bypassd_source_watermark_lag_seconds",
                "Wall-clock time now minus the source's event-time watermark",
                &["source"],
            ),
            source_up: gv(
                "bypassd_source_up",
                "1 when the source is connected and reading, else 0",
                &["source"],
            ),
            checkpoint_age: fv(
                "bypassd_checkpoint_age_seconds",
                "How long the source's oldest unsaved state has waited for a checkpoint (0: all saved)",
                &["source"],
            ),
            checkpoints: cv(
                "bypassd_checkpoint_writes_total",
                "State checkpoints written",
                &["source"],
            ),
            kafka_lag: gv(
                "bypassd_kafka_consumer_lag_messages",
                "Messages between the consumer's position and the partition's high watermark",
                &["source", "topic", "partition"],
            ),
            kafka_rebalances: cv(
                "bypassd_kafka_rebalances_total",
                "Consumer group rebalances seen (assign and revoke)",
                &["source", "kind"],
            ),
            tail_lag: gv(
                "bypassd_tail_lag_bytes",
                "Bytes of a tailed file not read yet",
                &["source", "file"],
            ),
            findings: cv(
                "bypassd_findings_total",
                "Findings raised (OCSF Create), by detector, family and severity",
                &["detector", "family", "severity"],
            ),
            updates: cv(
                "bypassd_findings_updates_total",
                "Updates sent for open findings (OCSF Update, activity_id 2)",
                &["detector"],
            ),
            suppressed: cv(
                "bypassd_findings_suppressed_total",
                "Repeats of an open finding inside the detector's suppression period, folded into it",
                &["detector"],
            ),
            excepted: cv(
                "bypassd_findings_excepted_total",
                "Candidate findings dropped by the detector's except clause",
                &["detector"],
            ),
            storm: gv(
                "bypassd_findings_storm",
                "Sources on which the detector is in an alert storm now (100 or more new findings \
                 within 10 minutes of event time; over below 50)",
                &["detector"],
            ),
            storms: cv(
                "bypassd_findings_storms_total",
                "Alert storms begun, by detector",
                &["detector"],
            ),
            state_keys: gv(
                "bypassd_detector_state_keys",
                "Keys a detector tracks in its windows",
                &["detector"],
            ),
            evictions: cv(
                "bypassd_detector_evictions_total",
                "Keys evicted from a detector's state at its key cap",
                &["detector"],
            ),
            detectors_loaded: reg!(
                r,
                IntGauge::new("bypassd_detector_loaded", "Detectors loaded and running")
            ),
            detector_set: gv(
                "bypassd_detector_set_info",
                "The running detector set: 1 for its content hash (changes on every reload that changes a detector)",
                &["hash"],
            ),
            reloads: cv(
                "bypassd_config_reloads_total",
                "Detector, inventory and mapping reloads, by result",
                &["result"],
            ),
            sink_deliveries: cv(
                "bypassd_sink_deliveries_total",
                "Findings delivered by a sink",
                &["sink"],
            ),
            sink_failures: cv(
                "bypassd_sink_failures_total",
                "Failed delivery attempts, by sink and reason",
                &["sink", "reason"],
            ),
            sink_retries: cv(
                "bypassd_sink_retries_total",
                "Delivery attempts retried after a failure",
                &["sink"],
            ),
            sink_dropped: cv(
                "bypassd_sink_dropped_total",
                "Findings a sink gave up on (rejected by the receiver, or spool full), by reason",
                &["sink", "reason"],
            ),
            sink_filtered: cv(
                "bypassd_sink_filtered_total",
                "Findings not sent to a sink because of its min_severity or families filter",
                &["sink"],
            ),
            sink_queue: gv(
                "bypassd_sink_queue_findings",
                "Findings waiting for delivery (in memory and spooled)",
                &["sink"],
            ),
            sink_spool: gv(
                "bypassd_sink_spool_bytes",
                "Bytes of undelivered findings in the sink's disk spool",
                &["sink"],
            ),
            sink_latency: reg!(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "bypassd_sink_request_duration_seconds",
                        "Duration of delivery requests (one batch each)",
                    )
                    .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                    &["sink"],
                )
            ),
            build_info: gv(
                "bypassd_build_info",
                "Always 1; the labels carry the build",
                &["version"],
            ),
            start_time: reg!(
                r,
                Gauge::new(
                    "bypassd_start_time_seconds",
                    "Unix time the daemon started"
                )
            ),
            registry: r,
        };
        #[cfg(target_os = "linux")]
        m.registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        m.start_time.set(crate::time::now_millis() as f64 / 1000.0);
        m
    }

    /// The exposition in Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let enc = TextEncoder::new();
        // encoding to a Vec cannot fail for well-formed metrics
        let _ = enc.encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The process-wide metrics (created on first use).
pub fn metrics() -> &'static Metrics {
    static M: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &M
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_house_convention() {
        let m = metrics();
        m.records_read.with_label_values(&["t"]).inc();
        let text = String::from_utf8(m.render()).unwrap();
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            if name.starts_with("process_") {
                continue;
            }
            assert!(name.starts_with("bypassd_"), "{name}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            } else {
                assert!(!name.ends_with("_total"), "{name}");
            }
        }
        assert!(text.contains("bypassd_source_records_read_total{source=\"t\"}"));
    }
}

//! The Kafka sink: an idempotent librdkafka producer (`enable.idempotence=true`, `acks=all`),
//! keyed by `finding_info.uid` so a finding's Create and Updates land in one partition, in order.
//! A batch counts as delivered when every message's delivery report says so.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use super::deliver::{Outcome, Record, Transport};

/// How long librdkafka may try one message (unless `client` sets message.timeout.ms).
const MESSAGE_TIMEOUT_MS: &str = "30000";

/// Delivery reports, handed from librdkafka's callback to the sending thread.
struct Reports(mpsc::Sender<(usize, Option<KafkaError>)>);

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::telemetry::librdkafka_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let err = result.as_ref().err().map(|(e, _)| e.clone());
        let _ = self.0.send((seq, err));
    }
}

pub struct KafkaOut {
    producer: BaseProducer<Reports>,
    reports: mpsc::Receiver<(usize, Option<KafkaError>)>,
    topic: String,
    /// sequence number of the next message (its delivery opaque)
    next: usize,
}

impl KafkaOut {
    pub fn open(
        brokers: &str,
        topic: &str,
        client: &BTreeMap<String, String>,
    ) -> Result<KafkaOut, KafkaError> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", MESSAGE_TIMEOUT_MS);
        for (k, v) in client {
            cfg.set(k, v);
        }
        let (tx, rx) = mpsc::channel();
        let producer = cfg.create_with_context(Reports(tx))?;
        Ok(KafkaOut {
            producer,
            reports: rx,
            topic: topic.to_string(),
            next: 0,
        })
    }

    /// Queue every record; a record librdkafka refuses at once gets its report here.
    fn produce(&mut self, batch: &[Record], base: usize, failed: &mut Vec<(usize, KafkaError)>) {
        for (i, r) in batch.iter().enumerate() {
            let mut rec = BaseRecord::with_opaque_to(&self.topic, base + i)
                .key(r.key.as_bytes())
                .payload(&r.json[..]);
            loop {
                match self.producer.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        rec = back;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => {
                        failed.push((base + i, e));
                        break;
                    }
                }
            }
        }
    }
}

impl Transport for KafkaOut {
    fn send(&mut self, batch: &[Record], deadline: Option<Instant>) -> Outcome {
        let base = self.next;
        self.next += batch.len();
        let mut errors = Vec::new();
        self.produce(batch, base, &mut errors);
        let mut reported = errors.len();
        while reported < batch.len() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Outcome::Retry {
                    reason: "timeout",
                    detail: format!(
                        "{} delivery reports missing at shutdown",
                        batch.len() - reported
                    ),
                    after: None,
                };
            }
            self.producer.poll(Duration::from_millis(100));
            while let Ok((seq, err)) = self.reports.try_recv() {
                if seq < base {
                    continue; // a report for an earlier, abandoned attempt
                }
                reported += 1;
                if let Some(e) = err {
                    errors.push((seq, e));
                }
            }
        }
        outcome(&self.topic, &errors)
    }
}

/// Delivered when no message failed; rejected when one can never be produced; else retried.
fn outcome(topic: &str, errors: &[(usize, KafkaError)]) -> Outcome {
    let Some((_, first)) = errors.first() else {
        return Outcome::Delivered;
    };
    let permanent = errors.iter().any(|(_, e)| {
        matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessage
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::InvalidRecord
            )
        )
    });
    let detail = format!(
        "topic {topic}: {} of the batch failed: {first}",
        errors.len()
    );
    if permanent {
        return Outcome::Rejected { detail };
    }
    let timed_out = matches!(
        first.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut)
    );
    Outcome::Retry {
        reason: if timed_out { "timeout" } else { "kafka" },
        detail,
        after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_errors_map_to_retry_or_reject() {
        assert_eq!(outcome("t", &[]), Outcome::Delivered);
        let big = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(
            outcome("t", &[(0, big)]),
            Outcome::Rejected { .. }
        ));
        let slow = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert!(matches!(
            outcome("t", &[(0, slow)]),
            Outcome::Retry {
                reason: "timeout",
                ..
            }
        ));
        let down = KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown);
        assert!(matches!(
            outcome("t", &[(0, down)]),
            Outcome::Retry {
                reason: "kafka",
                ..
            }
        ));
    }
}

//! The delivery thread of a network sink: reads the spool in order into a bounded queue, sends
//! batches through the sink's [`Transport`], retries failures with exponential backoff and full
//! jitter (forever: the spool holds the backlog), sets rejected batches aside in
//! `rejected.jsonl`, and acknowledges each batch in the spool once it is done. One thread per
//! sink and a failing batch blocks the ones after it, so findings arrive in the order written.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::config::Delivery;
use super::spool::{Line, Pos, Reader, Spool};
use crate::telemetry::metrics;

mod wake;
pub use wake::Wake;

/// One spooled finding, ready to send.
#[derive(Debug, Clone)]
pub struct Record {
    /// `metadata.uid`: this record's own id (the Idempotency-Key)
    pub uid: String,
    /// `finding_info.uid`: the finding's id, shared by its Create and Updates (the Kafka key)
    pub key: String,
    /// the finding as JSON
    pub json: Vec<u8>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// try again later: `reason` is the metric label (connect, timeout, status_5xx, ...)
    Retry {
        reason: &'static str,
        detail: String,
        /// the receiver's Retry-After
        after: Option<Duration>,
    },
    /// the receiver refused the batch for good (a 4xx): set it aside, do not retry
    Rejected {
        detail: String,
    },
}

/// How a sink sends a batch.
pub trait Transport: Send + 'static {
    /// Deliver `batch` (in order). When the sink is closing, `deadline` bounds the attempt.
    fn send(&mut self, batch: &[Record], deadline: Option<Instant>) -> Outcome;
}

/// A line read from the spool: its record, or `None` when it is not a finding.
struct Queued {
    record: Option<Record>,
    line: Line,
    queued_at: Instant,
}

/// A batch taken from the queue, and where it ends in the spool.
struct Batch {
    records: Vec<Record>,
    end: Pos,
    bytes: u64,
}

/// The delivery loop of one sink.
pub struct Worker {
    pub name: String,
    pub spool: Arc<Spool>,
    pub reader: Reader,
    pub wake: Arc<Wake>,
    pub transport: Box<dyn Transport>,
    pub delivery: Delivery,
    pub rejected_path: PathBuf,
    queue: VecDeque<Queued>,
    jitter: Jitter,
}

#[derive(Deserialize)]
struct Ids {
    metadata: Uid,
    finding_info: Uid,
}

#[derive(Deserialize)]
struct Uid {
    uid: String,
}

impl Worker {
    pub fn new(
        name: String,
        (spool, reader): (Arc<Spool>, Reader),
        wake: Arc<Wake>,
        transport: Box<dyn Transport>,
        delivery: Delivery,
        rejected_path: PathBuf,
    ) -> Worker {
        Worker {
            name,
            spool,
            reader,
            wake,
            transport,
            delivery,
            rejected_path,
            queue: VecDeque::new(),
            jitter: Jitter::seeded(),
        }
    }

    /// Deliver until closed.
    pub fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            if !self.deliver(batch) {
                break;
            }
        }
        self.wake.finished();
    }

    /// Read ahead from the spool up to the queue size.
    fn fill(&mut self) {
        let room = self.delivery.queue_size.saturating_sub(self.queue.len());
        if room == 0 {
            return;
        }
        let mut lines = VecDeque::new();
        if let Err(e) = self.spool.read(&mut self.reader, room, &mut lines) {
            tracing::error!(sink = %self.name, error = %e, "cannot read the spool");
        }
        let now = Instant::now();
        for line in lines {
            let record = serde_json::from_slice::<Ids>(&line.bytes)
                .ok()
                .map(|ids| Record {
                    uid: ids.metadata.uid,
                    key: ids.finding_info.uid,
                    json: line.bytes.clone(),
                });
            self.queue.push_back(Queued {
                record,
                line,
                queued_at: now,
            });
        }
    }

    /// Lines at the head of the queue that are not findings: log, count, acknowledge.
    fn skip_corrupt(&mut self) -> bool {
        while let Some(q) = self.queue.front() {
            if q.record.is_some() {
                break;
            }
            let q = self.queue.pop_front().expect("front exists");
            tracing::error!(sink = %self.name, file = %self.spool.segment_path(q.line.at.segment).display(), offset = q.line.at.offset, "corrupt spool line skipped (not a finding)");
            metrics()
                .sink_dropped
                .with_label_values(&[&self.name, "corrupt"])
                .inc();
            let len = q.line.end.offset - q.line.at.offset;
            if !self.ack(q.line.end, 1, len) {
                return false;
            }
        }
        true
    }

    /// The next batch to send, or `None` when closing.
    fn next_batch(&mut self) -> Option<Batch> {
        loop {
            let seen = self.wake.lock().appended;
            self.fill();
            if !self.skip_corrupt() {
                return None;
            }
            let closing = self.wake.closing();
            if closing.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let Some(front) = self.queue.front() else {
                if closing.is_some() {
                    return None;
                }
                self.wake.wait(seen, None);
                continue;
            };
            let due = front.queued_at + self.delivery.batch_wait;
            let full = self.queue.len() >= self.delivery.batch_max;
            if full || closing.is_some() || Instant::now() >= due {
                return Some(self.take());
            }
            self.wake.wait(seen, Some(due));
        }
    }

    /// Up to `batch_max` findings from the head of the queue (stopping at a corrupt line).
    fn take(&mut self) -> Batch {
        let mut b = Batch {
            records: Vec::new(),
            end: Pos::default(),
            bytes: 0,
        };
        while b.records.len() < self.delivery.batch_max {
            match self.queue.front() {
                Some(q) if q.record.is_some() => {}
                _ => break,
            }
            let q = self.queue.pop_front().expect("front exists");
            b.end = q.line.end;
            b.bytes += q.line.end.offset - q.line.at.offset;
            b.records.push(q.record.expect("checked above"));
        }
        b
    }

    /// Send one batch until it is delivered or rejected (true), or the sink closes (false: it
    /// stays spooled).
    fn deliver(&mut self, batch: Batch) -> bool {
        let m = metrics();
        let n = batch.records.len() as u64;
        let mut attempt = 0u32;
        loop {
            let closing = self.wake.closing();
            if closing.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            let started = Instant::now();
            let outcome = self.transport.send(&batch.records, closing);
            m.sink_latency
                .with_label_values(&[&self.name])
                .observe(started.elapsed().as_secs_f64());
            match outcome {
                Outcome::Delivered => {
                    m.sink_deliveries.with_label_values(&[&self.name]).inc_by(n);
                    return self.ack(batch.end, n, batch.bytes);
                }
                Outcome::Rejected { detail } => {
                    self.set_aside(&batch.records, &detail);
                    m.sink_failures
                        .with_label_values(&[&self.name, "status_4xx"])
                        .inc();
                    m.sink_dropped
                        .with_label_values(&[&self.name, "rejected"])
                        .inc_by(n);
                    return self.ack(batch.end, n, batch.bytes);
                }
                Outcome::Retry {
                    reason,
                    detail,
                    after,
                } => {
                    m.sink_failures
                        .with_label_values(&[&self.name, reason])
                        .inc();
                    if closing.is_some() {
                        tracing::warn!(sink = %self.name, reason, "delivery failed while stopping ({detail}); the batch stays spooled for the next start");
                        return false;
                    }
                    attempt += 1;
                    let d = &self.delivery;
                    let delay = match after {
                        Some(a) => a.min(d.backoff_max),
                        None => {
                            backoff(d.backoff_initial, d.backoff_max, attempt, &mut self.jitter)
                        }
                    };
                    tracing::warn!(sink = %self.name, reason, attempt, retry_in = ?delay, findings = n, "delivery failed: {detail}");
                    m.sink_retries.with_label_values(&[&self.name]).inc();
                    self.wake.sleep(delay);
                }
            }
        }
    }

    /// Append a rejected batch to `rejected.jsonl` and say so.
    fn set_aside(&self, records: &[Record], detail: &str) {
        let first = records.first().map(|r| r.uid.as_str()).unwrap_or_default();
        tracing::error!(sink = %self.name, findings = records.len(), first_uid = first, file = %self.rejected_path.display(), "receiver rejected the batch ({detail}); not retried, kept in the rejected file");
        let mut buf = Vec::new();
        for r in records {
            buf.extend_from_slice(&r.json);
            buf.push(b'\n');
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.rejected_path)
            .and_then(|mut f| f.write_all(&buf));
        if let Err(e) = written {
            tracing::error!(sink = %self.name, file = %self.rejected_path.display(), error = %e, "cannot write the rejected file; the rejected findings are lost");
        }
    }

    /// Acknowledge up to `end` unless close has given up on this thread (false then).
    fn ack(&self, end: Pos, records: u64, bytes: u64) -> bool {
        let g = self.wake.lock();
        if g.abandoned {
            return false;
        }
        if let Err(e) = self.spool.ack(end, records, bytes) {
            tracing::error!(sink = %self.name, error = %e, "cannot save the spool position; delivered findings will be sent again after a restart");
        }
        drop(g);
        true
    }
}

/// Full-jitter exponential backoff: a random delay in `[0, min(max, initial * 2^(attempt-1))]`.
pub fn backoff(initial: Duration, max: Duration, attempt: u32, jitter: &mut Jitter) -> Duration {
    let exp = attempt.saturating_sub(1).min(32);
    let cap = initial.saturating_mul(1u32 << exp.min(31)).min(max);
    let cap_ms = cap.as_millis() as u64;
    Duration::from_millis(jitter.next() % (cap_ms + 1))
}

/// A small xorshift generator for jitter (not for anything secret).
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Jitter(h.finish() | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests;

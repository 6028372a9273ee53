//! A shard's share of the process metrics: what it decoded, what its engine counted and how big
//! its state is, published as differences since the last publish (once per source loop, not per
//! event), and taken back out of the gauges when the shard goes (a revoked Kafka partition).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::alerts::finding::Finding;
use crate::engine::{Engine, EngineStats};
use crate::event::Millis;
use crate::telemetry::metrics;

pub struct Publisher {
    source: String,
    /// decoded events per format since the last publish
    events: Vec<(&'static str, u64)>,
    /// engine counters already published
    base: EngineStats,
    /// per detector: state keys this shard has added to the gauge, evictions published
    keys: BTreeMap<String, (i64, u64)>,
}

fn add_deltas(
    now: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
    counter: &prometheus::IntCounterVec,
) {
    for (d, n) in now {
        let delta = n.saturating_sub(before.get(d).copied().unwrap_or(0));
        if delta > 0 {
            counter.with_label_values(&[d.as_str()]).inc_by(delta);
        }
    }
}

impl Publisher {
    /// Start from `engine` as restored: counts it had before this process are not published again.
    pub fn new(source: &str, engine: &Engine) -> Publisher {
        // the source's series exist from the start (at 0), so rates and alerts see the first
        let m = metrics();
        for c in [
            &m.records_read,
            &m.bytes_read,
            &m.late_events,
            &m.duplicates,
            &m.checkpoints,
        ] {
            c.with_label_values(&[source]);
        }
        Publisher {
            source: source.to_string(),
            events: Vec::new(),
            base: engine.stats(),
            keys: BTreeMap::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// One decoded event of `format`.
    pub fn event(&mut self, format: &'static str) {
        match self.events.iter_mut().find(|(f, _)| *f == format) {
            Some((_, n)) => *n += 1,
            None => self.events.push((format, 1)),
        }
    }

    /// One record sent to the sinks.
    pub fn emitted(&self, f: &Finding) {
        if f.activity_id == 1 {
            let severity = f.severity.to_ascii_lowercase();
            metrics()
                .findings
                .with_label_values(&[&f.unmapped.detector, f.unmapped.family, &severity])
                .inc();
        }
    }

    /// Publish what changed since the last call.
    pub fn publish(&mut self, engine: &Engine, last_checkpoint: Instant, now: Instant) {
        let m = metrics();
        let src = self.source.as_str();
        for (format, n) in self.events.drain(..) {
            m.events_decoded.with_label_values(&[src, format]).inc_by(n);
        }
        let s = engine.stats();
        let late = s.late.saturating_sub(self.base.late);
        if late > 0 {
            m.late_events.with_label_values(&[src]).inc_by(late);
        }
        let dups = s.duplicates.saturating_sub(self.base.duplicates);
        if dups > 0 {
            m.duplicates.with_label_values(&[src]).inc_by(dups);
        }
        add_deltas(&s.suppressed, &self.base.suppressed, &m.suppressed);
        add_deltas(&s.updates, &self.base.updates, &m.updates);
        add_deltas(&s.excepted, &self.base.excepted, &m.excepted);
        self.base = s;
        for (id, size, _) in engine.state_sizes() {
            let (keys, evicted) = self.keys.entry(id.clone()).or_insert((0, size.evicted));
            let k = size.keys as i64;
            if k != *keys {
                m.state_keys.with_label_values(&[&id]).add(k - *keys);
                *keys = k;
            }
            if size.evicted > *evicted {
                m.evictions
                    .with_label_values(&[&id])
                    .inc_by(size.evicted - *evicted);
                *evicted = size.evicted;
            }
        }
        let age = now.saturating_duration_since(last_checkpoint).as_secs_f64();
        m.checkpoint_age.with_label_values(&[src]).set(age);
    }

    /// The source's watermark lag: wall-clock now minus the event-time watermark.
    pub fn watermark(source: &str, wm: Millis) {
        if wm == Millis::MIN || wm == Millis::MAX {
            return;
        }
        let now = crate::time::now_millis();
        metrics()
            .watermark_lag
            .with_label_values(&[source])
            .set((now - wm) as f64 / 1000.0);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let m = metrics();
        for (id, (keys, _)) in &self.keys {
            m.state_keys.with_label_values(&[id]).sub(*keys);
        }
    }
}

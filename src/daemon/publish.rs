//! A shard's share of the process metrics: what it decoded, what its engine counted and how big
//! its state is, published as differences since the last publish (once per source loop, not per
//! event), and taken back out of the gauges when the shard goes (a revoked Kafka partition).

use std::collections::{BTreeMap, BTreeSet};
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
    /// detectors this shard counts in the storm gauge now
    storming: BTreeSet<String>,
    last: Option<Instant>,
}

/// How often a shard publishes (counts between publishes are kept, not lost).
const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
            &m.early_events,
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
            storming: BTreeSet::new(),
            last: None,
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

    /// One record sent to the sinks (records skipped as already sent before a crash are not).
    pub fn emitted(&self, f: &Finding) {
        let m = metrics();
        if f.activity_id == 1 {
            let severity = f.severity.to_ascii_lowercase();
            m.findings
                .with_label_values(&[f.unmapped.detector.as_str(), f.unmapped.family, &severity])
                .inc();
        } else {
            m.updates
                .with_label_values(&[f.unmapped.detector.as_str()])
                .inc();
        }
    }

    /// Publish what changed since the last publish, at most once a second unless `now` is
    /// `None` (a checkpoint: before a stop or a revoke).
    pub fn publish(&mut self, engine: &Engine, now: Option<Instant>) {
        if let Some(now) = now {
            if self
                .last
                .is_some_and(|t| now.saturating_duration_since(t) < EVERY)
            {
                return;
            }
            self.last = Some(now);
        }
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
        let early = s.early.saturating_sub(self.base.early);
        if early > 0 {
            m.early_events.with_label_values(&[src]).inc_by(early);
        }
        let dups = s.duplicates.saturating_sub(self.base.duplicates);
        if dups > 0 {
            m.duplicates.with_label_values(&[src]).inc_by(dups);
        }
        add_deltas(&s.suppressed, &self.base.suppressed, &m.suppressed);
        add_deltas(&s.excepted, &self.base.excepted, &m.excepted);
        for (id, st) in &s.storms {
            let before = self.base.storms.get(id).map_or(0, |b| b.storms);
            if st.storms > before {
                m.storms.with_label_values(&[id]).inc_by(st.storms - before);
            }
        }
        let now: BTreeSet<String> = engine.storming().into_iter().map(String::from).collect();
        for id in now.difference(&self.storming) {
            m.storm.with_label_values(&[id]).inc();
        }
        for id in self.storming.difference(&now) {
            m.storm.with_label_values(&[id]).dec();
        }
        self.storming = now;
        self.base = s;
        let sizes = engine.state_sizes();
        // detectors a reload removed take their share out of the gauge
        self.keys.retain(|id, (keys, _)| {
            let kept = sizes.iter().any(|(d, _, _)| d == id);
            if !kept {
                m.state_keys.with_label_values(&[id]).sub(*keys);
            }
            kept
        });
        for (id, size, _) in sizes {
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
        for id in &self.storming {
            m.storm.with_label_values(&[id]).dec();
        }
    }
}

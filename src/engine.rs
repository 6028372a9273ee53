//! The event-time engine: a reorder buffer and watermark in front of the detectors.
//!
//! Events are held until the watermark (the latest event time seen minus the allowed lateness)
//! passes them, then released to every detector in the total order of [`Event::order`] (time, then input
//! position). An event older than
//! the watermark is late: it is counted and handed to detectors at once, which take it into
//! windows they still hold. Replay and the live daemon drive the same engine; replay flushes at
//! the end of input.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::alerts::context::context_of;
use crate::alerts::dedup::{Dedup, Open, Verdict};
use crate::alerts::finding::Finding;
use crate::context::{Approval, ApprovalStore};
use crate::detect::keyed::FastSet;
use crate::detect::spec::Detector;
use crate::detect::{Candidate, Ctx, Running, StateSize};
use crate::event::{Event, Millis, Origin, Str};
use crate::inventory::Inventory;
use crate::time::MINUTE;

pub const DEFAULT_LATENESS: Millis = 5 * MINUTE;

/// At most this many events are held for ordering by default (about 33 MB of events): a dense
/// hour (3M events) holds 250,000 events in five minutes. Past it the oldest goes to the
/// detectors before its hold ends (counted in [`EngineStats::early`]); they place events that
/// come out of order themselves, as they do for late ones.
pub const DEFAULT_MAX_HELD: usize = 32_768;

/// How long (in event time, behind the watermark) a dedup key is remembered at least (or the
/// lateness, when longer); at most twice as long. The records of one request (Kubernetes stages,
/// Vault request and response) come seconds apart and a vendor's re-delivery minutes apart;
/// a record older than the watermark is late anyway. The set holds every event id of the span,
/// about 14 bytes each: at 5,000 events/s, 10 to 20 minutes is 3M-6M ids (40-80 MB), where
/// the hour it used to be was 18M-36M (250-500 MB) of state that grew with events.
pub const DEDUP_HORIZON: Millis = 10 * MINUTE;

/// Counters the engine keeps (the replay summary and the metrics read them).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    pub events: u64,
    pub late: u64,
    /// events sent to the detectors before their hold ended because the reorder buffer was full
    /// (see [`DEFAULT_MAX_HELD`])
    #[serde(default)]
    pub early: u64,
    /// records of a request already taken (same dedup key), dropped
    pub duplicates: u64,
    pub approvals: u64,
    /// findings raised (Create), by detector
    pub findings: BTreeMap<String, u64>,
    /// repeats folded into an open finding, by detector
    pub suppressed: BTreeMap<String, u64>,
    /// Updates sent for open findings, by detector
    #[serde(default)]
    pub updates: BTreeMap<String, u64>,
    /// findings dropped because their triggering event matched the detector's `except`
    pub excepted: BTreeMap<String, u64>,
    /// alert storms, by detector (only detectors that had one)
    #[serde(default)]
    pub storms: BTreeMap<String, StormStats>,
}

pub struct Engine {
    detectors: Vec<Running>,
    approvals: ApprovalStore,
    inventory: Arc<Inventory>,
    lateness: Millis,
    /// how far behind the newest event time events are held to be put in order (at most
    /// `lateness`); replay holds for the whole lateness, the live daemon less for low latency
    hold: Millis,
    buffer: Reorder,
    /// most events held in `buffer`
    max_held: usize,
    max_seen: Millis,
    /// events up to here have gone to the detectors
    released: Millis,
    watermark: Millis,
    /// findings inside their suppression period
    dedup: Dedup,
    last_sweep: Millis,
    /// dedup keys of requests taken, for those logged more than once (see [`Event::dedup`])
    seen: Seen,
    stats: EngineStats,
    scratch: Vec<Candidate>,
    /// per detector: new findings in the last storm window
    storm: Vec<storm::Watch>,
}

impl Engine {
    pub fn new(detectors: &[Arc<Detector>], lateness: Millis) -> Engine {
        Engine {
            detectors: detectors.iter().cloned().map(Running::new).collect(),
            approvals: ApprovalStore::default(),
            inventory: Arc::default(),
            lateness: lateness.max(0),
            hold: lateness.max(0),
            buffer: Reorder::default(),
            max_held: DEFAULT_MAX_HELD,
            max_seen: Millis::MIN,
            released: Millis::MIN,
            watermark: Millis::MIN,
            dedup: Dedup::default(),
            last_sweep: Millis::MIN,
            seen: Seen::default(),
            stats: EngineStats::default(),
            scratch: Vec::new(),
            storm: detectors.iter().map(|_| storm::Watch::default()).collect(),
        }
    }

    /// Findings carry business context from this inventory (owners, expiries), and `session`
    /// detectors take its `max_session`. Use the inventory the decoders enrich events with.
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Engine {
        self.inventory = inventory;
        self
    }

    /// Hold events only this long (event time) behind the newest before the detectors see them,
    /// instead of the whole lateness. An event arriving after others newer than it by more than
    /// `hold` (but within the lateness) goes to the detectors at once, out of order; every kind
    /// places such events itself. Findings come sooner; their order may follow arrival order.
    pub fn with_hold(mut self, hold: Millis) -> Engine {
        self.hold = hold.clamp(0, self.lateness);
        self
    }

    /// Hold at most `n` events for ordering (at least 1) instead of [`DEFAULT_MAX_HELD`].
    pub fn with_max_held(mut self, n: usize) -> Engine {
        self.max_held = n.max(1);
        self
    }

    /// The newest event time seen (`Millis::MIN` before the first event).
    pub fn max_seen(&self) -> Millis {
        self.max_seen
    }

    /// The current watermark (`Millis::MIN` before the first event).
    pub fn watermark(&self) -> Millis {
        self.watermark
    }

    /// Events taken so far.
    pub fn events_seen(&self) -> u64 {
        self.stats.events
    }

    /// Events held in the reorder buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    pub fn stats(&self) -> EngineStats {
        self.stats.clone()
    }

    /// Ids of the detectors whose alert storm is on (see [`storm`]).
    pub fn storming(&self) -> Vec<&str> {
        (self.detectors.iter().zip(&self.storm))
            .filter(|(_, w)| w.on)
            .map(|(d, _)| d.spec.id.as_str())
            .collect()
    }

    /// Findings inside their suppression period.
    pub fn open_findings(&self) -> usize {
        self.dedup.len()
    }

    /// Per detector: id, tracked state and evictions, and events too late for any window.
    pub fn state_sizes(&self) -> Vec<(String, StateSize, u64)> {
        self.detectors
            .iter()
            .map(|d| (d.spec.id.clone(), d.size(), d.too_late()))
            .collect()
    }

    pub fn push_approval(&mut self, a: Approval) {
        self.stats.approvals += 1;
        self.approvals.insert(a);
    }

    /// Take one event (as a [`crate::decode::Decoder`] made it, source network included);
    /// findings it completes (here or by moving the watermark) go to `out`.
    pub fn push(&mut self, ev: Arc<Event>, out: &mut Vec<Finding>) {
        if let Some(k) = ev.dedup {
            if !self.seen.insert(k) {
                self.stats.duplicates += 1;
                return;
            }
        }
        self.stats.events += 1;
        if ev.time < self.watermark {
            self.stats.late += 1;
            self.dispatch(ev, out);
            return;
        }
        self.max_seen = self.max_seen.max(ev.time);
        if ev.time <= self.released {
            self.dispatch(ev, out);
        } else {
            self.buffer.push(Pending::new(ev));
            // `while`: a restored buffer may be over a cap set lower since
            while self.buffer.len() > self.max_held {
                let p = self.buffer.pop().expect("over the cap");
                self.stats.early += 1;
                self.dispatch(p.ev, out);
            }
        }
        self.release(self.max_seen.saturating_sub(self.hold), out);
        let wm = self.max_seen.saturating_sub(self.lateness);
        if wm > self.watermark {
            self.advance(wm, out);
        }
    }

    /// The source has been quiet: release every held event and move the watermark to `wm` (the
    /// caller's estimate of event time now, minus the lateness), so pending absence checks and
    /// sessions are decided without waiting for the next event.
    pub fn advance_idle(&mut self, wm: Millis, out: &mut Vec<Finding>) {
        self.release(self.max_seen, out);
        self.advance(wm, out);
    }

    /// Send held events up to `upto` to the detectors, oldest first.
    fn release(&mut self, upto: Millis, out: &mut Vec<Finding>) {
        while self.buffer.first_time().is_some_and(|t| t <= upto) {
            let p = self.buffer.pop().expect("peeked");
            self.dispatch(p.ev, out);
        }
        self.released = self.released.max(upto);
    }

    /// End of input: release everything and decide every pending absence.
    pub fn flush(&mut self, out: &mut Vec<Finding>) {
        self.advance(Millis::MAX, out);
    }

    /// Move the watermark to `wm` (never backwards), releasing what it passes.
    pub fn advance(&mut self, wm: Millis, out: &mut Vec<Finding>) {
        if wm <= self.watermark {
            return;
        }
        self.release(wm, out);
        self.watermark = wm;
        self.each_detector(out, |d, ctx, found| d.on_watermark(wm, ctx, found));
        self.close_periods(wm, out);
        for w in &mut self.storm {
            w.watermark(wm);
        }
        if wm.saturating_sub(self.last_sweep) >= self.lateness.max(DEDUP_HORIZON) {
            self.last_sweep = wm;
            // a request's records arrive together; keep their keys a while past the watermark
            self.seen.rotate();
        }
    }

    fn dispatch(&mut self, ev: Arc<Event>, out: &mut Vec<Finding>) {
        self.each_detector(out, |d, _, found| d.on_event(&ev, found));
    }

    /// Run `step` on every detector and raise what it found.
    fn each_detector(
        &mut self,
        out: &mut Vec<Finding>,
        mut step: impl FnMut(&mut Running, &Ctx, &mut Vec<Candidate>),
    ) {
        let ctx = Ctx {
            approvals: &self.approvals,
            inventory: &self.inventory,
        };
        let mut r = Raise {
            dedup: &mut self.dedup,
            stats: &mut self.stats,
            ctx: &ctx,
            storm: &mut self.storm,
        };
        for (i, d) in self.detectors.iter_mut().enumerate() {
            step(d, &ctx, &mut self.scratch);
            for c in self.scratch.drain(..) {
                r.raise(i, &d.spec, c, out);
            }
        }
    }
}

/// The dedup keys taken, in two generations: a key is remembered from the sweep before it was
/// taken until two sweeps later, so at least one sweep period ([`DEDUP_HORIZON`], or the
/// lateness if longer, of watermark time). Eight bytes a key, and a sweep drops a whole
/// generation instead of scanning.
#[derive(Default)]
struct Seen {
    current: FastSet<u64>,
    previous: FastSet<u64>,
}

impl Seen {
    /// Remember `k`; false if it was already taken.
    fn insert(&mut self, k: u64) -> bool {
        !self.previous.contains(&k) && self.current.insert(k)
    }

    fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
    }
}

/// What turning a candidate into a finding needs from the engine.
struct Raise<'a> {
    dedup: &'a mut Dedup,
    stats: &'a mut EngineStats,
    ctx: &'a Ctx<'a>,
    storm: &'a mut [storm::Watch],
}

impl Raise<'_> {
    /// Drop a candidate whose triggering event the detector excepts (counted); fold a repeat
    /// for the same detector and key inside its `suppress` period into the open finding
    /// (counted, and reported by Updates); else raise a new finding with its business context.
    fn raise(&mut self, i: usize, spec: &Detector, c: Candidate, out: &mut Vec<Finding>) {
        if spec.except.as_ref().is_some_and(|x| x.matches(&c.trigger)) {
            *self.stats.excepted.entry(spec.id.clone()).or_default() += 1;
            return;
        }
        let (verdict, closed) = self.dedup.offer(i, spec.suppress, c);
        if let Some(o) = closed {
            close(self.stats, self.ctx, spec, o, out);
        }
        match verdict {
            Verdict::Create(c) => {
                *self.stats.findings.entry(spec.id.clone()).or_default() += 1;
                let context = context_of(&c.trigger, self.ctx.inventory, self.ctx.approvals);
                let key = c.key.clone();
                let f = Finding::new(spec, c, context);
                let span = (f.start_time, f.end_time);
                let uid = f.finding_info.uid.clone();
                self.dedup.opened(i, spec.suppress, uid, &key, span);
                let w = &mut self.storm[i];
                if w.finding(f.end_time) || w.stats.storms > 0 {
                    match self.stats.storms.get_mut(&spec.id) {
                        Some(s) => *s = w.stats.clone(),
                        None => {
                            self.stats.storms.insert(spec.id.clone(), w.stats.clone());
                        }
                    }
                }
                out.push(f);
            }
            Verdict::Update(c, o) => {
                *self.stats.suppressed.entry(spec.id.clone()).or_default() += 1;
                update(self.stats, self.ctx, spec, c, &o, out);
            }
            Verdict::Folded => {
                *self.stats.suppressed.entry(spec.id.clone()).or_default() += 1;
            }
        }
    }
}

/// Send an Update of the open finding `o` with the evidence of the repeat `c`.
fn update(
    stats: &mut EngineStats,
    ctx: &Ctx,
    spec: &Detector,
    c: Candidate,
    o: &Open,
    out: &mut Vec<Finding>,
) {
    *stats.updates.entry(spec.id.clone()).or_default() += 1;
    let context = context_of(&c.trigger, ctx.inventory, ctx.approvals);
    out.push(Finding::update(
        spec,
        c,
        context,
        &o.uid,
        o.first_seen,
        o.occurrences,
    ));
}

/// A suppression period ended: its closing Update, when repeats are not reported yet.
fn close(stats: &mut EngineStats, ctx: &Ctx, spec: &Detector, mut o: Open, out: &mut Vec<Finding>) {
    if let Some(c) = o.pending.take() {
        update(stats, ctx, spec, *c, &o, out);
    }
}

impl Engine {
    /// Close the suppression periods the watermark has passed; those with unreported repeats
    /// send their closing Update.
    fn close_periods(&mut self, wm: Millis, out: &mut Vec<Finding>) {
        let ctx = Ctx {
            approvals: &self.approvals,
            inventory: &self.inventory,
        };
        let (stats, detectors) = (&mut self.stats, &self.detectors);
        self.dedup.close_until(wm, &mut |i, o| {
            close(stats, &ctx, &detectors[i].spec, o, out)
        });
    }
}

mod reorder;
mod snapshot;
pub mod storm;
use reorder::{Pending, Reorder};
pub use snapshot::{Restored, Snapshot};
use storm::StormStats;

#[cfg(test)]
mod tests;

//! `event_count` and `value_count`: sliding event-time windows per group-by key, whose state
//! grows with distinct values, never with events.
//!
//! - `value_count` keeps, per distinct value in the window, its first and last time, how many
//!   events carried it and its latest event (the evidence): a value leaves the window when its
//!   last time falls more than `timespan` behind the key's newest event. At most
//!   [`MAX_VALUES`] (or `4 × gte` when larger) values are tracked per key; past that the value
//!   seen least recently makes room, and the count stays at or above the threshold.
//! - `event_count` keeps the times of the latest `gte` events (deciding "`gte` events within
//!   `timespan`" needs no more) and the latest `max_evidence` events as evidence, both in the
//!   total order of [`Event::order`].
//!
//! Events that are late but still inside the span join the window; older ones are counted in
//! `too_late`. Work per event is bounded by those caps, not by the window's size.

use std::collections::VecDeque;
use std::sync::Arc;

use super::field::{display_key, group_key, Field, Resolved};
use super::keyed::{Keyed, LastSeen};
use super::spec::{Detector, Kind};
use super::{Candidate, StateSize};
use crate::event::{Event, Millis, Str};

/// Distinct values tracked per key at least (a `value_count` with a larger threshold tracks four
/// times its threshold).
pub const MAX_VALUES: usize = 64;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CountState {
    keys: Keyed<KeyWindow>,
    last_sweep: Millis,
    pub too_late: u64,
    /// where keys and values are built, so a lookup allocates nothing
    #[serde(skip)]
    key_buf: String,
    #[serde(skip)]
    value_buf: String,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct KeyWindow {
    newest: Millis,
    /// value_count: the distinct values in the window
    values: Vec<Slot>,
    /// value_count: the smallest `last` among `values` (nothing expires before it)
    oldest: Millis,
    /// event_count: the times of the latest `gte` events, ascending
    times: VecDeque<Millis>,
    /// event_count: the latest events, for evidence, in the total order
    recent: VecDeque<Arc<Event>>,
    /// events in the window: value_count, those of the values still in it; event_count, the
    /// kept times inside it plus `beyond`
    count: u64,
    /// event_count: times dropped from `times` (older than the kept ones) while the oldest kept
    /// time is still inside the window; 0 once it leaves, as every dropped one has then left too
    beyond: u64,
}

/// One distinct value of a `value_count` window.
#[derive(serde::Serialize, serde::Deserialize)]
struct Slot {
    value: Str,
    first: Millis,
    last: Millis,
    events: u64,
    /// its latest event in the total order: the evidence
    ev: Arc<Event>,
}

impl LastSeen for KeyWindow {
    fn last_seen(&self) -> Millis {
        self.newest
    }
}

/// What a count detector's spec says, in one place.
struct Params<'a> {
    group_by: &'a [Field],
    field: Option<Field>,
    timespan: Millis,
    gte: u64,
}

impl<'a> Params<'a> {
    fn of(spec: &'a Detector) -> Params<'a> {
        match &spec.kind {
            Kind::EventCount {
                group_by,
                timespan,
                gte,
            } => Params {
                group_by,
                field: None,
                timespan: *timespan,
                gte: *gte,
            },
            Kind::ValueCount {
                group_by,
                field,
                timespan,
                gte,
                ..
            } => Params {
                group_by,
                field: Some(*field),
                timespan: *timespan,
                gte: *gte,
            },
            _ => unreachable!("count state belongs to count detectors"),
        }
    }
}

impl CountState {
    pub fn new(max_keys: usize) -> CountState {
        CountState {
            keys: Keyed::new(max_keys),
            last_sweep: Millis::MIN,
            too_late: 0,
            key_buf: String::new(),
            value_buf: String::new(),
        }
    }

    pub fn size(&self) -> StateSize {
        StateSize {
            keys: self.keys.len(),
            evicted: self.keys.evicted(),
        }
    }

    pub fn on_event(
        &mut self,
        spec: &Detector,
        ev: &Arc<Event>,
        r: Resolved,
        out: &mut Vec<Candidate>,
    ) {
        let p = Params::of(spec);
        if !spec.selection.matches(ev) {
            return;
        }
        let value = match p.field {
            Some(f) => match f.keyed(ev, r, &mut self.value_buf) {
                Some(v) => Some(v),
                None => return,
            },
            None => None,
        };
        let Some(key) = group_key(p.group_by, ev, r, &mut self.key_buf) else {
            return;
        };
        let w = self.keys.get_or_insert(key, || KeyWindow {
            newest: ev.time,
            oldest: ev.time,
            ..KeyWindow::default()
        });
        if ev.time < w.newest.saturating_sub(p.timespan) {
            self.too_late += 1;
            return;
        }
        w.newest = w.newest.max(ev.time);
        let reached = match value {
            Some(v) => {
                let cap = MAX_VALUES.max(4 * p.gte.min(1 << 20) as usize);
                w.count += 1;
                w.add_value(v, ev, cap);
                w.expire_values(w.newest.saturating_sub(p.timespan));
                w.values.len() as u64
            }
            None => w.add_time(ev, p.gte, spec.max_evidence, p.timespan),
        };
        // every event at or past the threshold is a candidate: the engine folds repeats inside
        // the detector's suppression period into the open finding
        if reached >= p.gte {
            out.push(candidate(spec, key, w, p.field, p.timespan));
        }
    }

    pub fn on_watermark(&mut self, spec: &Detector, wm: Millis) {
        let timespan = match &spec.kind {
            Kind::EventCount { timespan, .. } | Kind::ValueCount { timespan, .. } => *timespan,
            _ => return,
        };
        if wm.saturating_sub(self.last_sweep) < timespan.max(crate::time::MINUTE) {
            return;
        }
        self.last_sweep = wm;
        let horizon = wm.saturating_sub(timespan);
        self.keys.retain(|w| w.newest >= horizon);
    }
}

impl KeyWindow {
    /// Count `ev` for `value` (its slot keeps the latest event in the total order).
    fn add_value(&mut self, value: &str, ev: &Arc<Event>, cap: usize) {
        if let Some(s) = self.values.iter_mut().find(|s| s.value == value) {
            s.events += 1;
            s.first = s.first.min(ev.time);
            s.last = s.last.max(ev.time);
            if ev.order(&s.ev).is_gt() {
                s.ev = ev.clone();
            }
            return;
        }
        if self.values.len() >= cap {
            // the value seen least recently (ties: the smallest) makes room
            let i = (0..self.values.len())
                .min_by(|a, b| {
                    let (x, y) = (&self.values[*a], &self.values[*b]);
                    (x.last, &x.value).cmp(&(y.last, &y.value))
                })
                .expect("values at the cap");
            let gone = self.values.swap_remove(i);
            self.count = self.count.saturating_sub(gone.events);
        }
        self.oldest = if self.values.is_empty() {
            ev.time
        } else {
            self.oldest.min(ev.time)
        };
        self.values.push(Slot {
            value: Str::from(value),
            first: ev.time,
            last: ev.time,
            events: 1,
            ev: ev.clone(),
        });
    }

    /// Drop the values last seen before `horizon`; scans only when one is due.
    fn expire_values(&mut self, horizon: Millis) {
        if self.oldest >= horizon {
            return;
        }
        let mut gone = 0;
        self.values.retain(|s| {
            let keep = s.last >= horizon;
            if !keep {
                gone += s.events;
            }
            keep
        });
        self.count = self.count.saturating_sub(gone);
        self.oldest = self
            .values
            .iter()
            .map(|s| s.last)
            .min()
            .unwrap_or(self.newest);
    }

    /// Take `ev`'s time among the latest `gte` and its event among the latest evidence; returns
    /// how many of the kept times are inside the window.
    fn add_time(
        &mut self,
        ev: &Arc<Event>,
        gte: u64,
        max_evidence: usize,
        timespan: Millis,
    ) -> u64 {
        let at = self.times.partition_point(|t| *t <= ev.time);
        self.times.insert(at, ev.time);
        if self.times.len() as u64 > gte.max(1) {
            self.times.pop_front();
            self.beyond += 1;
        }
        let at = self.recent.partition_point(|e| e.order(ev).is_lt());
        self.recent.insert(at, ev.clone());
        if self.recent.len() > max_evidence {
            self.recent.pop_front();
        }
        let horizon = self.newest.saturating_sub(timespan);
        let inside = self.times.len() - self.times.partition_point(|t| *t < horizon);
        if inside < self.times.len() {
            self.beyond = 0;
        }
        self.count = inside as u64 + self.beyond;
        inside as u64
    }
}

fn candidate(
    spec: &Detector,
    key: &str,
    w: &KeyWindow,
    field: Option<Field>,
    timespan: Millis,
) -> Candidate {
    let span = humantime::format_duration(std::time::Duration::from_millis(timespan as u64));
    let horizon = w.newest.saturating_sub(timespan);
    let (start, evidence, values, note) = match field {
        Some(f) => {
            let mut slots: Vec<&Slot> = w.values.iter().collect();
            slots.sort_by(|a, b| a.ev.order(&b.ev));
            let mut values: Vec<Str> = slots.iter().map(|s| s.value.clone()).collect();
            values.sort();
            let start = slots
                .iter()
                .map(|s| s.first.max(horizon))
                .min()
                .unwrap_or(w.newest);
            let note = format!(
                "{} distinct values of {} for {} within {span}",
                values.len(),
                f.name(),
                display_key(key),
            );
            let ev = slots
                .into_iter()
                .take(spec.max_evidence)
                .map(|s| s.ev.clone())
                .collect();
            (start, ev, values, note)
        }
        None => {
            let start = w
                .times
                .iter()
                .copied()
                .find(|t| *t >= horizon)
                .unwrap_or(w.newest);
            let note = format!("{} events for {} within {span}", w.count, display_key(key));
            (start, w.recent.iter().cloned().collect(), Vec::new(), note)
        }
    };
    Candidate {
        key: Str::from(key),
        window_start: start,
        start,
        end: w.newest,
        evidence,
        count: w.count,
        values,
        note,
    }
}

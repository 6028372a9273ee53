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
use crate::evidence::Ev;

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

/// One key's window. The `event_count` part is boxed: a `value_count` key (most keys, in
/// practice) pays 8 bytes for it.
#[derive(Default, serde::Deserialize)]
#[serde(from = "SavedWindow")]
struct KeyWindow {
    newest: Millis,
    /// events in the window: value_count, those of the values still in it; event_count, the
    /// kept times inside it plus `beyond`
    count: u64,
    /// value_count: the smallest `last` among `values` (nothing expires before it)
    oldest: Millis,
    /// value_count: the distinct values in the window
    values: Vec<Slot>,
    /// event_count's part
    recent: Option<Box<Recent>>,
}

#[derive(Default)]
struct Recent {
    /// the times of the latest `gte` events, ascending
    times: VecDeque<Millis>,
    /// the latest events, for evidence, in the total order
    events: VecDeque<Ev>,
    /// times dropped from `times` (older than the kept ones) while still inside the window; 0
    /// once the oldest kept time leaves it, as every dropped one has then left too
    beyond: u64,
    /// the earliest of those dropped times (the window's start while `beyond` > 0)
    beyond_first: Millis,
}

/// A window as snapshots store it (the layout before the event_count part was boxed; written
/// borrowed by `KeyWindow`'s `Serialize`).
#[derive(Default, serde::Deserialize)]
struct SavedWindow {
    newest: Millis,
    values: Vec<Slot>,
    oldest: Millis,
    times: VecDeque<Millis>,
    recent: VecDeque<Ev>,
    count: u64,
    #[serde(default)]
    beyond: u64,
    #[serde(default)]
    beyond_first: Millis,
}

impl From<SavedWindow> for KeyWindow {
    fn from(s: SavedWindow) -> KeyWindow {
        let event_count = !s.times.is_empty() || !s.recent.is_empty() || s.beyond > 0;
        KeyWindow {
            newest: s.newest,
            count: s.count,
            oldest: s.oldest,
            values: s.values,
            recent: event_count.then(|| {
                Box::new(Recent {
                    times: s.times,
                    events: s.recent,
                    beyond: s.beyond,
                    beyond_first: s.beyond_first,
                })
            }),
        }
    }
}

impl serde::Serialize for KeyWindow {
    /// As [`SavedWindow`], borrowed: a checkpoint copies nothing.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Ref<'a> {
            newest: Millis,
            values: &'a [Slot],
            oldest: Millis,
            times: &'a VecDeque<Millis>,
            recent: &'a VecDeque<Ev>,
            count: u64,
            beyond: u64,
            beyond_first: Millis,
        }
        let (empty_t, empty_e) = (VecDeque::new(), VecDeque::new());
        let r = self.recent.as_deref();
        Ref {
            newest: self.newest,
            values: &self.values,
            oldest: self.oldest,
            times: r.map_or(&empty_t, |r| &r.times),
            recent: r.map_or(&empty_e, |r| &r.events),
            count: self.count,
            beyond: r.map_or(0, |r| r.beyond),
            beyond_first: r.map_or(0, |r| r.beyond_first),
        }
        .serialize(s)
    }
}

/// One distinct value of a `value_count` window.
#[derive(serde::Serialize, serde::Deserialize)]
struct Slot {
    value: Str,
    first: Millis,
    last: Millis,
    events: u64,
    /// its latest event in the total order: the evidence
    ev: Ev,
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
            out.push(candidate(spec, key, w, p.field, p.timespan, ev));
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
            // the slot's event is its latest in the total order, so its time is `last`: only a
            // tie needs the event itself (and its cache miss)
            let later = match ev.time.cmp(&s.last) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => ev.order_key() > s.ev.order_key(),
            };
            if later {
                s.ev = ev.evidence();
            }
            s.events += 1;
            s.first = s.first.min(ev.time);
            s.last = s.last.max(ev.time);
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
        if self.values.len() == self.values.capacity() {
            // grow by half, not double (a fresh Vec would take room for four): most keys only
            // ever see one value
            self.values
                .reserve_exact(self.values.len().div_ceil(2).max(1));
        }
        self.values.push(Slot {
            value: Str::from(value),
            first: ev.time,
            last: ev.time,
            events: 1,
            ev: ev.evidence(),
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
        let horizon = self.newest.saturating_sub(timespan);
        let r = self.recent.get_or_insert_with(Box::default);
        let at = r.times.partition_point(|t| *t <= ev.time);
        r.times.insert(at, ev.time);
        if r.times.len() as u64 > gte.max(1) {
            let dropped = r.times.pop_front().expect("over gte");
            // only a time still inside the window counts toward it
            if dropped >= horizon {
                r.beyond_first = match r.beyond {
                    0 => dropped,
                    _ => r.beyond_first.min(dropped),
                };
                r.beyond += 1;
            }
        }
        let at = r.events.partition_point(|e| e.order_key() < ev.order_key());
        r.events.insert(at, ev.evidence());
        if r.events.len() > max_evidence {
            r.events.pop_front();
        }
        let inside = r.times.len() - r.times.partition_point(|t| *t < horizon);
        if inside < r.times.len() {
            r.beyond = 0;
        }
        self.count = inside as u64 + r.beyond;
        inside as u64
    }
}

fn candidate(
    spec: &Detector,
    key: &str,
    w: &KeyWindow,
    field: Option<Field>,
    timespan: Millis,
    trigger: &Arc<Event>,
) -> Candidate {
    let span = humantime::format_duration(std::time::Duration::from_millis(timespan as u64));
    let horizon = w.newest.saturating_sub(timespan);
    let (start, evidence, values, note) = match field {
        Some(f) => {
            let mut slots: Vec<&Slot> = w.values.iter().collect();
            slots.sort_by(|a, b| a.ev.order_key().cmp(&b.ev.order_key()));
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
            let r = w
                .recent
                .as_deref()
                .expect("an event_count window has its part");
            let kept = r.times.iter().copied().find(|t| *t >= horizon);
            let start = match (r.beyond, kept) {
                (0, k) => k.unwrap_or(w.newest),
                (_, k) => r.beyond_first.max(horizon).min(k.unwrap_or(w.newest)),
            };
            let note = format!("{} events for {} within {span}", w.count, display_key(key));
            (start, r.events.iter().cloned().collect(), Vec::new(), note)
        }
    };
    Candidate {
        key: Str::from(key),
        window_start: start,
        start,
        end: w.newest,
        evidence,
        trigger: trigger.clone(),
        count: w.count,
        values,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::load::load_texts;
    use crate::event::{Credential, CredentialKind, Format, Origin, Source};
    use crate::time::MINUTE;

    fn spec(correlation: &str) -> Arc<Detector> {
        let text = format!(
            "id: t\ntitle: t\nfamily: credential_sharing\nseverity: high\ncorrelation:\n{correlation}\n\
             tests:\n  - name: placeholder\n    expect: 0\n    events: []\n"
        );
        load_texts([("t.yaml".to_string(), text.as_str())])
            .unwrap()
            .remove(0)
    }

    fn ev(t: Millis, key: &str, ip: &str, offset: u64) -> Arc<Event> {
        let mut e = Event::new(
            t,
            Format::Cloudtrail,
            Origin::File {
                path: Arc::from("f"),
                line: 1,
                offset,
            },
        );
        e.actor.id = "a".into();
        e.credential = Some(Credential::new(key, CredentialKind::LongTermKey));
        e.source = Source::from_raw(Some(ip), None);
        e.source.network = e.source.ip.map(crate::network::network_of);
        Arc::new(e)
    }

    fn feed(d: &Detector, s: &mut CountState, events: &[Arc<Event>]) -> Vec<Candidate> {
        let mut out = Vec::new();
        for e in events {
            s.on_event(d, e, Resolved::default(), &mut out);
        }
        out
    }

    const VALUES: &str = "  type: value_count\n  group-by: [credential.id]\n  timespan: 10m\n  condition: {gte: 3, field: source.network}";

    #[test]
    fn a_value_count_window_keeps_one_slot_per_value_whatever_the_events() {
        let d = spec(VALUES);
        let mut s = CountState::new(100);
        // ten thousand uses of one key from one network: one slot, no finding
        let many: Vec<_> = (0..10_000)
            .map(|i| ev(i * 100, "K", "192.0.2.1", i as u64))
            .collect();
        assert!(feed(&d, &mut s, &many).is_empty());
        let w = s.keys.get("cloudtrail\u{1f}K").unwrap();
        assert_eq!(w.values.len(), 1);
        assert!(w.recent.is_none(), "no event_count part");
        assert_eq!(w.values.capacity(), 1, "room for one value, not four");
        // two more networks: a finding whose evidence is each value's latest event
        let t = 10_000 * 100;
        let out = feed(
            &d,
            &mut s,
            &[ev(t, "K", "198.51.100.1", 1), ev(t, "K", "203.0.113.1", 2)],
        );
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert_eq!(c.values.len(), 3);
        assert_eq!(
            c.evidence[0].time,
            t - 100,
            "the first network's latest use"
        );
        assert_eq!(
            c.start,
            t - 10 * MINUTE,
            "the window's start: its value began earlier"
        );
    }

    #[test]
    fn a_value_keeps_its_latest_event_in_the_total_order_whatever_the_arrival() {
        let d = spec(VALUES);
        let mut s = CountState::new(100);
        let slot_offset = |s: &CountState| {
            let w = s.keys.get("cloudtrail\u{1f}K").unwrap();
            w.values[0].ev.pos.offset
        };
        // arrival: t=1m at offset 5, then a late t=0 (offset 9), then t=1m at offsets 3 and 7
        feed(&d, &mut s, &[ev(MINUTE, "K", "192.0.2.1", 5)]);
        feed(&d, &mut s, &[ev(0, "K", "192.0.2.1", 9)]);
        assert_eq!(slot_offset(&s), 5, "an earlier time never replaces it");
        feed(&d, &mut s, &[ev(MINUTE, "K", "192.0.2.1", 3)]);
        assert_eq!(slot_offset(&s), 5, "a tie goes to the later input position");
        feed(&d, &mut s, &[ev(MINUTE, "K", "192.0.2.1", 7)]);
        assert_eq!(slot_offset(&s), 7);
        feed(&d, &mut s, &[ev(2 * MINUTE, "K", "192.0.2.1", 1)]);
        assert_eq!(
            slot_offset(&s),
            1,
            "a later time wins whatever its position"
        );
        let w = s.keys.get("cloudtrail\u{1f}K").unwrap();
        assert_eq!(
            (w.values[0].first, w.values[0].last, w.values[0].events),
            (0, 2 * MINUTE, 5)
        );
    }

    #[test]
    fn values_slide_out_and_the_cap_keeps_the_threshold_reachable() {
        let d = spec(VALUES);
        let mut s = CountState::new(100);
        let a = ev(0, "K", "192.0.2.1", 0);
        let b = ev(MINUTE, "K", "198.51.100.1", 1);
        // the first network's only use is 11 minutes old when the third one comes
        let c = ev(11 * MINUTE, "K", "203.0.113.1", 2);
        assert!(feed(&d, &mut s, &[a, b, c]).is_empty());
        assert_eq!(s.keys.get("cloudtrail\u{1f}K").unwrap().values.len(), 2);
        // a thousand distinct networks in the window: state stays at the cap
        let many: Vec<_> = (0..1000u32)
            .map(|i| {
                let ip = format!("10.{}.{}.1", i / 250, i % 250);
                ev(12 * MINUTE + i64::from(i), "K", &ip, 10 + u64::from(i))
            })
            .collect();
        let out = feed(&d, &mut s, &many);
        assert!(!out.is_empty());
        let w = s.keys.get("cloudtrail\u{1f}K").unwrap();
        assert_eq!(w.values.len(), MAX_VALUES);
        assert!(out.last().unwrap().values.len() >= 3);
    }

    #[test]
    fn event_count_keeps_the_latest_events_in_order_whatever_the_arrival() {
        let d = spec("  type: event_count\n  group-by: [credential.id]\n  timespan: 10m\n  condition: {gte: 3}");
        let mut s = CountState::new(100);
        // arrival 2, 0, 3, 1 (all inside the window)
        let evs = [
            ev(2 * MINUTE, "K", "192.0.2.1", 2),
            ev(0, "K", "192.0.2.1", 0),
            ev(3 * MINUTE, "K", "192.0.2.1", 3),
            ev(MINUTE, "K", "192.0.2.1", 1),
        ];
        let out = feed(&d, &mut s, &evs);
        assert_eq!(out.len(), 2, "the third and fourth arrivals reach 3");
        let last = out.last().unwrap();
        let times: Vec<Millis> = last.evidence.iter().map(|e| e.time).collect();
        assert_eq!(times, [0, MINUTE, 2 * MINUTE, 3 * MINUTE]);
        assert_eq!(last.count, 4);
        assert_eq!(last.start, 0);
        let w = s.keys.get("cloudtrail\u{1f}K").unwrap();
        assert_eq!(
            w.recent.as_ref().unwrap().times.len(),
            3,
            "only the latest gte times are kept"
        );
        // a dropped time already outside the window is not counted: [0, 9, 9.5] then 10.5
        let mut s2 = CountState::new(100);
        let secs = |m: f64| (m * MINUTE as f64) as Millis;
        let evs: Vec<_> = [0.0, 9.0, 9.5, 10.5]
            .iter()
            .enumerate()
            .map(|(i, m)| ev(secs(*m), "K", "192.0.2.1", i as u64))
            .collect();
        let out = feed(&d, &mut s2, &evs);
        let last = out.last().unwrap();
        assert_eq!((last.count, last.start), (3, secs(9.0)));
        // eleven minutes on, the oldest have slid out: one event in the window, no candidate
        let out = feed(&d, &mut s, &[ev(14 * MINUTE, "K", "192.0.2.1", 9)]);
        assert!(out.is_empty());
    }

    #[test]
    fn snapshots_keep_the_flat_layout_and_round_trip() {
        let d = spec("  type: event_count\n  group-by: [credential.id]\n  timespan: 10m\n  condition: {gte: 2}");
        let mut s = CountState::new(100);
        let evs: Vec<_> = (0..3)
            .map(|i| ev(i * MINUTE, "K", "192.0.2.1", i as u64))
            .collect();
        feed(&d, &mut s, &evs);
        let v = serde_json::to_value(&s).unwrap();
        let text = v.to_string();
        for field in ["\"times\"", "\"recent\"", "\"beyond\"", "\"values\""] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        let back: CountState = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        let w = back.keys.get("cloudtrail\u{1f}K").unwrap();
        let r = w.recent.as_ref().unwrap();
        assert_eq!(r.times, [MINUTE, 2 * MINUTE]);
        assert_eq!(r.beyond, 1);
        // a value_count window comes back without an event_count part
        let d = spec(VALUES);
        let mut s = CountState::new(100);
        feed(&d, &mut s, &evs);
        let back: CountState = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert!(back.keys.get("cloudtrail\u{1f}K").unwrap().recent.is_none());
    }
}

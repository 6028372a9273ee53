//! `event_count` and `value_count`: sliding event-time windows per group-by key.
//!
//! Each key keeps the times (and counted values) of its events inside `timespan` of its newest
//! event. Events that are late but still inside that span join the window in time order; older
//! ones are counted in `too_late`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::field::{display_key, group_key, Resolved};
use super::keyed::{FastMap, Keyed, LastSeen};
use super::spec::{Detector, Kind};
use super::{Candidate, StateSize};
use crate::event::{Event, Millis, Str};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct CountState {
    keys: Keyed<KeyWindow>,
    last_sweep: Millis,
    pub too_late: u64,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct KeyWindow {
    /// (time, counted value) of every event in the window, time-ordered
    times: VecDeque<(Millis, Option<Str>)>,
    /// value_count: per distinct value, how many window events carry it and the latest of them
    values: FastMap<Str, (u32, Arc<Event>)>,
    /// event_count: the latest events, for evidence
    recent: VecDeque<Arc<Event>>,
    newest: Millis,
}

impl LastSeen for KeyWindow {
    fn last_seen(&self) -> Millis {
        self.newest
    }
}

impl CountState {
    pub fn new(max_keys: usize) -> CountState {
        CountState {
            keys: Keyed::new(max_keys),
            last_sweep: Millis::MIN,
            too_late: 0,
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
        let (group_by, value_field, timespan, gte) = match &spec.kind {
            Kind::EventCount {
                group_by,
                timespan,
                gte,
            } => (group_by, None, *timespan, *gte),
            Kind::ValueCount {
                group_by,
                field,
                timespan,
                gte,
                ..
            } => (group_by, Some(*field), *timespan, *gte),
            _ => unreachable!("count state belongs to count detectors"),
        };
        if !spec.selection.matches(ev) {
            return;
        }
        let value = match value_field {
            Some(f) => match f.keyed(ev, r) {
                Some(v) => Some(v),
                None => return,
            },
            None => None,
        };
        let Some(key) = group_key(group_by, ev, r) else {
            return;
        };
        let w = self.keys.get_or_insert(&key, || KeyWindow {
            newest: ev.time,
            ..KeyWindow::default()
        });
        if ev.time < w.newest.saturating_sub(timespan) {
            self.too_late += 1;
            return;
        }
        let at = w.times.partition_point(|(t, _)| *t <= ev.time);
        w.times.insert(at, (ev.time, value.clone()));
        w.newest = w.newest.max(ev.time);
        if let Some(v) = value {
            let slot = w.values.entry(v).or_insert_with(|| (0, ev.clone()));
            slot.0 += 1;
            if ev.order(&slot.1).is_gt() {
                slot.1 = ev.clone();
            }
        } else {
            w.recent.push_back(ev.clone());
            if w.recent.len() > spec.max_evidence {
                w.recent.pop_front();
            }
        }
        let horizon = w.newest.saturating_sub(timespan);
        while let Some((t, v)) = w.times.front() {
            if *t >= horizon {
                break;
            }
            if let Some(v) = v {
                if let Some(slot) = w.values.get_mut(v.as_str()) {
                    slot.0 -= 1;
                    if slot.0 == 0 {
                        w.values.remove(v.as_str());
                    }
                }
            }
            w.times.pop_front();
        }
        let reached = match value_field {
            Some(_) => w.values.len() as u64,
            None => w.times.len() as u64,
        };
        // every event at or past the threshold is a candidate: the engine folds repeats inside
        // the detector's suppression period into the open finding
        if reached >= gte {
            out.push(candidate(spec, &key, w, value_field.is_some(), timespan));
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

fn candidate(
    spec: &Detector,
    key: &Str,
    w: &KeyWindow,
    distinct: bool,
    timespan: Millis,
) -> Candidate {
    let start = w.times.front().map_or(w.newest, |(t, _)| *t);
    let (evidence, values, note) = if distinct {
        let mut latest: Vec<&Arc<Event>> = w.values.values().map(|(_, e)| e).collect();
        latest.sort_by(|a, b| a.order(b));
        let mut values: Vec<Str> = w.values.keys().cloned().collect();
        values.sort();
        let note = format!(
            "{} distinct values of {} for {} within {}",
            values.len(),
            match &spec.kind {
                Kind::ValueCount { field, .. } => field.name(),
                _ => "",
            },
            display_key(key),
            humantime::format_duration(std::time::Duration::from_millis(timespan as u64)),
        );
        let ev = latest
            .into_iter()
            .take(spec.max_evidence)
            .cloned()
            .collect();
        (ev, values, note)
    } else {
        let note = format!(
            "{} events for {} within {}",
            w.times.len(),
            display_key(key),
            humantime::format_duration(std::time::Duration::from_millis(timespan as u64)),
        );
        let mut recent: Vec<Arc<Event>> = w.recent.iter().cloned().collect();
        // late events join at the back: evidence is in the total order whatever the arrival
        recent.sort_by(|a, b| a.order(b));
        (recent, Vec::new(), note)
    };
    Candidate {
        key: key.clone(),
        window_start: start,
        start,
        end: w.newest,
        evidence,
        count: w.times.len() as u64,
        values,
        note,
    }
}

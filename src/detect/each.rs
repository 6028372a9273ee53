//! `each`: every matching event is a finding for its group key; with `repeat`, at most one per
//! key per UTC-aligned period (`1d`: one per UTC day), whatever order the events arrive in.

use std::sync::Arc;

use super::field::{display_key, group_key, Resolved};
use super::keyed::{Keyed, LastSeen};
use super::spec::{Detector, Kind};
use super::{Candidate, StateSize};
use crate::event::{Event, Millis, Str};

/// Periods already raised, per key (only with `repeat`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct EachState {
    keys: Keyed<Fired>,
    last_sweep: Millis,
    /// where group keys are built, so a lookup allocates nothing
    #[serde(skip)]
    buf: String,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Fired {
    /// periods raised, ascending; a few recent ones are enough for late events
    periods: Vec<i64>,
    last: Millis,
}

impl LastSeen for Fired {
    fn last_seen(&self) -> Millis {
        self.last
    }
}

const REMEMBERED_PERIODS: usize = 8;

impl EachState {
    pub fn new(max_keys: usize) -> EachState {
        EachState {
            keys: Keyed::new(max_keys),
            last_sweep: Millis::MIN,
            buf: String::new(),
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
        let Kind::Each {
            group_by, repeat, ..
        } = &spec.kind
        else {
            unreachable!("each state belongs to each detectors")
        };
        if !spec.selection.matches(ev) {
            return;
        }
        let Some(key) = group_key(group_by, ev, r, &mut self.buf) else {
            return;
        };
        let mut window_start = ev.time;
        if let Some(r) = repeat.map(|r| r.max(1)) {
            let period = ev.time.div_euclid(r);
            let f = self.keys.get_or_insert(key, Fired::default);
            f.last = f.last.max(ev.time);
            match f.periods.binary_search(&period) {
                Ok(_) => return,
                Err(at) => f.periods.insert(at, period),
            }
            if f.periods.len() > REMEMBERED_PERIODS {
                f.periods.remove(0);
            }
            window_start = period * r;
        }
        out.push(Candidate {
            note: format!(
                "{} by {} ({})",
                ev.action.name,
                ev.principal(),
                display_key(key)
            ),
            key: Str::from(key),
            window_start,
            start: ev.time,
            end: ev.time,
            evidence: vec![ev.evidence()],
            trigger: ev.clone(),
            count: 1,
            values: Vec::new(),
        });
    }

    pub fn on_watermark(&mut self, spec: &Detector, wm: Millis) {
        let Kind::Each {
            repeat: Some(r), ..
        } = &spec.kind
        else {
            return;
        };
        if wm.saturating_sub(self.last_sweep) < crate::time::HOUR {
            return;
        }
        self.last_sweep = wm;
        // a key idle for the remembered periods can only be raised again in a new period
        let horizon = wm.saturating_sub(r.saturating_mul(REMEMBERED_PERIODS as i64));
        self.keys.retain(|f| f.last >= horizon);
    }
}

//! `first_seen`: per key, when it was first seen (or when its credential was issued, when the log
//! says). Fires for keys that are new after a learning period, or, with `min_age`, for keys still
//! in use that long afterwards, at most once per `repeat` period (UTC-aligned: `1d` is per day).

use std::sync::Arc;

use super::field::{display_key, group_key, Resolved};
use super::keyed::{Keyed, LastSeen};
use super::spec::{Detector, Kind};
use super::{Candidate, StateSize};
use crate::event::{Event, Millis, Str};
use crate::time::{format_rfc3339, DAY};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct FirstSeenState {
    keys: Keyed<Seen>,
    /// the first event time this detector saw: the learning period starts here
    started: Option<Millis>,
    /// where group keys are built, so a lookup allocates nothing
    #[serde(skip)]
    buf: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Seen {
    first: Millis,
    last: Millis,
    fired_period: Option<i64>,
}

impl LastSeen for Seen {
    fn last_seen(&self) -> Millis {
        self.last
    }
}

impl FirstSeenState {
    pub fn new(max_keys: usize) -> FirstSeenState {
        FirstSeenState {
            keys: Keyed::new(max_keys),
            started: None,
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
        let Kind::FirstSeen {
            group_by,
            min_age,
            repeat,
            learning,
            ..
        } = &spec.kind
        else {
            unreachable!("first_seen state belongs to first_seen detectors")
        };
        if !spec.selection.matches(ev) {
            return;
        }
        let Some(key) = group_key(group_by, ev, r, &mut self.buf) else {
            return;
        };
        let started = *self.started.get_or_insert(ev.time);
        let mut new = false;
        let s = self.keys.get_or_insert(key, || {
            new = true;
            Seen {
                first: ev.time,
                last: ev.time,
                fired_period: None,
            }
        });
        s.first = s.first.min(ev.time);
        s.last = s.last.max(ev.time);
        let Some(min_age) = *min_age else {
            if new && ev.time >= started.saturating_add(*learning) {
                out.push(Candidate {
                    key: Str::from(key),
                    window_start: ev.time,
                    start: ev.time,
                    end: ev.time,
                    evidence: vec![ev.evidence()],
                    trigger: ev.clone(),
                    count: 1,
                    values: Vec::new(),
                    note: format!("{} seen for the first time", display_key(key)),
                });
            }
            return;
        };
        let issued = ev.credential.as_ref().and_then(|c| c.issued);
        let since = issued.unwrap_or(s.first);
        if ev.time.saturating_sub(since) < min_age {
            return;
        }
        let period = repeat.map_or(0, |r| ev.time.div_euclid(r.max(1)));
        if s.fired_period == Some(period) {
            return;
        }
        s.fired_period = Some(period);
        let basis = if issued.is_some() {
            "issued"
        } else {
            "first seen"
        };
        out.push(Candidate {
            key: Str::from(key),
            window_start: repeat.map_or(since, |r| period * r.max(1)),
            start: since,
            end: ev.time,
            evidence: vec![ev.evidence()],
            trigger: ev.clone(),
            count: 1,
            values: Vec::new(),
            note: format!(
                "{} {basis} {} and still in use {} days later",
                display_key(key),
                format_rfc3339(since),
                ev.time.saturating_sub(since) / DAY
            ),
        });
    }
}

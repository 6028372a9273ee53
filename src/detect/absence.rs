//! `absence`: an event with no counterpart (an approval covering the principal, or a matching
//! event for the same key) within `before`/`after` of it.
//!
//! Counterparts may arrive after the event they cover, so the decision waits until the
//! watermark has passed the event by `after + grace`; only then is the absence final.

use std::collections::VecDeque;
use std::sync::Arc;

use super::field::{display_key, group_key, Resolved};
use super::keyed::{DeadlineQueue, Keyed, LastSeen};
use super::spec::{Detector, Kind};
use super::{Candidate, Ctx, StateSize};
use crate::event::{Event, Millis, Str};
use crate::time::format_rfc3339;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct AbsenceState {
    /// counterpart event times per key, time-ordered
    seen: Keyed<Times>,
    /// events waiting for their decision
    pending: DeadlineQueue,
    last_sweep: Millis,
    /// where group keys are built, so a lookup allocates nothing
    #[serde(skip)]
    buf: String,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Times(VecDeque<Millis>);

impl LastSeen for Times {
    fn last_seen(&self) -> Millis {
        self.0.back().copied().unwrap_or(Millis::MIN)
    }
}

struct Params<'a> {
    group_by: &'a [crate::detect::field::Field],
    approval: Option<&'a str>,
    counterpart: Option<&'a crate::detect::field::Selection>,
    before: Millis,
    after: Millis,
    grace: Millis,
}

fn params(spec: &Detector) -> Params<'_> {
    match &spec.kind {
        Kind::Absence {
            group_by,
            approval,
            counterpart,
            before,
            after,
            grace,
            ..
        } => Params {
            group_by,
            approval: approval.as_deref(),
            counterpart: counterpart.as_ref(),
            before: *before,
            after: *after,
            grace: *grace,
        },
        _ => unreachable!("absence state belongs to absence detectors"),
    }
}

impl AbsenceState {
    pub fn new(max_keys: usize) -> AbsenceState {
        AbsenceState {
            seen: Keyed::new(max_keys),
            pending: DeadlineQueue::new(max_keys),
            last_sweep: Millis::MIN,
            buf: String::new(),
        }
    }

    pub fn size(&self) -> StateSize {
        StateSize {
            keys: self.seen.len() + self.pending.len(),
            evicted: self.seen.evicted() + self.pending.evicted(),
        }
    }

    pub fn on_event(&mut self, spec: &Detector, ev: &Arc<Event>, r: Resolved) {
        let p = params(spec);
        let answers = p.counterpart.is_some_and(|c| c.matches(ev));
        let watched = spec.selection.matches(ev);
        if !answers && !watched {
            return;
        }
        let Some(key) = group_key(p.group_by, ev, r, &mut self.buf) else {
            return;
        };
        if answers {
            let times = self.seen.get_or_insert(key, Times::default);
            let at = times.0.partition_point(|t| *t <= ev.time);
            times.0.insert(at, ev.time);
        }
        if watched {
            // at the cap, the oldest decision is dropped (counted) rather than growing unbounded
            let deadline = ev.time.saturating_add(p.after).saturating_add(p.grace);
            self.pending.push(deadline, Str::from(key), ev.clone());
        }
    }

    pub fn on_watermark(
        &mut self,
        spec: &Detector,
        wm: Millis,
        ctx: &Ctx,
        out: &mut Vec<Candidate>,
    ) {
        let p = params(spec);
        while let Some((key, ev)) = self.pending.pop_due(wm) {
            if self.covered(&p, &key, &ev, ctx) {
                continue;
            }
            out.push(candidate(&p, key, ev));
        }
        if wm.saturating_sub(self.last_sweep) >= crate::time::MINUTE {
            self.last_sweep = wm;
            // a counterpart older than this can no longer cover any event still to be decided
            let horizon = wm
                .saturating_sub(p.after)
                .saturating_sub(p.grace)
                .saturating_sub(p.before);
            self.seen.retain(|t| t.last_seen() >= horizon);
        }
    }

    fn covered(&self, p: &Params, key: &str, ev: &Event, ctx: &Ctx) -> bool {
        if let Some(scope) = p.approval {
            if ctx
                .approvals
                .covering(ev.principal_names(), scope, ev.time)
                .is_some()
            {
                return true;
            }
        }
        if p.counterpart.is_some() {
            if let Some(times) = self.seen.get(key) {
                let lo = ev.time.saturating_sub(p.before);
                let hi = ev.time.saturating_add(p.after);
                let i = times.0.partition_point(|t| *t < lo);
                if times.0.get(i).is_some_and(|t| *t <= hi) {
                    return true;
                }
            }
        }
        false
    }
}

fn candidate(p: &Params, key: Str, ev: Arc<Event>) -> Candidate {
    let what = match (p.approval, p.counterpart.is_some()) {
        (Some(scope), false) => format!("no {scope} approval"),
        (None, true) => "no matching counterpart event".to_string(),
        _ => "no approval or counterpart event".to_string(),
    };
    Candidate {
        note: format!(
            "{} by {} at {}: {what} covers it",
            ev.action.name,
            display_key(&key),
            format_rfc3339(ev.time)
        ),
        key,
        window_start: ev.time,
        start: ev.time,
        end: ev.time,
        count: 1,
        values: Vec::new(),
        evidence: vec![ev.evidence()],
        trigger: ev,
    }
}

//! Dedup and suppression: a detector raising again for the same key inside its `suppress`
//! period (default 1 hour) updates the open finding instead of raising a new one.
//!
//! The first candidate for a detector + key is a Create (OCSF `activity_id` 1). Repeats inside
//! the period, measured in event time from the Create, are folded into it and counted
//! (`occurrences`); an Update (`activity_id` 2, same finding uid) goes out when the count
//! doubles (2, 4, 8, ...) and once more when the period closes with repeats not yet reported.
//! So a burst of a million repeats is one Create and about twenty Updates, and the last one
//! carries the final count. Every repeat is counted in the engine's `suppressed` stats.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::detect::keyed::FastMap;
use crate::detect::Candidate;
use crate::event::{Millis, Str};

/// A finding inside its suppression period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Open {
    /// the Create's finding uid, which its Updates keep
    pub uid: String,
    /// when the period closes (the Create's end time + the detector's `suppress`)
    pub until: Millis,
    pub first_seen: Millis,
    /// times the detector raised this finding in the period (the Create is 1)
    pub occurrences: u64,
    /// occurrences in the last record sent (Create or Update)
    pub reported: u64,
    /// the newest repeat not reported yet: sent as the closing Update (boxed: most open
    /// findings have none, and an alert storm holds a million of them)
    pub pending: Option<Box<Candidate>>,
}

/// What to do with a candidate.
pub enum Verdict {
    /// raise a new finding; call [`Dedup::opened`] with its uid
    Create(Candidate),
    /// send an Update of the open finding with this candidate's evidence
    Update(Candidate, Open),
    /// folded into the open finding, reported later
    Folded,
}

/// Open findings per (detector index, key), with their closing times in order.
#[derive(Default)]
pub struct Dedup {
    open: FastMap<(usize, Str), Open>,
    closing: BTreeSet<(Millis, usize, Str)>,
}

impl Dedup {
    /// Judge a candidate of detector `i` (whose suppression period is `suppress`). A period that
    /// has ended for this key is closed first and returned when it has repeats to report (its
    /// closing Update goes before the new Create).
    pub fn offer(&mut self, i: usize, suppress: Millis, c: Candidate) -> (Verdict, Option<Open>) {
        if suppress <= 0 {
            return (Verdict::Create(c), None);
        }
        let k = (i, c.key.clone());
        let Some(o) = self.open.get_mut(&k) else {
            return (Verdict::Create(c), None);
        };
        if c.end >= o.until {
            let o = self.open.remove(&k).expect("present");
            self.closing.remove(&(o.until, i, c.key.clone()));
            return (Verdict::Create(c), o.pending.is_some().then_some(o));
        }
        o.occurrences += 1;
        if o.occurrences >= o.reported.saturating_mul(2) {
            o.reported = o.occurrences;
            o.pending = None;
            (Verdict::Update(c, o.clone()), None)
        } else {
            o.pending = Some(Box::new(c));
            (Verdict::Folded, None)
        }
    }

    /// Record the Create just raised for detector `i`.
    /// `first_seen` and `end` are the Create's first and last event times.
    pub fn opened(
        &mut self,
        i: usize,
        suppress: Millis,
        uid: String,
        key: &Str,
        span: (Millis, Millis),
    ) {
        if suppress <= 0 {
            return;
        }
        let (first_seen, end) = span;
        let until = end.saturating_add(suppress);
        self.closing.insert((until, i, key.clone()));
        self.open.insert(
            (i, key.clone()),
            Open {
                uid,
                until,
                first_seen,
                occurrences: 1,
                reported: 1,
                pending: None,
            },
        );
    }

    /// Close every period that ends at or before `wm`, oldest first; those with unreported
    /// repeats go to `closed`.
    pub fn close_until(&mut self, wm: Millis, closed: &mut impl FnMut(usize, Open)) {
        while let Some((until, i, key)) = self.closing.first().cloned() {
            if until > wm {
                break;
            }
            self.closing.pop_first();
            if let Some(o) = self.open.remove(&(i, key)) {
                if o.pending.is_some() {
                    closed(i, o);
                }
            }
        }
    }

    /// Open findings, for snapshots: (detector index, key, state), sorted.
    pub fn entries(&self) -> Vec<(usize, Str, Open)> {
        let mut v: Vec<_> = self
            .open
            .iter()
            .map(|((i, k), o)| (*i, k.clone(), o.clone()))
            .collect();
        v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        v
    }

    /// Put back an open finding from a snapshot.
    pub fn restore(&mut self, i: usize, key: Str, o: Open) {
        self.closing.insert((o.until, i, key.clone()));
        self.open.insert((i, key), o);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(key: &str, t: Millis) -> Candidate {
        Candidate {
            key: key.into(),
            window_start: t,
            start: t,
            end: t,
            evidence: Vec::new(),
            trigger: std::sync::Arc::new(crate::event::Event::new(
                t,
                crate::event::Format::Cloudtrail,
                crate::event::Origin::unknown(),
            )),
            count: 1,
            values: Vec::new(),
            note: String::new(),
        }
    }

    fn run(d: &mut Dedup, key: &str, t: Millis, closed: &mut Vec<u64>) -> &'static str {
        let (verdict, ended) = d.offer(0, 100, cand(key, t));
        closed.extend(ended.map(|o| o.occurrences));
        match verdict {
            Verdict::Create(c) => {
                d.opened(0, 100, format!("{key}@{t}"), &c.key, (c.start, c.end));
                "create"
            }
            Verdict::Update(..) => "update",
            Verdict::Folded => "folded",
        }
    }

    #[test]
    fn repeats_fold_with_updates_at_doublings_then_a_closing_update() {
        let mut d = Dedup::default();
        let mut closed = Vec::new();
        let got: Vec<_> = (0..10).map(|t| run(&mut d, "k", t, &mut closed)).collect();
        // occurrences 1 create, 2 update, 3 folded, 4 update, 5-7 folded, 8 update, 9-10 folded
        assert_eq!(
            got,
            [
                "create", "update", "folded", "update", "folded", "folded", "folded", "update",
                "folded", "folded"
            ]
        );
        d.close_until(99, &mut |_, o| closed.push(o.occurrences));
        assert!(closed.is_empty(), "the period has not ended");
        d.close_until(100, &mut |_, o| closed.push(o.occurrences));
        assert_eq!(closed, [10]);
        assert!(d.is_empty());
        // after the period a new finding is created
        assert_eq!(run(&mut d, "k", 150, &mut closed), "create");
    }

    #[test]
    fn other_keys_and_no_suppression_are_independent() {
        let mut d = Dedup::default();
        let mut closed = Vec::new();
        assert_eq!(run(&mut d, "a", 0, &mut closed), "create");
        assert_eq!(run(&mut d, "b", 1, &mut closed), "create");
        assert!(matches!(
            d.offer(0, 0, cand("a", 2)),
            (Verdict::Create(_), None)
        ));
    }

    #[test]
    fn a_repeat_after_the_period_closes_the_old_one_first() {
        let mut d = Dedup::default();
        let mut closed = Vec::new();
        for t in 0..3 {
            run(&mut d, "k", t, &mut closed);
        }
        // the watermark has not moved, but a repeat arrives after the period
        assert_eq!(run(&mut d, "k", 200, &mut closed), "create");
        assert_eq!(closed, [3]);
        // the stale closing entry of the old period does not close the new one
        d.close_until(150, &mut |_, o| closed.push(o.occurrences));
        assert_eq!(d.len(), 1);
    }
}

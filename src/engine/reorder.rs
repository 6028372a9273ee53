//! The reorder buffer: events held until the watermark passes them, handed out in the total
//! order of [`Event::order`].
//!
//! Most inputs arrive nearly sorted (a log file, a Kafka partition), so events that arrive in
//! order go to a FIFO run (push and pop O(1), no comparisons beyond the last element) and only
//! the ones that arrive out of order go to a binary heap; the smaller head of the two comes out
//! first. The output is the same as one heap's.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use crate::event::{Event, Millis, Pos};

/// A held event. The time and position are copied here so most comparisons need not follow the
/// pointer.
pub(super) struct Pending {
    time: Millis,
    pos: Pos,
    pub ev: Arc<Event>,
}

impl Pending {
    pub fn new(ev: Arc<Event>) -> Pending {
        Pending {
            time: ev.time,
            pos: ev.pos,
            ev,
        }
    }

    /// The total order ([`Event::order`]), cheap fields first.
    fn order(&self, o: &Pending) -> Ordering {
        (self.time, self.pos)
            .cmp(&(o.time, o.pos))
            .then_with(|| self.ev.origin.cmp(&o.ev.origin))
    }
}

/// Reversed order for the heap (a max-heap), so the first event in the total order is on top.
struct Rev(Pending);

impl PartialEq for Rev {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Rev {}
impl PartialOrd for Rev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Rev {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.order(&self.0)
    }
}

#[derive(Default)]
pub(super) struct Reorder {
    /// events that arrived in order: sorted, oldest at the front
    run: VecDeque<Pending>,
    /// the others
    heap: BinaryHeap<Rev>,
}

impl Reorder {
    pub fn push(&mut self, p: Pending) {
        match self.run.back() {
            Some(last) if p.order(last) == Ordering::Less => self.heap.push(Rev(p)),
            _ => self.run.push_back(p),
        }
    }

    /// The first held event's time.
    pub fn first_time(&self) -> Option<Millis> {
        match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(b)) => Some(a.time.min(b.0.time)),
            (a, b) => a.map(|p| p.time).or(b.map(|r| r.0.time)),
        }
    }

    /// Take the first held event in the total order.
    pub fn pop(&mut self) -> Option<Pending> {
        let from_run = match (self.run.front(), self.heap.peek()) {
            (Some(a), Some(b)) => a.order(&b.0) != Ordering::Greater,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_run {
            self.run.pop_front()
        } else {
            self.heap.pop().map(|r| r.0)
        }
    }

    pub fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    pub fn clear(&mut self) {
        self.run.clear();
        self.heap.clear();
    }

    /// Every held event, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Event>> {
        self.run
            .iter()
            .chain(self.heap.iter().map(|r| &r.0))
            .map(|p| &p.ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Format, Origin};

    fn ev(time: Millis, offset: u64) -> Arc<Event> {
        let mut e = Event::new(time, Format::Cloudtrail, Origin::unknown());
        e.pos = Pos {
            input: 0,
            offset,
            index: 0,
        };
        Arc::new(e)
    }

    #[test]
    fn pops_in_total_order_whatever_the_arrival() {
        // in order, then a straggler, ties on time broken by position, then more in order
        let arrivals = [
            (10, 1),
            (20, 2),
            (30, 3),
            (15, 4),
            (20, 0),
            (40, 5),
            (5, 6),
            (40, 7),
            (35, 8),
        ];
        let mut r = Reorder::default();
        for (t, o) in arrivals {
            r.push(Pending::new(ev(t, o)));
        }
        assert_eq!(r.len(), arrivals.len());
        assert_eq!(r.first_time(), Some(5));
        let mut got = Vec::new();
        while let Some(p) = r.pop() {
            got.push((p.time, p.pos.offset));
        }
        let mut want: Vec<(Millis, u64)> = arrivals.to_vec();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(r.first_time(), None);
    }

    #[test]
    fn sorted_arrivals_never_touch_the_heap() {
        let mut r = Reorder::default();
        for i in 0..100 {
            r.push(Pending::new(ev(i / 3, i as u64)));
        }
        assert!(r.heap.is_empty());
        assert_eq!(r.len(), 100);
    }
}

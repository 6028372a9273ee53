//! Alert storms: a detector raising new findings faster than a SOC can read them.
//!
//! Per detector, new findings (Creates) are counted in one-minute buckets of event time over the
//! last [`STORM_WINDOW`]. A storm starts when [`STORM_FINDINGS`] or more fall in the window and
//! ends when the window holds fewer than half as many (checked on each finding and as the
//! watermark moves). Every finding is still raised: the storm is reported (replay summary,
//! `bypassd_findings_storm` and `bypassd_findings_storms_total`), so a dashboard shows that one
//! detector is flooding instead of the flood hiding everything else. Work per finding is O(1).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::event::Millis;
use crate::time::MINUTE;

/// The event-time span new findings are counted over.
pub const STORM_WINDOW: Millis = 10 * MINUTE;
/// New findings of one detector within [`STORM_WINDOW`] that make a storm.
pub const STORM_FINDINGS: u64 = 100;

const BUCKETS: Millis = STORM_WINDOW / MINUTE;

/// What the summary and metrics report about one detector's storms.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct StormStats {
    /// storms begun
    pub storms: u64,
    /// new findings raised while a storm was on
    pub findings: u64,
    /// most new findings within one window
    pub peak: u64,
    /// event time the last storm began
    pub since: Millis,
}

#[derive(Default)]
pub(super) struct Watch {
    /// (minute of event time, new findings), oldest first
    buckets: VecDeque<(Millis, u64)>,
    in_window: u64,
    pub on: bool,
    pub stats: StormStats,
}

impl Watch {
    /// A new finding at event time `t`; returns true while a storm is on.
    pub fn finding(&mut self, t: Millis) -> bool {
        let minute = t.div_euclid(MINUTE);
        match self.buckets.back_mut() {
            Some((m, n)) if *m == minute => *n += 1,
            Some(&mut (newest, _)) if newest > minute => {
                // out of order: its own minute if still counted, else it is too old to matter
                match self.buckets.iter_mut().find(|(m, _)| *m == minute) {
                    Some((_, n)) => *n += 1,
                    None if minute > newest - BUCKETS => {
                        let at = self.buckets.partition_point(|(m, _)| *m < minute);
                        self.buckets.insert(at, (minute, 1));
                    }
                    None => return self.on,
                }
            }
            _ => self.buckets.push_back((minute, 1)),
        }
        self.in_window += 1;
        let newest = self.buckets.back().map_or(minute, |b| b.0);
        self.expire(newest);
        let stats = &mut self.stats;
        stats.peak = stats.peak.max(self.in_window);
        if self.on {
            stats.findings += 1;
        } else if self.in_window >= STORM_FINDINGS {
            self.on = true;
            stats.storms += 1;
            stats.findings += self.in_window;
            stats.since = t;
        }
        self.on
    }

    /// The watermark moved to `wm`: findings older than the window no longer count; a storm
    /// whose window holds fewer than half the threshold is over.
    pub fn watermark(&mut self, wm: Millis) {
        if self.buckets.is_empty() {
            return;
        }
        self.expire(wm.div_euclid(MINUTE));
    }

    /// Drop buckets that fell out of the window ending at minute `now`.
    fn expire(&mut self, now: Millis) {
        while let Some(&(m, n)) = self.buckets.front() {
            if m > now.saturating_sub(BUCKETS) {
                break;
            }
            self.buckets.pop_front();
            self.in_window -= n;
        }
        if self.on && self.in_window < STORM_FINDINGS / 2 {
            self.on = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SECOND;

    #[test]
    fn a_storm_starts_at_the_threshold_and_ends_when_the_rate_falls() {
        let mut w = Watch::default();
        // 99 findings in nine minutes: no storm
        for i in 0..99 {
            assert!(!w.finding(i * 5 * SECOND));
        }
        assert!(!w.on && w.stats.storms == 0);
        // the hundredth inside the ten minutes starts one
        assert!(w.finding(9 * MINUTE));
        let s = &w.stats;
        assert_eq!((s.storms, s.findings, s.since), (1, 100, 9 * MINUTE));
        assert!(w.finding(9 * MINUTE + SECOND));
        assert_eq!((w.stats.findings, w.stats.peak), (101, 101));
        // twenty minutes later nothing is left in the window: over
        w.watermark(30 * MINUTE);
        assert!(!w.on);
        // one finding an hour later counts alone: no new storm
        assert!(!w.finding(90 * MINUTE));
        assert_eq!(w.stats.storms, 1);
    }

    #[test]
    fn a_steady_trickle_is_never_a_storm() {
        // 9 findings a minute for ten hours: 90 in any ten minutes
        let mut w = Watch::default();
        for i in 0..(9 * 600) {
            w.finding(i * MINUTE / 9);
        }
        assert_eq!(w.stats.storms, 0);
        assert!(w.stats.peak <= 99, "{}", w.stats.peak);
    }

    #[test]
    fn out_of_order_findings_count_in_their_own_minute() {
        let mut w = Watch::default();
        w.finding(5 * MINUTE);
        w.finding(2 * MINUTE);
        w.finding(3 * MINUTE);
        assert_eq!(w.in_window, 3);
        let minutes: Vec<Millis> = w.buckets.iter().map(|b| b.0).collect();
        assert_eq!(minutes, [2, 3, 5]);
        // far older than the window: not counted
        w.finding(20 * MINUTE);
        w.finding(MINUTE);
        assert_eq!(w.in_window, 1);
    }
}

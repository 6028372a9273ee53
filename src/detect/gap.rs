//! Sessions of identities whose logs name none (AWS root, Okta and GitHub users, Kubernetes
//! users): a session is the identity's run of activity, ended by a quiet gap (`session_gap`,
//! default 30 minutes), not by a calendar day. A detector that reads `session.key` keeps one
//! tracker; its events without an explicit session get `<principal>@<session start>`.
//!
//! Events come in event-time order (late ones excepted): an event more than `gap` after the
//! identity's last one starts a new session; one inside the gap (before or after) joins the
//! current one, whose start, and so its key, stays put. A late event more than `gap` before the
//! current session's start belonged to an earlier session no longer tracked: it gets a session
//! of its own start.

use serde::{Deserialize, Serialize};

use super::field::{explicit_session, push_system};
use super::keyed::{Keyed, LastSeen};
use crate::event::{Event, Millis, Str};
use crate::time::format_rfc3339;

pub const DEFAULT_GAP: Millis = 30 * crate::time::MINUTE;

#[derive(Serialize, Deserialize)]
pub struct Gaps {
    gap: Millis,
    /// per identity (system + principal): its current session
    open: Keyed<Run>,
    last_sweep: Millis,
}

#[derive(Serialize, Deserialize)]
struct Run {
    start: Millis,
    last: Millis,
}

impl LastSeen for Run {
    fn last_seen(&self) -> Millis {
        self.last
    }
}

impl Gaps {
    pub fn new(gap: Millis, max_keys: usize) -> Gaps {
        Gaps {
            gap: gap.max(0),
            open: Keyed::new(max_keys),
            last_sweep: Millis::MIN,
        }
    }

    /// The session of `ev` when its log names none: `<principal>@<session start>`; `None` when
    /// the event names its own session.
    pub fn assign(&mut self, ev: &Event) -> Option<Str> {
        if explicit_session(ev).is_some() {
            return None;
        }
        let mut who = Str::default();
        push_system(&mut who, ev);
        who.push('\u{1f}');
        who.push_str(ev.principal());
        let t = ev.time;
        let gap = self.gap;
        let run = self.open.get_or_insert(&who, || Run { start: t, last: t });
        let start = if t > run.last.saturating_add(gap) {
            *run = Run { start: t, last: t };
            t
        } else if t >= run.start.saturating_sub(gap) {
            run.last = run.last.max(t);
            run.start
        } else {
            t
        };
        Some(Str::from(format!(
            "{}@{}",
            ev.principal(),
            format_rfc3339(start)
        )))
    }

    /// Forget identities quiet for longer than the gap (their next event starts a new session
    /// anyway).
    pub fn on_watermark(&mut self, wm: Millis) {
        if wm.saturating_sub(self.last_sweep) < self.gap.max(crate::time::MINUTE) {
            return;
        }
        self.last_sweep = wm;
        let horizon = wm.saturating_sub(self.gap);
        self.open.retain(|r| r.last >= horizon);
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.open.evicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ActorKind, Format, Origin};
    use crate::time::{parse_rfc3339, MINUTE};
    use std::sync::Arc;

    fn root(format: Format, account: Option<&str>, time: &str) -> Event {
        let t = parse_rfc3339(time).unwrap();
        let mut e = Event::new(
            t,
            format,
            Origin::Inline {
                test: Arc::from("gap"),
                index: 0,
            },
        );
        e.actor.id = "root".into();
        e.actor.name = Some("root".into());
        e.actor.kind = ActorKind::Root;
        e.actor.account = account.map(Str::from);
        e
    }

    fn aws(time: &str) -> Event {
        root(Format::Cloudtrail, Some("111122223333"), time)
    }

    #[test]
    fn a_session_crossing_midnight_is_one() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let a = g.assign(&aws("2026-03-02T23:50:00Z")).unwrap();
        let b = g.assign(&aws("2026-03-03T00:05:00Z")).unwrap();
        let c = g.assign(&aws("2026-03-03T00:20:00Z")).unwrap();
        assert_eq!(a, "root@2026-03-02T23:50:00.000Z");
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn a_quiet_gap_longer_than_the_limit_splits() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let a = g.assign(&aws("2026-03-02T03:12:00Z")).unwrap();
        let b = g.assign(&aws("2026-03-02T03:41:59Z")).unwrap();
        let c = g.assign(&aws("2026-03-02T11:12:00Z")).unwrap();
        assert_eq!(a, b, "29 minutes of quiet keeps the session");
        assert_ne!(b, c, "eight hours apart are two sessions");
        // the gap is the detector's: with 10 hours the two uses are one session
        let mut long = Gaps::new(10 * 60 * MINUTE, 100);
        let a = long.assign(&aws("2026-03-02T03:12:00Z")).unwrap();
        let c = long.assign(&aws("2026-03-02T11:12:00Z")).unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn identities_of_different_systems_are_tracked_apart() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let aws_root = g.assign(&aws("2026-03-02T03:12:00Z")).unwrap();
        // a Vault root token's session is its accessor, not a gap-based one
        let mut vault = root(Format::Vault, None, "2026-03-02T03:20:00Z");
        vault.credential = Some(crate::event::Credential::new(
            "hmac-accessor-1",
            crate::event::CredentialKind::Token,
        ));
        assert_eq!(g.assign(&vault), None);
        assert_eq!(explicit_session(&vault), Some("hmac-accessor-1"));
        // AWS root of another account at the same time starts its own session
        let other = root(
            Format::Cloudtrail,
            Some("444455556666"),
            "2026-03-02T04:00:00Z",
        );
        assert_eq!(g.len(), 1);
        g.assign(&other).unwrap();
        assert_eq!(g.len(), 2);
        // and the first account's root, 50 minutes on, is a new session: the other account's
        // activity did not keep it alive
        let later = g.assign(&aws("2026-03-02T04:02:00Z")).unwrap();
        assert_ne!(later, aws_root);
    }

    #[test]
    fn late_events_inside_the_gap_join_and_quiet_identities_are_forgotten() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let a = g.assign(&aws("2026-03-02T10:00:00Z")).unwrap();
        let late = g.assign(&aws("2026-03-02T09:45:00Z")).unwrap();
        assert_eq!(a, late, "15 minutes before the start is inside the gap");
        let older = g.assign(&aws("2026-03-02T08:00:00Z")).unwrap();
        assert_eq!(older, "root@2026-03-02T08:00:00.000Z");
        g.on_watermark(parse_rfc3339("2026-03-02T12:00:00Z").unwrap());
        assert!(g.is_empty());
    }
}

//! Sessions of identities whose logs name none (AWS root, Okta and GitHub users, Kubernetes
//! users): a session is the identity's run of activity, ended by a quiet gap (`session_gap`,
//! default 30 minutes), not by a calendar day. A detector that reads `session.key` keeps one
//! tracker; its events without an explicit session get `<principal>@<session start>`.
//!
//! Events come in event-time order (late ones excepted): an event more than `gap` after the
//! identity's last one starts a new session; one inside the gap (before or after) joins the
//! current one, whose start, and so its key, stays put. The previous session is remembered too,
//! so a late event (another region's file replayed after this one) joins it when it falls inside
//! its span and gap; one older than both gets a session of its own start.

use serde::{Deserialize, Serialize};

use super::field::{explicit_session, push_system, Scope};
use super::keyed::{Keyed, LastSeen};
use crate::event::{Event, Millis, Str};
use crate::time::format_rfc3339;

pub const DEFAULT_GAP: Millis = 30 * crate::time::MINUTE;

#[derive(Serialize, Deserialize)]
pub struct Gaps {
    gap: Millis,
    /// per identity (system + principal): its current and previous sessions
    open: Keyed<Runs>,
    last_sweep: Millis,
    /// where identity keys are built, so a lookup allocates nothing
    #[serde(skip)]
    buf: String,
}

#[derive(Serialize, Deserialize)]
struct Run {
    start: Millis,
    last: Millis,
    /// `<principal>@<start>`, made once per session
    key: Str,
}

impl Run {
    fn new(principal: &str, t: Millis) -> Run {
        Run {
            start: t,
            last: t,
            key: Str::from(format!("{principal}@{}", format_rfc3339(t))),
        }
    }

    /// Whether `t` belongs to this session: inside its span, or within `gap` of it.
    fn holds(&self, t: Millis, gap: Millis) -> bool {
        t >= self.start.saturating_sub(gap) && t <= self.last.saturating_add(gap)
    }
}

#[derive(Serialize, Deserialize)]
struct Runs {
    current: Run,
    previous: Option<Run>,
    /// the session of a late event older than both, handed out by reference
    #[serde(skip)]
    stray: Option<Str>,
}

impl LastSeen for Runs {
    fn last_seen(&self) -> Millis {
        self.current.last
    }
}

impl Gaps {
    pub fn new(gap: Millis, max_keys: usize) -> Gaps {
        Gaps {
            gap: gap.max(0),
            open: Keyed::new(max_keys),
            last_sweep: Millis::MIN,
            buf: String::new(),
        }
    }

    /// The session of `ev` when its log names none: `<principal>@<session start>`; `None` when
    /// the event names its own session.
    pub fn assign(&mut self, ev: &Event) -> Option<&str> {
        if explicit_session(ev).is_some() {
            return None;
        }
        self.buf.clear();
        push_system(&mut self.buf, ev, Scope::Realm);
        self.buf.push_str(ev.principal());
        let (t, gap) = (ev.time, self.gap);
        let principal = ev.principal();
        let runs = self.open.get_or_insert(&self.buf, || Runs {
            current: Run::new(principal, t),
            previous: None,
            stray: None,
        });
        if runs.current.holds(t, gap) {
            runs.current.last = runs.current.last.max(t);
            return Some(&runs.current.key);
        }
        if t > runs.current.last {
            let next = Run::new(principal, t);
            runs.previous = Some(std::mem::replace(&mut runs.current, next));
            return Some(&runs.current.key);
        }
        match &mut runs.previous {
            Some(p) if p.holds(t, gap) => {
                p.last = p.last.max(t);
                Some(&p.key)
            }
            _ => Some(runs.stray.insert(Run::new(principal, t).key)),
        }
    }

    /// Forget identities quiet for longer than the gap (their next event starts a new session
    /// anyway).
    pub fn on_watermark(&mut self, wm: Millis) {
        if wm.saturating_sub(self.last_sweep) < self.gap.max(crate::time::MINUTE) {
            return;
        }
        self.last_sweep = wm;
        let horizon = wm.saturating_sub(self.gap);
        self.open.retain(|r| r.current.last >= horizon);
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
        let a = g.assign(&aws("2026-03-02T23:50:00Z")).unwrap().to_string();
        let b = g.assign(&aws("2026-03-03T00:05:00Z")).unwrap().to_string();
        let c = g.assign(&aws("2026-03-03T00:20:00Z")).unwrap().to_string();
        assert_eq!(a, "root@2026-03-02T23:50:00.000Z");
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn a_quiet_gap_longer_than_the_limit_splits() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let a = g.assign(&aws("2026-03-02T03:12:00Z")).unwrap().to_string();
        let b = g.assign(&aws("2026-03-02T03:41:59Z")).unwrap().to_string();
        let c = g.assign(&aws("2026-03-02T11:12:00Z")).unwrap().to_string();
        assert_eq!(a, b, "29 minutes of quiet keeps the session");
        assert_ne!(b, c, "eight hours apart are two sessions");
        // the gap is the detector's: with 10 hours the two uses are one session
        let mut long = Gaps::new(10 * 60 * MINUTE, 100);
        let a = long
            .assign(&aws("2026-03-02T03:12:00Z"))
            .unwrap()
            .to_string();
        let c = long
            .assign(&aws("2026-03-02T11:12:00Z"))
            .unwrap()
            .to_string();
        assert_eq!(a, c);
    }

    #[test]
    fn identities_of_different_systems_are_tracked_apart() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let aws_root = g.assign(&aws("2026-03-02T03:12:00Z")).unwrap().to_string();
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
        g.assign(&other).unwrap().to_string();
        assert_eq!(g.len(), 2);
        // and the first account's root, 50 minutes on, is a new session: the other account's
        // activity did not keep it alive
        let later = g.assign(&aws("2026-03-02T04:02:00Z")).unwrap().to_string();
        assert_ne!(later, aws_root);
    }

    #[test]
    fn late_events_join_the_session_they_fall_in_and_quiet_identities_are_forgotten() {
        let mut g = Gaps::new(DEFAULT_GAP, 100);
        let mut at = |t: &str| g.assign(&aws(t)).unwrap().to_string();
        let a = at("2026-03-02T08:00:00Z");
        assert_eq!(at("2026-03-02T08:10:00Z"), a);
        let b = at("2026-03-02T10:00:00Z");
        assert_ne!(a, b);
        assert_eq!(
            at("2026-03-02T09:45:00Z"),
            b,
            "15 minutes before the start: inside the gap"
        );
        // another region's file replayed after this one: its 08:20 call is the first session's
        assert_eq!(at("2026-03-02T08:20:00Z"), a);
        // older than both sessions and their gaps: a session of its own
        assert_eq!(at("2026-03-02T06:00:00Z"), "root@2026-03-02T06:00:00.000Z");
        assert_eq!(at("2026-03-02T10:05:00Z"), b, "the current session is kept");
        g.on_watermark(parse_rfc3339("2026-03-02T12:00:00Z").unwrap());
        assert!(g.is_empty());
    }
}

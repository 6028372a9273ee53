//! `session`: a session (the events sharing a group key, e.g. `session.key`) still running
//! past `max_session` after its first event, or past the end of the approval covering its start.
//!
//! Approvals may arrive after the events they cover, and an extension may be granted late, so
//! each event is decided once the watermark has passed it by `grace`. One finding per session.

use std::sync::Arc;

use super::field::{display_key, group_key, Resolved};
use super::keyed::{DeadlineQueue, Keyed, LastSeen};
use super::spec::{Detector, Kind, MaxSession};
use super::{Candidate, Ctx, StateSize};
use crate::event::{Event, Millis, Str};
use crate::time::{format_rfc3339, HOUR};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    sessions: Keyed<Session>,
    /// events waiting for their decision
    pending: DeadlineQueue,
    last_sweep: Millis,
    /// where group keys are built, so a lookup allocates nothing
    #[serde(skip)]
    buf: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Session {
    first: Arc<Event>,
    last: Millis,
    raised: bool,
}

impl LastSeen for Session {
    fn last_seen(&self) -> Millis {
        self.last
    }
}

/// How long after its last event a session is forgotten (AWS sessions last at most 12 hours).
const SESSION_IDLE: Millis = 12 * HOUR;

impl SessionState {
    pub fn new(max_keys: usize) -> SessionState {
        SessionState {
            sessions: Keyed::new(max_keys),
            pending: DeadlineQueue::new(max_keys),
            last_sweep: Millis::MIN,
            buf: String::new(),
        }
    }

    pub fn size(&self) -> StateSize {
        StateSize {
            keys: self.sessions.len() + self.pending.len(),
            evicted: self.sessions.evicted() + self.pending.evicted(),
        }
    }

    pub fn on_event(&mut self, spec: &Detector, ev: &Arc<Event>, r: Resolved) {
        let Kind::Session {
            group_by, grace, ..
        } = &spec.kind
        else {
            unreachable!("session state belongs to session detectors")
        };
        if !spec.selection.matches(ev) {
            return;
        }
        let Some(key) = group_key(group_by, ev, r, &mut self.buf).map(Str::from) else {
            return;
        };
        let s = self.sessions.get_or_insert(&key, || Session {
            first: ev.clone(),
            last: ev.time,
            raised: false,
        });
        if ev.order(&s.first).is_lt() {
            s.first = ev.clone();
        }
        s.last = s.last.max(ev.time);
        if s.raised {
            return;
        }
        self.pending
            .push(ev.time.saturating_add(*grace), key, ev.clone());
    }

    pub fn on_watermark(
        &mut self,
        spec: &Detector,
        wm: Millis,
        ctx: &Ctx,
        out: &mut Vec<Candidate>,
    ) {
        let Kind::Session {
            max_session,
            approval,
            ..
        } = &spec.kind
        else {
            return;
        };
        let limit = match max_session {
            MaxSession::Fixed(d) => *d,
            MaxSession::Inventory => ctx.inventory.max_session(),
        };
        while let Some((key, ev)) = self.pending.pop_due(wm) {
            let Some(s) = self.sessions.get_mut(&key) else {
                continue;
            };
            if s.raised {
                continue;
            }
            let start = s.first.time;
            let why = if ev.time.saturating_sub(start) > limit {
                Some(format!(
                    "running {} min after it started at {} (max_session {})",
                    (ev.time - start) / crate::time::MINUTE,
                    format_rfc3339(start),
                    humantime::format_duration(std::time::Duration::from_millis(limit as u64))
                ))
            } else {
                approval.as_deref().and_then(|scope| {
                    let a = ctx
                        .approvals
                        .covering(s.first.principal_names(), scope, start)?;
                    let still = ctx
                        .approvals
                        .covering(ev.principal_names(), scope, ev.time)
                        .is_some();
                    (ev.time > a.valid_until && !still).then(|| {
                        format!(
                            "running {} min past the end of approval {} ({})",
                            (ev.time - a.valid_until) / crate::time::MINUTE,
                            a.id,
                            format_rfc3339(a.valid_until)
                        )
                    })
                })
            };
            let Some(why) = why else { continue };
            s.raised = true;
            out.push(Candidate {
                note: format!(
                    "session {} of {}: {} at {}, {why}",
                    display_key(&key),
                    ev.principal(),
                    ev.action.name,
                    format_rfc3339(ev.time)
                ),
                key,
                window_start: start,
                start,
                end: ev.time,
                evidence: vec![s.first.evidence(), ev.evidence()],
                trigger: ev,
                count: 2,
                values: Vec::new(),
            });
        }
        if wm.saturating_sub(self.last_sweep) >= HOUR {
            self.last_sweep = wm;
            let horizon = wm.saturating_sub(SESSION_IDLE.max(limit));
            self.sessions.retain(|s| s.last >= horizon);
        }
    }
}

//! Detectors: declarative specs (`spec`) compiled into running state machines, one module per
//! kind. Detectors are pure and clock-free: they receive events in event-time order plus the
//! watermark, and return candidate findings. Live mode and replay call the same code.

pub mod absence;
pub mod count;
pub mod each;
pub mod field;
pub mod first_seen;
pub mod gap;
pub mod keyed;
pub mod load;
pub mod selftest;
pub mod session;
pub mod spec;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::context::ApprovalStore;
use crate::event::{Event, Millis, Str};
use crate::evidence::Ev;
use crate::inventory::Inventory;
use field::Resolved;
use spec::{Detector, Kind};

/// What a detector hands the engine; the engine suppresses repeats and builds the finding.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "SavedCandidate")]
pub struct Candidate {
    /// the group-by key (U+001F between fields)
    pub key: Str,
    /// where the finding's window starts: with detector id and key, this makes the finding uid
    pub window_start: Millis,
    /// first and last contributing event times
    pub start: Millis,
    pub end: Millis,
    /// contributing events, time-ordered, at most the detector's `max_evidence`
    pub evidence: Vec<Ev>,
    /// the event that raised it: the detector's `except` and the business context are decided
    /// on it
    pub trigger: Arc<Event>,
    /// how many events contributed in all
    pub count: u64,
    /// distinct values counted (value_count), sorted
    pub values: Vec<Str>,
    /// one line of explanation
    pub note: String,
}

/// A candidate as snapshots store it. Evidence is stored in the event's shape, so it is read as
/// events: a snapshot from before candidates had a trigger stored whole events, and its last
/// evidence event, context included, was the trigger.
#[derive(serde::Deserialize)]
struct SavedCandidate {
    key: Str,
    window_start: Millis,
    start: Millis,
    end: Millis,
    evidence: Vec<Arc<Event>>,
    trigger: Option<Arc<Event>>,
    count: u64,
    values: Vec<Str>,
    note: String,
}

impl TryFrom<SavedCandidate> for Candidate {
    type Error = &'static str;

    fn try_from(s: SavedCandidate) -> Result<Candidate, &'static str> {
        let trigger = match (s.trigger, s.evidence.last()) {
            (Some(t), _) => t,
            (None, Some(last)) => last.clone(),
            (None, None) => return Err("a candidate with neither trigger nor evidence"),
        };
        Ok(Candidate {
            key: s.key,
            window_start: s.window_start,
            start: s.start,
            end: s.end,
            evidence: s.evidence.iter().map(|e| e.evidence()).collect(),
            trigger,
            count: s.count,
            values: s.values,
            note: s.note,
        })
    }
}

/// Read-only context detectors may consult.
pub struct Ctx<'a> {
    pub approvals: &'a ApprovalStore,
    pub inventory: &'a Inventory,
}

/// Sizes a detector reports: tracked keys and evictions (for the summary and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    pub keys: usize,
    pub evicted: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum State {
    Single,
    Each(each::EachState),
    Session(session::SessionState),
    Count(count::CountState),
    Absence(absence::AbsenceState),
    FirstSeen(first_seen::FirstSeenState),
}

/// A detector with its state.
pub struct Running {
    pub spec: Arc<Detector>,
    state: State,
    /// gap-based sessions, for detectors that read `session.key`
    gaps: Option<gap::Gaps>,
}

/// What a snapshot keeps of a [`Running`].
#[derive(serde::Serialize)]
struct SavedRef<'a> {
    state: &'a State,
    gaps: &'a Option<gap::Gaps>,
}

#[derive(serde::Deserialize)]
struct Saved {
    state: State,
    gaps: Option<gap::Gaps>,
}

impl Running {
    pub fn new(spec: Arc<Detector>) -> Running {
        let state = match &spec.kind {
            Kind::Single => State::Single,
            Kind::Each { max_keys, .. } => State::Each(each::EachState::new(*max_keys)),
            Kind::Session { max_keys, .. } => State::Session(session::SessionState::new(*max_keys)),
            Kind::EventCount { .. } => State::Count(count::CountState::new(spec::DEFAULT_MAX_KEYS)),
            Kind::ValueCount { max_keys, .. } => State::Count(count::CountState::new(*max_keys)),
            Kind::Absence { max_keys, .. } => State::Absence(absence::AbsenceState::new(*max_keys)),
            Kind::FirstSeen { max_keys, .. } => {
                State::FirstSeen(first_seen::FirstSeenState::new(*max_keys))
            }
        };
        let gaps = spec
            .session_gap
            .map(|g| gap::Gaps::new(g, spec.kind.max_keys()));
        Running { spec, state, gaps }
    }

    /// Feed one event: in event-time order, except late events (older than the watermark), which
    /// each kind places itself.
    pub fn on_event(&mut self, ev: &Arc<Event>, out: &mut Vec<Candidate>) {
        let spec = &*self.spec;
        // the events an identity's sessions are made of: those the detector matches, and an
        // absence detector's counterparts (the same session must key both)
        let session = match &mut self.gaps {
            Some(g) if spec.selection.matches(ev) || spec.kind.counterpart_matches(ev) => {
                g.assign(ev)
            }
            _ => None,
        };
        let r = Resolved { session };
        match &mut self.state {
            State::Single => {
                if spec.selection.matches(ev) {
                    out.push(single(ev));
                }
            }
            State::Each(s) => s.on_event(spec, ev, r, out),
            State::Session(s) => s.on_event(spec, ev, r),
            State::Count(s) => s.on_event(spec, ev, r, out),
            State::Absence(s) => s.on_event(spec, ev, r),
            State::FirstSeen(s) => s.on_event(spec, ev, r, out),
        }
    }

    /// The watermark moved to `wm`: decide what waited for it and expire old state.
    pub fn on_watermark(&mut self, wm: Millis, ctx: &Ctx, out: &mut Vec<Candidate>) {
        let spec = &*self.spec;
        if let Some(g) = &mut self.gaps {
            g.on_watermark(wm);
        }
        match &mut self.state {
            State::Single | State::FirstSeen(_) => {}
            State::Each(s) => s.on_watermark(spec, wm),
            State::Session(s) => s.on_watermark(spec, wm, ctx, out),
            State::Count(s) => s.on_watermark(spec, wm),
            State::Absence(s) => s.on_watermark(spec, wm, ctx, out),
        }
    }

    /// The detector's state, for a snapshot.
    pub fn save(&self) -> serde_json::Result<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(&SavedRef {
            state: &self.state,
            gaps: &self.gaps,
        })
    }

    /// Put back state saved by [`Running::save`] from a detector with the same
    /// [`Detector::state_fingerprint`].
    pub fn load(&mut self, saved: &serde_json::value::RawValue) -> serde_json::Result<()> {
        let saved: Saved = serde_json::from_str(saved.get())?;
        self.state = saved.state;
        self.gaps = saved.gaps;
        Ok(())
    }

    pub fn size(&self) -> StateSize {
        let mut size = self.kind_size();
        if let Some(g) = &self.gaps {
            size.keys += g.len();
            size.evicted += g.evicted();
        }
        size
    }

    fn kind_size(&self) -> StateSize {
        match &self.state {
            State::Single => StateSize::default(),
            State::Each(s) => s.size(),
            State::Session(s) => s.size(),
            State::Count(s) => s.size(),
            State::Absence(s) => s.size(),
            State::FirstSeen(s) => s.size(),
        }
    }

    /// Events that arrived too late to join any window still held (counted, not correlated).
    pub fn too_late(&self) -> u64 {
        match &self.state {
            State::Count(s) => s.too_late,
            _ => 0,
        }
    }
}

fn single(ev: &Arc<Event>) -> Candidate {
    let field = match ev.credential {
        Some(_) => field::Field::CredentialId,
        None => field::Field::ActorId,
    };
    let key = Str::from(
        field
            .keyed(ev, Resolved::default(), &mut String::new())
            .unwrap_or(&ev.actor.id),
    );
    Candidate {
        key,
        window_start: ev.time,
        start: ev.time,
        end: ev.time,
        evidence: vec![ev.evidence()],
        trigger: ev.clone(),
        count: 1,
        values: Vec::new(),
        note: format!("{} by {}", ev.action.name, ev.actor.id),
    }
}

//! What a detector keeps of an event as evidence: the fields a finding prints of it (actor,
//! credential, operation, source, time, place in the input) and nothing else, in two small
//! allocations (about 400 bytes) instead of the whole [`Event`] (768 bytes plus its long strings).
//!
//! Windows hold one evidence event per distinct value for as long as the value stays in the
//! window: over 1M keys, about 400 of a tracked key's 1.4 KB (the rest is the detectors' own
//! per-key state). Decisions that need the whole event (the
//! detector's `except`, the business context) are taken on the event that raised the finding,
//! which the engine still holds.

use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{
    Actor, ActorKind, Credential, CredentialKind, Event, Format, Millis, Origin, Outcome, Pos,
    Source, Ua,
};

/// Evidence as detectors share it: one per event, however many windows keep it.
pub type Ev = Arc<Evidence>;

/// The texts an evidence event keeps, in the order they are stored.
#[derive(Clone, Copy)]
enum T {
    ActorId,
    ActorName,
    Account,
    CredentialId,
    Operation,
    Service,
    SourceName,
    Network,
    EventId,
    Resource,
}

const TEXTS: usize = T::Resource as usize + 1;

/// One event as evidence (see the module documentation). Snapshots store it in the event's own
/// shape, so state saved before it existed loads unchanged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Event", into = "Event")]
pub struct Evidence {
    pub time: Millis,
    pub pos: Pos,
    pub origin: Origin,
    pub format: Format,
    pub outcome: Outcome,
    pub actor_kind: ActorKind,
    pub credential_kind: Option<CredentialKind>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<Ua>,
    /// the texts one after another; text `i` ends at `ends[i]`
    text: Box<str>,
    ends: [u32; TEXTS],
    /// bit `i`: text `i` is present (an absent text and an empty one differ)
    present: u16,
}

impl Evidence {
    /// What `ev` leaves as evidence.
    pub fn of(ev: &Event) -> Evidence {
        let texts: [Option<&str>; TEXTS] = [
            Some(ev.actor.id.as_str()),
            ev.actor.name.as_deref(),
            ev.actor.account.as_deref(),
            ev.credential.as_ref().map(|c| c.id.as_str()),
            Some(ev.action.name.as_str()),
            ev.action.service.as_deref(),
            // the logged source when it is not an address (`lambda.amazonaws.com`)
            match ev.source.ip {
                None => ev.source.raw.as_deref(),
                Some(_) => None,
            },
            ev.source.network.as_deref(),
            ev.id.as_deref(),
            ev.action.resource.as_deref(),
        ];
        let mut text = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let mut ends = [0u32; TEXTS];
        let mut present = 0u16;
        for (i, t) in texts.iter().enumerate() {
            if let Some(t) = t {
                text.push_str(t);
                present |= 1 << i;
            }
            // a record is at most a few MB (`--max-line-bytes`), far below 4 GiB
            ends[i] = u32::try_from(text.len()).expect("evidence texts under 4 GiB");
        }
        Evidence {
            time: ev.time,
            pos: ev.pos,
            origin: ev.origin.clone(),
            format: ev.format,
            outcome: ev.action.outcome,
            actor_kind: ev.actor.kind,
            credential_kind: ev.credential.as_ref().map(|c| c.kind),
            ip: ev.source.ip,
            user_agent: ev.source.user_agent.clone(),
            text: text.into_boxed_str(),
            ends,
            present,
        }
    }

    fn get(&self, t: T) -> Option<&str> {
        let i = t as usize;
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.text[start..self.ends[i] as usize])
    }

    pub fn actor_id(&self) -> &str {
        self.get(T::ActorId).unwrap_or_default()
    }

    pub fn actor_name(&self) -> Option<&str> {
        self.get(T::ActorName)
    }

    pub fn account(&self) -> Option<&str> {
        self.get(T::Account)
    }

    pub fn credential_id(&self) -> Option<&str> {
        self.get(T::CredentialId)
    }

    pub fn operation(&self) -> &str {
        self.get(T::Operation).unwrap_or_default()
    }

    pub fn service(&self) -> Option<&str> {
        self.get(T::Service)
    }

    /// The logged source when it is not an address (`lambda.amazonaws.com`).
    pub fn source_name(&self) -> Option<&str> {
        self.get(T::SourceName)
    }

    pub fn network(&self) -> Option<&str> {
        self.get(T::Network)
    }

    /// The vendor's event id.
    pub fn event_id(&self) -> Option<&str> {
        self.get(T::EventId)
    }

    pub fn resource(&self) -> Option<&str> {
        self.get(T::Resource)
    }

    /// The total order of events (see [`Event::order`]).
    pub fn order_key(&self) -> (Millis, Pos, &Origin) {
        (self.time, self.pos, &self.origin)
    }
}

impl From<Event> for Evidence {
    fn from(ev: Event) -> Evidence {
        Evidence::of(&ev)
    }
}

/// The event an evidence record came from, as far as it kept it (for snapshots).
impl From<Evidence> for Event {
    fn from(x: Evidence) -> Event {
        let mut ev = Event::new(x.time, x.format, x.origin.clone());
        ev.pos = x.pos;
        ev.id = x.event_id().map(Into::into);
        ev.actor = Actor {
            id: x.actor_id().into(),
            name: x.actor_name().map(Into::into),
            kind: x.actor_kind,
            account: x.account().map(Into::into),
            ..Actor::default()
        };
        ev.credential = x
            .credential_id()
            .zip(x.credential_kind)
            .map(|(id, kind)| Credential::new(id, kind));
        let raw = match x.ip {
            Some(ip) => Some(ip.to_string()),
            None => x.source_name().map(str::to_string),
        };
        ev.source = Source::from_raw(raw.as_deref(), None);
        ev.source.ip = x.ip;
        ev.source.user_agent = x.user_agent.clone();
        ev.source.network = x.network().map(Into::into);
        ev.action.name = x.operation().into();
        ev.action.service = x.service().map(Into::into);
        ev.action.resource = x.resource().map(Into::into);
        ev.action.outcome = x.outcome;
        ev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let mut e = Event::new(
            1_000,
            Format::Cloudtrail,
            Origin::File {
                path: Arc::from("f.jsonl"),
                line: 3,
                offset: 120,
            },
        );
        e.id = Some("ev-1".into());
        e.actor.id = "arn:aws:iam::111122223333:user/deploy-bot".into();
        e.actor.name = Some("deploy-bot".into());
        e.actor.account = Some("111122223333".into());
        e.actor.kind = ActorKind::Service;
        e.actor.role = Some("not kept".into());
        e.credential = Some(Credential::new("AKIAEXAMPLE", CredentialKind::LongTermKey));
        e.action.name = "GetObject".into();
        e.action.service = Some("s3.amazonaws.com".into());
        e.action.outcome = Outcome::Success;
        e.source = Source::from_raw(Some("203.0.113.10"), Some("aws-cli/2"));
        e.source.network = Some("203.0.113.0/24".into());
        e
    }

    #[test]
    fn keeps_what_a_finding_prints_and_tells_absent_from_empty() {
        let mut e = event();
        e.action.resource = Some("".into());
        let x = Evidence::of(&e);
        assert_eq!(x.actor_id(), "arn:aws:iam::111122223333:user/deploy-bot");
        assert_eq!(x.actor_name(), Some("deploy-bot"));
        assert_eq!(x.account(), Some("111122223333"));
        assert_eq!(x.credential_id(), Some("AKIAEXAMPLE"));
        assert_eq!(x.credential_kind, Some(CredentialKind::LongTermKey));
        assert_eq!(x.operation(), "GetObject");
        assert_eq!(x.service(), Some("s3.amazonaws.com"));
        assert_eq!(x.source_name(), None, "an address is not a source name");
        assert_eq!(x.ip, "203.0.113.10".parse().ok());
        assert_eq!(x.network(), Some("203.0.113.0/24"));
        assert_eq!(x.event_id(), Some("ev-1"));
        assert_eq!(x.resource(), Some(""));
        assert_eq!(x.user_agent.as_deref(), Some("aws-cli/2"));
        e.action.resource = None;
        e.id = None;
        e.source = Source::from_raw(Some("lambda.amazonaws.com"), None);
        let x = Evidence::of(&e);
        assert_eq!(x.resource(), None);
        assert_eq!(x.event_id(), None);
        assert_eq!(x.source_name(), Some("lambda.amazonaws.com"));
        assert_eq!(x.network(), None);
    }

    #[test]
    fn a_snapshot_round_trip_keeps_it_and_reads_a_saved_event() {
        let x = Arc::new(Evidence::of(&event()));
        let saved = serde_json::to_string(&x).unwrap();
        let back: Ev = serde_json::from_str(&saved).unwrap();
        assert_eq!(*back, *x);
        // state saved when windows held whole events loads as their evidence
        let old = serde_json::to_string(&event()).unwrap();
        let back: Ev = serde_json::from_str(&old).unwrap();
        assert_eq!(*back, *x);
    }
}

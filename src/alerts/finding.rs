//! The finding: one OCSF Detection Finding (`class_uid` 2004) per alert, serialised as one JSON
//! line. Every timestamp derives from event time; the uid from detector id, key and window start,
//! so replaying the same input yields the same findings byte for byte.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use super::context::BusinessContext;
use crate::detect::field::display_key;
use crate::detect::spec::{Detector, References};
use crate::detect::Candidate;
use crate::event::{Millis, Origin, Str};
use crate::evidence::Ev;
use crate::time::format_rfc3339;

pub const OCSF_VERSION: &str = "1.4.0";

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
    pub type_uid: u32,
    pub severity_id: u8,
    pub severity: &'static str,
    pub status_id: u32,
    pub status: &'static str,
    pub time: Millis,
    pub time_dt: String,
    pub start_time: Millis,
    pub end_time: Millis,
    pub message: String,
    pub metadata: Metadata,
    pub finding_info: FindingInfo,
    pub actor: OcsfActor,
    pub evidences: Vec<Artifact>,
    pub unmapped: Unmapped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// this record's own id: the finding uid for the Create, `<uid>-<occurrences>` for an Update
    /// (what sinks and the emitted journal deduplicate on)
    pub uid: String,
    pub version: &'static str,
    pub product: Product,
}

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub vendor_name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingInfo {
    pub uid: String,
    pub title: Text,
    pub desc: Text,
    pub types: Vec<&'static str>,
    pub analytic: Analytic,
    pub first_seen_time: Millis,
    pub last_seen_time: Millis,
    pub related_events_count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Analytic {
    pub uid: Text,
    pub name: Text,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct OcsfActor {
    pub user: OcsfUser,
}

#[derive(Debug, Clone, Serialize)]
pub struct OcsfUser {
    pub uid: Str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_uid: Option<Str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub uid: Str,
}

/// One contributing event (OCSF Evidence Artifacts), with its source position. Serialised
/// straight from the detectors' evidence: an alert storm raises millions, and copying every field
/// into an owned record first cost more than writing it.
#[derive(Debug, Clone)]
pub struct Artifact(Ev);

impl std::ops::Deref for Artifact {
    type Target = crate::evidence::Evidence;
    fn deref(&self) -> &crate::evidence::Evidence {
        &self.0
    }
}

impl Serialize for Artifact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ev = &*self.0;
        View {
            actor: ActorView {
                user: UserView {
                    uid: ev.actor_id(),
                    name: ev.actor_name(),
                    kind: ev.actor_kind.name(),
                    credential_uid: ev.credential_id(),
                    account: ev.account().map(|uid| Uid { uid }),
                },
            },
            api: ApiView {
                operation: ev.operation(),
                service: ev.service().map(|name| Name { name }),
            },
            src_endpoint: EndpointView {
                ip: ev.ip,
                name: ev.source_name(),
                network: ev.network(),
                user_agent: ev.user_agent.as_deref(),
            },
            data: DataView {
                time: ev.time,
                time_dt: format_rfc3339(ev.time),
                format: ev.format.name(),
                event_uid: ev.event_id(),
                outcome: ev.outcome.name(),
                resource: ev.resource(),
                origin: &ev.origin,
            },
        }
        .serialize(s)
    }
}

// The evidence as written: field names, order and omissions are the finding format.
#[derive(Serialize)]
struct View<'a> {
    actor: ActorView<'a>,
    api: ApiView<'a>,
    src_endpoint: EndpointView<'a>,
    data: DataView<'a>,
}

#[derive(Serialize)]
struct ActorView<'a> {
    user: UserView<'a>,
}

#[derive(Serialize)]
struct UserView<'a> {
    uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_uid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Uid<'a>>,
}

#[derive(Serialize)]
struct Uid<'a> {
    uid: &'a str,
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ApiView<'a> {
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Name<'a>>,
}

#[derive(Serialize)]
struct EndpointView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
}

#[derive(Serialize)]
struct DataView<'a> {
    time: Millis,
    time_dt: String,
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_uid: Option<&'a str>,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<&'a str>,
    origin: &'a Origin,
}

/// bypassd's own fields.
#[derive(Debug, Clone, Serialize)]
pub struct Unmapped {
    pub detector: Text,
    pub family: &'static str,
    pub kind: &'static str,
    pub key: String,
    pub note: String,
    /// events behind this record
    pub count: u64,
    /// times the detector raised this finding in its suppression period (1 for a Create; an
    /// Update carries the count so far)
    pub occurrences: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distinct_values: Vec<Str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialRef>,
    pub references: Arc<RawValue>,
    pub evidence_truncated: bool,
    /// owner, ticket, expiry, approval: what the organisation declared about this use
    #[serde(skip_serializing_if = "is_empty_context")]
    pub context: BusinessContext,
}

fn is_empty_context(c: &BusinessContext) -> bool {
    *c == BusinessContext::default()
}

#[derive(Debug, Clone, Serialize)]
pub struct CredentialRef {
    pub id: Str,
    pub kind: &'static str,
}

/// A detector's text as every one of its findings shows it: kept once, with its JSON string
/// literal escaped once, so a finding neither copies nor re-escapes it (a description is most
/// of a kilobyte; in an alert storm escaping it was the writer's largest cost).
#[derive(Debug, Clone)]
pub struct Text {
    plain: Arc<str>,
    json: Arc<RawValue>,
}

impl Text {
    pub fn new(s: &str) -> Text {
        let json = serde_json::to_string(s).expect("a string serialises");
        Text {
            plain: Arc::from(s),
            json: Arc::from(RawValue::from_string(json).expect("a JSON string literal")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.plain
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.plain
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

/// What a detector's findings show of its spec, prepared once when it is compiled.
#[derive(Debug, Clone)]
pub struct Shown {
    pub id: Text,
    pub title: Text,
    /// the description, trimmed
    pub desc: Text,
    pub references: Arc<RawValue>,
}

impl Shown {
    pub fn new(id: &str, title: &str, description: &str, references: &References) -> Shown {
        let refs = serde_json::to_string(references).expect("references serialise");
        Shown {
            id: Text::new(id),
            title: Text::new(title),
            desc: Text::new(description.trim()),
            references: Arc::from(RawValue::from_string(refs).expect("serialised JSON")),
        }
    }
}

/// The finding uid: a stable hash of detector id, key and window start.
pub fn finding_uid(detector: &str, key: &str, window_start: Millis) -> String {
    let mut buf = Vec::with_capacity(detector.len() + key.len() + 10);
    buf.extend_from_slice(detector.as_bytes());
    buf.push(0);
    buf.extend_from_slice(key.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&window_start.to_be_bytes());
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&buf))
}

fn user(ev: &crate::evidence::Evidence) -> OcsfUser {
    OcsfUser {
        uid: ev.actor_id().into(),
        name: ev.actor_name().map(Into::into),
        kind: ev.actor_kind.name(),
        credential_uid: ev.credential_id().map(Into::into),
        account: ev.account().map(|uid| Account { uid: uid.into() }),
    }
}

impl Finding {
    /// Build the finding; `context` is the business context of the event that raised it
    /// (`c.trigger`).
    pub fn new(spec: &Detector, c: Candidate, context: BusinessContext) -> Finding {
        let last = c.evidence.last().expect("a candidate has evidence");
        let uid = finding_uid(&spec.id, &c.key, c.window_start);
        let truncated = c.count > c.evidence.len() as u64;
        let credential = last
            .credential_id()
            .zip(last.credential_kind)
            .map(|(id, kind)| CredentialRef {
                id: id.into(),
                kind: kind.name(),
            });
        Finding {
            class_uid: 2004,
            class_name: "Detection Finding",
            category_uid: 2,
            category_name: "Findings",
            activity_id: 1,
            activity_name: "Create",
            type_uid: 200401,
            severity_id: spec.severity.id(),
            severity: spec.severity.caption(),
            status_id: 1,
            status: "New",
            time: c.end,
            time_dt: format_rfc3339(c.end),
            start_time: c.start,
            end_time: c.end,
            message: match (&context.exception, spec.family) {
                (Some(x), crate::detect::spec::Family::ExceptionPath) => {
                    format!("{}: {}; {}", spec.title, c.note, x.summary())
                }
                _ => format!("{}: {}", spec.title, c.note),
            },
            metadata: Metadata {
                uid: uid.clone(),
                version: OCSF_VERSION,
                product: Product {
                    name: "bypassd",
                    vendor_name: "bypassd",
                    version: env!("CARGO_PKG_VERSION"),
                },
            },
            finding_info: FindingInfo {
                uid,
                title: spec.shown.title.clone(),
                desc: spec.shown.desc.clone(),
                types: vec![spec.family.name()],
                analytic: Analytic {
                    uid: spec.shown.id.clone(),
                    name: spec.shown.title.clone(),
                    type_id: 1,
                    kind: "Rule",
                },
                first_seen_time: c.start,
                last_seen_time: c.end,
                related_events_count: c.count,
            },
            actor: OcsfActor { user: user(last) },
            evidences: c.evidence.iter().cloned().map(Artifact).collect(),
            unmapped: Unmapped {
                detector: spec.shown.id.clone(),
                family: spec.family.name(),
                kind: spec.kind.name(),
                key: display_key(&c.key),
                note: c.note,
                count: c.count,
                occurrences: 1,
                distinct_values: c.values.iter().map(|v| Str::from(display_key(v))).collect(),
                credential,
                references: spec.shown.references.clone(),
                evidence_truncated: truncated,
                context,
            },
        }
    }
}

impl Finding {
    /// An Update (OCSF `activity_id` 2) of the open finding `uid`, first seen at `first_seen`,
    /// raised `occurrences` times so far; `c` is the newest repeat, whose evidence it carries.
    pub fn update(
        spec: &Detector,
        c: Candidate,
        context: BusinessContext,
        uid: &str,
        first_seen: Millis,
        occurrences: u64,
    ) -> Finding {
        let mut f = Finding::new(spec, c, context);
        f.activity_id = 2;
        f.activity_name = "Update";
        f.type_uid = 200402;
        f.status_id = 2;
        f.status = "In Progress";
        f.metadata.uid = format!("{uid}-{occurrences}");
        f.finding_info.uid = uid.to_string();
        f.finding_info.first_seen_time = first_seen;
        f.start_time = f.start_time.min(first_seen);
        f.unmapped.occurrences = occurrences;
        f.message = format!(
            "{} (seen {occurrences} times since first raised)",
            f.message
        );
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_stable_and_depends_on_every_part() {
        let a = finding_uid("d", "k", 1);
        assert_eq!(a, finding_uid("d", "k", 1));
        assert_eq!(a.len(), 32);
        assert_ne!(a, finding_uid("d", "k", 2));
        assert_ne!(a, finding_uid("d", "k2", 1));
        assert_ne!(finding_uid("ab", "c", 1), finding_uid("a", "bc", 1));
    }
}

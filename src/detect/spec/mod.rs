//! Detector files (`detectors/*.yaml`): their serde types, validation with every error reported,
//! and compilation into typed [`Detector`]s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

mod compile;
pub use compile::compile;

use super::field::{Field, Selection};

use crate::event::Millis;

/// A detector file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorFile {
    pub id: String,
    pub title: String,
    pub family: String,
    pub severity: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub references: References,
    /// `field|modifier: value or [values]`, all of which must hold
    #[serde(default, rename = "match")]
    pub selection: BTreeMap<String, Value>,
    /// and at least one of these blocks must hold (each block: all of its conditions)
    #[serde(default)]
    pub any_of: Vec<BTreeMap<String, Value>>,
    /// findings whose triggering event matches this are dropped (counted as excepted); the
    /// event still counts toward the detector's state
    #[serde(default)]
    pub except: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub correlation: Option<CorrelationFile>,
    /// repeats for the same key inside this period (default 1h; "0s" turns it off) update the
    /// open finding (OCSF Update with a count) instead of raising a new one
    #[serde(default)]
    pub suppress: Option<String>,
    /// how many contributing events a finding carries at most (default 10)
    #[serde(default)]
    pub max_evidence: Option<usize>,
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

/// Framework references carried by every finding of the detector.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct References {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nist_csf: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_nhi: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitre_attack: Vec<String>,
}

/// The `correlation:` block (Sigma's vocabulary: `type`, `group-by`, `timespan`, `condition`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationFile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "group-by")]
    pub group_by: Vec<String>,
    pub timespan: Option<String>,
    pub condition: Option<ConditionFile>,
    pub absent: Option<AbsentFile>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub grace: Option<String>,
    pub min_age: Option<String>,
    pub repeat: Option<String>,
    pub learning: Option<String>,
    pub max_keys: Option<usize>,
    /// `session`: how long a session may run (a duration, or `inventory` for the inventory's
    /// `break_glass.max_session`)
    pub max_session: Option<String>,
    /// `session`: the session also ends when the approval of this scope covering its start ends
    pub approval: Option<String>,
    /// detectors reading `session.key`: an identity whose log names no session has a new one
    /// after this much quiet (default 30m)
    pub session_gap: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    pub gte: u64,
    pub field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsentFile {
    /// an approval of this scope covering the principal at the event's time
    pub approval: Option<String>,
    /// or an event matching this selection, with the same group-by key
    #[serde(rename = "match")]
    pub selection: Option<BTreeMap<String, Value>>,
}

/// An inline test: these records (any input format, approvals included) must yield `expect`
/// findings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub expect: usize,
    pub events: Vec<Value>,
    /// the inventory this case runs with (same schema as `--inventory`); none when absent
    #[serde(default)]
    pub inventory: Option<Value>,
    /// the inventory, validated at load
    #[serde(skip)]
    pub compiled_inventory: Option<std::sync::Arc<crate::inventory::Inventory>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    CredentialSharing,
    StandingToken,
    BreakGlass,
    ExceptionPath,
    ApprovalBypass,
}

/// Family names as detector files (and sink filters) write them.
pub const FAMILIES: &[(&str, Family)] = &[
    ("credential_sharing", Family::CredentialSharing),
    ("standing_token", Family::StandingToken),
    ("break_glass", Family::BreakGlass),
    ("exception_path", Family::ExceptionPath),
    ("approval_bypass", Family::ApprovalBypass),
];

impl Family {
    pub fn name(self) -> &'static str {
        FAMILIES
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("named")
    }
}

/// OCSF severity ids 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational = 1,
    Low = 2,
    Medium = 3,
    High = 4,
    Critical = 5,
}

/// Severity names as detector files (and sink filters) write them, lowest first.
pub const SEVERITIES: &[(&str, Severity)] = &[
    ("informational", Severity::Informational),
    ("low", Severity::Low),
    ("medium", Severity::Medium),
    ("high", Severity::High),
    ("critical", Severity::Critical),
];

impl Severity {
    pub fn id(self) -> u8 {
        self as u8
    }

    /// As detector files write it: `high` (the metrics' severity label).
    pub fn name(self) -> &'static str {
        SEVERITIES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("unknown", |(n, _)| n)
    }

    /// OCSF's caption: `High`.
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// A compiled, validated detector.
#[derive(Debug, Clone)]
pub struct Detector {
    pub id: String,
    pub title: String,
    pub description: String,
    pub family: Family,
    pub severity: Severity,
    pub references: References,
    pub selection: Filter,
    /// triggering events that do not raise findings
    pub except: Option<Selection>,
    pub kind: Kind,
    pub suppress: Millis,
    pub max_evidence: usize,
    /// set when the detector reads `session.key`: the quiet gap that ends a session an identity's
    /// log does not name (see [`crate::detect::gap`])
    pub session_gap: Option<Millis>,
    pub tests: Vec<TestCase>,
    /// the file it came from, for messages
    pub file: String,
    /// id, title, description and references as its findings show them
    pub shown: crate::alerts::finding::Shown,
}

impl Detector {
    /// Identifies what the detector's state means: its selection, exception, kind and
    /// suppression, not its title, description or tests. A reload keeps the state of a detector
    /// whose fingerprint is unchanged and starts a changed one afresh.
    pub fn state_fingerprint(&self) -> u64 {
        let shape = format!(
            "{:?}|{:?}|{:?}|{}|{}|{:?}",
            self.selection,
            self.except,
            self.kind,
            self.suppress,
            self.max_evidence,
            self.session_gap
        );
        xxhash_rust::xxh3::xxh3_64(shape.as_bytes())
    }
}

/// A detector's `match` (all of) and `any_of` (at least one block).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub all: Selection,
    pub any: Vec<Selection>,
}

impl Filter {
    pub fn matches(&self, ev: &crate::event::Event) -> bool {
        self.all.matches(ev) && (self.any.is_empty() || self.any.iter().any(|s| s.matches(ev)))
    }
}

/// How long a `session` may run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxSession {
    Fixed(Millis),
    /// the inventory's `break_glass.max_session` (1h when it gives none)
    Inventory,
}

/// What a detector correlates.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// every matching event is a finding
    Single,
    /// every matching event is a finding for its group key; with `repeat`, at most one per key
    /// per UTC-aligned period (`1d`: per day)
    Each {
        group_by: Vec<Field>,
        repeat: Option<Millis>,
        max_keys: usize,
    },
    /// a session (events with the same key) still running past `max_session` after its first
    /// event, or past the end of the `approval` covering its start; decided once the watermark
    /// passes the event by `grace`, at most one finding per session
    Session {
        group_by: Vec<Field>,
        max_session: MaxSession,
        approval: Option<String>,
        grace: Millis,
        max_keys: usize,
    },
    /// `gte` or more matching events per key within `timespan`
    EventCount {
        group_by: Vec<Field>,
        timespan: Millis,
        gte: u64,
    },
    /// `gte` or more distinct values of `field` per key within `timespan`
    ValueCount {
        group_by: Vec<Field>,
        field: Field,
        timespan: Millis,
        gte: u64,
        max_keys: usize,
    },
    /// a matching event with no `absent` counterpart from `before` ahead of it to `after` past it,
    /// decided once the watermark passes the event by `after + grace`
    Absence {
        group_by: Vec<Field>,
        approval: Option<String>,
        counterpart: Option<Selection>,
        before: Millis,
        after: Millis,
        grace: Millis,
        max_keys: usize,
    },
    /// per key, the first time it was seen (or the credential's issue time): fires when the key is
    /// new after `learning`, or, with `min_age`, when it is still used that long after, at most once
    /// per `repeat`
    FirstSeen {
        group_by: Vec<Field>,
        min_age: Option<Millis>,
        repeat: Option<Millis>,
        learning: Millis,
        max_keys: usize,
    },
}

impl Kind {
    /// The cap on tracked keys (the default where the kind has no `max_keys`).
    pub fn max_keys(&self) -> usize {
        match self {
            Kind::Each { max_keys, .. }
            | Kind::Session { max_keys, .. }
            | Kind::ValueCount { max_keys, .. }
            | Kind::Absence { max_keys, .. }
            | Kind::FirstSeen { max_keys, .. } => *max_keys,
            Kind::Single | Kind::EventCount { .. } => DEFAULT_MAX_KEYS,
        }
    }

    /// Whether `ev` is an `absence` detector's counterpart (an event that answers the watched
    /// one).
    pub fn counterpart_matches(&self, ev: &crate::event::Event) -> bool {
        match self {
            Kind::Absence {
                counterpart: Some(c),
                ..
            } => c.matches(ev),
            _ => false,
        }
    }

    /// The fields the kind keys and counts by.
    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        let (group_by, counted): (&[Field], Option<Field>) = match self {
            Kind::Single => (&[], None),
            Kind::ValueCount {
                group_by, field, ..
            } => (group_by, Some(*field)),
            Kind::Each { group_by, .. }
            | Kind::Session { group_by, .. }
            | Kind::EventCount { group_by, .. }
            | Kind::Absence { group_by, .. }
            | Kind::FirstSeen { group_by, .. } => (group_by, None),
        };
        group_by.iter().copied().chain(counted)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Kind::Single => "match",
            Kind::Each { .. } => "each",
            Kind::Session { .. } => "session",
            Kind::EventCount { .. } => "event_count",
            Kind::ValueCount { .. } => "value_count",
            Kind::Absence { .. } => "absence",
            Kind::FirstSeen { .. } => "first_seen",
        }
    }
}

pub const KINDS: &[&str] = &[
    "each",
    "event_count",
    "value_count",
    "absence",
    "first_seen",
    "session",
];
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;
pub const DEFAULT_MAX_EVIDENCE: usize = 10;

//! Detector files (`detectors/*.yaml`): their serde types, validation with every error reported,
//! and compilation into typed [`Detector`]s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use super::field::{Cond, Field, Selection};

use crate::event::Millis;
use crate::time::parse_duration;

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
    /// findings for the same key inside this period are suppressed (counted) after the first
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

const FAMILIES: &[(&str, Family)] = &[
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

const SEVERITIES: &[(&str, Severity)] = &[
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
    pub tests: Vec<TestCase>,
    /// the file it came from, for messages
    pub file: String,
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

/// Collects errors as `file: detector ID: field: message`.
struct Errors<'a> {
    prefix: String,
    list: &'a mut Vec<String>,
}

impl Errors<'_> {
    fn push(&mut self, field: &str, msg: impl std::fmt::Display) {
        self.list.push(format!("{}: {field}: {msg}", self.prefix));
    }
}

/// Validate and compile one parsed file; every problem is appended to `errors`.
pub fn compile(file: &str, f: DetectorFile, errors: &mut Vec<String>) -> Option<Detector> {
    let before = errors.len();
    let mut e = Errors {
        prefix: format!("{file}: detector {}", f.id),
        list: errors,
    };
    if f.id.is_empty()
        || !f
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        e.push(
            "id",
            "must be non-empty lowercase letters, digits, '-' or '_'",
        );
    }
    if f.title.trim().is_empty() {
        e.push("title", "must not be empty");
    }
    let family = lookup(FAMILIES, &f.family, "family", &mut e);
    let severity = lookup(SEVERITIES, &f.severity, "severity", &mut e);
    let all = selection(&f.selection, "match", &mut e);
    let any: Vec<Selection> = f
        .any_of
        .iter()
        .enumerate()
        .map(|(i, m)| selection(m, &format!("any_of[{i}]"), &mut e))
        .collect();
    if any.iter().any(|s| s.0.is_empty()) {
        e.push("any_of", "a block must have at least one condition");
    }
    let except = f.except.as_ref().map(|m| selection(m, "except", &mut e));
    let kind = match &f.correlation {
        None => Some(Kind::Single),
        Some(c) => correlation(c, &mut e),
    };
    let default_suppress = match &kind {
        Some(Kind::EventCount { timespan, .. }) | Some(Kind::ValueCount { timespan, .. }) => {
            *timespan
        }
        Some(Kind::Single) | Some(Kind::Each { .. }) => 0,
        _ => crate::time::HOUR,
    };
    let suppress = duration(f.suppress.as_deref(), "suppress", &mut e).unwrap_or(default_suppress);
    if f.tests.is_empty() {
        e.push("tests", "at least one inline test case is required");
    }
    let mut tests = f.tests;
    for t in &mut tests {
        let Some(v) = &t.inventory else { continue };
        let at = format!("tests[{:?}].inventory", t.name);
        match serde_yaml_ng::to_string(v)
            .map_err(|err| vec![err.to_string()])
            .and_then(|text| {
                crate::inventory::Inventory::parse(&at, &text).map_err(|err| err.errors)
            }) {
            Ok(inv) => t.compiled_inventory = Some(std::sync::Arc::new(inv)),
            Err(errs) => errs.into_iter().for_each(|m| e.push(&at, m)),
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Detector {
        id: f.id,
        title: f.title,
        description: f.description,
        family: family?,
        severity: severity?,
        references: f.references,
        selection: Filter { all, any },
        except,
        kind: kind?,
        suppress,
        max_evidence: f.max_evidence.unwrap_or(DEFAULT_MAX_EVIDENCE).max(1),
        tests,
        file: file.to_string(),
    })
}

fn lookup<T: Copy>(table: &[(&str, T)], v: &str, field: &str, e: &mut Errors) -> Option<T> {
    let found = table.iter().find(|(n, _)| *n == v).map(|(_, t)| *t);
    if found.is_none() {
        let valid: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        e.push(
            field,
            format!("unknown value {v:?} (valid: {})", valid.join(", ")),
        );
    }
    found
}

fn duration(v: Option<&str>, field: &str, e: &mut Errors) -> Option<Millis> {
    match parse_duration(v?) {
        Ok(d) => Some(d),
        Err(msg) => {
            e.push(field, msg);
            None
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn selection(map: &BTreeMap<String, Value>, at: &str, e: &mut Errors) -> Selection {
    let mut conds = Vec::new();
    for (key, value) in map {
        let values = match value {
            Value::Sequence(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            v => scalar(v).map(|s| vec![s]),
        };
        let Some(values) = values else {
            e.push(
                &format!("{at}.{key}"),
                "values must be strings, numbers, booleans or a list of them",
            );
            continue;
        };
        match Cond::parse(key, values) {
            Ok(c) => conds.push(c),
            Err(msg) => e.push(at, msg),
        }
    }
    Selection(conds)
}

fn fields(names: &[String], at: &str, e: &mut Errors) -> Vec<Field> {
    names
        .iter()
        .filter_map(|n| Field::parse(n).map_err(|m| e.push(at, m)).ok())
        .collect()
}

fn correlation(c: &CorrelationFile, e: &mut Errors) -> Option<Kind> {
    let group_by = fields(&c.group_by, "correlation.group-by", e);
    let max_keys = c.max_keys.unwrap_or(DEFAULT_MAX_KEYS).max(1);
    let timespan = duration(c.timespan.as_deref(), "correlation.timespan", e);
    // which optional keys each type accepts, so a misplaced one is an error, not ignored
    let allowed: &[&str] = match c.kind.as_str() {
        "each" => &["repeat", "max_keys"],
        "session" => &["max_session", "approval", "grace", "max_keys"],
        "event_count" => &["timespan", "condition"],
        "value_count" => &["timespan", "condition", "max_keys"],
        "absence" => &["absent", "before", "after", "grace", "max_keys"],
        "first_seen" => &["min_age", "repeat", "learning", "max_keys"],
        other => {
            e.push(
                "correlation.type",
                format!("unknown type {other:?} (valid: {})", KINDS.join(", ")),
            );
            return None;
        }
    };
    let present = [
        ("timespan", c.timespan.is_some()),
        ("condition", c.condition.is_some()),
        ("absent", c.absent.is_some()),
        ("before", c.before.is_some()),
        ("after", c.after.is_some()),
        ("grace", c.grace.is_some()),
        ("min_age", c.min_age.is_some()),
        ("repeat", c.repeat.is_some()),
        ("learning", c.learning.is_some()),
        ("max_keys", c.max_keys.is_some()),
        ("max_session", c.max_session.is_some()),
        ("approval", c.approval.is_some()),
    ];
    for (k, set) in present {
        if set && !allowed.contains(&k) {
            e.push(
                &format!("correlation.{k}"),
                format!("does not apply to type {}", c.kind),
            );
        }
    }
    if group_by.is_empty() && c.group_by.is_empty() {
        e.push("correlation.group-by", "at least one field is required");
    }
    match c.kind.as_str() {
        "event_count" | "value_count" => {
            let Some(cond) = &c.condition else {
                e.push("correlation.condition", "required (e.g. {gte: 3})");
                return None;
            };
            if cond.gte == 0 {
                e.push("correlation.condition.gte", "must be at least 1");
            }
            if timespan.is_none() && c.timespan.is_none() {
                e.push("correlation.timespan", "required (e.g. 10m)");
            }
            if c.kind == "event_count" {
                if cond.field.is_some() {
                    e.push("correlation.condition.field", "applies to value_count only");
                }
                return Some(Kind::EventCount {
                    group_by,
                    timespan: timespan?,
                    gte: cond.gte,
                });
            }
            let Some(name) = &cond.field else {
                e.push(
                    "correlation.condition.field",
                    "value_count needs the field whose distinct values are counted",
                );
                return None;
            };
            let field = Field::parse(name)
                .map_err(|m| e.push("correlation.condition.field", m))
                .ok()?;
            Some(Kind::ValueCount {
                group_by,
                field,
                timespan: timespan?,
                gte: cond.gte,
                max_keys,
            })
        }
        "absence" => {
            let Some(a) = &c.absent else {
                e.push(
                    "correlation.absent",
                    "required: an approval scope and/or a match",
                );
                return None;
            };
            if a.approval.is_none() && a.selection.is_none() {
                e.push(
                    "correlation.absent",
                    "needs approval: SCOPE and/or match: {...}",
                );
            }
            let counterpart = a
                .selection
                .as_ref()
                .map(|m| selection(m, "correlation.absent.match", e));
            Some(Kind::Absence {
                group_by,
                approval: a.approval.clone(),
                counterpart,
                before: duration(c.before.as_deref(), "correlation.before", e).unwrap_or(0),
                after: duration(c.after.as_deref(), "correlation.after", e).unwrap_or(0),
                grace: duration(c.grace.as_deref(), "correlation.grace", e)
                    .unwrap_or(10 * crate::time::MINUTE),
                max_keys,
            })
        }
        "each" => Some(Kind::Each {
            group_by,
            repeat: duration(c.repeat.as_deref(), "correlation.repeat", e),
            max_keys,
        }),
        "session" => {
            let max_session = match c.max_session.as_deref() {
                None | Some("inventory") => MaxSession::Inventory,
                Some(d) => MaxSession::Fixed(duration(Some(d), "correlation.max_session", e)?),
            };
            Some(Kind::Session {
                group_by,
                max_session,
                approval: c.approval.clone(),
                grace: duration(c.grace.as_deref(), "correlation.grace", e)
                    .unwrap_or(10 * crate::time::MINUTE),
                max_keys,
            })
        }
        _ => Some(Kind::FirstSeen {
            group_by,
            min_age: duration(c.min_age.as_deref(), "correlation.min_age", e),
            repeat: duration(c.repeat.as_deref(), "correlation.repeat", e),
            learning: duration(c.learning.as_deref(), "correlation.learning", e).unwrap_or(0),
            max_keys,
        }),
    }
}

//! Validation of a parsed detector file, every problem reported, and compilation into a typed
//! [`Detector`].

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::{
    CorrelationFile, Detector, DetectorFile, Filter, Kind, MaxSession, DEFAULT_MAX_EVIDENCE,
    DEFAULT_MAX_KEYS, FAMILIES, KINDS, SEVERITIES,
};
use crate::detect::field::{Cond, Field, Selection};
use crate::event::Millis;
use crate::time::parse_duration;

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
    // one hour, and never shorter than a counting window (the condition keeps holding while
    // the window slides)
    let default_suppress = match &kind {
        Some(Kind::EventCount { timespan, .. }) | Some(Kind::ValueCount { timespan, .. }) => {
            (*timespan).max(crate::time::HOUR)
        }
        _ => crate::time::HOUR,
    };
    let suppress = duration(f.suppress.as_deref(), "suppress", &mut e).unwrap_or(default_suppress);
    let session_gap = session_gap(f.correlation.as_ref(), kind.as_ref(), &mut e);
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
    let shown = crate::alerts::finding::Shown::new(&f.id, &f.title, &f.description, &f.references);
    Some(Detector {
        shown,
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
        session_gap,
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

/// The quiet gap that ends an unnamed session, for detectors that read `session.key`.
fn session_gap(c: Option<&CorrelationFile>, kind: Option<&Kind>, e: &mut Errors) -> Option<Millis> {
    let reads_sessions = kind.is_some_and(|k| k.fields().any(|f| f == Field::SessionKey));
    let given = c.and_then(|c| c.session_gap.as_deref());
    if given.is_some() && !reads_sessions {
        e.push(
            "correlation.session_gap",
            "applies only when session.key is a group-by or condition field",
        );
    }
    let gap = duration(given, "correlation.session_gap", e);
    if gap.is_some_and(|g| g <= 0) {
        e.push("correlation.session_gap", "must be longer than 0s");
    }
    reads_sessions.then(|| gap.unwrap_or(crate::detect::gap::DEFAULT_GAP))
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

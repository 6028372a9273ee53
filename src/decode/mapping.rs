//! Operator-defined JSON formats (`--mappings FILE`): for an in-house application's audit log,
//! how to recognise its records and where each identity-event field lives. Validated at load
//! with every error reported at once; see `docs/mappings.md` for the worked example.
//!
//! Paths are dot-separated keys; a numeric segment indexes an array (`targets.0.id`); a key that
//! itself contains dots is written in brackets (`extra.[kubernetes.io/pod-name].0`).

use std::collections::BTreeMap;
use std::path::Path;

use memchr::memmem;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use super::{DecodeError, Reason};
use crate::event::{
    Actor, ActorKind, Credential, CredentialKind, Event, Format, Origin, Outcome, Source,
    SourceVendor, Str,
};
use crate::time::{from_epoch, parse_time_text};

/// A path into a JSON record.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
    /// `"last-key"` as it appears in the raw text, to skip records cheaply
    needle: String,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let mut segments = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (seg, after) = if let Some(r) = rest.strip_prefix('[') {
                let end = r
                    .find(']')
                    .ok_or_else(|| format!("path {text:?}: unclosed '['"))?;
                (&r[..end], &r[end + 1..])
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            if seg.is_empty() {
                return Err(format!("path {text:?}: empty segment"));
            }
            segments.push(seg.to_string());
            rest = after.strip_prefix('.').unwrap_or(after);
            if after.starts_with('.') && rest.is_empty() {
                return Err(format!("path {text:?}: ends with '.'"));
            }
        }
        let last = segments
            .iter()
            .rev()
            .find(|s| s.parse::<usize>().is_err())
            .ok_or_else(|| format!("path {text:?}: needs at least one key"))?;
        let needle = serde_json::to_string(last).expect("a string serialises");
        Ok(JsonPath {
            text: text.to_string(),
            needle,
            segments,
        })
    }

    pub fn get<'a>(&self, v: &'a Json) -> Option<&'a Json> {
        let mut cur = v;
        for s in &self.segments {
            cur = match cur {
                Json::Object(m) => m.get(s)?,
                Json::Array(a) => a.get(s.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!cur.is_null()).then_some(cur)
    }

    /// The value as text: strings as they are, numbers and booleans printed; empty strings,
    /// objects and arrays are `None`.
    pub fn text<'a>(&self, v: &'a Json) -> Option<std::borrow::Cow<'a, str>> {
        match self.get(v)? {
            Json::String(s) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(s)),
            Json::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
            Json::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
            _ => None,
        }
    }
}

/// How a record's time is written.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    /// RFC 3339, or an epoch number in any unit (judged by size)
    Auto,
    Rfc3339,
    EpochSeconds,
    EpochMillis,
    /// a chrono `strftime` pattern, read as UTC unless it has an offset (`%z`)
    Pattern(String),
}

/// Where one field's value comes from: a path in the record, or a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueFrom {
    Path(JsonPath),
    Const(String),
}

/// A field: its source and an optional value map (vendor value -> bypassd value).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    pub from: ValueFrom,
    pub map: BTreeMap<String, String>,
}

impl FieldMap {
    fn value(&self, v: &Json) -> Option<String> {
        let raw = match &self.from {
            ValueFrom::Path(p) => p.text(v)?.into_owned(),
            ValueFrom::Const(c) => c.clone(),
        };
        Some(self.map.get(&raw).cloned().unwrap_or(raw))
    }
}

/// One recognition rule: every rule of a mapping must hold for a record to be that format.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Equals(JsonPath, String),
    Exists(JsonPath),
    StartsWith(JsonPath, String),
}

impl Rule {
    fn path(&self) -> &JsonPath {
        match self {
            Rule::Equals(p, _) | Rule::Exists(p) | Rule::StartsWith(p, _) => p,
        }
    }

    fn holds(&self, v: &Json) -> bool {
        match self {
            Rule::Exists(p) => p.get(v).is_some(),
            Rule::Equals(p, want) => p.text(v).is_some_and(|t| t == want.as_str()),
            Rule::StartsWith(p, want) => p.text(v).is_some_and(|t| t.starts_with(want.as_str())),
        }
    }
}

/// One operator-defined format.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub id: &'static str,
    pub recognise: Vec<Rule>,
    pub time: (JsonPath, TimeFormat),
    pub fields: BTreeMap<&'static str, FieldMap>,
}

/// Every field a mapping can set, with what its values may be (`None`: free text).
const FIELDS: &[(&str, Option<&[&str]>)] = &[
    ("id", None),
    ("actor.id", None),
    ("actor.name", None),
    (
        "actor.kind",
        Some(&["human", "service", "root", "agent", "unknown"]),
    ),
    ("actor.type", None),
    ("actor.account", None),
    ("actor.role", None),
    ("actor.impersonator", None),
    ("credential.id", None),
    ("credential.kind", None),
    ("credential.long_lived", Some(&["true", "false"])),
    ("session", None),
    ("mfa", Some(&["true", "false"])),
    ("source.ip", None),
    ("source.user_agent", None),
    ("source.device", None),
    ("action.name", None),
    ("action.service", None),
    ("action.resource", None),
    ("action.outcome", Some(&["success", "failure", "unknown"])),
    ("action.error", None),
    ("region", None),
];

const REQUIRED: &[&str] = &["actor.id", "action.name"];

/// The loaded mappings, in file order (the first whose rules hold decodes a record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mappings {
    pub formats: Vec<Mapping>,
}

/// Every problem found in a mapping file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", errors.join("\n"))]
pub struct MappingError {
    pub errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    formats: Vec<RawMapping>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
struct RawMapping {
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    recognise: Vec<RawRule>,
    time: Option<RawTime>,
    #[serde(default)]
    fields: BTreeMap<String, RawField>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawRule {
    path: Option<String>,
    equals: Option<Value>,
    exists: Option<bool>,
    starts_with: Option<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Path(String),
    Full {
        path: Option<String>,
        format: Option<String>,
        #[serde(flatten)]
        unknown: BTreeMap<String, Value>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawField {
    Path(String),
    Full {
        path: Option<String>,
        value: Option<Value>,
        #[serde(default)]
        map: BTreeMap<String, Value>,
        #[serde(flatten)]
        unknown: BTreeMap<String, Value>,
    },
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn unknown_keys(at: &str, unknown: &BTreeMap<String, Value>, valid: &[&str], e: &mut Vec<String>) {
    for k in unknown.keys() {
        e.push(format!(
            "{at}: unknown key {k:?} (valid: {})",
            valid.join(", ")
        ));
    }
}

fn path(at: &str, text: &str, e: &mut Vec<String>) -> Option<JsonPath> {
    JsonPath::parse(text)
        .map_err(|m| e.push(format!("{at}: {m}")))
        .ok()
}

impl Mappings {
    pub fn load(file: &Path) -> Result<Mappings, MappingError> {
        let text = std::fs::read_to_string(file).map_err(|e| MappingError {
            errors: vec![format!("{}: cannot read: {e}", file.display())],
        })?;
        Mappings::parse(&file.display().to_string(), &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Mappings, MappingError> {
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| MappingError {
            errors: vec![format!("{name}: {e}")],
        })?;
        let mut errors = Vec::new();
        unknown_keys(name, &raw.unknown, &["formats"], &mut errors);
        if raw.formats.is_empty() {
            errors.push(format!("{name}: no formats defined (formats: [...])"));
        }
        let mut out = Mappings::default();
        for (i, m) in raw.formats.into_iter().enumerate() {
            let at = format!(
                "{name}: formats[{i}]{}",
                m.id.as_ref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default()
            );
            if let Some(m) = mapping(&at, m, &mut errors) {
                if out.formats.iter().any(|o| o.id == m.id) {
                    errors.push(format!("{at}: duplicate format id {:?}", m.id));
                }
                out.formats.push(m);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(MappingError { errors })
        }
    }

    pub fn is_empty(&self) -> bool {
        self.formats.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Mapping> {
        self.formats.iter().find(|m| m.id == id)
    }

    /// The mapping that recognises `text`, if any (cheap key search first, then the rules).
    pub fn recognise(&self, text: &str) -> Option<(&Mapping, Json)> {
        let mut parsed: Option<Json> = None;
        for m in &self.formats {
            let b = text.as_bytes();
            if !m
                .recognise
                .iter()
                .all(|r| memmem::find(b, r.path().needle.as_bytes()).is_some())
            {
                continue;
            }
            if parsed.is_none() {
                parsed = Some(serde_json::from_str(text).ok()?);
            }
            let v = parsed.as_ref().expect("parsed above");
            if m.recognise.iter().all(|r| r.holds(v)) {
                return Some((m, parsed.expect("parsed above")));
            }
        }
        None
    }
}

fn mapping(at: &str, m: RawMapping, errors: &mut Vec<String>) -> Option<Mapping> {
    unknown_keys(
        at,
        &m.unknown,
        &["id", "description", "recognise", "time", "fields"],
        errors,
    );
    let _ = m.description;
    let id = match m.id.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(format!("{at}: id is required"));
            None
        }
        Some(id) if Format::parse(id).is_some() => {
            errors.push(format!("{at}: id {id:?} is a built-in format"));
            None
        }
        Some(id)
            if !id.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_'
            }) =>
        {
            errors.push(format!(
                "{at}: id {id:?} may use only a-z, 0-9, '-' and '_'"
            ));
            None
        }
        Some(id) => Some(id.to_string()),
    };
    if m.recognise.is_empty() {
        errors.push(format!(
            "{at}: recognise needs at least one rule (path + equals / exists / starts_with)"
        ));
    }
    let recognise: Vec<Rule> = m
        .recognise
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| rule(&format!("{at}: recognise[{i}]"), r, errors))
        .collect();
    let time = match m.time {
        None => {
            errors.push(format!("{at}: time is required (path and format)"));
            None
        }
        Some(t) => time(&format!("{at}: time"), t, errors),
    };
    let mut fields = BTreeMap::new();
    for (name, f) in m.fields {
        let fat = format!("{at}: fields.{name}");
        let Some((key, values)) = FIELDS.iter().find(|(n, _)| *n == name) else {
            let valid: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
            errors.push(format!(
                "{at}: unknown field {name:?} (valid: {})",
                valid.join(", ")
            ));
            continue;
        };
        if let Some(f) = field(&fat, f, *values, *key == "credential.kind", errors) {
            fields.insert(*key, f);
        }
    }
    for req in REQUIRED {
        if !fields.contains_key(req) {
            errors.push(format!("{at}: fields.{req} is required"));
        }
    }
    let (id, time) = (id?, time?);
    if recognise.is_empty() {
        return None;
    }
    Some(Mapping {
        // formats live for the whole process; a handful of ids
        id: Box::leak(id.into_boxed_str()),
        recognise,
        time,
        fields,
    })
}

fn rule(at: &str, r: RawRule, errors: &mut Vec<String>) -> Option<Rule> {
    unknown_keys(
        at,
        &r.unknown,
        &["path", "equals", "exists", "starts_with"],
        errors,
    );
    let p = match r.path {
        Some(p) => path(at, &p, errors)?,
        None => {
            errors.push(format!("{at}: path is required"));
            return None;
        }
    };
    match (r.equals, r.exists, r.starts_with) {
        (Some(v), None, None) => match scalar(&v) {
            Some(s) => Some(Rule::Equals(p, s)),
            None => {
                errors.push(format!("{at}: equals must be a string, number or boolean"));
                None
            }
        },
        (None, Some(true), None) => Some(Rule::Exists(p)),
        (None, None, Some(s)) => Some(Rule::StartsWith(p, s)),
        _ => {
            errors.push(format!(
                "{at}: give exactly one of equals, exists: true, starts_with"
            ));
            None
        }
    }
}

fn time(at: &str, t: RawTime, errors: &mut Vec<String>) -> Option<(JsonPath, TimeFormat)> {
    let (p, format) = match t {
        RawTime::Path(p) => (Some(p), None),
        RawTime::Full {
            path,
            format,
            unknown,
        } => {
            unknown_keys(at, &unknown, &["path", "format"], errors);
            (path, format)
        }
    };
    let Some(p) = p else {
        errors.push(format!("{at}: path is required"));
        return None;
    };
    let p = path(at, &p, errors)?;
    let f = match format.as_deref().unwrap_or("auto") {
        "auto" => TimeFormat::Auto,
        "rfc3339" => TimeFormat::Rfc3339,
        "epoch_s" | "epoch_seconds" => TimeFormat::EpochSeconds,
        "epoch_ms" | "epoch_millis" => TimeFormat::EpochMillis,
        pat if pat.contains('%') => {
            let probe = chrono::format::StrftimeItems::new(pat);
            if probe
                .clone()
                .any(|i| matches!(i, chrono::format::Item::Error))
            {
                errors.push(format!("{at}: invalid strftime pattern {pat:?}"));
                return None;
            }
            TimeFormat::Pattern(pat.to_string())
        }
        other => {
            errors.push(format!(
                "{at}: unknown time format {other:?} (valid: auto, rfc3339, epoch_s, epoch_ms, \
                 or a strftime pattern such as \"%d/%m/%Y %H:%M:%S\")"
            ));
            return None;
        }
    };
    Some((p, f))
}

fn field(
    at: &str,
    f: RawField,
    values: Option<&[&str]>,
    credential_kind: bool,
    errors: &mut Vec<String>,
) -> Option<FieldMap> {
    let (p, constant, map) = match f {
        RawField::Path(p) => (Some(p), None, BTreeMap::new()),
        RawField::Full {
            path,
            value,
            map,
            unknown,
        } => {
            unknown_keys(at, &unknown, &["path", "value", "map"], errors);
            (path, value, map)
        }
    };
    let from = match (p, constant) {
        (Some(p), None) => ValueFrom::Path(path(at, &p, errors)?),
        (None, Some(v)) => ValueFrom::Const(scalar(&v).unwrap_or_default()),
        _ => {
            errors.push(format!("{at}: give exactly one of path or value"));
            return None;
        }
    };
    let map: BTreeMap<String, String> = map
        .into_iter()
        .map(|(k, v)| (k, scalar(&v).unwrap_or_default()))
        .collect();
    let allowed: Vec<&str> = if credential_kind {
        CredentialKind::ALL.iter().map(|k| k.name()).collect()
    } else {
        values.map(|v| v.to_vec()).unwrap_or_default()
    };
    if !allowed.is_empty() {
        let mut check = |v: &str| {
            if !allowed.contains(&v) {
                errors.push(format!(
                    "{at}: value {v:?} is not one of {}",
                    allowed.join(", ")
                ));
            }
        };
        if let ValueFrom::Const(c) = &from {
            check(c);
        }
        map.values().for_each(|v| check(v));
    }
    Some(FieldMap { from, map })
}

fn parse_time(v: &Json, format: &TimeFormat) -> Option<i64> {
    match (v, format) {
        (Json::Number(n), TimeFormat::Auto) => from_epoch(n.as_f64()?),
        (Json::Number(n), TimeFormat::EpochSeconds) => Some((n.as_f64()? * 1e3) as i64),
        (Json::Number(n), TimeFormat::EpochMillis) => Some(n.as_f64()? as i64),
        (Json::String(s), TimeFormat::Auto) => parse_time_text(s),
        (Json::String(s), TimeFormat::Rfc3339) => crate::time::parse_rfc3339(s.trim()),
        (Json::String(s), TimeFormat::EpochSeconds) => {
            s.trim().parse::<f64>().ok().map(|f| (f * 1e3) as i64)
        }
        (Json::String(s), TimeFormat::EpochMillis) => {
            s.trim().parse::<f64>().ok().map(|f| f as i64)
        }
        (Json::String(s), TimeFormat::Pattern(p)) => chrono::DateTime::parse_from_str(s, p)
            .map(|t| t.timestamp_millis())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, p).map(|t| t.and_utc().timestamp_millis())
            })
            .ok(),
        _ => None,
    }
}

/// Decode one record (already recognised, and parsed) with mapping `m`.
pub fn decode(m: &Mapping, v: &Json, origin: Origin) -> Result<Event, DecodeError> {
    let format = Format::Mapped(m.id);
    let (tp, tf) = &m.time;
    let tv = tp
        .get(v)
        .ok_or_else(|| DecodeError::missing(format, &tp.text))?;
    let time = parse_time(tv, tf)
        .ok_or_else(|| DecodeError::invalid(format, &tp.text, &tv.to_string()))?;
    let get = |name: &str| m.fields.get(name).and_then(|f| f.value(v));
    let required = |name: &str| {
        get(name).ok_or_else(|| {
            let field = match &m.fields.get(name).map(|f| &f.from) {
                Some(ValueFrom::Path(p)) => p.text.clone(),
                _ => name.to_string(),
            };
            DecodeError::missing(format, &field)
        })
    };
    let actor_id = required("actor.id")?;
    let action = required("action.name")?;
    let mut ev = Event::new(time, format, origin);
    let s = |o: Option<String>| o.map(Str::from);
    ev.id = s(get("id"));
    let name = get("actor.name");
    let kind = match get("actor.kind").as_deref() {
        Some("human") => ActorKind::Human,
        Some("service") => ActorKind::Service,
        Some("root") => ActorKind::Root,
        Some("agent") => ActorKind::Agent,
        Some(_) => ActorKind::Unknown,
        None => ActorKind::guess(name.as_deref().unwrap_or(&actor_id), ActorKind::Unknown),
    };
    ev.actor = Actor {
        id: Str::from(actor_id),
        name: s(name),
        kind,
        role: s(get("actor.role")),
        account: s(get("actor.account")),
        vendor_type: s(get("actor.type")),
        groups: Vec::new(),
        impersonator: s(get("actor.impersonator")),
    };
    if let Some(id) = get("credential.id") {
        let kind = get("credential.kind")
            .and_then(|k| CredentialKind::parse(&k))
            .unwrap_or(CredentialKind::Unknown);
        let mut c = Credential::new(id, kind);
        c.long_lived = get("credential.long_lived").map(|l| l == "true");
        ev.credential = Some(c);
    }
    ev.session = s(get("session"));
    ev.mfa = get("mfa").map(|b| b == "true");
    ev.source = Source::from_raw(
        get("source.ip").as_deref(),
        get("source.user_agent").as_deref(),
    );
    ev.source.set_vendor(SourceVendor {
        device: s(get("source.device")),
        ..SourceVendor::default()
    });
    ev.action.name = Str::from(action);
    ev.action.service = s(get("action.service"));
    ev.action.resource = s(get("action.resource"));
    ev.action.outcome = match get("action.outcome").as_deref() {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    ev.action.error = s(get("action.error"));
    ev.region = s(get("region"));
    Ok(ev)
}

/// Decode `text` as the mapping named `id` (`--format ID`), whether or not its rules hold.
pub fn decode_forced(m: &Mapping, text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let v: Json = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    if !v.is_object() {
        return Err(DecodeError::new(
            Reason::InvalidField,
            format!("{} record is not a JSON object", m.id),
        ));
    }
    decode(m, &v, origin)
}

#[cfg(test)]
mod tests;

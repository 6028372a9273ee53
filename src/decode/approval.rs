//! bypassd's context-record format: one JSON object per line with a `kind`. Today the only kind
//! is `approval`; an unknown kind rejects that line, not the file.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::LStr;
use super::{DecodeError, Reason};
use crate::context::Approval;
use crate::event::{Format, Origin, Str};
use crate::time::parse_rfc3339;

pub const KINDS: &[&str] = &["approval"];

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw<'a> {
    #[allow(dead_code)]
    kind: LStr<'a>,
    #[serde(borrow, default)]
    id: LStr<'a>,
    #[serde(borrow, default)]
    scope: LStr<'a>,
    #[serde(borrow, default)]
    principal: LStr<'a>,
    #[serde(borrow, default)]
    approved_by: LStr<'a>,
    #[serde(borrow, default)]
    valid_from: LStr<'a>,
    #[serde(borrow, default)]
    valid_until: LStr<'a>,
    #[serde(borrow, default)]
    reason: LStr<'a>,
}

pub fn decode(text: &str, origin: Origin) -> Result<Approval, DecodeError> {
    let k: Kind = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    match k.kind.as_deref() {
        Some("approval") => {}
        Some(other) => {
            return Err(DecodeError::new(
                Reason::UnknownKind,
                format!(
                    "unknown context record kind {other:?} (known: {})",
                    KINDS.join(", ")
                ),
            ))
        }
        None => return Err(DecodeError::missing(Format::Approval, "kind")),
    }
    let r: Raw = serde_json::from_str(text).map_err(|e| {
        DecodeError::new(
            Reason::InvalidField,
            format!("invalid approval record: {e}"),
        )
    })?;
    let f = Format::Approval;
    let req = |v: &LStr, name: &str| -> Result<Str, DecodeError> {
        v.get()
            .map(Str::from)
            .ok_or_else(|| DecodeError::missing(f, name))
    };
    let time = |v: &LStr, name: &str| -> Result<i64, DecodeError> {
        let s = v.get().ok_or_else(|| DecodeError::missing(f, name))?;
        parse_rfc3339(s).ok_or_else(|| DecodeError::invalid(f, name, s))
    };
    let a = Approval {
        id: req(&r.id, "id")?,
        scope: req(&r.scope, "scope")?,
        principal: req(&r.principal, "principal")?,
        approved_by: r.approved_by.get().map(Str::from),
        valid_from: time(&r.valid_from, "valid_from")?,
        valid_until: time(&r.valid_until, "valid_until")?,
        reason: r.reason.get().map(Str::from),
        origin,
    };
    if a.valid_until < a.valid_from {
        return Err(DecodeError::new(
            Reason::InvalidField,
            format!("approval {}: valid_until is before valid_from", a.id),
        ));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn origin() -> Origin {
        Origin::Inline {
            test: Arc::from("t"),
            index: 0,
        }
    }

    #[test]
    fn decodes_the_documented_example() {
        let a = decode(
            r#"{"kind":"approval","id":"INC-4711","scope":"break_glass","principal":"carol","approved_by":"oncall-lead@corp.example","valid_from":"2026-03-02T04:05:00Z","valid_until":"2026-03-02T06:10:00Z","reason":"database failover stuck"}"#,
            origin(),
        )
        .unwrap();
        assert_eq!(a.id, "INC-4711");
        assert_eq!(a.principal, "carol");
        assert_eq!(a.valid_until - a.valid_from, (2 * 60 + 5) * 60 * 1000);
        assert_eq!(a.approved_by.as_deref(), Some("oncall-lead@corp.example"));
    }

    #[test]
    fn rejects_unknown_kind_missing_and_bad_fields() {
        let e = decode(r#"{"kind":"waiver","id":"X"}"#, origin()).unwrap_err();
        assert_eq!(e.reason, Reason::UnknownKind);
        assert!(e.message.contains("\"waiver\""), "{e}");
        let e = decode(r#"{"kind":"approval","id":"X","scope":"s","principal":"p","valid_from":"2026-03-02T04:05:00Z"}"#, origin()).unwrap_err();
        assert_eq!(e.reason, Reason::MissingField);
        assert!(e.message.contains("valid_until"), "{e}");
        let e = decode(r#"{"kind":"approval","id":"X","scope":"s","principal":"p","valid_from":"2026-13-02T04:05:00Z","valid_until":"2026-03-02T04:05:00Z"}"#, origin()).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidField);
        assert!(
            e.message.contains("valid_from") && e.message.contains("2026-13-02"),
            "{e}"
        );
        let e = decode(
            r#"{"kind":"approval","id":"X","scope":"s","principal":"p","valid_form":"x"}"#,
            origin(),
        )
        .unwrap_err();
        assert!(e.message.contains("valid_form"), "{e}");
    }
}

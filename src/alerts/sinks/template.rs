//! Webhook payload templates: text with `{{field.path}}` placeholders filled from the finding's
//! JSON, each value JSON-string-escaped, so `{"text": "[{{severity}}] {{message}}"}` stays valid
//! JSON whatever the message says.

use serde_json::Value;

/// Top-level fields of a finding, for checking placeholders at load.
const FINDING_FIELDS: &[&str] = &[
    "class_uid",
    "class_name",
    "category_uid",
    "category_name",
    "activity_id",
    "activity_name",
    "type_uid",
    "severity_id",
    "severity",
    "status_id",
    "status",
    "time",
    "time_dt",
    "start_time",
    "end_time",
    "message",
    "metadata",
    "finding_info",
    "actor",
    "evidences",
    "unmapped",
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("`{{{{` at byte {offset} is not closed by `}}}}`")]
    Unclosed { offset: usize },
    #[error("placeholder {text:?} at byte {offset} is not a dotted field path")]
    BadPlaceholder { text: String, offset: usize },
    #[error("placeholder {{{{{field}}}}}: a finding has no field {top:?} (fields: {known})")]
    UnknownField {
        field: String,
        top: String,
        known: String,
    },
    #[error("not valid JSON once filled in ({error}); placeholders go inside JSON strings, or where a number fits")]
    NotJson { error: String },
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed {
                offset: offset + open,
            })?;
            let inner = after[..close].trim();
            let valid = !inner.is_empty()
                && inner.split('.').all(|s| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !valid {
                return Err(TemplateError::BadPlaceholder {
                    text: after[..close].to_string(),
                    offset: offset + open,
                });
            }
            parts.push(Part::Field(inner.split('.').map(String::from).collect()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Cheap checks at load: every placeholder starts at a field findings have, and the text is
    /// JSON once filled in (with `0`, which fits inside a string and where a number goes).
    pub fn check(&self) -> Result<(), TemplateError> {
        for p in &self.parts {
            if let Part::Field(path) = p {
                if !FINDING_FIELDS.contains(&path[0].as_str()) {
                    return Err(TemplateError::UnknownField {
                        field: path.join("."),
                        top: path[0].clone(),
                        known: FINDING_FIELDS.join(", "),
                    });
                }
            }
        }
        let sample: String = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Field(_) => "0",
            })
            .collect();
        serde_json::from_str::<Value>(&sample)
            .map(|_| ())
            .map_err(|e| TemplateError::NotJson {
                error: e.to_string(),
            })
    }

    /// Fill the placeholders from `finding`: strings JSON-escaped (without their quotes),
    /// numbers and booleans as written, objects and arrays as escaped JSON text, missing or
    /// null fields as nothing.
    pub fn render(&self, finding: &Value) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(path) => {
                    let v = path.iter().try_fold(finding, |v, seg| match v {
                        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                        _ => v.get(seg),
                    });
                    match v {
                        None | Some(Value::Null) => {}
                        Some(Value::String(s)) => out.push_str(&escape(s)),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                            out.push_str(&v.to_string())
                        }
                        Some(v) => out.push_str(&escape(&v.to_string())),
                    }
                }
            }
        }
        out
    }
}

/// `s` as the inside of a JSON string.
fn escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_dotted_paths_escaped_so_the_payload_stays_json() {
        let t = Template::parse(
            r#"{"text": "[{{severity}}] {{finding_info.title}}: {{ message }}", "n": {{unmapped.count}}, "op": "{{evidences.0.api.operation}}", "x": "{{unmapped.credential.id}}"}"#,
        )
        .unwrap();
        t.check().unwrap();
        let f = json!({
            "severity": "High",
            "finding_info": {"title": "Key used from \"three\" networks"},
            "message": "line1\nline2 \\ tab\t</script>",
            "unmapped": {"count": 3},
            "evidences": [{"api": {"operation": "GetObject"}}],
        });
        let body = t.render(&f);
        let v: Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(
            v["text"],
            "[High] Key used from \"three\" networks: line1\nline2 \\ tab\t</script>"
        );
        assert_eq!(v["n"], 3);
        assert_eq!(v["op"], "GetObject");
        assert_eq!(v["x"], "");
    }

    #[test]
    fn objects_render_as_escaped_json_text() {
        let t = Template::parse(r#"{"a": "{{actor.user}}"}"#).unwrap();
        let body = t.render(&json!({"actor": {"user": {"uid": "u\"1"}}}));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["a"], r#"{"uid":"u\"1"}"#);
    }

    #[test]
    fn load_time_errors_name_the_problem() {
        assert_eq!(
            Template::parse("{\"a\": \"{{message\"}").unwrap_err(),
            TemplateError::Unclosed { offset: 7 }
        );
        assert!(matches!(
            Template::parse("{{ a b }}").unwrap_err(),
            TemplateError::BadPlaceholder { .. }
        ));
        assert!(matches!(
            Template::parse("{{a..b}}").unwrap_err(),
            TemplateError::BadPlaceholder { .. }
        ));
        let e = Template::parse(r#"{"t": "{{titel}}"}"#)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("no field \"titel\""), "{e}");
        assert!(e.to_string().contains("{{titel}}"), "{e}");
        let e = Template::parse(r#"{"t": {{message}} oops}"#)
            .unwrap()
            .check()
            .unwrap_err();
        assert!(matches!(e, TemplateError::NotJson { .. }), "{e}");
        // text without placeholders is a fixed payload
        let t = Template::parse(r#"{"fixed": true}"#).unwrap();
        t.check().unwrap();
        assert_eq!(t.render(&json!({})), r#"{"fixed": true}"#);
    }
}

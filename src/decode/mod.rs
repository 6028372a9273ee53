//! Decoding: one vendor record (a JSON line or one element of a Records document) into a
//! normalised [`Event`], or a context record such as an [`Approval`].
//!
//! `detect` decides which format a record (and which container a file) is; one module per
//! vendor format turns its records into events.

pub mod approval;
pub mod cloudtrail;
pub mod detect;
pub mod entra;
#[cfg(test)]
pub mod fixtures;
pub mod gcp;
pub mod github;
pub mod json;
pub mod kubernetes;
pub mod mapping;
pub mod ocsf;
pub mod okta;
pub mod vault;
pub mod walk;

use std::fmt;
use std::sync::Arc;

use crate::context::Approval;
use crate::event::{Event, Format, Origin};
use crate::inventory::Inventory;
use mapping::Mappings;

/// What one input record decodes to.
#[derive(Debug, Clone)]
pub enum Record {
    /// shared from here on: the engine buffers it and findings keep it as evidence
    Event(Arc<Event>),
    Approval(Box<Approval>),
    /// a record that is understood and deliberately not an event (e.g. a CloudTrail digest file);
    /// counted in the summary under this name
    Skipped(&'static str),
}

/// Why an input record (or a stretch of input) was rejected; the `name` is the summary and
/// metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    MalformedJson,
    InvalidUtf8,
    LineTooLong,
    TruncatedInput,
    UnknownFormat,
    MissingField,
    InvalidField,
    UnknownKind,
    Io,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::MalformedJson => "malformed_json",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::LineTooLong => "line_too_long",
            Reason::TruncatedInput => "truncated_input",
            Reason::UnknownFormat => "unknown_format",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::UnknownKind => "unknown_kind",
            Reason::Io => "io_error",
        }
    }
}

/// A record that could not be decoded. The message names the field and value where there is one;
/// the caller adds the position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub reason: Reason,
    pub message: String,
    /// the format the record was recognised as, when it was (the metrics' format label)
    pub format: Option<&'static str>,
}

impl DecodeError {
    pub fn new(reason: Reason, message: impl Into<String>) -> DecodeError {
        DecodeError {
            reason,
            message: message.into(),
            format: None,
        }
    }

    pub fn missing(format: Format, field: &str) -> DecodeError {
        DecodeError {
            format: Some(format.name()),
            ..DecodeError::new(
                Reason::MissingField,
                format!("{format} record has no {field}"),
            )
        }
    }

    pub fn invalid(format: Format, field: &str, value: &str) -> DecodeError {
        DecodeError {
            format: Some(format.name()),
            ..DecodeError::new(
                Reason::InvalidField,
                format!("invalid {field} in {format} record: {value:?}"),
            )
        }
    }

    pub fn line_too_long(max: usize) -> DecodeError {
        DecodeError::new(
            Reason::LineTooLong,
            format!("line longer than {max} bytes, skipped"),
        )
    }

    pub fn json(err: &serde_json::Error) -> DecodeError {
        DecodeError::new(Reason::MalformedJson, format!("malformed JSON: {err}"))
    }
}

/// An input error with its position: `path:line: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub origin: Origin,
    pub error: DecodeError,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.error)
    }
}

/// The dedup key of a record ([`Event::dedup`]): a hash of a per-format tag and the parts of the
/// vendor's event id, each part after a NUL so different splits never collide.
pub fn dedup_key(tag: &str, parts: &[&str]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(tag.as_bytes());
    for p in parts {
        h.update(b"\0");
        h.update(p.as_bytes());
    }
    h.digest()
}

/// Derive what every event carries beyond its vendor fields (the source network), once, on the
/// decoding thread.
fn finish(mut ev: Event, inventory: &Inventory) -> Record {
    if ev.partial {
        return Record::Skipped(match ev.format {
            Format::Kubernetes => "kubernetes_request_received_stage",
            Format::Vault => "vault_request_entry",
            _ => "partial_record",
        });
    }
    crate::enrich::enrich(&mut ev, inventory);
    Record::Event(Arc::new(ev))
}

/// Decodes records (of a file, a Kafka partition). Each record's format is decided by the record
/// alone (sniffed, unless forced): a record that looks like two formats decodes the same whatever
/// came before it, so splitting a stream between threads or into batches changes nothing.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    forced: Option<Format>,
    inventory: Arc<Inventory>,
    mappings: Arc<Mappings>,
}

impl Decoder {
    /// `forced` decodes every non-context record with that format (`--format`).
    pub fn new(forced: Option<Format>) -> Decoder {
        Decoder {
            forced,
            ..Decoder::default()
        }
    }

    /// Events are enriched from this inventory: trusted networks name source networks, declared
    /// exceptions and break-glass identities are marked (see [`crate::enrich`]).
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Decoder {
        self.inventory = inventory;
        self
    }

    /// Operator-defined formats (`--mappings`): checked before the built-in ones, so an
    /// in-house log that happens to look like a vendor's is decoded as the operator says.
    pub fn with_mappings(mut self, mappings: Arc<Mappings>) -> Decoder {
        self.mappings = mappings;
        self
    }

    /// Decode one JSON record. Context records (`"kind": ...`) are recognised whatever the format.
    pub fn decode(&self, text: &str, origin: Origin) -> Result<Record, DecodeError> {
        if let Some(f) = self.forced {
            return match self.decode_as(f, text, origin.clone()) {
                Err(_) if detect::sniff(text) == Some(Format::Approval) => {
                    self.decode_as(Format::Approval, text, origin)
                }
                r => r,
            };
        }
        if !self.mappings.is_empty() {
            if let Some((m, v)) = self.mappings.recognise(text) {
                return mapping::decode(m, &v, origin).map(|ev| finish(ev, &self.inventory));
            }
        }
        let format = match detect::sniff(text) {
            Some(f) => f,
            None if detect::is_cloudtrail_digest(text) => {
                return Ok(Record::Skipped("cloudtrail_digest"))
            }
            None => return Err(unrecognised(text)),
        };
        self.decode_as(format, text, origin)
    }

    fn decode_as(&self, format: Format, text: &str, origin: Origin) -> Result<Record, DecodeError> {
        let ev = match format {
            Format::Cloudtrail => cloudtrail::decode(text, origin),
            Format::Kubernetes => kubernetes::decode(text, origin),
            Format::Github => github::decode(text, origin),
            Format::Okta => okta::decode(text, origin),
            Format::Vault => vault::decode(text, origin),
            Format::Gcp => gcp::decode(text, origin),
            Format::Entra => entra::decode(text, origin),
            Format::Ocsf => ocsf::decode(text, origin),
            Format::Mapped(id) => match self.mappings.get(id) {
                Some(m) => mapping::decode_forced(m, text, origin),
                None => Err(DecodeError::new(
                    Reason::UnknownFormat,
                    format!("no mapping loaded for format {id:?}"),
                )),
            },
            Format::Approval => {
                return approval::decode(text, origin).map(|a| Record::Approval(Box::new(a)))
            }
        };
        ev.map(|ev| finish(ev, &self.inventory))
    }
}

/// Decode one record with a fresh [`Decoder`] (no memory of earlier records).
pub fn decode_record(
    text: &str,
    forced: Option<Format>,
    origin: Origin,
) -> Result<Record, DecodeError> {
    Decoder::new(forced).decode(text, origin)
}

/// Not recognised: say why in the most useful terms.
fn unrecognised(text: &str) -> DecodeError {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return DecodeError::json(&e);
    }
    let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
    DecodeError::new(
        Reason::UnknownFormat,
        format!(
            "unrecognised record format (known: {}; use --format to force one)",
            known.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record that looks like two formats decodes as the first of them in the sniffing order,
    /// whatever the stream decoded before it: a stream split between threads, or cut into
    /// batches where a poll happened to end, gives the same events.
    #[test]
    fn a_record_decodes_the_same_whatever_came_before_it() {
        let okta = r#"{"uuid":"u1","published":"2026-03-02T09:00:00.000Z","eventType":"user.session.start","actor":{"id":"00u1","type":"User","alternateId":"dana@corp.example"},"client":{"ipAddress":"203.0.113.50"},"outcome":{"result":"SUCCESS"}}"#;
        let both = r#"{"uuid":"u2","published":"2026-03-02T09:01:00.000Z","eventType":"user.session.start","eventVersion":"1.08","eventTime":"2026-03-02T09:01:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"198.51.100.7","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x","accessKeyId":"AKIAEXAMPLE0000001"},"actor":{"id":"00u1","type":"User","alternateId":"dana@corp.example"},"client":{"ipAddress":"203.0.113.50"},"outcome":{"result":"SUCCESS"}}"#;
        let format = |r: Result<Record, DecodeError>| match r {
            Ok(Record::Event(ev)) => ev.format,
            other => panic!("not an event: {other:?}"),
        };
        let fresh = format(Decoder::default().decode(both, fixtures::origin()));
        let after_okta = Decoder::default();
        assert_eq!(
            format(after_okta.decode(okta, fixtures::origin())),
            Format::Okta
        );
        let after = format(after_okta.decode(both, fixtures::origin()));
        assert_eq!(after, fresh, "the format depends on the record only");
        assert_eq!(fresh, detect::sniff(both).unwrap());
    }
}

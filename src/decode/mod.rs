//! Decoding: one vendor record (a JSON line or one element of a Records document) into a
//! normalised [`Event`], or a context record such as an [`Approval`].
//!
//! `detect` decides which format a record (and which container a file) is; one module per
//! vendor format turns its records into events.

pub mod approval;
pub mod cloudtrail;
pub mod detect;
pub mod json;

use std::fmt;

use crate::context::Approval;
use crate::event::{Event, Format, Origin};

/// What one input record decodes to.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Event),
    Approval(Approval),
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
}

impl DecodeError {
    pub fn new(reason: Reason, message: impl Into<String>) -> DecodeError {
        DecodeError {
            reason,
            message: message.into(),
        }
    }

    pub fn missing(format: Format, field: &str) -> DecodeError {
        DecodeError::new(
            Reason::MissingField,
            format!("{format} record has no {field}"),
        )
    }

    pub fn invalid(format: Format, field: &str, value: &str) -> DecodeError {
        DecodeError::new(
            Reason::InvalidField,
            format!("invalid {field} in {format} record: {value:?}"),
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

/// Decode one JSON record. Context records (`"kind": ...`) are recognised whatever `forced` says;
/// otherwise `forced` picks the decoder, or the record is sniffed.
pub fn decode_record(
    text: &str,
    forced: Option<Format>,
    origin: Origin,
) -> Result<Record, DecodeError> {
    let format = match detect::sniff(text) {
        Some(Format::Approval) => Format::Approval,
        None if forced.is_none() && detect::is_cloudtrail_digest(text) => {
            return Ok(Record::Skipped("cloudtrail_digest"))
        }
        sniffed => forced.or(sniffed).ok_or_else(|| {
            // not recognised: say why in the most useful terms
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                return DecodeError::json(&e);
            }
            DecodeError::new(
                Reason::UnknownFormat,
                format!(
                    "unrecognised record format (known: {}; use --format to force one)",
                    Format::ALL
                        .iter()
                        .map(|f| f.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    match format {
        Format::Cloudtrail => cloudtrail::decode(text, origin).map(Record::Event),
        Format::Approval => approval::decode(text, origin).map(Record::Approval),
    }
}

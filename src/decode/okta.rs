//! Okta System Log events into identity events.

use super::{DecodeError, Reason};
use crate::event::{Event, Format, Origin};

#[allow(dead_code)]
const F: Format = Format::Okta;

/// Decode one record.
pub fn decode(_text: &str, _origin: Origin) -> Result<Event, DecodeError> {
    Err(DecodeError::new(
        Reason::UnknownFormat,
        "okta decoder not built yet",
    ))
}

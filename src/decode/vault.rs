//! HashiCorp Vault audit device entries (file device JSON lines, request and response) into identity events.

use super::{DecodeError, Reason};
use crate::event::{Event, Format, Origin};

#[allow(dead_code)]
const F: Format = Format::Vault;

/// Decode one record.
pub fn decode(_text: &str, _origin: Origin) -> Result<Event, DecodeError> {
    Err(DecodeError::new(
        Reason::UnknownFormat,
        "vault decoder not built yet",
    ))
}

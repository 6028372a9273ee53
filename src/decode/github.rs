//! GitHub enterprise / organisation audit log (streaming and REST API JSON) into identity events.

use super::{DecodeError, Reason};
use crate::event::{Event, Format, Origin};

#[allow(dead_code)]
const F: Format = Format::Github;

/// Decode one record.
pub fn decode(_text: &str, _origin: Origin) -> Result<Event, DecodeError> {
    Err(DecodeError::new(
        Reason::UnknownFormat,
        "github decoder not built yet",
    ))
}

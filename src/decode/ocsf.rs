//! OCSF Authentication (3002) and API Activity (6003) events, as AWS Security Lake and other OCSF pipelines write them into identity events.

use super::{DecodeError, Reason};
use crate::event::{Event, Format, Origin};

#[allow(dead_code)]
const F: Format = Format::Ocsf;

/// Decode one record.
pub fn decode(_text: &str, _origin: Origin) -> Result<Event, DecodeError> {
    Err(DecodeError::new(
        Reason::UnknownFormat,
        "ocsf decoder not built yet",
    ))
}

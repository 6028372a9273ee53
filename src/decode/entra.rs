//! Microsoft Entra ID sign-in logs: Graph `signIn` (user and service principal) and the Azure Monitor diagnostic envelope into identity events.

use super::{DecodeError, Reason};
use crate::event::{Event, Format, Origin};

#[allow(dead_code)]
const F: Format = Format::Entra;

/// Decode one record.
pub fn decode(_text: &str, _origin: Origin) -> Result<Event, DecodeError> {
    Err(DecodeError::new(
        Reason::UnknownFormat,
        "entra decoder not built yet",
    ))
}

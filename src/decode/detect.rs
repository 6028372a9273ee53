//! Format detection: which container a file is (JSON lines, a `{"Records":[...]}` document, a
//! JSON array) and which vendor format a record is, from cheap byte checks.

use memchr::memmem;

use crate::event::Format;

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// one JSON record per line
    Lines,
    /// a CloudTrail S3 delivery file: `{"Records": [ ... ]}`
    RecordsDocument,
    /// a JSON array of records
    Array,
}

/// Decide the container from the first bytes of a (decompressed) file.
pub fn container(head: &[u8]) -> Container {
    let body = skip_ws(skip_bom(head));
    match body.first() {
        Some(b'[') => Container::Array,
        Some(b'{') => {
            let inner = skip_ws(&body[1..]);
            if inner.starts_with(b"\"Records\"") {
                Container::RecordsDocument
            } else {
                Container::Lines
            }
        }
        _ => Container::Lines,
    }
}

fn skip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &b[n..]
}

/// Guess a record's format from distinctive keys. Returns `None` when nothing matches.
pub fn sniff(text: &str) -> Option<Format> {
    let b = text.as_bytes();
    let has = |needle: &str| memmem::find(b, needle.as_bytes()).is_some();
    if has("\"eventSource\"") && has("\"eventTime\"") {
        return Some(Format::Cloudtrail);
    }
    if has("\"kind\"") {
        return Some(Format::Approval);
    }
    None
}

/// CloudTrail digest files (integrity hashes, delivered beside the logs) carry no events.
pub fn is_cloudtrail_digest(text: &str) -> bool {
    memmem::find(text.as_bytes(), b"\"digestPublicKeyFingerprint\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers() {
        assert_eq!(container(b"{\"Records\":[{}]}"), Container::RecordsDocument);
        assert_eq!(
            container(b"\xEF\xBB\xBF {\n  \"Records\" : []}"),
            Container::RecordsDocument
        );
        assert_eq!(container(b"  [{\"a\":1}]"), Container::Array);
        assert_eq!(
            container(b"{\"eventVersion\":\"1.08\"}\n"),
            Container::Lines
        );
        assert_eq!(container(b""), Container::Lines);
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(
            sniff(r#"{"eventTime":"x","eventSource":"s3.amazonaws.com"}"#),
            Some(Format::Cloudtrail)
        );
        assert_eq!(sniff(r#"{"kind":"approval"}"#), Some(Format::Approval));
        assert_eq!(sniff(r#"{"hello":"world"}"#), None);
    }
}

//! Format detection: which container a file is (JSON lines, a `{"Records":[...]}` document, a
//! JSON array) and which vendor format a record is, from cheap byte checks.

use memchr::memmem;

use crate::event::Format;

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// one JSON record per line, decoded in parallel pieces
    Lines,
    /// anything else: a wrapper object (`{"Records":[...]}`, `{"records":[...]}`, an
    /// `EventList`, a Graph page), a JSON array, or pretty-printed records; walked whole by
    /// [`super::walk`]
    Document,
}

/// Decide the container from the first bytes of a (decompressed) file: JSON lines when the first
/// line is one complete record that is not a wrapper, or a record too long to see the end of.
pub fn container(head: &[u8]) -> Container {
    let start = head.len() - skip_ws(skip_bom(head)).len();
    match head.get(start) {
        Some(b'[') => return Container::Document,
        Some(b'{') => {}
        _ => return Container::Lines,
    }
    match super::walk::wrapper_array(head, start) {
        Ok(Some(_)) => return Container::Document,
        Ok(None) => {}
        // cut by the end of the head before a wrapper key showed: a long single-line record
        Err((_, e)) if e.is_eof() => {
            let first_line = memchr::memchr(b'\n', &head[start..]);
            return match first_line {
                None => Container::Lines,
                Some(_) => Container::Document,
            };
        }
        Err(_) => return Container::Lines,
    }
    // a complete record on the first line, or a pretty-printed one spread over several
    let line_end = memchr::memchr(b'\n', &head[start..]).map_or(head.len(), |n| start + n);
    let complete = serde_json::from_slice::<serde::de::IgnoredAny>(&head[start..line_end]).is_ok();
    if complete {
        Container::Lines
    } else {
        Container::Document
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

/// Whether a record looks like `format`, from the keys only that format writes. Cheap (a few
/// substring searches); the decoder has the final word.
pub fn looks_like(format: Format, text: &str) -> bool {
    let b = text.as_bytes();
    let has = |needle: &'static str| match finder(needle) {
        Some(f) => f.find(b).is_some(),
        None => memmem::find(b, needle.as_bytes()).is_some(),
    };
    match format {
        Format::Cloudtrail => has("\"eventSource\"") && has("\"eventTime\""),
        Format::Kubernetes => {
            has("\"auditID\"")
                && (has("\"stage\"") || has("\"verb\"") || has("\"requestReceivedTimestamp\""))
        }
        Format::Github => {
            has("\"action\"")
                && (has("\"@timestamp\"")
                    || has("\"_document_id\"")
                    || (has("\"created_at\"") && has("\"actor\"")))
        }
        Format::Okta => has("\"eventType\"") && (has("\"published\"") || has("\"uuid\"")),
        Format::Vault => has("\"request\"") && has("\"auth\"") && has("\"time\""),
        Format::Gcp => has("\"protoPayload\""),
        Format::Entra => {
            (has("\"createdDateTime\"")
                && (has("\"userPrincipalName\"")
                    || has("\"servicePrincipalId\"")
                    || has("\"appId\"")))
                || (has("\"properties\"") && has("SignInLogs"))
        }
        Format::Ocsf => has("\"class_uid\"") && (has("\"category_uid\"") || has("\"metadata\"")),
        Format::Approval => has("\"kind\""),
        // recognised by their own rules (see `mapping`)
        Format::Mapped(_) => false,
    }
}

/// Every marker `looks_like` searches for.
const MARKERS: &[&str] = &[
    "\"eventSource\"",
    "\"eventTime\"",
    "\"auditID\"",
    "\"stage\"",
    "\"verb\"",
    "\"requestReceivedTimestamp\"",
    "\"action\"",
    "\"@timestamp\"",
    "\"_document_id\"",
    "\"created_at\"",
    "\"actor\"",
    "\"eventType\"",
    "\"published\"",
    "\"uuid\"",
    "\"request\"",
    "\"auth\"",
    "\"time\"",
    "\"protoPayload\"",
    "\"createdDateTime\"",
    "\"userPrincipalName\"",
    "\"servicePrincipalId\"",
    "\"appId\"",
    "\"properties\"",
    "SignInLogs",
    "\"class_uid\"",
    "\"category_uid\"",
    "\"metadata\"",
    "\"kind\"",
];

/// The searcher for one marker, built once (building one costs more than a search of a record);
/// `None` for a marker missing from `MARKERS` (searched the slow way; debug builds fail).
fn finder(needle: &'static str) -> Option<&'static memmem::Finder<'static>> {
    static FINDERS: std::sync::LazyLock<Vec<(&str, memmem::Finder<'static>)>> =
        std::sync::LazyLock::new(|| {
            MARKERS
                .iter()
                .map(|m| (*m, memmem::Finder::new(m.as_bytes())))
                .collect()
        });
    let found = FINDERS.iter().find(|(m, _)| *m == needle).map(|(_, f)| f);
    debug_assert!(found.is_some(), "marker {needle:?} is missing from MARKERS");
    found
}

/// Sniffing order: formats whose marker keys are most specific first, so a record that carries
/// another format's key by accident (an OCSF record embedding CloudTrail's names, a Kubernetes
/// event with a `kind`) lands where it belongs.
const SNIFF_ORDER: &[Format] = &[
    Format::Ocsf,
    Format::Cloudtrail,
    Format::Kubernetes,
    Format::Gcp,
    Format::Okta,
    Format::Vault,
    Format::Entra,
    Format::Github,
    Format::Approval,
];

/// Guess a record's format from distinctive keys. Returns `None` when nothing matches.
pub fn sniff(text: &str) -> Option<Format> {
    SNIFF_ORDER.iter().copied().find(|f| looks_like(*f, text))
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
        use Container::*;
        let cases: &[(&[u8], Container)] = &[
            (b"{\"Records\":[{}]}", Document),
            (b"\xEF\xBB\xBF {\n  \"Records\" : []}", Document),
            (b"  [{\"a\":1}]", Document),
            (
                b"{\"eventVersion\":\"1.08\"}\n{\"eventVersion\":\"1.08\"}\n",
                Lines,
            ),
            (b"", Lines),
            (b"{\"kind\":\"EventList\",\"items\":[{\"a\":1}]}", Document),
            (b"{\"kind\":\"Event\",\"items\":[1]}\n", Lines),
            (b"{\"@odata.context\":\"x\",\"value\":[", Document),
            (
                b"{\n  \"kind\": \"Event\",\n  \"auditID\": \"a\"\n}\n",
                Document,
            ),
            // a first line longer than the head: a JSON-lines file with a big record
            (
                b"{\"kind\":\"Event\",\"requestObject\":{\"spec\":\"aaaa",
                Lines,
            ),
            (b"{\"records\":[{\"a\":1}]}\n{\"records\":[]}\n", Document),
        ];
        for (head, want) in cases {
            assert_eq!(container(head), *want, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn sniffs_formats() {
        assert_eq!(
            sniff(r#"{"eventTime":"x","eventSource":"s3.amazonaws.com"}"#),
            Some(Format::Cloudtrail)
        );
        assert_eq!(sniff(r#"{"kind":"approval"}"#), Some(Format::Approval));
        assert_eq!(sniff(r#"{"hello":"world"}"#), None);
        assert_eq!(
            sniff(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete"}"#
            ),
            Some(Format::Kubernetes)
        );
        assert_eq!(
            sniff(r#"{"@timestamp":1,"action":"git.clone","actor":"octocat"}"#),
            Some(Format::Github)
        );
        assert_eq!(
            sniff(
                r#"{"uuid":"u","published":"2026-01-01T00:00:00Z","eventType":"user.session.start"}"#
            ),
            Some(Format::Okta)
        );
        assert_eq!(
            sniff(r#"{"time":"t","type":"response","auth":{},"request":{"id":"r"}}"#),
            Some(Format::Vault)
        );
        assert_eq!(
            sniff(r#"{"protoPayload":{},"timestamp":"t"}"#),
            Some(Format::Gcp)
        );
        assert_eq!(
            sniff(r#"{"createdDateTime":"t","userPrincipalName":"a@b"}"#),
            Some(Format::Entra)
        );
        assert_eq!(
            sniff(r#"{"time":"t","category":"SignInLogs","properties":{}}"#),
            Some(Format::Entra)
        );
        assert_eq!(
            sniff(
                r#"{"class_uid":3002,"category_uid":3,"metadata":{},"eventSource":"x","eventTime":"y"}"#
            ),
            Some(Format::Ocsf)
        );
    }
}

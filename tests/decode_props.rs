//! Property tests: no input makes a decoder or the document walker panic. Records are arbitrary
//! JSON built from the keys real vendor records use (so generated values reach deep into each
//! decoder), plus real fixture lines cut and spliced at random places.

use std::sync::Arc;

use bypassd::decode::walk::walk;
use bypassd::decode::Decoder;
use bypassd::event::{Format, Origin};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    // CloudTrail
    "eventTime",
    "eventSource",
    "eventName",
    "userIdentity",
    "type",
    "arn",
    "accessKeyId",
    "sessionContext",
    "attributes",
    "sourceIPAddress",
    "requestParameters",
    "responseElements",
    // Kubernetes
    "kind",
    "apiVersion",
    "auditID",
    "stage",
    "requestReceivedTimestamp",
    "stageTimestamp",
    "user",
    "username",
    "groups",
    "extra",
    "authentication.kubernetes.io/credential-id",
    "impersonatedUser",
    "sourceIPs",
    "userAgent",
    "verb",
    "objectRef",
    "responseStatus",
    "code",
    "annotations",
    "items",
    // GitHub
    "@timestamp",
    "created_at",
    "action",
    "actor",
    "actor_ip",
    "user_agent",
    "repo",
    "org",
    "hashed_token",
    "token_id",
    "programmatic_access_type",
    "actor_is_bot",
    "_document_id",
    // Okta
    "published",
    "uuid",
    "eventType",
    "id",
    "alternateId",
    "client",
    "ipAddress",
    "authenticationContext",
    "externalSessionId",
    "debugContext",
    "debugData",
    "securityContext",
    "asNumber",
    "outcome",
    "result",
    "target",
    "transaction",
    "detail",
    "requestApiTokenId",
    // Vault
    "time",
    "auth",
    "accessor",
    "client_token",
    "display_name",
    "policies",
    "token_ttl",
    "token_issue_time",
    "request",
    "operation",
    "path",
    "remote_address",
    "error",
    "metadata",
    // GCP
    "protoPayload",
    "authenticationInfo",
    "principalEmail",
    "serviceAccountKeyName",
    "serviceAccountDelegationInfo",
    "requestMetadata",
    "callerIp",
    "methodName",
    "status",
    "timestamp",
    "insertId",
    "resource",
    "labels",
    // Entra
    "createdDateTime",
    "userPrincipalName",
    "servicePrincipalId",
    "servicePrincipalCredentialKeyId",
    "autonomousSystemNumber",
    "sessionId",
    "errorCode",
    "properties",
    "category",
    "value",
    "records",
    "Records",
    // OCSF
    "class_uid",
    "category_uid",
    "src_endpoint",
    "ip",
    "credential_uid",
    "session",
    "api",
    "is_mfa",
    "status_id",
    "uid",
    "name",
    // approvals
    "scope",
    "principal",
    "valid_from",
    "valid_until",
];

const STRINGS: &[&str] = &[
    "",
    "2026-03-02T04:05:06Z",
    "2026-03-02T04:05:06.123456789Z",
    "1772424306000",
    "not a time",
    "203.0.113.7",
    "10.0.0.1:52344",
    "[2001:db8::1]:443",
    "2001:db8::1",
    "gce-internal-ip",
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAEXAMPLE",
    "IAMUser",
    "AssumedRole",
    "Root",
    "system:serviceaccount:ns:sa",
    "system:masters",
    "JTI=abc",
    "X509SHA256=ff",
    "root",
    "Personal access token (classic)",
    "git.push",
    "SUCCESS",
    "FAILURE",
    "request",
    "response",
    "ResponseComplete",
    "approval",
    "EventList",
    "sa@p.iam.gserviceaccount.com",
    "unknown",
    "\u{0}",
    "ü\u{202e}",
    "%",
    "a.b.c",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (0..STRINGS.len()).prop_map(|i| Value::from(STRINGS[i])),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((0..KEYS.len(), inner), 0..8).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(KEYS[k].to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn origin() -> Origin {
    Origin::Inline {
        test: Arc::from("prop"),
        index: 0,
    }
}

fn decode_everywhere(text: &str) {
    let mut formats: Vec<Option<Format>> = Format::ALL.iter().copied().map(Some).collect();
    formats.push(None);
    for f in formats {
        let _ = Decoder::new(f).decode(text, origin());
    }
    walk(text.as_bytes(), None, &mut |_| {});
    walk(text.as_bytes(), Some("cut"), &mut |_| {});
}

/// Real records from the fixtures: the starting points for cut-and-splice mutations.
fn fixture_lines() -> &'static [String] {
    static LINES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/formats");
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(p).unwrap();
                out.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(String::from),
                );
            }
        }
        assert!(!out.is_empty(), "no fixture records under {dir}");
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        decode_everywhere(&v.to_string());
    }

    #[test]
    fn wrapped_arbitrary_json_never_panics(v in json(), key in 0..KEYS.len()) {
        let mut m = Map::new();
        m.insert(KEYS[key].to_string(), v);
        decode_everywhere(&Value::Object(m).to_string());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn cut_and_spliced_fixture_records_never_panic(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        splice in any::<prop::sample::Index>(),
        v in json(),
    ) {
        let lines = fixture_lines();
        let x = &lines[a.index(lines.len())];
        let y = &lines[b.index(lines.len())];
        // a record cut at a random byte (on a char boundary)
        let mut at = cut.index(x.len() + 1);
        while !x.is_char_boundary(at) {
            at -= 1;
        }
        decode_everywhere(&x[..at]);
        // the start of one record glued to the end of another
        let mut at2 = splice.index(y.len() + 1);
        while !y.is_char_boundary(at2) {
            at2 -= 1;
        }
        decode_everywhere(&format!("{}{}", &x[..at], &y[at2..]));
        // a value replaced by an arbitrary one, wherever a string value stood
        if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(x) {
            if let Some(k) = m.keys().nth(splice.index(m.len().max(1))).cloned() {
                m.insert(k, v);
            }
            decode_everywhere(&Value::Object(m).to_string());
        }
    }
}

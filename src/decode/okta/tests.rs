use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

const LOG: &str = include_str!("../../../tests/fixtures/formats/okta/system-log.jsonl");
const API_PAGE: &str = include_str!("../../../tests/fixtures/formats/okta/api-logs-page.json");

/// The `n`th (0-based) record of the System Log fixture.
fn line(n: usize) -> &'static str {
    LOG.lines().nth(n).expect("fixture line")
}

fn dec(text: &str) -> Event {
    decode(text, origin()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A minimal LogEvent with `rest` appended.
fn rec(rest: &str) -> String {
    format!(
        r#"{{"uuid":"u-1","published":"2026-03-02T00:00:00.000Z","eventType":"user.session.start","actor":{{"id":"00u1","type":"User","alternateId":"alice@example.com"}}{rest}}}"#
    )
}

#[test]
fn session_start_maps_every_field() {
    let ev = dec(line(0));
    assert_eq!(ev.time, 1_772_439_243_512);
    assert_eq!(ev.format, Format::Okta);
    assert_eq!(
        ev.id.as_deref(),
        Some("6c1e0a52-1b1f-11f1-9e7d-4f1a3c2b9d01")
    );
    assert_eq!(
        ev.dedup,
        Some(xxh3_64(b"okta\x006c1e0a52-1b1f-11f1-9e7d-4f1a3c2b9d01"))
    );
    let a = &ev.actor;
    assert_eq!(a.id, "00u8f2k1xQAbCdEf4697");
    assert_eq!(a.name.as_deref(), Some("alice@example.com"));
    assert_eq!(a.kind, ActorKind::Human);
    assert_eq!(a.vendor_type.as_deref(), Some("User"));
    assert_eq!(a.account, None);
    assert!(a.groups.is_empty());
    assert_eq!((a.impersonator.as_deref(), a.role.as_deref()), (None, None));
    let c = ev.credential.as_ref().unwrap();
    assert_eq!(c.id, "102Xb3k9QmZt5Wv8yLc1dNpAq");
    assert_eq!(c.kind, CredentialKind::Session);
    assert_eq!(c.long_lived, Some(false));
    assert_eq!(
        (c.issued, c.expires, c.bound_to.as_deref()),
        (None, None, None)
    );
    assert_eq!(ev.session.as_deref(), Some("102Xb3k9QmZt5Wv8yLc1dNpAq"));
    assert_eq!(ev.mfa, None);
    let s = &ev.source;
    assert_eq!(s.ip, Some("203.0.113.10".parse().unwrap()));
    assert_eq!(s.raw.as_deref(), Some("203.0.113.10"));
    assert!(s.user_agent.as_deref().unwrap().contains("Chrome/133"));
    assert_eq!(s.asn(), Some(64496));
    assert_eq!(s.as_org(), Some("example transit b.v."));
    assert_eq!(s.proxy(), Some(false));
    assert_eq!(s.geo(), Some("Netherlands/North Holland/Amsterdam"));
    assert_eq!(
        s.device(),
        Some("e3b8f1a2c4d5e6f7a8b9c0d1e2f3a4b5"),
        "deviceFingerprint before dtHash"
    );
    assert_eq!(s.network, None);
    let act = &ev.action;
    assert_eq!(act.name, "user.session.start");
    assert_eq!(act.service.as_deref(), Some("okta"));
    assert_eq!(
        act.resource.as_deref(),
        Some("Password"),
        "alternateId \"unknown\" is skipped"
    );
    assert_eq!(act.outcome, Outcome::Success);
    assert_eq!((act.read_only, act.error.as_deref()), (None, None));
}

#[test]
fn mfa_and_policy_events() {
    let ev = dec(line(1));
    assert_eq!(ev.mfa, Some(true));
    assert_eq!(ev.time, 1_772_439_641_007);
    assert_eq!(
        ev.source.device(),
        Some("9b7c0f5e2a1d4c3b8e6f7a9d0c1b2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"),
        "dtHash when there is no fingerprint"
    );
    assert_eq!(ev.session.as_deref(), Some("102Xb3k9QmZt5Wv8yLc1dNpAq"));

    let ev = dec(line(2));
    assert_eq!(ev.action.outcome, Outcome::Success, "ALLOW");
    assert_eq!(ev.action.error, None);
    assert_eq!(ev.action.resource.as_deref(), Some("Default Policy"));
    assert_eq!(ev.mfa, None);

    let ev = dec(line(4));
    assert_eq!(ev.action.outcome, Outcome::Failure, "DENY");
    assert_eq!(
        ev.action.error.as_deref(),
        Some("Sign-on policy evaluation resulted in DENY")
    );
    assert_eq!(ev.action.resource, None, "empty target list");
    assert_eq!(ev.source.geo(), None, "geographicalContext null");
    assert!(ev.credential.is_none() && ev.session.is_none());

    let ev = dec(line(11));
    assert_eq!(ev.action.outcome, Outcome::Unknown, "CHALLENGE");
    assert_eq!(ev.mfa, None, "a challenge is not MFA done");
    assert_eq!(ev.source.ip, Some("10.12.0.9".parse().unwrap()));
    assert_eq!(ev.source.asn(), None);
    assert_eq!(ev.action.resource, None, "target null");
}

#[test]
fn failed_login_of_unknown_user_from_a_proxy() {
    let ev = dec(line(3));
    assert_eq!(
        ev.actor.id, "mallory@example.org",
        "id \"unknown\" is no id"
    );
    assert_eq!(ev.actor.name.as_deref(), Some("mallory@example.org"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("INVALID_CREDENTIALS"));
    assert!(ev.credential.is_none(), "externalSessionId \"unknown\"");
    assert_eq!(ev.session, None);
    assert_eq!(ev.source.proxy(), Some(true));
    assert_eq!(ev.source.asn(), Some(64511));
    assert_eq!(
        ev.source.user_agent.as_deref(),
        Some("python-requests/2.32.3")
    );
    assert_eq!(ev.source.geo(), Some("Germany/Hesse/Frankfurt am Main"));
}

#[test]
fn ipv6_and_numeric_string_asn() {
    let ev = dec(line(5));
    assert_eq!(ev.source.ip, Some("2001:db8:4f3a::1c".parse().unwrap()));
    assert_eq!(ev.source.asn(), Some(64500));
    assert_eq!(
        ev.source.as_org(),
        Some("example mobile"),
        "isp when asOrg is null"
    );
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(
        ev.action.error.as_deref(),
        Some("User rejected Okta push verify")
    );
    assert_eq!(ev.source.geo(), Some("France/Auvergne-Rhone-Alpes/Lyon"));
}

#[test]
fn api_token_calls_carry_the_token_and_no_session() {
    let ev = dec(line(6));
    assert_eq!(ev.actor.id, "00u2s3v4c5P6r7O8v9i0");
    assert_eq!(ev.actor.kind, ActorKind::Service, "svc- user");
    let c = ev.credential.as_ref().unwrap();
    assert_eq!(
        (c.id.as_str(), c.kind, c.long_lived),
        ("00T1a2b3c4d5e6f7g8h9", CredentialKind::ApiToken, Some(true))
    );
    assert_eq!(ev.session, None);
    assert_eq!(ev.action.resource.as_deref(), Some("dana@example.com"));
    assert_eq!(ev.source.geo(), Some("United States/Virginia/Ashburn"));

    // an API token and a session in one record: the token wins, no session
    let ev = dec(line(7));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.credential.as_ref().unwrap().id, "00T9z8y7x6w5v4u3t2s1");
    assert_eq!(ev.session, None);
    assert_eq!(ev.source.geo(), Some("United States"));
    assert_eq!(ev.source.device(), None);
    let text = rec(
        r#","authenticationContext":{"externalSessionId":"102abc"},"transaction":{"type":"WEB","detail":{"requestApiTokenId":"00Tx"}}"#,
    );
    let ev = dec(&text);
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::ApiToken);
    assert_eq!(ev.session, None);
}

#[test]
fn apps_and_okta_itself_are_services() {
    let ev = dec(line(8));
    assert_eq!(ev.actor.id, "0oa5t6e7r8r9a0f1o2r3");
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("PublicClientApp"));
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert!(ev.credential.is_none());
    assert_eq!(ev.source.geo(), Some("Ireland/Leinster/Dublin"));

    let ev = dec(line(9));
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("SystemPrincipal"));
    assert_eq!(
        ev.actor.kind,
        ActorKind::Service,
        "type wins over the email-like name"
    );
    assert_eq!(ev.actor.name.as_deref(), Some("system@okta.com"));
    assert_eq!(ev.source, Source::default(), "no client at all");
}

#[test]
fn address_from_the_ip_chain_when_the_client_has_none() {
    let ev = dec(line(10));
    assert_eq!(
        ev.source.ip,
        Some("203.0.113.77".parse().unwrap()),
        "the chain lists the client first"
    );
    assert_eq!(ev.source.geo(), Some("Netherlands/South Holland/Rotterdam"));
    assert!(ev.source.user_agent.is_some());
    assert_eq!(
        ev.action.resource.as_deref(),
        Some("GitHub Enterprise Cloud - Example")
    );
}

#[test]
fn overlapping_polls_share_a_dedup_key_and_single_targets_are_lists() {
    let a = dec(line(12));
    let b = dec(line(13));
    assert!(a.dedup.is_some());
    assert_eq!(a.dedup, b.dedup);
    assert_ne!(a.dedup, dec(line(0)).dedup);
    assert_eq!(a.action.resource.as_deref(), Some("bob@example.com"));
    assert_eq!(a.source.ip, Some("2001:db8:4f3a::1c".parse().unwrap()));
    assert_eq!(a.source.raw.as_deref(), Some("[2001:db8:4f3a::1c]:443"));
    assert_eq!(a.source.geo(), Some("France/Lyon"));
}

#[test]
fn api_page_elements_decode() {
    let page: serde_json::Value = serde_json::from_str(API_PAGE).unwrap();
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 2);
    let evs: Vec<Event> = items.iter().map(|v| dec(&v.to_string())).collect();
    assert_eq!(evs[1].action.name, "system.api_token.create");
    assert_eq!(evs[1].action.resource.as_deref(), Some("scim-bridge"));
    assert_eq!(evs[0].session.as_deref(), Some("102Xb3k9QmZt5Wv8yLc1dNpAq"));
}

#[test]
fn every_fixture_record_decodes_and_sniffs() {
    let records = crate::decode::fixtures::records("okta");
    for r in &records {
        assert_eq!(sniff(r), Some(Format::Okta), "{r}");
        dec(r);
    }
    assert!(records.len() >= 16, "{} records", records.len());
}

#[test]
fn actor_kinds_by_type_and_name() {
    let kind = |actor: &str| {
        let text =
            format!(r#"{{"published":"2026-03-02T00:00:00Z","eventType":"x","actor":{actor}}}"#);
        dec(&text).actor
    };
    assert_eq!(
        kind(r#"{"id":"00u1","type":"User","alternateId":"bob@example.com"}"#).kind,
        ActorKind::Human
    );
    assert_eq!(
        kind(r#"{"id":"00u2","type":"User","alternateId":"ci-deployer@example.com"}"#).kind,
        ActorKind::Service
    );
    assert_eq!(
        kind(r#"{"id":"00u3","type":"User","alternateId":"jdoe"}"#).kind,
        ActorKind::Human,
        "users default to people"
    );
    assert_eq!(
        kind(r#"{"id":"0oa1","type":"AppInstance","displayName":"Salesforce"}"#).kind,
        ActorKind::Service
    );
    let a = kind(r#"{"id":"x1","type":"Device","displayName":"unknown"}"#);
    assert_eq!((a.kind, a.name), (ActorKind::Unknown, None));
    let a = kind(r#"{"id":"x2","displayName":"Jane Roe"}"#);
    assert_eq!(
        (a.kind, a.name.as_deref(), a.vendor_type),
        (ActorKind::Unknown, Some("Jane Roe"), None)
    );
}

#[test]
fn odd_field_types_do_not_reject_the_record() {
    let text = rec(
        r#","client":{"ipAddress":"gce-internal-ip","userAgent":"raw string","geographicalContext":[]},"securityContext":{"asNumber":{"n":1},"isProxy":"true","asOrg":7},"target":"nobody","outcome":"SUCCESS","debugContext":{"debugData":null},"authenticationContext":null,"transaction":{"detail":"none"},"request":{"ipChain":{"ip":"198.51.100.1"}}"#,
    );
    let ev = dec(&text);
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("gce-internal-ip"));
    assert_eq!(ev.source.user_agent, None);
    assert_eq!(ev.source.proxy(), Some(true));
    assert_eq!((ev.source.asn(), ev.source.as_org()), (None, None));
    assert_eq!(ev.action.outcome, Outcome::Unknown);
    assert_eq!(ev.action.resource, None);
    assert!(ev.credential.is_none());
    // a single ipChain object instead of a list, and an out-of-range ASN
    let ev = dec(&rec(
        r#","client":{"ipAddress":null},"request":{"ipChain":{"ip":"198.51.100.1"}},"securityContext":{"asNumber":99999999999}"#,
    ));
    assert_eq!(ev.source.ip, Some("198.51.100.1".parse().unwrap()));
    assert_eq!(ev.source.asn(), None);
    let ev = dec(&rec("").replace("2026-03-02T00:00:00.000Z", "2026-03-02T01:00:00+01:00"));
    assert_eq!(ev.time, 1_772_409_600_000, "offsets are honoured");
}

#[test]
fn missing_and_invalid_required_fields_name_the_field() {
    let e = decode(
        r#"{"eventType":"user.session.start","actor":{"id":"00u1"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("published"), "{e}");
    let e = decode(
        r#"{"published":"2026-03-02T00:00:00Z","eventType":"x","actor":{"type":"User"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("actor"), "{e}");
    let e = decode(
        r#"{"published":"2026-03-02T00:00:00Z","eventType":"x","actor":null}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    let e = decode(
        r#"{"published":"2026-03-02T00:00:00Z","actor":{"id":"00u1"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("eventType"), "{e}");
    let e = decode(
        &rec("").replace("2026-03-02T00:00:00.000Z", "2026-02-30T00:00:00Z"),
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("published"), "{e}");
    assert!(e.message.contains("\"2026-02-30T00:00:00Z\""), "{e}");
    let e = decode(r#"{"published":"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

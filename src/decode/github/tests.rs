use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

const STREAM: &str = include_str!("../../../tests/fixtures/formats/github/streaming.jsonl");
const API_PAGE: &str = include_str!("../../../tests/fixtures/formats/github/rest-api-page.json");
const PAT_A: &str = "kX3m9QeV1bT0y7Zr2uWc8sHq5dLf4gNa6pJo1iEx0Ck=";
const PAT: CredentialKind = CredentialKind::PersonalAccessToken;
const KEY: CredentialKind = CredentialKind::SshKey;
const APP: CredentialKind = CredentialKind::AppToken;
const OAUTH: CredentialKind = CredentialKind::OauthToken;
const UNKNOWN: CredentialKind = CredentialKind::Unknown;

/// The `n`th (0-based) record of the streaming fixture.
fn line(n: usize) -> &'static str {
    STREAM.lines().nth(n).expect("fixture line")
}

fn dec(text: &str) -> Event {
    decode(text, origin()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn cred(ev: &Event) -> (&str, CredentialKind, Option<bool>) {
    let c = ev.credential.as_ref().expect("credential");
    (c.id.as_str(), c.kind, c.long_lived)
}

#[test]
fn classic_pat_clone_maps_every_field() {
    let ev = dec(line(0));
    assert_eq!(ev.time, 1_772_439_243_512);
    assert_eq!(ev.format, Format::Github);
    assert_eq!(ev.id.as_deref(), Some("Xy3kQm0Zb7o4l2Ue9sRt1A"));
    assert_eq!(ev.dedup, Some(xxh3_64(b"github\0Xy3kQm0Zb7o4l2Ue9sRt1A")));
    let a = &ev.actor;
    assert_eq!(a.id, "alice-dev");
    assert_eq!(a.name.as_deref(), Some("alice-dev"));
    assert_eq!(a.kind, ActorKind::Human);
    assert_eq!(a.vendor_type.as_deref(), Some("user"));
    assert_eq!(a.account.as_deref(), Some("example-org"));
    assert!(a.groups.is_empty());
    assert_eq!(a.impersonator, None);
    assert_eq!(a.role, None);
    let c = ev.credential.as_ref().unwrap();
    assert_eq!(c.id, PAT_A);
    assert_eq!(c.kind, PAT);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!(
        (c.issued, c.expires, c.bound_to.as_deref()),
        (None, None, None)
    );
    assert_eq!(ev.session, None);
    assert_eq!(ev.mfa, None);
    let s = &ev.source;
    assert_eq!(s.ip, Some("203.0.113.10".parse().unwrap()));
    assert_eq!(s.raw.as_deref(), Some("203.0.113.10"));
    assert_eq!(s.user_agent.as_deref(), Some("git/2.47.1"));
    assert_eq!(s.geo(), Some("NL"));
    assert_eq!((s.asn(), s.as_org(), s.proxy()), (None, None, None));
    assert_eq!(s.device(), None);
    assert_eq!(
        s.network, None,
        "the Decoder sets the network, not the format decoder"
    );
    let act = &ev.action;
    assert_eq!(act.name, "git.clone");
    assert_eq!(act.service.as_deref(), Some("git"));
    assert_eq!(act.resource.as_deref(), Some("example-org/payments-api"));
    assert_eq!(act.outcome, Outcome::Success);
    assert_eq!(act.read_only, Some(true));
    assert_eq!(act.error, None);
    assert_eq!(ev.region, None);
    assert!(ev.tickets.is_empty());
}

#[test]
fn one_pat_from_three_networks() {
    let evs: Vec<Event> = (0..3).map(|n| dec(line(n))).collect();
    for ev in &evs {
        assert_eq!(cred(ev), (PAT_A, PAT, Some(true)));
    }
    assert_eq!(evs[1].action.read_only, Some(true), "git.fetch reads");
    assert_eq!(evs[2].action.read_only, Some(false), "git.push writes");
    assert_eq!(evs[1].source.geo(), Some("US/California/San Jose"));
    let ua = evs[1].source.user_agent.as_deref();
    assert_eq!(ua, Some("git/2.39.3 (Apple Git-146)"));
    // a port glued to the address
    assert_eq!(evs[2].source.ip, Some("192.0.2.44".parse().unwrap()));
    assert_eq!(evs[2].source.raw.as_deref(), Some("192.0.2.44:51234"));
    assert_eq!(evs[2].source.geo(), Some("SG"));
}

#[test]
fn fine_grained_pat_may_expire_and_ipv6_source() {
    let ev = dec(line(3));
    assert_eq!(
        cred(&ev),
        ("Zk1pR8sT2vW5yA0bC3dE6fG9hJ2kL5mN8pQ1rS4tU7w=", PAT, None)
    );
    let v6: std::net::IpAddr = "2001:db8:85a3::8a2e:370:7334".parse().unwrap();
    assert_eq!(ev.source.ip, Some(v6));
    assert_eq!(ev.source.geo(), Some("DE/Berlin/Berlin"));
    let resource = ev.action.resource.as_deref();
    assert_eq!(resource, Some("example-org/infra-live"));
}

#[test]
fn oauth_app_token_is_standing_and_names_the_app() {
    let ev = dec(line(4));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    let (_, kind, long_lived) = cred(&ev);
    assert_eq!((kind, long_lived), (OAUTH, Some(true)));
    let app = ev.actor.impersonator.as_deref();
    assert_eq!(app, Some("Example Desktop Git"));
}

#[test]
fn app_installation_token_is_a_short_lived_service() {
    let ev = dec(line(5));
    assert_eq!(ev.actor.id, "deploy-app[bot]");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("bot"));
    assert_eq!(ev.actor.impersonator, None);
    assert_eq!(
        cred(&ev),
        (
            "Qm9vT2xC3dE4fG5hI6jK7lM8nO9pQ0rS1tU2vW3xY4z=",
            APP,
            Some(false)
        )
    );
    assert_eq!(ev.action.read_only, Some(false));
}

#[test]
fn git_over_ssh_with_user_and_deploy_keys() {
    let ev = dec(line(6));
    assert_eq!(
        cred(&ev),
        (
            "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
            KEY,
            Some(true)
        )
    );
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.source.ip, Some("10.20.30.40".parse().unwrap()));
    assert_eq!(ev.source.user_agent.as_deref(), Some("SSH-2.0-OpenSSH_9.6"));

    let ev = dec(line(7));
    assert_eq!(ev.actor.id, "deploy_key");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(
        cred(&ev),
        (
            "dK3yH4sh5Ex6aM7pL8eD9eP0lO1yK2eY3fP4r5iN6t7=",
            KEY,
            Some(true)
        )
    );
}

#[test]
fn branch_protection_override_from_a_web_session() {
    let ev = dec(line(8));
    assert_eq!(ev.action.name, "protected_branch.policy_override");
    assert_eq!(ev.action.service.as_deref(), Some("protected_branch"));
    assert_eq!(
        ev.action.resource.as_deref(),
        Some("example-org/payments-api")
    );
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.action.read_only, None);
    assert!(ev.credential.is_none(), "a web session logs no token");
    assert_eq!(ev.session, None);
    assert_eq!(ev.source.geo(), Some("NL"));
    assert!(ev
        .source
        .user_agent
        .as_deref()
        .unwrap()
        .starts_with("Mozilla/5.0"));
}

#[test]
fn rejected_push_with_a_user_to_server_token() {
    let ev = dec(line(9));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.actor.id, "erin-release");
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.impersonator.as_deref(), Some("release-helper"));
    let (_, kind, long_lived) = cred(&ev);
    assert_eq!((kind, long_lived), (APP, Some(false)));
    assert_eq!(ev.source.geo(), Some("CA/Ontario/Toronto"));
}

#[test]
fn ruleset_pat_request_key_and_oauth_grant_events() {
    let ev = dec(line(10));
    assert_eq!(ev.action.name, "repository_ruleset.update");
    assert_eq!(ev.action.service.as_deref(), Some("repository_ruleset"));
    assert_eq!(ev.source.geo(), Some("NL/Utrecht"));
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("user"));

    let ev = dec(line(11));
    assert_eq!(ev.action.name, "personal_access_token.request_created");
    // token_id names the requested token, not one presented on the request
    assert!(ev.credential.is_none());
    assert_eq!(ev.action.resource.as_deref(), Some("example-org"));

    let ev = dec(line(12));
    assert_eq!(ev.action.name, "public_key.create");
    assert!(
        ev.credential.is_none(),
        "the created key is not the credential"
    );
    assert_eq!(ev.source.user_agent, None);
    assert_eq!(ev.source.geo(), None);

    let ev = dec(line(13));
    assert_eq!(ev.action.service.as_deref(), Some("oauth_access"));
    assert!(ev.credential.is_none());
}

#[test]
fn scim_failure_belongs_to_the_enterprise() {
    let ev = dec(line(14));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.actor.account.as_deref(), Some("example-corp"));
    assert_eq!(ev.action.resource, None);
    assert_eq!(
        cred(&ev),
        (
            "Sc1mT0k3nH4shEx4mpl3Onl7N0tR34lV4lu3Ab2Cd3E=",
            PAT,
            Some(true)
        )
    );
    assert_eq!(
        ev.source.geo(),
        Some("US/Virginia"),
        "missing levels are skipped"
    );
}

#[test]
fn coding_agent_is_an_agent() {
    let ev = dec(line(15));
    assert_eq!(ev.actor.kind, ActorKind::Agent);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("agent"));
    assert_eq!((ev.source.ip, ev.source.raw.as_deref()), (None, None));
}

#[test]
fn nulls_numeric_strings_and_rfc3339_times() {
    let ev = dec(line(16));
    assert_eq!(ev.time, 1_772_611_200_000, "\"1772611200000.000000\"");
    assert!(ev.credential.is_none());
    assert_eq!(ev.source, Source::default());
    assert_eq!(
        ev.action.resource.as_deref(),
        Some("example-org/new-service")
    );

    let ev = dec(line(17));
    assert_eq!(ev.time, 1_772_619_630_456, "2026-03-04T10:20:30.456Z");
    assert_eq!(ev.action.resource.as_deref(), Some("example-org"));

    let ev = dec(line(18));
    assert_eq!(ev.time, 1_772_692_200_005, "API created_at only");
    assert_eq!(ev.id.as_deref(), Some("Ap1Ie2St3Yl4Eo5Nl6Y7cA"));
}

#[test]
fn prefers_timestamp_and_falls_back_to_created_at() {
    let both = r#"{"@timestamp":1772409600000,"created_at":1772409601000,"action":"repo.create","actor":"a"}"#;
    assert_eq!(dec(both).time, 1_772_409_600_000);
    let null_ts = r#"{"@timestamp":null,"created_at":"2026-03-02T00:00:01Z","action":"repo.create","actor":"a"}"#;
    assert_eq!(dec(null_ts).time, 1_772_409_601_000);
    let bad_ts =
        r#"{"@timestamp":"soon","created_at":1772409602,"action":"repo.create","actor":"a"}"#;
    assert_eq!(dec(bad_ts).time, 1_772_409_602_000, "epoch seconds");
    let empty_ts =
        r#"{"@timestamp":"","created_at":1772409603000,"action":"repo.create","actor":"a"}"#;
    assert_eq!(dec(empty_ts).time, 1_772_409_603_000);
}

#[test]
fn rest_api_page_elements_decode() {
    let page: serde_json::Value = serde_json::from_str(API_PAGE).unwrap();
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 3);
    for item in items {
        let text = item.to_string();
        assert_eq!(sniff(&text), Some(Format::Github), "{text}");
        dec(&text);
    }
    let ev = dec(&items[1].to_string());
    assert_eq!(ev.time, 1_772_694_220_912);
    let ev = dec(&items[2].to_string());
    assert_eq!(ev.action.name, "personal_access_token.access_granted");
    assert!(ev.credential.is_none(), "token_id is the approved token");
}

#[test]
fn every_fixture_record_decodes_and_sniffs() {
    let records = crate::decode::fixtures::records("github");
    for r in &records {
        assert_eq!(sniff(r), Some(Format::Github), "{r}");
        dec(r);
    }
    assert!(records.len() >= 20, "{} records", records.len());
}

#[test]
fn token_id_identifies_when_no_hash_is_logged() {
    let rec = |tok: &str, kind: &str| {
        format!(
            r#"{{"@timestamp":1772409600000,"action":"repo.download_zip","actor":"alice","token_id":{tok},"programmatic_access_type":{kind}}}"#
        )
    };
    let ev = dec(&rec("12345", r#""Personal access token (classic)""#));
    assert_eq!(cred(&ev), ("token_id:12345", PAT, Some(true)));
    let ev = dec(&rec(r#""987""#, r#""OAuth access token""#));
    assert_eq!(cred(&ev), ("token_id:987", OAUTH, Some(true)));
    // without an access type token_id is the token acted on
    assert!(dec(&rec("987", "null")).credential.is_none());
    // zero is GitHub's placeholder, not a token
    assert!(dec(&rec("0", r#""OAuth access token""#))
        .credential
        .is_none());
    assert!(dec(&rec("null", "null")).credential.is_none());
    assert!(dec(&rec("{}", "null")).credential.is_none());
}

#[test]
fn access_types_are_case_insensitive_and_hashes_without_type_are_unknown() {
    let rec = |kind: &str, extra: &str| {
        format!(
            r#"{{"@timestamp":1772409600000,"action":"git.clone","actor":"alice","hashed_token":"h=","programmatic_access_type":{kind}{extra}}}"#
        )
    };
    let cases = [
        (r#""personal access token (CLASSIC)""#, PAT, Some(true)),
        (r#""Personal access token""#, PAT, Some(true)),
        (r#""fine-grained personal access token""#, PAT, None),
        (r#""github app USER-TO-SERVER token""#, APP, Some(false)),
        (r#""oauth access token""#, OAUTH, Some(true)),
        (r#""Something new""#, UNKNOWN, None),
        ("null", UNKNOWN, None),
        ("42", UNKNOWN, None),
    ];
    for (kind, want, long_lived) in cases {
        let ev = dec(&rec(kind, ""));
        assert_eq!(cred(&ev), ("h=", want, long_lived), "{kind}");
    }
    // git over ssh with no type: the key
    let ev = dec(&rec("null", r#","transport_protocol_name":"SSH""#));
    assert_eq!(cred(&ev), ("h=", KEY, Some(true)));
    let no_hash = r#"{"@timestamp":1772409600000,"action":"git.clone","actor":"alice","transport_protocol_name":"ssh","public_key_fingerprint":"SHA256:abc"}"#;
    assert_eq!(cred(&dec(no_hash)), ("SHA256:abc", KEY, Some(true)));
    let http_fp = r#"{"@timestamp":1772409600000,"action":"git.clone","actor":"alice","transport_protocol_name":"http","public_key_fingerprint":"SHA256:abc"}"#;
    assert!(dec(http_fp).credential.is_none());
}

#[test]
fn humans_services_and_bots() {
    let rec = |actor: &str, extra: &str| {
        format!(r#"{{"@timestamp":1772409600000,"action":"repo.create","actor":"{actor}"{extra}}}"#)
    };
    let kind = |t: String| dec(&t).actor;
    let a = kind(rec("alice", r#","actor_is_bot":false"#));
    assert_eq!(
        (a.kind, a.vendor_type.as_deref()),
        (ActorKind::Human, Some("user"))
    );
    let a = kind(rec("renovate[bot]", ""));
    assert_eq!(
        (a.kind, a.vendor_type.as_deref()),
        (ActorKind::Service, Some("bot"))
    );
    let a = kind(rec("build-runner", r#","actor_is_bot":"true""#));
    assert_eq!(
        (a.kind, a.vendor_type.as_deref()),
        (ActorKind::Service, Some("bot"))
    );
    // named like automation
    assert_eq!(kind(rec("svc-terraform", "")).kind, ActorKind::Service);
    let a = kind(rec(
        "carol",
        r#","programmatic_access_type":"GitHub App server-to-server token","hashed_token":"x""#,
    ));
    assert_eq!(a.kind, ActorKind::Service);
    let a = kind(rec(
        "carol",
        r#","programmatic_access_type":"GitHub App user-to-server token","hashed_token":"x""#,
    ));
    assert_eq!((a.kind, a.impersonator), (ActorKind::Human, None));
}

#[test]
fn odd_field_types_do_not_reject_the_record() {
    let text = r#"{"@timestamp":1772409600000,"action":"repo.create","actor":"alice","actor_location":["NL"],"org":["a","b"],"business":"biz","repo":42,"actor_ip":{"v":4},"user_agent":7,"actor_is_bot":"maybe","hashed_token":["x"],"_document_id":null}"#;
    let ev = dec(text);
    assert_eq!(ev.actor.account.as_deref(), Some("biz"));
    assert_eq!(ev.action.resource, None);
    assert_eq!(ev.source, Source::default());
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert!(ev.credential.is_none());
    assert_eq!((ev.id, ev.dedup), (None, None));
    let ev = dec(
        r#"{"@timestamp":1772409600000,"action":"repo.create","actor":"alice","actor_location":{"country_name":"Netherlands","city":"Delft"}}"#,
    );
    assert_eq!(ev.source.geo(), Some("Netherlands/Delft"));
    let ev = dec(r#"{"@timestamp":1772409600000,"action":"audit","actor":"alice"}"#);
    assert_eq!(ev.action.service.as_deref(), Some("audit"));
}

#[test]
fn dedup_is_the_document_id_whatever_its_length() {
    let short = dec(line(0)).dedup;
    let again = dec(&line(0).replace("\"git.clone\"", "\"git.clone\",\"extra\":1")).dedup;
    assert_eq!(short, again);
    let long_id = "L".repeat(200);
    let text = format!(
        r#"{{"@timestamp":1772409600000,"_document_id":"{long_id}","action":"repo.create","actor":"a"}}"#
    );
    let mut want = b"github\0".to_vec();
    want.extend_from_slice(long_id.as_bytes());
    assert_eq!(dec(&text).dedup, Some(xxh3_64(&want)));
    assert_ne!(dec(line(1)).dedup, short);
}

#[test]
fn missing_and_invalid_required_fields_name_the_field() {
    let e = decode(r#"{"action":"git.clone","actor":"a"}"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("@timestamp"), "{e}");
    let e = decode(
        r#"{"@timestamp":1772409600000,"action":"git.clone","actor":""}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("actor"), "{e}");
    let e = decode(r#"{"@timestamp":1772409600000,"actor":"a"}"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("action"), "{e}");
    let e = decode(
        r#"{"created_at":"2026-13-01T00:00:00Z","action":"git.clone","actor":"a"}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("created_at"), "{e}");
    assert!(e.message.contains("\"2026-13-01T00:00:00Z\""), "{e}");
    let e = decode(
        r#"{"@timestamp":true,"action":"git.clone","actor":"a"}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    let e = decode(
        r#"{"@timestamp":-5,"action":"git.clone","actor":"a"}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    let e = decode(r#"{"@timestamp":1772409600000,"action":"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

fn fixture_lines() -> Vec<String> {
    crate::decode::fixtures::records("ocsf")
}

/// The fixture record whose metadata.uid is `uid`.
fn fixture(uid: &str) -> Event {
    let needle = format!("\"uid\":\"{uid}\"");
    let line = fixture_lines()
        .into_iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no fixture {uid}"));
    decode(&line, origin()).unwrap()
}

fn dedup_of(uid: &str) -> Option<u64> {
    Some(xxh3_64(format!("ocsf\0{uid}").as_bytes()))
}

#[test]
fn every_fixture_decodes_and_sniffs_as_ocsf() {
    let lines = fixture_lines();
    assert!(lines.len() >= 8, "{}", lines.len());
    for line in &lines {
        assert_eq!(sniff(line), Some(Format::Ocsf), "{line}");
        if let Err(e) = decode(line, origin()) {
            panic!("{e}: {line}");
        }
    }
}

#[test]
fn api_activity_with_a_long_term_key() {
    let ev = fixture("a1b2c3d4-0001-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(ev.time, 1_772_438_475_000);
    assert_eq!(ev.format, Format::Ocsf);
    assert_eq!(ev.actor.id, "arn:aws:iam::111122223333:user/alice");
    assert_eq!(ev.actor.name.as_deref(), Some("alice"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("IAMUser"));
    assert_eq!(ev.actor.account.as_deref(), Some("111122223333"));
    assert_eq!(ev.actor.role, None);
    assert!(ev.actor.groups.is_empty());
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(c.kind, CredentialKind::LongTermKey);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!((c.issued, c.expires, c.bound_to), (None, None, None));
    assert_eq!(ev.session, None);
    assert_eq!(ev.mfa, None);
    assert_eq!(ev.source.ip, Some("203.0.113.18".parse().unwrap()));
    assert!(ev
        .source
        .user_agent
        .as_deref()
        .unwrap()
        .starts_with("aws-cli/2.15.30"));
    assert_eq!(ev.action.name, "ListBuckets");
    assert_eq!(ev.action.service.as_deref(), Some("s3.amazonaws.com"));
    assert_eq!(ev.action.resource, None);
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.action.error, None);
    assert_eq!(
        ev.id.as_deref(),
        Some("a1b2c3d4-0001-4e5f-8a9b-c0d1e2f3a4b5")
    );
    assert_eq!(ev.region.as_deref(), Some("us-east-1"));
    assert_eq!(ev.dedup, dedup_of("a1b2c3d4-0001-4e5f-8a9b-c0d1e2f3a4b5"));
}

#[test]
fn assumed_role_session() {
    let ev = fixture("a1b2c3d4-0002-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(
        ev.actor.name.as_deref(),
        Some("carol@example.com"),
        "from the ARN"
    );
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("AssumedRole"));
    assert!(ev
        .actor
        .role
        .as_deref()
        .unwrap()
        .ends_with("AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6a7b"));
    let c = ev.credential.unwrap();
    assert_eq!(c.kind, CredentialKind::Session);
    assert_eq!(c.long_lived, Some(false));
    assert_eq!(c.issued, Some(1_772_445_900_000));
    assert_eq!(c.expires, Some(1_772_474_700_000));
    assert_eq!(ev.session.as_deref(), Some("ASIAEXAMPLESESSION01"));
    assert_eq!(ev.mfa, Some(true));
    assert_eq!(
        ev.action.resource.as_deref(),
        Some("arn:aws:s3:::example-logs-bucket")
    );

    let ev = fixture("a1b2c3d4-0003-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(ev.actor.kind, ActorKind::Service, "instance profile");
    assert_eq!(ev.actor.name.as_deref(), Some("app-server-role"));
    assert_eq!(ev.mfa, Some(false));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("AccessDenied"));
    assert_eq!(ev.region.as_deref(), Some("eu-west-1"));
    assert_eq!(ev.source.ip, Some("10.20.3.44".parse().unwrap()));
}

#[test]
fn services_root_and_ipv6() {
    let ev = fixture("a1b2c3d4-0004-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(ev.actor.id, "lambda.amazonaws.com");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.credential, None);
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("lambda.amazonaws.com"));

    let ev = fixture("a1b2c3d4-0005-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(ev.source.ip, Some("2001:db8:1f::e7".parse().unwrap()));
    assert_eq!(ev.actor.kind, ActorKind::Service, "svc- named IAM user");
    assert_eq!(ev.credential.unwrap().long_lived, Some(true));

    let ev = fixture("a1b2c3d4-0006-4e5f-8a9b-c0d1e2f3a4b5");
    assert_eq!(ev.actor.kind, ActorKind::Root);
    assert_eq!(ev.source.user_agent, None);
    assert_eq!(ev.action.resource, None);
}

#[test]
fn okta_authentication() {
    let ev = fixture("b7c3e2a1-9f4d-11f0-8a2b-3f5e6d7c8b9a");
    assert_eq!(ev.time, 1_772_438_292_113);
    assert_eq!(ev.actor.id, "00u1a2b3c4D5e6F7g8h9");
    assert_eq!(ev.actor.name.as_deref(), Some("alice@example.com"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.groups, vec!["Everyone", "Engineering"]);
    assert_eq!(ev.credential, None);
    assert_eq!(ev.session.as_deref(), Some("102KxH3pq9dR4m-abcdEFGhij"));
    assert_eq!(ev.mfa, Some(true));
    assert_eq!(ev.source.asn(), Some(64496));
    assert_eq!(ev.source.as_org(), Some("Example Transit Inc."));
    assert_eq!(ev.source.geo(), Some("US/Washington/Seattle"));
    assert_eq!(ev.action.name, "Logon");
    assert_eq!(ev.action.service.as_deref(), Some("Okta Dashboard"));
    assert_eq!(ev.action.resource.as_deref(), Some("example.okta.com"));
    assert_eq!(ev.action.outcome, Outcome::Success);

    // numbers as strings, failure
    let ev = fixture("c8d4f3b2-9f4d-11f0-8a2b-3f5e6d7c8b9a");
    assert_eq!(ev.time, 1_772_489_695_900);
    assert_eq!(ev.mfa, Some(false));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.source.asn(), Some(64511));
    assert_eq!(ev.source.as_org(), None);
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("FAILURE"));
    assert_eq!(ev.action.service.as_deref(), Some("Okta System Log"));
    assert_eq!(ev.action.resource, None);
}

#[test]
fn entra_authentication() {
    let ev = fixture("b4c5d6e7-f8a9-4b0c-8d1e-2f3a4b5c6d7e");
    assert_eq!(ev.time, 1_772_633_159_000, "time_dt only");
    assert_eq!(
        ev.source.ip,
        Some("2001:db8:85a3::8a2e:370:7334".parse().unwrap())
    );
    assert_eq!(ev.source.geo(), Some("GB/London"));
    assert_eq!(
        ev.actor.account.as_deref(),
        Some("5f2b8c1e-7d34-4a90-b6e2-3c9d1f0a8e47")
    );
    assert_eq!(ev.action.service.as_deref(), Some("Azure Portal"));
    assert_eq!(ev.action.resource.as_deref(), Some("Azure Portal"));

    let ev = fixture("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("System"));
    let c = ev.credential.unwrap();
    assert_eq!((c.kind, c.long_lived), (CredentialKind::Unknown, None));
    assert_eq!(ev.source.ip, Some("198.51.100.200".parse().unwrap()));
    assert_eq!(ev.source.user_agent, None);
    assert_eq!(ev.action.error.as_deref(), Some("7000215"));
}

#[test]
fn account_change_uses_the_acting_user() {
    let ev = fixture("d9e5a4c3-9f4d-11f0-8a2b-3f5e6d7c8b9a");
    assert_eq!(ev.actor.id, "00uadmin0000example1");
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.session.as_deref(), Some("102AdminSess-xyz"));
    assert_eq!(ev.action.name, "user.account.reset_password");
    assert_eq!(ev.source.ip, Some("203.0.113.5".parse().unwrap()));
}

#[test]
fn sparse_pipeline_record() {
    let line = fixture_lines()
        .into_iter()
        .find(|l| l.contains("deploy-bot"))
        .unwrap();
    let ev = decode(&line, origin()).unwrap();
    assert_eq!(ev.time, 1_772_710_800_000, "microseconds");
    assert_eq!(ev.actor.id, "deploy-bot");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(
        ev.actor.account.as_deref(),
        Some("acme-prod"),
        "cloud account"
    );
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::Unknown);
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("runner-12.ci.example.com"));
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!((ev.id, ev.dedup), (None, None));
    assert_eq!(ev.region.as_deref(), Some("europe-west1"));
}

#[test]
fn classification() {
    for (ty, id, name, want) in [
        (Some("User"), None, "erin@example.com", ActorKind::Human),
        (Some("User"), None, "terraform-runner", ActorKind::Service),
        (Some("Admin"), None, "root-admin", ActorKind::Human),
        (None, Some(2), "x", ActorKind::Human),
        (None, Some(1), "x", ActorKind::Human),
        (None, Some(3), "x", ActorKind::Service),
        (Some("System"), Some(1), "x", ActorKind::Service),
        (Some("AssumedRole"), None, "i-0abc123", ActorKind::Service),
        (Some("AssumedRole"), None, "i-", ActorKind::Unknown),
        (
            Some("AssumedRole"),
            None,
            "botocore-session-1",
            ActorKind::Unknown,
        ),
        (Some("Other"), Some(99), "gpt-helper", ActorKind::Agent),
        (None, None, "x", ActorKind::Unknown),
    ] {
        assert_eq!(kind(ty, id, name), want, "{ty:?} {id:?} {name}");
    }
}

fn api(rest: &str) -> String {
    format!(
        r#"{{"class_uid":6003,"category_uid":6,"actor":{{"user":{{"uid":"u1"}}}},"api":{{"operation":"Op"}}{rest}}}"#
    )
}

#[test]
fn times_in_every_shape() {
    for (t, want) in [
        (r#""time":1772424306000"#, 1_772_424_306_000),
        (r#""time":"1772424306""#, 1_772_424_306_000),
        (r#""time":1.772424306e12"#, 1_772_424_306_000),
        (r#""time":"2026-03-02T04:05:06.5Z""#, 1_772_424_306_500),
        (
            r#""time":null,"time_dt":"2026-03-02T04:05:06Z""#,
            1_772_424_306_000,
        ),
        (
            r#""time":"bad","time_dt":"2026-03-02T04:05:06Z""#,
            1_772_424_306_000,
        ),
    ] {
        let ev = decode(&api(&format!(",{t}")), origin()).unwrap();
        assert_eq!(ev.time, want, "{t}");
    }
}

#[test]
fn missing_and_invalid_fields() {
    let e = decode(&api(""), origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("time"), "{e}");
    for bad in [r#""time":{"a":1}"#, r#""time":-5"#, r#""time":true"#] {
        let e = decode(&api(&format!(",{bad}")), origin()).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidField, "{bad}");
        assert!(e.message.contains("time"), "{e}");
    }
    let e = decode(&api(r#","time_dt":"yesterday""#), origin()).unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(
        e.message.contains("time_dt") && e.message.contains("yesterday"),
        "{e}"
    );

    // no user anywhere: not an identity event
    let e = decode(
        r#"{"class_uid":4001,"category_uid":4,"time":1772424306000,"src_endpoint":{"ip":"192.0.2.1"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("actor.user"), "{e}");
    let e = decode(
        &api(r#","time":1772424306000"#).replace(r#"{"uid":"u1"}"#, "{}"),
        origin(),
    )
    .unwrap_err();
    assert!(e.message.contains("actor.user.uid"), "{e}");
    let e = decode(
        &api(r#","time":1772424306000"#).replace(r#""operation":"Op""#, ""),
        origin(),
    )
    .unwrap_err();
    assert!(e.message.contains("api.operation"), "{e}");
    let e = decode(r#"{"class_uid":"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

#[test]
fn awkward_values() {
    let ev = decode(
        &api(r#","time":1772424306000,"status":"failure","status_detail":"denied","resources":{"name":"one"},"src_endpoint":{"ip":"[2001:db8::1]:443","location":{},"autonomous_system":{"number":0}},"http_request":"x","cloud":{"account_uid":"acct-9"},"is_mfa":"true""#),
        origin(),
    )
    .unwrap();
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("denied"));
    assert_eq!(ev.action.resource.as_deref(), Some("one"));
    assert_eq!(ev.source.ip, Some("2001:db8::1".parse().unwrap()));
    assert_eq!((ev.source.asn(), ev.source.geo()), (None, None));
    assert_eq!(ev.actor.account.as_deref(), Some("acct-9"));
    assert_eq!(ev.mfa, Some(true));
    // the 3002 user wins over actor.user; activity_name names the action
    let ev = decode(
        r#"{"class_uid":3002,"category_uid":3,"time":1772424306000,"activity_name":"Logoff","user":{"name":"target@example.com"},"actor":{"user":{"uid":"other"}},"api":{"operation":"ignored"}}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.actor.id, "target@example.com");
    assert_eq!(ev.action.name, "Logoff");
    assert_eq!(ev.action.outcome, Outcome::Unknown);
}

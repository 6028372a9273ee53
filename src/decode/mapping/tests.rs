use std::sync::Arc;

use super::*;
use crate::decode::fixtures::origin;
use crate::decode::{Decoder, Record};

const FILE: &str = include_str!("../../../docs/examples/acme-deploy.mapping.yaml");
const LOG: &str = include_str!("../../../docs/examples/acme-deploy.jsonl");

fn decoder() -> Decoder {
    let m = Mappings::parse("acme.yaml", FILE).unwrap();
    Decoder::new(None).with_mappings(Arc::new(m))
}

fn events() -> Vec<Event> {
    let d = decoder();
    LOG.lines()
        .map(|l| match d.decode(l, origin()).unwrap() {
            Record::Event(e) => (*e).clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn worked_example_lands_every_field() {
    let evs = events();
    assert_eq!(evs.len(), 4);
    let e = &evs[0];
    assert_eq!(e.format, Format::Mapped("acme-deploy"));
    assert_eq!(e.format.name(), "acme-deploy");
    assert_eq!(
        crate::time::format_rfc3339(e.time),
        "2026-03-04T09:15:02.000Z"
    );
    assert_eq!(e.id.as_deref(), Some("r-77f1"));
    assert_eq!(e.actor.id, "u-1842");
    assert_eq!(e.actor.name.as_deref(), Some("dana@corp.example"));
    assert_eq!(e.actor.kind, ActorKind::Human);
    let c = e.credential.as_ref().unwrap();
    assert_eq!(
        (c.id.as_str(), c.kind, c.long_lived),
        ("ak_live_7f3a", CredentialKind::ApiToken, Some(true))
    );
    assert_eq!(e.source.ip, Some("203.0.113.45".parse().unwrap()));
    assert_eq!(e.source.raw.as_deref(), Some("203.0.113.45:51234"));
    assert_eq!(e.source.user_agent.as_deref(), Some("acme-cli/3.2"));
    assert_eq!(e.source.network.as_deref(), Some("203.0.113.0/24"));
    assert_eq!(e.action.name, "deploy.promote");
    assert_eq!(e.action.service.as_deref(), Some("acme-deploy"));
    assert_eq!(e.action.resource.as_deref(), Some("payments"));
    assert_eq!(e.action.outcome, Outcome::Success);

    let bot = &evs[2];
    assert_eq!(bot.actor.kind, ActorKind::Service);
    assert_eq!(bot.session.as_deref(), Some("s-91c2"));
    assert_eq!(bot.credential, None, "no key id: no credential");
    assert_eq!(bot.action.outcome, Outcome::Failure);
    assert_eq!(bot.action.error.as_deref(), Some("NOT_APPROVED"));
    assert_eq!(bot.source.ip, Some("2001:db8:44::17".parse().unwrap()));
}

#[test]
fn records_that_do_not_match_the_rules_are_left_to_the_built_in_formats() {
    let d = decoder();
    let other = r#"{"service":"billing","audit_version":2,"ts":"04/03/2026 09:15:02","event":"x","user":{"id":"u"}}"#;
    let err = d.decode(other, origin()).unwrap_err();
    assert_eq!(err.reason, Reason::UnknownFormat);
    let ct = r#"{"eventVersion":"1.08","eventTime":"2026-03-02T04:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}"#;
    assert!(
        matches!(d.decode(ct, origin()), Ok(Record::Event(e)) if e.format == Format::Cloudtrail)
    );
}

#[test]
fn missing_time_or_actor_and_bad_time_are_clear_errors() {
    let d = decoder();
    let no_time = r#"{"service":"acme-deploy","audit_version":2,"event":"x","user":{"id":"u"}}"#;
    let e = d.decode(no_time, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("no ts"), "{e}");
    let no_actor =
        r#"{"service":"acme-deploy","audit_version":2,"ts":"04/03/2026 09:15:02","event":"x"}"#;
    let e = d.decode(no_actor, origin()).unwrap_err();
    assert!(e.message.contains("no user.id"), "{e}");
    let bad = r#"{"service":"acme-deploy","audit_version":2,"ts":"2026-03-04","event":"x","user":{"id":"u"}}"#;
    let e = d.decode(bad, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("2026-03-04"), "{e}");
}

#[test]
fn forced_mapping_ignores_the_rules() {
    let m = Arc::new(Mappings::parse("acme.yaml", FILE).unwrap());
    let d = Decoder::new(Some(Format::Mapped("acme-deploy"))).with_mappings(m);
    let r = r#"{"ts":"04/03/2026 09:15:02","event":"x","user":{"id":"u"}}"#;
    assert!(matches!(d.decode(r, origin()), Ok(Record::Event(_))));
}

#[test]
fn paths_index_arrays_and_quote_dotted_keys() {
    let v: Json = serde_json::from_str(
        r#"{"a":{"b":[{"c":1},{"c":"two"}]},"extra":{"kubernetes.io/pod":["p1"]}}"#,
    )
    .unwrap();
    let p = JsonPath::parse("a.b.1.c").unwrap();
    assert_eq!(p.text(&v).as_deref(), Some("two"));
    assert_eq!(
        JsonPath::parse("a.b.0.c").unwrap().text(&v).as_deref(),
        Some("1")
    );
    let q = JsonPath::parse("extra.[kubernetes.io/pod].0").unwrap();
    assert_eq!(q.text(&v).as_deref(), Some("p1"));
    assert_eq!(JsonPath::parse("a.b.9.c").unwrap().text(&v), None);
    assert!(JsonPath::parse("a..b").is_err());
    assert!(JsonPath::parse("a.").is_err());
    assert!(JsonPath::parse("[unclosed").is_err());
}

#[test]
fn every_error_in_a_file_is_reported_at_once() {
    let bad = r#"
formats:
  - id: cloudtrail
    recognise: []
    fields: {actor.id: user}
  - id: Bad Id
    recognise: [{path: a, equals: b, exists: true}]
    time: {path: ts, format: fortnightly}
    colour: blue
    fields:
      actor.kind: {path: t, map: {x: alien}}
      credential.kind: {value: magic}
      actor.nickname: n
      action.name: {path: a, value: b}
"#;
    let err = Mappings::parse("m.yaml", bad).unwrap_err();
    let text = err.to_string();
    for want in [
        "formats[0] (cloudtrail): id \"cloudtrail\" is a built-in format",
        "formats[0] (cloudtrail): recognise needs at least one rule",
        "formats[0] (cloudtrail): time is required",
        "formats[0] (cloudtrail): fields.action.name is required",
        "formats[1] (Bad Id): id \"Bad Id\" may use only",
        "recognise[0]: give exactly one of equals, exists: true, starts_with",
        "unknown time format \"fortnightly\"",
        "unknown key \"colour\"",
        "fields.actor.kind: value \"alien\" is not one of human, service",
        "fields.credential.kind: value \"magic\" is not one of long_term_key",
        "unknown field \"actor.nickname\"",
        "fields.action.name: give exactly one of path or value",
        "formats[1] (Bad Id): fields.actor.id is required",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(Mappings::parse("m.yaml", "formats: []").is_err());
    assert!(Mappings::parse("m.yaml", "formats: [").is_err());
}

#[test]
fn epoch_and_rfc3339_times() {
    let file = r#"
formats:
  - id: epochs
    recognise: [{path: app, starts_with: ep}]
    time: {path: t}
    fields: {actor.id: u, action.name: a}
"#;
    let m = Arc::new(Mappings::parse("m.yaml", file).unwrap());
    let d = Decoder::new(None).with_mappings(m);
    for t in [
        "1772424306",
        "1772424306000",
        "\"1772424306000\"",
        "\"2026-03-02T04:05:06Z\"",
    ] {
        let r = format!(r#"{{"app":"epoch","t":{t},"u":"x","a":"y"}}"#);
        match d.decode(&r, origin()) {
            Ok(Record::Event(e)) => assert_eq!(e.time, 1_772_424_306_000, "{t}"),
            other => panic!("{t}: {other:?}"),
        }
    }
}

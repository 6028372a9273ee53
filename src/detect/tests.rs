//! Edge cases of the default detectors, through the real decoders and engine: window and period
//! boundaries, late and out-of-order records, approvals for another person or another time.

use std::sync::Arc;

use crate::alerts::finding::Finding;
use crate::decode::{Decoder, Record};
use crate::engine::{Engine, DEFAULT_LATENESS};
use crate::event::Origin;
use crate::inventory::Inventory;

/// Run `records` (JSON text, any format) through the embedded detector `id`.
fn run(id: &str, inventory: &str, records: &[String]) -> Vec<Finding> {
    let detectors: Vec<_> = crate::detect::load::load_embedded()
        .unwrap()
        .into_iter()
        .filter(|d| d.id == id)
        .collect();
    assert_eq!(detectors.len(), 1, "{id}");
    let inv = Arc::new(Inventory::parse("inv.yaml", inventory).unwrap());
    let mut engine = Engine::new(&detectors, DEFAULT_LATENESS).with_inventory(inv.clone());
    let decoder = Decoder::new(None).with_inventory(inv);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let origin = Origin::Inline {
            test: Arc::from("t"),
            index: i as u64,
        };
        match decoder.decode(r, origin).unwrap() {
            Record::Event(ev) => engine.push(ev, &mut out),
            Record::Approval(a) => engine.push_approval(*a),
            Record::Skipped(_) => {}
        }
    }
    engine.flush(&mut out);
    out
}

fn ct(t: &str, name: &str, ip: &str, user: &str, key: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{t}","eventSource":"ec2.amazonaws.com","eventName":"{name}","sourceIPAddress":"{ip}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}","userName":"{user}","accessKeyId":"{key}"}}}}"#
    )
}

fn session(t: &str, name: &str, key: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{t}","eventSource":"ec2.amazonaws.com","eventName":"{name}","sourceIPAddress":"203.0.113.7","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/BreakGlassAdmin/carol","accessKeyId":"{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"arn:aws:iam::111122223333:role/BreakGlassAdmin"}}}}}}}}"#
    )
}

fn approval(id: &str, who: &str, from: &str, until: &str) -> String {
    format!(
        r#"{{"kind":"approval","id":"{id}","scope":"break_glass","principal":"{who}","approved_by":"lead","valid_from":"{from}","valid_until":"{until}"}}"#
    )
}

const BG: &str = "break_glass: {principals: [\"arn:aws:iam::111122223333:role/BreakGlassAdmin\"], max_session: 1h}";

#[test]
fn session_exactly_at_max_session_is_within_it() {
    let at = |end: &str| {
        run(
            "break-glass-session-overrun",
            BG,
            &[
                approval("A", "carol", "2026-03-02T03:00:00Z", "2026-03-02T09:00:00Z"),
                session("2026-03-02T04:00:00Z", "DescribeInstances", "ASIAS1"),
                session(end, "DescribeInstances", "ASIAS1"),
            ],
        )
    };
    assert!(at("2026-03-02T05:00:00Z").is_empty(), "exactly 1h: within");
    let f = at("2026-03-02T05:00:01Z");
    assert_eq!(f.len(), 1, "one second past");
    assert!(f[0].message.contains("max_session 1h"), "{}", f[0].message);
    assert_eq!(
        f[0].unmapped.context.approval.as_ref().unwrap().approval.id,
        "A"
    );
}

#[test]
fn session_overrun_is_one_finding_per_session_whatever_the_order() {
    let mut records = vec![
        approval("A", "carol", "2026-03-02T03:00:00Z", "2026-03-02T09:00:00Z"),
        session("2026-03-02T04:00:00Z", "DescribeInstances", "ASIAS1"),
        session("2026-03-02T05:10:00Z", "DescribeInstances", "ASIAS1"),
        session("2026-03-02T05:20:00Z", "RebootInstances", "ASIAS1"),
        session("2026-03-02T05:12:00Z", "DescribeInstances", "ASIAS2"),
    ];
    let a = run("break-glass-session-overrun", BG, &records);
    records[1..].reverse();
    let b = run("break-glass-session-overrun", BG, &records);
    assert_eq!(a.len(), 1);
    let uids =
        |f: &[Finding]| -> Vec<String> { f.iter().map(|x| x.finding_info.uid.clone()).collect() };
    assert_eq!(
        uids(&a),
        uids(&b),
        "same finding whatever the arrival order"
    );
}

#[test]
fn approval_for_another_person_or_another_time_does_not_cover() {
    let use_at = session("2026-03-02T04:00:00Z", "DescribeInstances", "ASIAS1");
    for (who, from, until, expect) in [
        ("carol", "2026-03-02T03:00:00Z", "2026-03-02T05:00:00Z", 0),
        ("CAROL", "2026-03-02T03:00:00Z", "2026-03-02T05:00:00Z", 0),
        ("dave", "2026-03-02T03:00:00Z", "2026-03-02T05:00:00Z", 1),
        ("carol", "2026-03-01T03:00:00Z", "2026-03-01T05:00:00Z", 1),
        ("carol", "2026-03-02T04:00:01Z", "2026-03-02T05:00:00Z", 1),
    ] {
        let f = run(
            "break-glass-unapproved",
            BG,
            &[approval("A", who, from, until), use_at.clone()],
        );
        assert_eq!(f.len(), expect, "approval for {who} {from}..{until}");
    }
}

#[test]
fn late_approval_counts_inside_the_grace_only() {
    // the approval is logged after other traffic has moved the watermark on
    let with_gap = |gap_minutes: u32| {
        let later = format!("2026-03-02T04:{:02}:00Z", 5 + gap_minutes);
        run(
            "break-glass-unapproved",
            BG,
            &[
                session("2026-03-02T04:00:00Z", "DescribeInstances", "ASIAS1"),
                ct(
                    &later,
                    "DescribeInstances",
                    "198.51.100.1",
                    "bob",
                    "AKIABOB",
                ),
                approval("A", "carol", "2026-03-02T03:55:00Z", "2026-03-02T05:00:00Z"),
            ],
        )
        .len()
    };
    // lateness 5 min + grace 10 min: the decision for 04:00 is taken when the watermark
    // passes 04:10, i.e. once an event at 04:15 or later has been seen
    assert_eq!(
        with_gap(9),
        0,
        "watermark 04:09: still waiting, approval counts"
    );
    assert_eq!(
        with_gap(11),
        1,
        "watermark 04:11: decided before the approval arrived"
    );
}

#[test]
fn exception_findings_once_per_exception_per_day_even_out_of_order() {
    let inv = "exceptions:\n  - {id: x, credentials: [AKIAX], owner: o, expires: 2026-01-31, last_review: 2026-01-15, review_every: 90d}";
    let f = run(
        "exception-path-unhealthy",
        inv,
        &[
            ct(
                "2026-02-06T01:00:00Z",
                "GetObject",
                "192.0.2.1",
                "etl",
                "AKIAX",
            ),
            ct(
                "2026-02-05T23:58:00Z",
                "GetObject",
                "192.0.2.1",
                "etl",
                "AKIAX",
            ),
            ct(
                "2026-02-06T02:00:00Z",
                "GetObject",
                "192.0.2.1",
                "etl",
                "AKIAX",
            ),
            ct(
                "2026-02-05T23:59:00Z",
                "GetObject",
                "192.0.2.1",
                "etl",
                "AKIAX",
            ),
        ],
    );
    assert_eq!(f.len(), 2, "one for 02-05, one for 02-06");
    let x = f[0].unmapped.context.exception.as_ref().unwrap();
    assert_eq!(x.id, "x");
    assert_eq!(x.owner.as_deref(), Some("o"));
    assert_eq!(x.expires.as_deref(), Some("2026-01-31"));
    assert_eq!(x.status, vec!["expired"]);
    assert_eq!(
        x.days_overdue,
        Some(4),
        "02-05 23:58 is 4 whole days past the end of 01-31"
    );
    assert!(
        f[0].message
            .contains("exception x (expired: owner o, expired 2026-01-31, 4 days overdue)"),
        "{}",
        f[0].message
    );
}

#[test]
fn list_fields_match_any_element() {
    // a Kubernetes user whose groups include system:masters among others
    let k8s = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list","user":{"username":"kubernetes-admin","groups":["system:authenticated","system:masters"]},"sourceIPs":["203.0.113.5"],"userAgent":"kubectl/v1.29.2","objectRef":{"resource":"namespaces"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-03-02T04:00:00Z","stageTimestamp":"2026-03-02T04:00:00Z"}"#;
    let f = run("break-glass-unapproved", "", &[k8s.to_string()]);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].unmapped.context.break_glass, Some("system_masters"));
}

/// `except` and the business context are decided on the event that raised the candidate, not on
/// the last evidence event shown: with more values than `max_evidence` (10), the evidence is the
/// oldest ten, and the eleventh bucket comes the day after the exception expired.
#[test]
fn except_is_decided_on_the_event_that_raised_the_finding() {
    let inv = "exceptions:\n  - {id: etl-key, credentials: [AKIAEXAMPLEETL000001], owner: data-eng, expires: 2026-03-02, last_review: 2026-03-01, review_every: 180d, ticket: RISK-118}\n";
    let use_bucket = |t: &str, b: usize| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"ListObjects","sourceIPAddress":"198.51.100.7","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/svc-etl","userName":"svc-etl","accessKeyId":"AKIAEXAMPLEETL000001"}},"requestParameters":{{"bucketName":"bucket-{b:02}"}}}}"#
        )
    };
    let mut records: Vec<String> = (0..10)
        .map(|b| use_bucket(&format!("2026-03-02T23:{:02}:00Z", 10 + b * 3), b))
        .collect();
    // ten buckets while the exception is healthy: nothing
    assert!(run("standing-token-fanout", inv, &records).is_empty());
    records.push(use_bucket("2026-03-03T00:05:00Z", 10));
    let f = run("standing-token-fanout", inv, &records);
    assert_eq!(f.len(), 1, "the eleventh bucket, after the expiry, raises");
    let x = f[0]
        .unmapped
        .context
        .exception
        .as_ref()
        .expect("the exception");
    assert_eq!(x.status, ["expired"]);
    assert_eq!(
        f[0].evidences.len(),
        10,
        "the evidence is the oldest ten buckets"
    );
}

/// A snapshot saved before candidates carried their trigger stored whole events as evidence; the
/// last one, context included, is the trigger.
#[test]
fn a_saved_candidate_without_a_trigger_takes_its_last_evidence_event_whole() {
    use crate::event::{Event, Format};
    let mut ev = Event::new(5, Format::Cloudtrail, Origin::unknown());
    ev.actor.id = "arn:aws:iam::1:user/a".into();
    ev.context.exception = Some("etl-key".into());
    let old = serde_json::json!({
        "key": "k", "window_start": 1, "start": 1, "end": 5,
        "evidence": [ev], "count": 1, "values": [], "note": "n",
    });
    let c: crate::detect::Candidate = serde_json::from_value(old).unwrap();
    assert_eq!(c.trigger.context.exception.as_deref(), Some("etl-key"));
    assert_eq!(*c.evidence[0], crate::evidence::Evidence::of(&ev));
    // and a candidate saved now reads back the same
    let again: crate::detect::Candidate =
        serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(again.trigger.context.exception.as_deref(), Some("etl-key"));
    assert_eq!(again.evidence[0], c.evidence[0]);
}

//! Engine snapshots: a run cut anywhere, saved to JSON and restored into a fresh engine, gives
//! exactly the findings of the uncut run; a reload keeps the state of unchanged detectors.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bypassd::decode::Record;
use bypassd::detect::load::{load_embedded, load_texts};
use bypassd::detect::spec::Detector;
use bypassd::engine::{Engine, Snapshot, DEFAULT_LATENESS};
use bypassd::replay::DecodeOptions;
use bypassd::sources::replay::{expand, read_input, ReadOptions};
use bypassd::time::SECOND;

/// Every record of `examples/`, in the order replay reads them.
fn example_records() -> Vec<Record> {
    let inputs = expand(&["examples".to_string()]).expect("examples/");
    let dec = DecodeOptions {
        max_line: 1 << 20,
        ..DecodeOptions::default()
    };
    let raw = Arc::new(AtomicU64::new(0));
    let mut records = Vec::new();
    for input in &inputs {
        read_input(input, ReadOptions::default(), &raw, &mut |piece| {
            let b = dec.decode(piece, 0);
            assert!(b.errors.is_empty(), "{:?}", b.errors);
            records.extend(b.records);
        });
    }
    records
}

fn feed(engine: &mut Engine, records: &[Record], out: &mut Vec<String>) {
    let mut found = Vec::new();
    for r in records {
        match r {
            Record::Event(ev) => engine.push(ev.clone(), &mut found),
            Record::Approval(a) => engine.push_approval((**a).clone()),
            Record::Skipped(_) => {}
        }
    }
    out.extend(found.iter().map(|f| serde_json::to_string(f).unwrap()));
}

fn engine(detectors: &[Arc<Detector>], hold: i64) -> Engine {
    Engine::new(detectors, DEFAULT_LATENESS).with_hold(hold)
}

fn flush(engine: &mut Engine, out: &mut Vec<String>) {
    let mut found = Vec::new();
    engine.flush(&mut found);
    out.extend(found.iter().map(|f| serde_json::to_string(f).unwrap()));
}

fn cut_everywhere(hold: i64) {
    let detectors = load_embedded().unwrap();
    let records = example_records();
    let mut whole = Vec::new();
    let mut e = engine(&detectors, hold);
    feed(&mut e, &records, &mut whole);
    flush(&mut e, &mut whole);
    assert!(
        whole.len() >= 5,
        "the examples raise findings: {}",
        whole.len()
    );
    for cut in 0..=records.len() {
        let mut got = Vec::new();
        let mut first = engine(&detectors, hold);
        feed(&mut first, &records[..cut], &mut got);
        let json = serde_json::to_string(&first.snapshot().unwrap()).unwrap();
        drop(first);
        let snap: Snapshot = serde_json::from_str(&json).unwrap();
        let mut second = engine(&detectors, hold);
        let restored = second.restore(snap).unwrap();
        assert_eq!(restored.kept.len(), detectors.len());
        feed(&mut second, &records[cut..], &mut got);
        flush(&mut second, &mut got);
        assert_eq!(got, whole, "cut after record {cut} of {}", records.len());
        assert_eq!(second.stats(), e.stats(), "cut after record {cut}");
    }
}

#[test]
fn a_run_cut_and_restored_anywhere_gives_the_same_findings() {
    cut_everywhere(DEFAULT_LATENESS);
}

#[test]
fn the_same_with_the_live_hold() {
    cut_everywhere(0);
    cut_everywhere(2 * SECOND);
}

const SHARING: &str = r#"
id: sharing
title: Key from several networks
family: credential_sharing
severity: high
match:
  credential.id|exists: true
correlation:
  type: value_count
  group-by: [credential.id]
  timespan: 1h
  condition: {gte: 3, field: source.network}
tests:
  - name: placeholder
    expect: 0
    events: []
"#;

#[test]
fn reload_keeps_unchanged_detectors_and_restarts_changed_ones() {
    let detectors = load_texts([("s.yaml".to_string(), SHARING)]).unwrap();
    // no hold: each event reaches the detectors as it is pushed
    let mut e = engine(&detectors, 0);
    let mut out = Vec::new();
    let line = |ip: &str, min: u32| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2026-03-02T04:{min:02}:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIAEXAMPLE1"}}}}"#
        )
    };
    let dec = DecodeOptions::default();
    let d = dec.decoder();
    let push = |e: &mut Engine, ip: &str, min: u32, out: &mut Vec<String>| {
        let origin = bypassd::event::Origin::unknown();
        let Record::Event(ev) = d.decode(&line(ip, min), origin).unwrap() else {
            panic!("not an event")
        };
        let mut f = Vec::new();
        e.push(ev, &mut f);
        out.extend(f.iter().map(|f| f.finding_info.uid.clone()));
    };
    push(&mut e, "192.0.2.1", 0, &mut out);
    push(&mut e, "198.51.100.1", 1, &mut out);
    assert!(out.is_empty());

    // title changed only: state kept, the third network completes the pattern
    let retitled = SHARING.replace("Key from several networks", "Shared key");
    let again = load_texts([("s.yaml".to_string(), retitled.as_str())]).unwrap();
    let mut kept = engine(&again, 0);
    let r = kept.restore(e.snapshot().unwrap()).unwrap();
    assert_eq!(r.kept, vec!["sharing".to_string()]);
    push(&mut kept, "203.0.113.1", 2, &mut out);
    assert_eq!(out.len(), 1, "pattern across the reload is found");

    // threshold changed: the detector starts afresh, so two more networks are not enough
    out.clear();
    let changed = SHARING.replace("gte: 3", "gte: 2");
    let changed = load_texts([("s.yaml".to_string(), changed.as_str())]).unwrap();
    let mut fresh = engine(&changed, 0);
    let r = fresh.restore(e.snapshot().unwrap()).unwrap();
    assert_eq!(r.fresh, vec!["sharing".to_string()]);
    push(&mut fresh, "203.0.113.1", 2, &mut out);
    assert!(out.is_empty(), "changed detector kept old state: {out:?}");
}

//! The sinks at library level against real receivers: a local HTTP server that fails and
//! recovers (webhook), a real Alertmanager, a real Kafka-protocol broker (tansu), and files
//! renamed under the file sink.

#[path = "../common/mod.rs"]
mod common;
mod receiver;

mod alertmanager;
mod daemon;
mod kafka;
mod webhook;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bypassd::alerts::finding::Finding;
use bypassd::alerts::sinks::{validate_all, SinkConfig, Sinks};
use bypassd::detect::load::load_embedded;
use bypassd::engine::{Engine, DEFAULT_LATENESS};
use bypassd::event::{Credential, CredentialKind, Event, Format, Origin, Source};

/// One real finding: a key used from three networks, ten minutes ago.
fn base_finding() -> &'static Finding {
    static F: OnceLock<Finding> = OnceLock::new();
    F.get_or_init(|| {
        let detectors: Vec<_> = load_embedded()
            .unwrap()
            .into_iter()
            .filter(|d| d.id == "credential-multi-network")
            .collect();
        let mut engine = Engine::new(&detectors, DEFAULT_LATENESS);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let t0 = now.as_millis() as i64 - 10 * 60_000;
        let mut out = Vec::new();
        for (i, ip) in ["192.0.2.1", "198.51.100.1", "203.0.113.1"]
            .iter()
            .enumerate()
        {
            let origin = Origin::Inline {
                test: Arc::from("sinks"),
                index: i as u64,
            };
            let mut e = Event::new(t0 + i as i64 * 60_000, Format::Cloudtrail, origin);
            e.actor.id = "svc-a".into();
            e.action.name = "GetObject".into();
            e.credential = Some(Credential::new("AKIAEXAMPLE1", CredentialKind::LongTermKey));
            e.source = Source::from_raw(Some(ip), None);
            e.source.network = e.source.ip.map(bypassd::network::network_of);
            engine.push(Arc::new(e), &mut out);
        }
        engine.flush(&mut out);
        out.pop().expect("the detector fires")
    })
}

/// Finding `n`: its own uid (`f003`), high severity, a message that needs JSON escaping.
pub fn finding(n: usize) -> Finding {
    let mut f = base_finding().clone();
    f.metadata.uid = format!("f{n:03}");
    f.finding_info.uid = format!("f{n:03}");
    f.severity_id = 4;
    f.severity = "High";
    f.message = format!("{} #{n}: \"quoted\"\nsecond line", f.finding_info.title);
    f
}

/// An Update of finding `n`: same finding uid, its own record uid, more events.
pub fn update(n: usize, occurrences: u64) -> Finding {
    let mut f = finding(n);
    f.activity_id = 2;
    f.activity_name = "Update";
    f.metadata.uid = format!("f{n:03}-{occurrences}");
    f.finding_info.related_events_count = occurrences;
    f
}

/// One `[[sinks]]` entry from TOML, validated (relative paths against `base`).
pub fn sink(toml_text: &str, base: &Path) -> SinkConfig {
    let c: SinkConfig = toml::from_str(toml_text).unwrap();
    let mut list = [(0, c)];
    let mut errors = Vec::new();
    validate_all(&mut list, base, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    let [(_, c)] = list;
    c
}

/// Poll `f` until it holds (or panic after `limit`).
pub fn until(limit: Duration, what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn uids(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["metadata"]["uid"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn file_sink_follows_renames_and_reopens_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = sink(
        "type = \"file\"\nname = \"file-test\"\npath = \"out/findings.jsonl\"\nmin_severity = \"high\"",
        d,
    );
    let path = d.join("out/findings.jsonl");
    let sinks = Sinks::open(&[cfg], &d.join("state")).unwrap();
    sinks.write(&finding(0)).unwrap();
    // logrotate without postrotate: renamed, and the next write notices
    std::fs::rename(&path, d.join("out/findings.jsonl.1")).unwrap();
    sinks.write(&finding(1)).unwrap();
    let mut low = finding(2);
    low.severity_id = 3;
    sinks.write(&low).unwrap();
    // with postrotate kill -HUP: the new file exists before the next finding
    std::fs::rename(&path, d.join("out/findings.jsonl.2")).unwrap();
    sinks.reopen();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "",
        "reopened at once"
    );
    sinks.write(&finding(3)).unwrap();
    let read = |p: &str| uids(&std::fs::read_to_string(d.join(p)).unwrap());
    assert_eq!(read("out/findings.jsonl.1"), ["f000"]);
    assert_eq!(read("out/findings.jsonl.2"), ["f001"]);
    assert_eq!(read("out/findings.jsonl"), ["f003"]);
    let m = bypassd::telemetry::metrics();
    assert_eq!(m.sink_filtered.with_label_values(&["file-test"]).get(), 1);
    assert_eq!(m.sink_deliveries.with_label_values(&["file-test"]).get(), 3);
}

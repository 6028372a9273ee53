//! The webhook sink through a receiver outage (503, connection refused, 429 with Retry-After),
//! a restart of the sinks in the middle, and a rejected finding.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bypassd::alerts::sinks::Sinks;
use bypassd::telemetry::metrics;

use super::receiver::{Receiver, Script, Seen};
use super::{finding, sink, until};

const TEMPLATE: &str =
    r#"{"text": "[{{severity}}] {{finding_info.title}}: {{message}}", "uid": "{{metadata.uid}}"}"#;

fn uid_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect(body);
    v["uid"].as_str().unwrap().to_string()
}

/// uids the receiver accepted (2xx), in arrival order.
fn accepted(seen: &Mutex<Vec<Seen>>) -> Vec<String> {
    let seen = seen.lock().unwrap();
    seen.iter()
        .filter(|s| s.status == 200)
        .map(|s| uid_of(&s.body))
        .collect()
}

#[test]
fn webhook_delivers_each_finding_once_in_order_through_outages_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), "s3cret\n").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    // receiver A: the first request fails with 503, f003 is refused for good
    let a: Script = Arc::new(|n, body| match (n, uid_of(body).as_str()) {
        (0, _) => (503, vec![]),
        (_, "f003") => (400, vec![]),
        _ => (200, vec![]),
    });
    let rx = Receiver::start(0, seen.clone(), a);
    let port = rx.addr.port();
    let name = "hook-test";
    let cfg = sink(
        &format!(
            r#"
type = "webhook"
name = "{name}"
url = "http://127.0.0.1:{port}/hook"
token_file = "token"
template = '{TEMPLATE}'
min_severity = "medium"
timeout = "2s"
backoff_initial = "50ms"
backoff_max = "2s"
"#
        ),
        d,
    );
    let state = d.join("state");
    let m = metrics();
    let failures = |reason: &str| m.sink_failures.with_label_values(&[name, reason]).get();

    let sinks = Sinks::open(std::slice::from_ref(&cfg), &state).unwrap();
    for n in 0..6 {
        sinks.write(&finding(n)).unwrap();
    }
    let mut low = finding(99);
    low.severity_id = 2;
    low.severity = "Low";
    sinks.write(&low).unwrap();
    let want_a = ["f000", "f001", "f002", "f004", "f005"];
    until(Duration::from_secs(5), "receiver A took f000..f005", || {
        accepted(&seen).len() == want_a.len()
    });

    // the receiver goes away: findings wait in the spool
    rx.stop();
    for n in 6..10 {
        sinks.write(&finding(n)).unwrap();
    }
    until(Duration::from_secs(5), "a refused connection", || {
        failures("connect") > 0
    });
    // restart bypassd's sinks in the middle of the outage
    sinks.close(Instant::now() + Duration::from_secs(5));
    drop(sinks);
    let sinks = Sinks::open(std::slice::from_ref(&cfg), &state).unwrap();
    for n in 10..12 {
        sinks.write(&finding(n)).unwrap();
    }
    // receiver B on the same port: busy once (429, Retry-After: 1), then fine
    let b: Script = Arc::new(|n, _| match n {
        _ if n == 7 => (429, vec![("Retry-After", "1".to_string())]),
        _ => (200, vec![]),
    });
    let requests_before_b = seen.lock().unwrap().len();
    assert_eq!(requests_before_b, 7, "A saw 5 deliveries, a 503 and a 400");
    let rx = Receiver::start(port, seen.clone(), b);
    until(Duration::from_secs(8), "every finding delivered", || {
        accepted(&seen).len() == 11
    });
    sinks.close(Instant::now() + Duration::from_secs(5));
    rx.stop();

    let mut want: Vec<String> = (0..12).map(|n| format!("f{n:03}")).collect();
    want.retain(|u| u != "f003");
    assert_eq!(accepted(&seen), want, "each once, in the order written");
    check_requests(&seen.lock().unwrap());

    let rejected =
        std::fs::read_to_string(state.join("sinks").join(name).join("rejected.jsonl")).unwrap();
    assert_eq!(super::uids(&rejected), ["f003"]);
    check_metrics(name);
}

/// Every request: auth from the token file, the record uid as Idempotency-Key, the template;
/// f003 asked once; the filtered finding never; the 429's Retry-After waited for.
fn check_requests(seen: &[Seen]) {
    assert_eq!(
        seen.iter().filter(|s| uid_of(&s.body) == "f003").count(),
        1,
        "a 400 is not retried"
    );
    assert!(seen.iter().all(|s| uid_of(&s.body) != "f099"), "filtered");
    for s in seen {
        let uid = uid_of(&s.body);
        assert_eq!(s.headers["authorization"], "Bearer s3cret");
        assert_eq!(s.headers["idempotency-key"], uid);
        assert_eq!(s.headers["content-type"], "application/json");
        assert!(s.headers["user-agent"].starts_with("bypassd/"));
        let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        let f = finding(uid[1..].parse().unwrap());
        assert_eq!(
            v["text"],
            format!("[High] {}: {}", f.finding_info.title, f.message)
        );
    }
    // the 429 asked for a second
    let busy = seen.iter().position(|s| s.status == 429).unwrap();
    let gap = seen[busy + 1].at - seen[busy].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: {gap:?}"
    );
}

fn check_metrics(name: &str) {
    let m = metrics();
    let failures = |reason: &str| m.sink_failures.with_label_values(&[name, reason]).get();
    assert_eq!(m.sink_deliveries.with_label_values(&[name]).get(), 11);
    assert_eq!(
        m.sink_dropped.with_label_values(&[name, "rejected"]).get(),
        1
    );
    assert_eq!(m.sink_filtered.with_label_values(&[name]).get(), 1);
    assert!(failures("status_5xx") >= 1);
    assert_eq!(failures("status_429"), 1);
    assert!(m.sink_retries.with_label_values(&[name]).get() >= 3);
    assert_eq!(m.sink_queue.with_label_values(&[name]).get(), 0);
    assert_eq!(m.sink_spool.with_label_values(&[name]).get(), 0);
    assert!(m.sink_latency.with_label_values(&[name]).get_sample_count() >= 13);
}

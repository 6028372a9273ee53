//! The daemon's metrics as Prometheus sees them: a real Prometheus server scrapes a running
//! `bypassd run` after it has read known input, and the test reads the values back through
//! Prometheus' query API. Also: `promtool check metrics` on the exposition, and a burst of 1,000
//! matching events giving one finding, Updates, and the suppressed count in the metrics.

mod common;
#[path = "common/names.rs"]
mod names;
#[path = "common/prom.rs"]
mod prom;
#[allow(dead_code)] // shared with tests/sinks, which use all of it
#[path = "sinks/receiver.rs"]
mod receiver;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use common::*;

const BURST: &str = r#"
id: bucket-delete
title: Bucket deleted
family: standing_token
severity: high
match:
  action.name: DeleteBucket
tests:
  - name: fires
    expect: 1
    events:
      - {eventVersion: "1.08", eventTime: "2026-03-02T04:00:00Z", eventSource: s3.amazonaws.com, eventName: DeleteBucket, sourceIPAddress: 192.0.2.1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::1:user/a", accessKeyId: AKIAEXAMPLE1}}
"#;

fn get(addr: &str, path: &str) -> (u16, String) {
    match ureq::get(format!("http://{addr}{path}")).call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap()),
        Err(ureq::Error::StatusCode(c)) => (c, String::new()),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// 1,000 deletes by one key, one a second (all inside the hour), three malformed lines, then a
/// read two hours later by another key that moves the watermark past the suppression period.
fn input() -> Vec<String> {
    let mut lines: Vec<String> = (0..1000u32)
        .map(|i| {
            cloudtrail("AKIABURST0001", "burst", "192.0.2.7", i / 60, i % 60)
                .replace("GetObject", "DeleteBucket")
                .replace("\"eventID\":\"", &format!("\"eventID\":\"{i}-"))
        })
        .collect();
    lines.insert(10, "{not json".into());
    lines.insert(500, "[1,2".into());
    lines.push("{\"eventVersion\":".into());
    lines.push(
        cloudtrail("AKIAOTHER0001", "other", "192.0.2.8", 0, 0).replace("04:00:00Z", "06:00:00Z"),
    );
    lines
}

/// A Kafka source on librdkafka's mock cluster, with a few records in it.
fn kafka() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("audit", 2, 1).expect("topic");
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for l in shared_key(1, 0) {
        p.send(BaseRecord::to("audit").key("k").payload(&l))
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
    cluster
}

/// The exposition once every name `deploy/` uses is in it (Kafka lag comes with librdkafka's
/// statistics, every 5 s); panics naming the missing ones.
fn exposition_with_every_name_used(addr: &str) -> String {
    let used = names::metric_names_used();
    assert!(used.len() > 20, "{used:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = get(addr, "/metrics");
        let missing: Vec<&String> = used
            .iter()
            .filter(|n| !text.contains(&format!("# TYPE {n} ")))
            .collect();
        if missing.is_empty() {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "used by the dashboard or the alert rules but not exported: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_daemon_and_a_burst_is_one_finding_with_updates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    std::fs::create_dir_all(d.join("detectors")).unwrap();
    std::fs::write(d.join("detectors/burst.yaml"), BURST).unwrap();
    let posts = Arc::new(Mutex::new(Vec::new()));
    let ok: receiver::Script = Arc::new(|_, _| (200, vec![]));
    let rx = receiver::Receiver::start(0, posts.clone(), ok);
    let hook = format!("http://{}/hook", rx.addr);
    let cluster = kafka();
    write_config(
        d,
        "p",
        &format!(
            r#"[daemon]
state_dir = "state"
detectors = "{d}/detectors"
idle_timeout = "1s"
[[sources]]
type = "file"
name = "audit"
paths = ["{d}/logs/*.log"]
start_at = "beginning"
[[sources]]
type = "kafka"
name = "stream"
brokers = "{brokers}"
group_id = "metrics-test"
topics = ["audit"]
[[sinks]]
type = "webhook"
name = "soc"
url = "{hook}"
"#,
            d = d.display(),
            brokers = cluster.bootstrap_servers(),
        ),
    );
    let lines = input();
    append(&d.join("logs/ct.log"), &lines);
    let daemon = Daemon::start(d, "p");
    let addr = daemon.metrics_addr();

    // the findings: one Create, Updates as the count doubles, the closing Update with 1,000
    let f = daemon.wait_for(Duration::from_secs(30), "the closing update", |f| {
        f.iter().any(|x| x.json.contains("\"occurrences\":1000"))
    });
    let records: Vec<serde_json::Value> = f
        .iter()
        .map(|x| serde_json::from_str(&x.json).unwrap())
        .collect();
    let acts: Vec<(u64, u64)> = records
        .iter()
        .map(|r| {
            (
                r["activity_id"].as_u64().unwrap(),
                r["unmapped"]["occurrences"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = vec![(1, 1)];
    want.extend((1..10).map(|k| (2, 1u64 << k)));
    want.push((2, 1000));
    assert_eq!(acts, want, "one Create, then Updates");
    let uid = &records[0]["finding_info"]["uid"];
    assert!(records.iter().all(|r| &r["finding_info"]["uid"] == uid));

    // the endpoints
    let (code, body) = get(&addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&addr, "/readyz");
    assert_eq!(code, 200, "{body}");
    assert!(addr.starts_with("127.0.0.1:"));
    // every metric the dashboard and the alert rules use is exported (names cannot drift)
    let exposition = exposition_with_every_name_used(&addr);

    // promtool's linter is clean on the exposition
    if let Some(promtool) = prom::tool("promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(exposition.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // a real Prometheus scrapes it; the values through its query API
    let Some(p) = prom::Prometheus::start(d, &addr) else {
        return;
    };
    let checks: &[(&str, f64)] = &[
        ("bypassd_source_records_read_total{source=\"audit\"}", 1004.0),
        (
            "bypassd_decode_events_total{source=\"audit\",format=\"cloudtrail\"}",
            1001.0,
        ),
        (
            "sum(bypassd_decode_rejected_total{source=\"audit\",reason=\"malformed_json\"})",
            3.0,
        ),
        (
            "bypassd_findings_total{detector=\"bucket-delete\",family=\"standing_token\",severity=\"high\"}",
            1.0,
        ),
        ("bypassd_findings_suppressed_total{detector=\"bucket-delete\"}", 999.0),
        ("bypassd_findings_updates_total{detector=\"bucket-delete\"}", 10.0),
        ("bypassd_detector_loaded", 1.0),
        ("bypassd_source_up{source=\"audit\"}", 1.0),
        ("sum(bypassd_tail_lag_bytes{source=\"audit\"})", 0.0),
        ("count(bypassd_build_info)", 1.0),
        ("up{job=\"bypassd\"}", 1.0),
        ("bypassd_sink_deliveries_total{sink=\"soc\"}", 11.0),
        ("bypassd_sink_queue_findings{sink=\"soc\"}", 0.0),
        ("sum(bypassd_sink_failures_total{sink=\"soc\"})", 0.0),
        ("bypassd_source_records_read_total{source=\"stream\"}", 3.0),
        ("sum(bypassd_kafka_consumer_lag_messages{source=\"stream\"})", 0.0),
    ];
    for (q, want) in checks {
        if let Err(last) = p.wait_for(q, *want) {
            panic!("{q}: want {want}, Prometheus has {last:?}\n{exposition}");
        }
    }
    let lag = p
        .value("bypassd_source_watermark_lag_seconds{source=\"audit\"}")
        .expect("watermark lag");
    assert!(lag > 0.0, "the input is from March 2026: {lag}");
    let bytes = p
        .value("bypassd_source_read_bytes_total{source=\"audit\"}")
        .unwrap();
    let want: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert_eq!(bytes, want as f64);
    assert!(p.value("process_resident_memory_bytes").unwrap() > 0.0);
    let posted: Vec<String> = posts
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.headers["idempotency-key"].clone())
        .collect();
    let written: Vec<String> = records
        .iter()
        .map(|r| r["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(posted, written, "one POST per record, in order");
    rx.stop();
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
}

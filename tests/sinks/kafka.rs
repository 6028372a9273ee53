//! The Kafka sink against a real Kafka-protocol broker (tansu): findings and updates produced
//! by the idempotent producer, consumed back keyed by finding uid, none lost, in order per key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bypassd::alerts::sinks::Sinks;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::common::tansu;
use super::{finding, sink, update};

#[test]
fn kafka_sink_produces_every_finding_keyed_by_finding_uid() {
    let Some(broker) = tansu("findings", 3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(
        &format!(
            "type = \"kafka\"\nname = \"kafka-test\"\nbrokers = \"{}\"\ntopic = \"findings\"\nbatch_max = 10\nbatch_wait = \"20ms\"\nbackoff_initial = \"50ms\"\nbackoff_max = \"1s\"\n[client]\n\"linger.ms\" = 5",
            broker.brokers
        ),
        dir.path(),
    );
    let sinks = Sinks::open(&[cfg], &dir.path().join("state")).unwrap();
    let mut written = Vec::new();
    for n in 0..20 {
        written.push(finding(n));
        if n % 4 == 0 {
            written.push(update(n, 7));
        }
    }
    for f in &written {
        sinks.write(f).unwrap();
    }
    let m = bypassd::telemetry::metrics();
    let delivered = || m.sink_deliveries.with_label_values(&["kafka-test"]).get();
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered() < written.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "delivered {} of {}",
            delivered(),
            written.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sinks.close(Instant::now() + Duration::from_secs(5));

    // key -> record uids, in partition order
    let got = consume(&broker.brokers, "findings", written.len());
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &written {
        want.entry(f.finding_info.uid.clone())
            .or_default()
            .push(f.metadata.uid.clone());
    }
    assert_eq!(got, want);
}

/// Read `n` messages from every partition of `topic` from the start: key -> value uids.
fn consume(brokers: &str, topic: &str, n: usize) -> BTreeMap<String, Vec<String>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "sinks-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count < n {
        assert!(Instant::now() < deadline, "consumed {count} of {n}");
        let Some(msg) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.unwrap();
        let key = String::from_utf8(msg.key().unwrap().to_vec()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(msg.payload().unwrap()).unwrap();
        assert_eq!(
            v["finding_info"]["uid"],
            key.as_str(),
            "key is the finding uid"
        );
        out.entry(key)
            .or_default()
            .push(v["metadata"]["uid"].as_str().unwrap().to_string());
        count += 1;
    }
    out
}

//! Kafka at line rate: how fast the live daemon consumes and correlates a topic of realistic
//! CloudTrail records on a real Kafka-protocol broker (tansu), and the consumer lag while a
//! producer writes at a fixed rate. Not a timed test: it prints figures (the targets are in the
//! issue tracker and the README's performance table).
//!
//!     cargo bench --bench kafka                    # 300,000 records, 2 partitions
//!     cargo bench --bench kafka -- 1000000 3       # records, partitions
//!
//! Needs tansu (`cargo install tansu --version 0.6.0 --locked --features dynostore`); the
//! daemon is the release binary with the default detectors and a 1 s checkpoint interval, so
//! offsets are committed as they are in production.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "corpus/mod.rs"]
mod corpus;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

fn producer(brokers: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer")
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, line: &str) {
    common::send_queued(p, BaseRecord::<(), str>::to("audit").payload(line));
}

/// `count` records of the realistic day, `from` on.
fn lines(from: u64, count: u64, total: u64) -> Vec<String> {
    let mut rng = corpus::Rng::new(0x5eed ^ from);
    (from..from + count)
        .map(|i| {
            let mut s = String::with_capacity(1400);
            corpus::record(&mut rng, i, total, &mut s);
            s
        })
        .collect()
}

/// The sum of a metric's samples carrying `label` (e.g. `source="audit"`) on the daemon's
/// /metrics.
fn metric(addr: &str, name: &str, label: &str) -> f64 {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0.0;
    };
    let _ = write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const SOURCE: &str = "source=\"audit\"";

fn config(dir: &std::path::Path, brokers: &str) {
    // extra librdkafka settings to try, as TOML lines: BYPASSD_BENCH_CLIENT='"fetch.wait.max.ms" = "10"'
    let client = match std::env::var("BYPASSD_BENCH_CLIENT") {
        Ok(c) => format!("[sources.client]\n{}", c.replace(';', "\n")),
        Err(_) => String::new(),
    };
    common::write_config(
        dir,
        "bench",
        &format!(
            r#"
[daemon]
state_dir = "state"
checkpoint_interval = "1s"
shutdown_timeout = "20s"
[[sources]]
type = "kafka"
name = "audit"
brokers = "{brokers}"
group_id = "bench"
topics = ["audit"]
{client}
"#
        ),
    );
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(300_000);
    let partitions = args.get(1).copied().unwrap_or(2) as i32;
    let Some(broker) = common::tansu("audit", partitions) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // 1. a backlog of n records, then the daemon drains it
    let p = producer(&broker.brokers);
    let started = Instant::now();
    for l in lines(0, n, n) {
        send(&p, &l);
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    let produced = started.elapsed();
    println!(
        "produced {n} records to {partitions} partitions in {:.1} s ({:.0}/s)",
        produced.as_secs_f64(),
        n as f64 / produced.as_secs_f64()
    );
    config(dir.path(), &broker.brokers);
    let daemon = common::Daemon::start(dir.path(), "bench");
    let addr = daemon.metrics_addr();
    let wait_for = |want: f64, limit: Duration| -> Option<(Instant, Instant)> {
        let t = Instant::now();
        let mut first = None;
        loop {
            let read = metric(&addr, "bypassd_source_records_read_total", SOURCE);
            if read > 0.0 && first.is_none() {
                first = Some(Instant::now());
            }
            if read >= want {
                return first.map(|f| (f, Instant::now()));
            }
            if t.elapsed() > limit {
                eprintln!("timed out: {read} of {want} records read");
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let Some((first, last)) = wait_for(n as f64, Duration::from_secs(600)) else {
        return;
    };
    let secs = (last - first).as_secs_f64().max(1e-3);
    // the daemon publishes its event counts at most once a second
    std::thread::sleep(Duration::from_millis(1500));
    let events = metric(&addr, "bypassd_decode_events_total", SOURCE);
    println!(
        "consumed and correlated {n} records in {secs:.1} s after the first: {:.0} records/s ({events} events)",
        n as f64 / secs
    );

    // 2. a producer at a fixed rate for 10 s: the lag the daemon reports
    let rate = 100_000u64;
    let batch = rate / 100;
    let more = lines(n, rate * 10, n + rate * 10);
    let t = Instant::now();
    let mut lag_max = 0.0f64;
    for (i, chunk) in more.chunks(batch as usize).enumerate() {
        for l in chunk {
            send(&p, l);
        }
        let due = Duration::from_millis(10 * (i as u64 + 1));
        if let Some(wait) = due.checked_sub(t.elapsed()) {
            std::thread::sleep(wait);
        }
        // librdkafka reports the lag every 5 s: look once a second
        if i % 100 == 0 {
            let lag = metric(
                &addr,
                "bypassd_kafka_consumer_lag_messages",
                "topic=\"audit\"",
            );
            lag_max = lag_max.max(lag);
        }
    }
    p.flush(Duration::from_secs(120)).expect("flush");
    let offered = (rate * 10) as f64 / t.elapsed().as_secs_f64();
    let caught_up = wait_for((n + rate * 10) as f64, Duration::from_secs(300));
    let behind = caught_up.map(|(_, l)| (l - t).as_secs_f64() - 10.0);
    println!(
        "producer at {offered:.0} records/s for 10 s: max consumer lag reported {lag_max:.0} messages; caught up {}",
        behind.map_or("never (timed out)".into(), |b| format!("{b:.1} s after the producer's 10 s"))
    );
    let (code, _) = daemon.stop();
    println!("daemon exit code {code:?}");
}

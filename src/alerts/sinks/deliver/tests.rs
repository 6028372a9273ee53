use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[test]
fn backoff_stays_within_its_doubling_cap_and_the_max() {
    let mut j = Jitter::seeded();
    let (initial, max) = (Duration::from_millis(100), Duration::from_secs(2));
    for attempt in 1..40u32 {
        let cap = if attempt < 6 {
            Duration::from_millis(100 << (attempt - 1))
        } else {
            max
        };
        let mut top = Duration::ZERO;
        for _ in 0..200 {
            let d = backoff(initial, max, attempt, &mut j);
            assert!(d <= cap.min(max), "attempt {attempt}: {d:?} > {cap:?}");
            top = top.max(d);
        }
        // full jitter spreads over the whole range
        assert!(top > cap.min(max) / 2, "attempt {attempt}: top {top:?}");
    }
}

/// A transport that answers from a script (then delivers) and records what it was sent.
struct Scripted {
    script: VecDeque<Outcome>,
    sent: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Transport for Scripted {
    fn send(&mut self, batch: &[Record], _: Option<Instant>) -> Outcome {
        let uids = batch.iter().map(|r| r.uid.clone()).collect();
        self.sent.lock().unwrap().push(uids);
        self.script.pop_front().unwrap_or(Outcome::Delivered)
    }
}

fn finding(uid: &str) -> Vec<u8> {
    format!(r#"{{"metadata":{{"uid":"{uid}"}},"finding_info":{{"uid":"{uid}"}}}}"#).into_bytes()
}

fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn retries_rejects_and_skips_corrupt_lines_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let name = "deliver-unit";
    let (spool, reader) = Spool::open(dir.path(), name, 1 << 20, 1 << 20).unwrap();
    let spool = Arc::new(spool);
    for l in [
        finding("a"),
        b"{not json".to_vec(),
        finding("b"),
        finding("c"),
        finding("d"),
    ] {
        spool.append(&l).unwrap();
    }
    let sent = Arc::new(Mutex::new(Vec::new()));
    let script = VecDeque::from([
        Outcome::Retry {
            reason: "status_5xx",
            detail: "HTTP 503".into(),
            after: None,
        },
        Outcome::Delivered,
        Outcome::Rejected {
            detail: "HTTP 400: bad".into(),
        },
    ]);
    let wake = Arc::new(Wake::default());
    let delivery = Delivery {
        queue_size: 10,
        spool_max_bytes: 1 << 20,
        batch_max: 2,
        batch_wait: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
    };
    let transport = Scripted {
        script,
        sent: sent.clone(),
    };
    let worker = Worker::new(
        name.into(),
        (spool.clone(), reader),
        wake.clone(),
        Box::new(transport),
        delivery,
        dir.path().join("rejected.jsonl"),
    );
    let t = std::thread::spawn(move || worker.run());
    until("everything acknowledged", || spool.pending() == (0, 0));
    // a retried batch is sent again whole; the corrupt line splits the batches
    let batches = sent.lock().unwrap().clone();
    assert_eq!(batches, [vec!["a"], vec!["a"], vec!["b", "c"], vec!["d"]]);
    let rejected = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count(), 2);
    assert!(rejected.contains("\"uid\":\"b\"") && rejected.contains("\"uid\":\"c\""));
    let m = metrics();
    assert_eq!(
        m.sink_dropped.with_label_values(&[name, "corrupt"]).get(),
        1
    );
    assert_eq!(
        m.sink_dropped.with_label_values(&[name, "rejected"]).get(),
        2
    );
    assert_eq!(m.sink_retries.with_label_values(&[name]).get(), 1);
    assert_eq!(m.sink_deliveries.with_label_values(&[name]).get(), 2);

    // a finding written later is sent without waiting for anything else
    spool.append(&finding("e")).unwrap();
    wake.appended();
    until("e sent", || spool.pending() == (0, 0));
    wake.close(Instant::now() + Duration::from_secs(5));
    assert!(wake.wait_done(Instant::now() + Duration::from_secs(5)));
    t.join().unwrap();
}

/// A transport that blocks until released, like a request in flight.
struct Stuck(Arc<AtomicBool>);

impl Transport for Stuck {
    fn send(&mut self, _: &[Record], _: Option<Instant>) -> Outcome {
        while !self.0.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Outcome::Delivered
    }
}

#[test]
fn a_thread_still_busy_at_the_deadline_is_cut_off_from_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, reader) = Spool::open(dir.path(), "deliver-stuck", 1 << 20, 1 << 20).unwrap();
    let spool = Arc::new(spool);
    spool.append(&finding("a")).unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Wake::default());
    let delivery = Delivery {
        queue_size: 10,
        spool_max_bytes: 1 << 20,
        batch_max: 1,
        batch_wait: Duration::ZERO,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
    };
    let worker = Worker::new(
        "deliver-stuck".into(),
        (spool.clone(), reader),
        wake.clone(),
        Box::new(Stuck(release.clone())),
        delivery,
        dir.path().join("rejected.jsonl"),
    );
    let t = std::thread::spawn(move || worker.run());
    let deadline = Instant::now() + Duration::from_millis(100);
    wake.close(deadline);
    assert!(!wake.wait_done(deadline));
    release.store(true, Ordering::Relaxed);
    t.join().unwrap();
    // the late delivery was not acknowledged: the next start sends it again
    assert_eq!(spool.pending(), (1, 52));
}

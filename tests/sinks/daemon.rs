//! The real daemon with a webhook sink: killed with -9 while the receiver is down, restarted
//! once it is up; every finding the daemon emitted reaches the receiver.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::common::{append, counts, read_findings, replay_uids, shared_key, write_config, Daemon};
use super::receiver::{Receiver, Script, Seen};
use super::until;

fn received(seen: &Mutex<Vec<Seen>>) -> BTreeSet<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| {
            let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
            assert_eq!(
                s.headers["idempotency-key"],
                v["metadata"]["uid"].as_str().unwrap()
            );
            v["finding_info"]["uid"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn kill_9_with_the_receiver_down_loses_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    // a port nothing listens on until the receiver starts there
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // the webhook comes first, so a finding in the file sink is already in the spool
    write_config(
        d,
        "w",
        &format!(
            r#"
[daemon]
state_dir = "state"
idle_timeout = "1s"
[[sources]]
type = "file"
name = "logs"
paths = ["{}/logs/*.log"]
start_at = "beginning"
[[sinks]]
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
backoff_initial = "50ms"
backoff_max = "500ms"
"#,
            d.display()
        ),
    );
    let lines: Vec<String> = (0..10).flat_map(|n| shared_key(n, 0)).collect();
    let log = d.join("logs/app.log");
    append(&log, &lines);
    let want = replay_uids(&[&log]);
    let daemon = Daemon::start(d, "w");
    daemon.wait_for(Duration::from_secs(20), "findings", |f| !f.is_empty());
    daemon.kill9();
    let emitted: BTreeSet<String> = counts(&read_findings(&d.join("w.findings.jsonl")))
        .into_keys()
        .collect();
    assert!(!emitted.is_empty());

    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok: Script = Arc::new(|_, _| (200, vec![]));
    let rx = Receiver::start(port, seen.clone(), ok);
    let daemon = Daemon::start(d, "w");
    // what was emitted before the kill (spooled, never delivered) and everything after
    until(Duration::from_secs(20), "every finding delivered", || {
        received(&seen) == want
    });
    assert!(emitted.is_subset(&want));
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    rx.stop();
}

/// Key `n` from three networks (a finding), then from three more (repeats: Updates at 2 and 4).
fn repeated_sharing(n: usize) -> Vec<String> {
    let mut lines = shared_key(n, 0);
    let key = format!("AKIAEXAMPLE{n:06}");
    for (i, net) in ["100.64.1", "100.64.2", "100.64.3"].iter().enumerate() {
        lines.push(super::common::cloudtrail(
            &key,
            &format!("svc-{n}"),
            &format!("{net}.{}", n + 1),
            1,
            i as u32 * 10,
        ));
    }
    lines
}

#[test]
fn receiver_down_across_a_clean_restart_then_up_gets_every_record_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let script: Script = Arc::new(move |_, _| {
        if flag.load(std::sync::atomic::Ordering::Relaxed) {
            (200, vec![])
        } else {
            (503, vec![])
        }
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rx = Receiver::start(0, seen.clone(), script);
    write_config(
        d,
        "r",
        &format!(
            r#"
[daemon]
state_dir = "state"
idle_timeout = "1s"
shutdown_timeout = "3s"
[[sources]]
type = "file"
name = "logs"
paths = ["{}/logs/*.log"]
start_at = "beginning"
[[sinks]]
type = "webhook"
url = "http://{}/hook"
backoff_initial = "50ms"
backoff_max = "300ms"
"#,
            d.display(),
            rx.addr
        ),
    );
    let log = d.join("logs/app.log");
    let records = |path: &std::path::Path| read_findings(path).len();
    let findings = d.join("r.findings.jsonl");

    // the receiver fails all through the first run and the clean restart
    append(&log, &(0..5).flat_map(repeated_sharing).collect::<Vec<_>>());
    let daemon = Daemon::start(d, "r");
    daemon.wait_for(Duration::from_secs(20), "first records", |f| f.len() >= 10);
    until(Duration::from_secs(10), "failed attempts", || {
        seen.lock().unwrap().len() >= 3
    });
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    let first = records(&findings);
    let daemon = Daemon::start(d, "r");
    append(
        &log,
        &(5..10).flat_map(repeated_sharing).collect::<Vec<_>>(),
    );
    daemon.wait_for(Duration::from_secs(20), "second records", |f| {
        f.len() > first
    });
    healthy.store(true, std::sync::atomic::Ordering::Relaxed);

    // every record the daemon emitted (the file sink has them all) delivered exactly once
    let delivered = || -> Vec<serde_json::Value> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.status == 200)
            .map(|s| serde_json::from_str(&s.body).unwrap())
            .collect()
    };
    until(Duration::from_secs(20), "every record delivered", || {
        delivered().len() >= records(&findings)
    });
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    rx.stop();
    let emitted: Vec<serde_json::Value> = std::fs::read_to_string(&findings)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = delivered();
    let ids = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["metadata"]["uid"].as_str().unwrap().to_string())
            .collect()
    };
    let got_ids = ids(&got);
    let unique: BTreeSet<&String> = got_ids.iter().collect();
    assert_eq!(unique.len(), got_ids.len(), "a record delivered twice");
    assert_eq!(
        unique,
        ids(&emitted).iter().collect::<BTreeSet<_>>(),
        "every emitted record delivered"
    );
    assert!(
        got.iter().any(|r| r["activity_id"] == 2),
        "the input gives Updates"
    );
    // in order per finding: the Create, then Updates with growing counts
    let mut last: std::collections::BTreeMap<String, u64> = Default::default();
    for r in &got {
        let uid = r["finding_info"]["uid"].as_str().unwrap().to_string();
        let n = r["unmapped"]["occurrences"].as_u64().unwrap();
        let prev = last.insert(uid.clone(), n);
        assert!(prev.is_none_or(|p| p < n), "{uid}: {prev:?} then {n}");
        assert_eq!(
            prev.is_none(),
            r["activity_id"] == 1,
            "{uid} starts with its Create"
        );
    }
    let failed = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.status == 503)
        .count();
    assert!(failed >= 3, "the receiver failed {failed} times");
}

#[test]
fn replay_sends_its_findings_to_the_sinks_of_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ok: Script = Arc::new(|_, _| (200, vec![]));
    let rx = Receiver::start(0, seen.clone(), ok);
    let config = d.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_dir = \"state\"\n[[sources]]\ntype = \"file\"\nname = \"none\"\npaths = [\"none/*.log\"]\n[[sinks]]\ntype = \"webhook\"\nurl = \"http://{}/hook\"\nmin_severity = \"high\"\n",
            rx.addr
        ),
    )
    .unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_bypassd"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let all = run(&["replay", examples]);
    let out = run(&["replay", "--sinks", config.to_str().unwrap(), examples]);
    assert!(out.is_empty(), "with --sinks nothing goes to stdout");
    let high: BTreeSet<String> = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["severity_id"].as_u64().unwrap() >= 4)
        .map(|v| v["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    assert!(!high.is_empty() && high.len() < all.lines().count());
    // delivered before replay exits
    let got: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(got.len(), high.len(), "each once");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), high);
    rx.stop();
}

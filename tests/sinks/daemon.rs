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

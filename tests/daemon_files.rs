//! The live daemon on real files: findings from appended lines, rotations while running, a
//! restart in the middle of a pattern, kill -9 mid-stream, SIGHUP reloads. Each run's findings
//! are compared with `bypassd replay` of the same lines: same uids, each exactly once.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(30);

fn config(dir: &Path, name: &str, extra_daemon: &str) {
    write_config(
        dir,
        name,
        &format!(
            r#"
[daemon]
state_dir = "state-{name}"
idle_timeout = "1s"
shutdown_timeout = "10s"
{extra_daemon}
[[sources]]
type = "file"
name = "logs"
paths = ["{}/logs/*.log*"]
start_at = "beginning"
rescan = "200ms"
"#,
            dir.display()
        ),
    );
}

#[test]
fn a_pattern_spanning_a_restart_is_found_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    config(d, "a", "");
    let log = d.join("logs/app.log");
    let lines = shared_key(1, 0);
    append(&log, &lines[..2]);
    // a partial line (no newline yet) must wait
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &lines[2].as_bytes()[..40]))
        .unwrap();
    let daemon = Daemon::start(d, "a");
    std::thread::sleep(Duration::from_millis(1500));
    let (code, took) = daemon.stop();
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    assert!(read_findings(&d.join("a.findings.jsonl")).is_empty());

    // the rest of the third line arrives while the daemon is down
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, &lines[2].as_bytes()[40..])?;
            std::io::Write::write_all(&mut f, b"\n")
        })
        .unwrap();
    let daemon = Daemon::start(d, "a");
    daemon.wait_for(WAIT, "the finding completed after the restart", |f| {
        f.iter().any(|f| f.detector == "credential-multi-network")
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    let all = read_findings(&daemon_findings(d, "a"));
    assert_eq!(once_each(&all), replay_uids(&[&log]));
}

fn daemon_findings(d: &Path, name: &str) -> std::path::PathBuf {
    d.join(format!("{name}.findings.jsonl"))
}

#[test]
fn rotations_while_running_lose_nothing_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    config(d, "r", "");
    let log = d.join("logs/app.log");
    let all_lines: Vec<String> = (0..40)
        .flat_map(|n| shared_key(n, (n / 4) as u32))
        .collect();
    let mut written = Vec::new();
    let daemon = Daemon::start(d, "r");
    let chunk = |range: std::ops::Range<usize>| all_lines[range].to_vec();

    append(&log, &chunk(0..30));
    written.extend(chunk(0..30));
    std::thread::sleep(Duration::from_millis(300));
    // rename-and-create, rotated name still in the glob
    std::fs::rename(&log, d.join("logs/app.log.1")).unwrap();
    append(&log, &chunk(30..60));
    std::thread::sleep(Duration::from_millis(300));
    // copytruncate: the copy (inside the glob) and a truncation
    std::fs::copy(&log, d.join("logs/app.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &chunk(60..90));
    // logrotate compresses an older rotation into the glob and deletes the plain file
    let gz = d.join("logs/app.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(
        &mut std::fs::File::open(d.join("logs/app.log.1")).unwrap(),
        &mut enc,
    )
    .unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(d.join("logs/app.log.1")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // rename out of the glob, new file
    std::fs::rename(&log, d.join("old-app")).unwrap();
    append(&log, &chunk(90..120));
    written.extend(chunk(30..120));

    let all = d.join("all.jsonl");
    append(&all, &written);
    let want = replay_uids(&[&all]);
    assert!(want.len() >= 40, "{}", want.len());
    daemon.wait_for(WAIT, "every finding", |f| counts(f).len() >= want.len());
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    assert_eq!(once_each(&read_findings(&daemon_findings(d, "r"))), want);
}

#[test]
fn kill_9_mid_stream_then_restart_gives_every_finding_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    config(d, "k", "checkpoint_interval = \"1s\"");
    let log = d.join("logs/app.log");
    let keys = 600;
    let all_lines: Vec<String> = (0..keys)
        .flat_map(|n| shared_key(n, (n / 60) as u32))
        .collect();
    let daemon = Daemon::start(d, "k");
    let writer = {
        let log = log.clone();
        let lines = all_lines.clone();
        std::thread::spawn(move || {
            for c in lines.chunks(6) {
                append(&log, c);
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };
    // kill once a fair part has been found, with checkpoints behind it and lines still coming
    daemon.wait_for(WAIT, "some findings", |f| f.len() >= 200);
    daemon.kill9();
    let before = read_findings(&daemon_findings(d, "k")).len();
    writer.join().unwrap();
    restart_after_kill(d, "k", before, &[&log]);
}

const SINGLE: &str = r#"
id: bucket-delete
title: Bucket deleted
family: standing_token
severity: medium
match:
  action.name: DeleteBucket
# every delete is its own finding (no folding of repeats into Updates)
suppress: 0s
tests:
  - name: fires
    expect: 1
    events:
      - {eventVersion: "1.08", eventTime: "2026-03-02T04:00:00Z", eventSource: s3.amazonaws.com, eventName: DeleteBucket, sourceIPAddress: 192.0.2.1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::1:user/a", accessKeyId: AKIAEXAMPLE1}}
"#;

#[test]
fn sighup_reloads_detectors_and_a_bad_reload_keeps_the_running_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    std::fs::create_dir_all(d.join("detectors")).unwrap();
    std::fs::write(d.join("detectors/one.yaml"), SINGLE).unwrap();
    config(
        d,
        "h",
        &format!(
            "detectors = \"{}/detectors\"\nwatch_config = false",
            d.display()
        ),
    );
    let log = d.join("logs/app.log");
    let delete = |n: u32| {
        cloudtrail("AKIAEXAMPLE1", "a", "192.0.2.1", n, 0).replace("GetObject", "DeleteBucket")
    };
    let daemon = Daemon::start(d, "h");
    append(&log, &[delete(1)]);
    daemon.wait_for(WAIT, "the first finding", |f| f.len() == 1);

    // a broken file: the reload fails and the running detector keeps working
    std::fs::write(d.join("detectors/one.yaml"), "id: [broken").unwrap();
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    append(&log, &[delete(2)]);
    daemon.wait_for(WAIT, "a finding from the old set", |f| f.len() == 2);
    assert!(
        daemon.log_text().contains("reload failed"),
        "{}",
        daemon.log_text()
    );

    // a good change (new title, same logic) is picked up
    std::fs::write(
        d.join("detectors/one.yaml"),
        SINGLE.replace("Bucket deleted", "Bucket removed"),
    )
    .unwrap();
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    append(&log, &[delete(3)]);
    let f = daemon.wait_for(WAIT, "a finding from the new set", |f| f.len() == 3);
    assert!(f[2].json.contains("Bucket removed"), "{}", f[2].json);
    assert!(!f[1].json.contains("Bucket removed"));
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
}

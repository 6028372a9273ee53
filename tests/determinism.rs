//! Byte-identical output: the same multi-file, multi-format input (many files whose events tie on
//! event time, plus a bad file) replayed again and again with 1, 2 and 4 decode threads and the
//! files named one by one in shuffled orders gives the same bytes every time; and the live daemon
//! tailing the same records writes the same findings as replay, evidence order included.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A small deterministic generator (no rand dependency): xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const NETS: [&str; 5] = ["192.0.2", "198.51.100", "203.0.113", "100.64.1", "100.64.2"];

/// CloudTrail S3 deliveries (`{"Records":[...]}`, gzip), GitHub and Kubernetes JSON lines, and
/// one bad file; records of different files share event times to the second.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files = Vec::new();
    let ct = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/02");
    std::fs::create_dir_all(&ct).unwrap();
    for f in 0..48 {
        let mut records = Vec::new();
        for _ in 0..12 {
            let k = rng.below(6);
            let ip = format!("{}.{}", NETS[rng.below(5) as usize], rng.below(250) + 1);
            // minutes 0-5, seconds 0-1: many ties, inside and across files (a delivery file is
            // one line, so records of one file share path and line)
            let line = cloudtrail(
                &format!("AKIAEXAMPLETIE{k:06}"),
                &format!("svc-{k}"),
                &ip,
                rng.below(6) as u32,
                rng.below(2) as u32,
            );
            records.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
        let doc = serde_json::json!({ "Records": records });
        let name = format!(
            "111122223333_CloudTrail_us-east-1_20260302T04{}0Z_{f:04}tie.json.gz",
            f % 2
        );
        let p = ct.join(name);
        std::fs::write(&p, gz(doc.to_string().as_bytes())).unwrap();
        files.push(p);
    }
    for f in 0..6 {
        let mut text = String::new();
        for _ in 0..20 {
            let t = 1_772_424_000_000u64 + rng.below(8) * 60_000 + rng.below(2) * 1000;
            let ip = format!("{}.{}", NETS[rng.below(5) as usize], rng.below(250) + 1);
            let token = rng.below(3);
            let rec = serde_json::json!({
                "@timestamp": t, "created_at": t, "action": "git.clone",
                "actor": format!("bot-{token}"), "actor_ip": ip, "org": "corp",
                "repo": format!("corp/repo-{}", rng.below(4)),
                "hashed_token": format!("tieToken{token}="),
                "programmatic_access_type": "Personal access token (classic)",
                "_document_id": format!("doc-{f}-{}", rng.next()),
            });
            text.push_str(&rec.to_string());
            text.push('\n');
        }
        let p = dir.join(format!("github-{f}.jsonl"));
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    for f in 0..4 {
        let mut text = String::new();
        for i in 0..15 {
            let sec = rng.below(3);
            let ip = format!("{}.{}", NETS[rng.below(5) as usize], rng.below(250) + 1);
            let rec = serde_json::json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": format!("tie-{f}-{i}"), "stage": "ResponseComplete",
                "requestURI": "/api/v1/namespaces/payments/secrets", "verb": "list",
                "user": {"username": "system:serviceaccount:payments:deployer",
                         "groups": ["system:serviceaccounts"]},
                "sourceIPs": [ip], "userAgent": "kubectl/v1.29.1 (linux/amd64)",
                "objectRef": {"resource": "secrets", "namespace": "payments"},
                "responseStatus": {"code": 200},
                "requestReceivedTimestamp": format!("2026-03-02T04:0{}:0{sec}.000000Z", rng.below(9)),
                "stageTimestamp": format!("2026-03-02T04:0{}:0{sec}.000000Z", rng.below(9)),
            });
            text.push_str(&rec.to_string());
            text.push('\n');
        }
        let p = dir.join(format!("kube-{f}.log"));
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"Records":[{"eventTime":"2026-03-02T04:00:00Z", broken"#,
    )
    .unwrap();
    files.push(bad);
    files
}

fn replay(args: &[String]) -> Vec<u8> {
    replay_stdout(args)
}

/// Whether some finding's evidence holds two events of the same time from the same file and
/// line (`same_file`) or from different files: the cases whose order once followed hash order.
fn has_ties(out: &str, same_file: bool) -> bool {
    out.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let ev = v["evidences"].as_array().unwrap();
        ev.windows(2).any(|w| {
            let (a, b) = (&w[0]["data"], &w[1]["data"]);
            let same = a["origin"]["path"] == b["origin"]["path"]
                && a["origin"]["line"] == b["origin"]["line"];
            a["time"] == b["time"] && same == same_file
        })
    })
}

#[test]
fn replay_is_byte_identical_whatever_the_threads_and_argument_order() {
    let dir = tempfile::tempdir().unwrap();
    let files = corpus(dir.path());
    let mut names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let first = replay(&names);
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(
        text.lines().count() >= 10,
        "the corpus raises findings:\n{text}"
    );
    assert!(
        has_ties(&text, false) && has_ties(&text, true),
        "the corpus exercises evidence that ties on time across files and inside one line"
    );
    let mut rng = Rng(42);
    for run in 0..21 {
        rng.shuffle(&mut names);
        let threads = ["1", "2", "4"][run % 3];
        let mut args = vec!["--quiet".to_string(), "--threads".into(), threads.into()];
        args.extend(names.iter().cloned());
        let out = replay(&args);
        assert!(
            out == first,
            "run {run} with {threads} threads differs:\n{}",
            String::from_utf8_lossy(&out)
        );
    }
    // the directory itself, which replay walks in its own order, gives the same bytes
    assert!(replay(&[dir.path().display().to_string()]) == first);
}

/// A file source tailing CloudTrail lines that tie on time writes exactly replay's records:
/// same uids, same evidence in the same order.
#[test]
fn the_daemon_writes_what_replay_writes_evidence_order_included() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("logs")).unwrap();
    let mut rng = Rng(7);
    let mut lines = Vec::new();
    // in time order, ties to the second: the daemon reads them in file order
    for min in 0..8u32 {
        for sec in 0..2u32 {
            for _ in 0..3 {
                let k = rng.below(3);
                let ip = format!("{}.{}", NETS[rng.below(5) as usize], rng.below(250) + 1);
                let key = format!("AKIAEXAMPLEDMN{k:06}");
                lines.push(cloudtrail(&key, &format!("svc-{k}"), &ip, min, sec));
            }
        }
    }
    let log = d.join("logs/app.log");
    append(&log, &lines);
    write_config(
        d,
        "det",
        &format!(
            r#"
[daemon]
state_dir = "state-det"
idle_timeout = "1s"
shutdown_timeout = "10s"
[[sources]]
type = "file"
name = "logs"
paths = ["{}/logs/*.log"]
start_at = "beginning"
rescan = "200ms"
"#,
            d.display()
        ),
    );
    let want = String::from_utf8(replay(&[log.display().to_string()])).unwrap();
    let want: Vec<&str> = want.lines().collect();
    let creates: Vec<&str> = want
        .iter()
        .copied()
        .filter(|l| l.contains(r#""activity_id":1,"#))
        .collect();
    assert!(creates.len() >= 3, "replay finds something: {want:?}");
    let daemon = Daemon::start(d, "det");
    let findings = d.join("det.findings.jsonl");
    daemon.wait_for(Duration::from_secs(30), "replay's findings", |f| {
        creates.iter().all(|c| f.iter().any(|g| g.json == *c))
    });
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    let got: Vec<String> = read_findings(&findings)
        .into_iter()
        .map(|f| f.json)
        .collect();
    // replay writes the closing Updates of open findings at the end of its input; the daemon
    // writes them when event time passes the suppression period, after this test stops it
    assert!(
        got.len() <= want.len() && got.iter().zip(&want).all(|(g, w)| g == w),
        "the daemon's records, byte for byte and in order, begin replay's:\n{}\n---\n{}",
        got.join("\n"),
        want.join("\n")
    );
}

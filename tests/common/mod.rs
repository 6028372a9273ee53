//! Running the real `bypassd` binary as a daemon in tests: a config in a temporary directory,
//! findings to a file sink, SIGTERM / SIGKILL, and waiting for findings by uid; and a tansu
//! Kafka-protocol broker for the tests that need a real one.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub findings: PathBuf,
    pub log: PathBuf,
}

/// Write `config` (TOML; a `[[sinks]]` to `findings.jsonl` is appended, and metrics on a free
/// loopback port unless `config` has a `[metrics]` section) into `dir`.
pub fn write_config(dir: &Path, name: &str, config: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let findings = dir.join(format!("{name}.findings.jsonl"));
    let metrics = if config.contains("[metrics]") {
        ""
    } else {
        "\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
    };
    let text = format!(
        "{config}\n{metrics}\n[[sinks]]\ntype = \"file\"\npath = \"{}\"\n",
        findings.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

impl Daemon {
    /// Start `bypassd run --config <dir>/<name>.toml` (written by [`write_config`]).
    pub fn start(dir: &Path, name: &str) -> Daemon {
        let config = dir.join(format!("{name}.toml"));
        let log = dir.join(format!("{name}.log"));
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bypassd"))
            .args(["run", "--config"])
            .arg(&config)
            .env("BYPASSD_LOG", "info,librdkafka=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile)
            .spawn()
            .expect("start bypassd");
        Daemon {
            child,
            findings: dir.join(format!("{name}.findings.jsonl")),
            log,
        }
    }

    /// SIGTERM and wait; returns the exit code and how long the exit took.
    pub fn stop(mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        signal(&self.child, "TERM");
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        (status, t.elapsed())
    }

    /// SIGKILL: no chance to flush or checkpoint.
    pub fn kill9(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }

    pub fn signal(&self, sig: &str) {
        signal(&self.child, sig);
    }

    /// Where the daemon serves /metrics (read from its log; waits for it).
    pub fn metrics_addr(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log_text();
            if let Some(line) = log.lines().find(|l| l.contains("serving /metrics")) {
                let at = line.find("addr=").expect("the line names the address") + 5;
                return line[at..].split_whitespace().next().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no metrics listener in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `pred` holds for the findings written so far (or panic after `limit`).
    pub fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&[Finding]) -> bool,
    ) -> Vec<Finding> {
        self.wait_for_explained(limit, what, pred, |_| String::new())
    }

    /// [`Daemon::wait_for`], with `explain`'s account of the findings so far in the panic.
    pub fn wait_for_explained(
        &self,
        limit: Duration,
        what: &str,
        pred: impl Fn(&[Finding]) -> bool,
        explain: impl Fn(&[Finding]) -> String,
    ) -> Vec<Finding> {
        let t = Instant::now();
        loop {
            let f = read_findings(&self.findings);
            if pred(&f) {
                return f;
            }
            if t.elapsed() > limit {
                panic!(
                    "timed out waiting for {what}: {} findings so far\n{}--- daemon log ---\n{}",
                    f.len(),
                    explain(&f),
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(&self.child, "KILL");
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<i32> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(Some(s)) = child.try_wait() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// One finding as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub uid: String,
    pub detector: String,
    pub json: String,
}

pub fn read_findings(path: &Path) -> Vec<Finding> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        // a line being written is not complete yet
        .filter(|l| l.ends_with('}'))
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(Finding {
                uid: v["metadata"]["uid"].as_str()?.to_string(),
                detector: v["finding_info"]["analytic"]["uid"]
                    .as_str()
                    .or(v["finding_info"]["analytic"]["name"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                json: l.to_string(),
            })
        })
        .collect()
}

/// uid -> how many times it was emitted.
pub fn counts(findings: &[Finding]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in findings {
        *m.entry(f.uid.clone()).or_default() += 1;
    }
    m
}

/// Append lines to a file (one write per call, like a logger).
pub fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    f.write_all(buf.as_bytes()).unwrap();
}

/// A CloudTrail record: `key` used by `user` from `ip` at minute `min` past 2026-03-02T04:00Z
/// (seconds `sec`).
pub fn cloudtrail(key: &str, user: &str, ip: &str, min: u32, sec: u32) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-03-02T04:{min:02}:{sec:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-cli/2.15","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}","userName":"{user}","accessKeyId":"{key}"}},"requestParameters":{{"bucketName":"data"}},"eventID":"{key}-{min}-{sec}-{ip}"}}"#
    )
}

/// Three records of one key from three networks within a few minutes: one
/// credential-multi-network finding per key (and nothing else from the default detectors for
/// an IAM user with a short-lived history).
pub fn shared_key(n: usize, min: u32) -> Vec<String> {
    let key = format!("AKIAEXAMPLE{n:06}");
    let user = format!("svc-{n}");
    vec![
        cloudtrail(&key, &user, &format!("192.0.2.{}", n % 200 + 1), min, 0),
        cloudtrail(&key, &user, &format!("198.51.100.{}", n % 200 + 1), min, 20),
        cloudtrail(&key, &user, &format!("203.0.113.{}", n % 200 + 1), min, 40),
    ]
}

/// What `bypassd replay ARGS` writes on stdout (asserting it succeeds).
pub fn replay_stdout<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_bypassd"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// uids `bypassd replay` finds in these files: what the daemon must emit, each once.
pub fn replay_uids(files: &[&Path]) -> BTreeSet<String> {
    replay_findings(files).into_keys().collect()
}

/// The distinct uids, asserting none was emitted twice.
pub fn once_each(findings: &[Finding]) -> BTreeSet<String> {
    let c = counts(findings);
    let twice: Vec<_> = c.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "findings emitted more than once: {twice:?}"
    );
    c.into_keys().collect()
}

/// After a `kill -9` that left `before` findings: the kill must have come before the end, and a
/// restarted daemon must bring the union of both runs to exactly what `bypassd replay` finds in
/// `inputs`, each uid once. A timeout names the findings still missing (detector, key and the
/// evidence's input positions), so a rare failure can be traced from CI's output alone.
pub fn restart_after_kill(dir: &Path, name: &str, before: usize, inputs: &[&Path]) {
    let replayed = replay_findings(inputs);
    let want: BTreeSet<String> = replayed.keys().cloned().collect();
    assert!(
        before < want.len(),
        "the kill came before the end ({before} of {})",
        want.len()
    );
    let daemon = Daemon::start(dir, name);
    daemon.wait_for_explained(
        Duration::from_secs(60),
        "every finding after the restart",
        |f| counts(f).len() >= want.len(),
        |f| {
            let have = counts(f);
            let missing: Vec<&String> = replayed
                .iter()
                .filter(|(uid, _)| !have.contains_key(*uid))
                .map(|(_, about)| about)
                .collect();
            let first: String = missing
                .iter()
                .take(10)
                .map(|m| format!("  {m}\n"))
                .collect();
            format!(
                "{} of {} distinct uids; {} of replay's missing, first ones:\n{first}",
                have.len(),
                want.len(),
                missing.len()
            )
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    let findings = daemon.findings.clone();
    let (code, _) = daemon.stop();
    assert_eq!(code, Some(0));
    assert_eq!(&once_each(&read_findings(&findings)), &want);
}

/// Replay's findings by uid, each with a one-line description: detector, key and where its
/// evidence came from.
pub fn replay_findings(files: &[&Path]) -> BTreeMap<String, String> {
    String::from_utf8(replay_stdout(files))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let origins: Vec<String> = v["evidences"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let o = &e["data"]["origin"];
                    format!("line {} offset {}", o["line"], o["offset"])
                })
                .collect();
            let about = format!(
                "{} {} key={} evidence={}",
                v["metadata"]["uid"].as_str().unwrap(),
                v["finding_info"]["analytic"]["uid"],
                v["unmapped"]["key"],
                origins.join(",")
            );
            (v["metadata"]["uid"].as_str().unwrap().to_string(), about)
        })
        .collect()
}

// ---- tansu ------------------------------------------------------------------------------------

pub struct Tansu {
    pub child: Child,
    pub brokers: String,
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tansu_binary() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tansu"));
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.or(home.filter(|p| p.is_file()))
}

/// A tansu broker on a free loopback port with `topic` created, or `None` (skip) when not
/// installed and BYPASSD_REQUIRE_BROKER is not 1.
pub fn tansu(topic: &str, topic_partitions: i32) -> Option<Tansu> {
    let required = std::env::var("BYPASSD_REQUIRE_BROKER").is_ok_and(|v| v == "1");
    let Some(bin) = tansu_binary() else {
        assert!(
            !required,
            "BYPASSD_REQUIRE_BROKER=1 but no tansu binary (cargo install tansu --version 0.6.0 --locked --features dynostore)"
        );
        eprintln!("SKIPPED: no tansu broker installed (cargo install tansu --version 0.6.0 --locked --features dynostore)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&bin)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu");
    let t = Tansu {
        child,
        brokers: format!("127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(&t.brokers).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "tansu did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new(&bin)
        .args(["topic", "create", "--broker", &url, "--partitions"])
        .arg(topic_partitions.to_string())
        .arg(topic)
        .stdout(Stdio::null())
        .status()
        .expect("tansu topic create");
    assert!(status.success(), "topic create");
    Some(t)
}

/// Hand `rec` to the producer, waiting while its queue is full.
pub fn send_queued<K, P>(
    p: &rdkafka::producer::ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    mut rec: rdkafka::producer::BaseRecord<'_, K, P>,
) where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

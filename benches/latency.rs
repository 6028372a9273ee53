//! Latency of the live daemon: time from a line's append to its finding on stdout, under a
//! sustained background load. Not a timed test: it prints figures to compare with the target
//! (p99 under 100 ms at 20,000 events/s).
//!
//!     cargo bench --bench latency                  # 20,000 events/s for 10 s
//!     cargo bench --bench latency -- 50000 20      # events/s, seconds
//!
//! The release `bypassd` binary tails a file with the built-in detectors plus one probe detector.
//! A writer appends realistic CloudTrail lines (one key per service, each from one network: no
//! findings) every millisecond, and every 10 ms a probe line a single-event detector raises on.
//! A reader timestamps each finding as it arrives on the daemon's stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PROBE: &str = r#"
id: latency-probe
title: Latency probe
family: standing_token
severity: low
match:
  action.name: LatencyProbe
tests:
  - name: fires
    expect: 1
    events:
      - {eventVersion: "1.08", eventTime: "2026-03-02T04:00:00Z", eventSource: s3.amazonaws.com, eventName: LatencyProbe, sourceIPAddress: 192.0.2.1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::1:user/a", accessKeyId: AKIAEXAMPLE1}}
"#;

fn line(now: chrono_like::Stamp, name: &str, key: usize, user: &str, ip: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{now}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-sdk-go/1.44","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/svc-{key}/{user}","accessKeyId":"ASIAEXAMPLE{key:06}"}},"requestParameters":{{"bucketName":"data-{key}"}}}}"#
    )
}

/// Wall-clock RFC 3339 stamps without a date crate in the bench.
mod chrono_like {
    use std::fmt;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[derive(Clone, Copy)]
    pub struct Stamp(pub u64);

    pub fn now() -> Stamp {
        Stamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        )
    }

    impl fmt::Display for Stamp {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let ms = self.0 % 1000;
            let secs = self.0 / 1000;
            let (days, rem) = (secs / 86_400, secs % 86_400);
            // civil from days (Howard Hinnant)
            let z = days as i64 + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            write!(
                f,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rate: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let secs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("detectors")).unwrap();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    for (name, text) in bypassd::detect::load::EMBEDDED {
        std::fs::write(d.join("detectors").join(name), text).unwrap();
    }
    std::fs::write(d.join("detectors/latency-probe.yaml"), PROBE).unwrap();
    let log = d.join("logs/app.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        d.join("bypassd.toml"),
        format!(
            "[daemon]\nstate_dir = \"state\"\ndetectors = \"detectors\"\nhold = \"0s\"\n\
             [[sources]]\ntype = \"file\"\nname = \"bench\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            log.display()
        ),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_bypassd"))
        .args(["run", "--config"])
        .arg(d.join("bypassd.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bypassd (cargo bench builds it)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let reader = std::thread::spawn(move || {
        let mut other = 0usize;
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            let at = Instant::now();
            match l
                .split("probe-")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            {
                Some(n) => {
                    let _ = tx.send((n, at));
                }
                None => other += 1,
            }
        }
        other
    });
    std::thread::sleep(Duration::from_millis(500));

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let per_ms = rate / 1000;
    let mut appended: Vec<Instant> = Vec::new();
    let start = Instant::now();
    let mut written = 0usize;
    let mut tick = 0u64;
    let mut buf = String::new();
    while start.elapsed() < Duration::from_secs(secs) {
        tick += 1;
        let now = chrono_like::now();
        buf.clear();
        for i in 0..per_ms {
            let k = (written + i) % 5000;
            let net = k % 250;
            buf.push_str(&line(
                now,
                "GetObject",
                k,
                &format!("job-{k}"),
                &format!("10.{}.{}.7", net / 16, net % 16),
            ));
            buf.push('\n');
        }
        written += per_ms;
        let probe = tick.is_multiple_of(10);
        if probe {
            let n = appended.len();
            buf.push_str(&line(
                now,
                "LatencyProbe",
                900_000 + n,
                &format!("probe-{n}"),
                "192.0.2.9",
            ));
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).unwrap();
        if probe {
            appended.push(Instant::now());
        }
        // keep the rate: sleep to the next millisecond boundary
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let other = reader.join().unwrap();

    let mut lat: Vec<f64> = Vec::new();
    let mut seen = vec![false; appended.len()];
    for (n, at) in rx.try_iter() {
        if n < appended.len() && !seen[n] {
            seen[n] = true;
            lat.push(at.duration_since(appended[n]).as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "sustained {:.0} events/s for {:.1} s ({} lines, {} probes); probe findings received {}/{}; other findings {}",
        (written + appended.len()) as f64 / took.as_secs_f64(),
        took.as_secs_f64(),
        written + appended.len(),
        appended.len(),
        lat.len(),
        appended.len(),
        other
    );
    if lat.is_empty() {
        println!("no probe findings arrived");
        std::process::exit(1);
    }
    println!(
        "append -> finding on stdout: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        q(0.5),
        q(0.9),
        q(0.99),
        lat[lat.len() - 1]
    );
}

//! The JSON parse floor the replay throughput is measured against: one thread reads a JSON-lines
//! file and deserialises the identity fields bypassd reads from each CloudTrail record as borrowed
//! strings (no event built, no detection). Replay's events/s divided by this lines/s is the ratio
//! the performance targets use.
//!
//! `cargo run --release --example floor -- /tmp/ct-1m.jsonl`

use std::borrow::Cow;
use std::io::Read;
use std::time::Instant;

use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)] // read to be parsed, not used
struct Record<'a> {
    #[serde(borrow, rename = "eventTime")]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "eventSource")]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "eventName")]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "eventID")]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "userAgent")]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "recipientAccountId")]
    recipient: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "errorCode")]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "readOnly")]
    read_only: Option<bool>,
    #[serde(borrow, rename = "userIdentity")]
    identity: Option<Identity<'a>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Identity<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "accountId")]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "accessKeyId")]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "userName")]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "principalId")]
    principal: Option<Cow<'a, str>>,
}

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: floor FILE.jsonl");
        std::process::exit(2);
    };
    let started = Instant::now();
    let mut file = std::fs::File::open(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let (mut lines, mut parsed, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        carry.extend_from_slice(&buf[..n]);
        let end = match memchr::memrchr(b'\n', &carry) {
            Some(i) => i + 1,
            None => continue,
        };
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &carry[..end]) {
            let line = &carry[start..nl];
            start = nl + 1;
            if line.is_empty() {
                continue;
            }
            lines += 1;
            if serde_json::from_slice::<Record>(line).is_ok() {
                parsed += 1;
            }
        }
        carry.drain(..end);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "parse floor: {lines} lines ({parsed} parsed), {:.1} MB in {secs:.2}s: {:.0} lines/s, {:.1} MB/s (one thread)",
        bytes as f64 / 1e6,
        lines as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}

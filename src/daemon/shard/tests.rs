use super::*;
use crate::config::Config;
use crate::decode::Decoder;
use crate::event::Origin;

fn line(key: &str, ip: &str, min: u32, sec: u32) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-03-02T04:{min:02}:{sec:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"{ip}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/u{key}","accessKeyId":"{key}"}},"eventID":"{key}-{min}-{sec}"}}"#
    )
}

/// One key used from three networks inside a minute: one credential-multi-network finding.
fn shared_key(key: &str, min: u32) -> Vec<String> {
    ["192.0.2.1", "198.51.100.1", "203.0.113.1"]
        .iter()
        .enumerate()
        .map(|(i, ip)| line(key, ip, min, i as u32 * 10))
        .collect()
}

fn shared(dir: &Path) -> Arc<Shared> {
    let text = format!(
        "[daemon]\nstate_dir = \"{0}/state\"\n[metrics]\nlisten = \"off\"\n[[sources]]\ntype = \"file\"\nname = \"src\"\npaths = [\"{0}/*.log\"]\n[[sinks]]\ntype = \"file\"\npath = \"{0}/out.jsonl\"\n",
        dir.display()
    );
    let config = Config::parse(&text, &dir.join("c.toml")).unwrap();
    let loaded = Loaded::load(&config, 1).unwrap();
    Arc::new(Shared::new(config, loaded).unwrap())
}

fn feed(shard: &mut Shard, lines: &[String]) {
    let d = Decoder::new(None);
    for l in lines {
        shard.push(d.decode(l, Origin::unknown()).unwrap());
    }
    shard.emit().unwrap();
}

fn emitted(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["metadata"]["uid"].to_string()
        })
        .collect()
}

/// A shard fed key A then key B (each raising), checkpointed at `between` after A if given, then
/// dropped without a checkpoint (a crash). Returns A's and B's lines.
fn run_then_crash(d: &Path, between: Option<u64>) -> (Vec<String>, Vec<String>) {
    let (a, b) = (
        shared_key("AKIAEXAMPLEA", 0),
        shared_key("AKIAEXAMPLEB", 30),
    );
    let s = shared(d);
    let (mut shard, _) = Shard::open::<u64>(&s, "src", "s").unwrap();
    feed(&mut shard, &a);
    if let Some(at) = between {
        shard.checkpoint(&at).unwrap();
    }
    feed(&mut shard, &b);
    (a, b)
}

#[test]
fn a_checkpoint_during_the_re_read_after_a_crash_keeps_the_uids_not_raised_again_yet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // crash: no checkpoint, the journal holds both keys' uids
    let (a, b) = run_then_crash(d, None);
    let first = emitted(d);
    assert!(first.len() >= 2, "{first:?}");
    let s = shared(d);
    let (mut shard, saved) = Shard::open::<u64>(&s, "src", "s").unwrap();
    assert!(saved.is_none());
    // the re-read has only reached A when the first checkpoint is taken
    feed(&mut shard, &a);
    shard.checkpoint(&3u64).unwrap();
    feed(&mut shard, &b);
    shard.checkpoint(&6u64).unwrap();
    assert_eq!(emitted(d), first, "nothing emitted twice");
    assert_eq!(shard.stats.findings_replayed as usize, first.len());
}

#[test]
fn a_crash_between_the_sink_and_the_journal_does_not_write_a_finding_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, b) = run_then_crash(d, Some(3));
    // kill -9 after B's findings reached the sink, before their uids reached the journal
    std::fs::write(d.join("state/src/s.emitted"), "").unwrap();
    let first = emitted(d);
    let per_key = first.len() / 2;
    assert!(per_key >= 1 && first.len() == 2 * per_key, "{first:?}");
    let s = shared(d);
    let (mut shard, saved) = Shard::open::<u64>(&s, "src", "s").unwrap();
    assert_eq!(saved, Some(3), "the re-read starts after A");
    feed(&mut shard, &b);
    shard.checkpoint(&6u64).unwrap();
    assert_eq!(emitted(d), first, "B's findings are not written again");
    assert_eq!(shard.stats.findings_replayed as usize, per_key);
    // and findings that never reached the sink are still written
    feed(&mut shard, &shared_key("AKIAEXAMPLEC", 40));
    assert_eq!(emitted(d).len(), 3 * per_key);
}

#[test]
fn a_finding_torn_by_a_crash_mid_write_is_written_again_whole_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, b) = run_then_crash(d, Some(3));
    let first = emitted(d);
    // kill -9 in the middle of writing B's last finding: half of it in the sink, its uid in
    // neither the journal nor (whole) the sink; the journal's last uid torn as well
    let out = d.join("out.jsonl");
    let text = std::fs::read_to_string(&out).unwrap();
    let last_start = text[..text.len() - 1].rfind('\n').map_or(0, |i| i + 1);
    let torn = &text[..last_start + (text.len() - last_start) / 2];
    std::fs::write(&out, torn).unwrap();
    let journal = d.join("state/src/s.emitted");
    let j = std::fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = j
        .lines()
        .filter(|u| !first.last().unwrap().contains(*u))
        .collect();
    std::fs::write(&journal, format!("{}\n{}", kept.join("\n"), "0123abc")).unwrap();

    let s = shared(d);
    let (mut shard, _) = Shard::open::<u64>(&s, "src", "s").unwrap();
    feed(&mut shard, &b);
    // the torn uid was cut from the journal; the one written again has a line of its own
    let j = std::fs::read_to_string(&journal).unwrap();
    assert!(!j.contains("0123abc"), "{j}");
    assert_eq!(
        j.lines().last(),
        Some(first.last().unwrap().trim_matches('"'))
    );
    shard.checkpoint(&6u64).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let parsed: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["metadata"]["uid"].to_string())
        .collect();
    assert_eq!(
        lines.len(),
        parsed.len() + 1,
        "one torn line, ended: {text}"
    );
    assert_eq!(
        parsed, first,
        "the torn finding written again whole, nothing twice"
    );
    assert_eq!(shard.stats.findings_emitted, 1);
}

//! End-to-end tests of the `bypassd` binary: replay of the bundled incident against a golden
//! file, determinism, bad input, exit codes and `check`.
//!
//! Regenerate golden files with `BYPASSD_UPDATE_GOLDEN=1 cargo test --test cli`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bypassd"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("bypassd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn golden(name: &str, actual: &str) {
    let path = fixture(name);
    if std::env::var_os("BYPASSD_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == actual,
        "output differs from {}:\n{actual}",
        path.display()
    );
}

/// The findings of one detector.
/// The findings (Creates) of one detector.
fn findings_of(out: &str, detector: &str) -> Vec<serde_json::Value> {
    findings(out)
        .into_iter()
        .filter(|f| f["unmapped"]["detector"] == detector)
        .collect()
}

/// The findings raised (Creates, OCSF activity_id 1).
fn findings(out: &str) -> Vec<serde_json::Value> {
    records(out)
        .into_iter()
        .filter(|f| f["activity_id"] == 1)
        .collect()
}

/// Every record written: Creates and the Updates of open findings.
fn records(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("each finding is one JSON line"))
        .collect()
}

#[test]
fn replay_of_the_bundled_incident_matches_golden() {
    let o = run(&["replay", "examples/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    golden("examples.golden.jsonl", &out);
    let by_detector = |d: &str| findings_of(&out, d).len();
    assert_eq!(findings(&out).len(), 11);
    // continuing activity inside an hour updates the open finding instead of raising again
    let creates: std::collections::BTreeSet<String> = findings(&out)
        .iter()
        .map(|f| f["finding_info"]["uid"].as_str().unwrap().to_string())
        .collect();
    let updates: Vec<_> = records(&out)
        .into_iter()
        .filter(|f| f["activity_id"] == 2)
        .collect();
    assert_eq!(updates.len(), 11);
    for u in &updates {
        let uid = u["finding_info"]["uid"].as_str().unwrap();
        assert!(creates.contains(uid), "an Update names an open finding");
        assert!(u["unmapped"]["occurrences"].as_u64().unwrap() >= 2);
        assert_eq!(
            u["metadata"]["uid"],
            format!("{uid}-{}", u["unmapped"]["occurrences"])
        );
    }
    for (d, n) in [
        ("credential-multi-network", 3),
        ("standing-token-multi-network", 3),
        ("service-identity-interactive-client", 2),
        ("root-console-no-mfa", 1),
        ("break-glass-unapproved", 1),
        ("approval-bypass", 1),
    ] {
        assert_eq!(by_detector(d), n, "{d}");
    }
    let f = findings_of(&out, "credential-multi-network");
    for x in &f {
        assert_eq!(x["class_uid"], 2004);
        assert_eq!(x["finding_info"]["types"][0], "credential_sharing");
    }
    // root signed in without MFA and without a break-glass approval; carol's approved
    // break-glass session (INC-4711) raises nothing
    let root = &findings_of(&out, "break-glass-unapproved")[0];
    assert_eq!(root["unmapped"]["context"]["break_glass"], "root");
    assert!(!out.contains("\"key\":\"carol"), "carol was approved");
    // the AWS key shared by CI, a laptop and an IPv6 host
    assert_eq!(
        f[0]["actor"]["user"]["credential_uid"],
        "AKIA3EXAMPLEDEPLOY01"
    );
    // the leaked GitHub PAT: CI runners, then a laptop and a VPS
    assert_eq!(
        f[1]["actor"]["user"]["credential_uid"],
        "kN3q1sT0x9Yb7mWc2Lr8vA5dE6fG4hJ1kP0oI9uY8tQ="
    );
    assert_eq!(
        f[1]["unmapped"]["credential"]["kind"],
        "personal_access_token"
    );
    // the deployer service account's legacy token, driven by hand from the same two places
    assert_eq!(
        f[2]["actor"]["user"]["credential_uid"],
        "system:serviceaccount:payments:deployer"
    );
    assert_eq!(
        f[2]["unmapped"]["distinct_values"],
        serde_json::json!(["10.0.12.0/24", "192.0.2.0/24", "203.0.113.0/24"])
    );
    assert!(
        !out.contains("IQoJb3JpZ2luX2Vj"),
        "session tokens from the logs never reach findings"
    );
    let err = stderr(&o);
    assert!(err.contains("45 events"), "{err}");
    assert!(
        err.contains("records by format: approval 1, cloudtrail 27, github 9, kubernetes 9"),
        "{err}"
    );
    assert!(err.contains("findings: 11 ("), "{err}");
}

#[test]
fn output_is_identical_whatever_the_argument_order_or_thread_count() {
    let base = "examples/cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/02";
    let gz =
        format!("{base}/111122223333_CloudTrail_us-east-1_20260302T0410Z_Xq3vB0yC7aPz1mN2.json.gz");
    let js =
        format!("{base}/111122223333_CloudTrail_us-east-1_20260302T0420Z_Kd8sL2wR5tHq9vJ4.json");
    let a = run(&[
        "replay",
        "--threads",
        "1",
        &gz,
        &js,
        "examples/approvals.jsonl",
    ]);
    let b = run(&[
        "replay",
        "--threads",
        "4",
        "examples/approvals.jsonl",
        &js,
        &gz,
    ]);
    let c = run(&[
        "replay",
        "--threads",
        "3",
        "examples/approvals.jsonl",
        &js,
        &gz,
        &gz,
    ]);
    assert!(a.status.success() && b.status.success() && c.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
}

#[test]
fn bad_input_is_reported_counted_and_the_good_records_still_processed() {
    let o = run(&[
        "replay",
        "--max-line-bytes",
        "2000",
        "tests/fixtures/bad/mixed.jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let p = "tests/fixtures/bad/mixed.jsonl";
    for want in [
        format!("{p}:2: malformed JSON"),
        format!("{p}:3: invalid UTF-8 at byte"),
        format!("{p}:4: unknown context record kind \"waiver\""),
        format!("{p}:5: unrecognised record format"),
        format!("{p}:7: invalid eventTime in cloudtrail record: \"2026-13-01T00:00:00Z\""),
        format!("{p}:8: line longer than 2000 bytes"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("input errors: 6 (invalid_field 1, invalid_utf8 1, line_too_long 1, malformed_json 1, unknown_format 1, unknown_kind 1)"), "{err}");
    let f = findings_of(&stdout(&o), "credential-multi-network");
    assert_eq!(f.len(), 1, "lines 1, 6 and 9 still make the pattern");
    let lines: Vec<u64> = f[0]["evidences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["origin"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 6, 9]);
}

#[test]
fn strict_stops_at_the_first_bad_record() {
    let o = run(&["replay", "--strict", "tests/fixtures/bad/mixed.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("mixed.jsonl:2: malformed JSON"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn truncated_gzip_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read("tests/fixtures/bad/mixed.jsonl").unwrap();
    // a long, valid stream, then cut the compressed file
    let good: Vec<u8> = src.split(|b| *b == b'\n').next().unwrap().to_vec();
    let mut text = Vec::new();
    for _ in 0..3000 {
        text.extend(&good);
        text.push(b'\n');
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&text).unwrap();
    let full = enc.finish().unwrap();
    let path = dir.path().join("cut.jsonl.gz");
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let o = run(&["replay", path.to_str().unwrap()]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(err.contains("gzip stream truncated"), "{err}");
    assert!(err.contains("truncated_input 1"), "{err}");
    let events: u64 = err
        .split(" events (")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        events > 100 && events < 3000,
        "{events} events before the cut"
    );
}

#[test]
fn stdin_gzip_and_format_override() {
    let raw = std::fs::read("tests/fixtures/bad/mixed.jsonl").unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&raw).unwrap();
    let gz = enc.finish().unwrap();
    let mut child = bin()
        .args([
            "replay",
            "--format",
            "cloudtrail",
            "--max-line-bytes",
            "2000",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("<stdin>:5: cloudtrail record has no eventTime"),
        "forced format: {err}"
    );
    assert_eq!(
        findings_of(&stdout(&o), "credential-multi-network").len(),
        1
    );
}

#[test]
fn since_until_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.jsonl");
    let o = run(&[
        "replay",
        "--since",
        "2026-03-02T04:08:00Z",
        "-o",
        out.to_str().unwrap(),
        "examples/cloudtrail",
    ]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        findings_of(&written, "credential-multi-network").is_empty(),
        "the pattern starts before --since"
    );
    assert_eq!(
        findings_of(&written, "root-console-no-mfa").len(),
        1,
        "the root sign-in at 04:16 is after --since"
    );
    assert!(
        stderr(&o).contains("outside --since/--until: 15"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_and_config_errors_exit_2() {
    for args in [
        vec!["replay"],
        vec!["replay", "does/not/exist.json"],
        vec!["replay", "--format", "syslog", "examples"],
        vec!["replay", "--since", "yesterday", "examples"],
        vec![
            "replay",
            "--detectors",
            "tests/fixtures/invalid-detectors",
            "examples",
        ],
        vec!["check", "--detectors", "tests/fixtures/invalid-detectors"],
        vec!["check", "--detectors", "no/such/dir"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
    let o = run(&["replay", "does/not/exist.json", "nor/this/*.gz"]);
    let err = stderr(&o);
    assert!(
        err.contains("does/not/exist.json: no such file")
            && err.contains("nor/this/*.gz: no files match"),
        "{err}"
    );
}

#[test]
fn check_runs_every_inline_test_of_every_kind() {
    let o = run(&["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let embedded = bypassd::detect::load::EMBEDDED.len();
    assert!(
        out.contains(&format!("{embedded} detector(s) loaded")),
        "{out}"
    );
    let per_detector = out
        .lines()
        .filter(|l| l.starts_with("  ") && l.ends_with("tests passed"))
        .count();
    assert_eq!(per_detector, embedded, "{out}");
    assert!(out.contains("all ") && !out.contains("FAIL"), "{out}");
    let o = run(&["check", "--detectors", "tests/fixtures/detectors"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for kind in [
        "match",
        "event_count",
        "value_count",
        "absence",
        "first_seen",
    ] {
        assert!(out.contains(&format!(" {kind} ")), "{kind} missing:\n{out}");
    }
    let o = run(&["check", "--detectors", "tests/fixtures/invalid-detectors"]);
    let err = stderr(&o);
    assert!(
        err.contains("broken.yaml: detector Broken One: family") && err.contains("unparsable.yaml"),
        "{err}"
    );
}

#[test]
fn failing_inline_test_fails_check() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("detectors/credential-multi-network.yaml").unwrap();
    let broken = text.replacen("expect: 1", "expect: 2", 1);
    std::fs::write(dir.path().join("d.yaml"), broken).unwrap();
    let o = run(&["check", "--detectors", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("FAIL") && stdout(&o).contains("expected 2 finding(s), got 1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn trusted_networks_from_the_inventory_count_as_one_network() {
    let o = run(&[
        "replay",
        "--inventory",
        "tests/fixtures/inventory.yaml",
        "examples/cloudtrail",
        "examples/approvals.jsonl",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        findings_of(&stdout(&o), "credential-multi-network").is_empty(),
        "CI runners and office are one trusted network: two networks, no finding"
    );
    let o = run(&["check", "--inventory", "tests/fixtures/inventory.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 exception(s), 1 break-glass principal(s), 2 trusted network(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn invalid_inventory_reports_every_error_and_exits_2() {
    for cmd in ["check", "replay"] {
        let mut args = vec![cmd, "--inventory", "tests/fixtures/invalid-inventory.yaml"];
        if cmd == "replay" {
            args.push("examples");
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = stderr(&o);
        for want in [
            "unknown key \"colour\"",
            "expires: invalid date",
            "duplicate exception id \"dup\"",
            "review_every: invalid duration",
            "invalid CIDR \"192.0.2.0/33\"",
        ] {
            assert!(err.contains(want), "{cmd}: missing {want:?} in\n{err}");
        }
    }
}

/// `n` access keys, each used from three /24s within three minutes (CloudTrail JSON lines).
fn shared_keys(n: usize) -> String {
    let mut s = String::new();
    for net in 0..3 {
        for k in 0..n {
            s.push_str(&format!(
                r#"{{"eventVersion":"1.09","eventTime":"2026-03-02T10:0{net}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"10.{net}.{}.7","eventID":"e-{net}-{k}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u{k}","userName":"u{k}","accountId":"111122223333","accessKeyId":"AKIASTORM{k:08}"}}}}"#,
                k % 60,
                k % 250
            ));
            s.push('\n');
        }
    }
    s
}

fn replay_stdin(args: &[&str], input: &str) -> Output {
    let mut c = bin()
        .arg("replay")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn an_alert_storm_is_reported_and_every_finding_still_raised() {
    let o = replay_stdin(&[], &shared_keys(150));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        findings_of(&stdout(&o), "credential-multi-network").len(),
        150
    );
    let err = stderr(&o);
    assert!(
        err.contains("ALERT STORM: credential-multi-network raised 150 new findings in 1 storm(s)"),
        "{err}"
    );
    // sixty keys in ten minutes is a busy day, not a storm
    let o = replay_stdin(&[], &shared_keys(60));
    assert_eq!(
        findings_of(&stdout(&o), "credential-multi-network").len(),
        60
    );
    assert!(!stderr(&o).contains("STORM"), "{}", stderr(&o));
}

#[test]
fn a_small_reorder_buffer_counts_early_events_and_finds_the_same() {
    // the keys' three uses arrive a network at a time: each key's events are far apart in input
    let input = shared_keys(40);
    let full = replay_stdin(&[], &input);
    let small = replay_stdin(&["--max-held", "8"], &input);
    assert!(small.status.success(), "{}", stderr(&small));
    assert!(!stderr(&full).contains("reorder buffer full"));
    assert!(
        stderr(&small).contains("reorder buffer full: 112 events sent on before their hold ended"),
        "{}",
        stderr(&small)
    );
    let uids = |o: &Output| {
        let mut u: Vec<String> = findings(&stdout(o))
            .iter()
            .map(|f| f["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect();
        u.sort();
        u
    };
    assert_eq!(uids(&small).len(), 80);
    assert_eq!(uids(&small), uids(&full));
}

//! Every vendor format end to end: `bypassd replay` over the fixture directory (all formats, gzip
//! and plain, lines and wrapper documents) decodes every record, and the summary's per-format
//! counts match the records in the files, counted here independently with serde_json.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn read(p: &Path) -> String {
    let raw = std::fs::read(p).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(raw).unwrap()
    }
}

/// Every record in one file: each top-level value is a record, or a wrapper / array of them.
fn records(text: &str) -> Vec<Value> {
    let text = text.trim_start_matches('\u{feff}');
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match v.unwrap() {
            Value::Array(a) => out.extend(a),
            Value::Object(m) => {
                let wrapped = ["Records", "records", "value", "items"]
                    .iter()
                    .find_map(|k| m.get(*k).and_then(Value::as_array))
                    .filter(|_| {
                        !m.contains_key("items") || m.get("kind") == Some(&"EventList".into())
                    })
                    .cloned();
                match wrapped {
                    Some(a) => out.extend(a),
                    None => out.push(Value::Object(m)),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Provisional records that are skipped in favour of the complete one logged after them.
fn provisional(format: &str, v: &Value) -> bool {
    match format {
        "kubernetes" => v["stage"] == "RequestReceived",
        // a request entry carrying Vault's error is final: an event
        "vault" => v["type"] == "request" && v.get("error").is_none(),
        _ => false,
    }
}

/// Per format: (events, skipped provisional records).
fn expected() -> BTreeMap<String, (u64, u64)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root).min_depth(2) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let format = entry
            .path()
            .strip_prefix(&root)
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        let counts = out.entry(format.clone()).or_default();
        for r in records(&read(entry.path())) {
            if provisional(&format, &r) {
                counts.1 += 1;
            } else {
                counts.0 += 1;
            }
        }
    }
    out
}

fn summary_counts(err: &str, prefix: &str) -> BTreeMap<String, u64> {
    let Some(line) = err.lines().find(|l| l.trim_start().starts_with(prefix)) else {
        return BTreeMap::new();
    };
    line.split_once(':')
        .unwrap()
        .1
        .split(',')
        .map(|kv| {
            let (k, v) = kv.trim().rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn every_record_of_every_format_decodes_with_per_format_counts() {
    let want = expected();
    for f in [
        "cloudtrail",
        "kubernetes",
        "github",
        "okta",
        "vault",
        "gcp",
        "entra",
        "ocsf",
    ] {
        assert!(want.get(f).is_some_and(|n| n.0 > 0), "no fixtures for {f}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_bypassd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--quiet", "tests/fixtures/formats"])
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("input errors: 0\n"), "{err}");
    let events = summary_counts(&err, "records by format:");
    let want_events: BTreeMap<String, u64> = want.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    assert_eq!(events, want_events, "summary:\n{err}");
    let skipped = summary_counts(&err, "skipped (not events):");
    assert_eq!(
        skipped.get("kubernetes_request_received_stage").copied(),
        want.get("kubernetes").map(|v| v.1).filter(|n| *n > 0)
    );
    assert_eq!(
        skipped.get("vault_request_entry").copied(),
        want.get("vault").map(|v| v.1).filter(|n| *n > 0)
    );
}

#[test]
fn gzip_and_wrapper_documents_are_among_the_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let files: Vec<_> = walkdir::WalkDir::new(&root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(files
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "gz")));
    let wrappers = files
        .iter()
        .filter(|p| {
            let t = read(p);
            let t = t.trim_start();
            t.starts_with('[') || t.starts_with("{\n") || t.contains("\"records\":[")
        })
        .count();
    assert!(
        wrappers >= 2,
        "expected wrapper/array documents among {files:?}"
    );
}

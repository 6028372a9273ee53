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

/// Records in one file: each top-level value is a record, or a wrapper / array of records.
fn count_records(text: &str) -> u64 {
    let text = text.trim_start_matches('\u{feff}');
    let mut n = 0;
    for v in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let v = v.unwrap();
        n += match &v {
            Value::Array(a) => a.len() as u64,
            Value::Object(m) => ["Records", "records", "value", "items"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_array))
                .filter(|_| {
                    !m.contains_key("items") || m.get("kind") == Some(&"EventList".into())
                })
                .map_or(1, |a| a.len() as u64),
            _ => 1,
        };
    }
    n
}

fn expected() -> BTreeMap<String, u64> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let mut out = BTreeMap::new();
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
        *out.entry(format).or_default() += count_records(&read(entry.path()));
    }
    out
}

#[test]
fn every_record_of_every_format_decodes_with_per_format_counts() {
    let want = expected();
    for f in [
        "cloudtrail", "kubernetes", "github", "okta", "vault", "gcp", "entra", "ocsf",
    ] {
        assert!(want.get(f).is_some_and(|n| *n > 0), "no fixtures for {f}");
    }
    let o = Command::new(env!("CARGO_BIN_EXE_bypassd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--quiet", "tests/fixtures/formats"])
        .output()
        .unwrap();
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("input errors: 0\n"), "{err}");
    let line = err
        .lines()
        .find(|l| l.trim_start().starts_with("records by format:"))
        .unwrap_or_else(|| panic!("no per-format counts in:\n{err}"));
    let got: BTreeMap<String, u64> = line
        .split_once(':')
        .unwrap()
        .1
        .split(',')
        .map(|kv| {
            let (k, v) = kv.trim().rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    assert_eq!(got, want, "summary:\n{err}");
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
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "gz")));
    let wrappers = files
        .iter()
        .filter(|p| {
            let t = read(p);
            let t = t.trim_start();
            t.starts_with('[') || t.starts_with("{\n") || t.contains("\"records\":[")
        })
        .count();
    assert!(wrappers >= 2, "expected wrapper/array documents among {files:?}");
}

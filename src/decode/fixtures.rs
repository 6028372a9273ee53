//! Test support for the decoders: a record origin, and the records of the fixture files of one format
//! (`tests/fixtures/formats/<format>/`), read independently of the replay reader: JSON lines,
//! gzip, arrays and wrapper documents (`Records`, `records`, `value`, an `EventList`'s `items`).

use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use crate::event::Origin;

/// The origin decoder unit tests give their records: line 1 of a file named `t.jsonl`.
pub fn origin() -> Origin {
    Origin::File {
        path: Arc::from("t.jsonl"),
        line: 1,
        offset: 0,
    }
}

/// Every record of every fixture file of `format`, as JSON text, in file-name order.
pub fn records(format: &str) -> Vec<String> {
    let dir = format!(
        "{}/tests/fixtures/formats/{format}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let raw = std::fs::read(&path).unwrap();
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(raw).unwrap()
        };
        for v in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            let v = v.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let list = match &v {
                Value::Array(a) => Some(a.clone()),
                Value::Object(m) => ["Records", "records", "value"]
                    .iter()
                    .find_map(|k| m.get(*k))
                    .or_else(|| m.get("items").filter(|_| m["kind"] == "EventList"))
                    .and_then(Value::as_array)
                    .cloned(),
                _ => None,
            };
            match list {
                Some(items) => out.extend(items.iter().map(Value::to_string)),
                None => out.push(v.to_string()),
            }
        }
    }
    out
}

//! Decode throughput per format: the fixture records of each format under
//! `tests/fixtures/formats/<format>/` (JSON lines), repeated to a few thousand, decoded with
//! format detection as replay does. `cargo bench --bench formats`; criterion reports
//! elements/s = events/s per format on one core.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use bypassd::decode::mapping::Mappings;
use bypassd::decode::{Decoder, Record};
use bypassd::event::Origin;

const TARGET: usize = 5_000;

fn records(dir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let base: Vec<String> = files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    base.iter()
        .cycle()
        .take(TARGET.max(base.len()))
        .cloned()
        .collect()
}

fn bench_one(c: &mut Criterion, name: &str, lines: &[String], mappings: Arc<Mappings>) {
    let origin = Origin::File {
        path: Arc::from("bench.jsonl"),
        line: 1,
        offset: 0,
    };
    let mut g = c.benchmark_group("decode_format");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let dec = Decoder::new(None).with_mappings(mappings.clone());
            let mut n = 0usize;
            for l in lines {
                if let Ok(Record::Event(_)) = dec.decode(l, origin.clone()) {
                    n += 1;
                }
            }
            assert!(n > 0, "{name}: nothing decoded");
            n
        })
    });
    g.finish();
}

fn formats(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("tests/fixtures/formats"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        bench_one(c, &name, &records(&d), Arc::default());
    }
    let docs = root.join("docs/examples");
    let m = Mappings::load(&docs.join("acme-deploy.mapping.yaml")).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(docs.join("acme-deploy.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .cycle()
        .take(TARGET)
        .collect();
    bench_one(c, "mapped_acme_deploy", &lines, Arc::new(m));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = formats
}
criterion_main!(benches);

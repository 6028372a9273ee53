//! Criterion benchmarks for the hot path: decoding CloudTrail lines, and decode + the default
//! detectors through the event-time engine. The end-to-end replay throughput command (reading,
//! parallel decode, engine, output) is in the README.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use bypassd::decode::{Decoder, Record};
use bypassd::detect::load::load_embedded;
use bypassd::engine::{Engine, DEFAULT_LATENESS};
use bypassd::event::Origin;

#[path = "corpus/mod.rs"]
mod corpus;

const N: u64 = 20_000;

fn lines() -> Vec<String> {
    let mut rng = corpus::Rng::new(0x5eed);
    (0..N)
        .map(|i| {
            let mut s = String::new();
            corpus::record(&mut rng, i, N, &mut s);
            s
        })
        .collect()
}

fn origin(path: &Arc<str>, i: usize) -> Origin {
    Origin::File {
        path: path.clone(),
        line: i as u64 + 1,
        offset: 0,
    }
}

fn decode(c: &mut Criterion) {
    let lines = lines();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let path: Arc<str> = Arc::from("bench.jsonl");
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(N));
    g.bench_function("cloudtrail_lines", |b| {
        b.iter(|| {
            let dec = Decoder::new(None);
            let mut n = 0;
            for (i, l) in lines.iter().enumerate() {
                if let Ok(Record::Event(_)) = dec.decode(l, origin(&path, i)) {
                    n += 1;
                }
            }
            assert_eq!(n, N);
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("cloudtrail_bytes", |b| {
        b.iter(|| {
            let dec = Decoder::new(None);
            for (i, l) in lines.iter().enumerate() {
                let _ = dec.decode(l, origin(&path, i));
            }
        })
    });
    g.finish();
}

fn detect(c: &mut Criterion) {
    let lines = lines();
    let path: Arc<str> = Arc::from("bench.jsonl");
    let dec = Decoder::new(None);
    let events: Vec<_> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match dec.decode(l, origin(&path, i)) {
            Ok(Record::Event(e)) => Some(e),
            _ => None,
        })
        .collect();
    let detectors = load_embedded().expect("default detectors load");
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("default_detectors", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut engine = Engine::new(&detectors, DEFAULT_LATENESS);
                let mut out = Vec::new();
                for e in events {
                    engine.push(e, &mut out);
                }
                engine.flush(&mut out);
                out.len()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, decode, detect);
criterion_main!(benches);

//! Generate a CloudTrail JSON-lines corpus for the replay throughput benchmarks:
//! `cargo run --release --example gencorpus -- 1000000 > /tmp/ct-1m.jsonl` (a realistic day), or
//! one dense hour: `gencorpus 3000000 dense 1000000` (3M records over 1M keys, each key inside its
//! own /24: no finding due) and `gencorpus 3000000 storm 1000000` (each key from three networks
//! within seconds: every key raises).

use std::io::{BufWriter, Write};

#[path = "corpus/mod.rs"]
mod corpus;

fn usage() -> ! {
    eprintln!("usage: gencorpus [RECORDS] [realistic | dense KEYS | storm KEYS] (default 1000000 realistic)");
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| match args.get(i) {
        Some(a) => a.parse().unwrap_or_else(|_| usage()),
        None => default,
    };
    let n = num(0, 1_000_000);
    let mode = args.get(1).map_or("realistic", String::as_str);
    let keys = num(2, 1_000_000);
    if !matches!(mode, "realistic" | "dense" | "storm") {
        usage();
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut rng = corpus::Rng::new(0x5eed);
    let mut line = String::with_capacity(2048);
    for i in 0..n {
        line.clear();
        match mode {
            "realistic" => corpus::record(&mut rng, i, n, &mut line),
            m => corpus::dense(&mut rng, i, n, keys, m == "storm", &mut line),
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

//! Generate a CloudTrail JSON-lines corpus for the replay throughput benchmark:
//! `cargo run --release --example gencorpus -- 1000000 > /tmp/ct-1m.jsonl`

use std::io::{BufWriter, Write};

#[path = "corpus/mod.rs"]
mod corpus;

fn main() -> std::io::Result<()> {
    let n: u64 = match std::env::args().nth(1) {
        Some(a) => match a.parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("usage: gencorpus [RECORDS] (default 1000000)");
                std::process::exit(2);
            }
        },
        None => 1_000_000,
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut rng = corpus::Rng::new(0x5eed);
    let mut line = String::with_capacity(2048);
    for i in 0..n {
        line.clear();
        corpus::record(&mut rng, i, n, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

//! Generate one realistic benign day (2026-03-10) of identity audit logs in every format bypassd
//! decodes, and the organisation's inventory:
//! `cargo run --release --example genbenign -- [EVENTS] [DIR]` (defaults 1000000 and
//! /tmp/benign-day). Logs go to `DIR/logs/`, the inventory to `DIR/inventory.yaml`.

use std::path::PathBuf;
use std::time::Instant;

#[path = "benign/mod.rs"]
mod benign;

fn usage() -> ! {
    eprintln!("usage: genbenign [EVENTS] [DIR] (defaults 1000000 and /tmp/benign-day)");
    std::process::exit(2);
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: u64 = match args.next() {
        Some(a) => a.parse().unwrap_or_else(|_| usage()),
        None => 1_000_000,
    };
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/benign-day".to_string()));
    if args.next().is_some() {
        usage();
    }
    let logs = dir.join("logs");
    let started = Instant::now();
    let summary = benign::generate(&logs, events, 0x5eed)?;
    let elapsed = started.elapsed();
    let inventory = dir.join("inventory.yaml");
    std::fs::write(&inventory, benign::INVENTORY)?;
    println!(
        "{:<12} {:<18} {:>10} {:>10} {:>12} {:>11}",
        "format", "file", "records", "events", "provisional", "duplicates"
    );
    for f in &summary.formats {
        println!(
            "{:<12} {:<18} {:>10} {:>10} {:>12} {:>11}",
            f.format, f.file, f.records, f.events, f.provisional, f.duplicates
        );
    }
    println!(
        "{:<12} {:<18} {:>10}",
        "approval", "approvals.jsonl", summary.approvals
    );
    println!(
        "{} records in {:.2}s into {}",
        summary.records() + summary.approvals,
        elapsed.as_secs_f64(),
        logs.display()
    );
    println!("inventory: {}", inventory.display());
    println!(
        "replay:    bypassd replay {} --inventory {}",
        logs.display(),
        inventory.display()
    );
    Ok(())
}

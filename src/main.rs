//! The `bypassd` command line: `replay` historical logs, `check` detectors. Exit codes: 0 success,
//! 1 runtime failure (including `--strict` input errors), 2 usage or configuration errors.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use bypassd::config::Config;
use bypassd::decode::mapping::Mappings;
use bypassd::detect::{load, selftest};
use bypassd::event::{Format, Millis};
use bypassd::inventory::Inventory;
use bypassd::replay::{self, Progress, ReplayError, ReplayOptions};
use bypassd::sources::replay::{expand, order_by_first_event, Input, ReadOptions};
use bypassd::time::{parse_duration, parse_instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bypassd",
    version,
    about = "Catch people and non-human identities routing around identity controls"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay historical logs (files, directories, globs, `-` for stdin; gzip or not) through the detectors
    Replay(ReplayArgs),
    /// Validate detectors and run their inline tests; with --config, the daemon's whole configuration
    Check(CheckArgs),
    /// Run the live daemon: tail files and consume Kafka topics as configured
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The daemon configuration (TOML; see deploy/bypassd.toml)
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
}

#[derive(Args)]
struct ReplayArgs {
    /// Detector directory (replaces the built-in set)
    #[arg(long, value_name = "DIR")]
    detectors: Option<PathBuf>,
    /// Inventory YAML: declared exceptions, break-glass identities, trusted networks
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Operator-defined JSON formats (mapping file; see docs/mappings.md)
    #[arg(long, value_name = "FILE")]
    mappings: Option<PathBuf>,
    /// Decode every record as this format (built-in or a mapping id) instead of detecting it
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Only events at or after this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    since: Option<Millis>,
    /// Only events before this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    until: Option<Millis>,
    /// Write findings here instead of stdout
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Send findings to the `[[sinks]]` of this daemon config (webhook, Alertmanager, Kafka,
    /// file) instead of stdout; waits up to its shutdown_timeout for delivery at the end
    #[arg(long, value_name = "CONFIG")]
    sinks: Option<PathBuf>,
    /// How late an event may arrive and still be put in order
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    lateness: Millis,
    /// Hold at most this many events to put them in order (about 1 KB each); past it the oldest
    /// goes to the detectors early (counted in the summary)
    #[arg(long, value_name = "N", default_value_t = bypassd::engine::DEFAULT_MAX_HELD)]
    max_held: usize,
    /// Decode threads (default: one per core)
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Stop at the first bad record (exit 1) instead of reporting and continuing
    #[arg(long)]
    strict: bool,
    /// Longest input line accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_line_bytes: usize,
    /// Print at most this many input errors (all are counted in the summary)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_error_lines: usize,
    /// No progress bar even on a terminal
    #[arg(long)]
    quiet: bool,
    /// Files, directories (recursive), globs, or `-` for stdin
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<String>,
}

#[derive(Args)]
struct CheckArgs {
    /// Validate this daemon configuration, and the detectors, inventory and mappings it names
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Detector directory (default: the built-in set)
    #[arg(long, value_name = "DIR")]
    detectors: Option<PathBuf>,
    /// Also validate this inventory (inline tests run with their own `inventory:`, not this one)
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Also validate this mapping file
    #[arg(long, value_name = "FILE")]
    mappings: Option<PathBuf>,
}

/// The inventory when given (validated, every error at once), else an empty one.
fn load_inventory(path: Option<&std::path::Path>) -> Result<Inventory, UsageError> {
    match path {
        Some(p) => Inventory::load(p).map_err(|e| UsageError(e.to_string())),
        None => Ok(Inventory::default()),
    }
}

/// The mapping file when given (validated, every error at once), else none.
fn load_mappings(path: Option<&std::path::Path>) -> Result<Mappings, UsageError> {
    match path {
        Some(p) => Mappings::load(p).map_err(|e| UsageError(e.to_string())),
        None => Ok(Mappings::default()),
    }
}

/// `--format`: a built-in format or the id of a loaded mapping.
fn resolve_format(s: &str, mappings: &Mappings) -> Result<Format, UsageError> {
    if let Some(f) = Format::parse(s) {
        return Ok(f);
    }
    if let Some(m) = mappings.get(s) {
        return Ok(Format::Mapped(m.id));
    }
    let names: Vec<&str> = Format::ALL
        .iter()
        .map(|f| f.name())
        .chain(mappings.formats.iter().map(|m| m.id))
        .collect();
    Err(UsageError(format!(
        "unknown format {s:?} (valid: {}; operator formats need --mappings)",
        names.join(", ")
    )))
}

/// An error that is the user's to fix (exit 2) rather than a runtime failure (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // the daemon reports its life (start, rebalances, reloads, stop) at info; commands only warn
    let default_level = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BYPASSD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    let result = match cli.command {
        Command::Replay(args) => replay_cmd(args),
        Command::Check(args) => check_cmd(args),
        Command::Run(args) => run_cmd(args),
    };
    match result {
        Ok(code) => code,
        // `bypassd check | head`: the reader went away, nothing is wrong
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn replay_cmd(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let detectors = load::load(a.detectors.as_deref()).map_err(|e| UsageError(e.to_string()))?;
    let inventory = load_inventory(a.inventory.as_deref())?;
    let mappings = load_mappings(a.mappings.as_deref())?;
    let format = a
        .format
        .as_deref()
        .map(|f| resolve_format(f, &mappings))
        .transpose()?;
    let mut inputs = expand(&a.paths).map_err(|errs| UsageError(errs.join("\n")))?;
    let mappings = Arc::new(mappings);
    let peek = bypassd::decode::Decoder::new(format).with_mappings(mappings.clone());
    order_by_first_event(&mut inputs, &peek);
    if let (Some(s), Some(u)) = (a.since, a.until) {
        if u <= s {
            return Err(UsageError("--until must be after --since".into()).into());
        }
    }
    let sinks = match &a.sinks {
        Some(p) => {
            let c = bypassd::config::Config::load(p).map_err(|e| UsageError(e.to_string()))?;
            let s = bypassd::alerts::sinks::Sinks::open(&c.sinks, &c.state_dir)
                .with_context(|| format!("sinks of {}", p.display()))?;
            Some((Arc::new(s), c.shutdown_timeout))
        }
        None => None,
    };
    let opts = ReplayOptions {
        sinks: sinks.as_ref().map(|(s, _)| s.clone()),
        inputs,
        format,
        since: a.since,
        until: a.until,
        lateness: a.lateness,
        max_held: a.max_held,
        threads: a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        strict: a.strict,
        read: ReadOptions {
            max_line: a.max_line_bytes.max(1),
            ..ReadOptions::default()
        },
        max_error_lines: a.max_error_lines,
        inventory: Arc::new(inventory),
        mappings,
    };
    // Send: replay writes findings on its own thread
    let mut out: Box<dyn Write + Send> = match &a.output {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None if sinks.is_some() => Box::new(io::sink()),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
    };
    let progress = Progress::default();
    let stop = AtomicBool::new(false);
    let show_bar = !a.quiet && io::stderr().is_terminal();
    let total = total_size(&opts.inputs);
    let result = std::thread::scope(|s| {
        if show_bar {
            s.spawn(|| progress_bar(&progress, total, &stop));
        }
        let mut errlog = io::stderr();
        let r = replay::run(&opts, &detectors, &mut *out, &mut errlog, &progress);
        stop.store(true, Ordering::Relaxed);
        r
    });
    if let Some((s, timeout)) = &sinks {
        let deadline = std::time::Instant::now() + Duration::from_millis(*timeout as u64);
        s.close(deadline);
    }
    match result {
        Ok(summary) => {
            eprint!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ReplayError::Strict(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

fn total_size(inputs: &[Input]) -> Option<u64> {
    inputs
        .iter()
        .map(|i| match i {
            Input::Stdin => None,
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        })
        .sum()
}

fn progress_bar(p: &Progress, total: Option<u64>, stop: &AtomicBool) {
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    while !stop.load(Ordering::Relaxed) {
        bar.set_position(p.raw_bytes.load(Ordering::Relaxed));
        bar.set_message(format!(
            "{} events, {} findings",
            p.events.load(Ordering::Relaxed),
            p.findings.load(Ordering::Relaxed)
        ));
        std::thread::sleep(Duration::from_millis(150));
    }
    bar.finish_and_clear();
}

fn run_cmd(a: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&a.config).map_err(|e| UsageError(e.to_string()))?;
    match bypassd::daemon::run(config) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(e) => Err(e),
    }
}

fn check_cmd(mut a: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut out = io::stdout().lock();
    if let Some(path) = &a.config {
        let c = Config::load(path).map_err(|e| UsageError(e.to_string().trim_end().to_string()))?;
        writeln!(
            out,
            "config {}: {} source(s), {} sink(s), state in {}",
            path.display(),
            c.sources.len(),
            c.sinks.len(),
            c.state_dir.display()
        )?;
        a.detectors = a.detectors.or(c.detectors);
        a.inventory = a.inventory.or(c.inventory);
        a.mappings = a.mappings.or(c.mappings);
    }
    let loaded = load::load(a.detectors.as_deref());
    let inventory = load_inventory(a.inventory.as_deref());
    let mappings = load_mappings(a.mappings.as_deref());
    let (detectors, inventory, mappings) = match (loaded, inventory, mappings) {
        (Ok(d), Ok(i), Ok(m)) => (d, i, m),
        (d, i, m) => {
            // report detector, inventory and mapping problems together
            let msgs: Vec<String> = [
                d.err().map(|e| e.to_string()),
                i.err().map(|e| e.0),
                m.err().map(|e| e.0),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(UsageError(msgs.join("\n")).into());
        }
    };
    if let Some(p) = &a.mappings {
        let ids: Vec<&str> = mappings.formats.iter().map(|m| m.id).collect();
        writeln!(
            out,
            "mappings {}: {} format(s): {}",
            p.display(),
            ids.len(),
            ids.join(", ")
        )?;
    }
    if let Some(p) = &a.inventory {
        writeln!(
            out,
            "inventory {}: {} exception(s), {} break-glass principal(s), {} trusted network(s)",
            p.display(),
            inventory.exceptions.len(),
            inventory.break_glass.principals.len(),
            inventory.networks.len()
        )?;
    }
    for w in inventory.warnings() {
        writeln!(out, "  warning: {w}")?;
    }
    let source = match &a.detectors {
        Some(d) => d.display().to_string(),
        None => "built-in set".to_string(),
    };
    writeln!(out, "{} detector(s) loaded from {source}", detectors.len())?;
    let results = selftest::run_all(&detectors);
    let mut failed = 0;
    for d in &detectors {
        let mine: Vec<_> = results.iter().filter(|r| r.detector == d.id).collect();
        let bad: Vec<_> = mine.iter().filter(|r| r.failure.is_some()).collect();
        writeln!(
            out,
            "  {:<38} {:<12} {:<19} {:<8} {}/{} tests passed",
            d.id,
            d.kind.name(),
            d.family.name(),
            d.severity.caption().to_lowercase(),
            mine.len() - bad.len(),
            mine.len()
        )?;
        for r in bad {
            failed += 1;
            writeln!(
                out,
                "    FAIL {}: test {:?}: {}",
                d.file,
                r.test,
                r.failure.as_deref().unwrap_or_default()
            )?;
        }
    }
    if failed > 0 {
        return Err(UsageError(format!("{failed} inline detector test(s) failed")).into());
    }
    writeln!(out, "all {} inline tests passed", results.len())?;
    Ok(ExitCode::SUCCESS)
}

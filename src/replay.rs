//! The replay job: inputs are read (one thread), decoded in parallel (worker threads), put back
//! in input order, and fed to one engine; findings are written as JSON lines. Output depends
//! only on the input set, never on thread count or argument order.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alerts::finding::Finding;
use crate::decode::mapping::Mappings;
use crate::decode::walk::{is_wrapper, walk, Item};
use crate::decode::{DecodeError, Decoder, InputError, Reason, Record};
use crate::detect::spec::Detector;
use crate::detect::StateSize;
use crate::engine::{Engine, EngineStats};
use crate::event::{Format, Millis, Origin, Pos};
use crate::inventory::Inventory;
use crate::sources::replay::{read_input, Input, Piece, ReadOptions};

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub inputs: Vec<Input>,
    /// decode every non-context record with this format instead of sniffing
    pub format: Option<Format>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub lateness: Millis,
    /// most events held for ordering (see [`Engine::with_max_held`])
    pub max_held: usize,
    /// decode threads (at least 1)
    pub threads: usize,
    /// stop at the first bad record
    pub strict: bool,
    pub read: ReadOptions,
    /// print at most this many input errors (all are counted)
    pub max_error_lines: usize,
    /// trusted networks from the inventory
    pub inventory: Arc<Inventory>,
    /// operator-defined formats
    pub mappings: Arc<Mappings>,
    /// also hand every finding to these sinks (a daemon config's `[[sinks]]`)
    pub sinks: Option<Arc<crate::alerts::sinks::Sinks>>,
}

/// What a replay did, for the stderr summary.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub inputs: usize,
    /// decompressed bytes decoded
    pub bytes: u64,
    pub elapsed: Duration,
    pub records_by_format: BTreeMap<&'static str, u64>,
    pub errors_by_reason: BTreeMap<&'static str, u64>,
    pub skipped: BTreeMap<&'static str, u64>,
    /// outside --since / --until
    pub filtered: u64,
    pub engine: EngineStats,
    pub state: Vec<(String, StateSize, u64)>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let events = self.engine.events;
        writeln!(
            f,
            "replayed {} input(s), {:.1} MB in {:.2}s: {} events ({:.0} events/s, {:.1} MB/s)",
            self.inputs,
            self.bytes as f64 / 1e6,
            secs,
            events,
            events as f64 / secs,
            self.bytes as f64 / 1e6 / secs
        )?;
        fn list<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        if !self.records_by_format.is_empty() {
            writeln!(f, "  records by format: {}", list(&self.records_by_format))?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "  skipped (not events): {}", list(&self.skipped))?;
        }
        if self.filtered > 0 {
            writeln!(f, "  outside --since/--until: {}", self.filtered)?;
        }
        if self.engine.duplicates > 0 {
            writeln!(
                f,
                "  duplicates (a request logged again: audit stages, request/response pairs, \
                 overlapping exports): {}",
                self.engine.duplicates
            )?;
        }
        let too_late: u64 = self.state.iter().map(|(_, _, l)| l).sum();
        writeln!(
            f,
            "  late events: {} (processed; {} too late for any open window)",
            self.engine.late, too_late
        )?;
        if self.engine.early > 0 {
            writeln!(
                f,
                "  reorder buffer full: {} events sent on before their hold ended (--max-held; the \
                 detectors placed them as they do late ones)",
                self.engine.early
            )?;
        }
        writeln!(
            f,
            "  input errors: {}{}",
            self.errors(),
            if self.errors() > 0 {
                format!(" ({})", list(&self.errors_by_reason))
            } else {
                String::new()
            }
        )?;
        let by_detector = list(&self.engine.findings);
        let suppressed: u64 = self.engine.suppressed.values().sum();
        write!(f, "  findings: {}", self.findings())?;
        if !by_detector.is_empty() {
            write!(f, " ({by_detector})")?;
        }
        let updates: u64 = self.engine.updates.values().sum();
        write!(
            f,
            "; {suppressed} repeats folded into open findings ({updates} updates sent)"
        )?;
        let excepted: u64 = self.engine.excepted.values().sum();
        if excepted > 0 {
            write!(
                f,
                "; {excepted} excepted by the detectors' except rules ({})",
                list(&self.engine.excepted)
            )?;
        }
        writeln!(f)?;
        for (id, s) in &self.engine.storms {
            writeln!(
                f,
                "  ALERT STORM: {id} raised {} new findings in {} storm(s) (the last began {}), up to \
                 {} within {} of event time; tune or scope the detector, or suppress longer",
                s.findings,
                s.storms,
                crate::time::format_rfc3339(s.since),
                s.peak,
                humantime::format_duration(std::time::Duration::from_millis(
                    crate::engine::storm::STORM_WINDOW as u64
                )),
            )?;
        }
        let evicted: u64 = self.state.iter().map(|(_, s, _)| s.evicted).sum();
        if evicted > 0 {
            writeln!(
                f,
                "  detector state evictions: {evicted} (raise max_keys if this is real traffic)"
            )?;
        }
        Ok(())
    }
}

impl Summary {
    pub fn errors(&self) -> u64 {
        self.errors_by_reason.values().sum()
    }

    pub fn findings(&self) -> u64 {
        self.engine.findings.values().sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0} (--strict stops at the first bad record)")]
    Strict(String),
    #[error("cannot write findings")]
    Output(#[from] io::Error),
}

/// Live progress counters (raw bytes read, events decoded, findings), for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    pub raw_bytes: Arc<AtomicU64>,
    pub events: AtomicU64,
    pub findings: AtomicU64,
}

/// The decoded contents of one piece.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub errors: Vec<InputError>,
    pub bytes: u64,
    pub filtered: u64,
}

/// How records are decoded: the same for replay and the live daemon.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    pub format: Option<Format>,
    pub inventory: Arc<Inventory>,
    pub mappings: Arc<Mappings>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub max_line: usize,
}

impl DecodeOptions {
    /// A decoder for one stream (a file, a partition).
    pub fn decoder(&self) -> Decoder {
        Decoder::new(self.format)
            .with_inventory(self.inventory.clone())
            .with_mappings(self.mappings.clone())
    }

    /// Decode one line (a record, or a wrapper of records on one line) into `b`. `input` is the
    /// input's rank (replay: its place in the fixed input order; 0 for a tailed file); see
    /// [`Pos`] for the order it gives.
    pub fn one(&self, dec: &Decoder, b: &mut Batch, bytes: &[u8], origin: Origin, input: u32) {
        let pos = Pos {
            input,
            ..Pos::of(&origin)
        };
        self.one_at(dec, b, bytes, origin, pos);
    }

    fn one_at(&self, dec: &Decoder, b: &mut Batch, bytes: &[u8], origin: Origin, pos: Pos) {
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("invalid UTF-8 at byte {} of the record", e.valid_up_to());
                b.errors.push(InputError {
                    origin,
                    error: DecodeError::new(Reason::InvalidUtf8, msg),
                });
                return;
            }
        };
        match dec.decode(text, origin.clone()) {
            Ok(Record::Event(mut ev)) => {
                Arc::make_mut(&mut ev).pos = pos;
                let before = self.since.is_some_and(|s| ev.time < s);
                let after = self.until.is_some_and(|u| ev.time >= u);
                if before || after {
                    b.filtered += 1;
                } else {
                    b.records.push(Record::Event(ev));
                }
            }
            Ok(r) => b.records.push(r),
            // a wrapper (`{"records":[...]}`) on one line of a JSON-lines file: its elements
            Err(_) if is_wrapper(bytes) => {
                let base = match &origin {
                    Origin::File { offset, .. } => *offset,
                    _ => 0,
                };
                let mut index = pos.index;
                walk(bytes, None, &mut |item| {
                    let at = |at: usize| match &origin {
                        Origin::File { path, line, .. } => Origin::File {
                            path: path.clone(),
                            line: *line,
                            offset: base + at as u64,
                        },
                        other => other.clone(),
                    };
                    match item {
                        Item::Record { at: i, text } => {
                            // a file's records differ by offset, a Kafka message's by index
                            index += 1;
                            let sub = match &origin {
                                Origin::File { .. } => Pos {
                                    offset: base + i as u64,
                                    ..pos
                                },
                                _ => Pos { index, ..pos },
                            };
                            self.one_at(dec, b, text, at(i), sub)
                        }
                        Item::Error {
                            at: i,
                            reason,
                            message,
                        } => b.errors.push(InputError {
                            origin: at(i),
                            error: DecodeError::new(reason, message),
                        }),
                    }
                });
            }
            Err(error) => b.errors.push(InputError { origin, error }),
        }
    }

    /// Decode a piece of the replay input ranked `input` in the fixed input order.
    pub fn decode(&self, piece: Piece, input: u32) -> Batch {
        let mut b = Batch::default();
        match piece {
            Piece::Error(e) => b.errors.push(e),
            Piece::Lines {
                path,
                first_line,
                offset,
                data,
            } => {
                b.bytes = data.len() as u64;
                b.records.reserve(data.len() / 512);
                let dec = Decoder::new(self.format)
                    .with_inventory(self.inventory.clone())
                    .with_mappings(self.mappings.clone());
                let mut start = 0usize;
                let ends = memchr::memchr_iter(b'\n', &data).chain(std::iter::once(data.len()));
                for (line, end) in (first_line..).zip(ends) {
                    let raw = &data[start..end];
                    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                    // a byte-order mark may open the stream
                    let raw = match offset + start as u64 {
                        0 => raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw),
                        _ => raw,
                    };
                    if !raw.iter().all(u8::is_ascii_whitespace) {
                        let origin = Origin::File {
                            path: path.clone(),
                            line,
                            offset: offset + start as u64,
                        };
                        if raw.len() > self.max_line {
                            b.errors.push(InputError {
                                origin,
                                error: DecodeError::line_too_long(self.max_line),
                            });
                        } else {
                            self.one(&dec, &mut b, raw, origin, input);
                        }
                    }
                    start = end + 1;
                }
            }
            Piece::Document {
                path,
                data,
                truncated,
            } => {
                b.bytes = data.len() as u64;
                self.document(&mut b, &path, &data, truncated, input);
            }
        }
        b
    }

    fn document(
        &self,
        b: &mut Batch,
        path: &Arc<str>,
        data: &[u8],
        truncated: Option<String>,
        input: u32,
    ) {
        let dec = Decoder::new(self.format)
            .with_inventory(self.inventory.clone())
            .with_mappings(self.mappings.clone());
        let mut line = 1u64;
        let mut counted = 0usize;
        let mut origin_at = |pos: usize| {
            line += memchr::memchr_iter(b'\n', &data[counted..pos]).count() as u64;
            counted = pos;
            Origin::File {
                path: path.clone(),
                line,
                offset: pos as u64,
            }
        };
        walk(data, truncated.as_deref(), &mut |item| match item {
            Item::Record { at, text } => self.one(&dec, b, text, origin_at(at), input),
            Item::Error {
                at,
                reason,
                message,
            } => b.errors.push(InputError {
                origin: origin_at(at),
                error: DecodeError::new(reason, message),
            }),
        });
    }
}

/// Run a replay: every finding goes to `out` as a JSON line, each input error to `errlog`.
pub fn run(
    opts: &ReplayOptions,
    detectors: &[Arc<Detector>],
    out: &mut (dyn Write + Send),
    errlog: &mut dyn Write,
    progress: &Progress,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let threads = opts.threads.max(1);
    let dec = DecodeOptions {
        format: opts.format,
        inventory: opts.inventory.clone(),
        mappings: opts.mappings.clone(),
        since: opts.since,
        until: opts.until,
        max_line: opts.read.max_line,
    };
    let mut engine = Engine::new(detectors, opts.lateness)
        .with_max_held(opts.max_held)
        .with_inventory(opts.inventory.clone());
    let mut summary = Summary {
        inputs: opts.inputs.len(),
        ..Summary::default()
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut shown = 0usize;
    let result = std::thread::scope(|s| -> Result<(), ReplayError> {
        let (work_tx, work_rx) = sync_channel::<(u64, u32, Piece)>(threads * 2);
        let (done_tx, done_rx) = sync_channel::<(u64, Batch)>(threads * 4);
        // findings are serialised and written on their own thread, in the order sent: in an
        // alert storm, writing them costs more than finding them
        let (found_tx, found_rx) = sync_channel::<Vec<Finding>>(4);
        // the writer hands each emptied batch back, so the engine thread fills vectors that
        // already have room (in a storm, growing a fresh one per batch was a quarter of the
        // run: every growth faults in new pages)
        let (empty_tx, empty_rx) = sync_channel::<Vec<Finding>>(8);
        let sinks = opts.sinks.as_deref();
        let writer = std::thread::Builder::new()
            .name("replay-write".into())
            .spawn_scoped(s, move || -> io::Result<()> {
                let mut buf = Vec::new();
                for mut batch in found_rx {
                    write_findings(&mut batch, &mut buf, out, progress, sinks)?;
                    let _ = empty_tx.try_send(batch);
                }
                out.flush()
            })
            .map_err(ReplayError::Output)?;
        // hand the findings so far to the writer; false once it has stopped (its error is
        // returned when it is joined)
        let send = |findings: &mut Vec<Finding>| -> bool {
            if findings.is_empty() {
                return true;
            }
            let next = empty_rx.try_recv().unwrap_or_default();
            found_tx.send(std::mem::replace(findings, next)).is_ok()
        };
        let work_rx = Arc::new(Mutex::new(work_rx));
        let raw = progress.raw_bytes.clone();
        let reader = std::thread::Builder::new().name("replay-read".into());
        let spawned = reader.spawn_scoped(s, move || {
            let mut seq = 0u64;
            for (rank, input) in (0u32..).zip(&opts.inputs) {
                let mut stop = false;
                read_input(input, opts.read, &raw, &mut |piece| {
                    if !stop && work_tx.send((seq, rank, piece)).is_err() {
                        stop = true;
                    }
                    seq += 1;
                });
                if stop {
                    return;
                }
            }
        });
        spawned.map_err(ReplayError::Output)?;
        for i in 0..threads {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            let dec = &dec;
            std::thread::Builder::new()
                .name(format!("replay-decode-{i}"))
                .spawn_scoped(s, move || worker(&rx, &tx, dec))
                .map_err(ReplayError::Output)?;
        }
        drop(done_tx);
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, Batch> = BTreeMap::new();
        let mut failed: Option<ReplayError> = None;
        'batches: for (seq, batch) in done_rx.iter() {
            waiting.insert(seq, batch);
            while let Some(batch) = waiting.remove(&next) {
                next += 1;
                let r = apply(
                    batch,
                    opts,
                    &mut engine,
                    &mut summary,
                    &mut findings,
                    errlog,
                    &mut shown,
                );
                if !send(&mut findings) {
                    break 'batches;
                }
                if let Err(e) = r {
                    failed = Some(e);
                    break 'batches;
                }
            }
            progress
                .events
                .store(engine.events_seen(), Ordering::Relaxed);
        }
        drop(done_rx);
        if failed.is_none() {
            engine.flush(&mut findings);
            send(&mut findings);
        }
        drop(found_tx);
        let written = writer.join().expect("the writer thread does not panic");
        match failed {
            Some(e) => Err(e),
            None => written.map_err(ReplayError::Output),
        }
    });
    result?;
    if shown < summary.errors() as usize {
        let _ = writeln!(
            errlog,
            "... {} more input errors not shown (counted in the summary; raise --max-error-lines to see them)",
            summary.errors() as usize - shown
        );
    }
    summary.engine = engine.stats();
    summary.state = engine.state_sizes();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn worker(
    rx: &Mutex<Receiver<(u64, u32, Piece)>>,
    tx: &std::sync::mpsc::SyncSender<(u64, Batch)>,
    dec: &DecodeOptions,
) {
    loop {
        let msg = rx.lock().map(|r| r.recv());
        let Ok(Ok((seq, rank, piece))) = msg else {
            return;
        };
        if tx.send((seq, dec.decode(piece, rank))).is_err() {
            return;
        }
    }
}

fn apply(
    batch: Batch,
    opts: &ReplayOptions,
    engine: &mut Engine,
    summary: &mut Summary,
    findings: &mut Vec<Finding>,
    errlog: &mut dyn Write,
    shown: &mut usize,
) -> Result<(), ReplayError> {
    summary.bytes += batch.bytes;
    summary.filtered += batch.filtered;
    for e in &batch.errors {
        if opts.strict {
            return Err(ReplayError::Strict(e.to_string()));
        }
        *summary
            .errors_by_reason
            .entry(e.error.reason.name())
            .or_default() += 1;
        if *shown < opts.max_error_lines {
            *shown += 1;
            let _ = writeln!(errlog, "{e}");
        }
    }
    for r in batch.records {
        match r {
            Record::Event(ev) => {
                *summary
                    .records_by_format
                    .entry(ev.format.name())
                    .or_default() += 1;
                engine.push(ev, findings);
            }
            Record::Approval(a) => {
                *summary
                    .records_by_format
                    .entry(Format::Approval.name())
                    .or_default() += 1;
                engine.push_approval(*a);
            }
            Record::Skipped(what) => *summary.skipped.entry(what).or_default() += 1,
        }
    }
    Ok(())
}

/// Write `findings` (leaving the vector empty), serialised through `buf`: serde_json writes a
/// finding in a few hundred small pieces, each a virtual call through `dyn Write`, so they go to
/// `out` a megabyte at a time. `buf` is kept across calls (its pages stay mapped); it is left
/// empty when this returns `Ok`.
fn write_findings(
    findings: &mut Vec<Finding>,
    buf: &mut Vec<u8>,
    out: &mut dyn Write,
    progress: &Progress,
    sinks: Option<&crate::alerts::sinks::Sinks>,
) -> io::Result<()> {
    const FLUSH_AT: usize = 1 << 20;
    for f in findings.drain(..) {
        serde_json::to_writer(&mut *buf, &f)?;
        buf.push(b'\n');
        if let Some(s) = sinks {
            s.write(&f)?;
        }
        if buf.len() >= FLUSH_AT {
            out.write_all(buf)?;
            buf.clear();
        }
        progress.findings.fetch_add(1, Ordering::Relaxed);
    }
    out.write_all(buf)?;
    buf.clear();
    Ok(())
}

#[cfg(test)]
mod tests;

//! A file source: one rotation-safe tailer over the source's globs, one engine, one state file.
//! Positions are saved with the engine state, so a restart reads on exactly where the processed
//! data ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::publish::Publisher;
use super::shard::Shard;
use super::Shared;
use crate::config::{FileSource, Source};
use crate::decode::{DecodeError, InputError};
use crate::event::Origin;
use crate::replay::Batch;
use crate::sources::tail::{Item, Position, TailOptions, Tailer};

/// How long one poll waits for new data: also how quickly a stop or a reload is noticed.
const POLL: Duration = Duration::from_millis(100);

pub fn run(shared: &Arc<Shared>, source: &Source, f: &FileSource) -> Result<(), String> {
    let (mut shard, positions) = Shard::open::<Vec<Position>>(shared, &source.name, "files")
        .map_err(|e| format!("state: {e}"))?;
    let restored = positions.unwrap_or_default();
    let opts = TailOptions {
        patterns: f.paths.clone(),
        start_at: f.start_at,
        rescan: Duration::from_millis(f.rescan as u64),
        max_line: f.max_line_bytes,
        fingerprint_bytes: 1024,
    };
    let mut tailer = Tailer::new(opts, restored).map_err(|e| format!("tail: {e}"))?;
    shared.set_ready(&source.name, true);
    let mut generation = 0;
    let mut dec_opts = shared
        .loaded()
        .decode_options(source.format.as_deref(), f.max_line_bytes);
    let mut decoder = dec_opts.decoder();
    let mut batch = Batch::default();
    let mut gauges = TailGauges::new(&source.name);
    loop {
        let stopping = shared.stopping();
        let loaded = shared.loaded();
        if loaded.generation != generation {
            generation = loaded.generation;
            dec_opts = loaded.decode_options(source.format.as_deref(), f.max_line_bytes);
            decoder = dec_opts.decoder();
        }
        if stopping {
            // stop reading: everything read so far has been processed, save it all
            shard
                .checkpoint(&tailer.positions())
                .map_err(|e| format!("checkpoint: {e}"))?;
            tracing::info!(source = %source.name, records = shard.stats.records, "file source stopped");
            return Ok(());
        }
        tailer
            .poll(POLL, &mut |item| match item {
                Item::Line {
                    path,
                    line,
                    offset,
                    text,
                } => {
                    let origin = Origin::File {
                        path: path.clone(),
                        line,
                        offset,
                    };
                    if !text.iter().all(u8::is_ascii_whitespace) {
                        dec_opts.one(&decoder, &mut batch, text, origin, 0);
                    }
                    for r in batch.records.drain(..) {
                        shard.push(r);
                    }
                }
                Item::Error {
                    path,
                    offset,
                    message,
                } => batch.errors.push(InputError {
                    origin: Origin::File {
                        path: path.clone(),
                        line: 0,
                        offset,
                    },
                    error: DecodeError::new(crate::decode::Reason::Io, message),
                }),
            })
            .map_err(|e| format!("tail: {e}"))?;
        super::report_errors(shared, &source.name, &mut batch.errors);
        let now = Instant::now();
        gauges.publish(&tailer, now);
        crate::telemetry::metrics()
            .checkpoint_age
            .with_label_values(&[&source.name])
            .set(shard.unsaved_for(now).as_secs_f64());
        Publisher::watermark(&source.name, shard.engine.watermark());
        shard.tick(now);
        shard.emit().map_err(|e| format!("sink: {e}"))?;
        if shard.checkpoint_due(now) {
            shard
                .checkpoint(&tailer.positions())
                .map_err(|e| format!("checkpoint: {e}"))?;
        }
    }
}

/// Lines and bytes read (every loop) and per-file lag in bytes (every second) for the metrics.
struct TailGauges {
    source: String,
    lines: u64,
    bytes: u64,
    files: Vec<Arc<str>>,
    last_lag: Option<Instant>,
}

impl TailGauges {
    fn new(source: &str) -> TailGauges {
        TailGauges {
            source: source.to_string(),
            lines: 0,
            bytes: 0,
            files: Vec::new(),
            last_lag: None,
        }
    }

    fn publish(&mut self, tailer: &Tailer, now: Instant) {
        let m = crate::telemetry::metrics();
        let s = tailer.stats();
        let src = self.source.as_str();
        m.records_read
            .with_label_values(&[src])
            .inc_by(s.lines.saturating_sub(self.lines));
        m.bytes_read
            .with_label_values(&[src])
            .inc_by(s.bytes.saturating_sub(self.bytes));
        (self.lines, self.bytes) = (s.lines, s.bytes);
        if self
            .last_lag
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_lag = Some(now);
        let lag = tailer.lag();
        for gone in self
            .files
            .iter()
            .filter(|f| !lag.iter().any(|(p, _)| p == *f))
        {
            let _ = m.tail_lag.remove_label_values(&[src, gone]);
        }
        for (path, bytes) in &lag {
            m.tail_lag
                .with_label_values(&[src, path])
                .set(*bytes as i64);
        }
        self.files = lag.into_iter().map(|(p, _)| p).collect();
    }
}

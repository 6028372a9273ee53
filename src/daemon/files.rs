//! A file source: one rotation-safe tailer over the source's globs, one engine, one state file.
//! Positions are saved with the engine state, so a restart reads on exactly where the processed
//! data ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let dir = shared.state_dir(&source.name);
    let (mut shard, positions) =
        Shard::open::<Vec<Position>>(shared, &dir, "files").map_err(|e| format!("state: {e}"))?;
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
                        dec_opts.one(&mut decoder, &mut batch, text, origin);
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
        shard.tick(now);
        shard.emit().map_err(|e| format!("sink: {e}"))?;
        if shard.checkpoint_due(now) {
            shard
                .checkpoint(&tailer.positions())
                .map_err(|e| format!("checkpoint: {e}"))?;
        }
    }
}

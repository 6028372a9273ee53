//! A shard: one engine with its own state file, fed by one stream (a file source's files, one
//! Kafka partition).
//!
//! Exactly-once findings across restarts rest on two files in the state directory:
//! - `<name>.state.json`: the engine snapshot together with the source positions it covers,
//!   written atomically (temporary file, fsync, rename, fsync of the directory). A restart
//!   restores the state and re-reads from those positions, so a pattern spanning the restart is
//!   still found.
//! - `<name>.emitted`: the uid of every finding emitted since that snapshot, appended after the
//!   finding reached the sinks. Re-reading after a crash raises those findings again; their uids
//!   are found here and they are not emitted twice. Each snapshot rewrites the file with only
//!   the uids carried over from before a crash that have not been raised again yet: the re-read
//!   may still be behind them when the first snapshot after the restart is taken.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::publish::Publisher;
use super::{Loaded, Shared};
use crate::alerts::finding::Finding;
use crate::decode::Record;
use crate::engine::{Engine, Snapshot};
use crate::event::Millis;

/// 2: open findings (suppression periods) replaced the last-raised times
/// 3: events carry their input position (the total order); identity keys carry their system
const VERSION: u32 = 3;

#[derive(Serialize, Deserialize)]
struct StateFile<P> {
    version: u32,
    shard: String,
    /// wall-clock time of the save (for people reading the file)
    saved_at: String,
    positions: P,
    engine: Snapshot,
    /// where each file sink ended when the snapshot was taken
    #[serde(default)]
    sinks: Vec<(PathBuf, u64)>,
}

/// Counters a shard keeps for the metrics and logs.
#[derive(Debug, Default, Clone)]
pub struct ShardStats {
    pub records: u64,
    pub findings_emitted: u64,
    /// findings raised again after a restart and already emitted before it
    pub findings_replayed: u64,
    pub checkpoints: u64,
}

pub struct Shard {
    pub name: String,
    state_path: PathBuf,
    journal: File,
    journal_path: PathBuf,
    /// uids emitted since the last snapshot
    emitted: HashSet<String>,
    /// uids emitted before a crash (read from the journal at start) not raised again yet
    carried: HashSet<String>,
    pub engine: Engine,
    generation: u64,
    approvals_seen: usize,
    shared: Arc<Shared>,
    /// wall-clock time of the last record taken (for idleness)
    last_input: Instant,
    last_checkpoint: Instant,
    /// how long the last checkpoint took (it grows with the state)
    checkpoint_cost: std::time::Duration,
    dirty: bool,
    pub stats: ShardStats,
    found: Vec<Finding>,
    publish: Publisher,
}

impl Shard {
    /// Open the shard `name` of `source` in the source's state directory, restoring its last
    /// snapshot if there is one; returns the positions saved with it.
    pub fn open<P: DeserializeOwned>(
        shared: &Arc<Shared>,
        source: &str,
        name: &str,
    ) -> io::Result<(Shard, Option<P>)> {
        let dir = &shared.state_dir(source);
        fs::create_dir_all(dir)?;
        let file_name = name.replace(['/', '\\'], "_");
        let state_path = dir.join(format!("{file_name}.state.json"));
        let journal_path = dir.join(format!("{file_name}.emitted"));
        let loaded = shared.loaded();
        let mut engine = new_engine(shared, &loaded);
        let mut positions = None;
        let mut sink_marks = Vec::new();
        match fs::read(&state_path) {
            Ok(bytes) => {
                let saved: StateFile<P> = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: unreadable state snapshot ({e}); move it away to start this source afresh",
                            state_path.display()
                        ),
                    )
                })?;
                if saved.version != VERSION {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: snapshot version {} (this build reads {VERSION}); move it away to start this source afresh",
                            state_path.display(),
                            saved.version
                        ),
                    ));
                }
                let report = engine.restore(saved.engine).map_err(io::Error::other)?;
                tracing::info!(
                    shard = name,
                    saved_at = %saved.saved_at,
                    kept = report.kept.len(),
                    fresh = ?report.fresh,
                    dropped = ?report.dropped,
                    "restored detector state"
                );
                positions = Some(saved.positions);
                sink_marks = saved.sinks;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut carried = read_journal(&journal_path)?;
        // the journal is written after the sink: findings a crash caught in between are in a
        // file sink past its mark, not in the journal
        carried.extend(shared.sinks.uids_since(&sink_marks));
        if !carried.is_empty() {
            tracing::info!(
                shard = name,
                findings = carried.len(),
                "findings emitted after the last snapshot will not be emitted again"
            );
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)?;
        let now = Instant::now();
        let publish = Publisher::new(source, &engine);
        Ok((
            Shard {
                name: name.to_string(),
                state_path,
                journal,
                journal_path,
                emitted: HashSet::new(),
                carried,
                engine,
                generation: loaded.generation,
                approvals_seen: 0,
                shared: shared.clone(),
                last_input: now,
                last_checkpoint: now,
                checkpoint_cost: std::time::Duration::ZERO,
                dirty: false,
                stats: ShardStats::default(),
                found: Vec::new(),
                publish,
            },
            positions,
        ))
    }

    /// The shard `name` with empty state and no journal, replacing whatever was saved.
    pub fn fresh(shared: &Arc<Shared>, source: &str, name: &str) -> io::Result<Shard> {
        let dir = shared.state_dir(source);
        let file_name = name.replace(['/', '\\'], "_");
        for ext in ["state.json", "emitted"] {
            match fs::remove_file(dir.join(format!("{file_name}.{ext}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(Shard::open::<serde_json::Value>(shared, source, name)?.0)
    }

    /// Take one decoded record. Approvals go to every shard of the daemon.
    pub fn push(&mut self, record: Record) {
        self.stats.records += 1;
        self.last_input = Instant::now();
        self.dirty = true;
        match record {
            Record::Event(ev) => {
                self.publish.event(ev.format.name());
                self.sync_approvals();
                self.engine.push(ev, &mut self.found);
            }
            Record::Approval(a) => {
                self.shared.approvals.publish(*a);
                self.sync_approvals();
            }
            Record::Skipped(_) => {}
        }
    }

    fn sync_approvals(&mut self) {
        let engine = &mut self.engine;
        self.approvals_seen = self
            .shared
            .approvals
            .since(self.approvals_seen, |a| engine.push_approval(a.clone()));
    }

    /// Idle handling, reloads and metrics; call often (every loop of the source).
    pub fn tick(&mut self, now: Instant) {
        self.publish.publish(&self.engine, Some(now));
        let loaded = self.shared.loaded();
        if loaded.generation != self.generation {
            self.reload(&loaded);
        }
        let idle = now.saturating_duration_since(self.last_input);
        let idle_ms = idle.as_millis() as Millis;
        if idle_ms >= self.shared.config.idle_timeout && self.engine.max_seen() > Millis::MIN {
            // event time is taken to move with the wall clock while the stream is quiet
            let wm = self
                .engine
                .max_seen()
                .saturating_add(idle_ms)
                .saturating_sub(self.shared.config.lateness);
            self.advance_idle(wm);
        }
    }

    /// Quiet stream: release held events and move the watermark to `wm`.
    pub fn advance_idle(&mut self, wm: Millis) {
        if wm > self.engine.watermark() || self.engine.buffered() > 0 {
            self.sync_approvals();
            self.engine.advance_idle(wm, &mut self.found);
            self.dirty = true;
        }
    }

    /// How long state has been waiting to be saved (zero when everything is saved).
    pub fn unsaved_for(&self, now: Instant) -> std::time::Duration {
        if self.dirty {
            now.saturating_duration_since(self.last_checkpoint)
        } else {
            std::time::Duration::ZERO
        }
    }

    pub fn idle_for(&self, now: Instant) -> std::time::Duration {
        now.saturating_duration_since(self.last_input)
    }

    /// Put the detectors and inventory of a new generation in place, keeping the state of every
    /// detector that did not change.
    fn reload(&mut self, loaded: &Loaded) {
        let snap = match self.engine.snapshot() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(shard = %self.name, "reload: cannot save state ({e}); keeping the old detectors");
                return;
            }
        };
        let mut engine = new_engine(&self.shared, loaded);
        match engine.restore(snap) {
            Ok(r) => {
                tracing::info!(shard = %self.name, generation = loaded.generation, kept = r.kept.len(), fresh = ?r.fresh, dropped = ?r.dropped, "detectors reloaded");
                self.engine = engine;
                self.generation = loaded.generation;
                self.dirty = true;
            }
            Err(e) => {
                tracing::error!(shard = %self.name, "reload: cannot restore state ({e}); keeping the old detectors")
            }
        }
    }

    /// Send the findings raised so far to the sinks, each record (Create or Update, by
    /// `metadata.uid`) once across restarts.
    pub fn emit(&mut self) -> io::Result<()> {
        for f in self.found.drain(..) {
            let uid = &f.metadata.uid;
            if self.carried.remove(uid) || self.emitted.contains(uid) {
                self.stats.findings_replayed += 1;
                continue;
            }
            self.shared.sinks.write(&f)?;
            self.publish.emitted(&f);
            self.journal.write_all(format!("{uid}\n").as_bytes())?;
            self.emitted.insert(uid.clone());
            self.stats.findings_emitted += 1;
        }
        Ok(())
    }

    /// Is a checkpoint due (something changed and the interval has passed)?
    /// A checkpoint is due `checkpoint_interval` after the last one, or later when state is
    /// large: `CHECKPOINT_SHARE_INVERSE - 1` times as long as the last snapshot took to write,
    /// so saving state costs at most about 1/CHECKPOINT_SHARE_INVERSE of the shard's time
    /// however big its windows grow (a snapshot is the whole state: 1M keys is hundreds of MB),
    /// but never more than `MAX_CHECKPOINT_SPACING` (well inside the CheckpointStale alert's 5
    /// minutes, and one slow disk write does not delay the next by minutes).
    pub fn checkpoint_due(&self, now: Instant) -> bool {
        let by_cost =
            (self.checkpoint_cost * (CHECKPOINT_SHARE_INVERSE - 1)).min(MAX_CHECKPOINT_SPACING);
        let every = std::time::Duration::from_millis(self.shared.config.checkpoint_interval as u64)
            .max(by_cost);
        self.dirty && now.saturating_duration_since(self.last_checkpoint) >= every
    }

    /// Save the engine with `positions` (which must cover exactly the records pushed so far),
    /// then forget the emitted uids the snapshot now covers.
    pub fn checkpoint<P: Serialize>(&mut self, positions: &P) -> io::Result<()> {
        self.emit()?;
        // the snapshot's own cost (a slow sink in emit() must not space checkpoints out)
        let started = Instant::now();
        let file = StateFile {
            version: VERSION,
            shard: self.name.clone(),
            saved_at: crate::time::format_rfc3339(crate::time::now_millis()),
            positions,
            engine: self.engine.snapshot().map_err(io::Error::other)?,
            sinks: self.shared.sinks.file_marks(),
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        write_atomic(&self.state_path, &bytes)?;
        // the snapshot covers what was emitted since the last one; what was emitted before a
        // crash and not raised again yet must still be recognised
        if self.carried.is_empty() {
            self.journal.set_len(0)?;
            self.journal.sync_data()?;
        } else {
            let mut carried: Vec<&String> = self.carried.iter().collect();
            carried.sort();
            let text: String = carried.iter().map(|u| format!("{u}\n")).collect();
            write_atomic(&self.journal_path, text.as_bytes())?;
            self.journal = OpenOptions::new().append(true).open(&self.journal_path)?;
        }
        self.emitted.clear();
        self.dirty = false;
        self.last_checkpoint = Instant::now();
        self.checkpoint_cost = self.last_checkpoint.saturating_duration_since(started);
        self.stats.checkpoints += 1;
        self.publish.publish(&self.engine, None);
        crate::telemetry::metrics()
            .checkpoints
            .with_label_values(&[self.publish.source()])
            .inc();
        Ok(())
    }
}

/// Checkpoints take at most about one part in this many of a shard's time.
const CHECKPOINT_SHARE_INVERSE: u32 = 20;
/// Checkpoints of a large state are spaced by their cost up to this.
const MAX_CHECKPOINT_SPACING: std::time::Duration = std::time::Duration::from_secs(60);

fn new_engine(shared: &Shared, loaded: &Loaded) -> Engine {
    Engine::new(&loaded.detectors, shared.config.lateness)
        .with_hold(shared.config.hold)
        .with_inventory(loaded.inventory.clone())
}

/// The uids in the emitted journal. A last uid a crash cut short names no finding: it is cut
/// first (so that the uids appended next start on a line of their own).
fn read_journal(path: &Path) -> io::Result<HashSet<String>> {
    crate::alerts::sinks::spool::cut_torn_tail(path)?;
    match File::open(path) {
        Ok(f) => BufReader::new(f)
            .lines()
            .filter(|l| !l.as_ref().is_ok_and(|l| l.is_empty()))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // the rename itself must reach the disk
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

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
//!   are found here and they are not emitted twice. The file is emptied at each snapshot.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Loaded, Shared};
use crate::alerts::finding::Finding;
use crate::decode::Record;
use crate::engine::{Engine, Snapshot};
use crate::event::Millis;

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StateFile<P> {
    version: u32,
    shard: String,
    /// wall-clock time of the save (for people reading the file)
    saved_at: String,
    positions: P,
    engine: Snapshot,
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
    emitted: HashSet<String>,
    pub engine: Engine,
    generation: u64,
    approvals_seen: usize,
    shared: Arc<Shared>,
    /// wall-clock time of the last record taken (for idleness)
    last_input: Instant,
    last_checkpoint: Instant,
    dirty: bool,
    pub stats: ShardStats,
    found: Vec<Finding>,
}

impl Shard {
    /// Open the shard `name` in the state directory, restoring its last snapshot if there is one;
    /// returns the positions saved with it.
    pub fn open<P: DeserializeOwned>(
        shared: &Arc<Shared>,
        dir: &Path,
        name: &str,
    ) -> io::Result<(Shard, Option<P>)> {
        fs::create_dir_all(dir)?;
        let file_name = name.replace(['/', '\\'], "_");
        let state_path = dir.join(format!("{file_name}.state.json"));
        let journal_path = dir.join(format!("{file_name}.emitted"));
        let loaded = shared.loaded();
        let mut engine = new_engine(shared, &loaded);
        let mut positions = None;
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
                            "{}: snapshot version {} (this build reads {VERSION})",
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
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let emitted = read_journal(&journal_path)?;
        if !emitted.is_empty() {
            tracing::info!(
                shard = name,
                findings = emitted.len(),
                "findings emitted after the last snapshot will not be emitted again"
            );
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal_path)?;
        let now = Instant::now();
        Ok((
            Shard {
                name: name.to_string(),
                state_path,
                journal,
                emitted,
                engine,
                generation: loaded.generation,
                approvals_seen: 0,
                shared: shared.clone(),
                last_input: now,
                last_checkpoint: now,
                dirty: false,
                stats: ShardStats::default(),
                found: Vec::new(),
            },
            positions,
        ))
    }

    /// The shard `name` with empty state and no journal, replacing whatever was saved.
    pub fn fresh(shared: &Arc<Shared>, dir: &Path, name: &str) -> io::Result<Shard> {
        let file_name = name.replace(['/', '\\'], "_");
        for ext in ["state.json", "emitted"] {
            match fs::remove_file(dir.join(format!("{file_name}.{ext}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(Shard::open::<serde_json::Value>(shared, dir, name)?.0)
    }

    /// Take one decoded record. Approvals go to every shard of the daemon.
    pub fn push(&mut self, record: Record) {
        self.stats.records += 1;
        self.last_input = Instant::now();
        self.dirty = true;
        match record {
            Record::Event(ev) => {
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

    /// Idle handling and reloads; call often (every loop of the source).
    pub fn tick(&mut self, now: Instant) {
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
            if self.emitted.contains(uid) {
                self.stats.findings_replayed += 1;
                continue;
            }
            self.shared.sinks.write(&f)?;
            self.journal.write_all(format!("{uid}\n").as_bytes())?;
            self.emitted.insert(uid.clone());
            self.stats.findings_emitted += 1;
        }
        Ok(())
    }

    /// Is a checkpoint due (something changed and the interval has passed)?
    pub fn checkpoint_due(&self, now: Instant) -> bool {
        let every = std::time::Duration::from_millis(self.shared.config.checkpoint_interval as u64);
        self.dirty && now.saturating_duration_since(self.last_checkpoint) >= every
    }

    /// Save the engine with `positions` (which must cover exactly the records pushed so far),
    /// then forget the emitted-uid journal the snapshot now covers.
    pub fn checkpoint<P: Serialize>(&mut self, positions: &P) -> io::Result<()> {
        self.emit()?;
        let file = StateFile {
            version: VERSION,
            shard: self.name.clone(),
            saved_at: crate::time::format_rfc3339(wall_clock_now()),
            positions,
            engine: self.engine.snapshot().map_err(io::Error::other)?,
        };
        let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
        write_atomic(&self.state_path, &bytes)?;
        self.journal.set_len(0)?;
        self.journal.sync_data()?;
        self.emitted.clear();
        self.dirty = false;
        self.last_checkpoint = Instant::now();
        self.stats.checkpoints += 1;
        Ok(())
    }
}

fn new_engine(shared: &Shared, loaded: &Loaded) -> Engine {
    Engine::new(&loaded.detectors, shared.config.lateness)
        .with_hold(shared.config.hold)
        .with_inventory(loaded.inventory.clone())
}

fn wall_clock_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

fn read_journal(path: &Path) -> io::Result<HashSet<String>> {
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

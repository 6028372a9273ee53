//! Live tail of log files matched by globs: follows them through rename and copytruncate
//! rotation, deletion and compression, delivers each complete line once, and gives positions to
//! checkpoint so a restart neither repeats nor loses a line.
//!
//! One thread drives a [`Tailer`] by calling [`Tailer::poll`]. notify (inotify on Linux) wakes it
//! on changes; a periodic rescan of the globs covers what notify misses. A file is known by
//! (dev, ino) and by its first bytes, so a copy, a renamed copy or a compressed copy of content
//! already read resumes where the original stopped.

mod file;
mod identity;
mod lines;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use file::{Check, Tracked};
use identity::{best, Head, Known, Retired};
use lines::{Lines, Out};
use watch::{Change, Watch};

/// Where to start reading files that exist when the tailer first starts without a checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

/// What to tail and how.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// file paths and globs, e.g. `/var/log/kube-audit/*.log*`
    pub patterns: Vec<String>,
    /// only for files that exist at the first start with no checkpoint; files appearing later
    /// (rotation, new files) are always read from their start
    pub start_at: StartAt,
    /// rescan of the globs even without notify events; zero rescans at every poll
    pub rescan: Duration,
    /// longer lines are reported as one [`Item::Error`] and skipped to their newline
    pub max_line: usize,
    /// how many leading bytes identify a file's content
    pub fingerprint_bytes: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            patterns: Vec::new(),
            start_at: StartAt::Beginning,
            rescan: Duration::from_secs(1),
            max_line: 1 << 20,
            fingerprint_bytes: 1024,
        }
    }
}

/// Persistable position of one file: what has been delivered (and so processed) ends at
/// `offset`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Position {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    /// xxh3 of the first `fingerprint_len` bytes (decompressed for gzip)
    pub fingerprint: u64,
    pub fingerprint_len: u32,
    pub offset: u64,
    /// lines before `offset`, when counted from the start of the file
    #[serde(default)]
    pub lines: Option<u64>,
    pub gzip: bool,
    /// a gzip file read whole
    pub done: bool,
}

/// What the tailer hands over.
#[derive(Debug)]
pub enum Item<'a> {
    Line {
        path: &'a Arc<str>,
        /// 1-based, counted from the start of the file when known, else from the resume point
        line: u64,
        /// byte offset of the line start (decompressed for gzip)
        offset: u64,
        /// without the newline
        text: &'a [u8],
    },
    /// an unreadable file, an overlong line, a bad gzip stream
    Error {
        path: &'a Arc<str>,
        offset: u64,
        message: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailStats {
    /// bytes of delivered lines, newlines included
    pub bytes: u64,
    pub lines: u64,
    /// tracked files found under another name or renamed out of the globs
    pub rotations: u64,
    /// tracked files truncated or given other content under the same inode
    pub truncations: u64,
    /// files read from the offset of content already read elsewhere (copies, gzip of a rotated file)
    pub recognised: u64,
    pub files_open: usize,
    pub files_tracked: usize,
    /// identities of files no longer tracked, kept to recognise their copies
    pub remembered: usize,
    /// remembered identities dropped for the cap
    pub forgotten: u64,
    pub errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("invalid glob patterns:\n  {}", .0.join("\n  "))]
    Patterns(Vec<String>),
    #[error("cannot start change notification")]
    Notify(#[source] notify::Error),
}

/// A file found by a scan (or whose content was replaced) and not tracked yet.
struct Candidate {
    path: Arc<str>,
    id: (u64, u64),
    file: File,
    gzip: bool,
    /// the first `fingerprint_bytes` bytes, decompressed for gzip
    prefix: Vec<u8>,
    /// size on disk
    size: u64,
}

/// Where a candidate starts.
enum Start {
    Fresh,
    /// at an offset, with the lines before it when known, or done (a gzip read whole)
    At(u64, Option<u64>, bool),
    /// it looks like a copy still being written, or a copy of a file still being read: decide
    /// once that has settled
    Later,
}

pub struct Tailer {
    opts: TailOptions,
    files: BTreeMap<(u64, u64), Tracked>,
    retired: Retired,
    /// checkpointed positions, until the first scan has matched them to files
    restored: Vec<Position>,
    /// candidates waiting for a copy to settle, since when
    deferred: HashMap<(u64, u64), Instant>,
    /// paths that failed to open and the error reported, so each cause is reported once
    failed: HashMap<PathBuf, String>,
    /// errors found while constructing, delivered at the first poll
    queued: Vec<(Arc<str>, u64, String)>,
    watch: Watch,
    next_rescan: Instant,
    /// the first scan of a first start: `start_at` applies
    first: bool,
    stats: TailStats,
    /// order in which files were first tracked
    seq: u64,
    buf: Vec<u8>,
}

impl Tailer {
    /// `restored`: positions from the last checkpoint (empty on first start).
    pub fn new(opts: TailOptions, restored: Vec<Position>) -> Result<Tailer, TailError> {
        let bad: Vec<String> = (opts.patterns.iter())
            .filter_map(|p| glob::Pattern::new(p).err().map(|e| format!("{p}: {e}")))
            .collect();
        if !bad.is_empty() {
            return Err(TailError::Patterns(bad));
        }
        let watch = Watch::new(&opts.patterns).map_err(TailError::Notify)?;
        let mut t = Tailer {
            first: restored.is_empty(),
            opts,
            files: BTreeMap::new(),
            retired: Retired::default(),
            restored,
            deferred: HashMap::new(),
            failed: HashMap::new(),
            queued: Vec::new(),
            watch,
            next_rescan: Instant::now(),
            stats: TailStats::default(),
            seq: 0,
            buf: vec![0; 64 << 10],
        };
        let mut queued = Vec::new();
        let mut keep = |item: Item| {
            if let Item::Error {
                path,
                offset,
                message,
            } = item
            {
                queued.push((path.clone(), offset, message));
            }
        };
        let mut out = Out::new(&mut keep);
        let candidates = t.scan(Vec::new(), &mut out);
        t.place_all(candidates);
        t.queued = queued;
        t.first = false;
        Ok(t)
    }

    /// Wait at most `timeout` for a change (notify event or rescan due), then read everything
    /// new from every tracked file, calling `on_item` for each complete line. Returns when done
    /// reading; never blocks longer than `timeout` when there is nothing to read.
    pub fn poll(&mut self, timeout: Duration, on_item: &mut dyn FnMut(Item)) -> io::Result<()> {
        let until = (Instant::now() + timeout).min(self.next_rescan);
        let change = self.watch.wait(until);
        let mut out = Out::new(on_item);
        for (path, offset, message) in std::mem::take(&mut self.queued) {
            out.error(&path, offset, message);
        }
        let mut candidates = self.refresh(&mut out);
        if change == Change::Names || Instant::now() >= self.next_rescan {
            candidates = self.scan(candidates, &mut out);
        }
        self.place_all(candidates);
        self.read_all(&mut out);
        self.stats.lines += out.lines;
        self.stats.bytes += out.bytes;
        self.stats.errors += out.errors;
        Ok(())
    }

    /// Positions to checkpoint. After `poll` returns, every line before each offset has been
    /// handed to `on_item`, so persisting these after processing gives exactly-once on restart.
    pub fn positions(&self) -> Vec<Position> {
        self.files.values().map(Tracked::position).collect()
    }

    /// Bytes appended but not yet read, per tracked plain file.
    pub fn lag(&self) -> Vec<(Arc<str>, u64)> {
        let lag = |t: &Tracked| {
            let size = t.file.as_ref()?.metadata().ok()?.len();
            Some((t.path.clone(), size.saturating_sub(t.lines.pos)))
        };
        self.files
            .values()
            .filter(|t| !t.gzip)
            .filter_map(lag)
            .collect()
    }

    pub fn stats(&self) -> TailStats {
        TailStats {
            files_open: self.files.values().filter(|t| t.file.is_some()).count(),
            files_tracked: self.files.len(),
            remembered: self.retired.len(),
            forgotten: self.retired.forgotten,
            ..self.stats.clone()
        }
    }

    /// Find tracked plain files whose content was replaced (truncated, copytruncate, inode
    /// reuse): their old content is remembered and they become candidates again.
    fn refresh(&mut self, out: &mut Out) -> Vec<Candidate> {
        let fp = self.opts.fingerprint_bytes;
        let mut replaced = Vec::new();
        for (id, t) in &mut self.files {
            if t.gzip {
                continue;
            }
            match t.check(fp) {
                Ok(Check::Same) => {}
                Ok(Check::Replaced) => replaced.push(*id),
                Err(e) => {
                    let offset = t.lines.offset;
                    t.fail(offset, format!("cannot check for truncation: {e}"), out);
                }
            }
        }
        let mut candidates = Vec::new();
        for id in replaced {
            let Some(t) = self.files.remove(&id) else {
                continue;
            };
            tracing::debug!(path = %t.path, offset = t.lines.offset, "file truncated or replaced");
            self.stats.truncations += 1;
            self.retired.push(t.known());
            if let Some(file) = t.file {
                match candidate(t.path.clone(), file, fp) {
                    Ok(c) => candidates.push(c),
                    Err(e) => out.error(&t.path, 0, format!("cannot read: {e}")),
                }
            }
        }
        candidates
    }

    /// Expand the globs: tracked files gone from them are read to their end and forgotten,
    /// renamed ones follow their new name, new ones join `candidates`.
    fn scan(&mut self, mut candidates: Vec<Candidate>, out: &mut Out) -> Vec<Candidate> {
        self.watch.refresh_dirs();
        let found = self.expand(out);
        let gone: Vec<(u64, u64)> = (self.files.keys())
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            self.finish(id, out);
        }
        self.deferred.retain(|id, _| found.contains_key(id));
        for (id, (path, meta)) in found {
            let label: Arc<str> = Arc::from(path.to_string_lossy());
            if let Some(c) = candidates.iter_mut().find(|c| c.id == id) {
                c.path = label;
                continue;
            }
            if let Some(t) = self.files.get_mut(&id) {
                if t.path != label {
                    tracing::debug!(from = %t.path, to = %label, "file renamed");
                    self.stats.rotations += 1;
                    t.path = label.clone();
                }
                // a gzip that changed since it was read: a failed read is retried, content read
                // whole is another file under the same inode; both are identified again by
                // content, so what was delivered is not delivered twice
                if !(t.gzip && t.file.is_none() && t.gz_size != Some(meta.len())) {
                    continue;
                }
                self.finish(id, out);
            }
            if let Some(c) = self.open(path, label, id, out) {
                candidates.push(c);
            }
        }
        candidates
    }

    /// Every regular file the globs match now, by identity (the first path of each).
    fn expand(&mut self, out: &mut Out) -> BTreeMap<(u64, u64), (PathBuf, fs::Metadata)> {
        let mut found = BTreeMap::new();
        // errors of paths that are gone need not be remembered
        self.failed.retain(|p, _| p.symlink_metadata().is_ok());
        for pattern in &self.opts.patterns {
            let Ok(paths) = glob::glob(pattern) else {
                continue; // checked in `new`
            };
            for entry in paths {
                let (path, meta) = match entry {
                    Ok(path) => match fs::metadata(&path) {
                        Ok(meta) => (path, meta),
                        // removed since the directory was listed
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            report(&mut self.failed, path, format!("cannot stat: {e}"), out);
                            continue;
                        }
                    },
                    Err(e) => {
                        let msg = format!("cannot list: {}", e.error());
                        report(&mut self.failed, e.path().to_path_buf(), msg, out);
                        continue;
                    }
                };
                if meta.is_file() {
                    found
                        .entry((meta.dev(), meta.ino()))
                        .or_insert((path, meta));
                }
            }
        }
        found
    }

    /// A tracked file gone from the globs (deleted, or renamed out of them): read what is left
    /// through the open handle, then close it and keep only its identity.
    fn finish(&mut self, id: (u64, u64), out: &mut Out) {
        let Some(mut t) = self.files.remove(&id) else {
            return;
        };
        if !t.gzip {
            let fp = self.opts.fingerprint_bytes;
            t.read_plain(&mut self.buf, self.opts.max_line, fp, out);
        }
        let renamed = (t.file.as_ref())
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.nlink() > 0);
        if renamed {
            self.stats.rotations += 1;
        }
        tracing::debug!(path = %t.path, offset = t.lines.offset, renamed, "file left the globs");
        self.retired.push(t.known());
    }

    /// Open a newly found file and take its first bytes; a failure is reported once per cause
    /// and retried at the next scan.
    fn open(
        &mut self,
        path: PathBuf,
        label: Arc<str>,
        id: (u64, u64),
        out: &mut Out,
    ) -> Option<Candidate> {
        let fp = self.opts.fingerprint_bytes;
        let opened = File::open(&path).and_then(|f| candidate(label, f, fp));
        match opened {
            // replaced between the listing and the open: the next scan sees the new one
            Ok(c) if c.id != id => None,
            Ok(c) => {
                self.failed.remove(&path);
                Some(c)
            }
            Err(e) => {
                report(&mut self.failed, path, format!("cannot open: {e}"), out);
                None
            }
        }
    }

    /// Decide where each candidate starts: first by (dev, ino) against the checkpoint, then
    /// by content against everything read before.
    fn place_all(&mut self, candidates: Vec<Candidate>) {
        let mut rest = Vec::new();
        for c in candidates {
            match self.take_restored(&c) {
                Some(p) => {
                    let start = Start::At(p.offset, p.lines, p.done);
                    self.track(c, start);
                }
                None => rest.push(c),
            }
        }
        // checkpointed files not found where they were: their copies may still turn up
        for p in std::mem::take(&mut self.restored) {
            self.retired.push(restored_known(&p));
        }
        let now = Instant::now();
        for c in rest {
            let start = self.by_content(&c, now);
            match start {
                Start::Later => {
                    self.deferred.entry(c.id).or_insert(now);
                }
                start => {
                    self.deferred.remove(&c.id);
                    self.track(c, start);
                }
            }
        }
    }

    /// The checkpointed position of this very file: same (dev, ino) and the same first bytes.
    fn take_restored(&mut self, c: &Candidate) -> Option<Position> {
        let i = (self.restored.iter()).position(|p| (p.dev, p.ino) == c.id)?;
        let p = &self.restored[i];
        let len = p.fingerprint_len as usize;
        let same = len <= c.prefix.len()
            && xxh3_64(&c.prefix[..len]) == p.fingerprint
            && p.gzip == c.gzip
            && (c.gzip || p.offset <= c.size);
        // not the same: it stays among `restored` and is remembered by content
        same.then(|| self.restored.remove(i))
    }

    /// Where content-wise a candidate starts: at the offset of content it continues (a copy,
    /// a compressed copy), else fresh.
    fn by_content(&mut self, c: &Candidate, now: Instant) -> Start {
        let live: Vec<Known> = self.files.values().map(Tracked::known).collect();
        let prefix = comparable(c, self.opts.fingerprint_bytes);
        let old = best(self.retired.iter(), prefix).map(|(k, n)| (k, n, false));
        let new = best(live.iter(), prefix).map(|(k, n)| (k, n, true));
        let Some((k, n, is_live)) = old
            .into_iter()
            .chain(new)
            .max_by_key(|(k, n, _)| (*n, k.offset))
        else {
            return Start::Fresh;
        };
        let beyond = !c.gzip && k.offset > c.size;
        let unsettled = is_live || n < k.head.len() || beyond;
        let grace = self.opts.rescan.max(Duration::from_secs(1)) * 2;
        let waited = self
            .deferred
            .get(&c.id)
            .is_some_and(|t| now.duration_since(*t) >= grace);
        if unsettled && !waited {
            return Start::Later;
        }
        tracing::debug!(path = %c.path, from = %k.path, offset = k.offset, "content read before");
        self.stats.recognised += 1;
        if beyond {
            Start::At(c.size, None, false)
        } else {
            Start::At(k.offset, k.lines, false)
        }
    }

    fn track(&mut self, c: Candidate, start: Start) {
        let (lines, done) = match start {
            Start::At(offset, lines, done) => (Lines::at(offset, lines), done && c.gzip),
            // old logs at the first start: plain files from their end, gzip not at all
            Start::Fresh if self.first && self.opts.start_at == StartAt::End => match c.gzip {
                false => (at_end(&c.file, c.size, self.opts.max_line), false),
                true => (Lines::at(0, None), true),
            },
            Start::Fresh | Start::Later => (Lines::at(0, Some(0)), false),
        };
        let t = Tracked {
            path: c.path,
            id: c.id,
            file: (!done).then_some(c.file),
            gzip: c.gzip,
            done,
            head: c.prefix,
            lines,
            // a gzip read whole before the restart is not read again while its size stays
            gz_size: done.then_some(c.size),
            error: None,
            seq: self.seq,
        };
        self.seq += 1;
        self.files.insert(c.id, t);
    }

    fn read_all(&mut self, out: &mut Out) {
        let (max_line, fp) = (self.opts.max_line, self.opts.fingerprint_bytes);
        // the oldest tracked first: a file renamed by rotation before the one that replaced it
        let mut files: Vec<&mut Tracked> = self.files.values_mut().collect();
        files.sort_by_key(|t| t.seq);
        for t in files {
            match (t.gzip, t.done) {
                (false, _) => t.read_plain(&mut self.buf, max_line, fp, out),
                (true, false) => t.read_gzip(&mut self.buf, max_line, out),
                (true, true) => {}
            }
        }
    }
}

fn candidate(path: Arc<str>, file: File, fp: usize) -> io::Result<Candidate> {
    let meta = file.metadata()?;
    let gzip = file::is_gzip(&file)?;
    let prefix = file::read_prefix(&file, gzip, fp)?;
    Ok(Candidate {
        path,
        id: (meta.dev(), meta.ino()),
        file,
        gzip,
        prefix,
        size: meta.len(),
    })
}

/// The part of a candidate's first bytes to compare: a plain file shorter than the fingerprint
/// is compared on its complete lines only, so a new file caught in the middle of its first line
/// is not taken for a copy of another file whose lines begin the same way.
fn comparable(c: &Candidate, fp: usize) -> &[u8] {
    if c.gzip || c.prefix.len() >= fp {
        return &c.prefix;
    }
    memchr::memrchr(b'\n', &c.prefix).map_or(&[], |nl| &c.prefix[..=nl])
}

fn restored_known(p: &Position) -> Known {
    Known {
        head: Head::Hash {
            hash: p.fingerprint,
            len: p.fingerprint_len as usize,
        },
        offset: p.offset,
        lines: p.lines,
        path: Arc::from(p.path.as_str()),
    }
}

/// Start after the last complete line (`start_at: end`); a file whose last line is already
/// overlong starts at its end, dropping the rest of that line.
fn at_end(file: &File, size: u64, max_line: usize) -> Lines {
    let from = size.saturating_sub(max_line as u64 + 1);
    let mut tail = vec![0; (size - from) as usize];
    let got = std::os::unix::fs::FileExt::read_at(file, &mut tail, from).unwrap_or(0);
    match memchr::memrchr(b'\n', &tail[..got]) {
        Some(nl) => Lines::at(from + nl as u64 + 1, None),
        None if from == 0 => Lines::at(0, None),
        None => Lines {
            skipping: true,
            ..Lines::at(size, None)
        },
    }
}

/// Report a path's error unless the same one was reported already.
fn report(failed: &mut HashMap<PathBuf, String>, path: PathBuf, message: String, out: &mut Out) {
    if failed.get(&path) != Some(&message) {
        let label: Arc<str> = Arc::from(path.to_string_lossy());
        out.error(&label, 0, message.clone());
        failed.insert(path, message);
    }
}

#[cfg(test)]
mod tests;

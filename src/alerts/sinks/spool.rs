//! The write-ahead spool of a network sink: every finding is appended (one JSON line) to a
//! segment file under `<sink dir>/spool/` before `Sinks::write` returns; the delivery thread
//! reads it back in order and acknowledges what the receiver took. The acknowledged position
//! (`<sink dir>/cursor.json`) is saved after every acknowledgement, and segments wholly behind it
//! are deleted. A crash loses nothing that was appended; what was delivered but not yet
//! acknowledged is sent again (at least once).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::telemetry::metrics;

/// Segments roll over past this size (64 MiB).
pub const SEGMENT_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool {path} is in use by another bypassd process (a daemon, or a replay --sinks, with the same state_dir and sink name); give each its own state_dir")]
    InUse { path: PathBuf },
}

/// A place in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// One line read back.
#[derive(Debug, Clone)]
pub struct Line {
    pub bytes: Vec<u8>,
    /// where it starts (for messages) and ends (what acknowledging it saves)
    pub at: Pos,
    pub end: Pos,
}

/// What [`Spool::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Written,
    /// the spool holds `max_bytes` of undelivered findings already
    Full,
}

/// The delivery thread's read position (ahead of the acknowledged one).
pub struct Reader {
    pos: Pos,
    file: Option<(u64, BufReader<File>)>,
}

pub struct Spool {
    dir: PathBuf,
    cursor_path: PathBuf,
    name: String,
    segment_bytes: u64,
    max_bytes: u64,
    inner: Mutex<Inner>,
    /// held (flock) while the spool is open: two processes appending to and acknowledging one
    /// spool would duplicate and lose findings
    _lock: File,
}

struct Inner {
    file: File,
    head: Pos,
    acked: Pos,
    pending_records: u64,
    pending_bytes: u64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// Open (or create) the spool of sink `name` in `sink_dir`; the reader starts at the
    /// acknowledged position.
    pub fn open(
        sink_dir: &Path,
        name: &str,
        segment_bytes: u64,
        max_bytes: u64,
    ) -> Result<(Spool, Reader), SpoolError> {
        let dir = sink_dir.join("spool");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = sink_dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::InUse {
                    path: sink_dir.to_path_buf(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let cursor_path = sink_dir.join("cursor.json");
        let segments = list_segments(&dir)?;
        let mut acked = read_cursor(&cursor_path);
        for &seq in segments.iter().filter(|&&s| s < acked.segment) {
            remove_segment(&dir, name, seq);
        }
        let head_seq = segments.last().copied().unwrap_or(0).max(acked.segment);
        let head_path = segment_path(&dir, head_seq);
        let head_len = repair_tail(&head_path)?;
        if acked.segment == head_seq && acked.offset > head_len {
            tracing::warn!(sink = name, cursor = acked.offset, len = head_len, path = %head_path.display(), "spool cursor past the end of its segment; starting at the end");
            acked.offset = head_len;
        }
        let (records, bytes) = count_from(&dir, acked, head_seq)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&head_path)
            .map_err(io_err(&head_path))?;
        let inner = Inner {
            file,
            head: Pos {
                segment: head_seq,
                offset: head_len,
            },
            acked,
            pending_records: records,
            pending_bytes: bytes,
        };
        let spool = Spool {
            dir,
            cursor_path,
            name: name.to_string(),
            segment_bytes,
            max_bytes,
            inner: Mutex::new(inner),
            _lock: lock,
        };
        spool.publish(&spool.lock());
        if records > 0 {
            tracing::info!(
                sink = name,
                findings = records,
                bytes,
                "spooled findings to deliver from the last run"
            );
        }
        let reader = Reader {
            pos: acked,
            file: None,
        };
        Ok((spool, reader))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file of segment `seq` (for messages naming a line's place).
    pub fn segment_path(&self, seq: u64) -> PathBuf {
        segment_path(&self.dir, seq)
    }

    /// Append one record (a JSON document without newlines).
    pub fn append(&self, record: &[u8]) -> Result<Appended, SpoolError> {
        let len = record.len() as u64 + 1;
        let mut g = self.lock();
        if g.pending_bytes + len > self.max_bytes {
            return Ok(Appended::Full);
        }
        if g.head.offset > 0 && g.head.offset + len > self.segment_bytes {
            let next = g.head.segment + 1;
            let path = self.segment_path(next);
            g.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            g.head = Pos {
                segment: next,
                offset: 0,
            };
        }
        let mut buf = Vec::with_capacity(record.len() + 1);
        buf.extend_from_slice(record);
        buf.push(b'\n');
        if let Err(e) = g.file.write_all(&buf) {
            // keep whole lines only: cut what part of this one reached the file
            let _ = g.file.set_len(g.head.offset);
            return Err(io_err(&self.segment_path(g.head.segment))(e));
        }
        g.head.offset += len;
        g.pending_records += 1;
        g.pending_bytes += len;
        self.publish(&g);
        Ok(Appended::Written)
    }

    /// Read up to `max` lines after the reader's position into `out`; returns how many.
    pub fn read(
        &self,
        r: &mut Reader,
        max: usize,
        out: &mut VecDeque<Line>,
    ) -> Result<usize, SpoolError> {
        let mut n = 0;
        while n < max {
            let head = self.lock().head;
            if r.pos >= head {
                break;
            }
            if r.file.as_ref().map(|(s, _)| *s) != Some(r.pos.segment) && !self.open_at(r, head)? {
                continue;
            }
            let (_, file) = r.file.as_mut().expect("opened above");
            let mut bytes = Vec::new();
            let got = file
                .read_until(b'\n', &mut bytes)
                .map_err(io_err(&self.segment_path(r.pos.segment)))?;
            if got == 0 {
                if r.pos.segment < head.segment {
                    r.pos = Pos {
                        segment: r.pos.segment + 1,
                        offset: 0,
                    };
                    r.file = None;
                    continue;
                }
                break;
            }
            let at = r.pos;
            r.pos.offset += got as u64;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            out.push_back(Line {
                bytes,
                at,
                end: r.pos,
            });
            n += 1;
        }
        Ok(n)
    }

    /// Open the reader's segment at its offset; false when the segment is gone and the reader
    /// moved on to the next one.
    fn open_at(&self, r: &mut Reader, head: Pos) -> Result<bool, SpoolError> {
        let path = self.segment_path(r.pos.segment);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && r.pos.segment < head.segment => {
                tracing::warn!(sink = %self.name, path = %path.display(), "spool segment missing; skipping to the next");
                r.pos = Pos {
                    segment: r.pos.segment + 1,
                    offset: 0,
                };
                return Ok(false);
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        f.seek(SeekFrom::Start(r.pos.offset))
            .map_err(io_err(&path))?;
        r.file = Some((r.pos.segment, BufReader::new(f)));
        Ok(true)
    }

    /// The receiver has everything up to `end` (`records` lines, `bytes` long with their
    /// newlines): save the position and delete the segments behind it.
    pub fn ack(&self, end: Pos, records: u64, bytes: u64) -> Result<(), SpoolError> {
        let old = {
            let mut g = self.lock();
            let old = g.acked;
            g.acked = g.acked.max(end);
            g.pending_records = g.pending_records.saturating_sub(records);
            g.pending_bytes = g.pending_bytes.saturating_sub(bytes);
            self.publish(&g);
            old
        };
        write_cursor(&self.cursor_path, end)?;
        for seq in old.segment..end.segment {
            remove_segment(&self.dir, &self.name, seq);
        }
        Ok(())
    }

    /// Findings and bytes appended and not acknowledged.
    pub fn pending(&self) -> (u64, u64) {
        let g = self.lock();
        (g.pending_records, g.pending_bytes)
    }

    fn publish(&self, g: &Inner) {
        let m = metrics();
        m.sink_queue
            .with_label_values(&[&self.name])
            .set(g.pending_records as i64);
        m.sink_spool
            .with_label_values(&[&self.name])
            .set(g.pending_bytes as i64);
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.jsonl"))
}

fn remove_segment(dir: &Path, sink: &str, seq: u64) {
    let path = segment_path(dir, seq);
    match fs::remove_file(&path) {
        Ok(()) => tracing::debug!(sink, path = %path.display(), "delivered spool segment removed"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(sink, path = %path.display(), error = %e, "cannot remove a delivered spool segment")
        }
    }
}

/// Lines and bytes from `from` to the end of segment `last`.
fn count_from(dir: &Path, from: Pos, last: u64) -> Result<(u64, u64), SpoolError> {
    let (mut records, mut bytes) = (0, 0);
    for seq in from.segment..=last {
        let path = segment_path(dir, seq);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        };
        let skip = if seq == from.segment {
            from.offset as usize
        } else {
            0
        };
        let rest = data.get(skip..).unwrap_or_default();
        records += memchr::memchr_iter(b'\n', rest).count() as u64;
        bytes += rest.len() as u64;
    }
    Ok((records, bytes))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_suffix(".jsonl")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn read_cursor(path: &Path) -> Pos {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "unreadable spool cursor; delivering from the oldest segment (receivers may see repeats)");
            Pos::default()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Pos::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable spool cursor; delivering from the oldest segment (receivers may see repeats)");
            Pos::default()
        }
    }
}

fn write_cursor(path: &Path, pos: Pos) -> Result<(), SpoolError> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(&pos).expect("a position serialises");
    fs::write(&tmp, text).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// A crash can leave the last line half written (its `write` never returned, so the finding is
/// raised again): cut it. Returns the segment's length.
fn repair_tail(path: &Path) -> Result<u64, SpoolError> {
    cut_torn_tail(path).map_err(io_err(path))
}

/// Cut the last line of a file bypassd appends to line by line (a spool segment, the emitted
/// journal) when it has no newline: a crash stopped its `write` half way, so what it held was
/// not recorded and is raised again. Returns the file's length after (0 when it does not exist).
pub fn cut_torn_tail(path: &Path) -> io::Result<u64> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if data.is_empty() || data.last() == Some(&b'\n') {
        return Ok(data.len() as u64);
    }
    let keep = memchr::memrchr(b'\n', &data).map_or(0, |i| i + 1);
    tracing::warn!(path = %path.display(), offset = keep, bytes = data.len() - keep, "file ends in a partial line (a crash mid-write); cutting it");
    OpenOptions::new()
        .write(true)
        .open(path)?
        .set_len(keep as u64)?;
    Ok(keep as u64)
}

#[cfg(test)]
mod tests;

//! One tracked file: its identity, open handle and reading state. Plain files are tailed through
//! the handle; gzip files are read once, whole, and closed.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;
use xxhash_rust::xxh3::xxh3_64;

use super::identity::{Head, Known};
use super::lines::{Lines, Out};
use super::Position;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a file from a position of its own with `pread`, leaving the handle's cursor alone.
struct At<'f> {
    file: &'f File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

pub(super) fn is_gzip(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut At { file, pos: 0 }, &mut magic)?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

/// The first `n` bytes of a file (fewer if it is shorter), decompressed for gzip. A gzip stream
/// that fails early gives what came before the failure: reading it reports the failure.
pub(super) fn read_prefix(file: &File, gzip: bool, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    let got = if gzip {
        let mut dec = MultiGzDecoder::new(BufReader::new(At { file, pos: 0 }));
        read_up_to(&mut dec, &mut buf).unwrap_or(0)
    } else {
        read_up_to(&mut At { file, pos: 0 }, &mut buf)?
    };
    buf.truncate(got);
    Ok(buf)
}

/// Fill `buf` as far as the stream goes; an error after some bytes keeps those bytes.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(got)
}

/// What a check of a tracked plain file found.
pub(super) enum Check {
    Same,
    /// truncated, or other content under the same inode (copytruncate, inode reuse, a gzip
    /// written into a file first seen empty)
    Replaced,
}

#[derive(Debug)]
pub(super) struct Tracked {
    pub path: Arc<str>,
    pub id: (u64, u64),
    /// open while tailing; gzip files are closed once read
    pub file: Option<File>,
    pub gzip: bool,
    /// a gzip file read to its end: nothing more will come from it
    pub done: bool,
    /// the first `fingerprint_bytes` bytes, or as many as there are (decompressed for gzip)
    pub head: Vec<u8>,
    pub lines: Lines,
    /// compressed size when the gzip was last read: a failed read is retried once it changes
    pub gz_size: Option<u64>,
    /// the last error reported, so a cause that persists is reported once
    pub error: Option<String>,
    /// order of tracking, for reading older files first
    pub seq: u64,
}

impl Tracked {
    pub(super) fn known(&self) -> Known {
        Known {
            head: Head::Bytes(self.head.clone()),
            offset: self.lines.offset,
            lines: self.lines.lines_before(),
            path: self.path.clone(),
        }
    }

    pub(super) fn position(&self) -> Position {
        Position {
            path: self.path.to_string(),
            dev: self.id.0,
            ino: self.id.1,
            fingerprint: xxh3_64(&self.head),
            fingerprint_len: self.head.len() as u32,
            offset: self.lines.offset,
            lines: self.lines.lines_before(),
            gzip: self.gzip,
            done: self.done,
        }
    }

    /// Report `message` unless it is the error already reported for this file.
    pub(super) fn fail(&mut self, offset: u64, message: String, out: &mut Out) {
        if self.error.as_deref() != Some(message.as_str()) {
            out.error(&self.path, offset, message.clone());
            self.error = Some(message);
        }
    }

    /// Has the content under the handle been replaced since it was read? Extends the head while
    /// the file is shorter than `fingerprint_bytes`.
    pub(super) fn check(&mut self, fingerprint_bytes: usize) -> io::Result<Check> {
        let Some(file) = &self.file else {
            return Ok(Check::Same);
        };
        let size = file.metadata()?.len();
        let want = (size as usize).min(fingerprint_bytes);
        let prefix = read_prefix(file, false, want)?;
        let n = self.head.len().min(prefix.len());
        let gzip_now = self.head.len() < 2 && prefix.starts_with(&GZIP_MAGIC);
        if size < self.lines.pos || self.head[..n] != prefix[..n] || gzip_now {
            return Ok(Check::Replaced);
        }
        if prefix.len() > self.head.len() {
            self.head = prefix;
        }
        Ok(Check::Same)
    }

    /// Read and deliver everything appended since the last read.
    pub(super) fn read_plain(&mut self, buf: &mut [u8], max_line: usize, fp: usize, out: &mut Out) {
        let Some(file) = &self.file else { return };
        loop {
            match file.read_at(buf, self.lines.pos) {
                Ok(0) => break,
                Ok(n) => self.lines.push(&buf[..n], &self.path, max_line, out),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let at = self.lines.pos;
                    self.fail(at, format!("read failed at byte {at}: {e}"), out);
                    return;
                }
            }
        }
        self.error = None;
        self.extend_head(fp);
    }

    /// Content read past the head while the file was short: take it into the head, so copies
    /// of it are recognised (unless the start changed: the next check sees that).
    fn extend_head(&mut self, fp: usize) {
        let want = (self.lines.pos as usize).min(fp);
        let Some(file) = &self.file else { return };
        if want > self.head.len() {
            match read_prefix(file, false, want) {
                Ok(p) if p.starts_with(&self.head) => self.head = p,
                _ => {}
            }
        }
    }

    /// Read a gzip file whole, from the decompressed `offset` on, and close it. A stream that
    /// fails keeps the lines before the failure; it is retried when its size changes.
    pub(super) fn read_gzip(&mut self, buf: &mut [u8], max_line: usize, out: &mut Out) {
        let Some(file) = self.file.take() else { return };
        let mut dec = MultiGzDecoder::new(BufReader::new(At {
            file: &file,
            pos: 0,
        }));
        let mut skip = self.lines.offset;
        let mut at = 0u64;
        self.lines.pos = self.lines.offset;
        self.lines.pending.clear();
        self.lines.skipping = false;
        loop {
            match dec.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    at += n as u64;
                    let s = (skip.min(n as u64)) as usize;
                    skip -= s as u64;
                    self.lines.push(&buf[s..n], &self.path, max_line, out);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let msg = format!(
                        "gzip stream truncated or corrupt after {at} decompressed bytes: {e}"
                    );
                    self.fail(at, msg, out);
                    self.gz_size = file.metadata().ok().map(|m| m.len());
                    return;
                }
            }
        }
        self.lines.finish(&self.path, max_line, out);
        self.done = true;
        self.gz_size = file.metadata().ok().map(|m| m.len());
        self.error = None;
    }
}

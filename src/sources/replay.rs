//! Replay inputs: expanding PATH arguments (files, directories, globs, `-`) into a sorted input
//! list, and reading each input (gzip detected by magic bytes) into chunks of whole lines or whole
//! JSON documents, with line numbers and byte offsets, reporting truncation and overlong lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::decode::detect::{container, Container};
use crate::decode::walk::{walk, Item};
use crate::decode::{DecodeError, Decoder, InputError, Reason, Record};
use crate::event::{Millis, Origin};

/// One thing to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn label(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Expand PATH arguments into inputs, deduplicated and sorted so the order on the command line
/// never changes the result: files without a delivery time in their name first (context such as
/// approvals), then CloudTrail deliveries by the time in their name (`..._20260302T0410Z_...`),
/// so the regions and accounts of an S3 export interleave in time, then by path. Every argument
/// that matches nothing is reported.
pub fn expand(args: &[String]) -> Result<Vec<Input>, Vec<String>> {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let p = Path::new(arg);
        if p.exists() {
            add_path(p, &mut inputs, &mut errors);
        } else if arg.contains(['*', '?', '[']) {
            match glob::glob(arg) {
                Ok(paths) => {
                    let before = inputs.len();
                    for m in paths {
                        match m {
                            Ok(path) => add_path(&path, &mut inputs, &mut errors),
                            Err(e) => errors.push(format!("{arg}: {e}")),
                        }
                    }
                    if inputs.len() == before {
                        errors.push(format!("{arg}: no files match this pattern"));
                    }
                }
                Err(e) => errors.push(format!("{arg}: invalid glob pattern: {e}")),
            }
        } else {
            errors.push(format!("{arg}: no such file or directory"));
        }
    }
    inputs.sort();
    inputs.dedup();
    inputs.sort_by_cached_key(|i| match i {
        Input::Stdin => None,
        Input::File(p) => delivery_time(p),
    });
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(errors)
    }
}

/// The delivery time in a CloudTrail log file name (`ACCOUNT_CloudTrail_REGION_20260302T0410Z_x`),
/// as the digits `YYYYMMDDHHMM`.
pub fn delivery_time(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?.as_bytes();
    name.windows(15).find_map(|w| {
        let digits = [&w[1..9], &w[10..14]].concat();
        let shaped = w[0] == b'_' && w[9] == b'T' && w[14] == b'Z';
        (shaped && digits.iter().all(u8::is_ascii_digit)).then(|| {
            digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
        })
    })
}

fn add_path(p: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<String>) {
    if !p.is_dir() {
        inputs.push(Input::File(p.to_path_buf()));
        return;
    }
    let walk = walkdir::WalkDir::new(p)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => inputs.push(Input::File(e.into_path())),
            Ok(_) => {}
            Err(e) => errors.push(format!("{}: {e}", p.display())),
        }
    }
}

/// A piece of one input, ready to decode.
#[derive(Debug)]
pub enum Piece {
    /// whole lines; `first_line` is 1-based, `offset` the byte offset of `data[0]`
    Lines {
        path: Arc<str>,
        first_line: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// a whole JSON document (wrapper object, array, pretty-printed records)
    Document {
        path: Arc<str>,
        data: Vec<u8>,
        /// set when the input ended early (truncated gzip, read error): records before it are kept
        truncated: Option<String>,
    },
    Error(InputError),
}

/// Reading limits.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// longest line accepted (default 1 MiB)
    pub max_line: usize,
    /// how much to read per piece
    pub chunk: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_line: 1 << 20,
            chunk: 1 << 20,
        }
    }
}

/// Counts the compressed bytes a gzip decoder takes, for progress. (Plain files are counted as
/// they are read into chunks: a wrapper here would make every chunk be zeroed before the read.)
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        self.inner.consume(n);
    }
}

fn file_error(path: &Arc<str>, line: u64, offset: u64, reason: Reason, msg: String) -> Piece {
    Piece::Error(InputError {
        origin: Origin::File {
            path: path.clone(),
            line,
            offset,
        },
        error: DecodeError::new(reason, msg),
    })
}

/// How much of each file [`order_by_first_event`] reads to find its first event.
const PEEK: usize = 256 << 10;

/// The time of the first event in a file, from its first `PEEK` bytes (decompressed); `None`
/// for files with no event there (context records such as approvals, unreadable files).
pub fn first_event_time(path: &Path, decoder: &Decoder) -> Option<Millis> {
    let mut raw = BufReader::with_capacity(64 << 10, File::open(path).ok()?);
    let gz = raw.fill_buf().ok()?.starts_with(&[0x1f, 0x8b]);
    let mut r: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut head = Vec::new();
    let _ = fill(&mut *r, &mut head, PEEK);
    let dec = decoder;
    let origin = Origin::Inline {
        test: Arc::from("peek"),
        index: 0,
    };
    let mut first = None;
    let mut try_one = |text: &[u8]| {
        if first.is_none() {
            if let Ok(Record::Event(ev)) = std::str::from_utf8(text)
                .map_err(|_| ())
                .and_then(|t| dec.decode(t, origin.clone()).map_err(|_| ()))
            {
                first = Some(ev.time);
            }
        }
    };
    match container(&head[..head.len().min(4096)]) {
        Container::Lines => head.split(|b| *b == b'\n').for_each(&mut try_one),
        Container::Document => walk(&head, None, &mut |item| {
            if let Item::Record { text, .. } = item {
                try_one(text);
            }
        }),
    }
    first
}

/// Put inputs in event-time order of their first events, so logs of different periods and
/// systems replay in time order rather than as one late stretch after another: files without
/// events (approvals) first, then by first event time; ties keep the order of [`expand`]. The
/// key depends on file contents only, so the result does not depend on the command line.
pub fn order_by_first_event(inputs: &mut [Input], decoder: &Decoder) {
    // a stable sort: ties keep the order of `expand`
    inputs.sort_by_cached_key(|input| match input {
        Input::Stdin => None,
        Input::File(p) => first_event_time(p, decoder),
    });
}

/// Read one input into pieces, handing each to `emit` in order.
pub fn read_input(
    input: &Input,
    opts: ReadOptions,
    raw_bytes: &Arc<AtomicU64>,
    emit: &mut dyn FnMut(Piece),
) {
    let path: Arc<str> = Arc::from(input.label());
    let raw: Box<dyn Read> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(p) => match File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                emit(file_error(
                    &path,
                    0,
                    0,
                    Reason::Io,
                    format!("cannot open: {e}"),
                ));
                return;
            }
        },
    };
    let mut buffered = BufReader::with_capacity(256 << 10, raw);
    let gz = match buffered.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => {
            emit(file_error(
                &path,
                0,
                0,
                Reason::Io,
                format!("cannot read: {e}"),
            ));
            return;
        }
    };
    let (reader, count): (Box<dyn Read>, _) = if gz {
        let counted = Counting {
            inner: buffered,
            read: raw_bytes.clone(),
        };
        (Box::new(MultiGzDecoder::new(counted)), None)
    } else {
        (Box::new(buffered), Some(&**raw_bytes))
    };
    read_stream(path, reader, gz, count, opts, emit);
}

/// Append up to `want` more bytes to `buf`; returns the bytes added and the error if the stream
/// failed (what was read before the error is kept). Reads into the spare capacity, so a reader
/// that takes uninitialised buffers (a file) is not made to zero the chunk first.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> (usize, Option<io::Error>) {
    let start = buf.len();
    buf.reserve(want);
    let mut err = None;
    let mut limited = r.take(want as u64);
    loop {
        // read_to_end keeps what it read before an error
        match limited.read_to_end(buf) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    (buf.len() - start, err)
}

fn truncation_message(gz: bool, at: u64, e: &io::Error) -> String {
    if gz {
        format!("gzip stream truncated or corrupt after {at} decompressed bytes: {e}")
    } else {
        format!("read failed after {at} bytes: {e}")
    }
}

/// `count`, when given, is told the bytes read (the raw bytes, for an uncompressed stream).
fn read_stream(
    path: Arc<str>,
    mut r: Box<dyn Read>,
    gz: bool,
    count: Option<&AtomicU64>,
    opts: ReadOptions,
    emit: &mut dyn FnMut(Piece),
) {
    let fill = |r: &mut dyn Read, buf: &mut Vec<u8>, want: usize| {
        let (n, e) = fill(r, buf, want);
        if let Some(c) = count {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        (n, e)
    };
    let mut buf = Vec::with_capacity(opts.chunk + 64 * 1024);
    // enough to see past a BOM and whitespace to the first key, whatever the chunk size
    let (_, err) = fill(&mut *r, &mut buf, opts.chunk.max(4096));
    let kind = container(&buf[..buf.len().min(4096)]);
    if kind != Container::Lines {
        let mut truncated = err.map(|e| truncation_message(gz, buf.len() as u64, &e));
        while truncated.is_none() {
            match fill(&mut *r, &mut buf, opts.chunk.max(1 << 20)) {
                (0, None) => break,
                (_, None) => {}
                (_, Some(e)) => truncated = Some(truncation_message(gz, buf.len() as u64, &e)),
            }
        }
        emit(Piece::Document {
            path,
            data: buf,
            truncated,
        });
        return;
    }
    let mut lines = LineSplitter {
        path,
        line: 1,
        offset: 0,
        skipping: false,
        max_line: opts.max_line,
    };
    let mut err = err;
    loop {
        if let Some(e) = err {
            let at = lines.offset + buf.len() as u64;
            lines.emit_complete(&mut buf, emit);
            let msg = truncation_message(gz, at, &e);
            let msg = if buf.is_empty() || lines.skipping {
                msg
            } else {
                format!("last line cut off ({} bytes): {msg}", buf.len())
            };
            emit(file_error(
                &lines.path,
                lines.line,
                lines.offset,
                Reason::TruncatedInput,
                msg,
            ));
            return;
        }
        lines.emit_complete(&mut buf, emit);
        let (n, e) = fill(&mut *r, &mut buf, opts.chunk);
        err = e;
        if n == 0 && err.is_none() {
            lines.emit_all(&mut buf, emit);
            return;
        }
    }
}

struct LineSplitter {
    path: Arc<str>,
    line: u64,
    offset: u64,
    /// inside an overlong line: discard until its newline
    skipping: bool,
    max_line: usize,
}

impl LineSplitter {
    fn send(&mut self, data: Vec<u8>, emit: &mut dyn FnMut(Piece)) {
        let n = data.len() as u64;
        let newlines = memchr::memchr_iter(b'\n', &data).count() as u64;
        emit(Piece::Lines {
            path: self.path.clone(),
            first_line: self.line,
            offset: self.offset,
            data,
        });
        self.line += newlines;
        self.offset += n;
    }

    /// Emit everything up to the last newline in `buf`, keeping the partial line.
    fn emit_complete(&mut self, buf: &mut Vec<u8>, emit: &mut dyn FnMut(Piece)) {
        if self.skipping {
            match memchr::memchr(b'\n', buf) {
                Some(nl) => {
                    self.skipping = false;
                    self.line += 1;
                    self.offset += nl as u64 + 1;
                    buf.drain(..=nl);
                }
                None => {
                    self.offset += buf.len() as u64;
                    buf.clear();
                    return;
                }
            }
        }
        match memchr::memrchr(b'\n', buf) {
            Some(nl) => {
                let rest = buf.split_off(nl + 1);
                let whole = std::mem::replace(buf, rest);
                self.send(whole, emit);
            }
            None if buf.len() > self.max_line => {
                emit(Piece::Error(InputError {
                    origin: Origin::File {
                        path: self.path.clone(),
                        line: self.line,
                        offset: self.offset,
                    },
                    error: DecodeError::line_too_long(self.max_line),
                }));
                self.skipping = true;
                self.offset += buf.len() as u64;
                buf.clear();
            }
            None => {}
        }
    }

    /// End of input: everything left, including a last line without a newline.
    fn emit_all(&mut self, buf: &mut Vec<u8>, emit: &mut dyn FnMut(Piece)) {
        self.emit_complete(buf, emit);
        if !buf.is_empty() && !self.skipping {
            let rest = std::mem::take(buf);
            self.send(rest, emit);
        }
    }
}

#[cfg(test)]
mod tests;

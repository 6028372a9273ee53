//! Splitting a byte stream into complete lines with their numbers and offsets, holding a partial
//! last line back and skipping overlong lines to their newline.

use std::sync::Arc;

use super::Item;

/// Where items go, counted for the stats.
pub(super) struct Out<'a> {
    pub f: &'a mut dyn FnMut(Item<'_>),
    pub lines: u64,
    pub bytes: u64,
    pub errors: u64,
}

impl<'a> Out<'a> {
    pub(super) fn new(f: &'a mut dyn FnMut(Item<'_>)) -> Self {
        Out {
            f,
            lines: 0,
            bytes: 0,
            errors: 0,
        }
    }

    pub(super) fn error(&mut self, path: &Arc<str>, offset: u64, message: String) {
        self.errors += 1;
        (self.f)(Item::Error {
            path,
            offset,
            message,
        });
    }
}

/// The reading state of one file (or one decompressed gzip stream).
#[derive(Debug, Default)]
pub(super) struct Lines {
    /// everything before this has been delivered: the position to checkpoint
    pub offset: u64,
    /// next byte to read
    pub pos: u64,
    /// lines before `offset`, counted from `offset` 0 when `known`, else from the resume point
    pub line: u64,
    pub known: bool,
    /// bytes `[offset, pos)` of a line whose newline has not arrived
    pub pending: Vec<u8>,
    /// inside an overlong line: `offset` stays at its start, bytes are dropped to its newline
    pub skipping: bool,
}

impl Lines {
    pub(super) fn at(offset: u64, lines: Option<u64>) -> Lines {
        Lines {
            offset,
            pos: offset,
            line: lines.unwrap_or(0),
            known: lines.is_some() || offset == 0,
            ..Lines::default()
        }
    }

    pub(super) fn lines_before(&self) -> Option<u64> {
        self.known.then_some(self.line)
    }

    /// Take `data` (the bytes at `pos`) and deliver every line it completes.
    pub(super) fn push(&mut self, data: &[u8], path: &Arc<str>, max_line: usize, out: &mut Out) {
        let mut data = data;
        if self.skipping {
            match memchr::memchr(b'\n', data) {
                None => {
                    self.pos += data.len() as u64;
                    return;
                }
                Some(nl) => {
                    self.pos += nl as u64 + 1;
                    self.offset = self.pos;
                    self.line += 1;
                    self.skipping = false;
                    data = &data[nl + 1..];
                }
            }
        }
        self.pending.extend_from_slice(data);
        self.pos += data.len() as u64;
        self.deliver(path, max_line, out);
    }

    fn deliver(&mut self, path: &Arc<str>, max_line: usize, out: &mut Out) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &self.pending) {
            let text = &self.pending[start..nl];
            if text.len() > max_line {
                out.error(path, self.offset, self.too_long(max_line));
            } else {
                out.lines += 1;
                out.bytes += text.len() as u64 + 1;
                (out.f)(Item::Line {
                    path,
                    line: self.line + 1,
                    offset: self.offset,
                    text,
                });
            }
            self.offset += (nl + 1 - start) as u64;
            self.line += 1;
            start = nl + 1;
        }
        self.pending.drain(..start);
        if self.pending.len() > max_line {
            out.error(path, self.offset, self.too_long(max_line));
            self.pending = Vec::new();
            self.skipping = true;
        }
    }

    fn too_long(&self, max_line: usize) -> String {
        format!(
            "line {} longer than {max_line} bytes, skipped",
            self.line + 1
        )
    }

    /// End of a stream that will not grow (a gzip file): its last line needs no newline.
    pub(super) fn finish(&mut self, path: &Arc<str>, max_line: usize, out: &mut Out) {
        if !self.pending.is_empty() && !self.skipping {
            self.push(b"\n", path, max_line, out);
            // the newline was not in the stream
            self.offset -= 1;
            self.pos -= 1;
        }
    }
}

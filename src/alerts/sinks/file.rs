//! The file sink: JSON lines appended and flushed per finding. Before each write the path's
//! device and inode are compared with the open handle's, so a file renamed or removed under it
//! (logrotate without `postrotate kill -HUP`) is noticed and the path opened afresh; SIGHUP
//! reopens it too.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct FileOut {
    path: PathBuf,
    file: File,
    /// (device, inode) of the open file
    id: (u64, u64),
}

fn open(path: &Path) -> io::Result<(File, (u64, u64))> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let opened = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path);
    let file = match opened {
        Ok(mut file) => {
            if end_torn_line(&mut file)? {
                tracing::warn!(path = %path.display(), "the file ended inside a line (a crash while writing it); ended that line so the next record starts on its own (the record it held is written again)");
            }
            file
        }
        // a file we may append to but not read: nothing to check
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            OpenOptions::new().create(true).append(true).open(path)?
        }
        Err(e) => return Err(e),
    };
    let m = file.metadata()?;
    Ok((file, (m.dev(), m.ino())))
}

/// A file appended to line by line whose last line has no newline was cut by a crash in the
/// middle of a write: end it, so that the next line is not glued to the torn one (and lost with
/// it). Returns whether it did. `file` must be open for reading and appending. (A file sink's
/// readers may be tailing it, so its torn line is ended, not cut as bypassd's own files are:
/// see [`super::spool::cut_torn_tail`].)
fn end_torn_line(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(false);
    }
    file.write_all(b"\n")?;
    Ok(true)
}

impl FileOut {
    pub fn open(path: &Path) -> io::Result<FileOut> {
        let (file, id) = open(path)?;
        Ok(FileOut {
            path: path.to_path_buf(),
            file,
            id,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long the open file is now: a mark a checkpoint saves (see [`uids_since`]).
    pub fn len(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    /// Open the path again (after rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        let (file, id) = open(&self.path)?;
        self.file = file;
        self.id = id;
        Ok(())
    }

    /// Is the path no longer the file we hold?
    fn moved(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != self.id,
            Err(_) => true,
        }
    }

    /// Append one line (with its newline), reopening first if the file was rotated away.
    pub fn write(&mut self, line: &[u8]) -> io::Result<()> {
        if self.moved() {
            tracing::info!(path = %self.path.display(), "sink file was renamed or removed; opening a new one");
            self.reopen()?;
        }
        self.file.write_all(line)?;
        self.file.flush()
    }
}

/// The most of a sink file [`uids_since`] reads.
const MAX_SCAN: u64 = 4 << 20;

/// The `metadata.uid` of every finding in `path` past byte `from` (its last 4 MiB at most; the
/// whole file when it is shorter than `from`, i.e. rotated since). A checkpoint saves where each
/// file sink ends; findings written after it whose uids the emitted journal missed (the process
/// died between writing the sink and the journal) are found here, so a restart does not write
/// them again. Only whole findings count: a line a crash cut short (no newline, or not a whole
/// JSON document) was not delivered, and its finding must be written again.
pub fn uids_since(path: &Path, from: u64) -> io::Result<HashSet<String>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let start = if from <= len { from } else { 0 }.max(len.saturating_sub(MAX_SCAN));
    file.seek(SeekFrom::Start(start))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    // the piece after the last newline is a line still being written (or torn)
    let complete = memchr::memrchr(b'\n', &text).map_or(0, |nl| nl + 1);
    const KEY: &[u8] = br#""metadata":{"uid":""#;
    let finder = memchr::memmem::Finder::new(KEY);
    let mut uids = HashSet::new();
    for line in text[..complete].split(|b| *b == b'\n') {
        let Some(at) = finder.find(line) else {
            continue;
        };
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err() {
            continue;
        }
        let rest = &line[at + KEY.len()..];
        if let Some(end) = memchr::memchr(b'"', rest) {
            uids.insert(String::from_utf8_lossy(&rest[..end]).into_owned());
        }
    }
    Ok(uids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_torn_by_a_crash_is_ended_on_open_and_names_no_delivered_finding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("findings.jsonl");
        let whole = r#"{"metadata":{"uid":"aaa-1"},"x":1}"#;
        let torn = r#"{"metadata":{"uid":"bbb-1"},"evidences":[{"a":1}"#;
        std::fs::write(&path, format!("{whole}\n{torn}")).unwrap();
        // the torn line is not a delivered finding, whether or not its newline came
        assert_eq!(
            uids_since(&path, 0).unwrap(),
            HashSet::from(["aaa-1".to_string()])
        );
        let mut out = FileOut::open(&path).unwrap();
        assert_eq!(
            uids_since(&path, 0).unwrap(),
            HashSet::from(["aaa-1".to_string()])
        );
        out.write(format!("{whole}\n").as_bytes()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("{whole}\n{torn}\n{whole}\n"),
            "the next record has a line of its own"
        );
        // a file that ends properly is left alone
        drop(out);
        FileOut::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn follows_rename_and_removal_and_reopens_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/findings.jsonl");
        let mut out = FileOut::open(&path).unwrap();
        out.write(b"1\n").unwrap();
        std::fs::rename(&path, dir.path().join("findings.jsonl.1")).unwrap();
        out.write(b"2\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        out.write(b"3\n").unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&dir.path().join("findings.jsonl.1")), "1\n");
        assert_eq!(read(&path), "3\n");
        // copy-then-truncate rotation keeps the inode: writes continue in the same file
        std::fs::write(dir.path().join("copy"), read(&path)).unwrap();
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        out.write(b"4\n").unwrap();
        assert_eq!(read(&path), "4\n");
        out.reopen().unwrap();
        out.write(b"5\n").unwrap();
        assert_eq!(read(&path), "4\n5\n");
    }

    #[test]
    fn uids_past_a_mark_and_the_whole_file_once_it_is_shorter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let line = |u: &str| {
            format!(
                "{{\"class_uid\":2004,\"metadata\":{{\"uid\":\"{u}\",\"version\":\"1.4.0\"}}}}\n"
            )
        };
        std::fs::write(&path, line("a") + &line("b")).unwrap();
        let mark = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all((line("c") + "not json\n" + &line("d-2")).as_bytes())
            .unwrap();
        let got = uids_since(&path, mark).unwrap();
        let want: HashSet<String> = ["c", "d-2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want);
        assert_eq!(uids_since(&path, 0).unwrap().len(), 4);
        // rotated: the new file is shorter than the mark, all of it is new
        std::fs::write(&path, line("e")).unwrap();
        assert_eq!(
            uids_since(&path, mark).unwrap(),
            HashSet::from(["e".to_string()])
        );
    }
}

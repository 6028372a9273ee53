//! The file sink: JSON lines appended and flushed per finding. Before each write the path's
//! device and inode are compared with the open handle's, so a file renamed or removed under it
//! (logrotate without `postrotate kill -HUP`) is noticed and the path opened afresh; SIGHUP
//! reopens it too.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let m = file.metadata()?;
    Ok((file, (m.dev(), m.ino())))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

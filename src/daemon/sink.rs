//! Where findings go: stdout and JSON-lines files (OCSF Detection Findings, one per line).
//! Every write is flushed before the finding counts as emitted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;

use crate::alerts::finding::Finding;
use crate::config::Sink;

enum Out {
    Stdout,
    File(File),
}

pub struct Sinks {
    outs: Mutex<Vec<Out>>,
}

impl Sinks {
    pub fn open(config: &[Sink]) -> io::Result<Sinks> {
        let mut outs = Vec::new();
        for s in config {
            outs.push(match s {
                Sink::Stdout => Out::Stdout,
                Sink::File { path } => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let f = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("sink file {}: {e}", path.display()))
                        })?;
                    Out::File(f)
                }
            });
        }
        Ok(Sinks {
            outs: Mutex::new(outs),
        })
    }

    /// Write one finding to every sink (one JSON line each, flushed).
    pub fn write(&self, f: &Finding) -> io::Result<()> {
        let mut line = serde_json::to_vec(f).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut outs = self.outs.lock().unwrap_or_else(|e| e.into_inner());
        for o in outs.iter_mut() {
            match o {
                Out::Stdout => {
                    let mut out = io::stdout().lock();
                    out.write_all(&line)?;
                    out.flush()?;
                }
                Out::File(file) => file.write_all(&line)?,
            }
        }
        Ok(())
    }
}

//! Where findings go: stdout, files, webhooks, Alertmanager and Kafka, each with its own
//! severity and family filter.
//!
//! stdout and file sinks write and flush before [`Sinks::write`] returns. Network sinks append
//! the finding to a disk spool first (write-ahead) and deliver it from there on a thread of
//! their own, in order, retrying until the receiver takes it: nothing is lost across an outage,
//! a restart or a crash (after a crash a receiver may see a finding twice; each request carries
//! `Idempotency-Key: <metadata.uid>`).

mod alertmanager;
pub mod config;
mod deliver;
mod file;
mod http;
mod kafka;
pub mod spool;
pub mod template;
mod webhook;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use config::{validate_all, Delivery, Filter, SinkConfig};

use crate::alerts::finding::Finding;
use crate::telemetry::metrics;
use deliver::{Transport, Wake, Worker};
use file::FileOut;
use spool::{Appended, Spool, SpoolError};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sink {name}: file {path}: {source}")]
    File {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("sink {name}: {source}")]
    Spool {
        name: String,
        #[source]
        source: SpoolError,
    },
    #[error("sink {name}: {source}")]
    Http {
        name: String,
        #[source]
        source: http::HttpSetupError,
    },
    #[error("sink {name}: kafka producer: {source}")]
    Kafka {
        name: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("sink {name}: cannot start the delivery thread: {source}")]
    Thread {
        name: String,
        #[source]
        source: io::Error,
    },
}

/// A sink's series exist from the start (at 0), so rates and alerts see the first failure.
fn zero_series(name: &str, network: bool) {
    let m = metrics();
    m.sink_deliveries.with_label_values(&[name]);
    m.sink_filtered.with_label_values(&[name]);
    if !network {
        return;
    }
    m.sink_retries.with_label_values(&[name]);
    m.sink_latency.with_label_values(&[name]);
    for reason in [
        "connect",
        "timeout",
        "status_5xx",
        "status_429",
        "status_4xx",
    ] {
        m.sink_failures.with_label_values(&[name, reason]);
    }
    for reason in ["rejected", "spool_full", "corrupt"] {
        m.sink_dropped.with_label_values(&[name, reason]);
    }
}

/// Every configured sink.
pub struct Sinks {
    outs: Vec<Out>,
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.outs.iter().map(|o| &o.name))
            .finish()
    }
}

struct Out {
    name: String,
    filter: Filter,
    target: Target,
}

enum Target {
    Stdout,
    File(Mutex<FileOut>),
    Network(Network),
}

/// A spooled sink and its delivery thread.
struct Network {
    spool: Arc<Spool>,
    wake: Arc<Wake>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Sinks {
    /// Open every configured sink; network sinks get a spool under `state_dir/sinks/<name>/`
    /// and a delivery thread.
    pub fn open(config: &[SinkConfig], state_dir: &Path) -> anyhow::Result<Sinks> {
        // built in place, so a failure closes the sinks already started
        let mut sinks = Sinks {
            outs: Vec::with_capacity(config.len()),
        };
        for c in config {
            let target = open_target(c, &state_dir.join("sinks").join(c.name()))?;
            zero_series(c.name(), matches!(target, Target::Network(_)));
            sinks.outs.push(Out {
                name: c.name().to_string(),
                filter: c.filter(),
                target,
            });
        }
        Ok(sinks)
    }

    /// Hand one finding to every sink whose filters take it. Returns once it is durable:
    /// written+flushed for stdout/file, appended to the spool for network sinks. Every sink is
    /// tried; the first error is returned.
    pub fn write(&self, f: &Finding) -> io::Result<()> {
        let json = serde_json::to_vec(f).map_err(io::Error::other)?;
        let m = metrics();
        let mut first_err = None;
        for o in &self.outs {
            if !o.filter.takes(f.severity_id, f.unmapped.family) {
                m.sink_filtered.with_label_values(&[&o.name]).inc();
                continue;
            }
            let r = match &o.target {
                Target::Stdout => write_line(&json, |l| {
                    let mut out = io::stdout().lock();
                    out.write_all(l)?;
                    out.flush()
                }),
                Target::File(file) => write_line(&json, |l| {
                    file.lock().unwrap_or_else(|e| e.into_inner()).write(l)
                }),
                Target::Network(n) => n.append(&o.name, &json),
            };
            match r {
                Ok(()) if !matches!(o.target, Target::Network(_)) => {
                    m.sink_deliveries.with_label_values(&[&o.name]).inc()
                }
                Ok(()) => {}
                Err(e) => {
                    m.sink_failures.with_label_values(&[&o.name, "io"]).inc();
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Where each file sink ends now: saved with a checkpoint, so that a restart can find the
    /// findings written after it (see [`Sinks::uids_since`]).
    pub fn file_marks(&self) -> Vec<(PathBuf, u64)> {
        self.outs
            .iter()
            .filter_map(|o| match &o.target {
                Target::File(f) => {
                    let f = f.lock().unwrap_or_else(|e| e.into_inner());
                    Some((f.path().to_path_buf(), f.len()))
                }
                _ => None,
            })
            .collect()
    }

    /// The uids of the findings the file sinks hold past `marks` (a sink without a mark: all
    /// of it, up to its last 4 MiB). Unreadable files are logged and skipped.
    pub fn uids_since(&self, marks: &[(PathBuf, u64)]) -> std::collections::HashSet<String> {
        let mut uids = std::collections::HashSet::new();
        for o in &self.outs {
            let Target::File(f) = &o.target else { continue };
            let path = f
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .path()
                .to_path_buf();
            let from = marks
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(0, |(_, n)| *n);
            match file::uids_since(&path, from) {
                Ok(found) => uids.extend(found),
                Err(e) => {
                    tracing::warn!(sink = %o.name, path = %path.display(), error = %e, "cannot read the sink file back; findings written just before a crash may be written again")
                }
            }
        }
        uids
    }

    /// SIGHUP: reopen file sinks (logrotate).
    pub fn reopen(&self) {
        for o in &self.outs {
            if let Target::File(file) = &o.target {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                match file.reopen() {
                    Ok(()) => {
                        tracing::info!(sink = %o.name, path = %file.path().display(), "sink file reopened")
                    }
                    Err(e) => {
                        tracing::error!(sink = %o.name, path = %file.path().display(), error = %e, "cannot reopen the sink file; still writing to the old one")
                    }
                }
            }
        }
    }

    /// Stop: give delivery threads until `deadline` to drain; what is undelivered stays spooled
    /// and is sent on the next start.
    pub fn close(&self, deadline: Instant) {
        for o in &self.outs {
            if let Target::Network(n) = &o.target {
                n.wake.close(deadline);
            }
        }
        for o in &self.outs {
            if let Target::Network(n) = &o.target {
                n.stop(&o.name, deadline);
            }
        }
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        self.close(Instant::now() + Duration::from_millis(100));
    }
}

/// `json` plus a newline, written by `w`.
fn write_line(json: &[u8], w: impl FnOnce(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut line = Vec::with_capacity(json.len() + 1);
    line.extend_from_slice(json);
    line.push(b'\n');
    w(&line)
}

impl Network {
    fn append(&self, name: &str, json: &[u8]) -> io::Result<()> {
        match self.spool.append(json) {
            Ok(Appended::Written) => {
                self.wake.appended();
                Ok(())
            }
            Ok(Appended::Full) => {
                let (findings, bytes) = self.spool.pending();
                tracing::error!(
                    sink = name,
                    findings,
                    bytes,
                    "sink spool is full (spool_max_bytes): finding dropped; is the receiver down?"
                );
                metrics()
                    .sink_dropped
                    .with_label_values(&[name, "spool_full"])
                    .inc();
                Ok(())
            }
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn stop(&self, name: &str, deadline: Instant) {
        let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        if self.wake.wait_done(deadline) {
            let _ = t.join();
        } else {
            let (findings, _) = self.spool.pending();
            tracing::warn!(sink = name, findings, "delivery still in progress at the stop deadline; undelivered findings stay spooled for the next start");
        }
    }
}

fn open_target(c: &SinkConfig, dir: &Path) -> Result<Target, OpenError> {
    let name = c.name().to_string();
    let (transport, mut delivery): (Box<dyn Transport>, Delivery) = match c {
        SinkConfig::Stdout(_) => return Ok(Target::Stdout),
        SinkConfig::File(f) => {
            let out = FileOut::open(&f.path).map_err(|source| OpenError::File {
                name,
                path: f.path.clone(),
                source,
            })?;
            return Ok(Target::File(Mutex::new(out)));
        }
        SinkConfig::Webhook(h) => {
            let client =
                http::HttpClient::open(h, h.url.clone()).map_err(|source| OpenError::Http {
                    name: name.clone(),
                    source,
                })?;
            let template = h.template.as_deref().map(template::Template::parse);
            let template = template.transpose().expect("validated at load");
            let webhook = webhook::Webhook { client, template };
            (Box::new(webhook), c.delivery().expect("a network sink"))
        }
        SinkConfig::Alertmanager(h) => {
            let path = h.path.as_deref().unwrap_or("/api/v2/alerts");
            let url = format!("{}{path}", h.url.trim_end_matches('/'));
            let client = http::HttpClient::open(h, url).map_err(|source| OpenError::Http {
                name: name.clone(),
                source,
            })?;
            let am = alertmanager::Alertmanager {
                client,
                resolve_after: h.resolve_after(),
            };
            (Box::new(am), c.delivery().expect("a network sink"))
        }
        SinkConfig::Kafka(k) => {
            let client = k.client.iter().map(|(k, v)| (k.clone(), v.0.clone()));
            let out = kafka::KafkaOut::open(&k.brokers, &k.topic, &client.collect()).map_err(
                |source| OpenError::Kafka {
                    name: name.clone(),
                    source,
                },
            )?;
            (Box::new(out), c.delivery().expect("a network sink"))
        }
    };
    if matches!(c, SinkConfig::Webhook(h) if h.template.is_some()) {
        // a template renders one finding: one request each
        delivery.batch_max = 1;
    }
    start_network(name, dir, transport, delivery)
}

fn start_network(
    name: String,
    dir: &Path,
    transport: Box<dyn Transport>,
    delivery: Delivery,
) -> Result<Target, OpenError> {
    let spool_err = |source| OpenError::Spool {
        name: name.clone(),
        source,
    };
    let (spool, reader) = Spool::open(dir, &name, spool::SEGMENT_BYTES, delivery.spool_max_bytes)
        .map_err(spool_err)?;
    let spool = Arc::new(spool);
    let wake = Arc::new(Wake::default());
    let worker = Worker::new(
        name.clone(),
        (spool.clone(), reader),
        wake.clone(),
        transport,
        delivery,
        dir.join("rejected.jsonl"),
    );
    let thread = std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || worker.run())
        .map_err(|source| OpenError::Thread {
            name: name.clone(),
            source,
        })?;
    Ok(Target::Network(Network {
        spool,
        wake,
        thread: Mutex::new(Some(thread)),
    }))
}

//! `bypassd run`: the live daemon.
//!
//! Each source runs on its own thread (files: one tailer and one engine per source; Kafka: one
//! consumer and one engine per assigned partition) and writes findings to the shared sinks. The
//! main thread waits on signals: SIGTERM / SIGINT stop the sources, which finish what they read,
//! flush, checkpoint and return; SIGHUP (or a change to the detector / inventory files) loads
//! and validates a new detector set, which every engine picks up keeping the state of the
//! detectors that did not change.

pub mod files;
pub mod kafka;
pub mod publish;
pub mod shard;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::alerts::sinks::Sinks;
use crate::config::{Config, SourceKind};
use crate::context::Approval;
use crate::decode::mapping::Mappings;
use crate::detect::spec::Detector;
use crate::detect::{load, selftest};
use crate::event::Format;
use crate::inventory::Inventory;
use crate::replay::DecodeOptions;

/// One validated set of detectors, inventory and mappings.
pub struct Loaded {
    pub generation: u64,
    pub detectors: Vec<Arc<Detector>>,
    pub inventory: Arc<Inventory>,
    pub mappings: Arc<Mappings>,
}

impl Loaded {
    /// Load and validate everything the config names: every problem in one message, and the
    /// detectors' inline tests must pass (as `bypassd check` requires).
    pub fn load(config: &Config, generation: u64) -> Result<Loaded, String> {
        let detectors = load::load(config.detectors.as_deref()).map_err(|e| e.to_string());
        let inventory = match &config.inventory {
            Some(p) => Inventory::load(p).map_err(|e| e.to_string()),
            None => Ok(Inventory::default()),
        };
        let mappings = match &config.mappings {
            Some(p) => Mappings::load(p).map_err(|e| e.to_string()),
            None => Ok(Mappings::default()),
        };
        let (detectors, inventory, mappings) = match (detectors, inventory, mappings) {
            (Ok(d), Ok(i), Ok(m)) => (d, i, m),
            (d, i, m) => {
                let msgs: Vec<String> = [d.err(), i.err(), m.err()].into_iter().flatten().collect();
                return Err(msgs.join("\n"));
            }
        };
        let failed: Vec<String> = selftest::run_all(&detectors)
            .into_iter()
            .filter_map(|r| {
                r.failure
                    .map(|f| format!("detector {} test {:?}: {f}", r.detector, r.test))
            })
            .collect();
        if !failed.is_empty() {
            return Err(format!(
                "inline detector tests failed:\n{}",
                failed.join("\n")
            ));
        }
        for s in &config.sources {
            if let Some(f) = &s.format {
                if Format::parse(f).is_none() && mappings.get(f).is_none() {
                    return Err(format!("source {}: unknown format {f:?}", s.name));
                }
            }
        }
        Ok(Loaded {
            generation,
            detectors,
            inventory: Arc::new(inventory),
            mappings: Arc::new(mappings),
        })
    }

    /// How a source decodes its records with this set.
    pub fn decode_options(&self, format: Option<&str>, max_line: usize) -> DecodeOptions {
        let format = format.and_then(|f| {
            Format::parse(f).or_else(|| self.mappings.get(f).map(|m| Format::Mapped(m.id)))
        });
        DecodeOptions {
            format,
            inventory: self.inventory.clone(),
            mappings: self.mappings.clone(),
            since: None,
            until: None,
            max_line,
        }
    }
}

/// Approvals are context for every engine in the process, whichever source carried them.
#[derive(Default)]
pub struct ApprovalHub {
    log: RwLock<Vec<Approval>>,
}

impl ApprovalHub {
    pub fn publish(&self, a: Approval) {
        self.log.write().unwrap_or_else(|e| e.into_inner()).push(a);
    }

    /// Hand every approval from index `from` on to `f`; returns the new index.
    pub fn since(&self, from: usize, mut f: impl FnMut(&Approval)) -> usize {
        let log = self.log.read().unwrap_or_else(|e| e.into_inner());
        for a in log.iter().skip(from) {
            f(a);
        }
        log.len()
    }
}

/// Counters the sources keep (exported as metrics).
#[derive(Default)]
pub struct Counters {
    pub input_errors: AtomicU64,
    /// the last Kafka source watermark (minimum over active partitions)
    pub watermark: std::sync::atomic::AtomicI64,
}

/// What every source thread shares.
pub struct Shared {
    pub config: Config,
    pub stop: AtomicBool,
    loaded: RwLock<Arc<Loaded>>,
    generation: AtomicU64,
    pub sinks: Sinks,
    pub approvals: ApprovalHub,
    /// sources that are connected / reading: written by source threads, read by /readyz
    pub ready: dashmap::DashMap<String, bool>,
    pub counters: Counters,
}

impl Shared {
    pub fn new(config: Config, loaded: Loaded) -> anyhow::Result<Shared> {
        let sinks = Sinks::open(&config.sinks, &config.state_dir)?;
        Ok(Shared {
            generation: AtomicU64::new(loaded.generation),
            loaded: RwLock::new(Arc::new(loaded)),
            config,
            stop: AtomicBool::new(false),
            sinks,
            approvals: ApprovalHub::default(),
            ready: dashmap::DashMap::new(),
            counters: Counters::default(),
        })
    }

    pub fn set_ready(&self, source: &str, ready: bool) {
        crate::telemetry::metrics()
            .source_up
            .with_label_values(&[source])
            .set(ready as i64);
        self.ready.insert(source.to_string(), ready);
    }

    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Load the files again; on success every engine switches at its next tick. On failure the
    /// running set stays and the reason is logged.
    pub fn reload(&self) -> bool {
        let next = self.generation.load(Ordering::Relaxed) + 1;
        match Loaded::load(&self.config, next) {
            Ok(l) => {
                let n = l.detectors.len();
                publish_detector_set(&l);
                crate::telemetry::metrics()
                    .reloads
                    .with_label_values(&["ok"])
                    .inc();
                *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(l);
                self.generation.store(next, Ordering::Relaxed);
                tracing::info!(
                    generation = next,
                    detectors = n,
                    "reloaded detectors and inventory"
                );
                true
            }
            Err(e) => {
                crate::telemetry::metrics()
                    .reloads
                    .with_label_values(&["failed"])
                    .inc();
                tracing::error!("reload failed, keeping the running detectors:\n{e}");
                false
            }
        }
    }

    /// The state directory of one source.
    pub fn state_dir(&self, source: &str) -> PathBuf {
        self.config.state_dir.join(source)
    }
}

/// /readyz: every configured source connected and reading, detectors loaded.
fn readiness(shared: &Arc<Shared>) -> crate::telemetry::http::Readiness {
    let shared = shared.clone();
    Box::new(move || {
        let waiting: Vec<&str> = shared
            .config
            .sources
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !shared.ready.get(*n).is_some_and(|ok| *ok))
            .collect();
        let detectors = shared.loaded().detectors.len();
        if !waiting.is_empty() {
            Err(format!("sources not connected: {}", waiting.join(", ")))
        } else if detectors == 0 {
            Err("no detectors loaded".into())
        } else {
            Ok(format!(
                "{} source(s), {detectors} detector(s)",
                shared.config.sources.len()
            ))
        }
    })
}

/// The loaded detector count and a hash of the set (ids, logic, titles and severities), so a
/// dashboard shows when instances run different detectors.
fn publish_detector_set(l: &Loaded) {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut ds: Vec<&Arc<Detector>> = l.detectors.iter().collect();
    ds.sort_by(|a, b| a.id.cmp(&b.id));
    for d in ds {
        h.update(d.id.as_bytes());
        h.update(&d.state_fingerprint().to_le_bytes());
        h.update(d.title.as_bytes());
        h.update(d.severity.caption().as_bytes());
        h.update(b"\0");
    }
    let m = crate::telemetry::metrics();
    // every detector's series exist from the start (at 0), so the first finding is a rate
    for d in &l.detectors {
        let id = d.id.as_str();
        m.findings
            .with_label_values(&[id, d.family.name(), d.severity.name()]);
        for c in [
            &m.updates,
            &m.suppressed,
            &m.excepted,
            &m.evictions,
            &m.storms,
        ] {
            c.with_label_values(&[id]);
        }
        m.state_keys.with_label_values(&[id]);
        m.storm.with_label_values(&[id]);
    }
    for result in ["ok", "failed"] {
        m.reloads.with_label_values(&[result]);
    }
    m.detectors_loaded.set(l.detectors.len() as i64);
    m.detector_set.reset();
    m.detector_set
        .with_label_values(&[&format!("{:016x}", h.digest())])
        .set(1);
}

/// The format label of a rejected record that was not recognised as any format.
const UNKNOWN_FORMAT: &str = "unknown";

/// Count input errors and log them: every one of the first thousand, then every power of two
/// (all are counted).
pub fn report_errors(shared: &Shared, source: &str, errors: &mut Vec<crate::decode::InputError>) {
    for e in errors.drain(..) {
        let format = e.error.format.unwrap_or(UNKNOWN_FORMAT);
        crate::telemetry::metrics()
            .rejected
            .with_label_values(&[source, format, e.error.reason.name()])
            .inc();
        let n = shared.counters.input_errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 1000 || n.is_power_of_two() {
            tracing::warn!(source, errors = n, "{e}");
        }
    }
}

/// How a source thread ended.
type Ended = (String, Result<(), String>);

/// Run the daemon until SIGTERM / SIGINT (exit 0 when every source stopped cleanly within the
/// shutdown timeout) or until a source fails (exit 1).
pub fn run(config: Config) -> anyhow::Result<bool> {
    let loaded = Loaded::load(&config, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| anyhow::anyhow!("state_dir {}: {e}", config.state_dir.display()))?;
    tracing::info!(
        detectors = loaded.detectors.len(),
        sources = config.sources.len(),
        state_dir = %config.state_dir.display(),
        "bypassd starting"
    );
    publish_detector_set(&loaded);
    let shared = Arc::new(Shared::new(config, loaded)?);
    let _endpoints = match shared.config.metrics {
        Some(addr) => {
            let e = crate::telemetry::http::Endpoints::start(addr, readiness(&shared))?;
            tracing::info!(addr = %e.addr, "serving /metrics, /healthz, /readyz");
            Some(e)
        }
        None => None,
    };
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel::<Ended>();
    let mut threads = Vec::new();
    for source in shared.config.sources.clone() {
        let shared = shared.clone();
        let tx = ended_tx.clone();
        let name = source.name.clone();
        let t = std::thread::Builder::new()
            .name(format!("source-{name}"))
            .spawn(move || {
                let r = match &source.kind {
                    SourceKind::File(f) => files::run(&shared, &source, f),
                    SourceKind::Kafka(k) => kafka::run(&shared, &source, k),
                };
                let _ = tx.send((source.name.clone(), r));
            })?;
        threads.push((name, t));
    }
    drop(ended_tx);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let clean = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (watch_tx, mut watch_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let _watcher = if shared.config.watch_config {
            watch_config_files(&shared.config, watch_tx)
        } else {
            None
        };
        let mut failed = false;
        let mut running = threads.len();
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading, reopening sink files");
                    shared.sinks.reopen();
                    shared.reload();
                }
                Some(()) = watch_rx.recv() => {
                    // editors write in several steps: let them finish
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    while watch_rx.try_recv().is_ok() {}
                    tracing::info!("detector or inventory files changed: reloading");
                    shared.reload();
                }
                Some((name, r)) = ended_rx.recv() => {
                    running -= 1;
                    if let Err(e) = r {
                        tracing::error!(source = %name, "source failed: {e}");
                        failed = true;
                        break;
                    }
                    if running == 0 { break; }
                }
            }
        }
        Ok::<bool, std::io::Error>(!failed)
    })?;

    shared.stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_millis(shared.config.shutdown_timeout as u64);
    let mut all_stopped = true;
    for (name, t) in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !t.is_finished() {
            tracing::error!(source = %name, "did not stop within the shutdown timeout");
            all_stopped = false;
            continue;
        }
        if t.join().is_err() {
            all_stopped = false;
        }
    }
    // a source that failed during shutdown has logged it
    while let Ok((name, r)) = ended_rx.try_recv() {
        if let Err(e) = r {
            tracing::error!(source = %name, "source failed while stopping: {e}");
            all_stopped = false;
        }
    }
    // network sinks deliver what they can until the deadline; the rest stays spooled
    shared.sinks.close(deadline);
    tracing::info!(clean = clean && all_stopped, "bypassd stopped");
    Ok(clean && all_stopped)
}

/// Watch the detector directory and the inventory and mapping files.
fn watch_config_files(
    config: &Config,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let files: Vec<PathBuf> = [&config.inventory, &config.mappings]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let dirs: Vec<PathBuf> = config.detectors.iter().cloned().collect();
    if files.is_empty() && dirs.is_empty() {
        return None;
    }
    let wanted_files = files.clone();
    let wanted_dirs = dirs.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if ev.kind.is_access() {
            return;
        }
        // Kubernetes ConfigMap volumes swap a `..data` symlink rather than the files
        let relevant = ev.paths.iter().any(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".."))
                || wanted_files.iter().any(|f| p == f)
                || wanted_dirs.iter().any(|d| {
                    p.parent() == Some(d.as_path())
                        && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
                })
        });
        if relevant {
            let _ = tx.send(());
        }
    };
    let mut w = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!("cannot watch detector/inventory files ({e}); reload with SIGHUP");
            return None;
        }
    };
    // watch directories, not files: editors and ConfigMap updates replace files by rename
    let mut watched: Vec<PathBuf> = dirs;
    watched.extend(
        files
            .iter()
            .filter_map(|f| f.parent().map(|p| p.to_path_buf())),
    );
    watched.sort();
    watched.dedup();
    for d in watched {
        if let Err(e) = w.watch(&d, RecursiveMode::NonRecursive) {
            tracing::error!("cannot watch {} ({e}); reload with SIGHUP", d.display());
        }
    }
    Some(w)
}

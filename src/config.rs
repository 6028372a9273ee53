//! The daemon's configuration file (TOML; `bypassd.example.toml` explains every key).
//!
//! Loading reports every problem it finds, not only the first: each section is read on its own
//! and then checked as a whole (paths exist, names are unique, durations parse), so one run of
//! `bypassd check --config FILE` lists everything to fix.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::alerts::sinks::validate_all;
pub use crate::alerts::sinks::SinkConfig;
use crate::event::Millis;
pub use crate::sources::tail::StartAt;
use crate::time::{parse_duration, SECOND};

/// Everything `bypassd run` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// where the file the config came from lives (relative paths are resolved against it)
    pub file: PathBuf,
    pub state_dir: PathBuf,
    /// detector directory; `None` = the built-in set
    pub detectors: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    pub mappings: Option<PathBuf>,
    pub lateness: Millis,
    pub hold: Millis,
    pub idle_timeout: Millis,
    pub checkpoint_interval: Millis,
    pub shutdown_timeout: Millis,
    pub watch_config: bool,
    /// /metrics, /healthz, /readyz (default 127.0.0.1:9464; `None` when "off")
    pub metrics: Option<SocketAddr>,
    pub sources: Vec<Source>,
    pub sinks: Vec<SinkConfig>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    /// force one format for every record (a built-in name or a mapping id)
    pub format: Option<String>,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    File(FileSource),
    Kafka(KafkaSource),
}

#[derive(Debug, Clone)]
pub struct FileSource {
    pub paths: Vec<String>,
    pub start_at: StartAt,
    pub rescan: Millis,
    pub max_line_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct KafkaSource {
    pub brokers: String,
    pub group_id: String,
    pub topics: Vec<String>,
    /// librdkafka properties passed through as given (SASL, TLS, timeouts)
    pub client: BTreeMap<String, String>,
    pub max_message_bytes: usize,
}

/// Every problem found in a configuration file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub errors: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{}: {n} configuration error{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

// ---- the file as written --------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Daemon {
    state_dir: Option<String>,
    detectors: Option<String>,
    inventory: Option<String>,
    mappings: Option<String>,
    lateness: Option<String>,
    hold: Option<String>,
    idle_timeout: Option<String>,
    checkpoint_interval: Option<String>,
    shutdown_timeout: Option<String>,
    watch_config: Option<bool>,
}

/// Where /metrics, /healthz and /readyz are served when the config says nothing: loopback only.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metrics {
    /// host:port (port 0: any free port, logged at start), or "off"
    listen: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum SourceFile {
    File {
        name: String,
        paths: Vec<String>,
        #[serde(default)]
        start_at: Option<StartAt>,
        #[serde(default)]
        rescan: Option<String>,
        #[serde(default)]
        max_line_bytes: Option<usize>,
        #[serde(default)]
        format: Option<String>,
    },
    Kafka {
        name: String,
        brokers: String,
        group_id: String,
        topics: Vec<String>,
        #[serde(default)]
        client: BTreeMap<String, toml::Value>,
        #[serde(default)]
        max_message_bytes: Option<usize>,
        #[serde(default)]
        format: Option<String>,
    },
}

const TOP_KEYS: &[&str] = &["daemon", "metrics", "sources", "sinks"];

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let fail = |errors: Vec<String>| ConfigError {
            file: path.to_path_buf(),
            errors,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(vec![format!("cannot read: {e}")]))?;
        Config::parse(&text, path).map_err(fail)
    }

    /// Parse and check `text`; relative paths in it are resolved against `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<String>> {
        let table: toml::Table = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        for key in table.keys() {
            if !TOP_KEYS.contains(&key.as_str()) {
                errors.push(format!(
                    "unknown section `{key}` (expected one of: {})",
                    TOP_KEYS.join(", ")
                ));
            }
        }
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let daemon: Daemon = section(&table, "daemon", &mut errors).unwrap_or_default();
        let metrics: Option<Metrics> = section(&table, "metrics", &mut errors);
        let sources: Vec<SourceFile> = list(&table, "sources", &mut errors);
        let mut sinks: Vec<(usize, SinkConfig)> = list_indexed(&table, "sinks", &mut errors);

        let mut dur = |key: &str, v: &Option<String>, default: Millis| match v {
            None => default,
            Some(s) => parse_duration(s).unwrap_or_else(|e| {
                errors.push(format!("daemon.{key}: {e}"));
                default
            }),
        };
        let lateness = dur("lateness", &daemon.lateness, 5 * 60 * SECOND);
        let hold = dur("hold", &daemon.hold, 0);
        let idle_timeout = dur("idle_timeout", &daemon.idle_timeout, 30 * SECOND);
        let checkpoint_interval = dur("checkpoint_interval", &daemon.checkpoint_interval, SECOND);
        let shutdown_timeout = dur("shutdown_timeout", &daemon.shutdown_timeout, 10 * SECOND);
        if hold > lateness {
            errors.push(format!(
                "daemon.hold ({}) cannot be longer than daemon.lateness ({})",
                daemon.hold.as_deref().unwrap_or_default(),
                daemon.lateness.as_deref().unwrap_or("5m")
            ));
        }
        if checkpoint_interval < SECOND {
            errors.push("daemon.checkpoint_interval must be at least 1s".into());
        }

        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let mut existing = |key: &str, v: &Option<String>, dir: bool| -> Option<PathBuf> {
            let p = resolve(v.as_deref()?);
            let ok = if dir { p.is_dir() } else { p.is_file() };
            if !ok {
                let what = if dir { "directory" } else { "file" };
                errors.push(format!("daemon.{key}: no such {what}: {}", p.display()));
            }
            Some(p)
        };
        let detectors = existing("detectors", &daemon.detectors, true);
        let inventory = existing("inventory", &daemon.inventory, false);
        let mappings = existing("mappings", &daemon.mappings, false);
        let state_dir = match &daemon.state_dir {
            Some(d) => resolve(d),
            None => {
                errors.push(
                    "daemon.state_dir is required (checkpoints and detector state live there)"
                        .into(),
                );
                PathBuf::new()
            }
        };

        let metrics = match metrics {
            None => Some(DEFAULT_METRICS_LISTEN),
            Some(m) if m.listen == "off" => None,
            Some(m) => match m.listen.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(format!(
                        "metrics.listen: {:?} is not host:port or \"off\" ({e})",
                        m.listen
                    ));
                    None
                }
            },
        };

        let sources = check_sources(sources, &base, &mut errors);
        if sources.is_empty() && table.contains_key("sources") {
            // the list was present but every entry was wrong: already reported
        } else if sources.is_empty() {
            errors.push("no [[sources]]: add a file or kafka source".into());
        }
        validate_all(&mut sinks, &base, &mut errors);
        let mut sinks: Vec<SinkConfig> = sinks.into_iter().map(|(_, s)| s).collect();
        if sinks.is_empty() && !table.contains_key("sinks") {
            sinks.push(SinkConfig::stdout());
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            file: path.to_path_buf(),
            state_dir,
            detectors,
            inventory,
            mappings,
            lateness,
            hold,
            idle_timeout,
            checkpoint_interval,
            shutdown_timeout,
            watch_config: daemon.watch_config.unwrap_or(true),
            metrics,
            sources,
            sinks,
        })
    }
}

/// One `[section]`, reporting its error (with the section name) and carrying on.
fn section<T: DeserializeOwned>(
    table: &toml::Table,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    let v = table.get(key)?;
    match v.clone().try_into() {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(format!("[{key}]: {}", one_line(&e)));
            None
        }
    }
}

/// One `[[list]]`, each entry checked on its own so every bad entry is reported.
fn list<T: DeserializeOwned>(table: &toml::Table, key: &str, errors: &mut Vec<String>) -> Vec<T> {
    list_indexed(table, key, errors)
        .into_iter()
        .map(|(_, t)| t)
        .collect()
}

/// [`list`], each entry with its index in the file's list.
fn list_indexed<T: DeserializeOwned>(
    table: &toml::Table,
    key: &str,
    errors: &mut Vec<String>,
) -> Vec<(usize, T)> {
    let Some(v) = table.get(key) else {
        return Vec::new();
    };
    let Some(items) = v.as_array() else {
        errors.push(format!("`{key}` must be a list of tables ([[{key}]])"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let label = item
            .get("name")
            .and_then(|n| n.as_str())
            .map(|n| format!("[[{key}]] #{} ({n})", i + 1))
            .unwrap_or_else(|| format!("[[{key}]] #{}", i + 1));
        match item.clone().try_into() {
            Ok(t) => out.push((i, t)),
            Err(e) => errors.push(format!("{label}: {}", one_line(&e))),
        }
    }
    out
}

fn one_line(e: &toml::de::Error) -> String {
    e.message().trim().replace('\n', " ")
}

fn check_sources(sources: Vec<SourceFile>, base: &Path, errors: &mut Vec<String>) -> Vec<Source> {
    let mut names = BTreeMap::new();
    let mut out = Vec::new();
    for (i, s) in sources.into_iter().enumerate() {
        let (name, format, kind) = match s {
            SourceFile::File {
                name,
                paths,
                start_at,
                rescan,
                max_line_bytes,
                format,
            } => {
                if paths.is_empty() {
                    errors.push(format!("source {name}: `paths` is empty"));
                }
                for p in &paths {
                    if let Err(e) = glob::Pattern::new(p) {
                        errors.push(format!("source {name}: bad glob {p:?}: {e}"));
                    }
                }
                let rescan = match rescan.as_deref().map(parse_duration) {
                    None => SECOND,
                    Some(Ok(d)) if d > 0 => d,
                    Some(Ok(_)) => {
                        errors.push(format!("source {name}: rescan must be positive"));
                        SECOND
                    }
                    Some(Err(e)) => {
                        errors.push(format!("source {name}: rescan: {e}"));
                        SECOND
                    }
                };
                // relative globs are relative to the config file, like every other path in it
                let paths = paths
                    .into_iter()
                    .map(|p| match Path::new(&p).is_absolute() {
                        true => p,
                        false => base.join(&p).to_string_lossy().into_owned(),
                    })
                    .collect();
                let kind = SourceKind::File(FileSource {
                    paths,
                    start_at: start_at.unwrap_or(StartAt::End),
                    rescan,
                    max_line_bytes: max_line_bytes.unwrap_or(1 << 20),
                });
                (name, format, kind)
            }
            SourceFile::Kafka {
                name,
                brokers,
                group_id,
                topics,
                client,
                max_message_bytes,
                format,
            } => {
                if topics.is_empty() {
                    errors.push(format!(
                        "source {name}: `topics` is empty (names, or a regex starting with ^)"
                    ));
                }
                let mut props = BTreeMap::new();
                for (k, v) in client {
                    let v = match v {
                        toml::Value::String(s) => s,
                        toml::Value::Integer(n) => n.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        other => {
                            errors.push(format!(
                                "source {name}: client.{k}: use a string, number or boolean, not {}",
                                other.type_str()
                            ));
                            continue;
                        }
                    };
                    if matches!(
                        k.as_str(),
                        "group.id"
                            | "bootstrap.servers"
                            | "enable.auto.commit"
                            | "enable.auto.offset.store"
                    ) {
                        errors.push(format!(
                            "source {name}: client.{k} is set by bypassd (use group_id / brokers; offsets are committed after processing)"
                        ));
                        continue;
                    }
                    props.insert(k, v);
                }
                let kind = SourceKind::Kafka(KafkaSource {
                    brokers,
                    group_id,
                    topics,
                    client: props,
                    max_message_bytes: max_message_bytes.unwrap_or(1 << 20),
                });
                (name, format, kind)
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            errors.push(format!(
                "[[sources]] #{}: name {name:?} must be non-empty letters, digits, - _ . (it names the state files)",
                i + 1
            ));
        }
        if let Some(first) = names.insert(name.clone(), i + 1) {
            errors.push(format!(
                "[[sources]] #{}: name {name:?} already used by #{first}",
                i + 1
            ));
        }
        out.push(Source { name, format, kind });
    }
    out
}

#[cfg(test)]
mod tests;

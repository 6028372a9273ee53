//! `[[sinks]]` entries as written in the config file, and their validation (every error named by
//! field, e.g. `sinks[1].url: ...`, all reported at once).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod validate;
pub use validate::validate_all;

/// One `[[sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON lines on standard output, flushed per finding
    Stdout(StdoutSink),
    /// JSON lines appended to a file, flushed per finding; reopened after rotation
    File(FileSink),
    /// HTTP POST of each finding (or a batch, or a templated payload) to a URL
    Webhook(HttpSink),
    /// alerts posted to Prometheus Alertmanager's `/api/v2/alerts`
    Alertmanager(HttpSink),
    /// a Kafka topic, keyed by the finding uid (idempotent producer, acks=all)
    Kafka(KafkaSink),
}

/// `type = "stdout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSink {
    /// the sink's name (metrics label); default `stdout`, or `stdout-<index>` when repeated
    #[serde(default)]
    pub name: String,
    /// lowest severity sent: informational (default), low, medium, high, critical
    #[serde(default = "d::informational")]
    pub min_severity: String,
    /// detector families sent (default: every family)
    #[serde(default)]
    pub families: Vec<String>,
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    /// the sink's name (metrics label); default `file`, or `file-<index>` when repeated
    #[serde(default)]
    pub name: String,
    /// lowest severity sent: informational (default), low, medium, high, critical
    #[serde(default = "d::informational")]
    pub min_severity: String,
    /// detector families sent (default: every family)
    #[serde(default)]
    pub families: Vec<String>,
    /// the JSON-lines file (relative to the config file); its directory is created if missing
    pub path: PathBuf,
}

/// `type = "webhook"` and `type = "alertmanager"`: HTTP delivery through the spool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSink {
    /// the sink's name (metrics label, spool directory); default the type, `<type>-<index>` when
    /// repeated
    #[serde(default)]
    pub name: String,
    /// lowest severity sent: informational (default), low, medium, high, critical
    #[serde(default = "d::informational")]
    pub min_severity: String,
    /// detector families sent (default: every family)
    #[serde(default)]
    pub families: Vec<String>,
    /// webhook: the URL findings are POSTed to; alertmanager: its base URL
    /// (`http://127.0.0.1:9093`)
    pub url: String,
    /// webhook only: a JSON payload with `{{field.path}}` placeholders filled from the finding
    /// (JSON-string-escaped); one request per finding
    #[serde(default)]
    pub template: Option<String>,
    /// alertmanager only: the API path under `url` (default `/api/v2/alerts`)
    #[serde(default)]
    pub path: Option<String>,
    /// alertmanager only: `endsAt` is the delivery time plus this (default 1h); an Update
    /// re-posts the alert and so extends it
    #[serde(default)]
    pub resolve_after: Option<String>,
    /// static request headers (not the auth header: use token_env / token_file)
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// environment variable holding the auth token (read at start)
    #[serde(default)]
    pub token_env: Option<String>,
    /// file holding the auth token (read at start; surrounding whitespace trimmed)
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// header that carries the token (default `Authorization`)
    #[serde(default = "d::authorization")]
    pub auth_header: String,
    /// written before the token (default `Bearer`; empty for the bare token)
    #[serde(default = "d::bearer")]
    pub auth_scheme: String,
    /// limit for one request, connect to last byte (default 10s)
    #[serde(default = "d::ten_seconds")]
    pub timeout: String,
    /// PEM file of CA certificates to trust instead of the bundled public roots (internal TLS)
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// findings read ahead from the spool into memory (default 1000)
    #[serde(default = "d::queue_size")]
    pub queue_size: usize,
    /// undelivered bytes the disk spool may hold; beyond it new findings are dropped, logged
    /// and counted (default 1 GiB)
    #[serde(default = "d::spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// findings per request (default 1; webhook: a JSON array when more than 1)
    #[serde(default = "d::one")]
    pub batch_max: usize,
    /// how long to wait for a batch to fill before sending what there is (default 1s)
    #[serde(default = "d::one_second")]
    pub batch_wait: String,
    /// first retry delay; doubles per failure, full jitter (default 500ms)
    #[serde(default = "d::half_second")]
    pub backoff_initial: String,
    /// longest retry delay, also the cap on a receiver's Retry-After (default 60s)
    #[serde(default = "d::minute")]
    pub backoff_max: String,
}

/// `type = "kafka"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSink {
    /// the sink's name (metrics label, spool directory); default `kafka`, `kafka-<index>` when
    /// repeated
    #[serde(default)]
    pub name: String,
    /// lowest severity sent: informational (default), low, medium, high, critical
    #[serde(default = "d::informational")]
    pub min_severity: String,
    /// detector families sent (default: every family)
    #[serde(default)]
    pub families: Vec<String>,
    /// bootstrap servers, `host:port,host:port`
    pub brokers: String,
    /// the topic findings are produced to (key: `finding_info.uid`)
    pub topic: String,
    /// librdkafka producer properties passed through (TLS, SASL, timeouts); not
    /// bootstrap.servers, and enable.idempotence / acks only as true / all
    #[serde(default)]
    pub client: BTreeMap<String, PropValue>,
    /// findings read ahead from the spool into memory (default 1000)
    #[serde(default = "d::queue_size")]
    pub queue_size: usize,
    /// undelivered bytes the disk spool may hold (default 1 GiB)
    #[serde(default = "d::spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// findings produced before waiting for their delivery reports (default 1)
    #[serde(default = "d::one")]
    pub batch_max: usize,
    /// how long to wait for a batch to fill (default 1s)
    #[serde(default = "d::one_second")]
    pub batch_wait: String,
    /// first retry delay (default 500ms)
    #[serde(default = "d::half_second")]
    pub backoff_initial: String,
    /// longest retry delay (default 60s)
    #[serde(default = "d::minute")]
    pub backoff_max: String,
}

/// A librdkafka property value: TOML strings, integers and booleans, kept as text.
#[derive(Debug, Clone, PartialEq)]
pub struct PropValue(pub String);

impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PropValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PropValue, E> {
                Ok(PropValue(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PropValue, E> {
                Ok(PropValue(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PropValue, E> {
                Ok(PropValue(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<PropValue, E> {
                Ok(PropValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// How a network sink moves findings from its spool to the receiver (parsed from the config).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub queue_size: usize,
    pub spool_max_bytes: u64,
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// Which findings a sink takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// OCSF severity id 1..5
    pub min_severity: u8,
    /// family names; empty = all
    pub families: Vec<String>,
}

impl Filter {
    pub fn takes(&self, severity_id: u8, family: &str) -> bool {
        severity_id >= self.min_severity
            && (self.families.is_empty() || self.families.iter().any(|f| f == family))
    }
}

impl SinkConfig {
    /// The `type` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Stdout(_) => "stdout",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::Alertmanager(_) => "alertmanager",
            SinkConfig::Kafka(_) => "kafka",
        }
    }

    /// The sink's name (after [`validate_all`], never empty).
    pub fn name(&self) -> &str {
        self.common().0
    }

    /// The filter (valid after [`validate_all`]).
    pub fn filter(&self) -> Filter {
        let (_, min, families) = self.common();
        Filter {
            min_severity: severity_id(min).unwrap_or(1),
            families: families.to_vec(),
        }
    }

    /// The delivery settings of a network sink (valid after [`validate_all`]).
    pub fn delivery(&self) -> Option<Delivery> {
        let (queue_size, spool_max_bytes, batch_max, wait, initial, max) = match self {
            SinkConfig::Webhook(h) | SinkConfig::Alertmanager(h) => (
                h.queue_size,
                h.spool_max_bytes,
                h.batch_max,
                &h.batch_wait,
                &h.backoff_initial,
                &h.backoff_max,
            ),
            SinkConfig::Kafka(k) => (
                k.queue_size,
                k.spool_max_bytes,
                k.batch_max,
                &k.batch_wait,
                &k.backoff_initial,
                &k.backoff_max,
            ),
            _ => return None,
        };
        Some(Delivery {
            queue_size,
            spool_max_bytes,
            batch_max,
            batch_wait: duration(wait).unwrap_or(Duration::from_secs(1)),
            backoff_initial: duration(initial).unwrap_or(Duration::from_millis(500)),
            backoff_max: duration(max).unwrap_or(Duration::from_secs(60)),
        })
    }

    fn common(&self) -> (&str, &str, &[String]) {
        match self {
            SinkConfig::Stdout(s) => (&s.name, &s.min_severity, &s.families),
            SinkConfig::File(s) => (&s.name, &s.min_severity, &s.families),
            SinkConfig::Webhook(s) | SinkConfig::Alertmanager(s) => {
                (&s.name, &s.min_severity, &s.families)
            }
            SinkConfig::Kafka(s) => (&s.name, &s.min_severity, &s.families),
        }
    }

    fn common_mut(&mut self) -> (&mut String, &str, &[String]) {
        match self {
            SinkConfig::Stdout(s) => (&mut s.name, &s.min_severity, &s.families),
            SinkConfig::File(s) => (&mut s.name, &s.min_severity, &s.families),
            SinkConfig::Webhook(s) | SinkConfig::Alertmanager(s) => {
                (&mut s.name, &s.min_severity, &s.families)
            }
            SinkConfig::Kafka(s) => (&mut s.name, &s.min_severity, &s.families),
        }
    }

    /// The default sink list: stdout.
    pub fn stdout() -> SinkConfig {
        SinkConfig::Stdout(StdoutSink {
            name: "stdout".into(),
            min_severity: d::informational(),
            families: Vec::new(),
        })
    }
}

impl HttpSink {
    /// The request timeout (valid after [`validate_all`]).
    pub fn timeout(&self) -> Duration {
        duration(&self.timeout).unwrap_or(Duration::from_secs(10))
    }

    /// Alertmanager's `resolve_after` (valid after [`validate_all`]).
    pub fn resolve_after(&self) -> Duration {
        self.resolve_after
            .as_deref()
            .and_then(|s| duration(s).ok())
            .unwrap_or(Duration::from_secs(3600))
    }
}

/// OCSF severity id of a severity name (`high` -> 4).
pub fn severity_id(name: &str) -> Option<u8> {
    crate::detect::spec::SEVERITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s.id())
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::time::parse_duration(s).map(|ms| Duration::from_millis(ms.max(0) as u64))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// serde defaults.
mod d {
    pub fn informational() -> String {
        "informational".into()
    }
    pub fn authorization() -> String {
        "Authorization".into()
    }
    pub fn bearer() -> String {
        "Bearer".into()
    }
    pub fn ten_seconds() -> String {
        "10s".into()
    }
    pub fn one_second() -> String {
        "1s".into()
    }
    pub fn half_second() -> String {
        "500ms".into()
    }
    pub fn minute() -> String {
        "60s".into()
    }
    pub fn queue_size() -> usize {
        1000
    }
    pub fn spool_max_bytes() -> u64 {
        1 << 30
    }
    pub fn one() -> usize {
        1
    }
}

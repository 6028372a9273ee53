//! Checking `[[sinks]]` entries: every problem reported, each named `sinks[<index>].<field>`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{duration, resolve, severity_id, HttpSink, KafkaSink, SinkConfig};
use crate::alerts::sinks::template::Template;
use crate::detect::spec::{FAMILIES, SEVERITIES};

/// Validate every entry (each with its index in the file's list), give unnamed sinks their
/// default name (`<type>`, or `<type>-<index>` when the type is repeated) and check that names
/// are unique.
pub fn validate_all(sinks: &mut [(usize, SinkConfig)], base_dir: &Path, errors: &mut Vec<String>) {
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, s) in sinks.iter() {
        *per_type.entry(s.kind()).or_default() += 1;
    }
    for (i, s) in sinks.iter_mut() {
        let i = *i;
        let kind = s.kind();
        let (name, _, _) = s.common_mut();
        if name.is_empty() {
            *name = match per_type[kind] {
                1 => kind.to_string(),
                _ => format!("{kind}-{i}"),
            };
        }
        s.validate(i, base_dir, errors);
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in sinks.iter() {
        if let Some(first) = seen.insert(s.name(), *i) {
            errors.push(format!(
                "sinks[{i}].name: {:?} already used by sinks[{first}]",
                s.name()
            ));
        }
    }
}

impl SinkConfig {
    /// Check one entry and resolve its relative paths against `base_dir`.
    pub fn validate(&mut self, index: usize, base_dir: &Path, errors: &mut Vec<String>) {
        let at = format!("sinks[{index}]");
        let (name, min, families) = self.common();
        check_common(&at, name, min, families, errors);
        match self {
            SinkConfig::Stdout(_) => {}
            SinkConfig::File(f) => {
                if f.path.as_os_str().is_empty() {
                    errors.push(format!("{at}.path: empty"));
                }
                f.path = resolve(base_dir, &f.path);
            }
            SinkConfig::Webhook(h) => check_http(&at, h, false, base_dir, errors),
            SinkConfig::Alertmanager(h) => check_http(&at, h, true, base_dir, errors),
            SinkConfig::Kafka(k) => check_kafka(&at, k, errors),
        }
        if let Some(d) = self.delivery() {
            check_delivery(
                &at,
                self,
                d.queue_size,
                d.batch_max,
                d.spool_max_bytes,
                errors,
            );
        }
    }
}

fn check_common(at: &str, name: &str, min: &str, families: &[String], errors: &mut Vec<String>) {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        errors.push(format!(
            "{at}.name: {name:?} must be letters, digits, - _ . (it names the spool directory and the metrics label)"
        ));
    }
    if severity_id(min).is_none() {
        let names: Vec<&str> = SEVERITIES.iter().map(|(n, _)| *n).collect();
        errors.push(format!(
            "{at}.min_severity: unknown severity {min:?} (expected one of: {})",
            names.join(", ")
        ));
    }
    for f in families {
        if !FAMILIES.iter().any(|(n, _)| n == f) {
            let names: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
            errors.push(format!(
                "{at}.families: unknown family {f:?} (expected any of: {})",
                names.join(", ")
            ));
        }
    }
}

fn check_http(at: &str, h: &mut HttpSink, am: bool, base: &Path, errors: &mut Vec<String>) {
    match h.url.parse::<ureq::http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
        Ok(_) => errors.push(format!(
            "{at}.url: {:?} must be an http:// or https:// URL with a host",
            h.url
        )),
        Err(e) => errors.push(format!("{at}.url: {:?} is not a URL ({e})", h.url)),
    }
    if am {
        if h.template.is_some() {
            errors.push(format!("{at}.template: only for webhook sinks"));
        }
        if let Some(p) = &h.path {
            if !p.starts_with('/') {
                errors.push(format!("{at}.path: {p:?} must start with /"));
            }
        }
        positive(at, "resolve_after", h.resolve_after.as_deref(), errors);
    } else {
        for (key, set) in [
            ("path", h.path.is_some()),
            ("resolve_after", h.resolve_after.is_some()),
        ] {
            if set {
                errors.push(format!("{at}.{key}: only for alertmanager sinks"));
            }
        }
        if let Some(t) = &h.template {
            if let Err(e) = Template::parse(t).and_then(|t| t.check()) {
                errors.push(format!("{at}.template: {e}"));
            }
        }
    }
    check_auth(at, h, base, errors);
    positive(at, "timeout", Some(&h.timeout), errors);
    if let Some(ca) = &h.ca_file {
        let p = resolve(base, ca);
        if !p.is_file() {
            errors.push(format!("{at}.ca_file: no such file: {}", p.display()));
        }
        h.ca_file = Some(p);
    }
}

fn check_auth(at: &str, h: &mut HttpSink, base: &Path, errors: &mut Vec<String>) {
    if ureq::http::HeaderName::from_bytes(h.auth_header.as_bytes()).is_err() {
        errors.push(format!(
            "{at}.auth_header: {:?} is not a header name",
            h.auth_header
        ));
    }
    for (k, v) in &h.headers {
        if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case(&h.auth_header) {
            errors.push(format!(
                "{at}.headers.{k}: do not put credentials in the config; use token_env or token_file (sent as {}: {} <token>)",
                h.auth_header, h.auth_scheme
            ));
        } else if ureq::http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            errors.push(format!("{at}.headers.{k}: not a header name"));
        } else if ureq::http::HeaderValue::from_str(v).is_err() {
            errors.push(format!("{at}.headers.{k}: not a valid header value"));
        }
    }
    match (&h.token_env, &h.token_file) {
        (Some(_), Some(_)) => errors.push(format!(
            "{at}.token_file: set token_env or token_file, not both"
        )),
        (Some(v), None) if v.is_empty() || v.contains('=') => {
            errors.push(format!("{at}.token_env: {v:?} is not a variable name"))
        }
        (None, Some(f)) => {
            let p = resolve(base, f);
            if !p.is_file() {
                errors.push(format!("{at}.token_file: no such file: {}", p.display()));
            }
            h.token_file = Some(p);
        }
        _ => {}
    }
}

fn check_kafka(at: &str, k: &KafkaSink, errors: &mut Vec<String>) {
    if k.brokers.trim().is_empty() {
        errors.push(format!("{at}.brokers: empty (host:port,host:port)"));
    }
    if k.topic.trim().is_empty() {
        errors.push(format!("{at}.topic: empty"));
    }
    for (key, v) in &k.client {
        let v = v.0.as_str();
        let bad = match key.as_str() {
            "bootstrap.servers" => Some("is set from `brokers`"),
            "enable.idempotence" if v != "true" => {
                Some("must stay true (no duplicates or reordering on producer retries)")
            }
            "acks" | "request.required.acks" if !matches!(v, "all" | "-1") => Some(
                "must stay all (a finding counts as delivered once every in-sync replica has it)",
            ),
            _ => None,
        };
        if let Some(why) = bad {
            errors.push(format!("{at}.client.{key}: {why}"));
        }
    }
}

fn check_delivery(
    at: &str,
    s: &SinkConfig,
    queue_size: usize,
    batch_max: usize,
    spool_max_bytes: u64,
    errors: &mut Vec<String>,
) {
    let (wait, initial, max) = match s {
        SinkConfig::Webhook(h) | SinkConfig::Alertmanager(h) => {
            (&h.batch_wait, &h.backoff_initial, &h.backoff_max)
        }
        SinkConfig::Kafka(k) => (&k.batch_wait, &k.backoff_initial, &k.backoff_max),
        _ => return,
    };
    if queue_size == 0 {
        errors.push(format!("{at}.queue_size: must be at least 1"));
    }
    if batch_max == 0 || batch_max > queue_size.max(1) {
        errors.push(format!(
            "{at}.batch_max: must be between 1 and queue_size ({queue_size})"
        ));
    }
    if spool_max_bytes == 0 {
        errors.push(format!("{at}.spool_max_bytes: must be positive"));
    }
    if let Err(e) = duration(wait) {
        errors.push(format!("{at}.batch_wait: {e}"));
    }
    let initial = positive(at, "backoff_initial", Some(initial), errors);
    let max = positive(at, "backoff_max", Some(max), errors);
    if let (Some(i), Some(m)) = (initial, max) {
        if m < i {
            errors.push(format!(
                "{at}.backoff_max: shorter than backoff_initial ({m:?} < {i:?})"
            ));
        }
    }
}

/// A duration that must parse and be above zero.
fn positive(at: &str, key: &str, v: Option<&str>, errors: &mut Vec<String>) -> Option<Duration> {
    match duration(v?) {
        Ok(d) if d > Duration::ZERO => Some(d),
        Ok(_) => {
            errors.push(format!("{at}.{key}: must be above 0"));
            None
        }
        Err(e) => {
            errors.push(format!("{at}.{key}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests;

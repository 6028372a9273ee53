//! The metric names `deploy/` uses: every name in the Grafana dashboard's queries and the
//! Prometheus rules. Shared by `tests/deploy.rs` (each is defined in `src/telemetry/metrics.rs`)
//! and `tests/metrics.rs` (each is in a running daemon's exposition).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every metric name referenced by the Grafana dashboard (panel and annotation queries, variable
/// queries) and the Prometheus rules: each token matching `[a-zA-Z_:][a-zA-Z0-9_:]*` that starts
/// with `bypassd_` or `process_`, with the `_bucket`, `_sum` and `_count` series of a histogram
/// mapped back to the histogram's name (no bypassd metric ends in those otherwise: counters end
/// in `_total`).
pub fn metric_names_used() -> BTreeSet<String> {
    let mut exprs = dashboard_queries();
    exprs.extend(rule_exprs());
    exprs
        .iter()
        .flat_map(|e| metric_tokens(e.as_str()))
        .map(|name| histogram_base(&name).to_string())
        .collect()
}

/// The PromQL of the dashboard: panel targets, annotations and query variables.
pub fn dashboard_queries() -> Vec<String> {
    let path = root().join("deploy/grafana/bypassd.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let d: serde_json::Value = serde_json::from_str(&text).expect("bypassd.json is JSON");
    let mut out = Vec::new();
    let mut push = |v: &serde_json::Value| {
        if let Some(s) = v.as_str() {
            out.push(s.to_string());
        }
    };
    for p in d["panels"].as_array().into_iter().flatten() {
        let inner = p["panels"].as_array().into_iter().flatten();
        for panel in std::iter::once(p).chain(inner) {
            for t in panel["targets"].as_array().into_iter().flatten() {
                push(&t["expr"]);
            }
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        push(&a["expr"]);
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        push(&v["definition"]);
        push(&v["query"]["query"]);
    }
    out
}

/// The `expr` of every rule in deploy/prometheus/alerts.yaml.
pub fn rule_exprs() -> Vec<String> {
    let path = root().join("deploy/prometheus/alerts.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rules: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("alerts.yaml");
    let mut out = Vec::new();
    for g in rules["groups"].as_sequence().into_iter().flatten() {
        for r in g["rules"].as_sequence().into_iter().flatten() {
            if let Some(e) = r["expr"].as_str() {
                out.push(e.to_string());
            }
        }
    }
    out
}

/// Identifier tokens of `expr` that name bypassd or process metrics.
pub fn metric_tokens(expr: &str) -> Vec<String> {
    let start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let cont = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !start(c) {
            // a digit run (like `5m` or `1e3`) is no identifier start; skip it whole
            if c.is_ascii_digit() {
                while chars.peek().is_some_and(|&(_, c)| cont(c)) {
                    chars.next();
                }
            }
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, c)) = chars.peek() {
            if !cont(c) {
                break;
            }
            end = j + c.len_utf8();
            chars.next();
        }
        let token = &expr[i..end];
        if token.starts_with("bypassd_") || token.starts_with("process_") {
            out.push(token.to_string());
        }
    }
    out
}

/// `x_bucket`, `x_sum`, `x_count` -> `x`.
pub fn histogram_base(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

//! Checks on `deploy/`: the Prometheus rules (promtool, when installed), the Grafana dashboard,
//! every YAML file, the Kubernetes manifests' security settings, the example configurations and
//! inventory, and that every metric the dashboard and the rules use is defined in
//! `src/telemetry/metrics.rs`.
//!
//! promtool comes with Debian's `prometheus` package. Without it the promtool test prints
//! `SKIPPED` and passes, unless BYPASSD_REQUIRE_PROMETHEUS=1 makes a missing promtool a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

#[path = "common/names.rs"]
mod names;
use names::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every YAML document in `path` (multi-document files give several).
fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = read(path);
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        // on an error the iterator keeps yielding it: stop at the first one
        let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if !v.is_null() {
            docs.push(v);
        }
    }
    docs
}

fn yaml(path: &Path) -> Value {
    let mut docs = yaml_docs(path);
    assert_eq!(
        docs.len(),
        1,
        "{}: expected one YAML document",
        path.display()
    );
    docs.remove(0)
}

fn dashboard() -> serde_json::Value {
    let path = deploy("grafana/bypassd.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- Prometheus rules --------------------------------------------------------------------------

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let install = "apt-get install -y --no-install-recommends prometheus";
    let Some(promtool) = promtool() else {
        if std::env::var("BYPASSD_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1") {
            panic!("BYPASSD_REQUIRE_PROMETHEUS=1 but promtool is not on PATH: {install}");
        }
        eprintln!("SKIPPED: promtool not on PATH ({install})");
        return;
    };
    for args in [
        ["check", "rules", "alerts.yaml"],
        ["test", "rules", "alerts.test.yaml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(deploy("prometheus"))
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", promtool.display()));
        assert!(
            out.status.success(),
            "promtool {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const ALERTS: &[&str] = &[
    "BypassdDown",
    "BypassdTargetMissing",
    "BypassdNotReady",
    "IngestStalled",
    "WatermarkLagHigh",
    "KafkaConsumerLagGrowing",
    "SinkFailing",
    "SinkSpoolGrowing",
    "SinkDropping",
    "RejectsSpiking",
    "CheckpointStale",
    "StateEvictions",
    "CriticalFinding",
    "FindingRateSpike",
    "AlertStorm",
];

fn alert_rules() -> Vec<Value> {
    let rules = yaml(&deploy("prometheus/alerts.yaml"));
    let groups = rules["groups"].as_sequence().expect("groups");
    let names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["bypassd-health", "bypassd-findings"]);
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").iter().cloned())
        .collect()
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook_section() {
    let readme = read(&deploy("README.md"));
    let rules = alert_rules();
    let names: BTreeSet<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    assert_eq!(names, ALERTS.iter().copied().collect::<BTreeSet<_>>());
    for r in &rules {
        let alert = r["alert"].as_str().expect("alert name");
        let severity = r["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("page" | "ticket")),
            "{alert}: severity {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = r["annotations"][key].as_str().unwrap_or("");
            assert!(!text.trim().is_empty(), "{alert}: no {key}");
        }
        let runbook = format!("deploy/README.md#{}", alert.to_lowercase());
        assert_eq!(
            r["annotations"]["runbook_url"].as_str(),
            Some(runbook.as_str())
        );
        let heading = format!("### {alert}");
        assert!(
            readme.lines().any(|l| l.trim() == heading),
            "deploy/README.md has no `{heading}` runbook section"
        );
    }
}

#[test]
fn every_alert_has_firing_and_quiet_unit_tests() {
    let tests = yaml(&deploy("prometheus/alerts.test.yaml"));
    let cases: Vec<&Value> = tests["tests"]
        .as_sequence()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().expect("alert_rule_test"))
        .collect();
    for alert in ALERTS {
        let exp: Vec<usize> = cases
            .iter()
            .filter(|c| c["alertname"].as_str() == Some(*alert))
            .map(|c| c["exp_alerts"].as_sequence().map_or(0, |s| s.len()))
            .collect();
        assert!(
            exp.iter().any(|&n| n > 0),
            "{alert}: no case where it fires"
        );
        assert!(exp.contains(&0), "{alert}: no case where it must not fire");
    }
}

// ---- Grafana dashboard ------------------------------------------------------------------------

/// Every panel, including those inside (collapsed) rows.
fn panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Every `datasource` object in the document names the `datasource` variable (or Grafana's own
/// built-in annotation source), never a fixed uid.
fn check_datasource_refs(v: &serde_json::Value, at: &str) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(uid) = map.get("datasource").and_then(|d| d.get("uid")) {
                let uid = uid.as_str().unwrap_or("");
                assert!(
                    uid == "${datasource}" || uid == "-- Grafana --",
                    "{at}: datasource uid {uid:?} (use ${{datasource}})"
                );
            }
            for (k, inner) in map {
                check_datasource_refs(inner, &format!("{at}.{k}"));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                check_datasource_refs(inner, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn dashboard_panels_have_titles_and_queries() {
    let d = dashboard();
    assert_eq!(d["uid"], "bypassd");
    assert_eq!(d["schemaVersion"], 39);
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| vars.iter().find(|v| v["name"] == name);
    let ds = var("datasource").expect("a `datasource` variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["source", "detector"] {
        assert!(var(name).is_some(), "no `{name}` variable");
    }
    check_datasource_refs(&d, "dashboard");
    let panels = panels(&d);
    assert!(panels.len() >= 20, "only {} panels", panels.len());
    for p in panels {
        let title = p["title"].as_str().unwrap_or("");
        assert!(!title.trim().is_empty(), "panel {} has no title", p["id"]);
        if p["type"] == "row" {
            continue; // a row only groups the panels below it; it queries nothing
        }
        let exprs = p["targets"].as_array().map_or(0, |ts| {
            ts.iter()
                .filter(|t| t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()))
                .count()
        });
        assert!(exprs > 0, "panel {title:?} has no target with an expr");
    }
}

// ---- YAML, manifests, configurations ----------------------------------------------------------

fn yaml_files() -> Vec<PathBuf> {
    let mut files = vec![
        deploy("docker/compose.yaml"),
        deploy("docker/prometheus.yml"),
    ];
    for dir in ["kubernetes", "prometheus", "grafana/provisioning"] {
        for entry in walkdir::WalkDir::new(deploy(dir)) {
            let path = entry.expect("walk deploy/").into_path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("yaml" | "yml")) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_yaml_file_parses() {
    let files = yaml_files();
    assert!(files.len() >= 15, "{files:?}");
    for f in files {
        assert!(!yaml_docs(&f).is_empty(), "{}: no document", f.display());
    }
}

/// The pod spec of a Deployment or DaemonSet keeps bypassd's security settings and probes.
fn check_workload(name: &str, pod: &Value) {
    let sc = &pod["securityContext"];
    assert_eq!(
        sc["runAsNonRoot"].as_bool(),
        Some(true),
        "{name}: runAsNonRoot"
    );
    assert_eq!(
        sc["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault"),
        "{name}"
    );
    let init = pod["initContainers"].as_sequence().into_iter().flatten();
    let main = pod["containers"].as_sequence().expect("containers");
    for c in init.chain(main) {
        let at = format!("{name}/{}", c["name"].as_str().unwrap_or("?"));
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{at}");
        assert_eq!(
            sc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{at}"
        );
        let dropped = sc["capabilities"]["drop"]
            .as_sequence()
            .expect("capabilities.drop");
        assert!(
            dropped.iter().any(|d| d.as_str() == Some("ALL")),
            "{at}: drop ALL"
        );
        assert!(c["resources"]["requests"].is_mapping(), "{at}: resources");
    }
    for c in main {
        let at = format!("{name}/{}", c["name"].as_str().unwrap_or("?"));
        assert_eq!(
            c["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{at}"
        );
        let liveness = c["livenessProbe"]["httpGet"]["path"].as_str();
        let readiness = c["readinessProbe"]["httpGet"]["path"].as_str();
        assert_eq!(liveness, Some("/healthz"), "{at}");
        assert_eq!(readiness, Some("/readyz"), "{at}");
        let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
        assert!(
            mounts
                .iter()
                .any(|m| m["mountPath"].as_str() == Some("/etc/bypassd")),
            "{at}: config at /etc/bypassd"
        );
    }
}

#[test]
fn kubernetes_manifests_are_listed_namespaced_and_locked_down() {
    let dir = deploy("kubernetes");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource path").to_string())
        .collect();
    let files: BTreeSet<String> = yaml_files()
        .iter()
        .filter(|f| f.parent() == Some(dir.as_path()))
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|f| f != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, files,
        "kustomization.yaml resources vs. the files beside it"
    );

    let mut kinds = BTreeSet::new();
    for file in &files {
        for doc in yaml_docs(&dir.join(file)) {
            let kind = doc["kind"].as_str().expect("kind").to_string();
            let name = format!(
                "{file}: {kind} {}",
                doc["metadata"]["name"].as_str().expect("name")
            );
            assert!(doc["apiVersion"].as_str().is_some(), "{name}: apiVersion");
            if kind != "Namespace" {
                assert_eq!(
                    doc["metadata"]["namespace"].as_str(),
                    Some("bypassd"),
                    "{name}"
                );
            }
            if kind == "Deployment" || kind == "DaemonSet" {
                check_workload(&name, &doc["spec"]["template"]["spec"]);
            }
            kinds.insert(kind);
        }
    }
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "DaemonSet",
        "Service",
        "ServiceMonitor",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/kubernetes");
    }
}

/// `data.<key>` of the ConfigMap in `deploy/kubernetes/<file>`.
fn configmap_data(file: &str, key: &str) -> String {
    let cm = yaml(&deploy("kubernetes").join(file));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"), "{file}");
    cm["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no data.{key}"))
        .to_string()
}

#[test]
fn example_configurations_and_inventory_load() {
    let inventory = configmap_data("configmap-inventory.yaml", "inventory.yaml");
    bypassd::inventory::Inventory::parse("bypassd-inventory", &inventory)
        .unwrap_or_else(|e| panic!("{e}"));

    // the files the configurations name inside the image / pods, made here
    let tmp = tempfile::tempdir().expect("tempdir");
    let inventory_path = tmp.path().join("inventory.yaml");
    let token_path = tmp.path().join("webhook-token");
    std::fs::write(&inventory_path, &inventory).expect("write inventory");
    std::fs::write(&token_path, "test-token\n").expect("write token");
    let detectors = root().join("detectors");
    let configs = [
        (
            "deploy/docker/bypassd.toml",
            read(&deploy("docker/bypassd.toml")),
        ),
        (
            "ConfigMap bypassd-config",
            configmap_data("configmap-config.yaml", "bypassd.toml"),
        ),
        (
            "ConfigMap bypassd-node-config",
            configmap_data("configmap-node-config.yaml", "bypassd.toml"),
        ),
    ];
    for (name, text) in configs {
        // in a container nothing outside can reach loopback
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let listen = table["metrics"]["listen"].as_str();
        assert_eq!(listen, Some("0.0.0.0:9464"), "{name}: metrics.listen");

        let text = text
            .replace("/usr/share/bypassd/detectors", &detectors.to_string_lossy())
            .replace(
                "/etc/bypassd/inventory.yaml",
                &inventory_path.to_string_lossy(),
            )
            .replace(
                "/etc/bypassd/tokens/webhook-token",
                &token_path.to_string_lossy(),
            );
        let errors = bypassd::config::Config::parse(&text, &tmp.path().join("bypassd.toml"))
            .err()
            .unwrap_or_default();
        // The webhook sink comes with the alert-sinks work; a build without it rejects that
        // entry, and only that is let through (once the sink exists its keys are checked here).
        let (pending, errors): (Vec<String>, Vec<String>) = errors
            .into_iter()
            .partition(|e| e.contains("unknown variant `webhook`"));
        if !pending.is_empty() {
            eprintln!("NOTE: {name}: this build has no webhook sink; that entry is not checked");
        }
        assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    }
}

// ---- metric names -----------------------------------------------------------------------------

/// The process collector's metrics the dashboard may use besides bypassd's own.
const PROCESS_METRICS: &[&str] = &[
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
];

/// Every metric name defined in `src/telemetry/metrics.rs` (its quoted `bypassd_*` strings; the
/// bare prefix, which its own test quotes, is none).
fn metric_names_defined() -> BTreeSet<String> {
    let text = read(&root().join("src/telemetry/metrics.rs"));
    text.match_indices("\"bypassd_")
        .filter_map(|(i, _)| text[i + 1..].split('"').next())
        .filter(|s| s.len() > "bypassd_".len())
        .filter(|s| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_metric_used_is_defined() {
    let defined = metric_names_defined();
    assert!(defined.len() >= 30, "{defined:?}");
    let used = metric_names_used();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !defined.contains(*n) && !PROCESS_METRICS.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "used in deploy/ but not defined in src/telemetry/metrics.rs: {unknown:?}"
    );
}

/// A new metric should be visible somewhere: on the dashboard or in an alert.
#[test]
fn every_defined_metric_is_used() {
    let used = metric_names_used();
    let unused: Vec<String> = metric_names_defined().difference(&used).cloned().collect();
    assert!(
        unused.is_empty(),
        "defined in src/telemetry/metrics.rs but on no dashboard panel or alert: {unused:?}"
    );
}

#[test]
fn metric_tokens_find_names_and_skip_the_rest() {
    let e = r#"histogram_quantile(0.95, sum by (sink, le) (rate(bypassd_sink_request_duration_seconds_bucket{job=~".*bypassd.*"}[5m]))) and on (job) process_open_fds offset 5m"#;
    assert_eq!(
        metric_tokens(e),
        [
            "bypassd_sink_request_duration_seconds_bucket",
            "process_open_fds"
        ]
    );
    assert_eq!(
        histogram_base("bypassd_sink_request_duration_seconds_bucket"),
        "bypassd_sink_request_duration_seconds"
    );
    assert_eq!(
        histogram_base("bypassd_findings_total"),
        "bypassd_findings_total"
    );
}

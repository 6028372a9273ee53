//! The Alertmanager sink against a real Alertmanager (Debian's `prometheus-alertmanager`),
//! started on a free port with a minimal config; alerts are read back through its API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bypassd::alerts::sinks::Sinks;
use serde_json::Value;

use super::{finding, sink, until, update};

struct Alertmanager {
    child: Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/prometheus-alertmanager");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("prometheus-alertmanager"), d.join("alertmanager")])
        .find(|p| p.is_file())
}

/// A running Alertmanager, or `None` (skip) when it is not installed.
fn start(dir: &Path) -> Option<Alertmanager> {
    let required = std::env::var("BYPASSD_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1");
    let Some(bin) = binary() else {
        assert!(
            !required,
            "BYPASSD_REQUIRE_PROMETHEUS=1 but no alertmanager (apt-get install prometheus-alertmanager)"
        );
        eprintln!("SKIPPED: no alertmanager binary (apt-get install -y --no-install-recommends prometheus-alertmanager)");
        return None;
    };
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let ready = format!("{}/-/ready", am.url);
    until(Duration::from_secs(10), "alertmanager ready", || {
        ureq::get(&ready).call().is_ok()
    });
    Some(am)
}

fn alerts(url: &str) -> Vec<Value> {
    let mut resp = ureq::get(format!("{url}/api/v2/alerts")).call().unwrap();
    let text = resp.body_mut().read_to_string().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_array().cloned().unwrap_or_default()
}

fn by_finding<'a>(alerts: &'a [Value], uid: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| a["labels"]["finding_uid"] == uid)
}

#[test]
fn alertmanager_receives_labelled_alerts_and_updates_refresh_them() {
    let dir = tempfile::tempdir().unwrap();
    let Some(am) = start(dir.path()) else { return };
    let cfg = sink(
        &format!(
            "type = \"alertmanager\"\nname = \"am-test\"\nurl = \"{}/\"\nbackoff_initial = \"50ms\"\nbackoff_max = \"1s\"",
            am.url
        ),
        dir.path(),
    );
    let sinks = Sinks::open(&[cfg], &dir.path().join("state")).unwrap();
    sinks.write(&finding(1)).unwrap();
    sinks.write(&finding(2)).unwrap();
    sinks.write(&update(1, 5)).unwrap();
    let started = Instant::now();
    until(
        Duration::from_secs(10),
        "both alerts, the first updated",
        || {
            let a = alerts(&am.url);
            a.len() == 2
                && by_finding(&a, "f001").is_some_and(|x| x["annotations"]["ocsf_uid"] == "f001-5")
        },
    );
    sinks.close(Instant::now() + Duration::from_secs(5));

    let all = alerts(&am.url);
    let a = by_finding(&all, "f001").unwrap();
    let f = finding(1);
    let labels = &a["labels"];
    assert_eq!(labels["alertname"], "BypassdFinding");
    assert_eq!(labels["detector"], "credential-multi-network");
    assert_eq!(labels["family"], "credential_sharing");
    assert_eq!(labels["severity"], "high");
    let ann = &a["annotations"];
    assert_eq!(ann["title"], f.finding_info.title.as_str());
    assert_eq!(ann["summary"], f.message.as_str());
    assert_eq!(ann["actor"], "svc-a");
    assert_eq!(ann["credential"], "AKIAEXAMPLE1");
    let evidence = ann["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with("5 events, first ") && evidence.ends_with("formats: cloudtrail"),
        "{evidence}"
    );
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(
        by_finding(&all, "f002").unwrap()["annotations"]["ocsf_uid"],
        "f002"
    );
    // endsAt: about an hour after delivery
    let ends = bypassd::time::parse_rfc3339(a["endsAt"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let left = (ends - now) / 1000;
    let waited = started.elapsed().as_secs() as i64;
    assert!((3590 - waited..=3600).contains(&left), "endsAt in {left}s");
}

//! A real Prometheus server for the tests: started on a free loopback port, scraping the given
//! targets every second, queried through its HTTP API.
//!
//! Without the `prometheus` binary the tests say SKIPPED and pass, unless
//! BYPASSD_REQUIRE_PROMETHEUS=1 (set by .ci/run), which makes it a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn required() -> bool {
    std::env::var("BYPASSD_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1")
}

/// `name` on PATH or in /usr/bin; `None` (after saying SKIPPED) when missing and not required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(Path::new("/usr/bin").join(name)).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(
            !required(),
            "BYPASSD_REQUIRE_PROMETHEUS=1 but no {name} (apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)"
        );
        eprintln!("SKIPPED: {name} not installed");
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Prometheus {
    child: Child,
    pub url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Start a server in `dir` scraping `target` (host:port) every second.
    pub fn start(dir: &Path, target: &str) -> Option<Prometheus> {
        let bin = tool("prometheus")?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: bypassd\n    static_configs: [{{targets: [\"{target}\"]}}]\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Some(Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The instant query's single value, if the result has exactly one series.
    pub fn value(&self, query: &str) -> Option<f64> {
        let mut resp = ureq::get(format!("{}/api/v1/query", self.url))
            .query("query", query)
            .call()
            .ok()?;
        let text = resp.body_mut().read_to_string().ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    /// Wait until `query` gives `want` (the scrape is every second); the last value seen on
    /// failure.
    pub fn wait_for(&self, query: &str, want: f64) -> Result<(), Option<f64>> {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.value(query);
            if last == Some(want) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(last)
    }
}

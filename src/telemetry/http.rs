//! The daemon's HTTP endpoints: `/metrics` (Prometheus text format), `/healthz` (the process
//! answers) and `/readyz` (every source connected and detectors loaded; 503 with the reason
//! otherwise). One small thread; requests are rare (a scrape every few seconds).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Response, Server};

use super::metrics;

/// Readiness: `Ok(summary)` or `Err(what is not ready)`.
pub type Readiness = Box<dyn Fn() -> Result<String, String> + Send + Sync>;

pub struct Endpoints {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

impl Endpoints {
    /// Listen on `addr` (port 0: any free port; see [`Endpoints::addr`]).
    pub fn start(addr: SocketAddr, ready: Readiness) -> std::io::Result<Endpoints> {
        let server = Server::http(addr)
            .map_err(|e| std::io::Error::other(format!("metrics listener on {addr}: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("metrics listener has no IP address"))?;
        let server = Arc::new(server);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || serve(&s, &ready))?;
        Ok(Endpoints {
            server,
            thread: Some(thread),
            addr,
        })
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &Server, ready: &Readiness) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("").to_string();
        let resp = match (req.method(), path.as_str()) {
            (Method::Get | Method::Head, "/metrics") => Response::from_data(metrics().render())
                .with_header(header("Content-Type", prometheus::TEXT_FORMAT)),
            (Method::Get | Method::Head, "/healthz") => Response::from_string("ok\n"),
            (Method::Get | Method::Head, "/readyz") => match ready() {
                Ok(s) => Response::from_string(format!("ready: {s}\n")),
                Err(s) => Response::from_string(format!("not ready: {s}\n")).with_status_code(503),
            },
            (Method::Get | Method::Head, "/") => Response::from_string(
                "bypassd: /metrics (Prometheus), /healthz (alive), /readyz (sources and detectors)\n",
            ),
            (Method::Get | Method::Head, _) => {
                Response::from_string("not found\n").with_status_code(404)
            }
            _ => Response::from_string("method not allowed\n").with_status_code(405),
        };
        if let Err(e) = req.respond(resp) {
            tracing::debug!("http response: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_health_and_readiness() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = flag.clone();
        let ready: Readiness = Box::new(move || {
            if f.load(std::sync::atomic::Ordering::Relaxed) {
                Ok("all sources".into())
            } else {
                Err("source a not connected".into())
            }
        });
        let e = Endpoints::start("127.0.0.1:0".parse().unwrap(), ready).unwrap();
        assert!(e.addr.ip().is_loopback() && e.addr.port() != 0);
        metrics().reloads.with_label_values(&["ok"]).inc();
        let m = get(e.addr, "/metrics");
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(
            m.contains("bypassd_config_reloads_total{result=\"ok\"}"),
            "{m}"
        );
        assert!(get(e.addr, "/healthz").starts_with("HTTP/1.1 200"));
        let r = get(e.addr, "/readyz");
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("source a not connected"),
            "{r}"
        );
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(get(e.addr, "/readyz").starts_with("HTTP/1.1 200"));
        assert!(get(e.addr, "/nope").starts_with("HTTP/1.1 404"));
        drop(e);
    }
}

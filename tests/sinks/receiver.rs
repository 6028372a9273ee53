//! A real HTTP receiver on 127.0.0.1 (tiny_http on a thread) that answers from a script and
//! records every request. Every response closes its connection, so stopping the receiver means
//! connections are refused at once (no pooled connection lingers).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as received, with the status it was answered with.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub status: u16,
    /// lowercase names
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// (status, extra headers) for request number `n` (0-based, over the receiver's life) with
/// this body.
pub type Script = Arc<dyn Fn(usize, &str) -> (u16, Vec<(&'static str, String)>) + Send + Sync>;

pub struct Receiver {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listen on 127.0.0.1:`port` (0: any free port), appending requests to `seen`.
    pub fn start(port: u16, seen: Arc<Mutex<Vec<Seen>>>, script: Script) -> Receiver {
        let server = tiny_http::Server::http(("127.0.0.1", port)).expect("bind the receiver");
        let addr = server.server_addr().to_ip().expect("an IP listener");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(20)) {
                    answer(req, &seen, &script);
                }
            }
        });
        Receiver {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop listening; returns once connections are refused.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(self.addr).is_ok() {
            assert!(Instant::now() < deadline, "receiver still accepting");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(mut req: tiny_http::Request, seen: &Mutex<Vec<Seen>>, script: &Script) {
    let mut body = String::new();
    let _ = req.as_reader().read_to_string(&mut body);
    let headers = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut seen = seen.lock().unwrap();
    let (status, extra) = script(seen.len(), &body);
    seen.push(Seen {
        at: Instant::now(),
        status,
        headers,
        body,
    });
    drop(seen);
    let reply = format!("status {status}");
    let mut head = format!(
        "HTTP/1.1 {status} Scripted\r\nConnection: close\r\nContent-Length: {}\r\n",
        reply.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut w = req.into_writer();
    let _ = w.write_all(format!("{head}\r\n{reply}").as_bytes());
    let _ = w.flush();
}

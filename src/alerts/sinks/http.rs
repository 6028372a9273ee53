//! HTTP delivery shared by the webhook and Alertmanager sinks: one blocking client per sink
//! (timeouts, optional private CA roots), the auth token read at start, and the mapping of
//! responses and errors to retry / reject.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq::tls::{PemItem, RootCerts, TlsConfig};

use super::config::HttpSink;
use super::deliver::Outcome;

const USER_AGENT: &str = concat!("bypassd/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("token_env {var}: the variable is not set or empty")]
    TokenEnv { var: String },
    #[error("token_file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token_file {path}: empty")]
    EmptyToken { path: PathBuf },
    #[error("token: not a valid header value (a newline or control character inside?)")]
    BadToken,
    #[error("ca_file {path}: {source}")]
    CaRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ca_file {path}: {detail}")]
    CaParse { path: PathBuf, detail: String },
}

/// A configured HTTP endpoint.
pub struct HttpClient {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    /// (header, value) carrying the token
    auth: Option<(String, String)>,
    timeout: Duration,
}

impl HttpClient {
    /// Build the client for `cfg`, posting to `url`; reads the token and CA file now.
    pub fn open(cfg: &HttpSink, url: String) -> Result<HttpClient, HttpSetupError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &cfg.ca_file {
            tls = tls.root_certs(read_roots(path)?);
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(USER_AGENT)
            .max_redirects(0)
            .timeout_global(Some(cfg.timeout()))
            .tls_config(tls.build())
            .build()
            .new_agent();
        let token = read_token(cfg)?;
        let auth = token.map(|t| {
            let value = match cfg.auth_scheme.as_str() {
                "" => t,
                scheme => format!("{scheme} {t}"),
            };
            (cfg.auth_header.clone(), value)
        });
        if let Some((_, v)) = &auth {
            ureq::http::HeaderValue::from_str(v).map_err(|_| HttpSetupError::BadToken)?;
        }
        Ok(HttpClient {
            agent,
            url,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth,
            timeout: cfg.timeout(),
        })
    }

    /// POST a JSON body; the attempt ends by `deadline` when one is given.
    pub fn post(&self, body: &[u8], idempotency_key: &str, deadline: Option<Instant>) -> Outcome {
        let timeout = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(self.timeout),
            None => self.timeout,
        };
        let mut req = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", idempotency_key);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some((k, v)) = &self.auth {
            req = req.header(k, v);
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = body_prefix(resp.body_mut().as_reader());
                classify_status(status, retry_after, &text)
            }
            Err(e) => Outcome::Retry {
                reason: error_reason(&e),
                detail: format!("POST {}: {e}", self.url),
                after: None,
            },
        }
    }
}

/// 2xx delivered; 429 and 5xx retried; anything else rejected.
pub fn classify_status(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        429 => Outcome::Retry {
            reason: "status_429",
            detail: format!("HTTP 429: {body}"),
            after: retry_after,
        },
        500..=599 => Outcome::Retry {
            reason: "status_5xx",
            detail: format!("HTTP {status}: {body}"),
            after: retry_after,
        },
        _ => Outcome::Rejected {
            detail: format!("HTTP {status}: {body}"),
        },
    }
}

/// The metric reason of a request that got no response.
fn error_reason(e: &ureq::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => "connect",
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::AddrNotAvailable
            | K::BrokenPipe
            | K::UnexpectedEof => "connect",
            K::TimedOut | K::WouldBlock => "timeout",
            _ => "io",
        },
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "tls",
        ureq::Error::Protocol(_) => "protocol",
        _ => "other",
    }
}

/// The first 200 bytes of a response body, as text (the rest is read and dropped, so the
/// connection can be reused).
fn body_prefix(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.by_ref().take(64 << 10).read_to_end(&mut buf);
    buf.truncate(200);
    String::from_utf8_lossy(&buf).trim().to_string()
}

fn read_token(cfg: &HttpSink) -> Result<Option<String>, HttpSetupError> {
    if let Some(var) = &cfg.token_env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(HttpSetupError::TokenEnv { var: var.clone() }),
        };
    }
    let Some(path) = &cfg.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| HttpSetupError::TokenFile {
        path: path.clone(),
        source,
    })?;
    match text.trim() {
        "" => Err(HttpSetupError::EmptyToken { path: path.clone() }),
        t => Ok(Some(t.to_string())),
    }
}

fn read_roots(path: &PathBuf) -> Result<RootCerts, HttpSetupError> {
    let pem = std::fs::read(path).map_err(|source| HttpSetupError::CaRead {
        path: path.clone(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(HttpSetupError::CaParse {
                    path: path.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }
    if certs.is_empty() {
        return Err(HttpSetupError::CaParse {
            path: path.clone(),
            detail: "no PEM certificate in it".into(),
        });
    }
    Ok(RootCerts::new_with_certs(&certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_retry_or_reject() {
        assert_eq!(classify_status(204, None, ""), Outcome::Delivered);
        let after = Some(Duration::from_secs(1));
        assert!(matches!(
            classify_status(429, after, ""),
            Outcome::Retry { reason: "status_429", after: a, .. } if a == after
        ));
        assert!(matches!(
            classify_status(503, None, "busy"),
            Outcome::Retry { reason: "status_5xx", ref detail, .. } if detail == "HTTP 503: busy"
        ));
        for s in [400, 401, 404, 413, 301] {
            assert!(matches!(
                classify_status(s, None, ""),
                Outcome::Rejected { .. }
            ));
        }
    }

    fn sink(extra: &str) -> HttpSink {
        toml::from_str(&format!("url = \"https://x.example/\"\n{extra}")).unwrap()
    }

    #[test]
    fn tokens_and_ca_files_are_read_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "  abc\n").unwrap();
        let mut h = sink("auth_scheme = \"Token\"");
        h.token_file = Some(token.clone());
        let c = HttpClient::open(&h, h.url.clone()).unwrap();
        assert_eq!(c.auth, Some(("Authorization".into(), "Token abc".into())));
        std::fs::write(&token, "\n").unwrap();
        let e = HttpClient::open(&h, h.url.clone()).err().unwrap();
        assert!(matches!(e, HttpSetupError::EmptyToken { .. }), "{e}");
        let h = sink("token_env = \"BYPASSD_TEST_UNSET_TOKEN_VARIABLE\"");
        let e = HttpClient::open(&h, h.url.clone()).err().unwrap();
        assert_eq!(
            e.to_string(),
            "token_env BYPASSD_TEST_UNSET_TOKEN_VARIABLE: the variable is not set or empty"
        );
        let mut h = sink("");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        h.ca_file = Some(ca);
        let e = HttpClient::open(&h, h.url.clone()).err().unwrap();
        assert!(e.to_string().ends_with("no PEM certificate in it"), "{e}");
    }

    #[test]
    fn body_prefix_is_200_bytes() {
        let long = "x".repeat(1000);
        assert_eq!(body_prefix(long.as_bytes()).len(), 200);
    }
}

//! The webhook sink: each finding's JSON POSTed as it is (a JSON array when `batch_max` > 1), or
//! a payload rendered from a template (Slack, Teams, ...), one request per finding.

use std::time::Instant;

use super::deliver::{Outcome, Record, Transport};
use super::http::HttpClient;
use super::template::Template;

pub struct Webhook {
    pub client: HttpClient,
    /// with a template the sink's batches are one finding long
    pub template: Option<Template>,
}

impl Transport for Webhook {
    fn send(&mut self, batch: &[Record], deadline: Option<Instant>) -> Outcome {
        let body = match (&self.template, batch) {
            (None, [one]) => one.json.clone(),
            (None, many) => json_array(many),
            (Some(t), [one]) => match serde_json::from_slice(&one.json) {
                Ok(v) => t.render(&v).into_bytes(),
                Err(e) => {
                    return Outcome::Rejected {
                        detail: format!("spooled finding is not JSON: {e}"),
                    }
                }
            },
            (Some(_), _) => unreachable!("templated webhooks send one finding per request"),
        };
        self.client.post(&body, &idempotency_key(batch), deadline)
    }
}

/// `[f1,f2,...]`
fn json_array(records: &[Record]) -> Vec<u8> {
    let mut body = Vec::with_capacity(records.iter().map(|r| r.json.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&r.json);
    }
    body.push(b']');
    body
}

/// The record's `metadata.uid`; for a batch, a hash of its uids (the same batch always gets the
/// same key, a different one never does: receivers dedupe batched findings by their uids).
pub fn idempotency_key(batch: &[Record]) -> String {
    match batch {
        [one] => one.uid.clone(),
        many => {
            let mut buf = Vec::new();
            for r in many {
                buf.extend_from_slice(r.uid.as_bytes());
                buf.push(0);
            }
            format!("batch-{:032x}", xxhash_rust::xxh3::xxh3_128(&buf))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(uid: &str) -> Record {
        Record {
            uid: uid.into(),
            key: uid.into(),
            json: format!(r#"{{"u":"{uid}"}}"#).into_bytes(),
        }
    }

    #[test]
    fn batches_are_arrays_with_a_stable_key() {
        let b = [rec("a"), rec("b")];
        let v: serde_json::Value = serde_json::from_slice(&json_array(&b)).unwrap();
        assert_eq!(v[1]["u"], "b");
        assert_eq!(idempotency_key(&b[..1]), "a");
        assert_eq!(idempotency_key(&b), idempotency_key(&[rec("a"), rec("b")]));
        assert_ne!(idempotency_key(&b), idempotency_key(&[rec("a"), rec("c")]));
        assert_ne!(idempotency_key(&b), idempotency_key(&[rec("ab"), rec("")]));
    }
}

//! The Alertmanager sink: each finding becomes an alert POSTed to `/api/v2/alerts`. Labels
//! identify the finding (so an Update refreshes the same alert); annotations describe it;
//! `endsAt` is pushed `resolve_after` into the future on every post.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::deliver::{Outcome, Record, Transport};
use super::http::HttpClient;
use super::webhook::idempotency_key;
use crate::time::format_rfc3339;

pub struct Alertmanager {
    pub client: HttpClient,
    pub resolve_after: Duration,
}

impl Transport for Alertmanager {
    fn send(&mut self, batch: &[Record], deadline: Option<Instant>) -> Outcome {
        let now = crate::time::now_millis();
        let mut alerts = Vec::with_capacity(batch.len());
        for r in batch {
            match serde_json::from_slice::<Value>(&r.json) {
                Ok(f) => alerts.push(alert(&f, now, self.resolve_after)),
                Err(e) => {
                    return Outcome::Rejected {
                        detail: format!("spooled finding {} is not JSON: {e}", r.uid),
                    }
                }
            }
        }
        let body = serde_json::to_vec(&alerts).expect("alerts serialise");
        self.client.post(&body, &idempotency_key(batch), deadline)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One Alertmanager alert for a finding, posted at `now` (ms since the epoch).
pub fn alert(f: &Value, now: i64, resolve_after: Duration) -> Value {
    let labels = json!({
        "alertname": "BypassdFinding",
        "detector": text(&f["unmapped"]["detector"]),
        "family": text(&f["unmapped"]["family"]),
        "severity": text(&f["severity"]).to_lowercase(),
        "finding_uid": text(&f["finding_info"]["uid"]),
    });
    let mut ann = Map::new();
    ann.insert("title".into(), f["finding_info"]["title"].clone());
    ann.insert("summary".into(), f["message"].clone());
    ann.insert("actor".into(), text(&f["actor"]["user"]["uid"]).into());
    if let Some(c) = f["unmapped"]["credential"]["id"].as_str() {
        ann.insert("credential".into(), c.into());
    }
    ann.insert("evidence".into(), evidence_summary(f).into());
    ann.insert("ocsf_uid".into(), text(&f["metadata"]["uid"]).into());
    let first = f["finding_info"]["first_seen_time"].as_i64().unwrap_or(now);
    json!({
        "labels": labels,
        "annotations": ann,
        "startsAt": format_rfc3339(first),
        "endsAt": format_rfc3339(now + resolve_after.as_millis() as i64),
    })
}

/// `3 events, first 2026-03-02T04:00:00.000Z, last 2026-03-02T04:04:00.000Z, formats: cloudtrail`
fn evidence_summary(f: &Value) -> String {
    let info = &f["finding_info"];
    let count = info["related_events_count"]
        .as_u64()
        .or_else(|| f["unmapped"]["count"].as_u64())
        .unwrap_or(0);
    let time = |k: &str| info[k].as_i64().map(format_rfc3339).unwrap_or_default();
    let formats: BTreeSet<&str> = f["evidences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["data"]["format"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let formats: Vec<&str> = formats.into_iter().collect();
    format!(
        "{count} event{}, first {}, last {}, formats: {}",
        if count == 1 { "" } else { "s" },
        time("first_seen_time"),
        time("last_seen_time"),
        formats.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_labels_identify_the_finding_and_annotations_describe_it() {
        let f = json!({
            "severity": "High",
            "message": "Key used from three networks: 3 networks",
            "metadata": {"uid": "u1-4"},
            "finding_info": {"uid": "u1", "title": "Key from three networks",
                "first_seen_time": 1_772_424_000_000_i64, "last_seen_time": 1_772_424_240_000_i64,
                "related_events_count": 4},
            "actor": {"user": {"uid": "alice"}},
            "evidences": [{"data": {"format": "cloudtrail"}}, {"data": {"format": "okta"}},
                {"data": {"format": "cloudtrail"}}],
            "unmapped": {"detector": "credential-multi-network", "family": "credential_sharing",
                "credential": {"id": "AKIA1"}},
        });
        let a = alert(&f, 1_772_430_000_000, Duration::from_secs(3600));
        assert_eq!(a["labels"]["alertname"], "BypassdFinding");
        assert_eq!(a["labels"]["severity"], "high");
        assert_eq!(a["labels"]["finding_uid"], "u1");
        assert_eq!(a["annotations"]["credential"], "AKIA1");
        assert_eq!(a["annotations"]["ocsf_uid"], "u1-4");
        assert_eq!(
            a["annotations"]["evidence"],
            "4 events, first 2026-03-02T04:00:00.000Z, last 2026-03-02T04:04:00.000Z, formats: cloudtrail, okta"
        );
        assert_eq!(a["startsAt"], "2026-03-02T04:00:00.000Z");
        assert_eq!(a["endsAt"], "2026-03-02T06:40:00.000Z");
        // no credential: no annotation
        let mut g = f.clone();
        g["unmapped"]["credential"] = Value::Null;
        assert!(alert(&g, 0, Duration::ZERO)["annotations"]
            .get("credential")
            .is_none());
    }
}

//! Enrichment: what the operator's inventory says about a decoded event, filled in once by the
//! decoder so every detector reads the same answer. Source network (a trusted network's name, or
//! the address's /24 or /64) and whether it is trusted; the declared exception covering the
//! event's credential or principal and its health at the event's time; break-glass identities.

use crate::event::{Context, Event, Str};
use crate::inventory::Inventory;

/// Fill in `ev.source.network`, `ev.source.trusted` and `ev.context` from `inv`.
pub fn enrich(ev: &mut Event, inv: &Inventory) {
    if let Some(ip) = ev.source.ip {
        ev.source.network = Some(inv.networks.network_of(ip));
        ev.source.trusted = Some(inv.networks.is_trusted(ip));
    }
    let exception = inv.exception_for(ev);
    ev.context = Context {
        exception: exception.map(|(i, _)| Str::from(inv.exceptions[i as usize].id.as_str())),
        exception_health: exception.map(|(_, h)| h).unwrap_or_default(),
        break_glass: inv.break_glass_for(ev),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_record, Record};
    use crate::event::{BreakGlassWhy, Origin};
    use std::sync::Arc;

    const INV: &str = r#"
exceptions:
  - {id: healthy, credentials: [AKIAHEALTHY], owner: a, expires: 2026-12-31, last_review: 2026-02-01, review_every: 90d}
  - {id: expired, credentials: [AKIAEXPIRED], principals: [svc-old], owner: a, expires: 2026-01-31, last_review: 2026-02-01, review_every: 90d}
  - {id: ownerless, credentials: [AKIANOOWNER], expires: 2026-12-31, last_review: 2026-02-01, review_every: 90d}
  - {id: overdue, credentials: [AKIAOVERDUE], owner: a, expires: 2026-12-31, last_review: 2025-10-01, review_every: 90d}
  - {id: renewed, credentials: [AKIAEXPIRED], owner: a, expires: 2026-12-31, last_review: 2026-02-20, review_every: 30d}
break_glass:
  principals: ["arn:aws:iam::111122223333:role/AdminOfLastResort"]
trusted_networks:
  - {name: ci, cidrs: ["198.51.100.0/24"]}
"#;

    fn ct(key: &str, user: &str, extra: &str) -> Event {
        let text = format!(
            r#"{{"eventVersion":"1.08","eventTime":"2026-03-02T04:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"198.51.100.7","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/{user}","userName":"{user}","accessKeyId":"{key}"}}{extra}}}"#
        );
        let inv = Inventory::parse("inv.yaml", INV).unwrap();
        let Ok(Record::Event(ev)) = decode_record(
            &text,
            None,
            Origin::Inline {
                test: Arc::from("t"),
                index: 0,
            },
        ) else {
            panic!("decodes")
        };
        let mut ev = Arc::try_unwrap(ev).unwrap();
        enrich(&mut ev, &inv);
        ev
    }

    fn status(ev: &Event) -> (Option<&str>, Vec<&'static str>) {
        (
            ev.context.exception.as_deref(),
            ev.context.exception_health.names(),
        )
    }

    #[test]
    fn exception_health_at_event_time() {
        assert_eq!(
            status(&ct("AKIAHEALTHY", "u", "")),
            (Some("healthy"), vec!["healthy"])
        );
        assert_eq!(
            status(&ct("AKIANOOWNER", "u", "")),
            (Some("ownerless"), vec!["ownerless"])
        );
        assert_eq!(
            status(&ct("AKIAOVERDUE", "u", "")),
            (Some("overdue"), vec!["review_overdue"]),
            "2025-10-01 + 90d passed on 2025-12-30"
        );
        assert_eq!(
            status(&ct("AKIAEXPIRED", "u", "")),
            (Some("renewed"), vec!["healthy"]),
            "the renewed declaration of the same key wins over the expired one"
        );
        assert_eq!(
            status(&ct("AKIAOTHER", "SVC-OLD", "")),
            (Some("expired"), vec!["expired"]),
            "principals match case-insensitively"
        );
        assert_eq!(status(&ct("AKIAOTHER", "u", "")), (None, vec!["healthy"]));
    }

    #[test]
    fn trusted_network_and_break_glass() {
        let ev = ct("AKIAX", "u", "");
        assert_eq!(ev.source.network.as_deref(), Some("ci"));
        assert_eq!(ev.source.trusted, Some(true));
        assert_eq!(ev.context.break_glass, None);
        assert_eq!(
            ct("AKIAX", "emergency-admin", "").context.break_glass,
            Some(BreakGlassWhy::Named)
        );
        let assume = r#","requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/AdminOfLastResort","roleSessionName":"carol"}"#;
        let mut ev = ct("AKIAX", "carol", assume);
        assert_eq!(ev.context.break_glass, None, "ListBuckets assumes nothing");
        ev.assumed = Some(Box::new(crate::event::Assumed {
            role: "arn:aws:iam::111122223333:role/AdminOfLastResort".into(),
            session_name: Some("carol".into()),
            credential_id: None,
        }));
        let inv = Inventory::parse("inv.yaml", INV).unwrap();
        enrich(&mut ev, &inv);
        assert_eq!(ev.context.break_glass, Some(BreakGlassWhy::Inventory));
    }
}

//! The operator's inventory (`--inventory FILE`): declared exception paths, break-glass
//! identities and trusted networks. Validated at load with every error reported at once.
//!
//! Trusted networks change what a "source network" is: an address inside one counts as that
//! network, by name, so a CI runner pool or a cluster's pod range is one place however many
//! addresses it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use chrono::NaiveDate;
use ipnet::IpNet;
use serde::Deserialize;
use serde_yaml_ng::Value;

mod lookup;

pub use lookup::{DEFAULT_MAX_SESSION, DEFAULT_REVIEW_EVERY};

use crate::event::{Millis, Str};
use crate::time::parse_duration;

/// A declared exception path, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    pub id: String,
    pub description: Option<String>,
    pub credentials: Vec<String>,
    pub principals: Vec<String>,
    pub owner: Option<String>,
    /// start of the day after `expires` (UTC): the exception is expired from then on
    pub expires: Option<Millis>,
    pub last_review: Option<Millis>,
    pub review_every: Option<Millis>,
    pub justification: Option<String>,
    pub ticket: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BreakGlass {
    pub principals: Vec<String>,
    pub max_session: Option<Millis>,
}

/// Trusted networks, most specific first, and the rule for everything else (/24, /64).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Networks {
    trusted: Vec<(IpNet, Str)>,
}

impl Networks {
    /// The network `ip` counts as: a trusted network's name, else its /24 or /64.
    pub fn network_of(&self, ip: IpAddr) -> Str {
        let ip = crate::network::canonical(ip);
        match self.trusted.iter().find(|(net, _)| net.contains(&ip)) {
            Some((_, name)) => name.clone(),
            None => crate::network::network_of(ip),
        }
    }

    /// Number of trusted networks (distinct names).
    pub fn len(&self) -> usize {
        self.trusted
            .iter()
            .map(|(_, n)| n)
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.trusted.is_empty()
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = crate::network::canonical(ip);
        self.trusted.iter().any(|(net, _)| net.contains(&ip))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub exceptions: Vec<Exception>,
    pub break_glass: BreakGlass,
    pub networks: Networks,
    index: lookup::Index,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid inventory:\n  {}", .errors.join("\n  "))]
pub struct InventoryError {
    pub errors: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawInventory {
    #[serde(default)]
    exceptions: Vec<RawException>,
    #[serde(default)]
    break_glass: Option<RawBreakGlass>,
    #[serde(default)]
    trusted_networks: Vec<RawNetwork>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawException {
    id: Option<String>,
    description: Option<String>,
    #[serde(default)]
    credentials: Vec<String>,
    #[serde(default)]
    principals: Vec<String>,
    owner: Option<String>,
    expires: Option<Value>,
    last_review: Option<Value>,
    review_every: Option<String>,
    justification: Option<String>,
    ticket: Option<Value>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawBreakGlass {
    #[serde(default)]
    principals: Vec<String>,
    max_session: Option<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawNetwork {
    name: Option<String>,
    #[serde(default)]
    cidrs: Vec<String>,
    #[serde(flatten)]
    unknown: BTreeMap<String, Value>,
}

fn unknown_keys(
    at: &str,
    unknown: &BTreeMap<String, Value>,
    valid: &[&str],
    errors: &mut Vec<String>,
) {
    for k in unknown.keys() {
        errors.push(format!(
            "{at}: unknown key {k:?} (valid: {})",
            valid.join(", ")
        ));
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `YYYY-MM-DD` date as the UTC midnight starting it.
fn date(v: Option<&Value>, at: &str, errors: &mut Vec<String>) -> Option<Millis> {
    let v = v?;
    let text = scalar(v).unwrap_or_default();
    match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Ok(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()),
        Err(_) => {
            errors.push(format!("{at}: invalid date {v:?}: expected YYYY-MM-DD"));
            None
        }
    }
}

impl Inventory {
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|e| InventoryError {
            errors: vec![format!("{}: cannot read: {e}", path.display())],
        })?;
        Inventory::parse(&path.display().to_string(), &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Inventory, InventoryError> {
        let raw: RawInventory = if text.trim().is_empty() {
            RawInventory::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| InventoryError {
                errors: vec![format!("{name}: {e}")],
            })?
        };
        let mut errors = Vec::new();
        unknown_keys(
            name,
            &raw.unknown,
            &["exceptions", "break_glass", "trusted_networks"],
            &mut errors,
        );
        let mut inv = Inventory::default();
        let mut ids = BTreeSet::new();
        for (i, x) in raw.exceptions.into_iter().enumerate() {
            let at = format!(
                "{name}: exceptions[{i}]{}",
                x.id.as_ref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default()
            );
            unknown_keys(
                &at,
                &x.unknown,
                &[
                    "id",
                    "description",
                    "credentials",
                    "principals",
                    "owner",
                    "expires",
                    "last_review",
                    "review_every",
                    "justification",
                    "ticket",
                ],
                &mut errors,
            );
            let Some(id) = x.id.filter(|s| !s.trim().is_empty()) else {
                errors.push(format!("{at}: id is required"));
                continue;
            };
            if !ids.insert(id.clone()) {
                errors.push(format!("{at}: duplicate exception id {id:?}"));
            }
            if x.credentials.is_empty() && x.principals.is_empty() {
                errors.push(format!(
                    "{at}: needs credentials or principals (what the exception covers)"
                ));
            }
            let expires = date(x.expires.as_ref(), &format!("{at}: expires"), &mut errors);
            let review_every = x.review_every.as_deref().and_then(|d| {
                parse_duration(d)
                    .map_err(|e| errors.push(format!("{at}: review_every: {e}")))
                    .ok()
            });
            inv.exceptions.push(Exception {
                id,
                description: x.description,
                credentials: x.credentials,
                principals: x.principals,
                owner: x.owner.filter(|o| !o.trim().is_empty()),
                expires: expires.map(|d| d + crate::time::DAY),
                last_review: date(
                    x.last_review.as_ref(),
                    &format!("{at}: last_review"),
                    &mut errors,
                ),
                review_every,
                justification: x.justification,
                ticket: x.ticket.as_ref().and_then(scalar),
            });
        }
        if let Some(bg) = raw.break_glass {
            let at = format!("{name}: break_glass");
            unknown_keys(
                &at,
                &bg.unknown,
                &["principals", "max_session"],
                &mut errors,
            );
            inv.break_glass = BreakGlass {
                principals: bg.principals,
                max_session: bg.max_session.as_deref().and_then(|d| {
                    parse_duration(d)
                        .map_err(|e| errors.push(format!("{at}: max_session: {e}")))
                        .ok()
                }),
            };
        }
        let mut names = BTreeSet::new();
        for (i, n) in raw.trusted_networks.into_iter().enumerate() {
            let at = format!("{name}: trusted_networks[{i}]");
            unknown_keys(&at, &n.unknown, &["name", "cidrs"], &mut errors);
            let Some(net_name) = n.name.filter(|s| !s.trim().is_empty()) else {
                errors.push(format!("{at}: name is required"));
                continue;
            };
            if !names.insert(net_name.clone()) {
                errors.push(format!("{at}: duplicate network name {net_name:?}"));
            }
            if n.cidrs.is_empty() {
                errors.push(format!(
                    "{at} ({net_name}): cidrs must list at least one CIDR"
                ));
            }
            for c in &n.cidrs {
                match c.parse::<IpNet>() {
                    Ok(net) => inv
                        .networks
                        .trusted
                        .push((net.trunc(), Str::from(net_name.as_str()))),
                    Err(_) => errors.push(format!(
                        "{at} ({net_name}): invalid CIDR {c:?} (e.g. 10.0.0.0/16, 2001:db8::/48)"
                    )),
                }
            }
        }
        // most specific first, so a /24 carved out of a trusted /16 keeps its own name
        inv.networks.trusted.sort_by(|a, b| {
            b.0.prefix_len()
                .cmp(&a.0.prefix_len())
                .then_with(|| a.1.cmp(&b.1))
        });
        inv.index = lookup::Index::build(&inv);
        if errors.is_empty() {
            Ok(inv)
        } else {
            Err(InventoryError { errors })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{BreakGlassWhy, Event};

    const GOOD: &str = r#"
exceptions:
  - id: legacy-etl-static-key
    description: nightly ETL still authenticates with a static IAM key
    credentials: ["AKIAEXAMPLE"]
    principals: ["svc-legacy-etl"]
    owner: data-eng
    expires: 2026-01-31
    last_review: 2025-10-01
    review_every: 90d
    justification: "vendor cannot federate yet"
    ticket: RISK-118
break_glass:
  principals:
    - arn:aws:iam::111122223333:role/BreakGlassAdmin
    - breakglass-admin
  max_session: 1h
trusted_networks:
  - name: ci-runners
    cidrs: ["198.51.100.0/24"]
  - name: cluster
    cidrs: ["10.0.0.0/16"]
  - name: cluster-ingress
    cidrs: ["10.0.7.0/24"]
"#;

    #[test]
    fn parses_the_documented_example() {
        let inv = Inventory::parse("inv.yaml", GOOD).unwrap();
        let x = &inv.exceptions[0];
        assert_eq!(x.owner.as_deref(), Some("data-eng"));
        assert_eq!(
            x.expires,
            crate::time::parse_rfc3339("2026-02-01T00:00:00Z")
        );
        assert_eq!(x.review_every, Some(90 * crate::time::DAY));
        assert_eq!(x.ticket.as_deref(), Some("RISK-118"));
        assert_eq!(inv.break_glass.max_session, Some(crate::time::HOUR));
        let n = &inv.networks;
        assert_eq!(n.network_of("198.51.100.7".parse().unwrap()), "ci-runners");
        assert_eq!(n.network_of("10.0.200.1".parse().unwrap()), "cluster");
        assert_eq!(
            n.network_of("10.0.7.9".parse().unwrap()),
            "cluster-ingress",
            "most specific wins"
        );
        assert_eq!(
            n.network_of("203.0.113.9".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            n.network_of("::ffff:198.51.100.7".parse().unwrap()),
            "ci-runners"
        );
    }

    #[test]
    fn unhealthy_declarations_are_warnings_not_errors() {
        let inv = Inventory::parse(
            "inv.yaml",
            "exceptions:\n  - {id: a, credentials: [K]}\n  - {id: b, credentials: [L], owner: o, expires: 2026-12-31, last_review: 2026-01-01}\n",
        )
        .unwrap();
        let w = inv.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("exception a: no owner, expires, last_review"),
            "{w:?}"
        );
        assert!(
            w[1].contains("exception b: no review_every (90d assumed)"),
            "{w:?}"
        );
        let a = &inv.exceptions[0];
        assert_eq!(
            a.health(0).names(),
            ["ownerless", "unreviewed", "no_expiry"]
        );
    }

    #[test]
    fn every_error_at_once() {
        let bad = r#"
exceptions:
  - id: a
    credentials: [K]
    expires: 2026-02-30
    review_every: fortnightly
    colour: blue
  - id: a
  - description: no id
break_glass:
  max_session: forever
trusted_networks:
  - name: x
    cidrs: ["10.0.0.0/33", "not-a-cidr"]
  - cidrs: ["10.0.0.0/8"]
extra: 1
"#;
        let err = Inventory::parse("inv.yaml", bad).unwrap_err();
        let all = err.errors.join("\n");
        for want in [
            "inv.yaml: unknown key \"extra\"",
            "exceptions[0] (a): expires: invalid date",
            "exceptions[0] (a): review_every: invalid duration",
            "exceptions[0] (a): unknown key \"colour\"",
            "exceptions[1] (a): duplicate exception id \"a\"",
            "exceptions[1] (a): needs credentials or principals",
            "exceptions[2]: id is required",
            "break_glass: max_session",
            "invalid CIDR \"10.0.0.0/33\"",
            "invalid CIDR \"not-a-cidr\"",
            "trusted_networks[1]: name is required",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }

    #[test]
    fn identities_named_like_break_glass_in_any_case_and_spelling() {
        let inv = Inventory::default();
        let named = |id: &str| {
            let mut ev = Event::new(
                0,
                crate::event::Format::Cloudtrail,
                crate::event::Origin::unknown(),
            );
            ev.actor.id = id.into();
            inv.break_glass_for(&ev)
        };
        for id in [
            "arn:aws:iam::1:role/BreakGlassAdmin",
            "Break-Glass",
            "ops_break_glass",
            "EMERGENCY-access",
            "x-BREAKGLASS",
        ] {
            assert_eq!(named(id), Some(BreakGlassWhy::Named), "{id}");
        }
        for id in [
            "breakfast-glassware",
            "break glass",
            "breaking-glass",
            "emergenc",
            "glass-break",
        ] {
            assert_eq!(named(id), None, "{id}");
        }
    }
}

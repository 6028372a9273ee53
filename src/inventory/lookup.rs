//! Inventory lookups made per event: which declared exception covers it and how healthy that
//! exception is at the event's time, and whether the identity is a break-glass one.

use std::collections::{BTreeSet, HashMap};

use super::{Exception, Inventory};
use crate::event::{ActorKind, BreakGlassWhy, Event, ExceptionHealth, Millis};

/// Review cadence assumed when an exception gives `last_review` but no `review_every`.
pub const DEFAULT_REVIEW_EVERY: Millis = 90 * crate::time::DAY;

/// Session length assumed for break-glass use when the inventory gives no `max_session`.
pub const DEFAULT_MAX_SESSION: Millis = crate::time::HOUR;

impl Exception {
    /// When the next review is due: `last_review + review_every` (90 days when not given).
    pub fn review_due(&self) -> Option<Millis> {
        Some(self.last_review? + self.review_every.unwrap_or(DEFAULT_REVIEW_EVERY))
    }

    /// The exception's problems at time `t`; none means healthy.
    pub fn health(&self, t: Millis) -> ExceptionHealth {
        let mut h = 0;
        match self.expires {
            Some(e) if t >= e => h |= ExceptionHealth::EXPIRED,
            Some(_) => {}
            None => h |= ExceptionHealth::NO_EXPIRY,
        }
        if self.owner.is_none() {
            h |= ExceptionHealth::OWNERLESS;
        }
        match self.review_due() {
            Some(due) if t >= due => h |= ExceptionHealth::REVIEW_OVERDUE,
            Some(_) => {}
            None => h |= ExceptionHealth::UNREVIEWED,
        }
        ExceptionHealth(h)
    }

    /// Whole days at `t` past the earliest deadline missed (expiry or review), if any.
    pub fn days_overdue(&self, t: Millis) -> Option<i64> {
        let expired = self.expires.filter(|e| t >= *e);
        let review = self.review_due().filter(|d| t >= *d);
        let since = match (expired, review) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some((t - since) / crate::time::DAY)
    }
}

/// Lookups built once at load: exceptions by credential id (exact) and by principal
/// (case-insensitive), break-glass principals (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Index {
    credentials: HashMap<String, Vec<u32>>,
    principals: HashMap<String, Vec<u32>>,
    break_glass: BTreeSet<String>,
}

impl Index {
    pub(super) fn build(inv: &Inventory) -> Index {
        let mut ix = Index::default();
        for (i, x) in inv.exceptions.iter().enumerate() {
            for c in &x.credentials {
                ix.credentials.entry(c.clone()).or_default().push(i as u32);
            }
            for p in &x.principals {
                ix.principals
                    .entry(p.to_ascii_lowercase())
                    .or_default()
                    .push(i as u32);
            }
        }
        ix.break_glass = inv
            .break_glass
            .principals
            .iter()
            .map(|p| p.to_ascii_lowercase())
            .collect();
        ix
    }
}

// An identity or role is break-glass by its name when it contains `breakglass`, `break-glass`,
// `break_glass` or `emergency`, in any case (see `break_glass_for`).

impl Inventory {
    /// The exception covering `ev` (its credential id, or one of its principal names), with its
    /// health at the event's time. When several do, a healthy one wins, then the first declared.
    pub fn exception_for(&self, ev: &Event) -> Option<(u32, ExceptionHealth)> {
        if self.exceptions.is_empty() {
            return None;
        }
        let by_cred = ev
            .credential
            .as_ref()
            .and_then(|c| self.index.credentials.get(c.id.as_str()));
        let mut best: Option<(u32, ExceptionHealth)> = None;
        let mut consider = |i: u32| {
            let h = self.exceptions[i as usize].health(ev.time);
            let better = match best {
                None => true,
                Some((bi, bh)) => (!h.is_healthy(), i) < (!bh.is_healthy(), bi),
            };
            if better {
                best = Some((i, h));
            }
        };
        by_cred.into_iter().flatten().for_each(|i| consider(*i));
        for name in ev.principal_names() {
            if let Some(list) = self.index.principals.get(&name.to_ascii_lowercase()) {
                list.iter().for_each(|i| consider(*i));
            }
        }
        best
    }

    /// Whether `ev` is break-glass use, and why: the inventory's principals, AWS root and Vault
    /// `root` tokens, Kubernetes users in `system:masters` (not the control plane's own
    /// `system:*` users), identities or roles named like break-glass or emergency.
    pub fn break_glass_for(&self, ev: &Event) -> Option<BreakGlassWhy> {
        if !self.index.break_glass.is_empty()
            && ev
                .principal_names()
                .any(|n| self.index.break_glass.contains(&n.to_ascii_lowercase()))
        {
            return Some(BreakGlassWhy::Inventory);
        }
        if ev.actor.kind == ActorKind::Root {
            return Some(BreakGlassWhy::Root);
        }
        if ev.actor.groups.iter().any(|g| g == "system:masters")
            && !ev.actor.id.starts_with("system:")
        {
            return Some(BreakGlassWhy::SystemMasters);
        }
        // per event, without allocating a lower-cased copy: anchored on the rare letters `k`
        // (`brea[k]`, then `glass` glued or after `-`/`_`) and `y` (`emergenc[y]`)
        let named = |s: &str| {
            let b = s.as_bytes();
            let glass = |rest: &[u8]| {
                let rest = match rest.first() {
                    Some(b'-' | b'_') => &rest[1..],
                    _ => rest,
                };
                rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"glass")
            };
            let ends_with = |i: usize, word: &[u8]| {
                i + 1 >= word.len() && b[i + 1 - word.len()..=i].eq_ignore_ascii_case(word)
            };
            memchr::memchr2_iter(b'k', b'K', b)
                .any(|i| ends_with(i, b"break") && glass(&b[i + 1..]))
                || memchr::memchr2_iter(b'y', b'Y', b).any(|i| ends_with(i, b"emergency"))
        };
        let role_like = std::iter::once(ev.actor.id.as_str())
            .chain(ev.actor.name.as_deref())
            .chain(ev.actor.role.as_deref())
            .chain(ev.assumed.as_ref().map(|a| a.role.as_str()));
        for n in role_like {
            if named(n) {
                return Some(BreakGlassWhy::Named);
            }
        }
        None
    }

    /// The longest a break-glass session may run.
    pub fn max_session(&self) -> Millis {
        self.break_glass.max_session.unwrap_or(DEFAULT_MAX_SESSION)
    }

    /// Valid but unhealthy declarations, for `bypassd check`: exceptions without an owner, an
    /// expiry or a review date (their use raises exception_path findings).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for x in &self.exceptions {
            let mut missing = Vec::new();
            if x.owner.is_none() {
                missing.push("owner");
            }
            if x.expires.is_none() {
                missing.push("expires");
            }
            if x.last_review.is_none() {
                missing.push("last_review");
            }
            if !missing.is_empty() {
                w.push(format!(
                    "exception {}: no {} (use of it is reported as unhealthy)",
                    x.id,
                    missing.join(", ")
                ));
            }
            if x.review_every.is_none() && x.last_review.is_some() {
                w.push(format!("exception {}: no review_every (90d assumed)", x.id));
            }
        }
        w
    }
}

//! Context records that tell sanctioned from unsanctioned access: approvals (break-glass,
//! change, access), mixed into any input as `{"kind":"approval", ...}` lines.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::{Millis, Origin, Str};

/// An approval: `principal` may act under `scope` between `valid_from` and `valid_until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub id: Str,
    pub scope: Str,
    pub principal: Str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Str>,
    pub valid_from: Millis,
    pub valid_until: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Str>,
    /// not printed in findings (state snapshots save it beside the approval)
    #[serde(skip, default = "Origin::unknown")]
    pub origin: Origin,
}

/// Approvals by principal (lower-cased), for "is this use covered?" questions.
#[derive(Debug, Default)]
pub struct ApprovalStore {
    by_principal: HashMap<String, Vec<Approval>>,
    count: usize,
}

impl ApprovalStore {
    pub fn insert(&mut self, a: Approval) {
        let list = self
            .by_principal
            .entry(a.principal.as_str().to_ascii_lowercase())
            .or_default();
        // the same approval seen twice (replayed context) is kept once
        if !list.iter().any(|x| x.id == a.id && x.scope == a.scope) {
            list.push(a);
            self.count += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Every approval held, in a stable order (for state snapshots).
    pub fn all(&self) -> Vec<&Approval> {
        let mut v: Vec<&Approval> = self.by_principal.values().flatten().collect();
        v.sort_by(|a, b| (&a.principal, &a.id, &a.scope).cmp(&(&b.principal, &b.id, &b.scope)));
        v
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The approval with `scope` covering any of `names` (case-insensitive) at `t`, if any. Ties
    /// go to the lowest id so the answer never depends on arrival order.
    pub fn covering<'a>(
        &'a self,
        names: impl IntoIterator<Item = &'a str>,
        scope: &str,
        t: Millis,
    ) -> Option<&'a Approval> {
        self.find(names, Some(scope), t)
    }

    /// The approval of any scope covering any of `names` at `t` (lowest id first).
    pub fn covering_any<'a>(
        &'a self,
        names: impl IntoIterator<Item = &'a str>,
        t: Millis,
    ) -> Option<&'a Approval> {
        self.find(names, None, t)
    }

    fn find<'a>(
        &'a self,
        names: impl IntoIterator<Item = &'a str>,
        scope: Option<&str>,
        t: Millis,
    ) -> Option<&'a Approval> {
        let mut best: Option<&Approval> = None;
        for name in names {
            let Some(list) = self.by_principal.get(&name.to_ascii_lowercase()) else {
                continue;
            };
            for a in list {
                if scope.is_none_or(|s| a.scope.eq_ignore_ascii_case(s))
                    && a.valid_from <= t
                    && t <= a.valid_until
                    && best.is_none_or(|b| a.id < b.id)
                {
                    best = Some(a);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn approval(id: &str, principal: &str, from: Millis, until: Millis) -> Approval {
        Approval {
            id: id.into(),
            scope: "break_glass".into(),
            principal: principal.into(),
            approved_by: None,
            valid_from: from,
            valid_until: until,
            reason: None,
            origin: Origin::Inline {
                test: Arc::from("t"),
                index: 0,
            },
        }
    }

    #[test]
    fn covers_only_the_principal_scope_and_interval() {
        let mut s = ApprovalStore::default();
        s.insert(approval("INC-2", "Carol", 100, 200));
        s.insert(approval("INC-1", "carol", 150, 300));
        s.insert(approval("INC-1", "carol", 150, 300));
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.covering(["CAROL"], "break_glass", 120).unwrap().id,
            "INC-2"
        );
        assert_eq!(
            s.covering(["carol"], "break_glass", 160).unwrap().id,
            "INC-1"
        );
        assert!(s.covering(["carol"], "break_glass", 301).is_none());
        assert!(s.covering(["dave"], "break_glass", 160).is_none());
        assert!(s.covering(["carol"], "deploy", 160).is_none());
    }
}

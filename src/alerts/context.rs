//! The business context a finding carries beside its evidence: the declared exception covering
//! the triggering event (owner, ticket, expiry, review, days overdue), the approval covering its
//! principal at that time (approver, window, reason), and why the identity is break-glass.

use serde::Serialize;

use crate::context::{Approval, ApprovalStore};
use crate::event::{Event, Millis};
use crate::inventory::{Exception, Inventory};
use crate::time::format_rfc3339;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BusinessContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExceptionContext {
    pub id: String,
    /// `healthy`, or each problem: expired, ownerless, review_overdue, unreviewed, no_expiry
    pub status: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// the last day the exception is valid, as declared
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_review: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_due: Option<String>,
    /// whole days past the earliest missed deadline (expiry or review) at the event's time
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_overdue: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApprovalContext {
    #[serde(flatten)]
    pub approval: Approval,
    pub valid_from_dt: String,
    pub valid_until_dt: String,
}

fn date(t: Millis) -> String {
    format_rfc3339(t)[..10].to_string()
}

impl ExceptionContext {
    pub fn new(x: &Exception, t: Millis) -> ExceptionContext {
        ExceptionContext {
            id: x.id.clone(),
            status: x.health(t).names(),
            owner: x.owner.clone(),
            // stored as the start of the day after; shown as declared
            expires: x.expires.map(|e| date(e - crate::time::DAY)),
            last_review: x.last_review.map(date),
            review_due: x.review_due().map(date),
            days_overdue: x.days_overdue(t),
            description: x.description.clone(),
            justification: x.justification.clone(),
            ticket: x.ticket.clone(),
        }
    }

    /// `exception legacy-etl (owner data-eng, expired 2026-01-31, 33 days overdue)`
    pub fn summary(&self) -> String {
        let mut parts = vec![match &self.owner {
            Some(o) => format!("owner {o}"),
            None => "no owner".to_string(),
        }];
        match &self.expires {
            Some(e) if self.status.contains(&"expired") => parts.push(format!("expired {e}")),
            Some(e) => parts.push(format!("expires {e}")),
            None => parts.push("no expiry".to_string()),
        }
        match (&self.review_due, self.status.contains(&"review_overdue")) {
            (Some(d), true) => parts.push(format!("review was due {d}")),
            (None, _) => parts.push("never reviewed".to_string()),
            _ => {}
        }
        if let Some(d) = self.days_overdue {
            parts.push(format!("{d} days overdue"));
        }
        format!(
            "exception {} ({}: {})",
            self.id,
            self.status.join(", "),
            parts.join(", ")
        )
    }
}

/// The context of `ev` (a finding's triggering event) from the inventory and the approvals.
pub fn context_of(ev: &Event, inventory: &Inventory, approvals: &ApprovalStore) -> BusinessContext {
    let exception = ev.context.exception.as_deref().and_then(|id| {
        let x = inventory.exceptions.iter().find(|x| x.id == id)?;
        Some(ExceptionContext::new(x, ev.time))
    });
    let approval = approvals
        .covering_any(ev.principal_names(), ev.time)
        .map(|a| ApprovalContext {
            valid_from_dt: format_rfc3339(a.valid_from),
            valid_until_dt: format_rfc3339(a.valid_until),
            approval: a.clone(),
        });
    BusinessContext {
        exception,
        approval,
        break_glass: ev.context.break_glass.map(|w| w.name()),
    }
}

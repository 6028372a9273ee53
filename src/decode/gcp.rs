//! Google Cloud Audit Logs: LogEntry records with an AuditLog `protoPayload` (as Cloud Logging
//! sinks write them to Cloud Storage and Pub/Sub) into identity events.

use serde::Deserialize;

use super::json::{LBool, LList, LNum, LStr, LStrs, Obj};
use super::{DecodeError, Reason};
use crate::event::{
    Action, Actor, ActorKind, Assumed, Credential, CredentialKind, Event, Format, Origin, Outcome,
    Source, Str,
};
use crate::time::parse_time_text;

const F: Format = Format::Gcp;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Entry<'a> {
    #[serde(borrow)]
    timestamp: LStr<'a>,
    #[serde(borrow)]
    receive_timestamp: LStr<'a>,
    #[serde(borrow)]
    insert_id: LStr<'a>,
    #[serde(borrow)]
    log_name: LStr<'a>,
    #[serde(borrow)]
    resource: Obj<MonitoredResource<'a>>,
    #[serde(borrow)]
    proto_payload: Obj<AuditLog<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MonitoredResource<'a> {
    #[serde(borrow)]
    labels: Obj<ResourceLabels<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResourceLabels<'a> {
    #[serde(borrow)]
    project_id: LStr<'a>,
    #[serde(borrow)]
    location: LStr<'a>,
    #[serde(borrow)]
    zone: LStr<'a>,
    #[serde(borrow)]
    region: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AuditLog<'a> {
    #[serde(borrow, rename = "@type")]
    type_url: LStr<'a>,
    #[serde(borrow)]
    service_name: LStr<'a>,
    #[serde(borrow)]
    method_name: LStr<'a>,
    #[serde(borrow)]
    resource_name: LStr<'a>,
    #[serde(borrow)]
    authentication_info: Obj<AuthenticationInfo<'a>>,
    #[serde(borrow)]
    authorization_info: LList<AuthorizationInfo<'a>>,
    #[serde(borrow)]
    request_metadata: Obj<RequestMetadata<'a>>,
    #[serde(borrow)]
    status: Obj<Status<'a>>,
    #[serde(borrow)]
    resource_location: Obj<ResourceLocation<'a>>,
    #[serde(borrow)]
    request: Obj<Request<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AuthenticationInfo<'a> {
    #[serde(borrow)]
    principal_email: LStr<'a>,
    #[serde(borrow)]
    principal_subject: LStr<'a>,
    #[serde(borrow)]
    service_account_key_name: LStr<'a>,
    #[serde(borrow)]
    service_account_delegation_info: LList<Delegation<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Delegation<'a> {
    #[serde(borrow)]
    first_party_principal: Obj<FirstParty<'a>>,
    #[serde(borrow)]
    third_party_principal: Obj<ThirdParty<'a>>,
    #[serde(borrow)]
    principal_subject: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FirstParty<'a> {
    #[serde(borrow)]
    principal_email: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ThirdParty<'a> {
    #[serde(borrow)]
    third_party_claims: Obj<Claims<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Claims<'a> {
    #[serde(borrow)]
    email: LStr<'a>,
    #[serde(borrow)]
    sub: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthorizationInfo<'a> {
    #[serde(borrow)]
    permission: LStr<'a>,
    granted: LBool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RequestMetadata<'a> {
    #[serde(borrow)]
    caller_ip: LStr<'a>,
    #[serde(borrow)]
    caller_supplied_user_agent: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Status<'a> {
    code: LNum,
    #[serde(borrow)]
    message: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceLocation<'a> {
    #[serde(borrow)]
    current_locations: LStrs<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request<'a> {
    #[serde(borrow)]
    name: LStr<'a>,
}

/// Decode one LogEntry.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let e: Entry = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let (field, time_text) = match (e.timestamp.get(), e.receive_timestamp.get()) {
        (Some(t), _) => ("timestamp", t),
        (None, Some(t)) => ("receiveTimestamp", t),
        (None, None) => return Err(DecodeError::missing(F, "timestamp")),
    };
    let time =
        parse_time_text(time_text).ok_or_else(|| DecodeError::invalid(F, field, time_text))?;
    let p = e
        .proto_payload
        .get()
        .ok_or_else(|| DecodeError::missing(F, "protoPayload"))?;
    if let Some(t) = p.type_url.get() {
        if !t.ends_with("google.cloud.audit.AuditLog") {
            return Err(DecodeError::new(
                Reason::UnknownFormat,
                format!("gcp protoPayload @type {t:?} is not an AuditLog"),
            ));
        }
    }
    let auth = p.authentication_info.get();
    let principal = auth
        .and_then(|a| a.principal_email.get().or(a.principal_subject.get()))
        .ok_or_else(|| DecodeError::missing(F, "protoPayload.authenticationInfo.principalEmail"))?;
    let method = p
        .method_name
        .get()
        .ok_or_else(|| DecodeError::missing(F, "protoPayload.methodName"))?;
    let labels = e.resource.get().and_then(|r| r.labels.get());
    let log_name = e.log_name.get();
    let mut ev = Event::new(time, F, origin);
    ev.actor = actor(principal, auth, labels, log_name);
    ev.credential = auth
        .and_then(|a| a.service_account_key_name.get())
        .map(key_credential);
    let rm = p.request_metadata.get();
    ev.source = Source::from_raw(
        rm.and_then(|m| m.caller_ip.get()),
        rm.and_then(|m| m.caller_supplied_user_agent.get()),
    );
    ev.action = action(p, method, log_name);
    ev.assumed = assumed(p, method);
    ev.region = region(labels, p);
    ev.id = e.insert_id.get().map(Str::from);
    ev.dedup = e
        .insert_id
        .get()
        .map(|id| super::dedup_key("gcp", &[log_name.unwrap_or(""), id]));
    Ok(ev)
}

/// A user-managed service-account key: it lives until someone deletes it.
fn key_credential(key: &str) -> Credential {
    let mut c = Credential::new(key, CredentialKind::LongTermKey);
    c.long_lived = Some(true);
    c
}

/// The resource's location, zone or region label, else where the resource lives.
fn region(labels: Option<&ResourceLabels>, p: &AuditLog) -> Option<Str> {
    labels
        .and_then(|l| l.location.get().or(l.zone.get()).or(l.region.get()))
        .or_else(|| {
            p.resource_location
                .get()
                .and_then(|l| l.current_locations.0.first())
                .map(|s| &**s)
        })
        .map(Str::from)
}

fn actor(
    principal: &str,
    auth: Option<&AuthenticationInfo>,
    labels: Option<&ResourceLabels>,
    log_name: Option<&str>,
) -> Actor {
    let email = auth.and_then(|a| a.principal_email.get());
    let (kind, vendor_type) = classify(principal);
    Actor {
        id: Str::from(principal),
        name: email.map(Str::from),
        kind,
        vendor_type: Some(Str::from(vendor_type)),
        account: labels
            .and_then(|l| l.project_id.get())
            .or_else(|| log_name.and_then(log_name_owner))
            .map(Str::from),
        impersonator: auth
            .and_then(|a| a.service_account_delegation_info.0.first())
            .and_then(delegator)
            .map(Str::from),
        ..Actor::default()
    }
}

/// `projects/P/logs/...` → `P`; `organizations/O/logs/...` → `organizations/O` (and folders,
/// billing accounts likewise).
fn log_name_owner(log_name: &str) -> Option<&str> {
    if let Some(rest) = log_name.strip_prefix("projects/") {
        return rest.split('/').next().filter(|p| !p.is_empty());
    }
    let slash = log_name.find('/')?;
    let end = log_name[slash + 1..]
        .find('/')
        .map_or(log_name.len(), |i| slash + 1 + i);
    Some(&log_name[..end]).filter(|_| end > slash + 1)
}

/// Service accounts (user-managed and Google-managed) and workload identities are services;
/// workforce identities and Google accounts are people unless named like automation.
fn classify(principal: &str) -> (ActorKind, &'static str) {
    let p = principal
        .strip_prefix("serviceAccount:")
        .or_else(|| principal.strip_prefix("user:"))
        .unwrap_or(principal);
    if p.ends_with(".gserviceaccount.com") || p.starts_with("system:serviceaccount:") {
        return (ActorKind::Service, "service_account");
    }
    if p == "system@google.com" {
        // Google's own systems (preemptions, migrations, maintenance in system_event logs)
        return (ActorKind::Service, "google_system");
    }
    if p.starts_with("principal://") || p.starts_with("principalSet://") {
        if p.contains("/workloadIdentityPools/") {
            return (ActorKind::Service, "workload_identity");
        }
        if p.contains("/workforcePools/") {
            return (ActorKind::guess(p, ActorKind::Human), "workforce_identity");
        }
    }
    (ActorKind::guess(p, ActorKind::Human), "user")
}

fn delegator<'d>(d: &'d Delegation) -> Option<&'d str> {
    d.first_party_principal
        .get()
        .and_then(|f| f.principal_email.get())
        .or(d.principal_subject.get())
        .or_else(|| {
            let c = d.third_party_principal.get()?.third_party_claims.get()?;
            c.email.get().or(c.sub.get())
        })
}

fn action(p: &AuditLog, method: &str, log_name: Option<&str>) -> Action {
    let status = p.status.get();
    let code = status.and_then(|s| s.code.int()).unwrap_or(0);
    let denied = p
        .authorization_info
        .0
        .iter()
        .find(|a| a.granted.0 == Some(false));
    let (outcome, error) = if code != 0 {
        let msg = status.and_then(|s| s.message.get());
        (
            Outcome::Failure,
            Some(msg.map_or_else(|| Str::from(code.to_string()), Str::from)),
        )
    } else if let Some(d) = denied {
        let perm = d.permission.get().unwrap_or("unknown");
        (
            Outcome::Failure,
            Some(Str::from(format!("permission denied: {perm}"))),
        )
    } else {
        (Outcome::Success, None)
    };
    let data_access = log_name.is_some_and(|l| l.ends_with("data_access"));
    Action {
        name: Str::from(method),
        service: p.service_name.get().map(Str::from),
        resource: p.resource_name.get().map(Str::from),
        outcome,
        read_only: (data_access && is_read_method(method)).then_some(true),
        error,
    }
}

/// `storage.objects.get`, `io.k8s.core.v1.pods.list`, `google.iam.admin.v1.ListServiceAccounts`:
/// the last dotted segment names a read.
fn is_read_method(method: &str) -> bool {
    let last = method.rsplit('.').next().unwrap_or(method);
    ["get", "list", "search", "watch", "lookup"]
        .iter()
        .any(|v| {
            last.len() >= v.len()
                && last.is_char_boundary(v.len())
                && last[..v.len()].eq_ignore_ascii_case(v)
        })
}

/// Minting a token or signature for a service account takes on that account's identity.
fn assumed(p: &AuditLog, method: &str) -> Option<Box<Assumed>> {
    let last = method.rsplit('.').next().unwrap_or(method);
    if !matches!(
        last,
        "GenerateAccessToken" | "GenerateIdToken" | "SignJwt" | "SignBlob"
    ) {
        return None;
    }
    let sa = p
        .request
        .get()
        .and_then(|r| r.name.get())
        .or(p.resource_name.get())?;
    Some(Box::new(Assumed {
        role: Str::from(sa),
        session_name: None,
        credential_id: None,
    }))
}

#[cfg(test)]
mod tests;

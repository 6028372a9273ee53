//! OCSF 1.x identity events (Authentication 3002, API Activity 6003, and any other class that
//! names a user), as AWS Security Lake and other OCSF pipelines write them, into identity events.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{LBool, LList, LNum, LStr, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Credential, CredentialKind, Event, Format, Millis, Origin, Outcome,
    Source, SourceVendor, Str,
};
use crate::time::{from_epoch, parse_time_text};

const F: Format = Format::Ocsf;

/// OCSF class Authentication: the authenticated identity is `user`, not `actor.user`.
const AUTHENTICATION: i64 = 3002;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    /// epoch ms by the schema; some pipelines write a numeric or RFC 3339 string
    #[serde(borrow)]
    time: Option<&'a RawValue>,
    #[serde(borrow)]
    time_dt: LStr<'a>,
    class_uid: LNum,
    #[serde(borrow)]
    activity_name: LStr<'a>,
    #[serde(borrow)]
    type_name: LStr<'a>,
    #[serde(borrow)]
    status: LStr<'a>,
    status_id: LNum,
    #[serde(borrow)]
    status_code: LStr<'a>,
    #[serde(borrow)]
    status_detail: LStr<'a>,
    is_mfa: LBool,
    #[serde(borrow)]
    metadata: Obj<Metadata<'a>>,
    #[serde(borrow)]
    cloud: Obj<Cloud<'a>>,
    #[serde(borrow)]
    actor: Obj<ActorObj<'a>>,
    #[serde(borrow)]
    user: Obj<User<'a>>,
    #[serde(borrow)]
    session: Obj<Session<'a>>,
    #[serde(borrow)]
    src_endpoint: Obj<Endpoint<'a>>,
    #[serde(borrow)]
    dst_endpoint: Obj<Endpoint<'a>>,
    #[serde(borrow)]
    http_request: Obj<HttpRequest<'a>>,
    #[serde(borrow)]
    api: Obj<Api<'a>>,
    #[serde(borrow)]
    resources: LList<Named<'a>>,
    #[serde(borrow)]
    service: Obj<Named<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata<'a> {
    #[serde(borrow)]
    uid: LStr<'a>,
    #[serde(borrow)]
    product: Obj<Named<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Cloud<'a> {
    #[serde(borrow)]
    region: LStr<'a>,
    #[serde(borrow)]
    account: Obj<Named<'a>>,
    #[serde(borrow)]
    account_uid: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActorObj<'a> {
    #[serde(borrow)]
    user: Obj<User<'a>>,
    #[serde(borrow)]
    session: Obj<Session<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct User<'a> {
    #[serde(borrow)]
    uid: LStr<'a>,
    #[serde(borrow)]
    name: LStr<'a>,
    #[serde(borrow)]
    email_addr: LStr<'a>,
    #[serde(borrow, rename = "type")]
    kind: LStr<'a>,
    type_id: LNum,
    #[serde(borrow)]
    account: Obj<Named<'a>>,
    #[serde(borrow)]
    account_uid: LStr<'a>,
    #[serde(borrow)]
    credential_uid: LStr<'a>,
    #[serde(borrow)]
    groups: LList<Named<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Session<'a> {
    #[serde(borrow)]
    uid: LStr<'a>,
    #[serde(borrow)]
    issuer: LStr<'a>,
    #[serde(borrow)]
    credential_uid: LStr<'a>,
    created_time: LNum,
    expiration_time: LNum,
    is_mfa: LBool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Endpoint<'a> {
    #[serde(borrow)]
    ip: LStr<'a>,
    #[serde(borrow)]
    hostname: LStr<'a>,
    #[serde(borrow)]
    domain: LStr<'a>,
    #[serde(borrow)]
    location: Obj<Location<'a>>,
    #[serde(borrow)]
    autonomous_system: Obj<AutonomousSystem<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location<'a> {
    #[serde(borrow)]
    country: LStr<'a>,
    #[serde(borrow)]
    region: LStr<'a>,
    #[serde(borrow)]
    city: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AutonomousSystem<'a> {
    number: LNum,
    #[serde(borrow)]
    name: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HttpRequest<'a> {
    #[serde(borrow)]
    user_agent: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Api<'a> {
    #[serde(borrow)]
    operation: LStr<'a>,
    #[serde(borrow)]
    service: Obj<Named<'a>>,
    #[serde(borrow)]
    response: Obj<ApiResponse<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApiResponse<'a> {
    #[serde(borrow)]
    error: LStr<'a>,
}

/// Any OCSF object with a `uid` and a `name` (resources, services, products, accounts, groups).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Named<'a> {
    #[serde(borrow)]
    uid: LStr<'a>,
    #[serde(borrow)]
    name: LStr<'a>,
}

/// Decode one OCSF record.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let r: Record = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let time = time(&r)?;
    let auth = r.class_uid.int() == Some(AUTHENTICATION);
    let actor_user = r.actor.get().and_then(|a| a.user.get());
    let user = if auth {
        r.user.get().or(actor_user)
    } else {
        actor_user.or(r.user.get())
    }
    .ok_or_else(|| DecodeError::missing(F, "actor.user"))?;
    let actor_session = r.actor.get().and_then(|a| a.session.get());
    let mut ev = Event::new(time, F, origin);
    ev.actor = actor(user, actor_session, r.cloud.get())?;
    let session = actor_session.or(r.session.get());
    ev.credential = credential(user, session);
    ev.session = session
        .and_then(|s| s.uid.get())
        .map(Str::from)
        .or_else(|| {
            ev.credential
                .as_ref()
                .filter(|c| c.kind == CredentialKind::Session)
                .map(|c| c.id.clone())
        });
    ev.mfa = r.is_mfa.0.or_else(|| session.and_then(|s| s.is_mfa.0));
    ev.source = source(r.src_endpoint.get(), r.http_request.get());
    ev.action = action(&r, auth)?;
    ev.id = r.metadata.get().and_then(|m| m.uid.get()).map(Str::from);
    ev.region = r.cloud.get().and_then(|c| c.region.get()).map(Str::from);
    ev.dedup = ev.id.as_deref().map(|id| super::dedup_key("ocsf", &[id]));
    Ok(ev)
}

/// `time` (epoch, any unit, number or string), else `time_dt` (RFC 3339).
fn time(r: &Record) -> Result<Millis, DecodeError> {
    let raw = r.time.map(RawValue::get).filter(|t| *t != "null");
    let text = raw.map(|t| {
        t.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(t)
    });
    if let Some(ms) = text.and_then(parse_time_text) {
        return Ok(ms);
    }
    if let Some(dt) = r.time_dt.get() {
        return parse_time_text(dt).ok_or_else(|| DecodeError::invalid(F, "time_dt", dt));
    }
    match raw {
        Some(t) => Err(DecodeError::invalid(F, "time", t)),
        None => Err(DecodeError::missing(F, "time")),
    }
}

fn actor(u: &User, session: Option<&Session>, cloud: Option<&Cloud>) -> Result<Actor, DecodeError> {
    let id = u
        .uid
        .get()
        .or(u.email_addr.get())
        .or(u.name.get())
        .ok_or_else(|| DecodeError::missing(F, "actor.user.uid"))?;
    let vendor_type = u.kind.get();
    // an assumed role's session name is the last part of its ARN
    let session_name = (vendor_type == Some("AssumedRole"))
        .then(|| id.rsplit_once('/').map(|(_, s)| s))
        .flatten();
    let name = u.name.get().or(u.email_addr.get()).or(session_name);
    Ok(Actor {
        id: Str::from(id),
        name: name.map(Str::from),
        kind: kind(
            vendor_type,
            u.type_id.int(),
            session_name.or(name).unwrap_or(id),
        ),
        role: session.and_then(|s| s.issuer.get()).map(Str::from),
        account: u
            .account
            .get()
            .and_then(|a| a.uid.get())
            .or(u.account_uid.get())
            .or_else(|| {
                let c = cloud?;
                c.account
                    .get()
                    .and_then(|a| a.uid.get())
                    .or(c.account_uid.get())
            })
            .map(Str::from),
        vendor_type: vendor_type.map(Str::from),
        groups: u
            .groups
            .0
            .iter()
            .filter_map(|g| g.name.get().or(g.uid.get()))
            .map(Str::from)
            .collect(),
        impersonator: None,
    })
}

/// OCSF user types (`User`/1, `Admin`/2, `System`/3) and the CloudTrail identity types
/// Security Lake passes through; anything else by its name.
fn kind(vendor_type: Option<&str>, type_id: Option<i64>, name: &str) -> ActorKind {
    match (vendor_type, type_id) {
        (Some("Admin"), _) | (None, Some(2)) => ActorKind::Human,
        (Some("System" | "Service" | "AWSService" | "AWSAccount"), _) | (None, Some(3)) => {
            ActorKind::Service
        }
        (Some("Root"), _) => ActorKind::Root,
        (Some("User" | "IAMUser" | "FederatedUser" | "SAMLUser" | "IdentityCenterUser"), _)
        | (None, Some(1)) => ActorKind::guess(name, ActorKind::Human),
        (Some("AssumedRole"), _) if is_instance_id(name) => ActorKind::Service,
        _ => ActorKind::guess(name, ActorKind::Unknown),
    }
}

/// EC2 instance-profile sessions are named after the instance (`i-0abc...`).
fn is_instance_id(name: &str) -> bool {
    name.strip_prefix("i-")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The user's credential id: AWS `AKIA` keys are standing, `ASIA` keys session-bound.
fn credential(u: &User, session: Option<&Session>) -> Option<Credential> {
    let id = u
        .credential_uid
        .get()
        .or_else(|| session?.credential_uid.get())?;
    let (kind, long_lived) = if id.starts_with("AKIA") {
        (CredentialKind::LongTermKey, Some(true))
    } else if id.starts_with("ASIA") {
        (CredentialKind::Session, Some(false))
    } else {
        (CredentialKind::Unknown, None)
    };
    let mut c = Credential::new(id, kind);
    c.long_lived = long_lived;
    if kind == CredentialKind::Session {
        c.issued = session.and_then(|s| s.created_time.0).and_then(from_epoch);
        c.expires = session
            .and_then(|s| s.expiration_time.0)
            .and_then(from_epoch);
    }
    Some(c)
}

fn source(src: Option<&Endpoint>, http: Option<&HttpRequest>) -> Source {
    let raw = src.and_then(|e| e.ip.get().or(e.hostname.get()).or(e.domain.get()));
    let mut s = Source::from_raw(raw, http.and_then(|h| h.user_agent.get()));
    let Some(src) = src else { return s };
    let mut v = SourceVendor::default();
    if let Some(asys) = src.autonomous_system.get() {
        v.asn = asys
            .number
            .int()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n != 0);
        v.as_org = asys.name.get().map(Str::from);
    }
    v.geo = src.location.get().and_then(|l| {
        let parts = [l.country.get(), l.region.get(), l.city.get()];
        let known: Vec<&str> = parts.into_iter().flatten().collect();
        (!known.is_empty()).then(|| Str::from(known.join("/")))
    });
    s.set_vendor(v);
    s
}

fn action(r: &Record, auth: bool) -> Result<Action, DecodeError> {
    let api = r.api.get();
    let operation = api.and_then(|a| a.operation.get());
    let activity = r.activity_name.get();
    let name = if auth {
        activity.or(operation)
    } else {
        operation.or(activity)
    }
    .or(r.type_name.get())
    .ok_or_else(|| DecodeError::missing(F, "api.operation"))?;
    let service_name = r.service.get().and_then(|s| s.name.get());
    let resource = r
        .resources
        .0
        .first()
        .and_then(|x| x.uid.get().or(x.name.get()))
        .or_else(|| {
            let dst = r.dst_endpoint.get().filter(|_| auth)?;
            dst.hostname.get().or(dst.domain.get()).or(dst.ip.get())
        })
        .or(service_name.filter(|_| auth));
    let outcome = match (r.status_id.int(), r.status.get()) {
        (Some(1), _) => Outcome::Success,
        (Some(2), _) => Outcome::Failure,
        (_, Some(s)) if s.eq_ignore_ascii_case("success") => Outcome::Success,
        (_, Some(s)) if s.eq_ignore_ascii_case("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let error = (outcome == Outcome::Failure)
        .then(|| {
            api.and_then(|a| a.response.get())
                .and_then(|resp| resp.error.get())
                .or(r.status_code.get())
                .or(r.status_detail.get())
        })
        .flatten();
    Ok(Action {
        name: Str::from(name),
        service: api
            .and_then(|a| a.service.get())
            .and_then(|s| s.name.get())
            .or(service_name)
            .or_else(|| r.metadata.get()?.product.get()?.name.get())
            .map(Str::from),
        resource: resource.map(Str::from),
        outcome,
        read_only: None,
        error: error.map(Str::from),
    })
}

#[cfg(test)]
mod tests;

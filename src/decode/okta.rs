//! Okta System Log events (`/api/v1/logs` LogEvent objects) into identity events.
//!
//! Calls made with an SSWS API token name the token in `transaction.detail.requestApiTokenId`;
//! browser and IdX sign-ins carry the Okta session in `authenticationContext.externalSessionId`.

use serde::Deserialize;

use super::json::{LBool, LList, LNum, LStr, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Credential, CredentialKind, Event, Format, Origin, Outcome, Source,
    SourceVendor, Str,
};
use crate::time::parse_time_text;

const F: Format = Format::Okta;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Record<'a> {
    #[serde(borrow)]
    published: LStr<'a>,
    #[serde(borrow)]
    uuid: LStr<'a>,
    #[serde(borrow)]
    event_type: LStr<'a>,
    #[serde(borrow)]
    actor: Obj<Principal<'a>>,
    #[serde(borrow)]
    client: Obj<Client<'a>>,
    #[serde(borrow)]
    authentication_context: Obj<AuthenticationContext<'a>>,
    #[serde(borrow)]
    debug_context: Obj<DebugContext<'a>>,
    #[serde(borrow)]
    security_context: Obj<SecurityContext<'a>>,
    #[serde(borrow)]
    outcome: Obj<LogOutcome<'a>>,
    #[serde(borrow)]
    target: LList<Principal<'a>>,
    #[serde(borrow)]
    transaction: Obj<Transaction<'a>>,
    #[serde(borrow)]
    request: Obj<Request<'a>>,
}

/// An actor or target: `{id, type, alternateId, displayName}`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Principal<'a> {
    #[serde(borrow)]
    id: LStr<'a>,
    #[serde(borrow, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow)]
    alternate_id: LStr<'a>,
    #[serde(borrow)]
    display_name: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Client<'a> {
    #[serde(borrow)]
    ip_address: LStr<'a>,
    #[serde(borrow)]
    user_agent: Obj<UserAgent<'a>>,
    #[serde(borrow)]
    geographical_context: Obj<Geo<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserAgent<'a> {
    #[serde(borrow)]
    raw_user_agent: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Geo<'a> {
    #[serde(borrow)]
    country: LStr<'a>,
    #[serde(borrow)]
    state: LStr<'a>,
    #[serde(borrow)]
    city: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AuthenticationContext<'a> {
    #[serde(borrow)]
    external_session_id: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DebugContext<'a> {
    #[serde(borrow)]
    debug_data: Obj<DebugData<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DebugData<'a> {
    #[serde(borrow)]
    dt_hash: LStr<'a>,
    #[serde(borrow)]
    device_fingerprint: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SecurityContext<'a> {
    as_number: LNum,
    #[serde(borrow)]
    as_org: LStr<'a>,
    #[serde(borrow)]
    isp: LStr<'a>,
    is_proxy: LBool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogOutcome<'a> {
    #[serde(borrow)]
    result: LStr<'a>,
    #[serde(borrow)]
    reason: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Transaction<'a> {
    #[serde(borrow)]
    detail: Obj<TransactionDetail<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TransactionDetail<'a> {
    #[serde(borrow)]
    request_api_token_id: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Request<'a> {
    #[serde(borrow)]
    ip_chain: LList<ChainEntry<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ChainEntry<'a> {
    #[serde(borrow)]
    ip: LStr<'a>,
    #[serde(borrow)]
    geographical_context: Obj<Geo<'a>>,
}

/// Decode one LogEvent.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let r: Record = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let published = r
        .published
        .get()
        .ok_or_else(|| DecodeError::missing(F, "published"))?;
    let time = parse_time_text(published)
        .ok_or_else(|| DecodeError::invalid(F, "published", published))?;
    let name = r
        .event_type
        .get()
        .ok_or_else(|| DecodeError::missing(F, "eventType"))?;
    let actor = r
        .actor
        .get()
        .and_then(actor)
        .ok_or_else(|| DecodeError::missing(F, "actor"))?;
    let mut ev = Event::new(time, F, origin);
    if let Some(uuid) = r.uuid.get() {
        ev.id = Some(Str::from(uuid));
        ev.dedup = Some(super::dedup_key("okta", &[uuid]));
    }
    ev.actor = actor;
    credential(&mut ev, &r);
    ev.source = source(&r);
    ev.action = action(&r, name);
    if name == "user.authentication.auth_via_mfa" && ev.action.outcome == Outcome::Success {
        ev.mfa = Some(true);
    }
    Ok(ev)
}

/// Present and not Okta's placeholder for "no such value".
fn known<'s>(v: &'s LStr) -> Option<&'s str> {
    v.get().filter(|s| !s.eq_ignore_ascii_case("unknown"))
}

fn actor(p: &Principal) -> Option<Actor> {
    // failed sign-ins for unknown users log `id: "unknown"` and the login typed as alternateId
    let id = known(&p.id).or(p.alternate_id.get())?;
    let name = p.alternate_id.get().or(known(&p.display_name));
    let vendor_type = p.kind.get();
    let judged = name.unwrap_or(id);
    let kind = match vendor_type {
        Some(t) if t.eq_ignore_ascii_case("User") => ActorKind::guess(judged, ActorKind::Human),
        // PublicClientApp, AppInstance, SystemPrincipal, Client, ...
        Some(t) if t.contains("App") || t.contains("Client") || t.contains("Principal") => {
            ActorKind::Service
        }
        _ => ActorKind::guess(judged, ActorKind::Unknown),
    };
    Some(Actor {
        id: Str::from(id),
        name: name.map(Str::from),
        kind,
        vendor_type: vendor_type.map(Str::from),
        ..Actor::default()
    })
}

/// An SSWS API token when the call used one (no session then), else the Okta session.
fn credential(ev: &mut Event, r: &Record) {
    let token = r
        .transaction
        .get()
        .and_then(|t| t.detail.get())
        .and_then(|d| d.request_api_token_id.get());
    if let Some(token) = token {
        let mut c = Credential::new(token, CredentialKind::ApiToken);
        c.long_lived = Some(true);
        ev.credential = Some(c);
        return;
    }
    let session = r
        .authentication_context
        .get()
        .and_then(|a| known(&a.external_session_id));
    if let Some(sid) = session {
        let mut c = Credential::new(sid, CredentialKind::Session);
        c.long_lived = Some(false);
        ev.credential = Some(c);
        ev.session = Some(Str::from(sid));
    }
}

fn source(r: &Record) -> Source {
    let client = r.client.get();
    // ipChain lists the client first, then the proxies it passed through
    let first_hop = r.request.get().and_then(|q| q.ip_chain.0.first());
    let ip = client
        .and_then(|c| c.ip_address.get())
        .or(first_hop.and_then(|h| h.ip.get()));
    let ua = client
        .and_then(|c| c.user_agent.get())
        .and_then(|u| u.raw_user_agent.get());
    let mut s = Source::from_raw(ip, ua);
    let mut v = SourceVendor {
        geo: client
            .and_then(|c| c.geographical_context.get())
            .or(first_hop.and_then(|h| h.geographical_context.get()))
            .and_then(geo),
        ..SourceVendor::default()
    };
    if let Some(sc) = r.security_context.get() {
        v.asn = sc.as_number.int().and_then(|n| u32::try_from(n).ok());
        v.as_org = sc.as_org.get().or(sc.isp.get()).map(Str::from);
        v.proxy = sc.is_proxy.0;
    }
    let debug = r.debug_context.get().and_then(|d| d.debug_data.get());
    v.device = debug
        .and_then(|d| d.device_fingerprint.get().or(d.dt_hash.get()))
        .map(Str::from);
    s.set_vendor(v);
    s
}

fn action(r: &Record, name: &str) -> Action {
    let outcome = r.outcome.get();
    let result = outcome.and_then(|o| o.result.get()).unwrap_or("");
    let outcome_kind =
        if result.eq_ignore_ascii_case("SUCCESS") || result.eq_ignore_ascii_case("ALLOW") {
            Outcome::Success
        } else if result.eq_ignore_ascii_case("FAILURE") || result.eq_ignore_ascii_case("DENY") {
            Outcome::Failure
        } else {
            Outcome::Unknown
        };
    let target = r.target.0.first();
    Action {
        name: Str::from(name),
        service: Some(Str::from("okta")),
        resource: target
            .and_then(|t| {
                known(&t.alternate_id)
                    .or(known(&t.display_name))
                    .or(t.id.get())
            })
            .map(Str::from),
        outcome: outcome_kind,
        read_only: None,
        error: match outcome_kind {
            Outcome::Failure => outcome.and_then(|o| o.reason.get()).map(Str::from),
            _ => None,
        },
    }
}

/// `country/state/city`, as much as Okta knows.
fn geo(g: &Geo) -> Option<Str> {
    let mut out = Str::default();
    for p in [g.country.get(), g.state.get(), g.city.get()]
        .into_iter()
        .flatten()
    {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(p);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;

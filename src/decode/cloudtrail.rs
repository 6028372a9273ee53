//! AWS CloudTrail records (one record per line, or elements of `{"Records":[...]}` delivery files
//! and JSON arrays) into identity events.

use serde::Deserialize;

use super::json::{LBool, LStr, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Assumed, Credential, CredentialKind, Event, Format, Origin, Outcome,
    Source, Str,
};
use crate::time::parse_rfc3339;

const F: Format = Format::Cloudtrail;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Record<'a> {
    #[serde(borrow)]
    event_time: LStr<'a>,
    #[serde(borrow)]
    event_name: LStr<'a>,
    #[serde(borrow)]
    event_source: LStr<'a>,
    #[serde(borrow, rename = "eventID")]
    event_id: LStr<'a>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip: LStr<'a>,
    #[serde(borrow)]
    user_agent: LStr<'a>,
    #[serde(borrow)]
    error_code: LStr<'a>,
    #[serde(borrow)]
    aws_region: LStr<'a>,
    #[serde(borrow)]
    recipient_account_id: LStr<'a>,
    read_only: LBool,
    #[serde(borrow)]
    user_identity: Obj<UserIdentity<'a>>,
    #[serde(borrow)]
    request_parameters: Obj<RequestParameters<'a>>,
    #[serde(borrow)]
    response_elements: Obj<ResponseElements<'a>>,
    #[serde(borrow)]
    additional_event_data: Obj<AdditionalEventData<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UserIdentity<'a> {
    #[serde(borrow, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow)]
    principal_id: LStr<'a>,
    #[serde(borrow)]
    arn: LStr<'a>,
    #[serde(borrow)]
    account_id: LStr<'a>,
    #[serde(borrow)]
    access_key_id: LStr<'a>,
    #[serde(borrow)]
    user_name: LStr<'a>,
    #[serde(borrow)]
    invoked_by: LStr<'a>,
    #[serde(borrow)]
    identity_provider: LStr<'a>,
    #[serde(borrow)]
    credential_id: LStr<'a>,
    #[serde(borrow)]
    session_context: Obj<SessionContext<'a>>,
    #[serde(borrow)]
    on_behalf_of: Obj<OnBehalfOf<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionContext<'a> {
    #[serde(borrow)]
    attributes: Obj<Attributes<'a>>,
    #[serde(borrow)]
    session_issuer: Obj<SessionIssuer<'a>>,
    #[serde(borrow)]
    source_identity: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Attributes<'a> {
    mfa_authenticated: LBool,
    #[serde(borrow)]
    creation_date: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    arn: LStr<'a>,
    #[serde(borrow)]
    user_name: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OnBehalfOf<'a> {
    #[serde(borrow)]
    user_id: LStr<'a>,
    #[serde(borrow)]
    identity_store_arn: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RequestParameters<'a> {
    #[serde(borrow)]
    role_arn: LStr<'a>,
    #[serde(borrow)]
    role_session_name: LStr<'a>,
    #[serde(borrow)]
    function_name: LStr<'a>,
    #[serde(borrow)]
    bucket_name: LStr<'a>,
    #[serde(borrow)]
    role_name: LStr<'a>,
    #[serde(borrow)]
    user_name: LStr<'a>,
    #[serde(borrow)]
    secret_id: LStr<'a>,
    #[serde(borrow)]
    cluster: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResponseElements<'a> {
    #[serde(borrow, rename = "ConsoleLogin")]
    console_login: LStr<'a>,
    #[serde(borrow)]
    credentials: Obj<IssuedCredentials<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct IssuedCredentials<'a> {
    #[serde(borrow)]
    access_key_id: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AdditionalEventData<'a> {
    #[serde(borrow, rename = "MFAUsed")]
    mfa_used: LStr<'a>,
}

/// Decode one CloudTrail record.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let r: Record = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let time_text = r
        .event_time
        .get()
        .ok_or_else(|| DecodeError::missing(F, "eventTime"))?;
    let time =
        parse_rfc3339(time_text).ok_or_else(|| DecodeError::invalid(F, "eventTime", time_text))?;
    let name = r
        .event_name
        .get()
        .ok_or_else(|| DecodeError::missing(F, "eventName"))?;
    let service = r
        .event_source
        .get()
        .ok_or_else(|| DecodeError::missing(F, "eventSource"))?;
    let mut ev = Event::new(time, F, origin);
    ev.id = r.event_id.get().map(Str::from);
    // the same event delivered twice (an organisation trail and an account trail, overlapping
    // exports) is one event
    ev.dedup = r
        .event_id
        .get()
        .map(|id| super::dedup_key("cloudtrail", &[id]));
    ev.region = r.aws_region.get().map(Str::from);
    ev.source = Source::from_raw(r.source_ip.get(), r.user_agent.get());
    ev.action = action(&r, name, service);
    if let Some(ui) = r.user_identity.get() {
        identity(&mut ev, ui, &r);
    } else {
        return Err(DecodeError::missing(F, "userIdentity"));
    }
    if ev.actor.account.is_none() {
        ev.actor.account = r.recipient_account_id.get().map(Str::from);
    }
    if name == "ConsoleLogin" {
        console_login(&mut ev, &r);
    }
    if name.starts_with("AssumeRole") {
        ev.assumed = assumed(&r);
    }
    Ok(ev)
}

fn action(r: &Record, name: &str, service: &str) -> Action {
    let rp = r.request_parameters.get();
    let resource = rp.and_then(|p| {
        p.role_arn
            .get()
            .or(p.function_name.get())
            .or(p.bucket_name.get())
            .or(p.secret_id.get())
            .or(p.role_name.get())
            .or(p.user_name.get())
            .or(p.cluster.get())
    });
    let error = r.error_code.get();
    Action {
        name: Str::from(name),
        service: Some(Str::from(service)),
        resource: resource.map(Str::from),
        outcome: if error.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        read_only: r.read_only.0,
        error: error.map(Str::from),
    }
}

fn identity(ev: &mut Event, ui: &UserIdentity, r: &Record) {
    let vendor_type = ui.kind.get().unwrap_or("Unknown");
    let sc = ui.session_context.get();
    let issuer = sc.and_then(|s| s.session_issuer.get());
    let attrs = sc.and_then(|s| s.attributes.get());
    let arn = ui.arn.get();
    let mut actor = Actor {
        vendor_type: Some(Str::from(vendor_type)),
        account: ui.account_id.get().map(Str::from),
        ..Actor::default()
    };
    match vendor_type {
        "IAMUser" => {
            actor.name = ui.user_name.get().map(Str::from);
            actor.kind = actor
                .name
                .as_deref()
                .map_or(ActorKind::Human, |n| ActorKind::guess(n, ActorKind::Human));
        }
        "AssumedRole" => {
            // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
            let session = arn.and_then(|a| a.rsplit_once('/')).map(|(_, s)| s);
            actor.name = session.map(Str::from);
            actor.role = issuer.and_then(|i| i.arn.get()).map(Str::from);
            actor.kind = session.map_or(ActorKind::Unknown, assumed_session_kind);
        }
        "FederatedUser" => {
            actor.name = arn
                .and_then(|a| a.rsplit_once('/'))
                .map(|(_, n)| Str::from(n));
            actor.role = issuer.and_then(|i| i.arn.get()).map(Str::from);
            actor.kind = ActorKind::Human;
        }
        "SAMLUser" => {
            actor.name = ui.user_name.get().map(Str::from);
            actor.kind = ActorKind::Human;
        }
        "WebIdentityUser" => {
            actor.name = ui.user_name.get().map(Str::from);
            actor.kind = ActorKind::Unknown;
        }
        "Root" => {
            actor.name = Some(Str::from("root"));
            actor.kind = ActorKind::Root;
        }
        "AWSService" => {
            actor.name = ui.invoked_by.get().map(Str::from);
            actor.kind = ActorKind::Service;
        }
        "IdentityCenterUser" => {
            let obo = ui.on_behalf_of.get();
            actor.name = obo.and_then(|o| o.user_id.get()).map(Str::from);
            actor.role = obo.and_then(|o| o.identity_store_arn.get()).map(Str::from);
            actor.kind = ActorKind::Human;
        }
        _ => {
            actor.name = ui.user_name.get().map(Str::from);
        }
    }
    actor.id = Str::from(
        arn.or_else(|| {
            // SAML/WebIdentity users and Identity Center users have no ARN of their own
            ui.on_behalf_of
                .get()
                .and_then(|o| o.user_id.get())
                .or(ui.user_name.get())
                .or(ui.principal_id.get())
                .or(ui.invoked_by.get())
                .or(ui.account_id.get())
        })
        .unwrap_or("unknown"),
    );
    if vendor_type == "SAMLUser" || vendor_type == "WebIdentityUser" {
        if let (Some(idp), Some(user)) = (ui.identity_provider.get(), ui.user_name.get()) {
            actor.id = Str::from(format!("{idp}/{user}"));
        }
    }
    if actor.role.is_none() {
        actor.role = issuer.and_then(|i| i.arn.get()).map(Str::from);
    }
    ev.actor = actor;
    ev.mfa = attrs.and_then(|a| a.mfa_authenticated.0);
    ev.credential = credential(ui, attrs, r);
    if let Some(c) = &ev.credential {
        if c.kind == CredentialKind::Session {
            ev.session = Some(c.id.clone());
        }
    }
}

/// Role sessions named after EC2 instances, SDK defaults or pipelines are machines; email-like
/// names are people (SSO); anything else is judged by its name.
fn assumed_session_kind(session: &str) -> ActorKind {
    let b = session.as_bytes();
    if b.len() > 2 && session.starts_with("i-") && b[2..].iter().all(u8::is_ascii_hexdigit) {
        return ActorKind::Service;
    }
    if session.starts_with("botocore-session-") || session.starts_with("aws-go-sdk-") {
        return ActorKind::Service;
    }
    ActorKind::guess(session, ActorKind::Unknown)
}

fn credential(ui: &UserIdentity, attrs: Option<&Attributes>, r: &Record) -> Option<Credential> {
    let issued = attrs
        .and_then(|a| a.creation_date.get())
        .and_then(parse_rfc3339);
    if let Some(key) = ui.access_key_id.get() {
        let kind = if key.starts_with("AKIA") {
            CredentialKind::LongTermKey
        } else if key.starts_with("ASIA") {
            CredentialKind::Session
        } else {
            CredentialKind::Unknown
        };
        let mut c = Credential::new(key, kind);
        if kind == CredentialKind::Session {
            c.issued = issued;
        }
        c.long_lived = match kind {
            CredentialKind::LongTermKey => Some(true),
            CredentialKind::Session => Some(false),
            _ => None,
        };
        return Some(c);
    }
    if let Some(id) = ui.credential_id.get() {
        let mut c = Credential::new(id, CredentialKind::Session);
        c.issued = issued;
        c.long_lived = Some(false);
        return Some(c);
    }
    if r.event_name.get() == Some("ConsoleLogin") {
        // a console sign-in authenticates with the identity's password (or the IdP's session)
        let who = ui.arn.get().or(ui.user_name.get()).unwrap_or("unknown");
        return Some(Credential::new(
            format!("console:{who}"),
            CredentialKind::Password,
        ));
    }
    None
}

fn console_login(ev: &mut Event, r: &Record) {
    if let Some(mfa) = r.additional_event_data.get().and_then(|d| d.mfa_used.get()) {
        ev.mfa = super::json::parse_bool_word(mfa);
    }
    if let Some(result) = r
        .response_elements
        .get()
        .and_then(|e| e.console_login.get())
    {
        if result.eq_ignore_ascii_case("Failure") {
            ev.action.outcome = Outcome::Failure;
        }
    }
}

fn assumed(r: &Record) -> Option<Box<Assumed>> {
    let rp = r.request_parameters.get()?;
    Some(Box::new(Assumed {
        role: Str::from(rp.role_arn.get()?),
        session_name: rp.role_session_name.get().map(Str::from),
        credential_id: r
            .response_elements
            .get()
            .and_then(|e| e.credentials.get())
            .and_then(|c| c.access_key_id.get())
            .map(Str::from),
    }))
}

#[cfg(test)]
mod tests;

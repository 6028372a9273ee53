//! Microsoft Entra ID sign-in logs: Graph `signIn` resources (user and service-principal
//! sign-ins) and Azure Monitor diagnostic records (`properties` holds the sign-in) into identity
//! events.

use serde::Deserialize;

use super::json::{LNum, LStr, LStrs, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Credential, CredentialKind, Event, Format, Origin, Outcome, Source,
    SourceVendor, Str,
};
use crate::time::parse_time_text;

const F: Format = Format::Entra;

/// A Graph `signIn`, or an Azure Monitor record whose `properties` is one: the envelope's own
/// fields (`time`, `category`, `tenantId`, `resultType`, `callerIpAddress`) share the struct.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SignIn<'a> {
    #[serde(borrow)]
    created_date_time: LStr<'a>,
    #[serde(borrow)]
    id: LStr<'a>,
    #[serde(borrow)]
    user_principal_name: LStr<'a>,
    #[serde(borrow)]
    user_id: LStr<'a>,
    #[serde(borrow)]
    user_display_name: LStr<'a>,
    #[serde(borrow)]
    user_type: LStr<'a>,
    #[serde(borrow)]
    app_id: LStr<'a>,
    #[serde(borrow)]
    app_display_name: LStr<'a>,
    #[serde(borrow)]
    resource_display_name: LStr<'a>,
    #[serde(borrow)]
    resource_id: LStr<'a>,
    #[serde(borrow)]
    ip_address: LStr<'a>,
    autonomous_system_number: LNum,
    #[serde(borrow)]
    user_agent: LStr<'a>,
    #[serde(borrow)]
    session_id: LStr<'a>,
    #[serde(borrow)]
    unique_token_identifier: LStr<'a>,
    #[serde(borrow)]
    status: Obj<Status<'a>>,
    #[serde(borrow)]
    authentication_requirement: LStr<'a>,
    #[serde(borrow)]
    device_detail: Obj<DeviceDetail<'a>>,
    #[serde(borrow)]
    location: Obj<Location<'a>>,
    #[serde(borrow)]
    service_principal_id: LStr<'a>,
    #[serde(borrow)]
    service_principal_name: LStr<'a>,
    #[serde(borrow)]
    service_principal_credential_key_id: LStr<'a>,
    #[serde(borrow)]
    service_principal_credential_thumbprint: LStr<'a>,
    #[serde(borrow)]
    client_credential_type: LStr<'a>,
    #[serde(borrow)]
    federated_credential_id: LStr<'a>,
    #[serde(borrow)]
    managed_identity_type: LStr<'a>,
    #[serde(borrow)]
    managed_service_identity: Obj<ManagedServiceIdentity<'a>>,
    #[serde(borrow)]
    sign_in_event_types: LStrs<'a>,
    #[serde(borrow)]
    home_tenant_id: LStr<'a>,
    #[serde(borrow)]
    resource_tenant_id: LStr<'a>,
    // Azure Monitor envelope
    #[serde(borrow)]
    time: LStr<'a>,
    #[serde(borrow)]
    category: LStr<'a>,
    #[serde(borrow)]
    tenant_id: LStr<'a>,
    result_type: LNum,
    #[serde(borrow)]
    result_description: LStr<'a>,
    #[serde(borrow)]
    caller_ip_address: LStr<'a>,
    #[serde(borrow)]
    properties: Obj<Box<SignIn<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Status<'a> {
    error_code: LNum,
    #[serde(borrow)]
    failure_reason: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DeviceDetail<'a> {
    #[serde(borrow)]
    device_id: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Location<'a> {
    #[serde(borrow)]
    city: LStr<'a>,
    #[serde(borrow)]
    state: LStr<'a>,
    #[serde(borrow)]
    country_or_region: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ManagedServiceIdentity<'a> {
    #[serde(borrow)]
    msi_type: LStr<'a>,
}

/// Which kind of identity signed in.
#[derive(Clone, Copy, PartialEq)]
enum Signer {
    User,
    /// a service principal (app registration) with its own credential
    App,
    /// a managed identity: Azure holds the credential
    Managed,
}

/// Decode one sign-in record (Graph resource or Azure Monitor envelope).
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let top: SignIn = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let s: &SignIn = top.properties.get().map_or(&top, |p| &**p);
    let (field, time_text) = match (s.created_date_time.get(), top.time.get()) {
        (Some(t), _) => ("createdDateTime", t),
        (None, Some(t)) => ("time", t),
        (None, None) => return Err(DecodeError::missing(F, "createdDateTime")),
    };
    let time =
        parse_time_text(time_text).ok_or_else(|| DecodeError::invalid(F, field, time_text))?;
    let signer = signer(s, top.category.get());
    let mut ev = Event::new(time, F, origin);
    ev.actor = actor(s, signer)?;
    ev.actor.account = s
        .resource_tenant_id
        .get()
        .or(s.home_tenant_id.get())
        .or(top.tenant_id.get())
        .or(s.tenant_id.get())
        .map(Str::from);
    ev.credential = match signer {
        Signer::User => s.unique_token_identifier.get().map(|t| {
            let mut c = Credential::new(t, CredentialKind::Session);
            c.long_lived = Some(false);
            c
        }),
        Signer::App => app_credential(s),
        Signer::Managed => None,
    };
    ev.session = s.session_id.get().map(Str::from);
    ev.mfa = match s.authentication_requirement.get() {
        Some("multiFactorAuthentication") => Some(true),
        Some("singleFactorAuthentication") => Some(false),
        _ => None,
    };
    ev.source = source(s, &top);
    ev.action = action(s, &top, signer);
    ev.id = s.id.get().map(Str::from);
    ev.dedup = ev.id.as_deref().map(|id| super::dedup_key("entra", &[id]));
    Ok(ev)
}

/// Service principals and managed identities by their event types, the log category, or a
/// service principal id without a user.
fn signer(s: &SignIn, category: Option<&str>) -> Signer {
    let types = &s.sign_in_event_types.0;
    let msi = s
        .managed_identity_type
        .get()
        .or_else(|| s.managed_service_identity.get()?.msi_type.get())
        .is_some_and(|t| !t.eq_ignore_ascii_case("none"));
    if msi
        || types.iter().any(|t| t == "managedIdentity")
        || category == Some("ManagedIdentitySignInLogs")
    {
        Signer::Managed
    } else if types.iter().any(|t| t == "servicePrincipal")
        || category == Some("ServicePrincipalSignInLogs")
        || (s.service_principal_id.get().is_some() && s.user_principal_name.get().is_none())
    {
        Signer::App
    } else {
        Signer::User
    }
}

fn actor(s: &SignIn, signer: Signer) -> Result<Actor, DecodeError> {
    if signer == Signer::User {
        let id = s
            .user_principal_name
            .get()
            .or(s.user_id.get())
            .ok_or_else(|| DecodeError::missing(F, "userPrincipalName"))?;
        let name = s.user_principal_name.get().or(s.user_display_name.get());
        return Ok(Actor {
            id: Str::from(id),
            name: name.map(Str::from),
            kind: ActorKind::guess(id, ActorKind::Human),
            vendor_type: Some(Str::from(s.user_type.get().unwrap_or("user"))),
            ..Actor::default()
        });
    }
    let id = s
        .service_principal_id
        .get()
        .or(s.app_id.get())
        .ok_or_else(|| DecodeError::missing(F, "servicePrincipalId"))?;
    let name = s.service_principal_name.get().or(s.app_display_name.get());
    // an app named like an AI agent is one; any other app is a service
    let kind = match ActorKind::guess(name.unwrap_or(id), ActorKind::Service) {
        ActorKind::Agent => ActorKind::Agent,
        _ => ActorKind::Service,
    };
    Ok(Actor {
        id: Str::from(id),
        name: name.map(Str::from),
        kind,
        vendor_type: Some(Str::from(if signer == Signer::Managed {
            "managedIdentity"
        } else {
            "servicePrincipal"
        })),
        ..Actor::default()
    })
}

/// The secret, certificate or federated token a service principal authenticated with.
fn app_credential(s: &SignIn) -> Option<Credential> {
    let key = s.service_principal_credential_key_id.get();
    let thumb = s.service_principal_credential_thumbprint.get();
    let (id, kind, long_lived) = match s.client_credential_type.get() {
        // the federated credential id names the trust configuration every job of a workflow
        // shares, not a token: each exchange issues its own token
        Some("federatedIdentityCredential") => (
            s.unique_token_identifier
                .get()
                .or(s.federated_credential_id.get())
                .or(key)?,
            CredentialKind::Token,
            false,
        ),
        Some("certificate" | "clientAssertion") => {
            (key.or(thumb)?, CredentialKind::Certificate, true)
        }
        Some("managedIdentity") => return None,
        _ => match (key, thumb) {
            (Some(k), _) => (k, CredentialKind::LongTermKey, true),
            (None, Some(t)) => (t, CredentialKind::Certificate, true),
            (None, None) => return None,
        },
    };
    let mut c = Credential::new(id, kind);
    c.long_lived = Some(long_lived);
    Some(c)
}

fn source(s: &SignIn, top: &SignIn) -> Source {
    let mut src = Source::from_raw(
        s.ip_address.get().or(top.caller_ip_address.get()),
        s.user_agent.get(),
    );
    src.set_vendor(SourceVendor {
        asn: s
            .autonomous_system_number
            .int()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n != 0),
        geo: s.location.get().and_then(|l| {
            let parts = [l.country_or_region.get(), l.state.get(), l.city.get()];
            let known: Vec<&str> = parts.into_iter().flatten().collect();
            (!known.is_empty()).then(|| Str::from(known.join("/")))
        }),
        device: s
            .device_detail
            .get()
            .and_then(|d| d.device_id.get())
            .map(Str::from),
        ..SourceVendor::default()
    });
    src
}

fn action(s: &SignIn, top: &SignIn, signer: Signer) -> Action {
    let status = s.status.get();
    let (code, reason) = match status.and_then(|st| st.error_code.int()) {
        Some(code) => (Some(code), status.and_then(|st| st.failure_reason.get())),
        None => (top.result_type.int(), top.result_description.get()),
    };
    let (outcome, error) = match code {
        Some(0) => (Outcome::Success, None),
        Some(c) => (
            Outcome::Failure,
            Some(match reason {
                Some(r) => Str::from(format!("{c}: {r}")),
                None => Str::from(c.to_string()),
            }),
        ),
        None => (Outcome::Unknown, None),
    };
    Action {
        name: Str::from(match signer {
            Signer::User => "sign-in",
            _ => "service-principal-sign-in",
        }),
        service: s.app_display_name.get().or(s.app_id.get()).map(Str::from),
        resource: s
            .resource_display_name
            .get()
            .or(s.resource_id.get())
            .map(Str::from),
        outcome,
        read_only: None,
        error,
    }
}

#[cfg(test)]
mod tests;

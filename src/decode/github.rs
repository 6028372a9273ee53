//! GitHub enterprise / organisation audit log (streaming and REST API JSON) into identity events.
//!
//! Streaming and the API write times as epoch milliseconds (`@timestamp`, `created_at`); older
//! exports and some forwarders write RFC 3339 or numeric strings. The credential is identified by
//! `hashed_token` (base64 SHA-256 of the token), `token_id`, or an SSH key fingerprint.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{LBool, LStr, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Credential, CredentialKind, Event, Format, Millis, Origin, Outcome,
    Source, SourceVendor, Str,
};
use crate::time::parse_time_text;

const F: Format = Format::Github;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    #[serde(borrow, rename = "@timestamp")]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    created_at: Option<&'a RawValue>,
    #[serde(borrow, rename = "_document_id")]
    document_id: LStr<'a>,
    #[serde(borrow)]
    action: LStr<'a>,
    #[serde(borrow)]
    actor: LStr<'a>,
    #[serde(borrow)]
    actor_ip: LStr<'a>,
    #[serde(borrow)]
    actor_location: Obj<Location<'a>>,
    actor_is_bot: LBool,
    actor_is_agent: LBool,
    #[serde(borrow)]
    user_agent: LStr<'a>,
    #[serde(borrow)]
    repo: LStr<'a>,
    #[serde(borrow)]
    repository: LStr<'a>,
    #[serde(borrow)]
    org: LStr<'a>,
    #[serde(borrow)]
    business: LStr<'a>,
    #[serde(borrow)]
    hashed_token: LStr<'a>,
    #[serde(borrow)]
    token_id: Option<&'a RawValue>,
    #[serde(borrow)]
    programmatic_access_type: LStr<'a>,
    #[serde(borrow)]
    transport_protocol_name: LStr<'a>,
    #[serde(borrow)]
    integration: LStr<'a>,
    #[serde(borrow)]
    public_key_fingerprint: LStr<'a>,
    #[serde(borrow)]
    deploy_key_fingerprint: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location<'a> {
    #[serde(borrow)]
    country_code: LStr<'a>,
    #[serde(borrow)]
    country_name: LStr<'a>,
    #[serde(borrow)]
    region: LStr<'a>,
    #[serde(borrow)]
    region_name: LStr<'a>,
    #[serde(borrow)]
    city: LStr<'a>,
}

/// `programmatic_access_type`, as far as identity goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// not logged: a web session, or a type-less export
    Absent,
    ClassicPat,
    FineGrainedPat,
    OauthToken,
    AppServerToServer,
    AppUserToServer,
    /// `Public Key (User/Deploy)`: an SSH user or deploy key
    PublicKey,
    Other,
}

impl Access {
    fn of(text: Option<&str>) -> Access {
        let Some(t) = text else {
            return Access::Absent;
        };
        if contains_ci(t, "fine-grained") {
            Access::FineGrainedPat
        } else if contains_ci(t, "personal access token") {
            Access::ClassicPat
        } else if contains_ci(t, "server-to-server") {
            Access::AppServerToServer
        } else if contains_ci(t, "user-to-server") {
            Access::AppUserToServer
        } else if contains_ci(t, "oauth") {
            Access::OauthToken
        } else if contains_ci(t, "key") {
            Access::PublicKey
        } else {
            Access::Other
        }
    }

    /// Credential kind and whether it is standing.
    fn kind(self) -> (CredentialKind, Option<bool>) {
        match self {
            Access::ClassicPat => (CredentialKind::PersonalAccessToken, Some(true)),
            // fine-grained PATs may carry an expiry the log does not show
            Access::FineGrainedPat => (CredentialKind::PersonalAccessToken, None),
            // OAuth app tokens do not expire
            Access::OauthToken => (CredentialKind::OauthToken, Some(true)),
            // installation tokens live 1 hour, user-to-server tokens 8 hours
            Access::AppServerToServer | Access::AppUserToServer => {
                (CredentialKind::AppToken, Some(false))
            }
            // SSH user and deploy keys live until removed
            Access::PublicKey => (CredentialKind::SshKey, Some(true)),
            Access::Absent | Access::Other => (CredentialKind::Unknown, None),
        }
    }
}

/// Decode one audit log entry.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let r: Record = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let time = event_time(&r)?;
    let name = r
        .action
        .get()
        .ok_or_else(|| DecodeError::missing(F, "action"))?;
    let login = r
        .actor
        .get()
        .ok_or_else(|| DecodeError::missing(F, "actor"))?;
    let access = Access::of(r.programmatic_access_type.get());
    let mut ev = Event::new(time, F, origin);
    if let Some(id) = r.document_id.get() {
        ev.id = Some(Str::from(id));
        ev.dedup = Some(super::dedup_key("github", &[id]));
    }
    ev.actor = actor(&r, login, access);
    ev.credential = credential(&r, access);
    ev.source = Source::from_raw(r.actor_ip.get(), r.user_agent.get());
    ev.source.set_vendor(SourceVendor {
        geo: r.actor_location.get().and_then(geo),
        ..SourceVendor::default()
    });
    ev.action = action(&r, name);
    Ok(ev)
}

/// `@timestamp` when it parses, else `created_at`: epoch numbers in any unit, numeric strings or
/// RFC 3339 text.
fn event_time(r: &Record) -> Result<Millis, DecodeError> {
    let mut bad: Option<DecodeError> = None;
    for (field, raw) in [("@timestamp", r.timestamp), ("created_at", r.created_at)] {
        let Some(raw) = raw else { continue };
        match scalar(raw) {
            Some(t) => match parse_time_text(&t) {
                Some(ms) => return Ok(ms),
                None => bad = bad.or_else(|| Some(DecodeError::invalid(F, field, &t))),
            },
            None if raw.get() == "\"\"" => {}
            None => bad = bad.or_else(|| Some(DecodeError::invalid(F, field, raw.get()))),
        }
    }
    Err(bad.unwrap_or_else(|| DecodeError::missing(F, "@timestamp or created_at")))
}

/// The text of a string or number value; `None` for empty strings, null, objects, arrays and
/// booleans.
fn scalar(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get().trim();
    if s.starts_with('"') {
        let v: LStr = serde_json::from_str(s).ok()?;
        v.0.filter(|v| !v.is_empty())
    } else if s.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(Cow::Borrowed(s))
    } else {
        None
    }
}

fn actor(r: &Record, login: &str, access: Access) -> Actor {
    let bot = r.actor_is_bot.0 == Some(true) || login.ends_with("[bot]");
    let kind = if r.actor_is_agent.0 == Some(true) {
        ActorKind::Agent
    } else if bot || access == Access::AppServerToServer || login == "deploy_key" {
        ActorKind::Service
    } else {
        ActorKind::guess(login, ActorKind::Human)
    };
    let vendor_type = if r.actor_is_agent.0 == Some(true) {
        "agent"
    } else if bot {
        "bot"
    } else {
        "user"
    };
    // a GitHub App or OAuth app acting with a user's token acts as that user
    let impersonator = match access {
        Access::AppUserToServer | Access::OauthToken => r.integration.get().map(Str::from),
        _ => None,
    };
    Actor {
        id: Str::from(login),
        name: Some(Str::from(login)),
        kind,
        role: None,
        account: r.org.get().or(r.business.get()).map(Str::from),
        vendor_type: Some(Str::from(vendor_type)),
        groups: Vec::new(),
        impersonator,
    }
}

fn credential(r: &Record, access: Access) -> Option<Credential> {
    let ssh = r
        .transport_protocol_name
        .get()
        .is_some_and(|t| t.eq_ignore_ascii_case("ssh"));
    let access = if access == Access::Absent && ssh {
        Access::PublicKey
    } else {
        access
    };
    let (kind, long_lived) = access.kind();
    let id = if let Some(hash) = r.hashed_token.get() {
        Str::from(hash)
    } else if let Some(t) = r
        .token_id
        .filter(|_| access != Access::Absent)
        .and_then(scalar)
        .filter(|t| t.as_ref() != "0")
    {
        // without an access type, token_id names the token acted on (a PAT request), not one
        // presented on the request
        Str::from(format!("token_id:{t}"))
    } else if access == Access::PublicKey {
        let fp = r
            .public_key_fingerprint
            .get()
            .or(r.deploy_key_fingerprint.get())?;
        Str::from(fp)
    } else {
        return None;
    };
    let mut c = Credential::new(id, kind);
    c.long_lived = long_lived;
    Some(c)
}

fn action(r: &Record, name: &str) -> Action {
    let service = name.split_once('.').map_or(name, |(s, _)| s);
    // a failed login, a failed SCIM call, a rejected push: the attempt did not happen
    let failed = name.contains("fail") || name.ends_with("rejected_ref_update");
    Action {
        name: Str::from(name),
        service: Some(Str::from(service)),
        resource: r
            .repo
            .get()
            .or(r.repository.get())
            .or(r.org.get())
            .map(Str::from),
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        read_only: match name {
            "git.clone" | "git.fetch" => Some(true),
            "git.push" => Some(false),
            _ => None,
        },
        error: None,
    }
}

/// `country/region/city`, as much as the location says.
fn geo(l: &Location) -> Option<Str> {
    let parts = [
        l.country_code.get().or(l.country_name.get()),
        l.region_name.get().or(l.region.get()),
        l.city.get(),
    ];
    let mut out = Str::default();
    for p in parts.into_iter().flatten() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(p);
    }
    (!out.is_empty()).then_some(out)
}

/// ASCII case-insensitive substring test.
fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests;

//! HashiCorp Vault audit device entries (file device JSON lines, request and response) into
//! identity events.
//!
//! Every request is logged twice (a `request` entry and a `response` entry sharing
//! `request.id`); both decode to the same dedup key. Token values are HMAC'd by the audit device
//! and kept as opaque ids.

use serde::Deserialize;

use super::json::{LNum, LStr, LStrs, Obj};
use super::DecodeError;
use crate::event::{
    Action, Actor, ActorKind, Assumed, Credential, CredentialKind, Event, Format, Origin, Outcome,
    Source, Str,
};
use crate::time::{parse_time_text, SECOND};

const F: Format = Format::Vault;

/// Auth methods by the prefix Vault gives their tokens' display names (the mount path), and the
/// kind of identity that usually logs in with them.
const METHODS: &[(&str, ActorKind)] = &[
    ("token", ActorKind::Unknown),
    ("approle", ActorKind::Service),
    ("kubernetes", ActorKind::Service),
    ("aws", ActorKind::Service),
    ("gcp", ActorKind::Service),
    ("azure", ActorKind::Service),
    ("cert", ActorKind::Service),
    ("alicloud", ActorKind::Service),
    ("oci", ActorKind::Service),
    ("cf", ActorKind::Service),
    ("spiffe", ActorKind::Service),
    ("userpass", ActorKind::Human),
    ("ldap", ActorKind::Human),
    ("oidc", ActorKind::Human),
    ("okta", ActorKind::Human),
    ("radius", ActorKind::Human),
    ("github", ActorKind::Human),
    ("saml", ActorKind::Human),
    ("kerberos", ActorKind::Human),
    ("jwt", ActorKind::Unknown),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record<'a> {
    #[serde(borrow)]
    time: LStr<'a>,
    #[serde(borrow, rename = "type")]
    kind: LStr<'a>,
    #[serde(borrow)]
    auth: Obj<Auth<'a>>,
    #[serde(borrow)]
    request: Obj<Request<'a>>,
    #[serde(borrow)]
    response: Obj<Response<'a>>,
    #[serde(borrow)]
    error: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Auth<'a> {
    #[serde(borrow)]
    accessor: LStr<'a>,
    #[serde(borrow)]
    client_token: LStr<'a>,
    #[serde(borrow)]
    display_name: LStr<'a>,
    #[serde(borrow)]
    policies: LStrs<'a>,
    #[serde(borrow)]
    token_policies: LStrs<'a>,
    #[serde(borrow)]
    identity_policies: LStrs<'a>,
    #[serde(borrow)]
    token_issue_time: LStr<'a>,
    token_ttl: LNum,
    #[serde(borrow)]
    entity_id: LStr<'a>,
    #[serde(borrow)]
    metadata: Obj<Metadata<'a>>,
}

impl Auth<'_> {
    /// Whether the entry names who made the request (unauthenticated requests log an `auth`
    /// object with nothing but the token type).
    fn identified(&self) -> bool {
        self.accessor.get().is_some()
            || self.display_name.get().is_some()
            || self.entity_id.get().is_some()
    }

    fn all_policies(&self) -> impl Iterator<Item = &str> {
        self.token_policies
            .0
            .iter()
            .chain(&self.policies.0)
            .chain(&self.identity_policies.0)
            .map(|p| p.as_ref())
    }

    fn is_root(&self) -> bool {
        self.all_policies().any(|p| p == "root")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata<'a> {
    #[serde(borrow)]
    username: LStr<'a>,
    #[serde(borrow)]
    email: LStr<'a>,
    #[serde(borrow)]
    role_name: LStr<'a>,
    #[serde(borrow)]
    role: LStr<'a>,
    #[serde(borrow)]
    service_account_name: LStr<'a>,
    #[serde(borrow)]
    canonical_arn: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request<'a> {
    #[serde(borrow)]
    id: LStr<'a>,
    #[serde(borrow)]
    operation: LStr<'a>,
    #[serde(borrow)]
    path: LStr<'a>,
    #[serde(borrow)]
    remote_address: LStr<'a>,
    #[serde(borrow)]
    mount_type: LStr<'a>,
    #[serde(borrow)]
    mount_point: LStr<'a>,
    /// the token a request was made with (HMAC'd), logged here too: the only trace of a token
    /// denied before Vault resolved it
    #[serde(borrow)]
    client_token: LStr<'a>,
    #[serde(borrow)]
    client_token_accessor: LStr<'a>,
    #[serde(borrow)]
    namespace: Obj<Namespace<'a>>,
    #[serde(borrow)]
    headers: Obj<Headers<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Namespace<'a> {
    #[serde(borrow)]
    path: LStr<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Headers<'a> {
    #[serde(borrow, rename = "user-agent")]
    user_agent: LStrs<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Response<'a> {
    #[serde(borrow)]
    auth: Obj<Auth<'a>>,
}

/// Decode one audit entry.
pub fn decode(text: &str, origin: Origin) -> Result<Event, DecodeError> {
    let r: Record = serde_json::from_str(text).map_err(|e| DecodeError::json(&e))?;
    let time_text = r
        .time
        .get()
        .ok_or_else(|| DecodeError::missing(F, "time"))?;
    let time =
        parse_time_text(time_text).ok_or_else(|| DecodeError::invalid(F, "time", time_text))?;
    let req = r
        .request
        .get()
        .ok_or_else(|| DecodeError::missing(F, "request"))?;
    let operation = req
        .operation
        .get()
        .ok_or_else(|| DecodeError::missing(F, "request.operation"))?;
    let mut ev = Event::new(time, F, origin);
    if let Some(login) = req.path.get().and_then(login_path) {
        let issued = issued_auth(&r);
        ev.actor = match issued {
            Some(auth) => actor(auth),
            None => login_actor(req, login),
        };
        ev.assumed = issued.and_then(assumed);
    } else if let Some(auth) = r.auth.get().filter(|a| a.identified()) {
        ev.actor = actor(auth);
        ev.credential = credential(auth);
        ev.session = auth.client_token.get().map(Str::from);
    } else if let Some(token) = denied_token(&r, req) {
        // denied before the token resolved: `auth` holds only its type; the request names it
        ev.actor = Actor {
            id: Str::from(token),
            kind: ActorKind::Unknown,
            vendor_type: Some(Str::from("token")),
            ..Actor::default()
        };
        ev.credential = Some(Credential::new(token, CredentialKind::Token));
        ev.session = req.client_token.get().map(Str::from);
    } else {
        return Err(DecodeError::missing(F, "auth"));
    }
    ev.actor.account = req
        .namespace
        .get()
        .and_then(|n| n.path.get())
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .map(Str::from);
    let user_agent = req
        .headers
        .get()
        .and_then(|h| h.user_agent.0.first())
        .map(|s| s.as_ref());
    ev.source = Source::from_raw(req.remote_address.get(), user_agent);
    ev.action = action(&r, req, operation);
    if let Some(id) = req.id.get() {
        ev.id = Some(Str::from(id));
        ev.dedup = Some(super::dedup_key("vault", &[id]));
    }
    // the response entry follows with the outcome (and, for logins, the issued token); a
    // request entry that already carries an error is final (Vault denied it before acting)
    ev.partial = r.kind.get() == Some("request") && r.error.get().is_none();
    Ok(ev)
}

/// The token of a request Vault refused before resolving it (`"error": "permission denied"`
/// with an `auth` of nothing but `token_type`): its accessor, else its HMAC'd value.
fn denied_token<'r>(r: &'r Record, req: &'r Request) -> Option<&'r str> {
    r.error.get()?;
    req.client_token_accessor
        .get()
        .or(req.client_token.get())
        .or_else(|| {
            r.auth
                .get()
                .and_then(|a| a.accessor.get().or(a.client_token.get()))
        })
}

/// The auth method of a display name (`ldap-alice` → `ldap`) and the usual kind of its users;
/// for mounts at custom paths, the display name's first part and a kind from the metadata.
fn method<'d>(display: Option<&'d str>, meta: Option<&Metadata>) -> (&'d str, ActorKind) {
    if let Some(d) = display {
        if d == "root" {
            return ("token", ActorKind::Unknown);
        }
        let known = METHODS.iter().find(|(m, _)| {
            d.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        });
        if let Some(&(m, kind)) = known {
            return (m, kind);
        }
    }
    let kind = match meta {
        Some(m)
            if m.service_account_name.get().is_some()
                || m.role_name.get().is_some()
                || m.canonical_arn.get().is_some() =>
        {
            ActorKind::Service
        }
        Some(m) if m.username.get().is_some() || m.email.get().is_some() => ActorKind::Human,
        _ => ActorKind::Unknown,
    };
    let prefix = display.map_or("token", |d| d.split_once('-').map_or(d, |(p, _)| p));
    (prefix, kind)
}

fn actor(auth: &Auth) -> Actor {
    let display = auth.display_name.get();
    let meta = auth.metadata.get();
    let name = meta
        .and_then(|m| {
            m.username
                .get()
                .or(m.email.get())
                .or(m.role_name.get())
                .or(m.service_account_name.get())
        })
        .or(display);
    let id = auth
        .entity_id
        .get()
        .or(display)
        .or(auth.accessor.get())
        .unwrap_or("unknown");
    let (vendor_type, default) = method(display, meta);
    let kind = if auth.is_root() {
        ActorKind::Root
    } else {
        ActorKind::guess(name.unwrap_or(id), default)
    };
    let mut groups: Vec<Str> = Vec::new();
    for p in auth.all_policies() {
        if !groups.iter().any(|g| g == p) {
            groups.push(Str::from(p));
        }
    }
    Actor {
        id: Str::from(id),
        name: name.map(Str::from),
        kind,
        role: meta.and_then(role).map(Str::from),
        vendor_type: Some(Str::from(vendor_type)),
        groups,
        ..Actor::default()
    }
}

/// The auth method's role the token was issued through (AppRole, Kubernetes, JWT/OIDC roles).
fn role<'m>(m: &'m Metadata) -> Option<&'m str> {
    m.role_name.get().or(m.role.get())
}

/// The token the request was made with, by its accessor (batch tokens have none: their HMAC'd
/// value stands in).
fn credential(auth: &Auth) -> Option<Credential> {
    let id = auth.accessor.get().or(auth.client_token.get())?;
    let mut c = Credential::new(id, CredentialKind::Token);
    let ttl = auth.token_ttl.int();
    c.long_lived = match ttl {
        Some(0) => Some(true),
        Some(t) if t > 0 => Some(false),
        Some(_) => None,
        // Vault omits a zero TTL; root tokens never expire
        None if auth.is_root() => Some(true),
        None => None,
    };
    c.issued = auth.token_issue_time.get().and_then(parse_time_text);
    c.expires = match (c.issued, ttl) {
        (Some(issued), Some(t)) if t > 0 => {
            t.checked_mul(SECOND).and_then(|ms| issued.checked_add(ms))
        }
        _ => None,
    };
    Some(c)
}

/// An unauthenticated login path: `auth/<mount>/login[/<user>]`, or an OIDC callback
/// `auth/<mount>/oidc/callback` / `auth/<mount>/oidc/auth_url`. Returns (mount, user).
fn login_path(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.trim_start_matches('/').strip_prefix("auth/")?;
    for (i, _) in rest.match_indices("/login") {
        let after = &rest[i + "/login".len()..];
        if after.is_empty() {
            return Some((&rest[..i], None));
        }
        if let Some(user) = after.strip_prefix('/') {
            let user = user.trim_end_matches('/');
            return Some((&rest[..i], (!user.is_empty()).then_some(user)));
        }
    }
    let mount = rest
        .strip_suffix("/oidc/callback")
        .or(rest.strip_suffix("/oidc/auth_url"))?;
    Some((mount, None))
}

/// The token a successful login issued (in the response entry).
fn issued_auth<'r, 'a>(r: &'r Record<'a>) -> Option<&'r Auth<'a>> {
    let identified = |a: &&Auth| a.identified();
    r.response
        .get()
        .and_then(|resp| resp.auth.get())
        .filter(identified)
        .or(r.auth.get().filter(identified))
}

/// A login takes on the identity of the token it issued: linked by the token's accessor.
fn assumed(auth: &Auth) -> Option<Box<Assumed>> {
    let meta = auth.metadata.get();
    let role = meta.and_then(role).or(auth.display_name.get())?;
    Some(Box::new(Assumed {
        role: Str::from(role),
        session_name: None,
        credential_id: auth
            .accessor
            .get()
            .or(auth.client_token.get())
            .map(Str::from),
    }))
}

/// Who is logging in when no token was issued (the request entry, a failed login): the user
/// named in the path (`userpass-alice`, as Vault names the token it would issue) or the mount
/// (`approle`).
fn login_actor(req: &Request, (mount, user): (&str, Option<&str>)) -> Actor {
    let mount_type = req.mount_type.get();
    let (vendor_type, default) = match mount_type {
        Some(t) => method(Some(t), None),
        None => method(Some(mount), None),
    };
    let id = match user {
        Some(u) => Str::from(format!("{}-{u}", mount.replace('/', "-"))),
        None => Str::from(mount),
    };
    Actor {
        kind: ActorKind::guess(user.unwrap_or(mount), default),
        name: user.map(Str::from),
        vendor_type: Some(Str::from(mount_type.unwrap_or(vendor_type))),
        id,
        ..Actor::default()
    }
}

fn action(r: &Record, req: &Request, operation: &str) -> Action {
    let error = r.error.get().map(clean_error).filter(|e| !e.is_empty());
    // a request entry is written before Vault acts: without an error its outcome is not known
    let responded = r.kind.get() == Some("response") || r.response.get().is_some();
    let outcome = match (error, responded) {
        (Some(_), _) => Outcome::Failure,
        (None, true) => Outcome::Success,
        (None, false) => Outcome::Unknown,
    };
    Action {
        name: Str::from(operation),
        service: req
            .mount_type
            .get()
            .or(req.mount_point.get())
            .map(Str::from),
        resource: req.path.get().map(Str::from),
        outcome,
        read_only: Some(matches!(operation, "read" | "list")),
        error: error.map(Str::from),
    }
}

/// `1 error occurred:\n\t* permission denied\n\n` → `permission denied`.
fn clean_error(e: &str) -> &str {
    let e = e.trim();
    match e.split_once("\n\t* ") {
        Some((head, rest)) if head.ends_with("occurred:") => rest.trim(),
        _ => e,
    }
}

#[cfg(test)]
mod tests;

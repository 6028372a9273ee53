//! Event fields that detectors can name (`credential.id`, `source.network`, ...) and the
//! selections built from them (`match:` blocks, Sigma-style `field|modifier: value`).

use std::borrow::Cow;
use std::fmt;

use crate::event::Event;

/// A field of the normalised event, by its name in detector files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Format,
    ActorId,
    ActorName,
    ActorKind,
    ActorRole,
    ActorAccount,
    ActorType,
    ActorGroups,
    ActorImpersonator,
    CredentialId,
    CredentialKind,
    CredentialLongLived,
    CredentialBoundTo,
    SessionId,
    Mfa,
    SourceIp,
    SourceRaw,
    SourceNetwork,
    SourceAsn,
    SourceDevice,
    UserAgent,
    ActionName,
    ActionService,
    ActionResource,
    ActionOutcome,
    ActionReadOnly,
    ActionError,
    AssumedRole,
    AssumedSession,
    Region,
    Ticket,
    SourceTrusted,
    CredentialOrSession,
    ActorPrincipal,
    SessionKey,
    ActionScope,
    ExceptionId,
    ExceptionStatus,
    BreakGlass,
}

const NAMES: &[(&str, Field)] = &[
    ("format", Field::Format),
    ("actor.id", Field::ActorId),
    ("actor.name", Field::ActorName),
    ("actor.kind", Field::ActorKind),
    ("actor.role", Field::ActorRole),
    ("actor.account", Field::ActorAccount),
    ("actor.type", Field::ActorType),
    ("actor.groups", Field::ActorGroups),
    ("actor.impersonator", Field::ActorImpersonator),
    ("credential.id", Field::CredentialId),
    ("credential.kind", Field::CredentialKind),
    ("credential.long_lived", Field::CredentialLongLived),
    ("credential.bound_to", Field::CredentialBoundTo),
    ("session.id", Field::SessionId),
    ("mfa", Field::Mfa),
    ("source.ip", Field::SourceIp),
    ("source.raw", Field::SourceRaw),
    ("source.network", Field::SourceNetwork),
    ("source.asn", Field::SourceAsn),
    ("source.device", Field::SourceDevice),
    ("source.user_agent", Field::UserAgent),
    ("action.name", Field::ActionName),
    ("action.service", Field::ActionService),
    ("action.resource", Field::ActionResource),
    ("action.outcome", Field::ActionOutcome),
    ("action.read_only", Field::ActionReadOnly),
    ("action.error", Field::ActionError),
    ("assumed.role", Field::AssumedRole),
    ("assumed.session_name", Field::AssumedSession),
    ("region", Field::Region),
    ("ticket", Field::Ticket),
    ("source.trusted", Field::SourceTrusted),
    ("credential.or_session", Field::CredentialOrSession),
    ("actor.principal", Field::ActorPrincipal),
    ("session.key", Field::SessionKey),
    ("action.scope", Field::ActionScope),
    ("exception.id", Field::ExceptionId),
    ("exception.status", Field::ExceptionStatus),
    ("break_glass", Field::BreakGlass),
];

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Field {
    pub fn parse(name: &str) -> Result<Field, String> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let valid: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!("unknown field {name:?} (valid: {})", valid.join(", "))
            })
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .expect("every field is named")
    }

    /// The field's value on `ev`, or `None` when the event does not carry it.
    pub fn get(self, ev: &Event) -> Option<Cow<'_, str>> {
        fn b(s: &str) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(s))
        }
        fn opt(s: &Option<crate::event::Str>) -> Option<Cow<'_, str>> {
            s.as_deref().map(Cow::Borrowed)
        }
        match self {
            Field::Format => b(ev.format.name()),
            Field::ActorId => b(&ev.actor.id),
            Field::ActorName => opt(&ev.actor.name),
            Field::ActorKind => b(ev.actor.kind.name()),
            Field::ActorRole => opt(&ev.actor.role),
            Field::ActorAccount => opt(&ev.actor.account),
            Field::ActorType => opt(&ev.actor.vendor_type),
            Field::ActorGroups => {
                (!ev.actor.groups.is_empty()).then(|| Cow::Owned(ev.actor.groups.join(",")))
            }
            Field::ActorImpersonator => opt(&ev.actor.impersonator),
            Field::CredentialLongLived => ev
                .credential
                .as_ref()
                .and_then(|c| c.long_lived)
                .map(|l| Cow::Borrowed(bool_str(l))),
            Field::CredentialBoundTo => ev.credential.as_ref().and_then(|c| opt(&c.bound_to)),
            Field::SourceAsn => ev.source.asn().map(|a| Cow::Owned(a.to_string())),
            Field::SourceDevice => ev.source.device().map(Cow::Borrowed),
            Field::CredentialId => ev.credential.as_ref().map(|c| Cow::Borrowed(c.id.as_str())),
            Field::CredentialKind => ev.credential.as_ref().map(|c| Cow::Borrowed(c.kind.name())),
            Field::SessionId => opt(&ev.session),
            Field::Mfa => ev.mfa.map(|m| Cow::Borrowed(bool_str(m))),
            Field::SourceIp => ev.source.ip.map(|ip| Cow::Owned(ip.to_string())),
            Field::SourceRaw => opt(&ev.source.raw),
            Field::SourceNetwork => opt(&ev.source.network),
            Field::UserAgent => ev.source.user_agent.as_deref().map(Cow::Borrowed),
            Field::ActionName => b(&ev.action.name),
            Field::ActionService => opt(&ev.action.service),
            Field::ActionResource => opt(&ev.action.resource),
            Field::ActionOutcome => b(ev.action.outcome.name()),
            Field::ActionReadOnly => ev.action.read_only.map(|r| Cow::Borrowed(bool_str(r))),
            Field::ActionError => opt(&ev.action.error),
            Field::AssumedRole => ev.assumed.as_ref().map(|a| Cow::Borrowed(a.role.as_str())),
            Field::AssumedSession => ev
                .assumed
                .as_ref()
                .and_then(|a| a.session_name.as_deref().map(Cow::Borrowed)),
            Field::Region => opt(&ev.region),
            Field::Ticket => ev.tickets.first().map(|t| Cow::Borrowed(t.as_str())),
            Field::SourceTrusted => ev.source.trusted.map(|t| Cow::Borrowed(bool_str(t))),
            Field::ActorPrincipal => b(ev.principal()),
            Field::CredentialOrSession => match &ev.credential {
                Some(c) => b(&c.id),
                None => opt(&ev.session),
            },
            Field::SessionKey => Some(session_key(ev)),
            Field::ActionScope => scope(ev),
            Field::ExceptionId => opt(&ev.context.exception),
            Field::ExceptionStatus => ev
                .context
                .exception
                .is_some()
                .then(|| Cow::Owned(ev.context.exception_health.names().join(","))),
            Field::BreakGlass => ev.context.break_glass.map(|w| Cow::Borrowed(w.name())),
        }
    }

    /// Call `f` with each value of the field: every element of a list field (`actor.groups`,
    /// `exception.status`), the one value of any other. Stops when `f` returns true; returns
    /// whether it did.
    pub fn any_value(self, ev: &Event, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Field::ActorGroups => ev.actor.groups.iter().any(|g| f(g)),
            Field::ExceptionStatus if ev.context.exception.is_some() => {
                ev.context.exception_health.names().into_iter().any(f)
            }
            _ => self.get(ev).is_some_and(|v| f(&v)),
        }
    }
}

/// The session an event names itself: the session an assume-role call opens (its new
/// credential), the logged session or a session credential, a Vault token (by its accessor).
/// `None` for logs that carry no session, and for AWS root, whose console sign-in and later calls
/// log different ids: detectors split those identities' activity into sessions on quiet gaps
/// (see [`crate::detect::gap`]).
pub fn explicit_session(ev: &Event) -> Option<&str> {
    use crate::event::{ActorKind, CredentialKind, Format};
    if ev.format == Format::Cloudtrail && ev.actor.kind == ActorKind::Root {
        return None;
    }
    if let Some(c) = ev.assumed.as_ref().and_then(|a| a.credential_id.as_deref()) {
        return Some(c);
    }
    let cred = ev.credential.as_ref();
    if let Some(c) = cred.filter(|c| ev.format == Format::Vault && c.kind == CredentialKind::Token)
    {
        return Some(&c.id);
    }
    if let Some(s) = &ev.session {
        return Some(s);
    }
    cred.filter(|c| c.kind == CredentialKind::Session)
        .map(|c| c.id.as_str())
}

/// `session.key` without a detector's gap tracking (selections): the explicit session, else the
/// principal.
fn session_key(ev: &Event) -> Cow<'_, str> {
    Cow::Borrowed(explicit_session(ev).unwrap_or_else(|| ev.principal()))
}

/// How much of the event's system a key built from a field carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// not an identity (a network, an action): as logged
    None,
    /// an id (a credential, a session): unique within its format, whatever the account
    Format,
    /// a name (a principal, a role): unique only within its account / tenant / namespace
    Realm,
}

/// The system an identity belongs to: the format, and for names (`Scope::Realm`) the account /
/// tenant / Vault namespace where the format names identities within one
/// (`cloudtrail:111122223333`, `entra:<tenant>`, `vault:team-a`). GitHub, Okta and GCP names are
/// unique per format; Kubernetes audit events name no cluster, so two clusters' users of the
/// same name share a key unless a mapping or one source per cluster keeps them apart. Ids
/// (access keys, session credentials, Vault accessors) carry the format only, so a session
/// opened in one account and used in another stays one. Keys carry it so two systems'
/// identities never merge on an equal name.
pub fn push_system(key: &mut String, ev: &Event, scope: Scope) {
    use crate::event::Format;
    if scope == Scope::None {
        return;
    }
    key.push_str(ev.format.name());
    let realm = match ev.format {
        Format::Cloudtrail | Format::Entra | Format::Vault | Format::Ocsf | Format::Mapped(_) => {
            ev.actor.account.as_deref()
        }
        _ => None,
    };
    if let (Scope::Realm, Some(r)) = (scope, realm) {
        key.push(':');
        key.push_str(r);
    }
    key.push('\u{1f}');
}

/// What an action reached, coarsely enough that "many of them" means many places: a repository,
/// a bucket or function, a Kubernetes namespace, a GCP `projects/P/TYPE/NAME`, a Vault mount.
/// Okta targets (users, apps a provisioning token manages) are not places and have none.
fn scope(ev: &Event) -> Option<Cow<'_, str>> {
    use crate::event::Format;
    let r = ev.action.resource.as_deref()?;
    let upto = |sep_count: usize| -> &str {
        match r.match_indices('/').nth(sep_count) {
            Some((i, _)) => &r[..i],
            None => r,
        }
    };
    let s = match ev.format {
        Format::Okta => return None,
        Format::Kubernetes => upto(0),
        Format::Vault => upto(0),
        Format::Gcp if r.starts_with("projects/") => upto(3),
        _ => r,
    };
    Some(Cow::Borrowed(s))
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a condition compares (Sigma's value modifiers). All string comparisons ignore ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    /// the field is present (`true`) or absent (`false`)
    Exists(bool),
}

/// One `field|modifier: value(s)` line: true when the field matches any of the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub field: Field,
    pub op: Op,
    /// lower-cased
    pub values: Vec<String>,
    pub negate: bool,
}

impl Cond {
    /// Parse `field|modifier|not` and its values. Values are lower-cased here, once.
    pub fn parse(key: &str, values: Vec<String>) -> Result<Cond, String> {
        let mut parts = key.split('|');
        let field = Field::parse(parts.next().unwrap_or_default())?;
        let mut op = Op::Equals;
        let mut negate = false;
        for m in parts {
            match m {
                "contains" => op = Op::Contains,
                "startswith" => op = Op::StartsWith,
                "endswith" => op = Op::EndsWith,
                "exists" => {
                    let v = match values.as_slice() {
                        [v] if v == "true" => true,
                        [v] if v == "false" => false,
                        _ => return Err(format!("{key}: exists takes true or false")),
                    };
                    op = Op::Exists(v);
                }
                "not" => negate = true,
                other => {
                    return Err(format!(
                        "{key}: unknown modifier {other:?} (valid: contains, startswith, endswith, exists, not)"
                    ))
                }
            }
        }
        if values.is_empty() {
            return Err(format!("{key}: needs at least one value"));
        }
        Ok(Cond {
            field,
            op,
            values: values.into_iter().map(|v| v.to_ascii_lowercase()).collect(),
            negate,
        })
    }

    pub fn matches(&self, ev: &Event) -> bool {
        let hit = match self.op {
            Op::Exists(want) => self.field.get(ev).is_some() == want,
            op => self
                .field
                .any_value(ev, |v| self.values.iter().any(|want| compare(op, v, want))),
        };
        hit != self.negate
    }
}

fn compare(op: Op, have: &str, want: &str) -> bool {
    let (h, w) = (have.as_bytes(), want.as_bytes());
    match op {
        Op::Equals => h.eq_ignore_ascii_case(w),
        Op::StartsWith => h.len() >= w.len() && h[..w.len()].eq_ignore_ascii_case(w),
        Op::EndsWith => h.len() >= w.len() && h[h.len() - w.len()..].eq_ignore_ascii_case(w),
        Op::Contains => w.is_empty() || crate::event::find_ignore_case(h, w).next().is_some(),
        Op::Exists(_) => unreachable!("handled by the caller"),
    }
}

/// All conditions must hold; an empty selection matches every event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection(pub Vec<Cond>);

impl Selection {
    pub fn matches(&self, ev: &Event) -> bool {
        self.0.iter().all(|c| c.matches(ev))
    }
}

/// Values a detector resolved itself for one event, overriding the stateless field value: the
/// gap-based session of an identity whose log names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resolved<'a> {
    pub session: Option<&'a str>,
}

impl Field {
    /// Whether and how a key built from the field carries the event's system (see
    /// [`push_system`]): names by their realm, ids by their format. A `session.key` the detector
    /// resolved (`<principal>@<start>`) is a name.
    pub fn scope(self, r: Resolved) -> Scope {
        match self {
            Field::ActorId
            | Field::ActorName
            | Field::ActorPrincipal
            | Field::ActorRole
            | Field::ActorImpersonator
            | Field::AssumedRole
            | Field::AssumedSession => Scope::Realm,
            Field::SessionKey if r.session.is_some() => Scope::Realm,
            Field::CredentialId
            | Field::CredentialOrSession
            | Field::SessionId
            | Field::SessionKey => Scope::Format,
            _ => Scope::None,
        }
    }

    /// Write the field's value as detector state keeps it into `buf` (cleared first): with `r`
    /// applied and prefixed by its system. `None` when the event lacks the field.
    pub fn keyed<'b>(self, ev: &Event, r: Resolved, buf: &'b mut String) -> Option<&'b str> {
        group_key(std::slice::from_ref(&self), ev, r, buf)
    }
}

/// Write the group-by key of `ev` into `buf` (cleared first): the fields' values joined by
/// U+001F, after the event's system when a field names an identity (once, at the widest scope
/// any field needs). `None` when a field is missing. Built in a reused buffer so that looking a
/// key up allocates nothing; a detector copies it only to store it.
pub fn group_key<'b>(
    fields: &[Field],
    ev: &Event,
    r: Resolved,
    buf: &'b mut String,
) -> Option<&'b str> {
    buf.clear();
    if fields.is_empty() {
        buf.push('*');
        return Some(buf);
    }
    let scope = fields
        .iter()
        .map(|f| f.scope(r))
        .max()
        .unwrap_or(Scope::None);
    push_system(buf, ev, scope);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push('\u{1f}');
        }
        match (f, r.session) {
            (Field::SessionKey, Some(s)) => buf.push_str(s),
            _ => buf.push_str(&f.get(ev)?),
        }
    }
    Some(buf)
}

/// A group key as people read it: `a, b`.
pub fn display_key(key: &str) -> String {
    key.replace('\u{1f}', ", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Format, Origin, Source};
    use std::sync::Arc;

    fn ev() -> Event {
        let mut e = Event::new(
            0,
            Format::Cloudtrail,
            Origin::Inline {
                test: Arc::from("t"),
                index: 0,
            },
        );
        e.actor.id = "arn:aws:iam::1:role/BreakGlassAdmin".into();
        e.source = Source::from_raw(Some("10.1.2.3"), Some("aws-cli/2"));
        e
    }

    fn cond(k: &str, v: &[&str]) -> Cond {
        Cond::parse(k, v.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn modifiers_ignore_case() {
        let e = ev();
        assert!(cond("actor.id|contains", &["breakglass"]).matches(&e));
        assert!(cond("actor.id|endswith", &["ADMIN"]).matches(&e));
        assert!(cond("actor.id|startswith", &["arn:aws:iam"]).matches(&e));
        assert!(!cond("actor.id", &["breakglassadmin"]).matches(&e));
        assert!(cond("actor.id|contains|not", &["emergency"]).matches(&e));
        assert!(cond("source.ip", &["10.1.2.3"]).matches(&e));
        assert!(cond("credential.id|exists", &["false"]).matches(&e));
        assert!(!cond("credential.id|exists", &["true"]).matches(&e));
        assert!(
            !cond("credential.id", &["x"]).matches(&e),
            "absent field never equals"
        );
    }

    #[test]
    fn bad_names_list_the_valid_ones() {
        let e = Cond::parse("actor.nmae", vec!["x".into()]).unwrap_err();
        assert!(e.contains("actor.name"), "{e}");
        let e = Cond::parse("actor.name|regex", vec!["x".into()]).unwrap_err();
        assert!(e.contains("startswith"), "{e}");
        assert!(Cond::parse("actor.name|exists", vec!["maybe".into()]).is_err());
    }

    fn key(fields: &[Field], e: &Event, r: Resolved) -> Option<String> {
        group_key(fields, e, r, &mut String::new()).map(String::from)
    }

    #[test]
    fn group_keys_need_every_field() {
        let e = ev();
        let r = Resolved::default();
        assert_eq!(
            display_key(&key(&[Field::ActorId], &e, r).unwrap()),
            "cloudtrail, arn:aws:iam::1:role/BreakGlassAdmin"
        );
        assert_eq!(key(&[Field::ActorId, Field::CredentialId], &e, r), None);
        let k = key(&[Field::Format, Field::UserAgent], &e, r).unwrap();
        assert_eq!(
            display_key(&k),
            "cloudtrail, aws-cli/2",
            "no identity field, no system"
        );
        assert_eq!(key(&[], &e, r).as_deref(), Some("*"));
    }

    fn named(format: Format, account: Option<&str>, name: &str) -> Event {
        let mut e = ev();
        e.format = format;
        e.actor = crate::event::Actor {
            id: name.into(),
            name: Some(name.into()),
            account: account.map(Into::into),
            ..Default::default()
        };
        e
    }

    #[test]
    fn identity_keys_carry_their_system() {
        let r = Resolved::default();
        let k = |e: &Event, f: &[Field]| key(f, e, r).unwrap();
        let p = [Field::ActorPrincipal];
        // the same user name in Okta and GitHub is two identities
        let okta = named(Format::Okta, None, "alice");
        let github = named(Format::Github, Some("corp"), "alice");
        assert_ne!(k(&okta, &p), k(&github, &p));
        assert_eq!(
            display_key(&k(&github, &p)),
            "github, alice",
            "an org is not a realm"
        );
        // AWS root and a Vault root token (display name root): two identities
        let aws_root = named(Format::Cloudtrail, Some("111122223333"), "root");
        let vault_root = named(Format::Vault, None, "root");
        assert_ne!(k(&aws_root, &p), k(&vault_root, &p));
        assert_eq!(
            display_key(&k(&aws_root, &p)),
            "cloudtrail:111122223333, root"
        );
        // roots of two AWS accounts, users of two Vault namespaces
        let other_root = named(Format::Cloudtrail, Some("444455556666"), "root");
        assert_ne!(k(&aws_root, &p), k(&other_root, &p));
        let ns_a = named(Format::Vault, Some("team-a"), "ops");
        let ns_b = named(Format::Vault, Some("team-b"), "ops");
        assert_ne!(k(&ns_a, &p), k(&ns_b, &p));
        // with several fields the system is written once
        let two = k(&aws_root, &[Field::ActorPrincipal, Field::ActionName]);
        assert_eq!(display_key(&two).matches("cloudtrail").count(), 1);
        // counted identity values carry it too; other values are as logged
        let mut buf = String::new();
        let v = Field::ActorPrincipal
            .keyed(&okta, r, &mut buf)
            .map(String::from);
        assert_ne!(
            v.as_deref(),
            Field::ActorPrincipal.keyed(&github, r, &mut buf)
        );
        assert_eq!(Field::SourceIp.keyed(&okta, r, &mut buf), Some("10.1.2.3"));
    }

    #[test]
    fn ids_carry_their_format_only_so_a_cross_account_session_stays_one() {
        let r = Resolved::default();
        // carol in account A assumes a role in account B: the AssumeRole call is logged with
        // A's account, the session's later calls with B's; both name the new ASIA key
        let mut assume = named(Format::Cloudtrail, Some("111122223333"), "carol");
        assume.assumed = Some(Box::new(crate::event::Assumed {
            role: "arn:aws:iam::444455556666:role/BreakGlassAdmin".into(),
            session_name: Some("carol".into()),
            credential_id: Some("ASIAEXAMPLEXACCOUNT1".into()),
        }));
        let mut used = named(Format::Cloudtrail, Some("444455556666"), "carol");
        used.credential = Some(crate::event::Credential::new(
            "ASIAEXAMPLEXACCOUNT1",
            crate::event::CredentialKind::Session,
        ));
        let s = [Field::SessionKey];
        assert_eq!(key(&s, &assume, r), key(&s, &used, r));
        assert_eq!(
            display_key(&key(&s, &used, r).unwrap()),
            "cloudtrail, ASIAEXAMPLEXACCOUNT1"
        );
        let c = [Field::CredentialOrSession];
        assert_eq!(
            display_key(&key(&c, &used, r).unwrap()),
            "cloudtrail, ASIAEXAMPLEXACCOUNT1"
        );
        // the same key id seen in another format is another credential
        let mut ocsf = used.clone();
        ocsf.format = Format::Ocsf;
        assert_ne!(key(&c, &used, r), key(&c, &ocsf, r));
        // while the principal's name stays within its account
        let p = [Field::ActorPrincipal];
        assert_ne!(key(&p, &assume, r), key(&p, &used, r));
    }

    #[test]
    fn a_detector_resolved_session_replaces_the_stateless_one() {
        let e = named(Format::Okta, None, "alice");
        assert_eq!(Field::SessionKey.get(&e).as_deref(), Some("alice"));
        let r = Resolved {
            session: Some("alice@2026-03-02T03:12:00Z"),
        };
        assert_eq!(
            display_key(&key(&[Field::SessionKey], &e, r).unwrap()),
            "okta, alice@2026-03-02T03:12:00Z"
        );
    }
}

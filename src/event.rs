//! The normalised identity event: the one record every decoder produces and every detector reads.
//!
//! Decoders deserialise vendor records into borrowed (`&str` / `Cow`) structs straight from the
//! input buffer, then copy only the identity fields into an [`Event`]. Strings are
//! [`CompactString`]s: ids, IPs and action names of up to 24 bytes live inline, so building an
//! event usually allocates for nothing but long ARNs and user agents.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Inline-when-short string used for every event field.
pub type Str = CompactString;

/// Event time: milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The log format a record was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// AWS CloudTrail
    Cloudtrail,
    /// Kubernetes API server audit (`audit.k8s.io` Event)
    Kubernetes,
    /// GitHub enterprise / organisation audit log
    Github,
    /// Okta System Log
    Okta,
    /// HashiCorp Vault audit device
    Vault,
    /// Google Cloud Audit Logs (LogEntry with an AuditLog `protoPayload`)
    Gcp,
    /// Microsoft Entra ID sign-in logs (Graph or Azure Monitor envelope)
    Entra,
    /// OCSF Authentication (3002) and API Activity (6003)
    Ocsf,
    /// bypassd's own context records (approvals)
    Approval,
    /// an operator-defined JSON format from a mapping file, by its id
    #[serde(untagged)]
    Mapped(&'static str),
}

impl Format {
    /// Every built-in format, in the order `--format` lists them.
    pub const ALL: &'static [Format] = &[
        Format::Cloudtrail,
        Format::Kubernetes,
        Format::Github,
        Format::Okta,
        Format::Vault,
        Format::Gcp,
        Format::Entra,
        Format::Ocsf,
        Format::Approval,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Cloudtrail => "cloudtrail",
            Format::Kubernetes => "kubernetes",
            Format::Github => "github",
            Format::Okta => "okta",
            Format::Vault => "vault",
            Format::Gcp => "gcp",
            Format::Entra => "entra",
            Format::Ocsf => "ocsf",
            Format::Mapped(id) => id,
            Format::Approval => "approval",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == s)
    }
}

/// Snapshots name formats by their names; a mapped format's id is interned (the set of mapping
/// ids is small and fixed by the operator's mapping file).
impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Format::parse(&name).unwrap_or_else(|| Format::Mapped(intern(name))))
    }
}

fn intern(name: String) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.push(leaked);
    leaked
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a record came from, precise enough to find it again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// `line` is 1-based; `offset` is the byte offset of the record in the (decompressed) stream.
    File {
        path: Arc<str>,
        line: u64,
        offset: u64,
    },
    Kafka {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
    /// an inline detector test case: test name and event index
    Inline { test: Arc<str>, index: u64 },
}

impl Origin {
    /// For a record whose origin was not kept.
    pub fn unknown() -> Origin {
        Origin::Inline {
            test: Arc::from("unknown"),
            index: 0,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, .. } => write!(f, "{path}:{line}"),
            Origin::Kafka {
                topic,
                partition,
                offset,
            } => write!(f, "{topic}[{partition}]@{offset}"),
            Origin::Inline { test, index } => write!(f, "test {test:?} event {index}"),
        }
    }
}

/// An event's place in its input, the tie-break after event time in the total order every
/// output follows (see [`Event::order`]). It depends only on the input, never on arrival:
/// - replay: `input` is the input's index in the fixed replay order (see
///   [`crate::sources::replay::order_by_first_event`]), `offset` the record's byte offset in the
///   decompressed stream;
/// - the daemon: a file's records have `input` 0 and their byte offset (files of one source that
///   tie on time and offset are ordered by path); a Kafka record has its partition and offset;
/// - `index` numbers the records of one Kafka message or inline test that share an offset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Pos {
    pub input: u32,
    pub offset: u64,
    pub index: u32,
}

impl Pos {
    /// The position an origin gives by itself (input 0): the file offset, the Kafka partition and
    /// offset, the inline test's event index.
    pub fn of(origin: &Origin) -> Pos {
        match origin {
            Origin::File { offset, .. } => Pos {
                input: 0,
                offset: *offset,
                index: 0,
            },
            Origin::Kafka {
                partition, offset, ..
            } => Pos {
                input: (*partition).max(0) as u32,
                offset: (*offset).max(0) as u64,
                index: 0,
            },
            Origin::Inline { index, .. } => Pos {
                input: 0,
                offset: *index,
                index: 0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Human,
    Service,
    Root,
    Agent,
    #[default]
    Unknown,
}

impl ActorKind {
    pub fn name(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::Service => "service",
            ActorKind::Root => "root",
            ActorKind::Agent => "agent",
            ActorKind::Unknown => "unknown",
        }
    }

    /// Judge an identity by its name: AI agents and automation by the usual naming conventions,
    /// email-like names as people, anything else as `default`. Case-insensitive, one pass over
    /// the name, no allocation (it runs for every decoded event).
    pub fn guess(name: &str, default: ActorKind) -> ActorKind {
        // an email is a person unless its local part itself reads as automation
        // (`svc-deploy@corp.example`, `ci-bot@...`); a first name never makes it an agent
        if let Some((local, _)) = name.split_once('@') {
            return if NAME_TOKENS.any(local, SERVICE_TOKENS) {
                ActorKind::Service
            } else {
                ActorKind::Human
            };
        }
        let found = NAME_TOKENS.found(name);
        if found & AGENT_TOKENS != 0 {
            ActorKind::Agent
        } else if found & SERVICE_TOKENS != 0 {
            ActorKind::Service
        } else {
            default
        }
    }
}

/// Words that mark a name as an AI agent's (the first six) or automation's (the rest).
const TOKENS: &[&str] = &[
    "agent",
    "copilot",
    "claude",
    "gpt",
    "llm",
    "mcp-",
    "svc-",
    "svc_",
    "sa-",
    "ci-",
    "cd-",
    "bot-",
    "-bot",
    "[bot]",
    "-svc",
    "_svc",
    "service",
    "automation",
    "terraform",
    "jenkins",
    "github-actions",
    "gitlab-runner",
    "pipeline",
    "deployer",
    "-etl",
    "etl-",
];
const AGENT_TOKENS: u32 = 0b11_1111;
const SERVICE_TOKENS: u32 = !AGENT_TOKENS & ((1 << TOKENS.len()) - 1);
static NAME_TOKENS: Tokens = Tokens::new(TOKENS);

/// A fixed set of up to 32 lower-case tokens found as words (see [`has_token`]) in one pass: a
/// table from each byte to the tokens starting with it.
struct Tokens {
    tokens: &'static [&'static str],
    by_first: [u32; 256],
}

impl Tokens {
    const fn new(tokens: &'static [&'static str]) -> Tokens {
        assert!(tokens.len() <= 32);
        let mut by_first = [0u32; 256];
        let mut i = 0;
        while i < tokens.len() {
            let b = tokens[i].as_bytes()[0];
            by_first[b.to_ascii_lowercase() as usize] |= 1 << i;
            by_first[b.to_ascii_uppercase() as usize] |= 1 << i;
            i += 1;
        }
        Tokens { tokens, by_first }
    }

    /// The tokens found in `name`, as a bit set.
    fn found(&self, name: &str) -> u32 {
        let b = name.as_bytes();
        let mut found = 0;
        for i in 0..b.len() {
            let mut cand = self.by_first[b[i] as usize] & !found;
            while cand != 0 {
                let t = cand.trailing_zeros();
                cand &= cand - 1;
                if token_at(b, i, self.tokens[t as usize].as_bytes()) {
                    found |= 1 << t;
                }
            }
        }
        found
    }

    fn any(&self, name: &str, set: u32) -> bool {
        self.found(name) & set != 0
    }
}

/// `p` (lower-case) is at `b[i..]` in any case, as a word (see [`has_token`]).
fn token_at(b: &[u8], i: usize, p: &[u8]) -> bool {
    let end = i + p.len();
    if end > b.len() || !b[i..end].eq_ignore_ascii_case(p) {
        return false;
    }
    let open_start = !p[0].is_ascii_alphanumeric();
    let open_end = !p[p.len() - 1].is_ascii_alphanumeric();
    (open_start || i == 0 || !b[i - 1].is_ascii_alphabetic())
        && (open_end || end == b.len() || !b[end].is_ascii_alphabetic())
}

/// Where `needle` (lower-case ASCII) occurs in `hay`, ignoring ASCII case: candidates by its
/// first byte in either case (memchr), then a compare. No allocation, no searcher to build.
pub fn find_ignore_case<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    debug_assert!(
        !needle.is_empty(),
        "an empty needle is found everywhere: test for it first"
    );
    let first = needle.first().copied().unwrap_or(0);
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, hay).filter(move |&i| {
        hay.len() - i >= needle.len() && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

/// `pattern` (lower-case) occurs in `name`, in any case, as a word: not glued to letters before
/// it (unless it starts with a separator, like `-bot`) or after it (unless it ends with one, like
/// `svc-`), so `sa-` is not found in `vanessa-cho` nor `ci-` in `marci-lopez`.
#[cfg(test)]
fn has_token(name: &str, pattern: &str) -> bool {
    let b = name.as_bytes();
    find_ignore_case(b, pattern.as_bytes()).any(|i| token_at(b, i, pattern.as_bytes()))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// stable identifier: an ARN, a user id, `system:serviceaccount:ns:name`, ...
    pub id: Str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Str>,
    pub kind: ActorKind,
    /// the role (or issuing identity) the actor operates through, e.g. an assumed role's ARN
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Str>,
    /// cloud account / tenant / organisation
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Str>,
    /// the vendor's identity type as written in the log (`AssumedRole`, `IAMUser`, ...)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_type: Option<Str>,
    /// groups, policies or roles the request ran with (Kubernetes groups, Vault policies)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Str>,
    /// the identity that acted as this one: the Kubernetes user that impersonated it, the
    /// principal first in a GCP service-account delegation chain
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonator: Option<Str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    LongTermKey,
    Session,
    PersonalAccessToken,
    AppToken,
    ServiceAccountToken,
    ApiToken,
    Password,
    Cookie,
    Certificate,
    /// an OAuth access token issued to an app acting for a user
    OauthToken,
    /// a bearer token of an identity system (Vault token, generic API bearer)
    Token,
    SshKey,
    Unknown,
}

impl CredentialKind {
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::LongTermKey => "long_term_key",
            CredentialKind::Session => "session",
            CredentialKind::PersonalAccessToken => "personal_access_token",
            CredentialKind::AppToken => "app_token",
            CredentialKind::ServiceAccountToken => "service_account_token",
            CredentialKind::ApiToken => "api_token",
            CredentialKind::Password => "password",
            CredentialKind::Cookie => "cookie",
            CredentialKind::Certificate => "certificate",
            CredentialKind::OauthToken => "oauth_token",
            CredentialKind::Token => "token",
            CredentialKind::SshKey => "ssh_key",
            CredentialKind::Unknown => "unknown",
        }
    }

    /// Every kind, for mapping files and error messages.
    pub const ALL: &'static [CredentialKind] = &[
        CredentialKind::LongTermKey,
        CredentialKind::Session,
        CredentialKind::PersonalAccessToken,
        CredentialKind::AppToken,
        CredentialKind::ServiceAccountToken,
        CredentialKind::ApiToken,
        CredentialKind::Password,
        CredentialKind::Cookie,
        CredentialKind::Certificate,
        CredentialKind::OauthToken,
        CredentialKind::Token,
        CredentialKind::SshKey,
        CredentialKind::Unknown,
    ];

    pub fn parse(s: &str) -> Option<CredentialKind> {
        CredentialKind::ALL.iter().copied().find(|k| k.name() == s)
    }
}

/// The credential an event was authenticated with. `id` is an identifier (access key id, token
/// hash, accessor), never secret material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    pub id: Str,
    pub kind: CredentialKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<Millis>,
    /// `true` for standing credentials that live until someone revokes them (AWS `AKIA` keys,
    /// classic PATs, Okta API tokens, Vault tokens without TTL, GCP user-managed keys, legacy
    /// Kubernetes secret-based tokens, Entra app secrets); `false` for short-lived ones;
    /// `None` when the log does not say
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_lived: Option<bool>,
    /// what the credential is bound to, when the log says (a Kubernetes token's pod or node)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_to: Option<Str>,
}

impl Credential {
    /// A credential with only an id and a kind.
    pub fn new(id: impl Into<Str>, kind: CredentialKind) -> Credential {
        Credential {
            id: id.into(),
            kind,
            issued: None,
            expires: None,
            long_lived: None,
            bound_to: None,
        }
    }
}

/// Where the request came from. `raw` is always the value as logged; `ip` is set only when it
/// parses as an address (`lambda.amazonaws.com`, `AWS Internal` and `08.1.250.216` do not).
/// What only some vendors add about the address (ASN, geography, device) is boxed apart
/// ([`SourceVendor`], read through the accessors): most records carry none of it, and every
/// event the reorder buffer or a deadline queue holds pays for the fields it has inline. The
/// serialised form is flat, as before.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "SourceRepr<Str, Ua>")]
pub struct Source {
    pub ip: Option<IpAddr>,
    pub raw: Option<Str>,
    pub user_agent: Option<Ua>,
    /// the source network (`203.0.113.0/24`, `2001:db8::/64`, or a trusted network's name),
    /// derived by the decoder from `ip`
    pub network: Option<Str>,
    /// the address is inside one of the inventory's trusted networks (set with `network`)
    pub trusted: Option<bool>,
    /// `None` when the vendor said nothing of the kind (see [`Source::set_vendor`])
    vendor: Option<Box<SourceVendor>>,
}

/// What a vendor says about a source address besides the address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceVendor {
    /// autonomous system number, when the vendor enriches it (Okta, Entra)
    pub asn: Option<u32>,
    /// autonomous system / ISP name
    pub as_org: Option<Str>,
    /// the vendor flagged the address as an anonymising proxy
    pub proxy: Option<bool>,
    /// where the vendor places the address (`country/region/city`, as much as it says)
    pub geo: Option<Str>,
    /// a device identifier or fingerprint (Okta device fingerprint, Entra device id)
    pub device: Option<Str>,
}

/// [`Source`] as it is serialised: every field flat, in this order.
#[derive(Serialize, Deserialize)]
struct SourceRepr<S, U = S> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<U>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_org: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted: Option<bool>,
}

impl From<SourceRepr<Str, Ua>> for Source {
    fn from(r: SourceRepr<Str, Ua>) -> Source {
        let mut s = Source {
            ip: r.ip,
            raw: r.raw,
            user_agent: r.user_agent,
            network: r.network,
            trusted: r.trusted,
            vendor: None,
        };
        s.set_vendor(SourceVendor {
            asn: r.asn,
            as_org: r.as_org,
            proxy: r.proxy,
            geo: r.geo,
            device: r.device,
        });
        s
    }
}

impl Serialize for Source {
    /// Flat, borrowed (see [`SourceRepr`]).
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let v = self.vendor.as_deref();
        SourceRepr::<&Str, &Ua> {
            ip: self.ip,
            raw: self.raw.as_ref(),
            user_agent: self.user_agent.as_ref(),
            network: self.network.as_ref(),
            asn: v.and_then(|v| v.asn),
            as_org: v.and_then(|v| v.as_org.as_ref()),
            proxy: v.and_then(|v| v.proxy),
            geo: v.and_then(|v| v.geo.as_ref()),
            device: v.and_then(|v| v.device.as_ref()),
            trusted: self.trusted,
        }
        .serialize(ser)
    }
}

impl Source {
    /// Set what the vendor says about the address (nothing is stored when it says nothing).
    pub fn set_vendor(&mut self, v: SourceVendor) {
        self.vendor = (v != SourceVendor::default()).then(|| Box::new(v));
    }

    pub fn asn(&self) -> Option<u32> {
        self.vendor.as_ref().and_then(|v| v.asn)
    }

    pub fn as_org(&self) -> Option<&str> {
        self.vendor.as_ref().and_then(|v| v.as_org.as_deref())
    }

    pub fn proxy(&self) -> Option<bool> {
        self.vendor.as_ref().and_then(|v| v.proxy)
    }

    pub fn geo(&self) -> Option<&str> {
        self.vendor.as_ref().and_then(|v| v.geo.as_deref())
    }

    pub fn device(&self) -> Option<&str> {
        self.vendor.as_ref().and_then(|v| v.device.as_deref())
    }

    /// Build from a logged source value, keeping it raw and parsing it when it is an address
    /// (also with a port glued on: `10.0.0.1:52344`, `[2001:db8::1]:443`).
    pub fn from_raw(raw: Option<&str>, user_agent: Option<&str>) -> Source {
        Source {
            ip: raw.and_then(parse_addr),
            raw: raw.map(Str::from),
            user_agent: user_agent.map(Ua::intern),
            ..Source::default()
        }
    }
}

/// A user agent. One client sends the same long string (100-250 bytes) with every call, so
/// each decode thread keeps the agents it saw lately and events share them: neither an event held
/// for ordering nor the evidence kept of it carries its own copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ua(Arc<str>);

/// Distinct agents a decode thread remembers; past this it starts afresh (a stream of ever-new
/// agents costs one allocation each, as without sharing).
const AGENTS_KEPT: usize = 4096;

thread_local! {
    static AGENTS: std::cell::RefCell<hashbrown::HashSet<Arc<str>, foldhash::fast::RandomState>> =
        std::cell::RefCell::new(hashbrown::HashSet::default());
}

impl Ua {
    /// The shared copy of `s` (made when this thread has not seen it lately).
    pub fn intern(s: &str) -> Ua {
        AGENTS.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(known) = a.get(s) {
                return Ua(known.clone());
            }
            if a.len() >= AGENTS_KEPT {
                a.clear();
            }
            let new: Arc<str> = Arc::from(s);
            a.insert(new.clone());
            Ua(new)
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Ua {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Ua {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Ua {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ua, D::Error> {
        Ok(Ua(Arc::<str>::deserialize(d)?))
    }
}

/// An address as vendors log it: bare, with a port, or bracketed IPv6 with a port.
pub fn parse_addr(raw: &str) -> Option<IpAddr> {
    let t = raw.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    // `[2001:db8::1]` without a port
    t.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    #[default]
    Unknown,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: Str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Str>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// vendor error code when the action failed
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Str>,
}

/// The role or identity taken on by an assume-role style action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assumed {
    pub role: Str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<Str>,
    /// id of the credential the assumption issued (e.g. the new `ASIA` key id), linking the
    /// session's later events to this one
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<Str>,
}

/// One normalised identity event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub time: Millis,
    pub format: Format,
    pub origin: Origin,
    /// the record's place in its input: with `time`, the total order (see [`Event::order`])
    #[serde(default)]
    pub pos: Pos,
    /// the vendor's event id, when it has one
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Str>,
    pub actor: Actor,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
    pub source: Source,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed: Option<Box<Assumed>>,
    /// ticket / change / approval ids carried by the record itself
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<Str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Str>,
    /// identifies one request logged more than once (a Kubernetes request's stages, a Vault
    /// request and its response, the same record in two exports): the engine keeps the first
    #[serde(skip)]
    pub dedup: Option<u64>,
    /// a provisional record of a request that is logged again once complete (a Kubernetes
    /// `RequestReceived` stage, a Vault request entry): the decoder counts it as skipped and the
    /// complete record is the event
    #[serde(skip)]
    pub partial: bool,
    /// what the inventory says about this event (see [`crate::enrich`]); kept in state
    /// snapshots so a restored event is judged as it was when decoded
    #[serde(default)]
    pub context: Context,
    /// what detectors keep of this event, made by the first that keeps it
    #[serde(skip)]
    kept: KeptOnce,
}

/// The evidence of an event, made once however many detectors keep it. A copy of the event
/// starts without it (the copy may be changed), and it takes no part in comparisons. An event is
/// not changed once a detector has seen it (decoding and enrichment come first), so the evidence
/// never goes stale.
#[derive(Default)]
struct KeptOnce(std::sync::OnceLock<crate::evidence::Ev>);

impl Clone for KeptOnce {
    fn clone(&self) -> KeptOnce {
        KeptOnce::default()
    }
}

impl PartialEq for KeptOnce {
    fn eq(&self, _: &KeptOnce) -> bool {
        true
    }
}

impl fmt::Debug for KeptOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// Why an identity counts as break-glass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakGlassWhy {
    /// listed under `break_glass.principals` in the inventory
    Inventory,
    /// AWS root, or a Vault token holding the `root` policy
    Root,
    /// a Kubernetes user in the `system:masters` group
    SystemMasters,
    /// named like `break-glass`, `breakglass` or `emergency`
    Named,
}

impl BreakGlassWhy {
    pub fn name(self) -> &'static str {
        match self {
            BreakGlassWhy::Inventory => "inventory",
            BreakGlassWhy::Root => "root",
            BreakGlassWhy::SystemMasters => "system_masters",
            BreakGlassWhy::Named => "named",
        }
    }
}

/// Problems of a declared exception at an event's time (bit set); empty means healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct ExceptionHealth(pub u8);

impl ExceptionHealth {
    pub const EXPIRED: u8 = 1;
    pub const OWNERLESS: u8 = 2;
    pub const REVIEW_OVERDUE: u8 = 4;
    pub const UNREVIEWED: u8 = 8;
    pub const NO_EXPIRY: u8 = 16;
    const NAMES: [(u8, &'static str); 5] = [
        (Self::EXPIRED, "expired"),
        (Self::OWNERLESS, "ownerless"),
        (Self::REVIEW_OVERDUE, "review_overdue"),
        (Self::UNREVIEWED, "unreviewed"),
        (Self::NO_EXPIRY, "no_expiry"),
    ];

    pub fn is_healthy(self) -> bool {
        self.0 == 0
    }

    /// `["healthy"]`, or every problem by name.
    pub fn names(self) -> Vec<&'static str> {
        if self.is_healthy() {
            return vec!["healthy"];
        }
        Self::NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// Every status name a detector may match on.
    pub const ALL: &'static [&'static str] = &[
        "healthy",
        "expired",
        "ownerless",
        "review_overdue",
        "unreviewed",
        "no_expiry",
    ];
}

/// The inventory's view of an event, filled in by [`crate::enrich`] when it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Context {
    /// id of the declared exception covering this event's credential or principal (a healthy
    /// one when several do)
    pub exception: Option<Str>,
    /// that exception's problems at the event's time
    pub exception_health: ExceptionHealth,
    /// the identity is a break-glass one, and why
    pub break_glass: Option<BreakGlassWhy>,
}

impl Event {
    /// The total order of events, used wherever order shows (the reorder buffer, evidence lists,
    /// the events kept for a value): event time, then the position in the input, then the origin
    /// (which only decides between files of one daemon source that tie on both). It depends only
    /// on the input, never on which thread decoded a record first.
    pub fn order(&self, other: &Event) -> std::cmp::Ordering {
        self.order_key().cmp(&other.order_key())
    }

    /// Who is behind the event, as people name them: the actor's name (an assumed role's session
    /// name, a user name, an email), else its id.
    pub fn principal(&self) -> &str {
        self.actor.name.as_deref().unwrap_or(&self.actor.id)
    }

    /// Names an approval or an inventory entry may use for the actor: id (ARN, email), name
    /// (user or role session name), role, and for an assume-role call the role taken on and the
    /// session name asked for.
    pub fn principal_names(&self) -> impl Iterator<Item = &str> {
        let assumed = self.assumed.as_ref();
        std::iter::once(self.actor.id.as_str())
            .chain(self.actor.name.as_deref())
            .chain(self.actor.role.as_deref())
            .chain(assumed.map(|a| a.role.as_str()))
            .chain(assumed.and_then(|a| a.session_name.as_deref()))
    }

    /// An empty event at `time`, for decoders to fill in.
    pub fn new(time: Millis, format: Format, origin: Origin) -> Event {
        Event {
            time,
            format,
            pos: Pos::of(&origin),
            origin,
            id: None,
            actor: Actor::default(),
            credential: None,
            session: None,
            mfa: None,
            source: Source::default(),
            action: Action::default(),
            assumed: None,
            tickets: Vec::new(),
            region: None,
            dedup: None,
            partial: false,
            context: Context::default(),
            kept: KeptOnce::default(),
        }
    }

    /// What a detector keeps of this event as evidence (shared by all that keep it).
    pub fn evidence(&self) -> crate::evidence::Ev {
        self.kept
            .0
            .get_or_init(|| Arc::new(crate::evidence::Evidence::of(self)))
            .clone()
    }

    /// The total order's key (see [`Event::order`]), comparable with evidence's.
    pub fn order_key(&self) -> (Millis, Pos, &Origin) {
        (self.time, self.pos, &self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_one_client_share_its_user_agent_and_ever_new_agents_stay_correct() {
        let agent = "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.5.0 lang/python#3.11.7";
        let a = Source::from_raw(Some("10.0.0.1"), Some(agent));
        // the same text in another buffer, as the next record's would be
        let copy = String::from(agent);
        let b = Source::from_raw(Some("10.0.0.2"), Some(copy.as_str()));
        let (ua, ub) = (a.user_agent.unwrap(), b.user_agent.unwrap());
        assert_eq!(ua.as_str(), agent);
        assert!(Arc::ptr_eq(&ua.0, &ub.0), "one copy for both events");
        // past the table's size it starts afresh; every agent still reads back as given
        for n in 0..(AGENTS_KEPT + 10) {
            let s = format!("client/{n}");
            assert_eq!(Ua::intern(&s).as_str(), s);
        }
        assert_eq!(Ua::intern(agent).as_str(), agent);
        let json = serde_json::to_string(&ua).unwrap();
        assert_eq!(serde_json::from_str::<Ua>(&json).unwrap(), ua);
    }

    #[test]
    fn a_source_serialises_flat_and_stores_no_vendor_part_when_the_vendor_said_nothing() {
        let mut s = Source::from_raw(Some("203.0.113.9"), Some("okta-ua"));
        s.set_vendor(SourceVendor::default());
        assert!(s.vendor.is_none());
        let plain = serde_json::to_string(&s).unwrap();
        assert_eq!(
            plain,
            r#"{"ip":"203.0.113.9","raw":"203.0.113.9","user_agent":"okta-ua"}"#
        );
        assert_eq!(serde_json::from_str::<Source>(&plain).unwrap(), s);

        s.set_vendor(SourceVendor {
            asn: Some(64496),
            geo: Some("NL/Utrecht".into()),
            device: Some("dev-1".into()),
            ..SourceVendor::default()
        });
        s.trusted = Some(false);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"ip":"203.0.113.9","raw":"203.0.113.9","user_agent":"okta-ua","asn":64496,"geo":"NL/Utrecht","device":"dev-1","trusted":false}"#
        );
        let back: Source = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            (back.asn(), back.geo(), back.device()),
            (Some(64496), Some("NL/Utrecht"), Some("dev-1"))
        );
        assert_eq!((back.as_org(), back.proxy()), (None, None));
    }

    #[test]
    fn source_keeps_raw_values_that_are_not_addresses() {
        for raw in ["lambda.amazonaws.com", "AWS Internal", "08.1.250.216", ""] {
            let s = Source::from_raw(Some(raw), None);
            assert_eq!(s.ip, None, "{raw}");
            assert_eq!(s.raw.as_deref(), Some(raw));
        }
        let s = Source::from_raw(Some("2001:db8::1"), Some("aws-cli/2"));
        assert_eq!(s.ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(s.user_agent.as_deref(), Some("aws-cli/2"));
    }

    #[test]
    fn addresses_with_ports() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(parse_addr("10.0.0.1:52344"), Some(v4));
        assert_eq!(parse_addr(" 10.0.0.1 "), Some(v4));
        assert_eq!(parse_addr("[2001:db8::1]:443"), Some(v6));
        assert_eq!(parse_addr("[2001:db8::1]"), Some(v6));
        assert_eq!(parse_addr("gce-internal-ip"), None);
        assert_eq!(parse_addr("10.0.0.1:99999"), None);
    }

    #[test]
    fn names_are_judged_by_whole_words() {
        use ActorKind::*;
        for (name, want) in [
            ("vanessa-cho", Unknown),
            ("marci-lopez", Unknown),
            ("lisa-ng_corp", Unknown),
            ("claude.martin@corp.example", Human),
            ("svc-deploy@corp.example", Service),
            ("svc-legacy-etl", Service),
            ("deploy-bot", Service),
            ("dependabot[bot]", Service),
            ("payments-deployer", Service),
            ("terraform2", Service),
            ("release-agent", Agent),
            ("claude-code", Agent),
            ("alice@corp.example", Human),
        ] {
            assert_eq!(ActorKind::guess(name, Unknown), want, "{name}");
        }
    }

    #[test]
    fn the_one_pass_token_table_finds_what_a_search_per_token_finds() {
        let names = [
            "SVC-Deploy",
            "deploy-BOT",
            "dependabot[bot]",
            "marci-lopez",
            "vanessa-cho",
            "Claude-Code",
            "ci-ci-",
            "x_svc_etl-",
            "terraform-cloud-agent",
            "",
            "a",
        ];
        // the reference is the original search: lower-case, then every occurrence by
        // `match_indices`, with the word boundaries checked on the lower-cased bytes
        let reference = |name: &str, pattern: &str| {
            let n = name.to_ascii_lowercase();
            let (b, p) = (n.as_bytes(), pattern.as_bytes());
            let open_start = !p[0].is_ascii_alphanumeric();
            let open_end = !p[p.len() - 1].is_ascii_alphanumeric();
            n.match_indices(pattern).any(|(i, _)| {
                let end = i + p.len();
                (open_start || i == 0 || !b[i - 1].is_ascii_alphabetic())
                    && (open_end || end == b.len() || !b[end].is_ascii_alphabetic())
            })
        };
        let names = names.iter().copied().chain([
            "build-bot",
            "ci-",
            "-svc",
            "café-svc",
            "svc-é",
            "émile-agent",
            "gptx",
            "my_llm",
            "[BOT]",
            "Jenkins",
        ]);
        for n in names {
            let slow = TOKENS
                .iter()
                .enumerate()
                .filter(|(_, t)| reference(n, t))
                .fold(0u32, |m, (i, _)| m | 1 << i);
            assert_eq!(NAME_TOKENS.found(n), slow, "{n}");
            let via_find = TOKENS
                .iter()
                .enumerate()
                .filter(|(_, t)| has_token(n, t))
                .fold(0u32, |m, (i, _)| m | 1 << i);
            assert_eq!(via_find, slow, "{n}");
        }
        assert_eq!(
            ActorKind::guess("SVC-Deploy", ActorKind::Unknown),
            ActorKind::Service
        );
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name()), Some(*f));
        }
        assert_eq!(Format::parse("nope"), None);
    }
}

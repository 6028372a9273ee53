//! A deterministic generator of one realistic, *benign* day (2026-03-10, UTC) of identity audit
//! logs at corp.example, in every format bypassd decodes: CloudTrail, Kubernetes audit, GitHub
//! audit log, Okta System Log, Vault audit, GCP audit log, Entra sign-ins and OCSF.
//!
//! The day has no bypass in it, but it is full of what a naive detector would flag: autoscaled
//! pods and a CI runner pool using one identity from many addresses (all inside one trusted
//! network), AWS services calling on a principal's behalf (`cloudformation.amazonaws.com`,
//! `AWS Internal`), the Kubernetes control plane (`system:apiserver` in `system:masters` on
//! loopback, controllers, kubelets), people roaming between the office, home and the VPN (never
//! more than two networks for one credential or session within ten minutes), long-lived keys and
//! tokens (each used from one network, touching few resources), the declared Terraform CI key
//! exception (many buckets), and one approved break-glass session (carol, 36 minutes, reads and
//! a reboot only). Every vendor-unique id is unique except where the vendor repeats it
//! (Kubernetes stages of one request, Vault request/response pairs).
//!
//! [`generate`] writes one JSON-lines file per format plus `approvals.jsonl`; [`INVENTORY`] is the
//! organisation's `--inventory` file (write it outside the log directory).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// randomness and hashing

#[path = "../rng.rs"]
mod rng;
pub use rng::Rng;

/// splitmix64's finaliser: a bijection on u64, so distinct inputs give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn h2(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b ^ 0x9e37_79b9_7f4a_7c15).rotate_left(23))
}

fn h3(a: u64, b: u64, c: u64) -> u64 {
    h2(h2(a, b), c)
}

fn hs(s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

// ---------------------------------------------------------------------------------------------
// time: milliseconds since 2026-03-10T00:00:00Z

/// 2026-03-10T00:00:00Z in Unix seconds.
pub const DAY_START: i64 = 1_773_100_800;
const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-03-10T14:05:03` for `t` ms after the day start (any sign).
fn date_time(out: &mut String, t: i64) {
    let abs_ms = DAY_START * 1000 + t;
    let secs = abs_ms.div_euclid(1000);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

fn frac_ms(t: i64) -> i64 {
    t.rem_euclid(1000)
}

/// `…T14:05:03Z`
fn ts_s(out: &mut String, t: i64) {
    date_time(out, t);
    out.push('Z');
}

/// `…T14:05:03.123Z`
fn ts_ms(out: &mut String, t: i64) {
    date_time(out, t);
    let _ = write!(out, ".{:03}Z", frac_ms(t));
}

/// `…T14:05:03.123456Z` (`sub` adds microseconds below the millisecond)
fn ts_us(out: &mut String, t: i64, sub: u64) {
    date_time(out, t);
    let _ = write!(out, ".{:03}{:03}Z", frac_ms(t), sub % 1000);
}

/// `…T14:05:03.123456789Z`
fn ts_ns(out: &mut String, t: i64, sub: u64) {
    date_time(out, t);
    let _ = write!(out, ".{:03}{:06}Z", frac_ms(t), sub % 1_000_000);
}

/// Entra's seven fraction digits, with `Z` or `+00:00`
fn ts_entra(out: &mut String, t: i64, sub: u64, offset: bool) {
    date_time(out, t);
    let _ = write!(out, ".{:03}{:04}", frac_ms(t), sub % 10_000);
    out.push_str(if offset { "+00:00" } else { "Z" });
}

fn epoch_ms(t: i64) -> i64 {
    DAY_START * 1000 + t
}

// ---------------------------------------------------------------------------------------------
// identifiers

const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `v` as a UUID whose first, second and last groups carry all 64 bits of `a` (unique when `a`
/// is), with version nibble `ver`.
fn uuid(out: &mut String, a: u64, b: u64, ver: u8) {
    let _ = write!(
        out,
        "{:08x}-{:04x}-{ver:x}{:03x}-{:04x}-{:04x}{:08x}",
        a >> 32,
        (a >> 16) & 0xffff,
        (b >> 52) & 0xfff,
        0x8000 | ((b >> 36) & 0x3fff),
        a & 0xffff,
        b & 0xffff_ffff,
    );
}

/// A UUID (v4 shape) named by `a` and `b`, for ids that need not be unique per record.
fn uuid_s(a: u64, b: u64) -> String {
    let mut s = String::with_capacity(36);
    uuid(&mut s, mix(a ^ 0x0055_1d00), mix(b), 4);
    s
}

/// `n` characters of `alphabet`: first every bit of `x` (so distinct `x` give distinct
/// strings), then as many as needed from a stream seeded by `y`.
fn digits(out: &mut String, alphabet: &[u8], x: u64, y: u64, n: usize) {
    let base = alphabet.len() as u64;
    let per = (64.0 / (base as f64).log2()).ceil() as usize;
    let (mut v, mut left, mut seed) = (x, per, y);
    for _ in 0..n {
        if left == 0 {
            seed = mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15));
            v = seed;
            left = per;
        }
        out.push(alphabet[(v % base) as usize] as char);
        v /= base;
        left -= 1;
    }
}

/// An AWS access key id: `AKIA`/`ASIA` and 16 base-32 characters.
fn aws_key(prefix: &str, x: u64) -> String {
    let mut s = String::with_capacity(20);
    s.push_str(prefix);
    digits(&mut s, B32, x, mix(x ^ 0x51), 16);
    s
}

/// base64 of 32 bytes (44 characters with the padding), e.g. GitHub's `hashed_token`.
fn sha256_b64(x: u64) -> String {
    let mut bytes = [0u8; 33];
    for (i, chunk) in bytes[..32].chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&h2(x, i as u64).to_le_bytes());
    }
    let mut s = String::with_capacity(44);
    for c in bytes.chunks(3).take(11) {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        for k in 0..4 {
            s.push(B64[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    s.pop();
    s.push('=');
    s
}

/// 64 hex characters: an HMAC-SHA256 as Vault's audit device writes it.
fn hmac(out: &mut String, x: u64) {
    out.push_str("hmac-sha256:");
    for i in 0..4 {
        let _ = write!(out, "{:016x}", h2(x, i));
    }
}

fn hmac_s(x: u64) -> String {
    let mut s = String::with_capacity(76);
    hmac(&mut s, x);
    s
}

/// A unique per-record id from a per-file counter, in the vendor's shape.
#[derive(Clone, Copy)]
enum IdShape {
    Uuid4,
    /// Okta's time-based UUIDs
    Uuid1,
    /// GitHub `_document_id`: 22 base64url characters
    Doc,
    /// GCP `insertId`: `-` and 13 base-36 characters, or 16
    Insert,
}

fn vendor_id(out: &mut String, shape: IdShape, salt: u64, n: u64) {
    let a = mix(n ^ salt);
    let b = h2(salt, n);
    match shape {
        IdShape::Uuid4 => uuid(out, a, b, 4),
        IdShape::Uuid1 => uuid(out, a, b, 1),
        // all 64 bits of `a` in the first 11 characters
        IdShape::Doc => digits(out, B64URL, a, b, 22),
        IdShape::Insert => {
            if b & 1 == 0 {
                out.push('-');
            }
            let mut x = a;
            for _ in 0..13 {
                out.push(B36[(x % 36) as usize] as char);
                x /= 36;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// networks (as declared in the inventory)
//
// office      203.0.113.0/26, 2001:db8:10::/48   office egress (NAT pool)
// vpn         203.0.113.128/25                   VPN concentrator pool
// ci-runners  198.51.100.0/24, 2001:db8:c1::/48  self-hosted CI runner pool
// cluster     10.0.0.0/16                        EKS VPC: nodes, pods, Lambda ENIs
// datacenter  192.0.2.0/24, 10.20.0.0/16         on-premises: public egress and internal
//
// People's homes are /24s of consumer ISP blocks (each their own) or IPv6 /64s of
// 2001:db8:f000::/36.

/// The organisation's inventory (bypassd `--inventory` schema). Write it outside the log
/// directory; the Terraform CI key below is the one the generator uses.
pub const INVENTORY: &str = r#"# corp.example: what the identity team knows about its own estate.
exceptions:
  - id: terraform-ci-static-key
    description: Terraform plans and applies on the self-hosted CI runners authenticate to AWS with a static IAM key until the runner pool moves to OIDC federation (PLAT-1142)
    credentials: ["AKIAQ4TFCIRUNNERK7PZ"]
    principals: ["svc-terraform"]
    owner: platform-eng
    expires: 2026-09-30
    last_review: 2026-02-01
    review_every: 90d
    ticket: RISK-201
break_glass:
  principals: ["arn:aws:iam::111122223333:role/BreakGlassAdmin"]
  max_session: 1h
trusted_networks:
  - {name: office, cidrs: ["203.0.113.0/26", "2001:db8:10::/48"]}
  - {name: vpn, cidrs: ["203.0.113.128/25"]}
  - {name: ci-runners, cidrs: ["198.51.100.0/24", "2001:db8:c1::/48"]}
  - {name: cluster, cidrs: ["10.0.0.0/16"]}
  - {name: datacenter, cidrs: ["192.0.2.0/24", "10.20.0.0/16"]}
"#;

/// The declared Terraform CI key (see [`INVENTORY`]).
pub const TERRAFORM_KEY: &str = "AKIAQ4TFCIRUNNERK7PZ";

/// The approved break-glass session's approval id.
pub const BREAK_GLASS_APPROVAL: &str = "INC-2051";

pub const ACCOUNT: &str = "111122223333";
const DATA_ACCOUNT: &str = "444455556666";
const TENANT: &str = "8c2f4e1a-5b7d-4c3e-9a1f-2d6b8e0c4a71";
const GH_ORG: &str = "corp-example";
const GH_BUSINESS: &str = "corp-enterprise";

/// A random address of the CI runner pool (IPv4 mostly, some IPv6 runners).
fn ci_ip(rng: &mut Rng) -> String {
    if rng.chance(0.15) {
        format!("2001:db8:c1:{:x}::{:x}", rng.below(16), 2 + rng.below(200))
    } else {
        format!("198.51.100.{}", 2 + rng.below(250))
    }
}

/// A stable address of one runner (by job or runner number), so a job keeps its address.
fn ci_ip_of(x: u64) -> String {
    if x.is_multiple_of(7) {
        format!("2001:db8:c1:{:x}::{:x}", x % 16, 2 + x % 200)
    } else {
        format!("198.51.100.{}", 2 + x % 250)
    }
}

/// A pod or node address inside the cluster's VPC.
fn cluster_ip(x: u64) -> String {
    format!("10.0.{}.{}", 1 + x % 60, 2 + (x >> 8) % 250)
}

// ---------------------------------------------------------------------------------------------
// output

/// What was written for one format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatCount {
    /// bypassd's name for the format (`cloudtrail`, `kubernetes`, ...), as in its summary
    pub format: &'static str,
    /// the file, relative to the log directory
    pub file: &'static str,
    /// lines written
    pub records: u64,
    /// records bypassd decodes into events: all but the provisional ones
    pub events: u64,
    /// provisional records bypassd skips in favour of the complete one (Kubernetes
    /// `RequestReceived` stages, Vault request entries)
    pub provisional: u64,
    /// events repeating the vendor id of an earlier one (a long request's `ResponseStarted` and
    /// `ResponseComplete` stages): the engine keeps the first
    pub duplicates: u64,
}

/// Per-format record counts of a generated day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// in the order of [`FORMATS`]
    pub formats: Vec<FormatCount>,
    /// approval records in `approvals.jsonl`
    pub approvals: u64,
}

impl Summary {
    /// Lines written for every format (approvals not included).
    pub fn records(&self) -> u64 {
        self.formats.iter().map(|f| f.records).sum()
    }
}

/// bypassd's format name, the file written, and the format's share of the day's records.
pub const FORMATS: &[(&str, &str, f64)] = &[
    ("cloudtrail", "cloudtrail.jsonl", 0.35),
    ("kubernetes", "kube-audit.log", 0.25),
    ("github", "github.jsonl", 0.10),
    ("okta", "okta.jsonl", 0.08),
    ("vault", "vault.jsonl", 0.08),
    ("gcp", "gcp.jsonl", 0.06),
    ("entra", "entra.jsonl", 0.05),
    ("ocsf", "ocsf.jsonl", 0.03),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rec {
    Event,
    /// skipped by the decoder (Kubernetes `RequestReceived`, Vault request entry)
    Provisional,
    /// a second event with an earlier record's vendor id
    Duplicate,
}

/// One output file: records are pushed with their event time and written in time order (a
/// record may be pushed ahead of time: a job's later steps, a scripted session).
struct Out {
    w: BufWriter<File>,
    heap: BinaryHeap<Reverse<(i64, u64, String)>>,
    seq: u64,
    ids: u64,
    salt: u64,
    count: FormatCount,
}

impl Out {
    fn create(dir: &Path, index: usize, salt: u64) -> io::Result<Out> {
        let (format, file, _) = FORMATS[index];
        Ok(Out {
            w: BufWriter::with_capacity(1 << 20, File::create(dir.join(file))?),
            heap: BinaryHeap::new(),
            seq: 0,
            ids: 0,
            salt: mix(salt),
            count: FormatCount {
                format,
                file,
                ..FormatCount::default()
            },
        })
    }

    fn push(&mut self, t: i64, rec: Rec, line: String) {
        debug_assert!((0..DAY).contains(&t), "record outside the day: {t}");
        self.count.records += 1;
        match rec {
            Rec::Event => self.count.events += 1,
            Rec::Provisional => self.count.provisional += 1,
            Rec::Duplicate => {
                self.count.events += 1;
                self.count.duplicates += 1;
            }
        }
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, line)));
    }

    /// Write every record up to time `t`.
    fn until(&mut self, t: i64) -> io::Result<()> {
        while self.heap.peek().is_some_and(|Reverse((at, _, _))| *at <= t) {
            let Reverse((_, _, line)) = self.heap.pop().expect("peeked");
            self.w.write_all(line.as_bytes())?;
            self.w.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<FormatCount> {
        self.until(i64::MAX)?;
        self.w.flush()?;
        Ok(self.count)
    }

    /// Append a fresh vendor id (unique in this file).
    fn id(&mut self, s: &mut String, shape: IdShape) {
        self.ids += 1;
        vendor_id(s, shape, self.salt, self.ids);
    }
}

/// Hourly weights of a day, sampled by quantile so that successive draws are in time order.
struct Curve {
    w: [f64; 24],
    cum: [f64; 25],
}

impl Curve {
    fn new(w: [f64; 24]) -> Curve {
        let mut cum = [0.0; 25];
        for h in 0..24 {
            cum[h + 1] = cum[h] + w[h];
        }
        Curve { w, cum }
    }

    /// The time (ms into the day) at quantile `q` in [0, 1): non-decreasing in `q`.
    fn at(&self, q: f64) -> i64 {
        let x = q.clamp(0.0, 1.0) * self.cum[24];
        let h = (0..24).find(|&h| x < self.cum[h + 1]).unwrap_or(23);
        let frac = ((x - self.cum[h]) / self.w[h].max(1e-12)).clamp(0.0, 1.0);
        ((h as f64 + frac) * HOUR as f64) as i64
    }
}

/// The main stream of one file: `unit` is called at increasing times until `target` records
/// were pushed; the time axis advances with the records pushed, so a file gets close to `target`
/// records whatever each unit writes, spread over the day by `curve`.
fn day<F>(out: &mut Out, rng: &mut Rng, target: u64, curve: &Curve, mut unit: F) -> io::Result<()>
where
    F: FnMut(&mut Out, &mut Rng, i64),
{
    let base = out.count.records;
    let n = target.saturating_sub(base).max(1) as f64;
    // keep clear of midnight so a unit's later records stay inside the day
    let end = DAY - 3 * MIN;
    while out.count.records < target {
        let q = ((out.count.records - base) as f64 + rng.unit()) / n;
        let t = (curve.at(q) * end) / DAY;
        out.until(t)?;
        unit(out, rng, t);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// people

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Net {
    Home,
    Office,
    Vpn,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Office,
    Remote,
    Vpn,
}

/// A stretch of activity from one place. `id` names it (sessions and short-lived credentials
/// are per segment, so each one is used from one network).
#[derive(Clone, Copy)]
struct Seg {
    start: i64,
    end: i64,
    net: Net,
    id: u64,
    /// a person's browser sessions (Okta, Entra, Google) last their local day
    day: u64,
}

struct Human {
    email: String,
    display: String,
    first: String,
    /// GitHub Enterprise Managed User login
    gh: String,
    team: usize,
    eng: bool,
    segs: Vec<Seg>,
    /// where the person is most of the working day: their long-lived credentials (SSH key, gh
    /// OAuth token, fine-grained PAT) are used only from here
    primary: Net,
    home: String,
    office_ip: String,
    vpn_base: u64,
    uid: u64,
    /// 0 macOS, 1 Windows, 2 Linux
    os: usize,
    geo: &'static Place,
    fg_pat: bool,
}

struct Place {
    cc: &'static str,
    country: &'static str,
    region: &'static str,
    city: &'static str,
}

const EU_PLACES: &[Place] = &[
    Place {
        cc: "NL",
        country: "Netherlands",
        region: "North Holland",
        city: "Amsterdam",
    },
    Place {
        cc: "NL",
        country: "Netherlands",
        region: "Utrecht",
        city: "Utrecht",
    },
    Place {
        cc: "DE",
        country: "Germany",
        region: "Berlin",
        city: "Berlin",
    },
    Place {
        cc: "FR",
        country: "France",
        region: "Ile-de-France",
        city: "Paris",
    },
    Place {
        cc: "ES",
        country: "Spain",
        region: "Madrid",
        city: "Madrid",
    },
    Place {
        cc: "PL",
        country: "Poland",
        region: "Mazovia",
        city: "Warsaw",
    },
    Place {
        cc: "SE",
        country: "Sweden",
        region: "Stockholm County",
        city: "Stockholm",
    },
    Place {
        cc: "BE",
        country: "Belgium",
        region: "Brussels Capital",
        city: "Brussels",
    },
];

const US_PLACES: &[Place] = &[
    Place {
        cc: "US",
        country: "United States",
        region: "New York",
        city: "New York",
    },
    Place {
        cc: "US",
        country: "United States",
        region: "Massachusetts",
        city: "Boston",
    },
    Place {
        cc: "US",
        country: "United States",
        region: "Georgia",
        city: "Atlanta",
    },
    Place {
        cc: "CA",
        country: "Canada",
        region: "Ontario",
        city: "Toronto",
    },
];

const OFFICE_PLACE: &Place = &EU_PLACES[0];

const FIRST: &[&str] = &[
    "alice", "bruno", "chloe", "daniel", "elena", "farid", "grace", "hugo", "ines", "jonas",
    "karin", "liam", "maya", "nikolai", "olivia", "pedro", "quinn", "rosa", "samuel", "tara",
    "umar", "vera", "wei", "ximena", "yusuf", "zoe", "amir", "beatriz", "conor", "dana", "emil",
    "fiona", "gustavo", "hana", "ivan", "julia", "kenji", "leila", "marco", "nadia", "oscar",
    "priya", "rafael", "sofia", "tomas", "ursula", "victor", "wanda", "yara", "zainab",
];

const LAST: &[&str] = &[
    "adams",
    "becker",
    "costa",
    "dubois",
    "eriksen",
    "fischer",
    "garcia",
    "hansen",
    "ibrahim",
    "jensen",
    "kowalski",
    "larsen",
    "moreau",
    "nakamura",
    "oconnor",
    "petrov",
    "quintero",
    "rossi",
    "schmidt",
    "tanaka",
    "ueda",
    "vasquez",
    "weber",
    "xu",
    "yilmaz",
    "zimmer",
    "alvarez",
    "bianchi",
    "carter",
    "dijkstra",
    "evans",
    "fontaine",
    "gomez",
    "horvat",
    "ito",
    "jovanovic",
    "keller",
    "lindqvist",
    "murphy",
    "novak",
    "okafor",
    "patel",
    "rahman",
    "silva",
    "thompson",
    "ulrich",
    "varga",
    "walsh",
    "young",
    "zhou",
];

/// Teams: name, engineering?, AWS permission set, Kubernetes namespaces, repositories.
struct Team {
    name: &'static str,
    eng: bool,
    permission_set: &'static str,
    namespaces: &'static [&'static str],
    repos: &'static [&'static str],
    buckets: &'static [&'static str],
}

const TEAMS: &[Team] = &[
    Team {
        name: "platform-eng",
        eng: true,
        permission_set: "AWSReservedSSO_PlatformAdmin_3f9c2a7d41e8b6c0",
        namespaces: &["argocd", "monitoring", "kube-system", "ingress-nginx"],
        repos: &[
            "infra-live",
            "infra-modules",
            "platform-charts",
            "terraform-aws-eks",
        ],
        buckets: &[
            "corp-terraform-state",
            "corp-platform-artifacts",
            "corp-alb-logs",
        ],
    },
    Team {
        name: "sre",
        eng: true,
        permission_set: "AWSReservedSSO_SRE_8a41d2c9e07f5b36",
        namespaces: &["monitoring", "payments", "orders", "web"],
        repos: &["runbooks", "platform-charts", "alerting-rules"],
        buckets: &[
            "corp-alb-logs",
            "corp-cloudtrail-archive",
            "corp-platform-artifacts",
        ],
    },
    Team {
        name: "payments",
        eng: true,
        permission_set: "AWSReservedSSO_Developer_5e2b7c1d9a3f6e48",
        namespaces: &["payments"],
        repos: &["payments-api", "payments-ledger", "payments-web"],
        buckets: &["corp-payments-reports", "corp-payments-exports"],
    },
    Team {
        name: "orders",
        eng: true,
        permission_set: "AWSReservedSSO_Developer_5e2b7c1d9a3f6e48",
        namespaces: &["orders"],
        repos: &["orders-api", "orders-worker", "orders-schema"],
        buckets: &["corp-orders-events", "corp-orders-exports"],
    },
    Team {
        name: "web",
        eng: true,
        permission_set: "AWSReservedSSO_Developer_5e2b7c1d9a3f6e48",
        namespaces: &["web", "storefront"],
        repos: &["storefront", "design-system", "web-edge"],
        buckets: &["corp-web-assets", "corp-web-uploads"],
    },
    Team {
        name: "search",
        eng: true,
        permission_set: "AWSReservedSSO_Developer_5e2b7c1d9a3f6e48",
        namespaces: &["search"],
        repos: &["search-indexer", "search-api", "ranking-models"],
        buckets: &["corp-search-snapshots", "corp-search-feeds"],
    },
    Team {
        name: "data",
        eng: true,
        permission_set: "AWSReservedSSO_DataEngineer_c7d38e1f2a9b4056",
        namespaces: &["data-pipelines"],
        repos: &["dbt-models", "airflow-dags", "data-contracts"],
        buckets: &[
            "corp-analytics-raw",
            "corp-analytics-curated",
            "corp-athena-results",
        ],
    },
    Team {
        name: "security",
        eng: true,
        permission_set: "AWSReservedSSO_SecurityAudit_1b6e9f3a7c2d8e05",
        namespaces: &["falco", "kube-system"],
        repos: &["detections", "security-tooling", "iam-policies"],
        buckets: &["corp-cloudtrail-archive", "corp-security-findings"],
    },
    Team {
        name: "mobile",
        eng: true,
        permission_set: "AWSReservedSSO_Developer_5e2b7c1d9a3f6e48",
        namespaces: &["mobile-api"],
        repos: &["mobile-app", "mobile-api", "mobile-release"],
        buckets: &["corp-mobile-builds", "corp-web-uploads"],
    },
    Team {
        name: "sales",
        eng: false,
        permission_set: "",
        namespaces: &[],
        repos: &[],
        buckets: &[],
    },
    Team {
        name: "finance",
        eng: false,
        permission_set: "",
        namespaces: &[],
        repos: &[],
        buckets: &[],
    },
    Team {
        name: "people",
        eng: false,
        permission_set: "",
        namespaces: &[],
        repos: &[],
        buckets: &[],
    },
    Team {
        name: "support",
        eng: false,
        permission_set: "",
        namespaces: &[],
        repos: &[],
        buckets: &[],
    },
    Team {
        name: "marketing",
        eng: false,
        permission_set: "",
        namespaces: &[],
        repos: &[],
        buckets: &[],
    },
];

const SRE_TEAM: usize = 1;

/// Home ISP blocks (/16s of consumer broadband); each person's home is a /24 of one of them.
const ISP_BLOCKS: &[(u8, u8)] = &[
    (81, 204),
    (86, 88),
    (92, 109),
    (84, 241),
    (77, 163),
    (78, 49),
    (89, 205),
    (62, 45),
    (95, 97),
    (176, 63),
    (145, 53),
    (82, 169),
    (24, 60),
    (73, 162),
    (98, 14),
    (68, 48),
    (71, 178),
    (108, 30),
    (174, 95),
    (96, 224),
];

impl Human {
    fn at(&self, t: i64) -> Option<&Seg> {
        self.segs.iter().find(|s| s.start <= t && t < s.end)
    }

    fn ip(&self, seg: &Seg) -> String {
        match seg.net {
            Net::Home => self.home.clone(),
            Net::Office => self.office_ip.clone(),
            Net::Vpn => format!("203.0.113.{}", 130 + (self.vpn_base ^ seg.id) % 120),
        }
    }

    fn team(&self) -> &'static Team {
        &TEAMS[self.team]
    }

    fn browser(&self) -> &'static str {
        match (self.os, self.uid % 3) {
            (0, 0) => "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
            (0, _) => "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36",
            (1, _) => "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36 Edg/133.0.0.0",
            _ => "Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0",
        }
    }

    fn aws_cli(&self) -> &'static str {
        match self.os {
            0 => "aws-cli/2.24.5 md/awscrt#0.23.8 ua/2.0 os/macos#24.3.0 md/arch#arm64 lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
            1 => "aws-cli/2.24.5 md/awscrt#0.23.8 ua/2.0 os/windows#10 md/arch#amd64 lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
            _ => "aws-cli/2.24.5 md/awscrt#0.23.8 ua/2.0 os/linux#6.8.0-52-generic md/arch#x86_64 lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
        }
    }

    fn kubectl(&self) -> &'static str {
        match (self.os, self.uid % 5) {
            (0, 0) => "k9s/v0.40.5 (darwin/arm64) kubernetes/$Format",
            (0, _) => "kubectl/v1.32.2 (darwin/arm64) kubernetes/67a30c0",
            (1, _) => "kubectl.exe/v1.32.2 (windows/amd64) kubernetes/67a30c0",
            _ => "kubectl/v1.32.2 (linux/amd64) kubernetes/67a30c0",
        }
    }

    fn git(&self) -> &'static str {
        match self.os {
            0 => "git/2.39.5 (Apple Git-154)",
            1 => "git/2.47.1.windows.2",
            _ => "git/2.48.1",
        }
    }

    fn ssh(&self) -> &'static str {
        match self.os {
            0 => "SSH-2.0-OpenSSH_9.8",
            1 => "SSH-2.0-OpenSSH_for_Windows_9.5",
            _ => "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
        }
    }

    fn gcloud(&self, command: &str) -> String {
        let (os, ver, arch) = match self.os {
            0 => ("MACOSX", "15.3.1", "arm"),
            1 => ("WINDOWS", "10.0.22631", "x86_64"),
            _ => ("LINUX", "6.8.0-52-generic", "x86_64"),
        };
        format!(
            "google-cloud-sdk gcloud/512.0.0 command/gcloud.{command} invocation-id/{:016x}{:016x} environment/None environment-version/None client-os/{os} client-os-ver/{ver} client-pltf-arch/{arch} interactive/True from-script/False python/3.12.8 term/xterm-256color,gzip(gfe)",
            h2(self.uid, hs(command)),
            h3(self.uid, hs(command), 2)
        )
    }

    fn vault_cli(&self) -> &'static str {
        "Vault/1.18.4 (+https://www.vaultproject.io/; go1.23.6)"
    }

    fn okta_id(&self) -> String {
        let mut s = String::from("00u");
        digits(&mut s, ALNUM, h2(self.uid, 1), h2(self.uid, 2), 17);
        s
    }

    fn entra_oid(&self) -> String {
        uuid_s(h2(self.uid, 3), h2(self.uid, 4))
    }

    fn device_id(&self) -> String {
        uuid_s(h2(self.uid, 5), h2(self.uid, 6))
    }

    fn ssh_fingerprint(&self) -> String {
        let mut s = String::from("SHA256:");
        digits(&mut s, B64, h2(self.uid, 7), h2(self.uid, 8), 43);
        s
    }
}

/// The day's schedule of one person: segments of (UTC) activity and where from.
fn schedule(uid: u64, style: Style, tz_min: i64, carol: bool) -> Vec<Seg> {
    let mut r = Rng::new(mix(uid));
    let work_start = 480 + r.below(120) as i64;
    let work_end = work_start + 480 + r.below(90) as i64;
    let lunch = 720 + r.below(60) as i64;
    let lunch_end = lunch + 30 + r.below(30) as i64;
    let morning = r.chance(0.25).then(|| {
        let start = work_start - 110 - r.below(30) as i64;
        (start, start + 15 + r.below(30) as i64)
    });
    let evening = r.chance(0.4).then(|| {
        let start = (19 * 60 + 30).max(work_end + 60) + r.below(90) as i64;
        (start, start + 30 + r.below(120) as i64)
    });
    let (work_start, work_end, lunch, lunch_end, morning, evening) = if carol {
        // on call this week: in the office 08:00 to 17:30 CET, nothing in the evening
        (480, 1050, 720, 760, None, None)
    } else {
        (work_start, work_end, lunch, lunch_end, morning, evening)
    };
    let work_net = match style {
        Style::Office => Net::Office,
        Style::Remote => Net::Home,
        Style::Vpn => Net::Vpn,
    };
    let mut segs = Vec::new();
    for local_day in -1i64..=1 {
        let base = local_day * 1440 - tz_min;
        let id = |kind: u64| h3(uid, (local_day + 8) as u64, kind);
        let mut add = |start: i64, end: i64, net: Net, id: u64| {
            let (s, e) = ((base + start) * MIN, (base + end) * MIN);
            let (s, e) = (s.max(0), e.min(DAY));
            if s < e {
                segs.push(Seg {
                    start: s,
                    end: e,
                    net,
                    id,
                    day: h2(uid, (local_day + 8) as u64),
                });
            }
        };
        if let Some((s, e)) = morning {
            add(s, e, Net::Home, id(0));
        }
        add(work_start, lunch, work_net, id(1));
        add(lunch_end, work_end, work_net, id(1));
        if let Some((s, e)) = evening {
            add(s, e, Net::Home, id(2));
        }
    }
    segs
}

struct Org {
    humans: Vec<Human>,
    /// per hour, the share of people (and of engineers) active, peak = 1
    active: [f64; 24],
    active_eng: [f64; 24],
}

impl Org {
    fn new() -> Org {
        let mut humans = Vec::with_capacity(300);
        let mut homes = HashSet::new();
        for i in 0..300u64 {
            let (first, last) = (
                FIRST[i as usize % 50],
                LAST[(i as usize * 7 + i as usize / 50) % 50],
            );
            let carol = i == 0;
            let uid = h2(0xc0de_0001, i);
            let mut r = Rng::new(mix(uid));
            let team = if carol {
                SRE_TEAM
            } else if r.chance(0.65) {
                r.below(9) as usize
            } else {
                9 + r.below(5) as usize
            };
            let us = !carol && r.chance(0.25);
            let style = if carol {
                Style::Office
            } else if us {
                if r.chance(0.7) {
                    Style::Remote
                } else {
                    Style::Vpn
                }
            } else {
                match r.below(20) {
                    0..=10 => Style::Office,
                    11..=16 => Style::Remote,
                    _ => Style::Vpn,
                }
            };
            // EDT since 8 March; CET until 29 March
            let tz = if us { -240 } else { 60 };
            let geo = if us {
                r.pick(US_PLACES)
            } else {
                r.pick(EU_PLACES)
            };
            let home = if r.chance(0.2) {
                format!(
                    "2001:db8:f{:03x}:{:x}::{:x}",
                    i,
                    r.below(0xffff),
                    2 + r.below(0xfff0)
                )
            } else {
                loop {
                    let (a, b) = *r.pick(ISP_BLOCKS);
                    let c = r.below(256) as u8;
                    if homes.insert((a, b, c)) {
                        break format!("{a}.{b}.{c}.{}", 2 + r.below(250));
                    }
                }
            };
            let (email, display, first) = if carol {
                (
                    "carol@corp.example".to_string(),
                    "Carol Ferreira".to_string(),
                    "carol".to_string(),
                )
            } else {
                let cap = |s: &str| s[..1].to_ascii_uppercase() + &s[1..];
                (
                    format!("{first}.{last}@corp.example"),
                    format!("{} {}", cap(first), cap(last)),
                    first.to_string(),
                )
            };
            let gh = if carol {
                "carol_corp".to_string()
            } else {
                format!("{first}{last}_corp")
            };
            let segs = schedule(uid, style, tz, carol);
            let primary = match style {
                Style::Office => Net::Office,
                Style::Remote => Net::Home,
                Style::Vpn => Net::Vpn,
            };
            humans.push(Human {
                email,
                display,
                first,
                gh,
                team,
                eng: TEAMS[team].eng,
                segs,
                primary,
                home,
                office_ip: format!("203.0.113.{}", 2 + r.below(60)),
                vpn_base: r.next(),
                uid,
                os: if r.chance(0.6) {
                    0
                } else if r.chance(0.6) {
                    1
                } else {
                    2
                },
                geo,
                fg_pat: TEAMS[team].eng && r.chance(0.12),
            });
        }
        let mut active = [0.0; 24];
        let mut active_eng = [0.0; 24];
        for h in 0..24 {
            for m in (5..60).step_by(10) {
                let t = h as i64 * HOUR + m * MIN;
                for p in &humans {
                    if p.at(t).is_some() {
                        active[h] += 1.0;
                        if p.eng {
                            active_eng[h] += 1.0;
                        }
                    }
                }
            }
        }
        for a in [&mut active, &mut active_eng] {
            let max = a.iter().cloned().fold(1.0, f64::max);
            for x in a.iter_mut() {
                *x /= max;
            }
        }
        Org {
            humans,
            active,
            active_eng,
        }
    }

    /// A person (an engineer when `eng`) active at `t`, and the segment they are in.
    fn pick(&self, rng: &mut Rng, t: i64, eng: bool) -> Option<(&Human, Seg)> {
        for _ in 0..64 {
            let h = &self.humans[rng.below(self.humans.len() as u64) as usize];
            if eng && !h.eng {
                continue;
            }
            if let Some(s) = h.at(t) {
                return Some((h, *s));
            }
        }
        None
    }

    /// A format's hourly curve when `human` of its records come from people (engineers when
    /// `eng`) and the rest from services (busier in the day too, but less), and the chance that
    /// a record at hour `h` is a person's.
    fn curve(&self, human: f64, eng: bool) -> (Curve, [f64; 24]) {
        let a = if eng { &self.active_eng } else { &self.active };
        let mean_a = a.iter().sum::<f64>() / 24.0;
        let service = |h: usize| 0.7 + 0.3 * a[h];
        let mean_s = (0..24).map(service).sum::<f64>() / 24.0;
        let k = human * mean_s / ((1.0 - human) * mean_a);
        let mut w = [0.0; 24];
        let mut p = [0.0; 24];
        for h in 0..24 {
            w[h] = service(h) + k * a[h];
            p[h] = k * a[h] / w[h];
        }
        (Curve::new(w), p)
    }

    fn carol(&self) -> &Human {
        &self.humans[0]
    }
}

fn hour_of(t: i64) -> usize {
    (t / HOUR).clamp(0, 23) as usize
}

// ---------------------------------------------------------------------------------------------
// AWS CloudTrail

const AWS_REGION: &str = "us-east-1";

const UA_GO: &str = "aws-sdk-go-v2/1.36.1 ua/2.1 os/linux lang/go#1.23.6 md/GOOS#linux md/GOARCH#amd64 api/s3#1.76.0";
const UA_JAVA: &str = "aws-sdk-java/2.30.22 ua/2.1 os/Linux#6.1.128-136.201.amzn2023.x86_64 lang/java#21.0.6 md/OpenJDK_64-Bit_Server_VM#21.0.6+7-LTS md/vendor#Amazon.com_Inc. md/en_US m/D,N";
const UA_BOTO: &str = "Boto3/1.36.21 md/Botocore#1.36.21 ua/2.0 os/linux#6.1.128-136.201.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.36.21";
const UA_NODE_LAMBDA: &str = "aws-sdk-js/3.744.0 ua/2.1 os/linux#5.10.233-245.922.amzn2.x86_64 lang/js md/nodejs#20.18.2 api/s3#3.744.0 exec-env/AWS_Lambda_nodejs20.x";
const UA_PY_LAMBDA: &str = "Boto3/1.36.3 md/Botocore#1.36.3 ua/2.0 os/linux#5.10.233-245.922.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.36.3";
const UA_TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.10.5 (+https://www.terraform.io) terraform-provider-aws/5.86.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.36.0 ua/2.1 os/linux lang/go#1.23.5 md/GOOS#linux md/GOARCH#amd64";

/// Every bucket of the main account (Terraform manages them all).
const ALL_BUCKETS: &[&str] = &[
    "corp-terraform-state",
    "corp-platform-artifacts",
    "corp-alb-logs",
    "corp-cloudtrail-archive",
    "corp-payments-reports",
    "corp-payments-exports",
    "corp-orders-events",
    "corp-orders-exports",
    "corp-web-assets",
    "corp-web-uploads",
    "corp-search-snapshots",
    "corp-search-feeds",
    "corp-analytics-raw",
    "corp-analytics-curated",
    "corp-athena-results",
    "corp-security-findings",
    "corp-mobile-builds",
    "corp-backups-db",
    "corp-backups-files",
    "corp-finance-reports",
    "corp-loki-chunks",
    "corp-config-history",
    "corp-vpc-flow-logs",
    "corp-ses-inbound",
    "corp-ml-training",
    "corp-ml-models",
    "corp-static-site",
    "corp-partner-drops",
    "corp-data-exports",
    "corp-legal-hold",
    "corp-support-attachments",
    "corp-marketing-assets",
    "corp-eks-backups",
    "corp-ecr-cache",
    "corp-lambda-packages",
    "corp-glue-scripts",
    "corp-emr-logs",
    "corp-redshift-unload",
    "corp-waf-logs",
    "corp-guardduty-findings",
];

/// One API call, as much as varies between identities.
struct Call<'a> {
    identity: &'a str,
    source: &'a str,
    name: &'a str,
    ip: &'a str,
    ua: &'a str,
    /// `requestParameters` JSON (`null` for none)
    params: &'a str,
    /// `responseElements` JSON
    response: &'a str,
    read_only: bool,
    /// an S3 object-level (data) event
    data: bool,
    error: Option<(&'a str, &'a str)>,
    account: &'a str,
    /// more fields, each starting with a comma
    extra: &'a str,
    event_type: &'a str,
}

impl Default for Call<'_> {
    fn default() -> Self {
        Call {
            identity: "{}",
            source: "",
            name: "",
            ip: "",
            ua: "",
            params: "null",
            response: "null",
            read_only: true,
            data: false,
            error: None,
            account: ACCOUNT,
            extra: "",
            event_type: "AwsApiCall",
        }
    }
}

fn is_address(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) || s.contains(':')
}

fn ct_push(out: &mut Out, rng: &mut Rng, t: i64, c: &Call) {
    let mut s = String::with_capacity(640 + c.identity.len() + c.ua.len() + c.params.len());
    s.push_str(r#"{"eventVersion":"1.11","userIdentity":"#);
    s.push_str(c.identity);
    s.push_str(r#","eventTime":""#);
    ts_s(&mut s, t);
    let _ = write!(
        s,
        r#"","eventSource":"{}","eventName":"{}","awsRegion":"{AWS_REGION}","sourceIPAddress":"{}","userAgent":"{}""#,
        c.source, c.name, c.ip, c.ua
    );
    if let Some((code, message)) = c.error {
        let _ = write!(s, r#","errorCode":"{code}","errorMessage":"{message}""#);
    }
    let _ = write!(
        s,
        r#","requestParameters":{},"responseElements":{}{}"#,
        c.params, c.response, c.extra
    );
    s.push_str(r#","requestID":""#);
    if c.data {
        let _ = write!(s, "{:016X}", rng.next());
    } else {
        uuid(&mut s, rng.next(), rng.next(), 4);
    }
    s.push_str(r#"","eventID":""#);
    out.id(&mut s, IdShape::Uuid4);
    let _ = write!(
        s,
        r#"","readOnly":{},"eventType":"{}","managementEvent":{},"recipientAccountId":"{}","eventCategory":"{}""#,
        c.read_only,
        c.event_type,
        !c.data,
        c.account,
        if c.data { "Data" } else { "Management" }
    );
    if is_address(c.ip) {
        let host = c.source.trim_end_matches(".amazonaws.com");
        let _ = write!(
            s,
            r#","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{host}.{AWS_REGION}.amazonaws.com"}}"#
        );
    }
    s.push('}');
    out.push(t, Rec::Event, s);
}

fn role_id(name: &str) -> String {
    let mut s = String::from("AROA");
    digits(&mut s, B32, hs(name), hs(name) >> 7, 17);
    s
}

fn user_id(name: &str) -> String {
    let mut s = String::from("AIDA");
    digits(&mut s, B32, hs(name), hs(name) >> 9, 17);
    s
}

/// A role session: `role_path` is the role's path and name under `role/` in its ARN.
#[allow(clippy::too_many_arguments)]
fn session_identity(
    account: &str,
    role_path: &str,
    session: &str,
    key: Option<&str>,
    created: i64,
    mfa: bool,
    invoked_by: Option<&str>,
    ec2: bool,
) -> String {
    let role = role_path.rsplit('/').next().unwrap_or(role_path);
    let rid = role_id(role);
    let mut s = String::with_capacity(700);
    let _ = write!(
        s,
        r#"{{"type":"AssumedRole","principalId":"{rid}:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}","accountId":"{account}""#
    );
    if let Some(k) = key {
        let _ = write!(s, r#","accessKeyId":"{k}""#);
    }
    let _ = write!(
        s,
        r#","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{rid}","arn":"arn:aws:iam::{account}:role/{role_path}","accountId":"{account}","userName":"{role}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":""#
    );
    ts_s(&mut s, created);
    let _ = write!(s, r#"","mfaAuthenticated":"{mfa}"}}"#);
    if ec2 {
        s.push_str(r#","ec2RoleDelivery":"2.0""#);
    }
    s.push('}');
    if let Some(by) = invoked_by {
        let _ = write!(s, r#","invokedBy":"{by}""#);
    }
    s.push('}');
    s
}

fn iam_user_identity(account: &str, user: &str, key: &str) -> String {
    format!(
        r#"{{"type":"IAMUser","principalId":"{}","arn":"arn:aws:iam::{account}:user/{user}","accountId":"{account}","accessKeyId":"{key}","userName":"{user}"}}"#,
        user_id(user)
    )
}

fn sso_role_path(permission_set: &str) -> String {
    format!("aws-reserved/sso.amazonaws.com/eu-west-1/{permission_set}")
}

fn s3_params(bucket: &str, key: &str) -> String {
    format!(
        r#"{{"bucketName":"{bucket}","Host":"{bucket}.s3.{AWS_REGION}.amazonaws.com","key":"{key}"}}"#
    )
}

fn bucket_params(bucket: &str) -> String {
    format!(r#"{{"bucketName":"{bucket}","Host":"{bucket}.s3.{AWS_REGION}.amazonaws.com"}}"#)
}

/// Reads and the odd write people do in the console and with the CLI.
const HUMAN_CALLS: &[(&str, &str, bool)] = &[
    ("ec2.amazonaws.com", "DescribeInstances", true),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", true),
    ("rds.amazonaws.com", "DescribeDBClusters", true),
    ("monitoring.amazonaws.com", "GetMetricData", true),
    ("monitoring.amazonaws.com", "DescribeAlarms", true),
    ("logs.amazonaws.com", "FilterLogEvents", true),
    ("logs.amazonaws.com", "DescribeLogGroups", true),
    ("lambda.amazonaws.com", "ListFunctions20150331", true),
    ("eks.amazonaws.com", "DescribeCluster", true),
    ("cloudtrail.amazonaws.com", "LookupEvents", true),
    ("sts.amazonaws.com", "GetCallerIdentity", true),
    ("ssm.amazonaws.com", "GetParameter", true),
    ("ecr.amazonaws.com", "GetAuthorizationToken", true),
    ("s3.amazonaws.com", "ListBuckets", true),
    ("ce.amazonaws.com", "GetCostAndUsage", true),
    ("ssm.amazonaws.com", "PutParameter", false),
    ("monitoring.amazonaws.com", "PutDashboard", false),
];

fn ct_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let team = h.team();
    let ip = h.ip(&seg);
    let hour = t / HOUR;
    let role_path = sso_role_path(team.permission_set);
    let console_key = aws_key("ASIA", h3(h.uid, seg.id, 1));
    let r = rng.below(100);
    if r < 2 {
        // signing in to the console through Identity Center
        let identity = session_identity(ACCOUNT, &role_path, &h.email, None, t, false, None, false);
        let call = Call {
            identity: &identity,
            source: "signin.amazonaws.com",
            name: "ConsoleLogin",
            ip: &ip,
            ua: h.browser(),
            response: r#"{"ConsoleLogin":"Success"}"#,
            read_only: false,
            extra: r#","additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home?region=us-east-1","MobileVersion":"No","MFAUsed":"No"}"#,
            event_type: "AwsConsoleSignIn",
            ..Call::default()
        };
        return ct_push(out, rng, t, &call);
    }
    if r >= 95 {
        // a service acting with the person's session: a stack update, an Athena query
        let (by, source, name, params, data) = if team.name == "data" || rng.chance(0.3) {
            let bucket = *rng.pick(team.buckets);
            let key = format!("queries/{:08x}.csv", rng.next() as u32);
            (
                "athena.amazonaws.com",
                "s3.amazonaws.com",
                "GetObject",
                s3_params(bucket, &key),
                true,
            )
        } else {
            let name = *rng.pick(&["DescribeSecurityGroups", "DescribeSubnets", "CreateTags"]);
            (
                "cloudformation.amazonaws.com",
                "ec2.amazonaws.com",
                name,
                "null".to_string(),
                false,
            )
        };
        let identity = session_identity(
            ACCOUNT,
            &role_path,
            &h.email,
            Some(&console_key),
            seg.start,
            false,
            Some(by),
            false,
        );
        let call = Call {
            identity: &identity,
            source,
            name,
            ip: by,
            ua: by,
            params: &params,
            read_only: name != "CreateTags",
            data,
            ..Call::default()
        };
        return ct_push(out, rng, t, &call);
    }
    let console = r < 45;
    let (key, created, ua) = if console {
        (console_key, seg.start, h.browser())
    } else {
        (
            aws_key("ASIA", h3(h.uid, seg.id, 100 + hour as u64)),
            (hour * HOUR).max(seg.start),
            h.aws_cli(),
        )
    };
    let identity = session_identity(
        ACCOUNT,
        &role_path,
        &h.email,
        Some(&key),
        created,
        false,
        None,
        false,
    );
    let (source, name, read_only, params, data);
    if !console && rng.chance(0.35) {
        let bucket = *rng.pick(team.buckets);
        let (n, ro) = *rng.pick(&[
            ("GetObject", true),
            ("ListObjects", true),
            ("PutObject", false),
            ("GetObject", true),
        ]);
        source = "s3.amazonaws.com";
        name = n;
        read_only = ro;
        params = if n == "ListObjects" {
            bucket_params(bucket)
        } else {
            s3_params(
                bucket,
                &format!("{}/{:06x}.json", team.name, rng.below(1 << 20)),
            )
        };
        data = true;
    } else {
        let &(s, n, ro) = rng.pick(HUMAN_CALLS);
        source = s;
        name = n;
        read_only = ro;
        params = match n {
            "DescribeCluster" => r#"{"name":"corp-prod"}"#.to_string(),
            "GetParameter" | "PutParameter" => {
                format!(r#"{{"name":"/{}/prod/config"}}"#, team.name)
            }
            "DescribeLogGroups" | "FilterLogEvents" => format!(
                r#"{{"logGroupNamePrefix":"/aws/eks/corp-prod/{}"}}"#,
                team.name
            ),
            _ => "null".to_string(),
        };
        data = false;
    }
    let error = rng
        .chance(0.006)
        .then_some(if source == "ec2.amazonaws.com" {
            (
                "Client.UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            )
        } else {
            (
                "AccessDenied",
                "User is not authorized to perform this operation",
            )
        });
    let call = Call {
        identity: &identity,
        source,
        name,
        ip: &ip,
        ua,
        params: &params,
        read_only,
        data,
        error,
        ..Call::default()
    };
    ct_push(out, rng, t, &call)
}

/// EC2 fleets with instance profiles: role, instances, SDK, bucket, secret, parameter.
const FLEETS: &[(&str, u64, &str, &str, &str, &str)] = &[
    (
        "web-app",
        14,
        UA_GO,
        "corp-web-assets",
        "prod/web-app/session-key",
        "/web-app/prod/feature-flags",
    ),
    (
        "orders-worker",
        10,
        UA_JAVA,
        "corp-orders-events",
        "prod/orders/db",
        "/orders/prod/config",
    ),
    (
        "batch-runner",
        4,
        UA_BOTO,
        "corp-analytics-raw",
        "prod/batch/api-token",
        "/batch/prod/config",
    ),
];

/// Lambda functions (in the VPC): name, SDK, bucket.
const FUNCTIONS: &[(&str, &str, &str)] = &[
    ("invoice-generator", UA_NODE_LAMBDA, "corp-payments-reports"),
    ("thumbnailer", UA_PY_LAMBDA, "corp-web-uploads"),
    ("webhook-dispatcher", UA_NODE_LAMBDA, "corp-orders-events"),
    ("nightly-report", UA_PY_LAMBDA, "corp-finance-reports"),
];

/// IRSA: namespace, service account, role, SDK, calls.
/// service, API call, read-only
type AwsCall = (&'static str, &'static str, bool);

const IRSA: &[(&str, &str, &str, &str, &[AwsCall])] = &[
    (
        "karpenter",
        "karpenter",
        "karpenter-controller",
        UA_GO,
        &[
            ("ec2.amazonaws.com", "DescribeInstances", true),
            ("ec2.amazonaws.com", "DescribeInstanceTypeOfferings", true),
            ("ec2.amazonaws.com", "DescribeSubnets", true),
            ("pricing.amazonaws.com", "GetProducts", true),
            ("ec2.amazonaws.com", "CreateFleet", false),
        ],
    ),
    (
        "kube-system",
        "aws-load-balancer-controller",
        "aws-load-balancer-controller",
        UA_GO,
        &[
            (
                "elasticloadbalancing.amazonaws.com",
                "DescribeTargetHealth",
                true,
            ),
            (
                "elasticloadbalancing.amazonaws.com",
                "DescribeLoadBalancers",
                true,
            ),
            (
                "elasticloadbalancing.amazonaws.com",
                "RegisterTargets",
                false,
            ),
        ],
    ),
    (
        "kube-system",
        "external-dns",
        "external-dns",
        UA_GO,
        &[
            ("route53.amazonaws.com", "ListResourceRecordSets", true),
            ("route53.amazonaws.com", "ListHostedZones", true),
        ],
    ),
    (
        "monitoring",
        "loki",
        "loki-storage",
        UA_GO,
        &[
            ("s3.amazonaws.com", "PutObject", false),
            ("s3.amazonaws.com", "GetObject", true),
        ],
    ),
    (
        "payments",
        "payments-api",
        "payments-api-exports",
        UA_JAVA,
        &[
            ("s3.amazonaws.com", "PutObject", false),
            ("kms.amazonaws.com", "GenerateDataKey", true),
        ],
    ),
];

fn instance_id(role: &str, k: u64) -> String {
    format!("i-0{:016x}", h2(hs(role), k))
}

/// The session name an SDK gives an IRSA session.
fn irsa_session(ua: &str, pod: u64, hour: i64) -> String {
    let epoch = DAY_START + hour * 3600 + (pod % 600) as i64;
    if ua.starts_with("aws-sdk-go") {
        format!("aws-go-sdk-{epoch}{:09}", pod % 1_000_000_000)
    } else {
        format!("aws-sdk-java-{epoch}{:03}", pod % 1000)
    }
}

/// Long-term IAM user keys: user, where from (one network each), SDK, calls, buckets, hours.
struct KeyUser {
    user: &'static str,
    ip: fn(u64) -> String,
    ua: &'static str,
    calls: &'static [(&'static str, &'static str, bool)],
    buckets: &'static [&'static str],
    hours: std::ops::Range<usize>,
}

const KEY_USERS: &[KeyUser] = &[
    KeyUser {
        user: "svc-backup",
        ip: |x| format!("192.0.2.{}", 21 + x % 2),
        ua: UA_BOTO,
        calls: &[
            ("s3.amazonaws.com", "CreateMultipartUpload", false),
            ("s3.amazonaws.com", "UploadPart", false),
            ("s3.amazonaws.com", "UploadPart", false),
            ("s3.amazonaws.com", "CompleteMultipartUpload", false),
            ("s3.amazonaws.com", "ListObjects", true),
        ],
        buckets: &["corp-backups-db", "corp-backups-files"],
        hours: 0..6,
    },
    KeyUser {
        user: "svc-reporting",
        ip: |x| format!("10.20.4.{}", 15 + x % 3),
        ua: UA_JAVA,
        calls: &[
            ("s3.amazonaws.com", "GetObject", true),
            ("s3.amazonaws.com", "ListObjects", true),
            ("athena.amazonaws.com", "StartQueryExecution", false),
            ("athena.amazonaws.com", "GetQueryExecution", true),
            ("athena.amazonaws.com", "GetQueryResults", true),
        ],
        buckets: &[
            "corp-analytics-curated",
            "corp-finance-reports",
            "corp-athena-results",
        ],
        hours: 0..24,
    },
    KeyUser {
        user: "svc-datadog",
        ip: |x| format!("44.231.18.{}", 40 + x % 16),
        ua: "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64)",
        calls: &[
            ("monitoring.amazonaws.com", "GetMetricData", true),
            ("monitoring.amazonaws.com", "ListMetrics", true),
            ("ec2.amazonaws.com", "DescribeInstances", true),
            ("rds.amazonaws.com", "DescribeDBInstances", true),
            ("tag.amazonaws.com", "GetResources", true),
        ],
        buckets: &[],
        hours: 0..24,
    },
    KeyUser {
        user: "svc-grafana",
        ip: |_| "192.0.2.40".to_string(),
        ua: "aws-sdk-go/1.55.6 (go1.23.4; linux; amd64) Grafana/11.5.1",
        calls: &[
            ("monitoring.amazonaws.com", "GetMetricData", true),
            ("monitoring.amazonaws.com", "ListMetrics", true),
            ("logs.amazonaws.com", "StartQuery", true),
            ("logs.amazonaws.com", "GetQueryResults", true),
        ],
        buckets: &[],
        hours: 0..24,
    },
];

fn key_of(user: &str) -> String {
    aws_key("AKIA", hs(user) ^ 0x004b_4559)
}

fn ct_service(out: &mut Out, rng: &mut Rng, t: i64, org: &Org) {
    let hour = t / HOUR;
    let h = hour_of(t);
    // instance, AWS Internal, lambda, irsa, web identity, AWS service, key users, terraform
    let kind = rng.weighted(&[29, 4, 12, 16, 3, 10, 14, 12]);
    match kind {
        0 | 1 => {
            let &(role, n, ua, bucket, secret, param) = rng.pick(FLEETS);
            let k = rng.below(n);
            let inst = instance_id(role, k);
            let key = aws_key("ASIA", h3(hs(&inst), hour as u64, 0));
            let created = hour * HOUR - 7 * MIN + (h2(hs(&inst), 9) % 300_000) as i64;
            if kind == 1 {
                // S3 decrypting an object for the instance: AWS calls KMS on the role's behalf
                let identity = session_identity(
                    ACCOUNT,
                    role,
                    &inst,
                    Some(&key),
                    created,
                    false,
                    Some("AWS Internal"),
                    true,
                );
                let params = format!(
                    r#"{{"encryptionContext":{{"aws:s3:arn":"arn:aws:s3:::{bucket}/"}},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#
                );
                let call = Call {
                    identity: &identity,
                    source: "kms.amazonaws.com",
                    name: "Decrypt",
                    ip: "AWS Internal",
                    ua: "AWS Internal",
                    params: &params,
                    ..Call::default()
                };
                return ct_push(out, rng, t, &call);
            }
            let identity =
                session_identity(ACCOUNT, role, &inst, Some(&key), created, false, None, true);
            let ip = cluster_ip(h2(hs(&inst), 1));
            let (source, name, ro, params, data) = match rng.below(6) {
                0 | 1 => (
                    "s3.amazonaws.com",
                    "GetObject",
                    true,
                    s3_params(bucket, &format!("{role}/{:08x}", rng.next() as u32)),
                    true,
                ),
                2 => (
                    "s3.amazonaws.com",
                    "PutObject",
                    false,
                    s3_params(bucket, &format!("{role}/{:08x}", rng.next() as u32)),
                    true,
                ),
                3 => (
                    "kms.amazonaws.com",
                    "Decrypt",
                    true,
                    r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#.to_string(),
                    false,
                ),
                4 => (
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    true,
                    format!(r#"{{"secretId":"{secret}"}}"#),
                    false,
                ),
                _ => (
                    "ssm.amazonaws.com",
                    "GetParameter",
                    true,
                    format!(r#"{{"name":"{param}","withDecryption":true}}"#),
                    false,
                ),
            };
            let call = Call {
                identity: &identity,
                source,
                name,
                ip: &ip,
                ua,
                params: &params,
                read_only: ro,
                data,
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
        2 => {
            let &(func, ua, bucket) =
                rng.pick(&FUNCTIONS[..if (1..2).contains(&h) { 4 } else { 3 }]);
            let key = aws_key("ASIA", h3(hs(func), (hour / 2) as u64, 0));
            let identity = session_identity(
                ACCOUNT,
                &format!("{func}-role"),
                func,
                Some(&key),
                (hour / 2) * 2 * HOUR + 90_000,
                false,
                None,
                false,
            );
            // Hyperplane ENIs: one function, many addresses, all in the VPC
            let ip = format!("10.0.{}.{}", 200 + rng.below(16), 2 + rng.below(250));
            let (source, name, ro, params, data) = match rng.below(4) {
                0 => (
                    "s3.amazonaws.com",
                    "GetObject",
                    true,
                    s3_params(bucket, &format!("in/{:08x}", rng.next() as u32)),
                    true,
                ),
                1 => (
                    "s3.amazonaws.com",
                    "PutObject",
                    false,
                    s3_params(bucket, &format!("out/{:08x}", rng.next() as u32)),
                    true,
                ),
                2 => (
                    "kms.amazonaws.com",
                    "Decrypt",
                    true,
                    r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#.to_string(),
                    false,
                ),
                _ => (
                    "secretsmanager.amazonaws.com",
                    "GetSecretValue",
                    true,
                    format!(r#"{{"secretId":"prod/{func}"}}"#),
                    false,
                ),
            };
            let call = Call {
                identity: &identity,
                source,
                name,
                ip: &ip,
                ua,
                params: &params,
                read_only: ro,
                data,
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
        3 | 4 => {
            let &(ns, sa, role, ua, calls) = rng.pick(IRSA);
            let (pod, ip) = irsa_pod(ns, sa, rng, org, t);
            let session = irsa_session(ua, pod, hour);
            let key = aws_key("ASIA", h3(pod, hour as u64, 2));
            let created = hour * HOUR + (pod % 600) as i64 * 1000;
            if kind == 4 {
                let provider =
                    "oidc.eks.us-east-1.amazonaws.com/id/5C1B8E0A47D2F93E6B1C4A7D0E2F8B93";
                let identity = format!(
                    r#"{{"type":"WebIdentityUser","principalId":"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}:sts.amazonaws.com:system:serviceaccount:{ns}:{sa}","userName":"system:serviceaccount:{ns}:{sa}","identityProvider":"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}"}}"#
                );
                let params = format!(
                    r#"{{"roleArn":"arn:aws:iam::{ACCOUNT}:role/{role}","roleSessionName":"{session}","durationSeconds":3600}}"#
                );
                let mut response = format!(
                    r#"{{"credentials":{{"accessKeyId":"{key}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"Mar 10, 2026, {}:{:02}:00 PM"}},"subjectFromWebIdentityToken":"system:serviceaccount:{ns}:{sa}","assumedRoleUser":{{"assumedRoleId":"{}:{session}","arn":"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"}},"provider":"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}","audience":"sts.amazonaws.com"}}"#,
                    1 + (hour + 1) % 12,
                    (pod % 60),
                    role_id(role)
                );
                response.shrink_to_fit();
                let call = Call {
                    identity: &identity,
                    source: "sts.amazonaws.com",
                    name: "AssumeRoleWithWebIdentity",
                    ip: &ip,
                    ua,
                    params: &params,
                    response: &response,
                    ..Call::default()
                };
                return ct_push(out, rng, (created + 1).max(t), &call);
            }
            let identity = session_identity(
                ACCOUNT,
                role,
                &session,
                Some(&key),
                created,
                false,
                None,
                false,
            );
            let &(source, name, ro) = rng.pick(calls);
            let params = match source {
                "s3.amazonaws.com" => {
                    let bucket = if ns == "payments" {
                        "corp-payments-exports"
                    } else {
                        "corp-loki-chunks"
                    };
                    s3_params(
                        bucket,
                        &format!("{:08x}/{:08x}", rng.next() as u32, rng.next() as u32),
                    )
                }
                "route53.amazonaws.com" => r#"{"hostedZoneId":"Z0812345ABCDEFGHIJKL"}"#.to_string(),
                _ => "null".to_string(),
            };
            let call = Call {
                identity: &identity,
                source,
                name,
                ip: &ip,
                ua,
                params: &params,
                read_only: ro,
                data: source == "s3.amazonaws.com",
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
        5 => {
            // AWS services acting for the account: credential deliveries and service-linked roles
            let (by, role, session) = match rng.below(5) {
                0 => (
                    "config.amazonaws.com",
                    "aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig".to_string(),
                    "AWSConfig-Describe".to_string(),
                ),
                1 => (
                    "autoscaling.amazonaws.com",
                    "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
                        .to_string(),
                    "AutoScaling".to_string(),
                ),
                2 => {
                    let &(fleet, n, ..) = rng.pick(FLEETS);
                    (
                        "ec2.amazonaws.com",
                        fleet.to_string(),
                        instance_id(fleet, rng.below(n)),
                    )
                }
                3 => {
                    let &(func, ..) = rng.pick(&FUNCTIONS[..3]);
                    (
                        "lambda.amazonaws.com",
                        format!("{func}-role"),
                        func.to_string(),
                    )
                }
                _ => (
                    "eks.amazonaws.com",
                    "eks-cluster-role".to_string(),
                    format!("EKS-{:x}", rng.below(1 << 24)),
                ),
            };
            let identity = format!(r#"{{"type":"AWSService","invokedBy":"{by}"}}"#);
            let params = format!(
                r#"{{"roleArn":"arn:aws:iam::{ACCOUNT}:role/{role}","roleSessionName":"{session}"}}"#
            );
            let call = Call {
                identity: &identity,
                source: "sts.amazonaws.com",
                name: "AssumeRole",
                ip: by,
                ua: by,
                params: &params,
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
        6 => {
            let u = loop {
                let u = rng.pick(KEY_USERS);
                if u.hours.contains(&h) {
                    break u;
                }
            };
            let key = key_of(u.user);
            let identity = iam_user_identity(ACCOUNT, u.user, &key);
            let ip = (u.ip)(rng.next());
            let &(source, name, ro) = rng.pick(u.calls);
            let data = source == "s3.amazonaws.com";
            let params = if data {
                let bucket = *rng.pick(u.buckets);
                if name == "ListObjects" {
                    bucket_params(bucket)
                } else {
                    s3_params(
                        bucket,
                        &format!("{}/{:06x}", &u.user[4..], rng.below(1 << 24)),
                    )
                }
            } else {
                "null".to_string()
            };
            let call = Call {
                identity: &identity,
                source,
                name,
                ip: &ip,
                ua: u.ua,
                params: &params,
                read_only: ro,
                data,
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
        _ => {
            // Terraform plan/apply jobs on the runner pool, ~7 minutes each
            let job = h2(0x7f, (t / (7 * MIN)) as u64);
            let ip = ci_ip_of(job);
            let identity = iam_user_identity(ACCOUNT, "svc-terraform", TERRAFORM_KEY);
            let bucket = *rng.pick(ALL_BUCKETS);
            let (source, name, ro, params, data) = match rng.below(10) {
                0..=4 => (
                    "s3.amazonaws.com",
                    *rng.pick(&[
                        "GetBucketPolicy",
                        "GetBucketVersioning",
                        "GetBucketTagging",
                        "GetBucketAcl",
                        "GetBucketLogging",
                        "GetBucketEncryption",
                    ]),
                    true,
                    bucket_params(bucket),
                    false,
                ),
                5 => (
                    "iam.amazonaws.com",
                    "GetRole",
                    true,
                    format!(
                        r#"{{"roleName":"{}"}}"#,
                        rng.pick(&[
                            "web-app",
                            "orders-worker",
                            "karpenter-controller",
                            "external-dns",
                            "loki-storage",
                            "invoice-generator-role",
                            "eks-cluster-role"
                        ])
                    ),
                    false,
                ),
                6 => (
                    "ec2.amazonaws.com",
                    *rng.pick(&[
                        "DescribeVpcs",
                        "DescribeSecurityGroups",
                        "DescribeSubnets",
                        "DescribeRouteTables",
                    ]),
                    true,
                    "null".to_string(),
                    false,
                ),
                7 => (
                    "s3.amazonaws.com",
                    "GetObject",
                    true,
                    s3_params(
                        "corp-terraform-state",
                        &format!(
                            "{}/terraform.tfstate",
                            rng.pick(&["network", "eks", "data", "iam", "edge"])
                        ),
                    ),
                    true,
                ),
                8 => (
                    "s3.amazonaws.com",
                    "PutObject",
                    false,
                    s3_params(
                        "corp-terraform-state",
                        &format!(
                            "{}/terraform.tfstate",
                            rng.pick(&["network", "eks", "data", "iam", "edge"])
                        ),
                    ),
                    true,
                ),
                _ => (
                    "sts.amazonaws.com",
                    "GetCallerIdentity",
                    true,
                    "null".to_string(),
                    false,
                ),
            };
            let call = Call {
                identity: &identity,
                source,
                name,
                ip: &ip,
                ua: UA_TERRAFORM,
                params: &params,
                read_only: ro,
                data,
                ..Call::default()
            };
            ct_push(out, rng, t, &call)
        }
    }
}

/// carol's approved break-glass session (INC-2051): the Aurora failover of orders-prod is stuck;
/// she assumes BreakGlassAdmin from the office at 14:05, looks, reboots the proxy host once, and
/// is done at 14:41. Reads and one reboot; no deploys.
fn break_glass(out: &mut Out, rng: &mut Rng, org: &Org) {
    let carol = org.carol();
    let at = |h: i64, m: i64, s: i64| h * HOUR + m * MIN + s * 1000;
    let start = at(14, 5, 12);
    let seg = *carol.at(start).expect("carol is in the office at 14:05");
    assert_eq!(seg.net, Net::Office);
    let ip = carol.ip(&seg);
    let ua = carol.aws_cli();
    let team = carol.team();
    let caller_key = aws_key("ASIA", h3(carol.uid, seg.id, 100 + 14));
    let caller = session_identity(
        ACCOUNT,
        &sso_role_path(team.permission_set),
        &carol.email,
        Some(&caller_key),
        at(14, 0, 3),
        false,
        None,
        false,
    );
    let bg_key = aws_key("ASIA", h2(0xb6, 2051));
    let params = format!(
        r#"{{"roleArn":"arn:aws:iam::{ACCOUNT}:role/BreakGlassAdmin","roleSessionName":"{}","durationSeconds":3600}}"#,
        carol.email
    );
    let response = format!(
        r#"{{"credentials":{{"accessKeyId":"{bg_key}","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"Mar 10, 2026, 3:05:12 PM"}},"assumedRoleUser":{{"assumedRoleId":"{}:{}","arn":"arn:aws:sts::{ACCOUNT}:assumed-role/BreakGlassAdmin/{}"}}}}"#,
        role_id("BreakGlassAdmin"),
        carol.email,
        carol.email
    );
    ct_push(
        out,
        rng,
        start,
        &Call {
            identity: &caller,
            source: "sts.amazonaws.com",
            name: "AssumeRole",
            ip: &ip,
            ua,
            params: &params,
            response: &response,
            ..Call::default()
        },
    );
    let identity = session_identity(
        ACCOUNT,
        "BreakGlassAdmin",
        &carol.email,
        Some(&bg_key),
        start,
        false,
        None,
        false,
    );
    let steps: &[(i64, i64, &str, &str, &str)] = &[
        (
            6,
            2,
            "rds.amazonaws.com",
            "DescribeDBClusters",
            r#"{"dBClusterIdentifier":"orders-prod"}"#,
        ),
        (
            6,
            40,
            "rds.amazonaws.com",
            "DescribeDBInstances",
            r#"{"filters":[{"name":"db-cluster-id","values":["orders-prod"]}]}"#,
        ),
        (
            7,
            31,
            "rds.amazonaws.com",
            "DescribeEvents",
            r#"{"sourceIdentifier":"orders-prod","sourceType":"db-cluster","duration":120}"#,
        ),
        (9, 5, "monitoring.amazonaws.com", "GetMetricData", "null"),
        (
            11,
            48,
            "logs.amazonaws.com",
            "GetLogEvents",
            r#"{"logGroupName":"/aws/rds/cluster/orders-prod/error","logStreamName":"orders-prod-instance-2"}"#,
        ),
        (
            13,
            20,
            "logs.amazonaws.com",
            "GetLogEvents",
            r#"{"logGroupName":"/aws/rds/cluster/orders-prod/error","logStreamName":"orders-prod-instance-1"}"#,
        ),
        (
            16,
            2,
            "rds.amazonaws.com",
            "DescribeDBClusterSnapshots",
            r#"{"dBClusterIdentifier":"orders-prod"}"#,
        ),
        (
            19,
            44,
            "ec2.amazonaws.com",
            "DescribeInstances",
            r#"{"filterSet":{"items":[{"name":"tag:Name","valueSet":{"items":[{"value":"orders-db-proxy"}]}}]}}"#,
        ),
        (
            21,
            9,
            "ec2.amazonaws.com",
            "DescribeInstanceStatus",
            r#"{"instancesSet":{"items":[{"instanceId":"i-0a4c8e2f6b1d3957e"}]}}"#,
        ),
        (24, 30, "monitoring.amazonaws.com", "GetMetricData", "null"),
        (
            26,
            55,
            "ec2.amazonaws.com",
            "RebootInstances",
            r#"{"instancesSet":{"items":[{"instanceId":"i-0a4c8e2f6b1d3957e"}]}}"#,
        ),
        (
            28,
            10,
            "ec2.amazonaws.com",
            "DescribeInstanceStatus",
            r#"{"instancesSet":{"items":[{"instanceId":"i-0a4c8e2f6b1d3957e"}]}}"#,
        ),
        (
            30,
            41,
            "rds.amazonaws.com",
            "DescribeDBClusters",
            r#"{"dBClusterIdentifier":"orders-prod"}"#,
        ),
        (33, 3, "monitoring.amazonaws.com", "GetMetricData", "null"),
        (
            35,
            37,
            "rds.amazonaws.com",
            "DescribeEvents",
            r#"{"sourceIdentifier":"orders-prod","sourceType":"db-cluster","duration":60}"#,
        ),
        (38, 12, "monitoring.amazonaws.com", "GetMetricData", "null"),
        (
            41,
            26,
            "rds.amazonaws.com",
            "DescribeDBClusters",
            r#"{"dBClusterIdentifier":"orders-prod"}"#,
        ),
    ];
    for &(m, s, source, name, params) in steps {
        let call = Call {
            identity: &identity,
            source,
            name,
            ip: &ip,
            ua,
            params,
            read_only: name != "RebootInstances",
            ..Call::default()
        };
        ct_push(out, rng, at(14, m, s), &call);
    }
}

fn cloudtrail(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 0, h2(seed, 100))?;
    let mut rng = Rng::new(mix(h2(seed, 1)));
    break_glass(&mut out, &mut rng, org);
    let (curve, p_human) = org.curve(0.25, true);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, true) {
                return ct_human(out, rng, t, h, seg);
            }
        }
        ct_service(out, rng, t, org)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// Kubernetes audit (EKS cluster corp-prod, v1.32)

const K8S_VERSION: &str = "v1.32.2";
const NODES: u64 = 24;

/// A deployment: namespace, name (= service account), client user agent, replicas at night and
/// at peak, and the requests its pods make.
struct Deploy {
    ns: &'static str,
    name: &'static str,
    ua: &'static str,
    min: u64,
    max: u64,
    calls: &'static [K8sCall<'static>],
}

/// verb, API group, resource, namespace, name, subresource
type K8sCall<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

const DEPLOYS: &[Deploy] = &[
    Deploy {
        ns: "payments",
        name: "payments-api",
        ua: "payments-api/1.14.2 (linux/amd64) kubernetes-client-go",
        min: 6,
        max: 40,
        calls: &[
            ("get", "", "secrets", "payments", "payments-db", ""),
            (
                "get",
                "",
                "configmaps",
                "payments",
                "payments-api-config",
                "",
            ),
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "payments",
                "payments-api-reconciler",
                "",
            ),
        ],
    },
    Deploy {
        ns: "orders",
        name: "orders-worker",
        ua: "fabric8-kubernetes-client/6.13.4",
        min: 4,
        max: 30,
        calls: &[
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "orders",
                "orders-worker-leader",
                "",
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "orders",
                "orders-worker-leader",
                "",
            ),
            ("get", "", "configmaps", "orders", "orders-worker", ""),
        ],
    },
    Deploy {
        ns: "web",
        name: "storefront",
        ua: "storefront/2.31.0 (linux/amd64) kubernetes-client-node/1.0.0",
        min: 8,
        max: 60,
        calls: &[("get", "", "configmaps", "web", "storefront-flags", "")],
    },
    Deploy {
        ns: "search",
        name: "search-indexer",
        ua: "search-indexer/0.9.3 (linux/amd64) kubernetes-client-go",
        min: 2,
        max: 10,
        calls: &[
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "search",
                "indexer-leader",
                "",
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "search",
                "indexer-leader",
                "",
            ),
            ("list", "", "endpoints", "search", "", ""),
        ],
    },
    Deploy {
        ns: "monitoring",
        name: "loki",
        ua: "loki/3.4.2 (linux/amd64) kubernetes-client-go",
        min: 3,
        max: 3,
        calls: &[("get", "", "configmaps", "monitoring", "loki-runtime", "")],
    },
    Deploy {
        ns: "argocd",
        name: "argocd-application-controller",
        ua: "argocd-application-controller/v2.14.2+ad27246 (linux/amd64) kubernetes/$Format",
        min: 1,
        max: 1,
        calls: &[
            ("watch", "apps", "deployments", "", "", ""),
            ("list", "", "pods", "", "", ""),
            (
                "patch",
                "argoproj.io",
                "applications",
                "argocd",
                "storefront",
                "",
            ),
            (
                "patch",
                "argoproj.io",
                "applications",
                "argocd",
                "payments-api",
                "",
            ),
            ("get", "", "secrets", "argocd", "cluster-corp-prod", ""),
        ],
    },
    Deploy {
        ns: "argocd",
        name: "argocd-server",
        ua: "argocd-server/v2.14.2+ad27246 (linux/amd64) kubernetes/$Format",
        min: 2,
        max: 2,
        calls: &[
            (
                "get",
                "argoproj.io",
                "applications",
                "argocd",
                "orders-worker",
                "",
            ),
            ("list", "argoproj.io", "applications", "argocd", "", ""),
            ("get", "", "configmaps", "argocd", "argocd-cm", ""),
        ],
    },
    Deploy {
        ns: "cert-manager",
        name: "cert-manager",
        ua: "cert-manager-controller/v1.17.1 (linux/amd64) cert-manager/leader-election",
        min: 1,
        max: 1,
        calls: &[
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "cert-manager-controller",
                "",
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "cert-manager-controller",
                "",
            ),
            ("list", "cert-manager.io", "certificates", "", "", ""),
        ],
    },
    Deploy {
        ns: "kube-system",
        name: "external-dns",
        ua: "external-dns/v0.15.1 (linux/amd64) kubernetes-client-go",
        min: 1,
        max: 1,
        calls: &[
            ("list", "", "services", "", "", ""),
            ("list", "networking.k8s.io", "ingresses", "", "", ""),
        ],
    },
    Deploy {
        ns: "monitoring",
        name: "prometheus-k8s",
        ua: "Prometheus/3.2.1",
        min: 2,
        max: 2,
        calls: &[
            ("list", "", "endpoints", "payments", "", ""),
            ("list", "", "pods", "orders", "", ""),
            ("watch", "", "services", "monitoring", "", ""),
            ("list", "", "endpoints", "web", "", ""),
        ],
    },
    Deploy {
        ns: "karpenter",
        name: "karpenter",
        ua: "karpenter/v1.3.1 (linux/amd64) kubernetes-client-go",
        min: 2,
        max: 2,
        calls: &[
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "karpenter-leader-election",
                "",
            ),
            (
                "update",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "karpenter-leader-election",
                "",
            ),
            ("list", "karpenter.sh", "nodeclaims", "", "", ""),
            ("watch", "", "nodes", "", "", ""),
        ],
    },
    Deploy {
        ns: "kube-system",
        name: "aws-load-balancer-controller",
        ua: "aws-load-balancer-controller/v2.11.0 (linux/amd64) kubernetes-client-go",
        min: 2,
        max: 2,
        calls: &[
            (
                "get",
                "coordination.k8s.io",
                "leases",
                "kube-system",
                "aws-load-balancer-controller-leader",
                "",
            ),
            ("list", "elbv2.k8s.aws", "targetgroupbindings", "", "", ""),
            ("watch", "networking.k8s.io", "ingresses", "", "", ""),
        ],
    },
    Deploy {
        ns: "kube-system",
        name: "coredns",
        ua: "coredns/v1.11.4 (linux/amd64) kubernetes-client-go",
        min: 2,
        max: 2,
        calls: &[
            ("watch", "discovery.k8s.io", "endpointslices", "", "", ""),
            ("watch", "", "services", "", "", ""),
            ("watch", "", "namespaces", "", "", ""),
        ],
    },
];

/// Application deployments (the first five) and cluster add-ons (the rest).
const APPS: usize = 5;

fn deploy(ns: &str, name: &str) -> &'static Deploy {
    DEPLOYS
        .iter()
        .find(|d| d.ns == ns && d.name == name)
        .expect("a known deployment")
}

fn replicas(d: &Deploy, org: &Org, t: i64) -> u64 {
    let a = org.active[hour_of(t)];
    d.min + ((d.max - d.min) as f64 * a).round() as u64
}

/// A pod of `d`: stable hash, name, address and node.
fn pod(d: &Deploy, k: u64) -> (u64, String, String, u64) {
    let x = h2(hs(d.ns) ^ hs(d.name), k);
    // stateful sets are numbered; deployments get a replica-set hash and a pod suffix
    let name = if matches!(
        d.name,
        "argocd-application-controller" | "prometheus-k8s" | "loki"
    ) {
        format!("{}-{k}", d.name)
    } else {
        let mut n = format!("{}-", d.name);
        digits(&mut n, B36, hs(d.name), hs(d.ns), 10);
        n.push('-');
        digits(&mut n, B36, x, x >> 30, 5);
        n
    };
    (x, name, cluster_ip(x), x % NODES)
}

/// A pod of deployment `ns/name` running at `t`: its hash and address (for IRSA sessions).
fn irsa_pod(ns: &str, name: &str, rng: &mut Rng, org: &Org, t: i64) -> (u64, String) {
    let d = deploy(ns, name);
    let (x, _, ip, _) = pod(d, rng.below(replicas(d, org, t)));
    (x, ip)
}

fn node(k: u64) -> (String, String) {
    let (a, b) = (1 + k % 8, 10 + h2(0x0de, k) % 240);
    (
        format!("ip-10-0-{a}-{b}.ec2.internal"),
        format!("10.0.{a}.{b}"),
    )
}

fn k8s_uid(x: u64) -> String {
    uuid_s(h2(x, 0x51d), h2(x, 0x51e))
}

fn sa_user(ns: &str, sa: &str, jti: Option<u64>, pod: Option<(&str, u64, u64)>) -> String {
    let mut s = format!(
        r#"{{"username":"system:serviceaccount:{ns}:{sa}","uid":"{}","groups":["system:serviceaccounts","system:serviceaccounts:{ns}","system:authenticated"]"#,
        k8s_uid(hs(ns) ^ hs(sa))
    );
    if let Some(j) = jti {
        let _ = write!(
            s,
            r#","extra":{{"authentication.kubernetes.io/credential-id":["JTI={}"]"#,
            uuid_s(j, mix(j))
        );
        if let Some((pod_name, x, n)) = pod {
            let (node_name, _) = node(n);
            let _ = write!(
                s,
                r#","authentication.kubernetes.io/node-name":["{node_name}"],"authentication.kubernetes.io/node-uid":["{}"],"authentication.kubernetes.io/pod-name":["{pod_name}"],"authentication.kubernetes.io/pod-uid":["{}"]"#,
                k8s_uid(n ^ 0x40de),
                k8s_uid(x)
            );
        }
        s.push('}');
    }
    s.push('}');
    s
}

fn x509(x: u64) -> String {
    let mut s = String::from("X509SHA256=");
    for i in 0..4 {
        let _ = write!(s, "{:016x}", h2(x, 0x509 + i));
    }
    s
}

#[derive(Clone, Copy, PartialEq)]
enum Stages {
    /// one `ResponseComplete` record
    Complete,
    /// `RequestReceived`, then `ResponseComplete` (an exec, a long request)
    Received,
    /// `ResponseStarted`, then `ResponseComplete` (a watch)
    Started,
}

fn api_version(group: &str) -> &'static str {
    match group {
        ""
        | "apps"
        | "coordination.k8s.io"
        | "networking.k8s.io"
        | "discovery.k8s.io"
        | "cert-manager.io"
        | "karpenter.sh"
        | "rbac.authorization.k8s.io" => "v1",
        "argoproj.io" => "v1alpha1",
        _ => "v1beta1",
    }
}

struct K8sReq<'a> {
    user: &'a str,
    ip: &'a str,
    ua: &'a str,
    call: K8sCall<'a>,
    code: u16,
    reason: &'a str,
    /// more annotations (the legacy-token ones), each starting with a comma
    annotations: &'a str,
    stages: Stages,
}

fn k8s_push(out: &mut Out, rng: &mut Rng, t: i64, r: &K8sReq) {
    let (verb, group, resource, ns, name, sub) = r.call;
    let version = api_version(group);
    let mut uri = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/{version}")
    };
    if !ns.is_empty() {
        let _ = write!(uri, "/namespaces/{ns}");
    }
    if resource.starts_with('/') {
        uri = resource.to_string();
    } else {
        let _ = write!(uri, "/{resource}");
    }
    if !name.is_empty() {
        let _ = write!(uri, "/{name}");
    }
    if !sub.is_empty() {
        let _ = write!(uri, "/{sub}");
    }
    match verb {
        "list" => uri.push_str("?limit=500"),
        "watch" => {
            let _ = write!(
                uri,
                "?allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}&watch=true",
                48_000_000 + rng.below(2_000_000),
                300 + rng.below(300)
            );
        }
        _ => {}
    }
    if sub == "exec" {
        uri.push_str("?command=sh&container=app&stdin=true&stdout=true&tty=true");
    }
    let mut id = String::with_capacity(36);
    out.id(&mut id, IdShape::Uuid4);
    let sub_us = rng.below(1000);
    let latency = match (verb, r.stages) {
        ("watch", _) => (300 + rng.below(300) as i64) * 1000,
        (_, Stages::Received) => 2_000 + rng.below(600_000) as i64,
        _ => 1 + rng.below(40) as i64,
    };
    let head = |s: &mut String, stage: &str| {
        let _ = write!(
            s,
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"{uri}","verb":"{}","user":{},"sourceIPs":["{}"],"userAgent":"{}""#,
            if verb == "watch" { "watch" } else { verb },
            r.user,
            r.ip,
            r.ua
        );
        if !resource.starts_with('/') {
            let _ = write!(s, r#","objectRef":{{"resource":"{resource}""#);
            if !ns.is_empty() {
                let _ = write!(s, r#","namespace":"{ns}""#);
            }
            if !name.is_empty() {
                let _ = write!(s, r#","name":"{name}""#);
            }
            if !group.is_empty() {
                let _ = write!(s, r#","apiGroup":"{group}""#);
            }
            let _ = write!(s, r#","apiVersion":"{version}""#);
            if !sub.is_empty() {
                let _ = write!(s, r#","subresource":"{sub}""#);
            }
            s.push('}');
        }
    };
    let complete = |s: &mut String, stage: &str, after: i64| {
        head(s, stage);
        if r.code >= 400 {
            let (status_reason, message) = match r.code {
                403 => ("Forbidden", format!("{resource} is forbidden")),
                404 => ("NotFound", format!("{resource} \\\"{name}\\\" not found")),
                _ => ("Conflict", "the object has been modified".to_string()),
            };
            let _ = write!(
                s,
                r#","responseStatus":{{"metadata":{{}},"status":"Failure","message":"{message}","reason":"{status_reason}","code":{}}}"#,
                r.code
            );
        } else {
            let _ = write!(
                s,
                r#","responseStatus":{{"metadata":{{}},"code":{}}}"#,
                r.code
            );
        }
        s.push_str(r#","requestReceivedTimestamp":""#);
        ts_us(s, t, sub_us);
        s.push_str(r#"","stageTimestamp":""#);
        ts_us(s, t + after, (sub_us + 337) % 1000);
        let decision = if r.code == 403 { "forbid" } else { "allow" };
        let _ = write!(
            s,
            r#"","annotations":{{"authorization.k8s.io/decision":"{decision}","authorization.k8s.io/reason":"{}"{}}}}}"#,
            r.reason, r.annotations
        );
    };
    match r.stages {
        Stages::Complete => {
            let mut s = String::with_capacity(1200);
            complete(&mut s, "ResponseComplete", latency);
            out.push(t, Rec::Event, s);
        }
        Stages::Received => {
            let mut s = String::with_capacity(1000);
            head(&mut s, "RequestReceived");
            s.push_str(r#","requestReceivedTimestamp":""#);
            ts_us(&mut s, t, sub_us);
            s.push_str(r#"","stageTimestamp":""#);
            ts_us(&mut s, t, sub_us);
            s.push_str("\"}");
            out.push(t, Rec::Provisional, s);
            let mut s = String::with_capacity(1200);
            complete(&mut s, "ResponseComplete", latency);
            out.push(t, Rec::Event, s);
        }
        Stages::Started => {
            let mut s = String::with_capacity(1200);
            complete(&mut s, "ResponseStarted", 2);
            out.push(t, Rec::Event, s);
            let mut s = String::with_capacity(1200);
            complete(&mut s, "ResponseComplete", latency);
            out.push(t, Rec::Duplicate, s);
        }
    }
}

fn rbac(kind: &str, binding: &str, role: &str, subject: &str) -> String {
    format!(r#"RBAC: allowed by {kind} \"{binding}\" of ClusterRole \"{role}\" to {subject}"#)
}

/// The control plane (EKS-managed, its ENIs in the VPC), kubelets, add-ons and apps, the CI
/// deploy job and people.
fn k8s_service(out: &mut Out, rng: &mut Rng, t: i64, org: &Org) {
    let hour = (t / HOUR) as u64;
    let control_ip = format!("10.0.0.{}", 11 + rng.below(3));
    let component = |c: &str| format!("{c}/{K8S_VERSION} (linux/amd64) kubernetes/67a30c0");
    match rng.weighted(&[20, 6, 9, 3, 5, 27, 18, 3, 1]) {
        0 => {
            // kubelet: node status and lease, its pods' config and tokens
            let n = rng.below(NODES);
            let (name, ip) = node(n);
            let user = format!(
                r#"{{"username":"system:node:{name}","groups":["system:nodes","system:authenticated"],"extra":{{"authentication.kubernetes.io/credential-id":["{}"]}}}}"#,
                x509(n)
            );
            let d = &DEPLOYS[rng.below(DEPLOYS.len() as u64) as usize];
            let (_, pod_name, ..) = pod(d, rng.below(d.max));
            let calls: [K8sCall; 6] = [
                ("patch", "", "nodes", "", &name, "status"),
                (
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    "kube-node-lease",
                    &name,
                    "",
                ),
                (
                    "get",
                    "coordination.k8s.io",
                    "leases",
                    "kube-node-lease",
                    &name,
                    "",
                ),
                ("get", "", "configmaps", d.ns, "kube-root-ca.crt", ""),
                ("create", "", "serviceaccounts", d.ns, d.name, "token"),
                ("patch", "", "pods", d.ns, &pod_name, "status"),
            ];
            let call = *rng.pick(&calls);
            let code = if call.0 == "create" { 201 } else { 200 };
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: &ip,
                    ua: &component("kubelet"),
                    call,
                    code,
                    reason: "",
                    annotations: "",
                    stages: Stages::Complete,
                },
            );
        }
        1 => {
            let user = format!(
                r#"{{"username":"system:kube-controller-manager","groups":["system:authenticated"],"extra":{{"authentication.kubernetes.io/credential-id":["{}"]}}}}"#,
                x509(0xc0)
            );
            let call = *rng.pick(&[
                (
                    "get",
                    "coordination.k8s.io",
                    "leases",
                    "kube-system",
                    "kube-controller-manager",
                    "",
                ),
                (
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    "kube-system",
                    "kube-controller-manager",
                    "",
                ),
            ]);
            let reason = rbac(
                "ClusterRoleBinding",
                "system:kube-controller-manager",
                "system:kube-controller-manager",
                "User \\\"system:kube-controller-manager\\\"",
            );
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: &control_ip,
                    ua: &format!("{}/leader-election", component("kube-controller-manager")),
                    call,
                    code: 200,
                    reason: &reason,
                    annotations: "",
                    stages: Stages::Complete,
                },
            );
        }
        2 => {
            // controllers run with their own service-account tokens (no pod: the control plane)
            let &(sa, call) = rng.pick(&[
                (
                    "replicaset-controller",
                    (
                        "update",
                        "apps",
                        "replicasets",
                        "payments",
                        "payments-api-6d9f7c5b8d",
                        "status",
                    ),
                ),
                (
                    "deployment-controller",
                    (
                        "update",
                        "apps",
                        "deployments",
                        "orders",
                        "orders-worker",
                        "status",
                    ),
                ),
                (
                    "endpointslice-controller",
                    (
                        "update",
                        "discovery.k8s.io",
                        "endpointslices",
                        "web",
                        "storefront-x7f2k",
                        "",
                    ),
                ),
                (
                    "horizontal-pod-autoscaler",
                    ("get", "apps", "deployments", "web", "storefront", "scale"),
                ),
                (
                    "generic-garbage-collector",
                    ("list", "", "pods", "", "", ""),
                ),
                (
                    "namespace-controller",
                    ("list", "", "namespaces", "", "", ""),
                ),
                (
                    "replicaset-controller",
                    ("create", "", "pods", "storefront", "", ""),
                ),
            ]);
            let user = sa_user("kube-system", sa, Some(h3(hs(sa), hour, 0x71)), None);
            let reason = rbac(
                "ClusterRoleBinding",
                &format!("system:controller:{sa}"),
                &format!("system:controller:{sa}"),
                &format!("ServiceAccount \\\"{sa}/kube-system\\\""),
            );
            let code = if call.0 == "create" { 201 } else { 200 };
            let ua = format!(
                "{}/system:serviceaccount:kube-system:{sa}",
                component("kube-controller-manager")
            );
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: &control_ip,
                    ua: &ua,
                    call,
                    code,
                    reason: &reason,
                    annotations: "",
                    stages: Stages::Complete,
                },
            );
        }
        3 => {
            let user = format!(
                r#"{{"username":"system:kube-scheduler","groups":["system:authenticated"],"extra":{{"authentication.kubernetes.io/credential-id":["{}"]}}}}"#,
                x509(0x5c)
            );
            let d = &DEPLOYS[rng.below(APPS as u64) as usize];
            let (_, pod_name, ..) = pod(d, rng.below(d.max));
            let call = *rng.pick(&[
                ("create", "", "pods", d.ns, pod_name.as_str(), "binding"),
                (
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    "kube-system",
                    "kube-scheduler",
                    "",
                ),
            ]);
            let code = if call.0 == "create" { 201 } else { 200 };
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: "127.0.0.1",
                    ua: &format!("{}/scheduler", component("kube-scheduler")),
                    call,
                    code,
                    reason: "",
                    annotations: "",
                    stages: Stages::Complete,
                },
            );
        }
        4 => {
            // the API server's own loopback client: system:masters, no credential, ::1
            let user = format!(
                r#"{{"username":"system:apiserver","uid":"{}","groups":["system:authenticated","system:masters"]}}"#,
                k8s_uid(0xa915)
            );
            let call = *rng.pick(&[
                ("list", "apiregistration.k8s.io", "apiservices", "", "", ""),
                (
                    "watch",
                    "flowcontrol.apiserver.k8s.io",
                    "flowschemas",
                    "",
                    "",
                    "",
                ),
                (
                    "get",
                    "",
                    "configmaps",
                    "kube-system",
                    "extension-apiserver-authentication",
                    "",
                ),
                (
                    "update",
                    "coordination.k8s.io",
                    "leases",
                    "kube-system",
                    "apiserver-vx3jnlxaoadwdfzsb6bzchkzu4",
                    "",
                ),
                ("list", "", "resourcequotas", "", "", ""),
            ]);
            let stages = if call.0 == "watch" {
                Stages::Started
            } else {
                Stages::Complete
            };
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: "::1",
                    ua: &component("kube-apiserver"),
                    call,
                    code: 200,
                    reason: "",
                    annotations: "",
                    stages,
                },
            );
        }
        5 | 6 => {
            let d = if rng.below(45) < 27 {
                &DEPLOYS[APPS + rng.below((DEPLOYS.len() - APPS) as u64) as usize]
            } else {
                &DEPLOYS[rng.below(APPS as u64) as usize]
            };
            let k = rng.below(replicas(d, org, t));
            let (x, pod_name, ip, n) = pod(d, k);
            // bound tokens, refreshed by the kubelet about hourly: one per pod and hour
            let user = sa_user(
                d.ns,
                d.name,
                Some(h3(x, hour, 0x7a)),
                Some((&pod_name, x, n)),
            );
            let call = *rng.pick(d.calls);
            let reason = rbac(
                "ClusterRoleBinding",
                d.name,
                d.name,
                &format!("ServiceAccount \\\"{}/{}\\\"", d.name, d.ns),
            );
            let stages = if call.0 == "watch" && rng.chance(0.5) {
                Stages::Started
            } else {
                Stages::Complete
            };
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: &ip,
                    ua: d.ua,
                    call,
                    code: 200,
                    reason: &reason,
                    annotations: "",
                    stages,
                },
            );
        }
        7 => {
            // the CI deploy job: kubectl with the deployer's legacy token, from the runner pool only
            let job = h2(0xde9, (t / (6 * MIN)) as u64);
            let ip = ci_ip_of(job);
            let user = sa_user("ci", "deployer", None, None);
            let (ns, name) = *rng.pick(&[
                ("payments", "payments-api"),
                ("orders", "orders-worker"),
                ("web", "storefront"),
                ("search", "search-indexer"),
            ]);
            let call = *rng.pick(&[
                ("get", "apps", "deployments", ns, name, ""),
                ("patch", "apps", "deployments", ns, name, ""),
                ("watch", "apps", "deployments", ns, "", ""),
                ("list", "apps", "replicasets", ns, "", ""),
                ("list", "", "pods", ns, "", ""),
            ]);
            let reason = rbac(
                "RoleBinding",
                &format!("deployer/{ns}"),
                "edit",
                "ServiceAccount \\\"deployer/ci\\\"",
            );
            let stages = if call.0 == "watch" {
                Stages::Started
            } else {
                Stages::Complete
            };
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user: &user,
                    ip: &ip,
                    ua: "kubectl/v1.32.2 (linux/amd64) kubernetes/67a30c0",
                    call,
                    code: 200,
                    reason: &reason,
                    annotations: r#","authentication.k8s.io/legacy-token":"system:serviceaccount:ci:deployer","authentication.k8s.io/legacy-token-autogenerated-secret":"deployer-token-x7k2p""#,
                    stages,
                },
            );
        }
        _ => {
            // load balancer health checks of the API endpoint
            let user = r#"{"username":"system:anonymous","groups":["system:unauthenticated"]}"#;
            let path = *rng.pick(&["/livez", "/readyz", "/version"]);
            let reason = r#"RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"system:unauthenticated\""#;
            let ip = format!("10.0.{}.{}", 1 + rng.below(3), 4 + rng.below(200));
            k8s_push(
                out,
                rng,
                t,
                &K8sReq {
                    user,
                    ip: &ip,
                    ua: "ELB-HealthChecker/2.0",
                    call: ("get", "", path, "", "", ""),
                    code: 200,
                    reason,
                    annotations: "",
                    stages: Stages::Complete,
                },
            );
        }
    }
}

fn k8s_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let team = h.team();
    let ns = *rng.pick(team.namespaces);
    let hour = (t / HOUR) as u64;
    let ip = h.ip(&seg);
    let user = format!(
        r#"{{"username":"oidc:{}","groups":["oidc:{}","system:authenticated"],"extra":{{"authentication.kubernetes.io/credential-id":["JTI={}"]}}}}"#,
        h.email,
        team.name,
        uuid_s(h3(h.uid, seg.id, hour), h.uid)
    );
    let d = DEPLOYS.iter().find(|d| d.ns == ns);
    let pod_name = match d {
        Some(d) => pod(d, rng.below(d.min)).1,
        None => "debug-shell".to_string(),
    };
    let pod_name = pod_name.as_str();
    let deploy_name = d.map_or("debug-shell", |d| d.name);
    let (call, stages): (K8sCall, Stages) = match rng.below(20) {
        0..=5 => (("list", "", "pods", ns, "", ""), Stages::Complete),
        6..=8 => (("get", "", "pods", ns, pod_name, "log"), Stages::Received),
        9..=10 => (
            ("get", "apps", "deployments", ns, deploy_name, ""),
            Stages::Complete,
        ),
        11..=12 => (("list", "", "events", ns, "", ""), Stages::Complete),
        13 => (
            ("create", "", "pods", ns, pod_name, "exec"),
            Stages::Received,
        ),
        14 => (
            ("create", "", "pods", ns, pod_name, "portforward"),
            Stages::Received,
        ),
        15 => (
            ("get", "", "configmaps", ns, "kube-root-ca.crt", ""),
            Stages::Complete,
        ),
        16 => (("watch", "", "pods", ns, "", ""), Stages::Complete),
        17 => (
            ("list", "apps", "deployments", ns, "", ""),
            Stages::Complete,
        ),
        _ => (("get", "", "pods", ns, pod_name, ""), Stages::Complete),
    };
    let stages = if stages == Stages::Complete && rng.chance(0.05) {
        Stages::Received
    } else {
        stages
    };
    let r = rng.below(1000);
    let (call, code) = if r < 8 {
        (("get", "", "secrets", ns, "default-token", ""), 403)
    } else if r < 12 && !call.4.is_empty() {
        (call, 404)
    } else {
        (
            call,
            match call.5 {
                "exec" | "portforward" => 101,
                _ => 200,
            },
        )
    };
    let reason = if code == 403 {
        String::new()
    } else {
        rbac(
            "RoleBinding",
            &format!("{}/{ns}", team.name),
            "edit",
            &format!("Group \\\"oidc:{}\\\"", team.name),
        )
    };
    k8s_push(
        out,
        rng,
        t,
        &K8sReq {
            user: &user,
            ip: &ip,
            ua: h.kubectl(),
            call,
            code,
            reason: &reason,
            annotations: "",
            stages,
        },
    );
}

fn kubernetes(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 1, h2(seed, 200))?;
    let mut rng = Rng::new(mix(h2(seed, 2)));
    let (curve, p_human) = org.curve(0.08, true);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, true) {
                if !h.team().namespaces.is_empty() {
                    return k8s_human(out, rng, t, h, seg);
                }
            }
        }
        k8s_service(out, rng, t, org)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// GitHub Enterprise Cloud audit log (streaming to S3)

const SHARED_REPOS: &[&str] = &[".github", "ci-templates", "docs", "release-tools"];

fn gh_head(out: &mut Out, s: &mut String, t: i64, action: &str, actor: &str, actor_id: u64) {
    let _ = write!(s, r#"{{"@timestamp":{},"_document_id":""#, epoch_ms(t));
    out.id(s, IdShape::Doc);
    let _ = write!(
        s,
        r#"","action":"{action}","actor":"{actor}","actor_id":{actor_id},"business":"{GH_BUSINESS}","business_id":4021,"org":"{GH_ORG}","org_id":71230455"#
    );
}

fn gh_location(s: &mut String, ip: Option<&str>, place: &Place) {
    match ip {
        Some(ip) => {
            let _ = write!(
                s,
                r#","actor_ip":"{ip}","actor_location":{{"country_code":"{}","country_name":"{}","region_name":"{}","city":"{}"}}"#,
                place.cc, place.country, place.region, place.city
            );
        }
        None => s.push_str(r#","actor_ip":null,"actor_location":null"#),
    }
}

fn gh_tail(out: &mut Out, s: &mut String, t: i64) {
    let _ = write!(s, r#","created_at":{}}}"#, epoch_ms(t));
    out.push(t, Rec::Event, std::mem::take(s));
}

fn gh_repo(s: &mut String, repo: &str) {
    let _ = write!(
        s,
        r#","repo":"{GH_ORG}/{repo}","repository":"{GH_ORG}/{repo}","repository_public":false"#
    );
}

fn gh_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let team = h.team();
    let ip = h.ip(&seg);
    let place = if seg.net == Net::Home {
        h.geo
    } else {
        OFFICE_PLACE
    };
    let actor_id = 5_000_000 + h.uid % 90_000_000;
    let repo = if rng.chance(0.85) {
        rng.pick(team.repos)
    } else {
        *rng.pick(SHARED_REPOS)
    };
    let mut s = String::with_capacity(900);
    let git = rng.chance(0.55);
    if git && seg.net == h.primary {
        // git over SSH with the person's key, or a fine-grained PAT in a script; long-lived
        // credentials are used from one place only
        let action = *rng.pick(&[
            "git.clone",
            "git.fetch",
            "git.fetch",
            "git.fetch",
            "git.push",
        ]);
        gh_head(out, &mut s, t, action, &h.gh, actor_id);
        gh_location(&mut s, Some(&ip), place);
        gh_repo(&mut s, repo);
        if h.fg_pat && action != "git.push" && rng.chance(0.3) {
            let _ = write!(
                s,
                r#","hashed_token":"{}","programmatic_access_type":"Fine-grained personal access token","token_id":{},"token_scopes":"","transport_protocol":1,"transport_protocol_name":"http","user_agent":"{}""#,
                sha256_b64(h2(h.uid, 0xf9)),
                7_000_000 + h.uid % 1_000_000,
                h.git()
            );
        } else {
            let _ = write!(
                s,
                r#","programmatic_access_type":"Public Key (User/Deploy)","public_key_fingerprint":"{}","transport_protocol":2,"transport_protocol_name":"ssh","user_agent":"{}""#,
                h.ssh_fingerprint(),
                h.ssh()
            );
        }
        return gh_tail(out, &mut s, t);
    }
    // the web UI: a browser session, no token
    let action = *rng.pick(&[
        "pull_request.create",
        "pull_request_review.submit",
        "pull_request_review.submit",
        "pull_request_review_comment.create",
        "pull_request.merge",
        "workflows.created_workflow_run",
        "repo.download_zip",
        "issue_comment.update",
    ]);
    gh_head(out, &mut s, t, action, &h.gh, actor_id);
    gh_location(&mut s, Some(&ip), place);
    gh_repo(&mut s, repo);
    if action.starts_with("pull_request") {
        let _ = write!(
            s,
            r#","pull_request_id":{},"pull_request_url":"https://github.com/{GH_ORG}/{repo}/pull/{}""#,
            2_400_000 + rng.below(90_000),
            100 + rng.below(4000)
        );
    }
    let _ = write!(
        s,
        r#","operation_type":"create","user_agent":"{}""#,
        h.browser()
    );
    gh_tail(out, &mut s, t)
}

fn gh_service(out: &mut Out, rng: &mut Rng, t: i64, org: &Org) {
    let mut s = String::with_capacity(900);
    let all_repos = |rng: &mut Rng| -> &'static str {
        let team = &TEAMS[rng.below(9) as usize];
        team.repos[rng.below(team.repos.len() as u64) as usize]
    };
    match rng.weighted(&[45, 10, 6, 8, 6]) {
        0 => {
            // actions/checkout on the self-hosted runner pool: one installation token per job
            let job = h2(0xac7, (t / (4 * MIN)) as u64 ^ rng.below(24) << 40);
            let ip = ci_ip_of(job);
            let action = *rng.pick(&["git.clone", "git.fetch"]);
            gh_head(out, &mut s, t, action, "github-actions[bot]", 41_898_282);
            gh_location(&mut s, Some(&ip), OFFICE_PLACE);
            gh_repo(&mut s, all_repos(rng));
            let _ = write!(
                s,
                r#","actor_is_bot":true,"hashed_token":"{}","programmatic_access_type":"GitHub App server-to-server token","token_id":0,"transport_protocol":1,"transport_protocol_name":"http","user_agent":"git/2.48.1""#,
                sha256_b64(job)
            );
            gh_tail(out, &mut s, t)
        }
        1 => {
            // a workflow run finishing: the person who triggered it, no address
            let Some((h, _)) = org.pick(rng, t, true) else {
                return gh_service(out, rng, t, org);
            };
            if h.team().repos.is_empty() {
                return gh_service(out, rng, t, org);
            }
            gh_head(
                out,
                &mut s,
                t,
                "workflows.completed_workflow_run",
                &h.gh,
                5_000_000 + h.uid % 90_000_000,
            );
            gh_location(&mut s, None, OFFICE_PLACE);
            let repo = *rng.pick(h.team().repos);
            gh_repo(&mut s, repo);
            let _ = write!(
                s,
                r#","workflow_id":{},"workflow_run_id":{},"conclusion":"{}","event":"pull_request","head_branch":"{}-{}","operation_type":"modify""#,
                90_000_000 + rng.below(1000),
                13_000_000_000 + rng.below(1_000_000_000),
                rng.pick(&["success", "success", "success", "failure"]),
                h.first,
                rng.below(1000)
            );
            gh_tail(out, &mut s, t)
        }
        2 => {
            // Dependabot: its own app token, GitHub's own infrastructure
            let run = h2(0xdeb, rng.below(200));
            let push = rng.chance(0.6);
            gh_head(
                out,
                &mut s,
                t,
                if push {
                    "git.push"
                } else {
                    "pull_request.create"
                },
                "dependabot[bot]",
                49_699_333,
            );
            gh_location(&mut s, None, OFFICE_PLACE);
            gh_repo(&mut s, all_repos(rng));
            s.push_str(r#","actor_is_bot":true"#);
            if push {
                let _ = write!(
                    s,
                    r#","hashed_token":"{}","programmatic_access_type":"GitHub App server-to-server token","token_id":0,"transport_protocol":1,"transport_protocol_name":"http","user_agent":"dependabot-core/0.300.0 excon/1.2.3 ruby/3.3.7 (x86_64-linux)""#,
                    sha256_b64(run)
                );
            }
            gh_tail(out, &mut s, t)
        }
        3 => {
            // the release machine user's classic PAT, only from the build host in the datacenter
            let (action, repo) = *rng.pick(&[
                ("git.fetch", "release-tools"),
                ("git.fetch", "mobile-release"),
                ("git.clone", "payments-api"),
                ("git.fetch", "storefront"),
                ("git.push", "release-tools"),
            ]);
            gh_head(out, &mut s, t, action, "corp-release-bot", 118_220_431);
            gh_location(&mut s, Some("192.0.2.30"), OFFICE_PLACE);
            gh_repo(&mut s, repo);
            let _ = write!(
                s,
                r#","hashed_token":"{}","programmatic_access_type":"Personal access token (classic)","token_id":8801234,"token_scopes":"repo,read:packages","transport_protocol":1,"transport_protocol_name":"http","user_agent":"git/2.39.5""#,
                sha256_b64(0x7e1ea5e)
            );
            gh_tail(out, &mut s, t)
        }
        _ => {
            // the configuration-management server pulls the playbooks with a read-only deploy key
            gh_head(out, &mut s, t, "git.fetch", "deploy_key", 0);
            gh_location(&mut s, Some("192.0.2.55"), OFFICE_PLACE);
            gh_repo(&mut s, "infra-ansible");
            s.push_str(r#","programmatic_access_type":"Public Key (User/Deploy)","deploy_key_fingerprint":"SHA256:Rk2Vd0mZpQ5xW3tJ7nB1cF4hL6sG9yA2eU5iO8rT0wE","transport_protocol":2,"transport_protocol_name":"ssh","user_agent":"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10""#);
            gh_tail(out, &mut s, t)
        }
    }
}

fn github(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 2, h2(seed, 300))?;
    let mut rng = Rng::new(mix(h2(seed, 3)));
    let (curve, p_human) = org.curve(0.5, true);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, true) {
                if !h.team().repos.is_empty() {
                    return gh_human(out, rng, t, h, seg);
                }
            }
        }
        gh_service(out, rng, t, org)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// Okta System Log

/// Apps people sign in to through Okta: display name, app instance id, who uses it.
const OKTA_APPS: &[(&str, &str, bool)] = &[
    ("AWS IAM Identity Center", "0oa1aws2sso3ic4corp5d7", true),
    (
        "GitHub Enterprise Managed User",
        "0oa9git8hub7emu6corp5",
        true,
    ),
    ("Slack", "0oa2slk3corp4x5y6z7a8", false),
    ("Google Workspace", "0oa3gws4corp5b6c7d8e9", false),
    ("Zoom", "0oa4zm5corp6f7g8h9i0j", false),
    ("Atlassian Cloud", "0oa5atl6corp7k8l9m0n1", false),
    ("Microsoft Office 365", "0oa6o365corp8p9q0r1s2", false),
    ("Workday", "0oa7wd8corp9t0u1v2w3x", false),
    ("Vault", "0oa8vlt9corp0y1z2a3b4", true),
    ("Kubernetes (corp-prod)", "0oa0k8s1corp2c3d4e5f6", true),
];

/// Documentation ASNs (RFC 5398) for the access networks.
fn asn_of(net: Net, h: &Human) -> (u64, &'static str) {
    match net {
        Net::Office | Net::Vpn => (64_496, "corp-example transit"),
        Net::Home => (64_497 + h.uid % 14, "example broadband"),
    }
}

struct OktaEvent<'a> {
    actor_id: &'a str,
    actor_type: &'a str,
    actor_alt: &'a str,
    actor_display: &'a str,
    ip: Option<&'a str>,
    ua: &'a str,
    place: Option<&'a Place>,
    session: &'a str,
    event_type: &'a str,
    display: &'a str,
    result: &'a str,
    reason: &'a str,
    api_token: Option<&'a str>,
    /// `target` JSON
    target: &'a str,
    asn: (u64, &'a str),
    credential_type: &'a str,
}

fn okta_push(out: &mut Out, rng: &mut Rng, t: i64, e: &OktaEvent) {
    let mut s = String::with_capacity(2200);
    let _ = write!(
        s,
        r#"{{"actor":{{"id":"{}","type":"{}","alternateId":"{}","displayName":"{}","detailEntry":null}},"client":{{"userAgent":{},"zone":"null","device":"{}","id":null,"ipAddress":"#,
        e.actor_id,
        e.actor_type,
        e.actor_alt,
        e.actor_display,
        if e.ua.is_empty() {
            "null".to_string()
        } else {
            let os = if e.ua.contains("Macintosh") {
                "Mac OS X"
            } else if e.ua.contains("Windows") {
                "Windows 10"
            } else {
                "Linux"
            };
            let browser = if e.ua.contains("Edg/") {
                "EDGE"
            } else if e.ua.contains("Chrome") {
                "CHROME"
            } else if e.ua.contains("Firefox") {
                "FIREFOX"
            } else if e.ua.contains("Safari") {
                "SAFARI"
            } else {
                "UNKNOWN"
            };
            format!(
                r#"{{"rawUserAgent":"{}","os":"{os}","browser":"{browser}"}}"#,
                e.ua
            )
        },
        if e.ua.starts_with("Mozilla") {
            "Computer"
        } else {
            "Unknown"
        }
    );
    let geo = |s: &mut String| match e.place {
        Some(p) => {
            let _ = write!(
                s,
                r#"{{"city":"{}","state":"{}","country":"{}","postalCode":null,"geolocation":null}}"#,
                p.city, p.region, p.country
            );
        }
        None => s.push_str("null"),
    };
    match e.ip {
        Some(ip) => {
            let _ = write!(s, r#""{ip}","geographicalContext":"#);
            geo(&mut s);
        }
        None => s.push_str(r#"null,"geographicalContext":null"#),
    }
    let _ = write!(
        s,
        r#"}},"device":null,"authenticationContext":{{"authenticationProvider":null,"credentialProvider":null,"credentialType":{},"issuer":null,"interface":null,"authenticationStep":0,"rootSessionId":"{}","externalSessionId":"{}"}},"displayMessage":"{}","eventType":"{}","outcome":{{"result":"{}","reason":{}}},"published":""#,
        if e.credential_type.is_empty() {
            "null".to_string()
        } else {
            format!("\"{}\"", e.credential_type)
        },
        e.session,
        e.session,
        e.display,
        e.event_type,
        e.result,
        if e.reason.is_empty() {
            "null".to_string()
        } else {
            format!("\"{}\"", e.reason)
        },
    );
    ts_ms(&mut s, t);
    if e.asn.0 == 0 {
        s.push_str(r#"","securityContext":{},"#);
    } else {
        let _ = write!(
            s,
            r#"","securityContext":{{"asNumber":{},"asOrg":"{}","isp":"{}","domain":"example.net","isProxy":false}},"#,
            e.asn.0, e.asn.1, e.asn.1
        );
    }
    let _ = write!(
        s,
        r#""severity":"{}","debugContext":{{"debugData":{{"requestId":""#,
        if e.result == "FAILURE" {
            "WARN"
        } else {
            "INFO"
        }
    );
    let mut tx = String::with_capacity(27);
    digits(&mut tx, ALNUM, rng.next(), rng.next(), 24);
    tx.push_str("AAA");
    let _ = write!(
        s,
        r#"{tx}"}}}},"legacyEventType":null,"transaction":{{"type":"WEB","id":"{tx}","detail":{{"#
    );
    if let Some(token) = e.api_token {
        let _ = write!(s, r#""requestApiTokenId":"{token}""#);
    }
    s.push_str(r#"}},"uuid":""#);
    out.id(&mut s, IdShape::Uuid1);
    s.push_str(r#"","version":"0","request":{"ipChain":["#);
    if let Some(ip) = e.ip {
        let _ = write!(s, r#"{{"ip":"{ip}","geographicalContext":"#);
        geo(&mut s);
        let _ = write!(
            s,
            r#","version":"{}","source":null}}"#,
            if ip.contains(':') { "V6" } else { "V4" }
        );
    }
    let _ = write!(s, r#"]}},"target":{}}}"#, e.target);
    out.push(t, Rec::Event, s);
}

fn okta_session(h: &Human, seg: &Seg) -> String {
    let mut s = String::from("102");
    digits(&mut s, ALNUM, h2(h.uid, seg.day), h2(seg.day, 0x0c7a), 22);
    s
}

fn okta_app_target(app: (&str, &str, bool), h: &Human) -> String {
    format!(
        r#"[{{"id":"{}","type":"AppInstance","alternateId":"{}","displayName":"{}","detailEntry":{{"signOnModeType":"SAML_2_0"}}}},{{"id":"0ua{:017x}","type":"AppUser","alternateId":"{}","displayName":"{}","detailEntry":null}}]"#,
        app.1,
        app.0,
        app.0,
        h2(h.uid, hs(app.1)) >> 4,
        h.email,
        h.display
    )
}

/// A person signing in at the start of their local day: policy, password, push, first app.
fn okta_login(out: &mut Out, rng: &mut Rng, h: &Human, seg: &Seg) {
    let ip = h.ip(seg);
    let place = if seg.net == Net::Home {
        h.geo
    } else {
        OFFICE_PLACE
    };
    let id = h.okta_id();
    let session = okta_session(h, seg);
    let t = seg.start + rng.below(90_000) as i64;
    let base = OktaEvent {
        actor_id: &id,
        actor_type: "User",
        actor_alt: &h.email,
        actor_display: &h.display,
        ip: Some(&ip),
        ua: h.browser(),
        place: Some(place),
        session: &session,
        event_type: "policy.evaluate_sign_on",
        display: "Evaluation of sign-on policy",
        result: "ALLOW",
        reason: "Sign-on policy evaluation resulted in ALLOW",
        api_token: None,
        target: r#"[{"id":"00p1ab2cd3ef4GH5ij6k","type":"PolicyEntity","alternateId":"unknown","displayName":"Default Policy","detailEntry":{"policyType":"OktaSignOn"}}]"#,
        asn: asn_of(seg.net, h),
        credential_type: "",
    };
    if rng.chance(0.04) {
        // a mistyped password first: no session yet
        let failed = OktaEvent {
            session: "unknown",
            event_type: "user.session.start",
            display: "User login to Okta",
            result: "FAILURE",
            reason: "INVALID_CREDENTIALS",
            target: "null",
            credential_type: "PASSWORD",
            ..base
        };
        okta_push(out, rng, (t - 20_000).max(0), &failed);
    }
    okta_push(out, rng, t, &base);
    let start = OktaEvent {
        event_type: "user.session.start",
        display: "User login to Okta",
        result: "SUCCESS",
        reason: "",
        target: r#"[{"id":"pfd1a2b3c4d5e6f7g8h9","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Password","detailEntry":null}]"#,
        credential_type: "PASSWORD",
        ..base
    };
    okta_push(out, rng, t + 1_200, &start);
    let mfa = OktaEvent {
        event_type: "user.authentication.auth_via_mfa",
        display: "Authentication of user via MFA",
        result: "SUCCESS",
        reason: "",
        target: r#"[{"id":"opf3k9x2LqRsTuVw0x1y","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Okta Verify","detailEntry":{"methodTypeUsed":"Get a push notification"}}]"#,
        credential_type: "OTP",
        ..base
    };
    let at = t + 7_000 + rng.below(9_000) as i64;
    okta_push(out, rng, at, &mfa);
    let app = OKTA_APPS[if h.eng { 0 } else { 6 }];
    let target = okta_app_target(app, h);
    let sso = OktaEvent {
        event_type: "user.authentication.sso",
        display: "User single sign on to app",
        result: "SUCCESS",
        reason: "",
        target: &target,
        ..base
    };
    let at = t + 20_000 + rng.below(20_000) as i64;
    okta_push(out, rng, at, &sso);
}

fn okta_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let ip = h.ip(&seg);
    let place = if seg.net == Net::Home {
        h.geo
    } else {
        OFFICE_PLACE
    };
    let id = h.okta_id();
    let session = okta_session(h, &seg);
    let app = loop {
        let a = *rng.pick(OKTA_APPS);
        if h.eng || !a.2 {
            break a;
        }
    };
    let target = okta_app_target(app, h);
    let (event_type, display) = *rng.pick(&[
        ("user.authentication.sso", "User single sign on to app"),
        ("user.authentication.sso", "User single sign on to app"),
        ("user.authentication.sso", "User single sign on to app"),
        (
            "app.oauth2.as.authorize.code",
            "OAuth2 authorization code request",
        ),
        ("policy.evaluate_sign_on", "Evaluation of sign-on policy"),
    ]);
    let e = OktaEvent {
        actor_id: &id,
        actor_type: "User",
        actor_alt: &h.email,
        actor_display: &h.display,
        ip: Some(&ip),
        ua: h.browser(),
        place: Some(place),
        session: &session,
        event_type,
        display,
        result: if event_type.starts_with("policy") {
            "ALLOW"
        } else {
            "SUCCESS"
        },
        reason: "",
        api_token: None,
        target: &target,
        asn: asn_of(seg.net, h),
        credential_type: "",
    };
    okta_push(out, rng, t, &e)
}

fn okta_service(out: &mut Out, rng: &mut Rng, t: i64, org: &Org) {
    let hour = (t / HOUR) as u64;
    match rng.weighted(&[50, 30, 20]) {
        0 => {
            // SCIM provisioning from the HR system (Workday) with its SSWS API token, from the
            // integration host in the datacenter; the hour's changes touch a handful of people
            // (at most eight in any sixty minutes)
            let target_human =
                &org.humans[(h2(0x44, hour * 8 + rng.below(4)) % org.humans.len() as u64) as usize];
            let (event_type, display) = *rng.pick(&[
                (
                    "user.account.update_profile",
                    "Update user profile for Okta",
                ),
                ("group.user_membership.add", "Add user to group membership"),
                (
                    "group.user_membership.remove",
                    "Remove user from group membership",
                ),
                (
                    "user.account.update_profile",
                    "Update user profile for Okta",
                ),
            ]);
            let target = format!(
                r#"[{{"id":"{}","type":"User","alternateId":"{}","displayName":"{}","detailEntry":null}},{{"id":"00g1ab2cd3ef4GH5ij6k","type":"UserGroup","alternateId":"unknown","displayName":"{}","detailEntry":null}}]"#,
                target_human.okta_id(),
                target_human.email,
                target_human.display,
                TEAMS[target_human.team].name
            );
            let e = OktaEvent {
                actor_id: "00u2s3v4c5P6r7O8v9i0",
                actor_type: "User",
                actor_alt: "svc-scim@corp.example",
                actor_display: "SCIM Provisioning (Workday)",
                ip: Some("192.0.2.60"),
                ua: "okta-sdk-java/18.0.0 java/17.0.13 Linux/5.15.0-1075-azure",
                place: Some(OFFICE_PLACE),
                session: "unknown",
                event_type,
                display,
                result: "SUCCESS",
                reason: "",
                api_token: Some("00T7scim4Wd2k9y6z1q3"),
                target: &target,
                asn: (64_496, "corp-example transit"),
                credential_type: "",
            };
            okta_push(out, rng, t, &e)
        }
        1 => {
            // service apps with OAuth client credentials: no user, no session, no token id
            let &(client, name, ip, ua) = rng.pick(&[
                (
                    "0oa5t6e7r8r9a0f1o2r3",
                    "terraform-okta",
                    "ci",
                    "okta-terraform/4.14.0",
                ),
                (
                    "0oa6s7c8i9m0b1r2i3d4",
                    "scim-bridge",
                    "192.0.2.61",
                    "scim-bridge/2.3.1 okhttp/4.12.0",
                ),
                (
                    "0oa7a8u9d0i1t2e3x4p5",
                    "audit-exporter",
                    "192.0.2.62",
                    "okta-sdk-go/5.0.2 go/1.23.6 linux/amd64",
                ),
            ]);
            let ip = if ip == "ci" {
                ci_ip(rng)
            } else {
                ip.to_string()
            };
            let target = format!(
                r#"[{{"id":"AT.{:016x}","type":"access_token","alternateId":"access_token v1","displayName":"Access Token","detailEntry":{{"subject":"{client}"}}}}]"#,
                rng.next()
            );
            let e = OktaEvent {
                actor_id: client,
                actor_type: "PublicClientApp",
                actor_alt: client,
                actor_display: name,
                ip: Some(&ip),
                ua,
                place: Some(OFFICE_PLACE),
                session: "unknown",
                event_type: "app.oauth2.as.token.grant.access_token",
                display: "OAuth2 access token is granted",
                result: "SUCCESS",
                reason: "",
                api_token: None,
                target: &target,
                asn: (64_496, "corp-example transit"),
                credential_type: "",
            };
            okta_push(out, rng, t, &e)
        }
        _ => {
            // Okta itself: group rules and session expiry
            let h = &org.humans[rng.below(org.humans.len() as u64) as usize];
            let target = format!(
                r#"[{{"id":"{}","type":"User","alternateId":"{}","displayName":"{}","detailEntry":null}}]"#,
                h.okta_id(),
                h.email,
                h.display
            );
            let (event_type, display) = *rng.pick(&[
                ("group.user_membership.add", "Add user to group membership"),
                ("user.session.end", "User session expired"),
            ]);
            let e = OktaEvent {
                actor_id: "0oa1okta2system3prn4",
                actor_type: "SystemPrincipal",
                actor_alt: "system@okta.com",
                actor_display: "Okta System",
                ip: None,
                ua: "",
                place: None,
                session: "unknown",
                event_type,
                display,
                result: "SUCCESS",
                reason: "",
                api_token: None,
                target: &target,
                asn: (0, ""),
                credential_type: "",
            };
            okta_push(out, rng, t, &e)
        }
    }
}

/// The first segment of each person's local day (their browser session starts there).
fn first_segments(org: &Org) -> Vec<(&Human, Seg)> {
    let mut v = Vec::new();
    for h in &org.humans {
        let mut days = Vec::new();
        for s in &h.segs {
            if !days.contains(&s.day) {
                days.push(s.day);
                // a session that began before midnight has no sign-in today
                if s.start > 0 && s.start < DAY - 10 * MIN {
                    v.push((h, *s));
                }
            }
        }
    }
    v
}

fn okta(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 3, h2(seed, 400))?;
    let mut rng = Rng::new(mix(h2(seed, 4)));
    // sign-ins take at most 40% of the file (all of them from about 10,000 records on)
    let logins = first_segments(org);
    let share = (target as f64 * 0.4 / (logins.len() as f64 * 4.2)).min(1.0);
    for (h, seg) in &logins {
        if (h2(h.uid, 0x1061) % 10_000) as f64 / 10_000.0 < share {
            okta_login(&mut out, &mut rng, h, seg);
        }
    }
    let (curve, p_human) = org.curve(0.85, false);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, false) {
                return okta_human(out, rng, t, h, seg);
            }
        }
        okta_service(out, rng, t, org)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// HashiCorp Vault file audit device (request and response entries)

/// The token a request was made with (or that a login issued).
struct VaultToken<'a> {
    /// hash naming the token: its HMAC'd value and accessor derive from it
    x: u64,
    display: &'a str,
    policies: &'a [&'a str],
    /// `metadata` JSON object
    metadata: &'a str,
    entity: &'a str,
    /// seconds; `None` for a token without a TTL (Vault omits a zero TTL)
    ttl: Option<i64>,
    /// `token_issue_time`
    issued: &'a str,
}

fn vault_token_json(s: &mut String, k: &VaultToken, with_results: bool) {
    s.push_str(r#"{"client_token":""#);
    hmac(s, k.x);
    s.push_str(r#"","accessor":""#);
    hmac(s, mix(k.x ^ 0xacc));
    let _ = write!(s, r#"","display_name":"{}","policies":["#, k.display);
    for (i, p) in k.policies.iter().enumerate() {
        let _ = write!(s, r#"{}"{p}""#, if i > 0 { "," } else { "" });
    }
    s.push_str(r#"],"token_policies":["#);
    for (i, p) in k.policies.iter().enumerate() {
        let _ = write!(s, r#"{}"{p}""#, if i > 0 { "," } else { "" });
    }
    s.push(']');
    if with_results {
        let grant = k
            .policies
            .iter()
            .find(|p| **p != "default")
            .unwrap_or(&"default");
        let _ = write!(
            s,
            r#","policy_results":{{"allowed":true,"granting_policies":[{{"name":"{grant}","namespace_id":"root","type":"acl"}}]}}"#
        );
    }
    let _ = write!(
        s,
        r#","metadata":{},"entity_id":"{}","token_type":"service""#,
        k.metadata, k.entity
    );
    if let Some(ttl) = k.ttl {
        let _ = write!(s, r#","token_ttl":{ttl}"#);
    }
    let _ = write!(s, r#","token_issue_time":"{}"}}"#, k.issued);
}

/// A mount: path, type, accessor, plugin version, class.
type Mount = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const KV: Mount = ("secret/", "kv", "kv_5a6b7c8d", "v0.21.0+builtin", "secret");
const DATABASE: Mount = (
    "database/",
    "database",
    "database_9e8d7c6b",
    "v1.18.4+builtin.vault",
    "secret",
);
const TRANSIT: Mount = (
    "transit/",
    "transit",
    "transit_0a1b2c3d",
    "v1.18.4+builtin.vault",
    "secret",
);
const SYS: Mount = (
    "sys/",
    "system",
    "system_3a4b5c6d",
    "v1.18.4+builtin.vault",
    "secret",
);
const AUTH_APPROLE: Mount = (
    "auth/approle/",
    "approle",
    "auth_approle_1f2e3d4c",
    "v1.18.4+builtin.vault",
    "auth",
);
const AUTH_K8S: Mount = (
    "auth/kubernetes/",
    "kubernetes",
    "auth_kubernetes_7c6d5e4f",
    "v1.18.4+builtin.vault",
    "auth",
);
const AUTH_OIDC: Mount = (
    "auth/oidc/",
    "oidc",
    "auth_oidc_2b3c4d5e",
    "v1.18.4+builtin.vault",
    "auth",
);

struct VaultReq<'a> {
    /// `None` for a login (the request is unauthenticated)
    token: Option<&'a VaultToken<'a>>,
    /// the token a login issues
    issues: Option<&'a VaultToken<'a>>,
    op: &'a str,
    mount: Mount,
    path: &'a str,
    ip: &'a str,
    ua: &'a str,
    /// `request.data` JSON for logins and writes (HMAC'd values)
    data: &'a str,
    /// `response` body fields for reads
    response: &'a str,
    error: bool,
}

fn vault_push(out: &mut Out, rng: &mut Rng, t: i64, r: &VaultReq) {
    let mut id = String::with_capacity(36);
    out.id(&mut id, IdShape::Uuid4);
    let port = 32_768 + rng.below(28_000);
    let (mount_point, mount_type, mount_accessor, plugin, class) = r.mount;
    let client_id = {
        let mut c = String::with_capacity(44);
        match r.token {
            Some(k) => digits(&mut c, B64, mix(k.x ^ 0xc11), k.x, 43),
            None => digits(&mut c, B64, rng.next(), rng.next(), 43),
        }
        c.push('=');
        c
    };
    let entry = |kind: &str, at: i64, sub: u64| -> String {
        let mut s = String::with_capacity(2000);
        s.push_str(r#"{"time":""#);
        ts_ns(&mut s, at, sub);
        let _ = write!(s, r#"","type":"{kind}","auth":"#);
        match r.token {
            Some(k) => vault_token_json(&mut s, k, true),
            None => s.push_str(r#"{"token_type":"default","policy_results":{"allowed":true}}"#),
        }
        let _ = write!(
            s,
            r#","request":{{"id":"{id}","client_id":"{client_id}","operation":"{}","mount_point":"{mount_point}","mount_type":"{mount_type}","mount_accessor":"{mount_accessor}","mount_running_version":"{plugin}","mount_class":"{class}""#,
            r.op
        );
        if let Some(k) = r.token {
            s.push_str(r#","client_token":""#);
            hmac(&mut s, k.x);
            s.push_str(r#"","client_token_accessor":""#);
            hmac(&mut s, mix(k.x ^ 0xacc));
            s.push('"');
        }
        let _ = write!(s, r#","namespace":{{"id":"root"}},"path":"{}""#, r.path);
        if !r.data.is_empty() {
            let _ = write!(s, r#","data":{}"#, r.data);
        }
        let _ = write!(
            s,
            r#","remote_address":"{}","remote_port":{port},"headers":{{"user-agent":["{}"]}}}}"#,
            r.ip, r.ua
        );
        if kind == "response" {
            let _ = write!(
                s,
                r#","response":{{"mount_point":"{mount_point}","mount_type":"{mount_type}","mount_accessor":"{mount_accessor}","mount_running_plugin_version":"{plugin}","mount_class":"{class}""#
            );
            if let Some(k) = r.issues {
                s.push_str(r#","auth":"#);
                vault_token_json(&mut s, k, false);
            }
            if !r.response.is_empty() && !r.error {
                s.push(',');
                s.push_str(r.response);
            }
            s.push('}');
        }
        if r.error {
            s.push_str(r#","error":"1 error occurred:\n\t* permission denied\n\n""#);
        }
        s.push('}');
        s
    };
    let sub = rng.below(1_000_000);
    // a request entry that already carries Vault's error is final, an event of its own (the
    // response entry repeats it and is counted as a duplicate)
    let (request, response) = if r.error {
        (Rec::Event, Rec::Duplicate)
    } else {
        (Rec::Provisional, Rec::Event)
    };
    out.push(t, request, entry("request", t, sub));
    let done = t + 1 + rng.below(12) as i64;
    out.push(
        done,
        response,
        entry("response", done, (sub + 417_311) % 1_000_000),
    );
}

fn issued_at(t: i64) -> String {
    let mut s = String::with_capacity(20);
    ts_s(&mut s, t);
    s
}

fn hmac_data(fields: &[&str], x: u64) -> String {
    let mut s = String::from("{");
    for (i, f) in fields.iter().enumerate() {
        let _ = write!(
            s,
            r#"{}"{f}":"{}""#,
            if i > 0 { "," } else { "" },
            hmac_s(h2(x, i as u64))
        );
    }
    s.push('}');
    s
}

fn kv_response(x: u64) -> String {
    format!(
        r#""data":{{"data":{{"value":"{}"}},"metadata":{{"version":{}}}}}"#,
        hmac_s(x),
        1 + x % 9
    )
}

const VAULT_APPS: &[usize] = &[0, 1, 3];

fn vault_service(out: &mut Out, rng: &mut Rng, t: i64, org: &Org) {
    let hour = (t / HOUR) as u64;
    match rng.weighted(&[30, 48, 8, 14]) {
        0 => {
            // a CI job: AppRole login from its runner, then a few reads with the token it got
            let job = h2(0x7a0, (t / (3 * MIN)) as u64 ^ rng.below(16) << 40);
            let ip = ci_ip_of(job);
            let entity = uuid_s(0x0a1b_2c3d, 0x4e5f);
            let token = VaultToken {
                x: job,
                display: "approle",
                policies: &["ci-deployer", "default"],
                metadata: r#"{"role_name":"ci-deployer"}"#,
                entity: &entity,
                ttl: Some(1200),
                issued: &issued_at(t),
            };
            let ua = "Go-http-client/2.0";
            let data = hmac_data(&["role_id", "secret_id"], job);
            vault_push(
                out,
                rng,
                t,
                &VaultReq {
                    token: None,
                    issues: Some(&token),
                    op: "update",
                    mount: AUTH_APPROLE,
                    path: "auth/approle/login",
                    ip: &ip,
                    ua,
                    data: &data,
                    response: "",
                    error: false,
                },
            );
            let mut at = t;
            for path in [
                "secret/data/ci/registry",
                "secret/data/ci/deploy-key",
                "secret/data/ci/sonar-token",
            ]
            .iter()
            .take(2 + rng.below(2) as usize)
            {
                at += 1_000 + rng.below(8_000) as i64;
                vault_push(
                    out,
                    rng,
                    at,
                    &VaultReq {
                        token: Some(&token),
                        issues: None,
                        op: "read",
                        mount: KV,
                        path,
                        ip: &ip,
                        ua,
                        data: "",
                        response: &kv_response(h2(job, hs(path))),
                        error: false,
                    },
                );
            }
        }
        1 => {
            // app pods through the Kubernetes auth method (Vault Agent sidecars)
            let d = &DEPLOYS[VAULT_APPS[rng.below(VAULT_APPS.len() as u64) as usize]];
            let (x, _, ip, _) = pod(d, rng.below(replicas(d, org, t)));
            let issued = hour as i64 * HOUR + (x % 600) as i64 * 1000;
            let metadata = format!(
                r#"{{"role":"{}","service_account_name":"{}","service_account_namespace":"{}","service_account_secret_name":"","service_account_uid":"{}"}}"#,
                d.ns,
                d.name,
                d.ns,
                k8s_uid(hs(d.ns) ^ hs(d.name))
            );
            let display = format!("kubernetes-{}-{}", d.ns, d.name);
            let entity = uuid_s(hs(&display), 0x7e);
            let policies: &[&str] = match d.ns {
                "payments" => &["default", "payments-db", "payments-kv"],
                "orders" => &["default", "orders-kv", "orders-transit"],
                _ => &["default", "search-kv"],
            };
            let token = VaultToken {
                x: h3(x, hour, 0x7a17),
                display: &display,
                policies,
                metadata: &metadata,
                entity: &entity,
                ttl: Some(3600),
                issued: &issued_at(issued),
            };
            let ua = "Vault Agent/1.18.4";
            if rng.chance(0.1) {
                let data = hmac_data(&["jwt"], x ^ hour);
                let data = format!(
                    r#"{{"jwt":{},"role":"{}"}}"#,
                    &data[7..data.len() - 1],
                    d.ns
                );
                return vault_push(
                    out,
                    rng,
                    t,
                    &VaultReq {
                        token: None,
                        issues: Some(&token),
                        op: "update",
                        mount: AUTH_K8S,
                        path: "auth/kubernetes/login",
                        ip: &ip,
                        ua,
                        data: &data,
                        response: "",
                        error: false,
                    },
                );
            }
            let (op, mount, path, response) = match (d.ns, rng.below(4)) {
                ("payments", 0) => (
                    "read",
                    DATABASE,
                    "database/creds/payments-rw".to_string(),
                    {
                        let mut lease = String::with_capacity(24);
                        digits(&mut lease, ALNUM, rng.next(), rng.next(), 24);
                        format!(
                            r#""secret":{{"lease_id":"database/creds/payments-rw/{lease}"}},"data":{{"password":"{}","username":"{}"}}"#,
                            hmac_s(rng.next()),
                            hmac_s(rng.next())
                        )
                    },
                ),
                ("orders", 0) => (
                    "update",
                    TRANSIT,
                    "transit/encrypt/orders".to_string(),
                    format!(r#""data":{{"ciphertext":"{}"}}"#, hmac_s(rng.next())),
                ),
                (_, 1) => ("update", SYS, "sys/leases/renew".to_string(), String::new()),
                (ns, _) => (
                    "read",
                    KV,
                    format!("secret/data/{ns}/config"),
                    kv_response(h2(x, 5)),
                ),
            };
            vault_push(
                out,
                rng,
                t,
                &VaultReq {
                    token: Some(&token),
                    issues: None,
                    op,
                    mount,
                    path: &path,
                    ip: &ip,
                    ua,
                    data: "",
                    response: &response,
                    error: false,
                },
            );
        }
        2 => {
            // the legacy backup token: no TTL, one host in the datacenter, three secrets
            let path = *rng.pick(&[
                "secret/data/backup/s3",
                "secret/data/backup/gpg",
                "secret/data/backup/postgres",
            ]);
            let token = VaultToken {
                x: 0xbac_0a9,
                display: "token-legacy-backup",
                policies: &["backup-reader", "default"],
                metadata: "null",
                entity: "",
                ttl: None,
                issued: "2026-01-19T09:12:44Z",
            };
            vault_push(
                out,
                rng,
                t,
                &VaultReq {
                    token: Some(&token),
                    issues: None,
                    op: "read",
                    mount: KV,
                    path,
                    ip: "10.20.3.40",
                    ua: "curl/8.5.0",
                    data: "",
                    response: &kv_response(hs(path)),
                    error: false,
                },
            );
        }
        _ => {
            // Airflow workers in the datacenter (AppRole, a token per worker and hour)
            let worker = rng.below(3);
            let ip = format!("10.20.8.{}", 21 + worker);
            let x = h3(0xa1f, worker, hour);
            let entity = uuid_s(0xa1f, 0x10f);
            let token = VaultToken {
                x,
                display: "approle",
                policies: &["airflow", "default"],
                metadata: r#"{"role_name":"airflow"}"#,
                entity: &entity,
                ttl: Some(3600),
                issued: &issued_at(hour as i64 * HOUR + 12_000 * worker as i64),
            };
            let path = *rng.pick(&[
                "secret/data/data/warehouse",
                "secret/data/data/salesforce-api",
                "secret/data/data/gcp-loader",
            ]);
            vault_push(
                out,
                rng,
                t,
                &VaultReq {
                    token: Some(&token),
                    issues: None,
                    op: "read",
                    mount: KV,
                    path,
                    ip: &ip,
                    ua: "python-requests/2.32.3",
                    data: "",
                    response: &kv_response(h2(x, hs(path))),
                    error: false,
                },
            );
        }
    }
}

fn vault_human_token(h: &Human, seg: &Seg) -> (u64, String, String, String) {
    (
        h3(h.uid, seg.id, 0x0d1c),
        format!("oidc-{}", h.email),
        format!(r#"{{"role":"engineering","email":"{}"}}"#, h.email),
        issued_at(seg.start.max(0)),
    )
}

fn vault_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let team = h.team();
    let (x, display, metadata, issued) = vault_human_token(h, &seg);
    let entity = uuid_s(h.uid, 0xe7);
    let policies = ["default", team.name];
    let token = VaultToken {
        x,
        display: &display,
        policies: &policies,
        metadata: &metadata,
        entity: &entity,
        ttl: Some(28_800),
        issued: &issued,
    };
    let ip = h.ip(&seg);
    let ua = if rng.chance(0.4) {
        h.browser()
    } else {
        h.vault_cli()
    };
    let error = rng.chance(0.01);
    let (op, path) = match rng.below(3) {
        0 => ("list", format!("secret/metadata/{}/", team.name)),
        _ => (
            "read",
            format!(
                "secret/data/{}/{}",
                team.name,
                rng.pick(&["api-keys", "staging", "dev-db", "oncall", "third-party"])
            ),
        ),
    };
    let path = if error {
        "secret/data/prod/payments".to_string()
    } else {
        path
    };
    let response = kv_response(h2(x, hs(&path)));
    vault_push(
        out,
        rng,
        t,
        &VaultReq {
            token: Some(&token),
            issues: None,
            op,
            mount: KV,
            path: &path,
            ip: &ip,
            ua,
            data: "",
            response: &response,
            error,
        },
    );
}

fn vault_login(out: &mut Out, rng: &mut Rng, h: &Human, seg: &Seg) {
    let (x, display, metadata, issued) = vault_human_token(h, seg);
    let entity = uuid_s(h.uid, 0xe7);
    let policies = ["default", h.team().name];
    let token = VaultToken {
        x,
        display: &display,
        policies: &policies,
        metadata: &metadata,
        entity: &entity,
        ttl: Some(28_800),
        issued: &issued,
    };
    let ip = h.ip(seg);
    let data = format!(
        r#"{{"code":"{}","state":"{}"}}"#,
        hmac_s(h2(x, 1)),
        hmac_s(h2(x, 2))
    );
    let t = seg.start.max(0) + 60_000 + rng.below(600_000) as i64;
    if t < seg.end.min(DAY - MIN) {
        vault_push(
            out,
            rng,
            t,
            &VaultReq {
                token: None,
                issues: Some(&token),
                op: "read",
                mount: AUTH_OIDC,
                path: "auth/oidc/oidc/callback",
                ip: &ip,
                ua: h.browser(),
                data: &data,
                response: "",
                error: false,
            },
        );
    }
}

fn vault(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 4, h2(seed, 500))?;
    let mut rng = Rng::new(mix(h2(seed, 5)));
    // people sign in with OIDC when they start on something; at most 15% of the file
    let mut segs = Vec::new();
    for h in org.humans.iter().filter(|h| h.eng) {
        let mut seen = Vec::new();
        for s in &h.segs {
            if !seen.contains(&s.id) {
                seen.push(s.id);
                segs.push((h, *s));
            }
        }
    }
    let share = (target as f64 * 0.15 / (segs.len() as f64 * 2.0)).min(0.7);
    for (h, seg) in &segs {
        // a token from before midnight was issued yesterday
        if seg.start > 0 && (h2(seg.id, 0x0171) % 10_000) as f64 / 10_000.0 < share {
            vault_login(&mut out, &mut rng, h, seg);
        }
    }
    let (curve, p_human) = org.curve(0.15, true);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, true) {
                return vault_human(out, rng, t, h, seg);
            }
        }
        vault_service(out, rng, t, org)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// GCP Cloud Audit Logs (an organisation sink to Cloud Storage)

const GCP_WEB: (&str, u64) = ("corp-web-prod", 482_913_507_716);
const GCP_DATA: (&str, u64) = ("corp-data-prod", 918_273_645_501);

struct GcpEntry<'a> {
    /// `authenticationInfo` JSON object
    auth: &'a str,
    caller_ip: Option<&'a str>,
    ua: &'a str,
    service: &'a str,
    method: &'a str,
    resource: &'a str,
    permission: &'a str,
    /// `activity`, `data_access` or `system_event`
    log: &'a str,
    project: &'a str,
    /// monitored resource type and more labels (each starting with a comma)
    resource_type: &'a str,
    labels: &'a str,
}

fn gcp_push(out: &mut Out, rng: &mut Rng, t: i64, e: &GcpEntry) {
    let mut s = String::with_capacity(1800);
    let _ = write!(
        s,
        r#"{{"protoPayload":{{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","status":{{}},"authenticationInfo":{}"#,
        e.auth
    );
    if let Some(ip) = e.caller_ip {
        let _ = write!(s, r#","requestMetadata":{{"callerIp":"{ip}""#);
        if !e.ua.is_empty() {
            let _ = write!(s, r#","callerSuppliedUserAgent":"{}""#, e.ua);
        }
        s.push_str(r#","requestAttributes":{"time":""#);
        ts_us(&mut s, t, rng.below(1000));
        s.push_str(r#"","auth":{}},"destinationAttributes":{}}"#);
    }
    let _ = write!(
        s,
        r#","serviceName":"{}","methodName":"{}","authorizationInfo":[{{"resource":"{}","permission":"{}","granted":true,"resourceAttributes":{{}}}}],"resourceName":"{}"}},"insertId":""#,
        e.service, e.method, e.resource, e.permission, e.resource
    );
    out.id(&mut s, IdShape::Insert);
    let _ = write!(
        s,
        r#"","resource":{{"type":"{}","labels":{{"project_id":"{}"{}}}}},"timestamp":""#,
        e.resource_type, e.project, e.labels
    );
    ts_us(&mut s, t, rng.below(1000));
    let _ = write!(
        s,
        r#"","severity":"{}","logName":"projects/{}/logs/cloudaudit.googleapis.com%2F{}","receiveTimestamp":""#,
        if e.log == "activity" {
            "NOTICE"
        } else {
            "INFO"
        },
        e.project,
        e.log
    );
    ts_ns(
        &mut s,
        t + 300 + rng.below(900) as i64,
        rng.below(1_000_000),
    );
    s.push_str("\"}");
    out.push(t, Rec::Event, s);
}

/// A GCP method: service, method, permission, resource, log, resource type, labels.
type GcpCall = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const GCP_HUMAN_CALLS: &[GcpCall] = &[
    (
        "storage.googleapis.com",
        "storage.buckets.list",
        "storage.buckets.list",
        "projects/_/buckets/corp-web-static",
        "data_access",
        "gcs_bucket",
        r#","bucket_name":"corp-web-static","location":"europe-west4""#,
    ),
    (
        "storage.googleapis.com",
        "storage.objects.get",
        "storage.objects.get",
        "projects/_/buckets/corp-web-static/objects/index.html",
        "data_access",
        "gcs_bucket",
        r#","bucket_name":"corp-web-static","location":"europe-west4""#,
    ),
    (
        "compute.googleapis.com",
        "v1.compute.instances.list",
        "compute.instances.list",
        "projects/corp-web-prod/zones/europe-west4-a/instances",
        "data_access",
        "gce_instance",
        r#","zone":"europe-west4-a","instance_id":"""#,
    ),
    (
        "container.googleapis.com",
        "google.container.v1.ClusterManager.GetCluster",
        "container.clusters.get",
        "projects/corp-web-prod/locations/europe-west4/clusters/edge",
        "data_access",
        "gke_cluster",
        r#","cluster_name":"edge","location":"europe-west4""#,
    ),
    (
        "bigquery.googleapis.com",
        "google.cloud.bigquery.v2.TableService.GetTable",
        "bigquery.tables.get",
        "projects/corp-data-prod/datasets/analytics/tables/sessions",
        "data_access",
        "bigquery_dataset",
        r#","dataset_id":"analytics""#,
    ),
    (
        "logging.googleapis.com",
        "google.logging.v2.LoggingServiceV2.ListLogEntries",
        "logging.logEntries.list",
        "projects/corp-web-prod",
        "data_access",
        "project",
        "",
    ),
    (
        "monitoring.googleapis.com",
        "google.monitoring.v3.MetricService.ListTimeSeries",
        "monitoring.timeSeries.list",
        "projects/corp-web-prod",
        "data_access",
        "audited_resource",
        r#","service":"monitoring.googleapis.com","method":"google.monitoring.v3.MetricService.ListTimeSeries""#,
    ),
];

fn gcp_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    let ip = h.ip(&seg);
    let &(service, method, permission, resource, log, rtype, labels) = rng.pick(GCP_HUMAN_CALLS);
    let project = if resource.contains("corp-data-prod") {
        GCP_DATA.0
    } else {
        GCP_WEB.0
    };
    let auth = format!(r#"{{"principalEmail":"{}"}}"#, h.email);
    let ua = if rng.chance(0.6) {
        format!("{},gzip(gfe)", h.browser())
    } else {
        h.gcloud(permission)
    };
    gcp_push(
        out,
        rng,
        t,
        &GcpEntry {
            auth: &auth,
            caller_ip: Some(&ip),
            ua: &ua,
            service,
            method,
            resource,
            permission,
            log,
            project,
            resource_type: rtype,
            labels,
        },
    );
}

fn gcp_service(out: &mut Out, rng: &mut Rng, t: i64) {
    match rng.weighted(&[40, 14, 12, 20, 8, 6]) {
        0 => {
            // GKE workloads with workload identity (edge cluster): Google logs no address for them
            let &(ksa_ns, ksa, sa, service, method, permission, resource, rtype, labels) = rng.pick(&[
                ("orders", "orders-api", "orders-api", "pubsub.googleapis.com", "google.pubsub.v1.Publisher.Publish", "pubsub.topics.publish", "projects/corp-web-prod/topics/order-events", "pubsub_topic", r#","topic_id":"order-events""#),
                ("web", "edge-renderer", "edge-renderer", "storage.googleapis.com", "storage.objects.get", "storage.objects.get", "projects/_/buckets/corp-web-static/objects/templates/home.html", "gcs_bucket", r#","bucket_name":"corp-web-static","location":"europe-west4""#),
                ("web", "edge-renderer", "edge-renderer", "secretmanager.googleapis.com", "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion", "secretmanager.versions.access", "projects/482913507716/secrets/edge-signing-key/versions/latest", "audited_resource", r#","service":"secretmanager.googleapis.com","method":"google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion""#),
                ("search", "ranker", "search-ranker", "storage.googleapis.com", "storage.objects.get", "storage.objects.get", "projects/_/buckets/corp-ml-models/objects/ranker/current/model.onnx", "gcs_bucket", r#","bucket_name":"corp-ml-models","location":"europe-west4""#),
            ]);
            let auth = format!(
                r#"{{"principalEmail":"{sa}@corp-web-prod.iam.gserviceaccount.com","serviceAccountDelegationInfo":[{{"principalSubject":"serviceAccount:corp-web-prod.svc.id.goog[{ksa_ns}/{ksa}]"}}]}}"#
            );
            let ua = *rng.pick(&[
                "google-api-go-client/0.5 gl-go/1.23.6 gdcl/0.215.0,gzip(gfe)",
                "gcloud-golang-storage/1.50.0,gzip(gfe)",
                "grpc-go/1.70.0,gzip(gfe)",
            ]);
            gcp_push(
                out,
                rng,
                t,
                &GcpEntry {
                    auth: &auth,
                    caller_ip: Some("gce-internal-ip"),
                    ua,
                    service,
                    method,
                    resource,
                    permission,
                    log: "data_access",
                    project: GCP_WEB.0,
                    resource_type: rtype,
                    labels,
                },
            );
        }
        1 => {
            // Terraform on the runner pool, federated into GCP (no key)
            let job = h2(0x9cf, (t / (6 * MIN)) as u64);
            let ip = ci_ip_of(job);
            let auth = r#"{"principalEmail":"terraform@corp-infra-prod.iam.gserviceaccount.com","serviceAccountDelegationInfo":[{"principalSubject":"principal://iam.googleapis.com/projects/771204963318/locations/global/workloadIdentityPools/ci-runners/subject/repo:corp-example/infra-gcp:ref:refs/heads/main"}]}"#;
            let &(service, method, permission, resource, log, rtype, labels) = rng.pick(&[
                ("compute.googleapis.com", "v1.compute.instances.get", "compute.instances.get", "projects/corp-web-prod/zones/europe-west4-a/instances/edge-1", "data_access", "gce_instance", r#","zone":"europe-west4-a","instance_id":"5544332211""#),
                ("storage.googleapis.com", "storage.buckets.get", "storage.buckets.get", "projects/_/buckets/corp-web-static", "data_access", "gcs_bucket", r#","bucket_name":"corp-web-static","location":"europe-west4""#),
                ("iam.googleapis.com", "google.iam.admin.v1.GetServiceAccount", "iam.serviceAccounts.get", "projects/corp-web-prod/serviceAccounts/orders-api@corp-web-prod.iam.gserviceaccount.com", "data_access", "service_account", r#","email_id":"orders-api@corp-web-prod.iam.gserviceaccount.com""#),
                ("cloudresourcemanager.googleapis.com", "GetIamPolicy", "resourcemanager.projects.getIamPolicy", "projects/corp-web-prod", "data_access", "project", ""),
                ("container.googleapis.com", "google.container.v1.ClusterManager.GetCluster", "container.clusters.get", "projects/corp-web-prod/locations/europe-west4/clusters/edge", "data_access", "gke_cluster", r#","cluster_name":"edge","location":"europe-west4""#),
            ]);
            gcp_push(out, rng, t, &GcpEntry { auth, caller_ip: Some(&ip), ua: "google-api-go-client/0.5 Terraform/1.10.5 (+https://www.terraform.io) Terraform-Plugin-SDK/2.36.0 terraform-provider-google/6.21.0,gzip(gfe)", service, method, resource, permission, log, project: GCP_WEB.0, resource_type: rtype, labels });
        }
        2 => {
            // the ETL loader's user-managed key: one host in the datacenter, five resources
            let auth = r#"{"principalEmail":"etl-loader@corp-data-prod.iam.gserviceaccount.com","serviceAccountKeyName":"//iam.googleapis.com/projects/corp-data-prod/serviceAccounts/etl-loader@corp-data-prod.iam.gserviceaccount.com/keys/6b1d3f5a7c9e0b2d4f6a8c0e2b4d6f8a0c2e4b6d"}"#;
            let &(service, method, permission, resource, log, rtype, labels) = rng.pick(&[
                (
                    "storage.googleapis.com",
                    "storage.objects.list",
                    "storage.objects.list",
                    "projects/_/buckets/corp-data-landing",
                    "data_access",
                    "gcs_bucket",
                    r#","bucket_name":"corp-data-landing","location":"EU""#,
                ),
                (
                    "storage.googleapis.com",
                    "storage.objects.create",
                    "storage.objects.create",
                    "projects/_/buckets/corp-data-landing/objects/hr/daily/latest.csv",
                    "data_access",
                    "gcs_bucket",
                    r#","bucket_name":"corp-data-landing","location":"EU""#,
                ),
                (
                    "bigquery.googleapis.com",
                    "google.cloud.bigquery.v2.TableDataService.InsertAll",
                    "bigquery.tables.updateData",
                    "projects/corp-data-prod/datasets/raw/tables/hr_employees",
                    "data_access",
                    "bigquery_dataset",
                    r#","dataset_id":"raw""#,
                ),
                (
                    "bigquery.googleapis.com",
                    "google.cloud.bigquery.v2.TableDataService.InsertAll",
                    "bigquery.tables.updateData",
                    "projects/corp-data-prod/datasets/raw/tables/finance_ledger",
                    "data_access",
                    "bigquery_dataset",
                    r#","dataset_id":"raw""#,
                ),
                (
                    "bigquery.googleapis.com",
                    "google.cloud.bigquery.v2.TableService.GetTable",
                    "bigquery.tables.get",
                    "projects/corp-data-prod/datasets/raw/tables/hr_employees",
                    "data_access",
                    "bigquery_dataset",
                    r#","dataset_id":"raw""#,
                ),
            ]);
            gcp_push(out, rng, t, &GcpEntry { auth, caller_ip: Some("192.0.2.70"), ua: "gcloud-python/3.19.0 gl-python/3.11.9 grpc/1.68.1 gax/2.24.0 gccl/3.19.0,gzip(gfe)", service, method, resource, permission, log, project: GCP_DATA.0, resource_type: rtype, labels });
        }
        3 => {
            // Google-managed service agents: "private" callers
            let &(sa, service, method, permission, resource, rtype, labels, project) = rng.pick(&[
                (
                    "service-918273645501@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com",
                    "bigquery.googleapis.com",
                    "google.cloud.bigquery.v2.TableService.GetTable",
                    "bigquery.tables.get",
                    "projects/corp-data-prod/datasets/marketing/tables/ads_daily",
                    "bigquery_dataset",
                    r#","dataset_id":"marketing""#,
                    GCP_DATA.0,
                ),
                (
                    "service-482913507716@container-engine-robot.iam.gserviceaccount.com",
                    "compute.googleapis.com",
                    "v1.compute.instances.get",
                    "compute.instances.get",
                    "projects/corp-web-prod/zones/europe-west4-b/instances/gke-edge-pool-1-7c3a",
                    "gce_instance",
                    r#","zone":"europe-west4-b","instance_id":"7788990011""#,
                    GCP_WEB.0,
                ),
                (
                    "service-482913507716@compute-system.iam.gserviceaccount.com",
                    "compute.googleapis.com",
                    "v1.compute.disks.get",
                    "compute.disks.get",
                    "projects/corp-web-prod/zones/europe-west4-b/disks/gke-edge-pool-1-7c3a",
                    "gce_disk",
                    r#","zone":"europe-west4-b","disk_id":"5566778899""#,
                    GCP_WEB.0,
                ),
            ]);
            let auth = format!(r#"{{"principalEmail":"{sa}"}}"#);
            gcp_push(
                out,
                rng,
                t,
                &GcpEntry {
                    auth: &auth,
                    caller_ip: Some("private"),
                    ua: "",
                    service,
                    method,
                    resource,
                    permission,
                    log: "data_access",
                    project,
                    resource_type: rtype,
                    labels,
                },
            );
        }
        4 => {
            // the default compute service account on VMs
            let auth = r#"{"principalEmail":"482913507716-compute@developer.gserviceaccount.com"}"#;
            gcp_push(out, rng, t, &GcpEntry { auth, caller_ip: Some("gce-internal-ip"), ua: "google-cloud-sdk gcloud/512.0.0 command/gcloud.compute.instances.describe,gzip(gfe)", service: "compute.googleapis.com", method: "v1.compute.instances.get", resource: "projects/corp-web-prod/zones/europe-west4-a/instances/edge-1", permission: "compute.instances.get", log: "data_access", project: GCP_WEB.0, resource_type: "gce_instance", labels: r#","zone":"europe-west4-a","instance_id":"5544332211""# });
        }
        _ => {
            // Google's own systems: preemptible batch VMs going away
            let vm = format!(
                "projects/corp-data-prod/zones/europe-west4-c/instances/batch-{:04x}",
                rng.below(1 << 16)
            );
            let auth = r#"{"principalEmail":"system@google.com"}"#;
            gcp_push(
                out,
                rng,
                t,
                &GcpEntry {
                    auth,
                    caller_ip: None,
                    ua: "",
                    service: "compute.googleapis.com",
                    method: "compute.instances.preempted",
                    resource: &vm,
                    permission: "compute.instances.preempted",
                    log: "system_event",
                    project: GCP_DATA.0,
                    resource_type: "gce_instance",
                    labels: r#","zone":"europe-west4-c""#,
                },
            );
        }
    }
}

fn gcp(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 5, h2(seed, 600))?;
    let mut rng = Rng::new(mix(h2(seed, 6)));
    let (curve, p_human) = org.curve(0.3, true);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, true) {
                return gcp_human(out, rng, t, h, seg);
            }
        }
        gcp_service(out, rng, t)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// Microsoft Entra ID sign-ins (diagnostic settings to a storage account: one record per line)

/// Client apps: id, name, resource, resource id, interactive, user agent kind.
const ENTRA_APPS: &[(&str, &str, &str, &str)] = &[
    (
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "Microsoft Teams",
        "Microsoft Teams Services",
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
    ),
    (
        "5d661950-3475-41cd-a2c3-d671a3162bc1",
        "Microsoft Outlook",
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
    ),
    (
        "ab9b8c07-8f02-4f72-87fa-80105867a763",
        "OneDrive SyncEngine",
        "OneDrive",
        "00000003-0000-0ff1-ce00-000000000000",
    ),
    (
        "4765445b-32c6-49b0-83e6-1d93765276ca",
        "OfficeHome",
        "Microsoft Graph",
        "00000003-0000-0000-c000-000000000000",
    ),
    (
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "Azure Portal",
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    ),
];

struct EntraSignIn<'a> {
    category: &'a str,
    ip: &'a str,
    place: Option<&'a Place>,
    asn: u64,
    /// error code and reason (0 = success)
    status: (u32, &'a str),
    /// the user- or app-specific properties, each starting with a comma
    who: &'a str,
    app: (&'a str, &'a str, &'a str, &'a str),
    ua: Option<&'a str>,
    identity: &'a str,
    /// whether the sign-in issued a token (its `uniqueTokenIdentifier` is then unique)
    token: bool,
}

fn entra_push(out: &mut Out, rng: &mut Rng, t: i64, e: &EntraSignIn) {
    let sub = rng.below(10_000);
    let correlation = uuid_s(rng.next(), rng.next());
    let mut s = String::with_capacity(3000);
    s.push_str(r#"{"time":""#);
    ts_entra(&mut s, t, sub, false);
    let _ = write!(
        s,
        r#"","resourceId":"/tenants/{TENANT}/providers/Microsoft.aadiam","operationName":"Sign-in activity","operationVersion":"1.0","category":"{}","tenantId":"{TENANT}","resultType":"{}","resultSignature":"None","resultDescription":{},"durationMs":0,"callerIpAddress":"{}","correlationId":"{correlation}","identity":"{}","Level":4,"location":"{}","properties":{{"id":""#,
        e.category,
        e.status.0,
        if e.status.0 == 0 {
            "null".to_string()
        } else {
            format!("\"{}\"", e.status.1)
        },
        e.ip,
        e.identity,
        e.place.map_or("", |p| p.cc)
    );
    out.id(&mut s, IdShape::Uuid4);
    s.push_str(r#"","createdDateTime":""#);
    ts_entra(&mut s, t, sub, true);
    let (app_id, app_name, resource, resource_id) = e.app;
    let _ = write!(
        s,
        r#"","appId":"{app_id}","appDisplayName":"{app_name}","ipAddress":"{}","ipAddressFromResourceProvider":null,"correlationId":"{correlation}","resourceDisplayName":"{resource}","resourceId":"{resource_id}","resourceTenantId":"{TENANT}","homeTenantId":"{TENANT}","tokenIssuerType":"AzureAD","processingTimeInMilliseconds":{},"riskDetail":"none","riskLevelAggregated":"none","riskLevelDuringSignIn":"none","riskState":"none","riskEventTypes_v2":[]"#,
        e.ip,
        40 + rng.below(300)
    );
    s.push_str(e.who);
    match e.ua {
        Some(ua) => {
            let _ = write!(s, r#","userAgent":"{ua}""#);
        }
        None => s.push_str(r#","userAgent":null"#),
    }
    s.push_str(r#","uniqueTokenIdentifier":""#);
    if e.token {
        // unique per sign-in: the counter's bijection again, under another salt
        let n = out.ids;
        digits(&mut s, B64URL, mix(n ^ mix(out.salt ^ 0x7013)), n, 22);
    }
    let _ = write!(
        s,
        r#"","status":{{"errorCode":{},"failureReason":"{}","additionalDetails":null}}"#,
        e.status.0,
        if e.status.0 == 0 {
            "Other."
        } else {
            e.status.1
        }
    );
    match e.place {
        Some(p) => {
            let _ = write!(
                s,
                r#","location":{{"city":"{}","state":"{}","countryOrRegion":"{}","geoCoordinates":{{}}}}"#,
                p.city, p.region, p.cc
            );
        }
        None => s.push_str(
            r#","location":{"city":"","state":"","countryOrRegion":"","geoCoordinates":{}}"#,
        ),
    }
    if e.asn > 0 {
        let _ = write!(s, r#","autonomousSystemNumber":{}"#, e.asn);
    }
    s.push_str("}}");
    out.push(t, Rec::Event, s);
}

fn entra_user(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: &Seg, interactive: bool) {
    let ip = h.ip(seg);
    let place = if seg.net == Net::Home {
        h.geo
    } else {
        OFFICE_PLACE
    };
    let app = if interactive {
        if h.eng && rng.chance(0.3) {
            ENTRA_APPS[4]
        } else {
            ENTRA_APPS[3]
        }
    } else {
        *rng.pick(&ENTRA_APPS[..3])
    };
    let status: (u32, &str) = if interactive && rng.chance(0.05) {
        (50_074, "Strong Authentication is required.")
    } else if interactive && rng.chance(0.01) {
        (
            50_126,
            "Error validating credentials due to invalid username or password.",
        )
    } else {
        (0, "")
    };
    let (os, browser) = match h.os {
        0 => (
            "MacOs",
            if h.uid.is_multiple_of(3) {
                "Safari 18.3"
            } else {
                "Chrome 133.0.0"
            },
        ),
        1 => ("Windows10", "Edge 133.0.0"),
        _ => ("Linux", "Firefox 135.0"),
    };
    let ua = if interactive {
        h.browser()
    } else if app.1 == "Microsoft Teams" {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Teams/24335.206.3315.1373 Chrome/130.0.6723.191 Electron/33.3.1 Safari/537.36"
    } else if app.1 == "Microsoft Outlook" {
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18324; Pro)"
    } else {
        "Microsoft SkyDriveSync 25.020.0202.0003 ship; Windows NT 10.0 (26100)"
    };
    let session = uuid_s(h2(h.uid, seg.day), 0x5e55);
    let who = format!(
        r#","userDisplayName":"{}","userPrincipalName":"{}","userId":"{}","clientAppUsed":"{}","conditionalAccessStatus":"{}","originalRequestId":"","isInteractive":{interactive},"tokenIssuerName":"","clientCredentialType":"none","homeTenantName":"","authenticationMethodsUsed":[],"authenticationRequirement":"multiFactorAuthentication","signInIdentifier":"","signInIdentifierType":null,"servicePrincipalName":"","signInEventTypes":["{}"],"servicePrincipalId":"","federatedCredentialId":"","userType":"member","flaggedForReview":false,"isTenantRestricted":false,"crossTenantAccessType":"none","servicePrincipalCredentialKeyId":"","servicePrincipalCredentialThumbprint":"","incomingTokenType":"{}","authenticationProtocol":"none","sessionId":"{session}","deviceDetail":{{"deviceId":"{}","displayName":"{}-LT{:02}","operatingSystem":"{os}","browser":"{browser}","isCompliant":true,"isManaged":true,"trustType":"Azure AD joined"}},"managedServiceIdentity":{{"msiType":"none","associatedResourceId":null,"federatedTokenId":null,"federatedTokenIssuer":null}}"#,
        h.display,
        h.email,
        h.entra_oid(),
        if interactive {
            "Browser"
        } else {
            "Mobile Apps and Desktop clients"
        },
        if status.0 == 0 {
            "success"
        } else {
            "notApplied"
        },
        if interactive {
            "interactiveUser"
        } else {
            "nonInteractiveUser"
        },
        if interactive { "none" } else { "refreshToken" },
        h.device_id(),
        h.first.to_ascii_uppercase(),
        h.uid % 100,
    );
    let asn = asn_of(seg.net, h).0;
    let e = EntraSignIn {
        category: if interactive {
            "SignInLogs"
        } else {
            "NonInteractiveUserSignInLogs"
        },
        ip: &ip,
        place: Some(place),
        asn,
        status,
        who: &who,
        app,
        ua: Some(ua),
        identity: &h.display,
        token: status.0 == 0,
    };
    entra_push(out, rng, t, &e);
    if status.0 == 50_074 {
        // the push is approved a few seconds later
        let ok = EntraSignIn {
            status: (0, ""),
            token: true,
            ..e
        };
        let at = t + 6_000 + rng.below(20_000) as i64;
        entra_push(out, rng, at, &ok);
    }
}

fn entra_app(out: &mut Out, rng: &mut Rng, t: i64) {
    let (name, sp_id, app_id, kind, ip, resource) = match rng.weighted(&[30, 20, 25, 15, 10]) {
        0 => (
            "svc-hr-connector",
            "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a",
            "4b3c2d1e-0f9a-4b8c-9d7e-6f5a4b3c2d1e",
            "clientSecret",
            "192.0.2.61".to_string(),
            ENTRA_APPS[3],
        ),
        1 => (
            "payroll-sync",
            "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
            "6e5d4c3b-2a19-4087-b6f5-e4d3c2b1a098",
            "certificate",
            "192.0.2.62".to_string(),
            (
                "6e5d4c3b-2a19-4087-b6f5-e4d3c2b1a098",
                "payroll-sync",
                "Office 365 SharePoint Online",
                "00000003-0000-0ff1-ce00-000000000000",
            ),
        ),
        2 => (
            "github-actions-deployer",
            "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
            "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910",
            "federatedIdentityCredential",
            ci_ip(rng),
            ENTRA_APPS[4],
        ),
        3 => (
            "func-invoice-prod",
            "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170",
            "9c8b7a6f-5e4d-4c3b-8a29-1f0e9d8c7b6a",
            "managedIdentity",
            String::new(),
            (
                "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
                "Azure Key Vault",
                "Azure Key Vault",
                "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            ),
        ),
        _ => (
            "backup-vault-msi",
            "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e",
            "2d1c0b9a-8f7e-4d6c-95b4-a39281706f5e",
            "managedIdentity",
            String::new(),
            (
                "e406a681-f3d4-42a8-90b6-c2b029497af1",
                "Azure Storage",
                "Azure Storage",
                "e406a681-f3d4-42a8-90b6-c2b029497af1",
            ),
        ),
    };
    let managed = kind == "managedIdentity";
    let (key, thumb, federated) = match kind {
        "clientSecret" => ("e4d3c2b1-a098-4f7e-8d6c-5b4a39281706", "", ""),
        "certificate" => (
            "91c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
            "3F2A9C1B7E5D4A6B8C0D2E4F6A8B0C2D4E6F8A0B",
            "",
        ),
        "federatedIdentityCredential" => ("", "", "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"),
        _ => ("", "", ""),
    };
    let msi = if managed {
        format!(
            r#"{{"msiType":"SystemAssigned","associatedResourceId":"/subscriptions/2f6a9c1e-4b7d-4e3a-8c5f-1d0e9b8a7c6f/resourceGroups/prod/providers/Microsoft.Web/sites/{name}","federatedTokenId":null,"federatedTokenIssuer":null}}"#
        )
    } else {
        r#"{"msiType":"none","associatedResourceId":null,"federatedTokenId":null,"federatedTokenIssuer":null}"#.to_string()
    };
    let who = format!(
        r#","userDisplayName":null,"userPrincipalName":null,"userId":"","clientAppUsed":null,"conditionalAccessStatus":"notApplied","originalRequestId":"","isInteractive":false,"tokenIssuerName":"","clientCredentialType":"{kind}","homeTenantName":"","authenticationMethodsUsed":[],"authenticationRequirement":"singleFactorAuthentication","servicePrincipalName":"{name}","signInEventTypes":["{}"],"servicePrincipalId":"{sp_id}","federatedCredentialId":"{federated}","userType":null,"flaggedForReview":false,"isTenantRestricted":false,"crossTenantAccessType":"none","servicePrincipalCredentialKeyId":"{key}","servicePrincipalCredentialThumbprint":"{thumb}","incomingTokenType":"none","authenticationProtocol":"none","sessionId":null,"deviceDetail":null,"managedServiceIdentity":{msi}"#,
        if managed {
            "managedIdentity"
        } else {
            "servicePrincipal"
        }
    );
    let _ = app_id;
    let e = EntraSignIn {
        category: if managed {
            "ManagedIdentitySignInLogs"
        } else {
            "ServicePrincipalSignInLogs"
        },
        ip: &ip,
        place: (!managed).then_some(OFFICE_PLACE),
        asn: 0,
        status: (0, ""),
        who: &who,
        app: if managed {
            resource
        } else {
            (app_id, name, resource.2, resource.3)
        },
        ua: None,
        identity: name,
        token: true,
    };
    entra_push(out, rng, t, &e)
}

fn entra(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 6, h2(seed, 700))?;
    let mut rng = Rng::new(mix(h2(seed, 7)));
    // the first interactive sign-in of each person's day; at most 30% of the file
    let logins = first_segments(org);
    let share = (target as f64 * 0.3 / (logins.len() as f64 * 1.06)).min(1.0);
    for (h, seg) in &logins {
        if (h2(h.uid, 0xe1) % 10_000) as f64 / 10_000.0 < share {
            let t = seg.start + 30_000 + rng.below(120_000) as i64;
            entra_user(&mut out, &mut rng, t, h, seg, true);
        }
    }
    let (curve, p_human) = org.curve(0.75, false);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, false) {
                let interactive = rng.chance(0.15);
                return entra_user(out, rng, t, h, &seg, interactive);
            }
        }
        entra_app(out, rng, t)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// OCSF: Security Lake (the data platform account's CloudTrail as API Activity) and Google
// Workspace sign-ins (Authentication) from the SIEM's OCSF pipeline

/// Who calls in an OCSF API Activity record: `actor.user` and `actor.session` JSON, address
/// (else the calling AWS service's name), user agent.
struct OcsfCaller<'a> {
    user: &'a str,
    session: &'a str,
    ip: Option<&'a str>,
    ua: &'a str,
}

/// service, operation, read-only, resource ARN (or empty)
type OcsfCall<'a> = (&'a str, &'a str, bool, &'a str);

fn ocsf_api(out: &mut Out, rng: &mut Rng, t: i64, who: &OcsfCaller, call: OcsfCall) {
    let OcsfCaller {
        user,
        session,
        ip,
        ua,
    } = *who;
    let (service, operation, read, resource) = call;
    let mut s = String::with_capacity(1600);
    s.push_str(r#"{"metadata":{"product":{"version":"1.11","name":"CloudTrail","vendor_name":"AWS","feature":{"name":"Management, Data, and Insights"}},"uid":""#);
    out.id(&mut s, IdShape::Uuid4);
    let _ = write!(
        s,
        r#"","profiles":["cloud","datetime"],"version":"1.1.0"}},"time":{},"time_dt":""#,
        epoch_ms(t)
    );
    ts_ms(&mut s, t);
    let _ = write!(
        s,
        r#"","cloud":{{"region":"{AWS_REGION}","provider":"AWS"}},"api":{{"response":null,"operation":"{operation}","version":null,"service":{{"name":"{service}"}},"request":{{"uid":"{}"}}}},"actor":{{"user":{user},"session":{session},"invoked_by":null}},"http_request":{{"user_agent":"{ua}"}},"src_endpoint":"#,
        uuid_s(rng.next(), rng.next())
    );
    match ip {
        Some(ip) => {
            let _ = write!(s, r#"{{"domain":null,"ip":"{ip}"}}"#);
        }
        None => {
            let _ = write!(s, r#"{{"domain":"{ua}","ip":null}}"#);
        }
    }
    s.push_str(r#","resources":["#);
    if !resource.is_empty() {
        let _ = write!(
            s,
            r#"{{"uid":"{resource}","type":"{}"}}"#,
            if resource.starts_with("arn:aws:s3") {
                "AWS::S3::Bucket"
            } else {
                "AWS::IAM::Role"
            }
        );
    }
    let (activity, id) = if read { ("Read", 2) } else { ("Update", 3) };
    let _ = write!(
        s,
        r#"],"class_name":"API Activity","class_uid":6003,"category_name":"Application Activity","category_uid":6,"severity_id":1,"severity":"Informational","status":"Success","status_id":1,"activity_name":"{activity}","activity_id":{id},"type_uid":60030{id},"type_name":"API Activity: {activity}","unmapped":{{"eventType":"AwsApiCall","recipientAccountId":"{DATA_ACCOUNT}","managementEvent":"{}","readOnly":"{read}"}},"accountid":"{DATA_ACCOUNT}","region":"{AWS_REGION}","asl_version":"2.0"}}"#,
        !resource.starts_with("arn:aws:s3")
    );
    out.push(t, Rec::Event, s);
}

fn ocsf_session(created: i64, issuer: &str) -> String {
    format!(
        r#"{{"created_time_dt":"{}","created_time":{},"is_mfa":false,"issuer":"arn:aws:iam::{DATA_ACCOUNT}:role/{issuer}"}}"#,
        {
            let mut s = String::new();
            ts_ms(&mut s, created);
            s
        },
        epoch_ms(created)
    )
}

fn ocsf_logon(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: &Seg) {
    let ip = h.ip(seg);
    let place = if seg.net == Net::Home {
        h.geo
    } else {
        OFFICE_PLACE
    };
    let failed = rng.chance(0.01);
    let mut s = String::with_capacity(1200);
    let _ = write!(
        s,
        r#"{{"activity_id":1,"activity_name":"Logon","category_name":"Identity & Access Management","category_uid":3,"class_name":"Authentication","class_uid":3002,"type_uid":300201,"type_name":"Authentication: Logon","severity_id":{},"severity":"{}","status":"{}","status_id":{},"time":{},"metadata":{{"product":{{"name":"Google Workspace","vendor_name":"Google","feature":{{"name":"login"}}}},"uid":""#,
        if failed { 3 } else { 1 },
        if failed { "Medium" } else { "Informational" },
        if failed { "Failure" } else { "Success" },
        if failed { 2 } else { 1 },
        epoch_ms(t)
    );
    out.id(&mut s, IdShape::Uuid4);
    let _ = write!(
        s,
        r#"","version":"1.1.0","log_name":"login"}},"user":{{"uid":"1{:018}","name":"{}","email_addr":"{}","type":"User","type_id":1}},"src_endpoint":{{"ip":"{ip}","location":{{"city":"{}","region":"{}","country":"{}"}}}},"http_request":{{"user_agent":"{}"}},"auth_protocol":"SAML","auth_protocol_id":5,"logon_type":"Network","logon_type_id":3,"is_mfa":{}"#,
        h.uid % 1_000_000_000_000_000_000,
        h.email,
        h.email,
        place.city,
        place.region,
        place.cc,
        h.browser(),
        !failed
    );
    if failed {
        s.push_str(r#","status_detail":"login_failure","status_code":"invalid_password""#);
    } else {
        let _ = write!(
            s,
            r#","session":{{"uid":"{}","is_remote":true}}"#,
            uuid_s(h2(h.uid, seg.day ^ 0x9e), 0x6005)
        );
    }
    s.push_str(r#","service":{"name":"Google Workspace"},"dst_endpoint":{"hostname":"accounts.google.com"}}"#);
    out.push(t, Rec::Event, s);
}

fn ocsf_human(out: &mut Out, rng: &mut Rng, t: i64, h: &Human, seg: Seg) {
    if !(h.eng && matches!(h.team().name, "data" | "platform-eng" | "sre")) || rng.chance(0.4) {
        return ocsf_logon(out, rng, t, h, &seg);
    }
    let hour = t / HOUR;
    let ip = h.ip(&seg);
    let role = "AWSReservedSSO_DataEngineer_c7d38e1f2a9b4056";
    let key = aws_key("ASIA", h3(h.uid ^ 0x4444, seg.id, hour as u64));
    let user = format!(
        r#"{{"type":"AssumedRole","name":null,"uid_alt":"{}:{}","uid":"arn:aws:sts::{DATA_ACCOUNT}:assumed-role/{role}/{}","account":{{"uid":"{DATA_ACCOUNT}"}},"credential_uid":"{key}"}}"#,
        role_id(role),
        h.email,
        h.email
    );
    let session = ocsf_session((hour * HOUR).max(seg.start), &sso_role_path(role));
    let &(service, operation, read, resource) = rng.pick(&[
        (
            "s3.amazonaws.com",
            "GetObject",
            true,
            "arn:aws:s3:::corp-lake-curated",
        ),
        (
            "s3.amazonaws.com",
            "ListObjects",
            true,
            "arn:aws:s3:::corp-lake-raw",
        ),
        ("glue.amazonaws.com", "GetTable", true, ""),
        ("athena.amazonaws.com", "StartQueryExecution", false, ""),
        ("athena.amazonaws.com", "GetQueryResults", true, ""),
        ("glue.amazonaws.com", "GetJobRuns", true, ""),
    ]);
    ocsf_api(
        out,
        rng,
        t,
        &OcsfCaller {
            user: &user,
            session: &session,
            ip: Some(&ip),
            ua: h.aws_cli(),
        },
        (service, operation, read, resource),
    )
}

fn ocsf_service(out: &mut Out, rng: &mut Rng, t: i64) {
    let hour = t / HOUR;
    match rng.weighted(&[25, 45, 15, 15]) {
        0 => {
            // the ingest service's long-term key: two hosts in the datacenter, two buckets
            let key = key_of("svc-dataplatform-ingest");
            let user = format!(
                r#"{{"type":"IAMUser","name":"svc-dataplatform-ingest","uid_alt":"{}","uid":"arn:aws:iam::{DATA_ACCOUNT}:user/svc-dataplatform-ingest","account":{{"uid":"{DATA_ACCOUNT}"}},"credential_uid":"{key}"}}"#,
                user_id("svc-dataplatform-ingest")
            );
            let ip = format!("192.0.2.{}", 80 + rng.below(2));
            let &(operation, read, resource) = rng.pick(&[
                ("PutObject", false, "arn:aws:s3:::corp-lake-raw"),
                ("PutObject", false, "arn:aws:s3:::corp-lake-raw"),
                ("ListObjects", true, "arn:aws:s3:::corp-lake-landing"),
            ]);
            ocsf_api(
                out,
                rng,
                t,
                &OcsfCaller {
                    user: &user,
                    session: "null",
                    ip: Some(&ip),
                    ua: UA_BOTO,
                },
                ("s3.amazonaws.com", operation, read, resource),
            )
        }
        1 => {
            // Spark workers on the data platform's node group (in the shared VPC)
            let inst = format!("i-0{:016x}", h2(0x5a4c, rng.below(12)));
            let key = aws_key("ASIA", h3(hs(&inst), hour as u64, 0x44));
            let user = format!(
                r#"{{"type":"AssumedRole","name":"spark-worker","uid_alt":"{}:{inst}","uid":"arn:aws:sts::{DATA_ACCOUNT}:assumed-role/spark-worker/{inst}","account":{{"uid":"{DATA_ACCOUNT}"}},"credential_uid":"{key}"}}"#,
                role_id("spark-worker")
            );
            let session = ocsf_session(hour * HOUR - 5 * MIN, "spark-worker");
            let ip = cluster_ip(hs(&inst));
            let &(operation, read, resource) = rng.pick(&[
                ("GetObject", true, "arn:aws:s3:::corp-lake-raw"),
                ("PutObject", false, "arn:aws:s3:::corp-lake-curated"),
                ("GetObject", true, "arn:aws:s3:::corp-lake-curated"),
            ]);
            ocsf_api(
                out,
                rng,
                t,
                &OcsfCaller {
                    user: &user,
                    session: &session,
                    ip: Some(&ip),
                    ua: UA_JAVA,
                },
                ("s3.amazonaws.com", operation, read, resource),
            )
        }
        2 => {
            let user = r#"{"type":"AWSService","name":"glue.amazonaws.com"}"#;
            ocsf_api(
                out,
                rng,
                t,
                &OcsfCaller {
                    user,
                    session: "null",
                    ip: None,
                    ua: "glue.amazonaws.com",
                },
                (
                    "sts.amazonaws.com",
                    "AssumeRole",
                    false,
                    &format!("arn:aws:iam::{DATA_ACCOUNT}:role/glue-etl"),
                ),
            )
        }
        _ => {
            let run = h2(0x91e, (t / (20 * MIN)) as u64);
            let session_name = format!("GlueJobRunnerSession-{:x}", run % 1_000_000);
            let key = aws_key("ASIA", h2(run, 0x91e));
            let user = format!(
                r#"{{"type":"AssumedRole","name":"glue-etl","uid_alt":"{}:{session_name}","uid":"arn:aws:sts::{DATA_ACCOUNT}:assumed-role/glue-etl/{session_name}","account":{{"uid":"{DATA_ACCOUNT}"}},"credential_uid":"{key}"}}"#,
                role_id("glue-etl")
            );
            let session = ocsf_session(t / (20 * MIN) * (20 * MIN), "glue-etl");
            let &(operation, read, resource) = rng.pick(&[
                ("GetObject", true, "arn:aws:s3:::corp-lake-raw"),
                ("PutObject", false, "arn:aws:s3:::corp-lake-curated"),
            ]);
            ocsf_api(
                out,
                rng,
                t,
                &OcsfCaller {
                    user: &user,
                    session: &session,
                    ip: None,
                    ua: "glue.amazonaws.com",
                },
                ("s3.amazonaws.com", operation, read, resource),
            )
        }
    }
}

fn ocsf(dir: &Path, org: &Org, target: u64, seed: u64) -> io::Result<FormatCount> {
    let mut out = Out::create(dir, 7, h2(seed, 800))?;
    let mut rng = Rng::new(mix(h2(seed, 8)));
    let (curve, p_human) = org.curve(0.4, false);
    day(&mut out, &mut rng, target, &curve, |out, rng, t| {
        if rng.chance(p_human[hour_of(t)]) {
            if let Some((h, seg)) = org.pick(rng, t, false) {
                return ocsf_human(out, rng, t, h, seg);
            }
        }
        ocsf_service(out, rng, t)
    })?;
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// the day

/// Write one benign day of about `events` records into `dir`: one file per format (see
/// [`FORMATS`]) and `approvals.jsonl`. Deterministic for a given `events` and `seed`.
pub fn generate(dir: &Path, events: u64, seed: u64) -> io::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let org = Org::new();
    let target = |i: usize| (events as f64 * FORMATS[i].2).round() as u64;
    type Gen = fn(&Path, &Org, u64, u64) -> io::Result<FormatCount>;
    let gens: [Gen; 8] = [
        cloudtrail, kubernetes, github, okta, vault, gcp, entra, ocsf,
    ];
    let formats = std::thread::scope(|s| {
        let handles: Vec<_> = gens
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let org = &org;
                s.spawn(move || g(dir, org, target(i), seed))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread"))
            .collect::<io::Result<Vec<_>>>()
    })?;
    let mut f = BufWriter::new(File::create(dir.join("approvals.jsonl"))?);
    let carol = org.carol();
    writeln!(
        f,
        r#"{{"kind":"approval","id":"{BREAK_GLASS_APPROVAL}","scope":"break_glass","principal":"{}","approved_by":"oncall-lead@corp.example","valid_from":"2026-03-10T14:00:00Z","valid_until":"2026-03-10T15:00:00Z","reason":"orders-prod Aurora failover stuck: read-only diagnosis and a reboot of the orders-db-proxy host"}}"#,
        carol.email
    )?;
    f.flush()?;
    Ok(Summary {
        formats,
        approvals: 1,
    })
}

use super::*;
use crate::config::Config;
use std::path::PathBuf;

const HEAD: &str = "[daemon]\nstate_dir = \"s\"\n[[sources]]\ntype = \"file\"\nname = \"a\"\npaths = [\"x.log\"]\n";

fn parse(sinks: &str) -> Result<Config, Vec<String>> {
    Config::parse(
        &format!("{HEAD}{sinks}"),
        Path::new("/etc/bypassd/bypassd.toml"),
    )
}

fn errors(sinks: &str) -> String {
    parse(sinks).unwrap_err().join("\n")
}

#[test]
fn defaults_names_and_relative_paths() {
    let c = parse(
        r#"
[[sinks]]
type = "stdout"
[[sinks]]
type = "file"
path = "out/findings.jsonl"
[[sinks]]
type = "webhook"
url = "https://hooks.example.com/x"
[[sinks]]
type = "webhook"
url = "http://127.0.0.1:8080/"
name = "audit"
min_severity = "high"
families = ["break_glass", "exception_path"]
batch_max = 50
batch_wait = "2s"
[[sinks]]
type = "alertmanager"
url = "http://127.0.0.1:9093"
[[sinks]]
type = "kafka"
brokers = "k:9092"
topic = "findings"
[sinks.client]
"enable.idempotence" = true
acks = "all"
"linger.ms" = 5
"#,
    )
    .unwrap();
    let names: Vec<&str> = c.sinks.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "stdout",
            "file",
            "webhook-2",
            "audit",
            "alertmanager",
            "kafka"
        ]
    );
    let SinkConfig::File(f) = &c.sinks[1] else {
        panic!("file")
    };
    assert_eq!(f.path, PathBuf::from("/etc/bypassd/out/findings.jsonl"));
    let d = c.sinks[2].delivery().unwrap();
    assert_eq!(
        (d.queue_size, d.spool_max_bytes, d.batch_max),
        (1000, 1 << 30, 1)
    );
    assert_eq!(d.batch_wait, Duration::from_secs(1));
    assert_eq!(d.backoff_initial, Duration::from_millis(500));
    assert_eq!(d.backoff_max, Duration::from_secs(60));
    assert_eq!(c.sinks[3].delivery().unwrap().batch_max, 50);
    let filter = c.sinks[3].filter();
    assert!(filter.takes(4, "break_glass") && filter.takes(5, "exception_path"));
    assert!(!filter.takes(3, "break_glass") && !filter.takes(5, "standing_token"));
    assert!(c.sinks[0].filter().takes(1, "standing_token"));
    let SinkConfig::Alertmanager(am) = &c.sinks[4] else {
        panic!("alertmanager")
    };
    assert_eq!(am.resolve_after(), Duration::from_secs(3600));
    assert_eq!(am.timeout(), Duration::from_secs(10));
    assert!(c.sinks[0].delivery().is_none());
}

#[test]
fn every_sink_error_is_named_by_its_field() {
    let all = errors(
        r#"
[[sinks]]
type = "stdout"
min_severity = "urgent"
families = ["break_glass_misuse"]
[[sinks]]
type = "webhook"
url = "ftp://x"
headers = { Authorization = "Bearer abc", "X-Team" = "sec" }
token_env = "T"
token_file = "missing-token"
template = '{"text": "{{titel}}"}'
resolve_after = "1h"
timeout = "0s"
batch_max = 0
backoff_initial = "2m"
backoff_max = "1m"
batch_wait = "soon"
[[sinks]]
type = "alertmanager"
url = "not a url"
template = "{}"
path = "api"
resolve_after = "later"
ca_file = "ca.pem"
[[sinks]]
type = "kafka"
brokers = ""
topic = "t"
[sinks.client]
"enable.idempotence" = false
acks = 1
"bootstrap.servers" = "other:9092"
[[sinks]]
type = "stdout"
name = "webhook-1"
[[sinks]]
type = "webhook"
url = "http://x/"
name = "bad/name"
"#,
    );
    for want in [
        "sinks[0].min_severity: unknown severity \"urgent\" (expected one of: informational, low, medium, high, critical)",
        "sinks[0].families: unknown family \"break_glass_misuse\" (expected any of: credential_sharing",
        "sinks[1].url: \"ftp://x\" must be an http:// or https:// URL",
        "sinks[1].headers.Authorization: do not put credentials in the config; use token_env or token_file",
        "sinks[1].token_file: set token_env or token_file, not both",
        "sinks[1].template: placeholder {{titel}}: a finding has no field \"titel\"",
        "sinks[1].resolve_after: only for alertmanager sinks",
        "sinks[1].timeout: must be above 0",
        "sinks[1].batch_max: must be between 1 and queue_size (1000)",
        "sinks[1].backoff_max: shorter than backoff_initial",
        "sinks[1].batch_wait: invalid duration \"soon\"",
        "sinks[2].url: \"not a url\" is not a URL",
        "sinks[2].template: only for webhook sinks",
        "sinks[2].path: \"api\" must start with /",
        "sinks[2].resolve_after: invalid duration \"later\"",
        "sinks[2].ca_file: no such file: /etc/bypassd/ca.pem",
        "sinks[3].brokers: empty",
        "sinks[3].client.enable.idempotence: must stay true",
        "sinks[3].client.acks: must stay all",
        "sinks[3].client.bootstrap.servers: is set from `brokers`",
        "sinks[4].name: \"webhook-1\" already used by sinks[1]",
        "sinks[5].name: \"bad/name\" must be letters, digits",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    assert!(!all.contains("X-Team"), "{all}");
}

#[test]
fn parse_errors_keep_the_entry_index_for_the_rest() {
    // entry #1 does not parse (unknown key); entry #2 is still checked as sinks[1]
    let all = errors(
        r#"
[[sinks]]
type = "file"
path = "x"
colour = "red"
[[sinks]]
type = "stdout"
min_severity = "loud"
[[sinks]]
type = "pager"
"#,
    );
    for want in [
        "[[sinks]] #1: unknown field `colour`",
        "sinks[1].min_severity: unknown severity \"loud\"",
        "[[sinks]] #3: unknown variant `pager`, expected one of `stdout`, `file`, `webhook`, `alertmanager`, `kafka`",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn a_token_env_and_a_custom_auth_header_are_fine() {
    let c = parse(
        r#"
[[sinks]]
type = "webhook"
url = "https://x.example/hook"
token_env = "BYPASSD_HOOK_TOKEN"
auth_header = "X-Api-Key"
auth_scheme = ""
headers = { "X-Source" = "bypassd" }
"#,
    )
    .unwrap();
    let SinkConfig::Webhook(h) = &c.sinks[0] else {
        panic!("webhook")
    };
    assert_eq!(h.auth_header, "X-Api-Key");
    // the custom auth header may not be set statically either
    let all = errors(
        "[[sinks]]\ntype = \"webhook\"\nurl = \"https://x/\"\nauth_header = \"X-Api-Key\"\nheaders = { \"x-api-key\" = \"k\" }\n",
    );
    assert!(
        all.contains("sinks[0].headers.x-api-key: do not put credentials"),
        "{all}"
    );
}

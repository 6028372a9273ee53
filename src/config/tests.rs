use super::*;

fn parse(text: &str) -> Result<Config, Vec<String>> {
    Config::parse(text, Path::new("/nonexistent/bypassd.toml"))
}

#[test]
fn the_documented_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/bypassd.toml");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.state_dir, PathBuf::from("/var/lib/bypassd"));
    assert_eq!(c.lateness, 5 * 60 * SECOND);
    assert_eq!(c.hold, 0);
    assert_eq!(c.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(c.sources.len(), 1);
    let SourceKind::File(f) = &c.sources[0].kind else {
        panic!("file source")
    };
    assert_eq!(f.paths, ["/var/log/kube-audit/*.log*"]);
    assert_eq!(f.start_at, StartAt::End);
    assert!(matches!(c.sinks[..], [SinkConfig::Stdout(_)]));
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(
        r#"
[daemon]
state_dir = "state"
[[sources]]
type = "kafka"
name = "ct"
brokers = "127.0.0.1:9092"
group_id = "g"
topics = ["cloudtrail"]
[sources.client]
"session.timeout.ms" = 6000
"enable.partition.eof" = false
"#,
    )
    .unwrap();
    assert_eq!(c.state_dir, PathBuf::from("/nonexistent/state"));
    assert_eq!(c.checkpoint_interval, SECOND);
    assert_eq!(c.shutdown_timeout, 10 * SECOND);
    assert!(c.watch_config);
    assert_eq!(
        c.metrics,
        Some(crate::config::DEFAULT_METRICS_LISTEN),
        "loopback by default"
    );
    assert!(matches!(c.sinks[..], [SinkConfig::Stdout(_)]));
    let SourceKind::Kafka(k) = &c.sources[0].kind else {
        panic!("kafka source")
    };
    assert_eq!(k.client["session.timeout.ms"], "6000");
    assert_eq!(k.client["enable.partition.eof"], "false");
}

#[test]
fn every_error_is_reported_at_once() {
    let errs = parse(
        r#"
[daemon]
lateness = "5 parsecs"
hold = "10m"
inventory = "missing.yaml"
colour = "blue"

[metrics]
listen = "localhost"

[[sources]]
type = "file"
name = "a"
paths = []

[[sources]]
type = "kafka"
name = "a"
brokers = "b:9092"
group_id = "g"
topics = ["t"]
[sources.client]
"group.id" = "other"

[[sources]]
type = "syslog"
name = "s"

[[sinks]]
type = "pager"

[extra]
"#,
    )
    .unwrap_err();
    let all = errs.join("\n");
    for want in [
        "unknown section `extra`",
        "[daemon]: unknown field `colour`",
        "daemon.state_dir is required",
        "metrics.listen",
        "source a: `paths` is empty",
        "client.group.id is set by bypassd",
        "name \"a\" already used by #1",
        "[[sources]] #3 (s): unknown variant `syslog`",
        "[[sinks]] #1: unknown variant `pager`",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    // [daemon] failed to parse as a whole, so its values were not checked one by one; fix the
    // unknown key and the rest is reported
    let errs = parse(
        r#"
[daemon]
state_dir = "s"
lateness = "5 parsecs"
hold = "10m"
inventory = "missing.yaml"
[[sources]]
type = "file"
name = "a"
paths = ["/var/log/[x.log"]
"#,
    )
    .unwrap_err();
    let all = errs.join("\n");
    for want in [
        "daemon.lateness: invalid duration \"5 parsecs\"",
        "daemon.hold (10m) cannot be longer than daemon.lateness",
        "daemon.inventory: no such file: /nonexistent/missing.yaml",
        "bad glob \"/var/log/[x.log\"",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
}

#[test]
fn no_sources_is_an_error_and_bad_toml_names_the_line() {
    let errs = parse("[daemon]\nstate_dir = \"s\"\n").unwrap_err();
    assert!(errs[0].contains("no [[sources]]"), "{errs:?}");
    let errs = parse("[daemon]\nstate_dir = \n").unwrap_err();
    assert!(errs[0].contains("line 2"), "{errs:?}");
}

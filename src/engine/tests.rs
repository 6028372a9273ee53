use super::*;
use crate::context::Approval;
use crate::detect::load::load_texts;
use crate::event::{Credential, CredentialKind, Format, Origin, Source};
use crate::time::{DAY, SECOND};

const T0: Millis = 1_772_424_000_000; // 2026-03-02T04:00:00Z

fn det(yaml: &str) -> Vec<Arc<Detector>> {
    let with_test =
        format!("{yaml}\ntests:\n  - name: placeholder\n    expect: 0\n    events: []\n");
    load_texts([("t.yaml".to_string(), with_test.as_str())]).unwrap()
}

fn multi_network() -> Vec<Arc<Detector>> {
    crate::detect::load::load_embedded()
        .unwrap()
        .into_iter()
        .filter(|d| d.id == "credential-multi-network")
        .collect()
}

fn ev(secs: i64, actor: &str, cred: &str, ip: &str) -> Event {
    let mut e = Event::new(
        T0 + secs * SECOND,
        Format::Cloudtrail,
        Origin::Inline {
            test: Arc::from("t"),
            index: secs as u64,
        },
    );
    e.actor.id = actor.into();
    e.actor.name = Some(actor.into());
    e.action.name = "ListBuckets".into();
    if !cred.is_empty() {
        e.credential = Some(Credential::new(cred, CredentialKind::LongTermKey));
    }
    e.source = Source::from_raw(Some(ip), None);
    e.source.network = e.source.ip.map(crate::network::network_of);
    e
}

fn run(engine: &mut Engine, events: Vec<Event>) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in events {
        engine.push(Arc::new(e), &mut out);
    }
    engine.flush(&mut out);
    out
}

#[test]
fn out_of_order_events_within_lateness_are_reordered() {
    // arrival order is scrambled by up to 4 minutes; lateness is 5 minutes
    let events = vec![
        ev(240, "a", "AKIA1", "192.0.2.1"),
        ev(0, "a", "AKIA1", "203.0.113.1"),
        ev(120, "a", "AKIA1", "198.51.100.1"),
    ];
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let out = run(&mut e, events);
    assert_eq!(out.len(), 1);
    assert_eq!(e.stats().late, 0);
    let f = &out[0];
    assert_eq!(
        f.start_time, T0,
        "window starts at the earliest event, not the first arrival"
    );
    assert_eq!(f.end_time, T0 + 240 * SECOND);
    assert_eq!(f.unmapped.distinct_values.len(), 3);
    let times: Vec<Millis> = f.evidences.iter().map(|x| x.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn a_full_reorder_buffer_sends_its_oldest_on_early_and_counts_it() {
    // 40 credentials used from 3 networks each within 7 minutes, arriving scrambled by up to 40
    // seconds: the finding set must not depend on how many events the buffer may hold
    let mut events = Vec::new();
    for i in 0..120i64 {
        let k = i % 40;
        let net = i / 40;
        events.push(ev(
            i * 5,
            &format!("u{k}"),
            &format!("AKIA{k}"),
            &format!("10.{net}.{k}.1"),
        ));
    }
    // swap events eight apart
    for i in (0..events.len() - 8).step_by(16) {
        events.swap(i, i + 8);
    }
    let keys = |out: &[Finding]| {
        let mut k: Vec<String> = out.iter().map(|f| f.unmapped.key.clone()).collect();
        k.sort();
        k
    };
    let mut full = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let want = run(&mut full, events.clone());
    assert_eq!(full.stats().early, 0);
    assert_eq!(
        want.len(),
        40,
        "every credential used from three networks in 10 minutes"
    );
    let mut small = Engine::new(&multi_network(), DEFAULT_LATENESS).with_max_held(4);
    let got = run(&mut small, events);
    assert!(small.stats().early > 0, "a 4-event buffer fills");
    assert_eq!(small.stats().late, 0, "early is not late");
    assert_eq!(keys(&got), keys(&want));
    for f in &got {
        let times: Vec<Millis> = f.evidences.iter().map(|x| x.time).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }
}

#[test]
fn late_events_are_counted_and_still_join_open_windows() {
    let mut e = Engine::new(&multi_network(), MINUTE);
    let mut out = Vec::new();
    e.push(Arc::new(ev(0, "a", "AKIA1", "203.0.113.1")), &mut out);
    e.push(Arc::new(ev(240, "a", "AKIA1", "198.51.100.1")), &mut out);
    e.push(Arc::new(ev(600, "b", "AKIA2", "10.0.0.1")), &mut out); // moves the watermark to 540s
    assert!(e.watermark() >= T0 + 540 * SECOND);
    // 3 minutes behind the watermark: late, but inside AKIA1's 10 minute window
    e.push(Arc::new(ev(360, "a", "AKIA1", "192.0.2.9")), &mut out);
    e.flush(&mut out);
    assert_eq!(e.stats().late, 1);
    assert_eq!(out.len(), 1, "the late event completed the pattern");
    // far too late for any window still held: counted, no finding
    let mut e = Engine::new(&multi_network(), MINUTE);
    let mut out = Vec::new();
    e.push(Arc::new(ev(0, "a", "AKIA1", "203.0.113.1")), &mut out);
    e.push(Arc::new(ev(3600, "a", "AKIA1", "198.51.100.1")), &mut out);
    e.push(Arc::new(ev(3700, "b", "AKIA2", "198.51.100.1")), &mut out); // releases AKIA1's 3600 event
    e.push(Arc::new(ev(2900, "a", "AKIA1", "192.0.2.9")), &mut out);
    e.flush(&mut out);
    assert!(out.is_empty());
    assert_eq!(e.stats().late, 1);
    assert_eq!(e.state_sizes()[0].2, 1, "too late for the window, counted");
}

#[test]
fn many_addresses_in_one_slash_24_do_not_alert_but_three_networks_do() {
    let pool: Vec<Event> = (0..50)
        .map(|i| ev(i * 5, "ci", "AKIACI", &format!("198.51.100.{}", i + 1)))
        .collect();
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    assert!(run(&mut e, pool).is_empty());
    let v6: Vec<Event> = (0..3)
        .map(|i| ev(i * 60, "x", "AKIAV6", &format!("2001:db8:0:{i}::1")))
        .collect();
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    assert_eq!(run(&mut e, v6).len(), 1, "three /64s are three networks");
    let same64: Vec<Event> = (0..3)
        .map(|i| ev(i * 60, "x", "AKIAV6", &format!("2001:db8:0:1::{i}")))
        .collect();
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    assert!(run(&mut e, same64).is_empty());
}

#[test]
fn window_boundary_is_inclusive_of_exactly_ten_minutes() {
    let events = vec![
        ev(0, "a", "AKIA1", "203.0.113.1"),
        ev(300, "a", "AKIA1", "198.51.100.1"),
        ev(600, "a", "AKIA1", "192.0.2.1"),
    ];
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    assert_eq!(run(&mut e, events).len(), 1);
    let events = vec![
        ev(0, "a", "AKIA1", "203.0.113.1"),
        ev(300, "a", "AKIA1", "198.51.100.1"),
        ev(601, "a", "AKIA1", "192.0.2.1"),
    ];
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    assert!(run(&mut e, events).is_empty());
}

fn sharing_every_minute(minutes: usize) -> Vec<Event> {
    (0..minutes)
        .map(|i| {
            let ip = ["203.0.113.1", "198.51.100.1", "192.0.2.1"][i % 3];
            ev(i as i64 * 60, "a", "AKIA1", ip)
        })
        .collect()
}

/// (activity_id, occurrences) of each finding
fn activities(out: &[Finding]) -> Vec<(u32, u64)> {
    out.iter()
        .map(|f| (f.activity_id, f.unmapped.occurrences))
        .collect()
}

#[test]
fn continuing_activity_is_one_create_then_updates_at_doublings() {
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let out = run(&mut e, sharing_every_minute(30));
    // the condition first holds at minute 2; minutes 3..29 are 27 repeats inside the hour
    assert_eq!(
        activities(&out),
        [(1, 1), (2, 2), (2, 4), (2, 8), (2, 16), (2, 28)],
        "Create, Updates when the count doubles, and the closing Update with the final count"
    );
    assert_eq!(e.stats().suppressed["credential-multi-network"], 27);
    assert_eq!(e.stats().updates["credential-multi-network"], 5);
    assert_eq!(e.stats().findings["credential-multi-network"], 1);
    let uids: std::collections::BTreeSet<_> =
        out.iter().map(|f| f.finding_info.uid.clone()).collect();
    assert_eq!(uids.len(), 1, "Updates keep the Create's finding uid");
    let records: std::collections::BTreeSet<_> =
        out.iter().map(|f| f.metadata.uid.clone()).collect();
    assert_eq!(records.len(), out.len(), "each record has its own id");
    let last = out.last().unwrap();
    assert_eq!(
        last.finding_info.first_seen_time,
        out[0].finding_info.first_seen_time
    );
    assert_eq!(last.end_time, T0 + 29 * 60 * SECOND);
}

#[test]
fn after_the_suppression_period_a_new_finding_is_raised() {
    let mut spec = (*multi_network()[0]).clone();
    spec.suppress = 10 * 60 * SECOND;
    let mut e = Engine::new(&[Arc::new(spec)], DEFAULT_LATENESS);
    let out = run(&mut e, sharing_every_minute(30));
    // Creates at minutes 2, 12 and 22; each period folds 9 repeats (Updates at 2, 4, 8 and a
    // closing one at 10 when the next Create arrives), the last period closes at the flush
    let acts = activities(&out);
    let creates = acts.iter().filter(|(a, _)| *a == 1).count();
    assert_eq!(creates, 3, "{acts:?}");
    assert_eq!(
        &acts[..6],
        [(1, 1), (2, 2), (2, 4), (2, 8), (2, 10), (1, 1)]
    );
    assert_eq!(e.stats().suppressed["credential-multi-network"], 25);
    let uids: std::collections::BTreeSet<_> =
        out.iter().map(|f| f.finding_info.uid.clone()).collect();
    assert_eq!(uids.len(), 3, "each period has its own finding uid");
}

#[test]
fn suppression_off_raises_every_candidate() {
    let mut spec = (*multi_network()[0]).clone();
    spec.suppress = 0;
    let mut e = Engine::new(&[Arc::new(spec)], DEFAULT_LATENESS);
    let out = run(&mut e, sharing_every_minute(10));
    assert_eq!(activities(&out), vec![(1, 1); 8]);
}

#[test]
fn event_count_counts_per_key() {
    let d = det("id: burst\ntitle: burst\nfamily: credential_sharing\nseverity: low\nmatch: {action.name: ListBuckets}\ncorrelation: {type: event_count, group-by: [actor.id], timespan: 1m, condition: {gte: 3}}");
    let mut e = Engine::new(&d, DEFAULT_LATENESS);
    let out = run(
        &mut e,
        vec![
            ev(0, "a", "", "192.0.2.1"),
            ev(10, "b", "", "192.0.2.1"),
            ev(20, "a", "", "192.0.2.1"),
            ev(30, "a", "", "192.0.2.1"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].unmapped.count, 3);
    assert_eq!(out[0].unmapped.key, "cloudtrail, a");
}

fn approval(principal: &str, from: i64, until: i64) -> Approval {
    Approval {
        id: "INC-1".into(),
        scope: "break_glass".into(),
        principal: principal.into(),
        approved_by: Some("lead@corp.example".into()),
        valid_from: T0 + from * SECOND,
        valid_until: T0 + until * SECOND,
        reason: None,
        origin: Origin::Inline {
            test: Arc::from("t"),
            index: 0,
        },
    }
}

fn absence() -> Vec<Arc<Detector>> {
    det("id: unapproved\ntitle: unapproved\nfamily: break_glass\nseverity: high\nmatch: {actor.name|contains: breakglass}\ncorrelation: {type: absence, group-by: [actor.id], absent: {approval: break_glass}, grace: 10m}")
}

#[test]
fn absence_waits_for_grace_so_late_approvals_count() {
    let mut e = Engine::new(&absence(), MINUTE);
    let mut out = Vec::new();
    e.push(
        Arc::new(ev(0, "breakglass-admin", "", "192.0.2.1")),
        &mut out,
    );
    e.push(Arc::new(ev(300, "other", "", "192.0.2.1")), &mut out); // watermark 4m: not decided yet
    assert!(out.is_empty());
    e.push_approval(approval("BreakGlass-Admin", -60, 3600)); // arrives 5 minutes after the use
    e.push(Arc::new(ev(1200, "other", "", "192.0.2.1")), &mut out); // watermark 19m > 0 + 10m grace
    e.flush(&mut out);
    assert!(out.is_empty(), "approval inside the grace covers the use");

    // the same approval arriving after the grace is too late
    let mut e = Engine::new(&absence(), MINUTE);
    let mut out = Vec::new();
    e.push(
        Arc::new(ev(0, "breakglass-admin", "", "192.0.2.1")),
        &mut out,
    );
    e.push(Arc::new(ev(1200, "other", "", "192.0.2.1")), &mut out);
    assert_eq!(
        out.len(),
        1,
        "decided once the watermark passed event + grace"
    );
    e.push_approval(approval("breakglass-admin", -60, 3600));
    e.flush(&mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn absence_ignores_approvals_for_other_people_or_times() {
    for a in [
        approval("someone-else", -60, 3600),
        approval("breakglass-admin", 60, 3600),
    ] {
        let mut e = Engine::new(&absence(), MINUTE);
        e.push_approval(a);
        let out = run(&mut e, vec![ev(0, "breakglass-admin", "", "192.0.2.1")]);
        assert_eq!(out.len(), 1);
    }
}

#[test]
fn absence_with_counterpart_events_before_or_after() {
    let d = det("id: pushed\ntitle: pushed\nfamily: approval_bypass\nseverity: low\nmatch: {action.name: Push}\ncorrelation: {type: absence, group-by: [actor.id], absent: {match: {action.name: Review}}, before: 1h, after: 10m, grace: 1m}");
    let named = |s, a: &str, n: &str| {
        let mut x = ev(s, a, "", "192.0.2.1");
        x.action.name = n.into();
        x
    };
    let mut e = Engine::new(&d, MINUTE);
    let out = run(
        &mut e,
        vec![
            named(0, "a", "Review"),
            named(1800, "a", "Push"),
            named(4000, "b", "Push"),
            named(4300, "b", "Review"),
            named(8000, "c", "Push"),
            named(9000, "c", "Review"),
        ],
    );
    let keys: Vec<&str> = out.iter().map(|f| f.unmapped.key.as_str()).collect();
    assert_eq!(
        keys,
        ["cloudtrail, c"],
        "a reviewed before, b within 10m after, c 16m after"
    );
}

#[test]
fn first_seen_age_fires_once_per_day_from_issue_time_or_first_sight() {
    let d = det("id: old\ntitle: old\nfamily: standing_token\nseverity: medium\ncorrelation: {type: first_seen, group-by: [credential.id], min_age: 90d, repeat: 1d}");
    let at_day = |day: i64, h: i64| ev(day * 86_400 + h * 3600, "a", "AKIAOLD", "192.0.2.1");
    let mut e = Engine::new(&d, MINUTE);
    let out = run(
        &mut e,
        vec![
            at_day(0, 0),
            at_day(89, 1),
            at_day(90, 1),
            at_day(90, 5),
            at_day(91, 2),
        ],
    );
    assert_eq!(out.len(), 2, "day 90 and day 91, once each");
    assert!(out[0].unmapped.note.contains("first seen"));
    // an issue time in the log is the basis when present
    let mut issued = ev(0, "a", "AKIANEW", "192.0.2.1");
    issued.credential.as_mut().unwrap().issued = Some(T0 - 100 * DAY);
    let mut e = Engine::new(&d, MINUTE);
    assert_eq!(run(&mut e, vec![issued]).len(), 1);
}

#[test]
fn first_seen_new_keys_after_learning() {
    let d = det("id: new\ntitle: new\nfamily: credential_sharing\nseverity: low\ncorrelation: {type: first_seen, group-by: [credential.id], learning: 1d}");
    let mut e = Engine::new(&d, MINUTE);
    let out = run(
        &mut e,
        vec![
            ev(0, "a", "K1", "192.0.2.1"),
            ev(3600, "a", "K2", "192.0.2.1"),
            ev(90_000, "a", "K1", "192.0.2.1"),
            ev(90_001, "a", "K3", "192.0.2.1"),
        ],
    );
    let keys: Vec<&str> = out.iter().map(|f| f.unmapped.key.as_str()).collect();
    assert_eq!(keys, ["cloudtrail, K3"]);
}

#[test]
fn state_is_capped_and_evictions_counted() {
    let d = det("id: cap\ntitle: cap\nfamily: credential_sharing\nseverity: low\ncorrelation: {type: value_count, group-by: [credential.id], timespan: 1h, condition: {gte: 3, field: source.network}, max_keys: 10}");
    let mut e = Engine::new(&d, MINUTE);
    let events = (0..100)
        .map(|i| ev(i, "a", &format!("K{i}"), "192.0.2.1"))
        .collect();
    run(&mut e, events);
    let (_, size, _) = &e.state_sizes()[0];
    assert!(size.evicted >= 90, "{size:?}");
}

#[test]
fn single_match_detector_and_network_derivation() {
    let d = det("id: nonip\ntitle: nonip\nfamily: credential_sharing\nseverity: low\nmatch: {source.network|exists: false}");
    let mut e = Engine::new(&d, MINUTE);
    let out = run(
        &mut e,
        vec![
            ev(0, "a", "K", "AWS Internal"),
            ev(1, "a", "K", "192.0.2.1"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].evidences[0].source_name(), Some("AWS Internal"));
}

#[test]
fn records_of_one_request_are_taken_once() {
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let mut a = ev(0, "svc", "AKIAX", "203.0.113.1");
    a.dedup = Some(7);
    let mut b = ev(1, "svc", "AKIAX", "198.51.100.1");
    b.dedup = Some(7);
    let mut c = ev(2, "svc", "AKIAX", "192.0.2.1");
    c.dedup = Some(8);
    let d = ev(3, "svc", "AKIAX", "192.0.2.9");
    let found = run(&mut e, vec![a, b, c, d]);
    let s = e.stats();
    assert_eq!((s.events, s.duplicates), (3, 1));
    // the duplicate's network never reached the detector: only two networks
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn dedup_keys_are_forgotten_past_the_horizon() {
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let mut out = Vec::new();
    let mut a = ev(0, "svc", "AKIAX", "203.0.113.1");
    a.dedup = Some(7);
    e.push(Arc::new(a), &mut out);
    // move event time well past the horizon so the sweep runs
    let far = 3 * DEDUP_HORIZON / SECOND;
    e.push(Arc::new(ev(far, "svc", "AKIAY", "203.0.113.1")), &mut out);
    let mut again = ev(far + 1, "svc", "AKIAX", "203.0.113.1");
    again.dedup = Some(7);
    e.push(Arc::new(again), &mut out);
    assert_eq!(e.stats().duplicates, 0);
}

/// Events at one time from different files: whatever order they arrive in (decode threads,
/// argument order), the evidence and every byte of the findings follow the input position.
#[test]
fn ties_on_event_time_follow_the_input_position_not_arrival() {
    let at = |input: u32, offset: u64, ip: &str| {
        let mut e = ev(0, "a", "AKIA1", ip);
        e.origin = Origin::File {
            path: Arc::from(format!("f{input}.json")),
            line: 1,
            offset,
        };
        e.pos = crate::event::Pos {
            input,
            offset,
            index: 0,
        };
        e
    };
    let events = || {
        vec![
            at(2, 10, "192.0.2.1"),
            at(0, 900, "198.51.100.1"),
            at(1, 10, "203.0.113.1"),
            at(0, 50, "198.51.100.2"),
        ]
    };
    let render = |out: &[Finding]| -> Vec<String> {
        out.iter()
            .map(|f| serde_json::to_string(f).unwrap())
            .collect()
    };
    let mut want = None;
    // every arrival order of the four events, with and without holding (the daemon holds 0)
    let orders: Vec<Vec<usize>> = (0..24)
        .map(|mut n| {
            let mut left = vec![0, 1, 2, 3];
            let mut o = Vec::new();
            for base in (1..=4).rev() {
                o.push(left.remove(n % base));
                n /= base;
            }
            o
        })
        .collect();
    let paths = |f: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(f).unwrap();
        v["evidences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"]["origin"]["path"].as_str().unwrap().to_string())
            .collect()
    };
    for order in &orders {
        let evs = events();
        let shuffled = || order.iter().map(|i| evs[*i].clone()).collect::<Vec<_>>();
        let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
        let out = render(&run(&mut e, shuffled()));
        assert!(!out.is_empty());
        match &want {
            None => want = Some(out),
            Some(w) => assert_eq!(&out, w, "arrival order {order:?}"),
        }
        // held for 0 (the daemon's default), when a finding is raised follows arrival, but its
        // evidence is still in input order
        let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS).with_hold(0);
        for f in render(&run(&mut e, shuffled())) {
            let p = paths(&f);
            let mut sorted = p.clone();
            sorted.sort();
            assert_eq!(p, sorted, "arrival order {order:?}");
        }
    }
    let want = want.unwrap();
    assert_eq!(
        paths(&want[0]),
        ["f0.json", "f1.json", "f2.json"],
        "input order"
    );
}

#[test]
fn storm_counts_go_on_across_a_snapshot() {
    // `keys` credentials, each from three networks within a minute, starting at `at` seconds
    let burst = |at: i64, keys: usize| -> Vec<Event> {
        (0..3)
            .flat_map(|net| {
                (0..keys).map(move |k| {
                    ev(
                        at + net * 20,
                        &format!("u{k}"),
                        &format!("AKIA{at}X{k}"),
                        &format!("10.{net}.{}.1", k % 250),
                    )
                })
            })
            .collect()
    };
    let mut e = Engine::new(&multi_network(), DEFAULT_LATENESS);
    let mut out = Vec::new();
    for x in burst(0, 120) {
        e.push(Arc::new(x), &mut out);
    }
    e.flush(&mut out);
    let s = &e.stats().storms["credential-multi-network"];
    assert_eq!((s.storms, s.findings), (1, 120));
    let snap = serde_json::to_string(&e.snapshot().unwrap()).unwrap();
    let mut back = Engine::new(&multi_network(), DEFAULT_LATENESS);
    back.restore(serde_json::from_str(&snap).unwrap()).unwrap();
    let mut out = Vec::new();
    for x in burst(7200, 120) {
        back.push(Arc::new(x), &mut out);
    }
    back.flush(&mut out);
    let s = &back.stats().storms["credential-multi-network"];
    assert_eq!(
        (s.storms, s.findings),
        (2, 240),
        "the second storm adds to the saved counts"
    );
}

use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

fn dec(text: &str) -> Event {
    assert_eq!(sniff(text), Some(Format::Kubernetes), "{text}");
    decode(text, origin()).unwrap()
}

/// 2026-03-02T00:00:00Z
const MAR2: Millis = 1_772_409_600_000;

const BOUND_SA: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6f2c1a9e-3b4d-4f7a-9c21-0d5e8b7a1f01","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/payments-db","verb":"get","user":{"username":"system:serviceaccount:payments:payments-api","uid":"4b7c2d1e-9a8f-4e3d-b2c1-a0f9e8d7c6b5","groups":["system:serviceaccounts","system:serviceaccounts:payments","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=8d2b6f0e-1c4a-4b9e-9f3d-7a6c5e4b3a21"],"authentication.kubernetes.io/node-name":["ip-10-0-3-17.ec2.internal"],"authentication.kubernetes.io/node-uid":["9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"],"authentication.kubernetes.io/pod-name":["payments-api-7c9d5b7f9b-x2x7q"],"authentication.kubernetes.io/pod-uid":["e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"]}},"sourceIPs":["10.0.3.41"],"userAgent":"payments-api/1.14.2 (linux/amd64) kubernetes-client-go","objectRef":{"resource":"secrets","namespace":"payments","name":"payments-db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-03-02T09:14:03.512345Z","stageTimestamp":"2026-03-02T09:14:03.519870Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"payments-api-secrets/payments\" of Role \"secret-reader\" to ServiceAccount \"payments-api/payments\""}}"#;

/// A minimal event around `user` and `rest` (extra top-level fields, each starting with `,`);
/// a default `objectRef` unless `rest` brings one.
fn k8s(user: &str, rest: &str) -> String {
    let object = if rest.contains(r#""objectRef""#) {
        ""
    } else {
        r#","objectRef":{"resource":"pods","namespace":"web","apiVersion":"v1"}"#
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/web/pods","verb":"list","user":{user},"sourceIPs":["203.0.113.45"],"userAgent":"kubectl/v1.32.2 (linux/amd64) kubernetes/67a30c0"{object},"requestReceivedTimestamp":"2026-03-02T00:00:01.000000Z","stageTimestamp":"2026-03-02T00:00:01.004000Z"{rest}}}"#
    )
}

#[test]
fn bound_service_account_token_from_a_pod() {
    let ev = dec(BOUND_SA);
    assert_eq!(ev.time, MAR2 + (9 * 3600 + 14 * 60 + 3) * 1000 + 512);
    assert_eq!(ev.format, Format::Kubernetes);
    assert_eq!(
        ev.id.as_deref(),
        Some("6f2c1a9e-3b4d-4f7a-9c21-0d5e8b7a1f01")
    );
    assert_eq!(
        ev.dedup,
        Some(xxh3_64(b"k8s\x006f2c1a9e-3b4d-4f7a-9c21-0d5e8b7a1f01"))
    );
    let a = &ev.actor;
    assert_eq!(a.id, "system:serviceaccount:payments:payments-api");
    assert_eq!(a.name.as_deref(), Some("payments-api"));
    assert_eq!(a.kind, ActorKind::Service);
    assert_eq!(a.vendor_type.as_deref(), Some("serviceaccount"));
    assert_eq!(a.account, None);
    assert_eq!(a.role, None);
    assert_eq!(
        a.groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:payments",
            "system:authenticated"
        ]
    );
    assert_eq!(a.impersonator, None);
    let c = ev.credential.as_ref().unwrap();
    assert_eq!(c.id, "JTI=8d2b6f0e-1c4a-4b9e-9f3d-7a6c5e4b3a21");
    assert_eq!(c.kind, CredentialKind::ServiceAccountToken);
    assert_eq!(c.long_lived, Some(false));
    assert_eq!(
        c.bound_to.as_deref(),
        Some("pod:payments/payments-api-7c9d5b7f9b-x2x7q")
    );
    assert_eq!((c.issued, c.expires), (None, None));
    assert_eq!(ev.session, None);
    assert_eq!(ev.mfa, None);
    assert_eq!(ev.source.ip, Some("10.0.3.41".parse().unwrap()));
    assert_eq!(ev.source.raw.as_deref(), Some("10.0.3.41"));
    assert_eq!(
        ev.source.user_agent.as_deref(),
        Some("payments-api/1.14.2 (linux/amd64) kubernetes-client-go")
    );
    assert_eq!(ev.source.network, None, "the Decoder sets the network");
    assert_eq!(ev.action.name, "get");
    assert_eq!(ev.action.service.as_deref(), Some("secrets"));
    assert_eq!(ev.action.resource.as_deref(), Some("payments/payments-db"));
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.action.read_only, Some(true));
    assert_eq!(ev.action.error, None);
    assert_eq!(ev.region, None);
    assert!(ev.tickets.is_empty() && ev.assumed.is_none());
}

#[test]
fn human_with_a_client_certificate() {
    let ev = dec(&k8s(
        r#"{"username":"alice@example.com","groups":["platform-admins","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=3f9a1c0b7d2e"]}}"#,
        r#","responseStatus":{"metadata":{},"code":200}"#,
    ));
    assert_eq!(ev.time, MAR2 + 1000);
    assert_eq!(ev.actor.id, "alice@example.com");
    assert_eq!(ev.actor.name.as_deref(), Some("alice@example.com"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("user"));
    assert_eq!(ev.actor.groups, ["platform-admins", "system:authenticated"]);
    let c = ev.credential.unwrap();
    assert_eq!(
        (c.id.as_str(), c.kind),
        ("X509SHA256=3f9a1c0b7d2e", CredentialKind::Certificate)
    );
    assert_eq!((c.long_lived, c.bound_to), (None, None));
    assert_eq!(ev.source.ip, Some("203.0.113.45".parse().unwrap()));
    assert_eq!(ev.action.service.as_deref(), Some("pods"));
    assert_eq!(ev.action.resource.as_deref(), Some("web"));
    assert_eq!(ev.action.read_only, Some(true));
}

#[test]
fn users_are_classified_by_name() {
    let cases = [
        (
            "system:node:ip-10-0-3-17.ec2.internal",
            ActorKind::Service,
            "node",
            "system:node:ip-10-0-3-17.ec2.internal",
        ),
        (
            "system:kube-scheduler",
            ActorKind::Service,
            "system",
            "system:kube-scheduler",
        ),
        (
            "eks:addon-manager",
            ActorKind::Service,
            "system",
            "eks:addon-manager",
        ),
        (
            "system:anonymous",
            ActorKind::Unknown,
            "anonymous",
            "system:anonymous",
        ),
        (
            "kubernetes-admin",
            ActorKind::Human,
            "user",
            "kubernetes-admin",
        ),
        ("svc-backup", ActorKind::Service, "user", "svc-backup"),
        (
            "claude-ops-agent",
            ActorKind::Agent,
            "user",
            "claude-ops-agent",
        ),
        (
            "system:serviceaccount:ns:",
            ActorKind::Service,
            "serviceaccount",
            "system:serviceaccount:ns:",
        ),
        (
            "system:serviceaccount:kube-system",
            ActorKind::Service,
            "serviceaccount",
            "kube-system",
        ),
    ];
    for (user, kind, vendor_type, name) in cases {
        let ev = dec(&k8s(&format!(r#"{{"username":"{user}"}}"#), ""));
        assert_eq!(ev.actor.kind, kind, "{user}");
        assert_eq!(ev.actor.vendor_type.as_deref(), Some(vendor_type), "{user}");
        assert_eq!(ev.actor.name.as_deref(), Some(name), "{user}");
        assert_eq!(ev.actor.id, user);
    }
}

#[test]
fn impersonation_acts_as_the_impersonated_user_with_the_callers_credential() {
    let ev = dec(&k8s(
        r#"{"username":"oidc:bob@example.com","groups":["oidc:sre","system:authenticated"]},"impersonatedUser":{"username":"break-glass-admin","groups":["system:masters"]}"#,
        "",
    ));
    assert_eq!(ev.actor.id, "break-glass-admin");
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.groups, ["system:masters"]);
    assert_eq!(
        ev.actor.impersonator.as_deref(),
        Some("oidc:bob@example.com")
    );
    assert!(
        ev.credential.is_none(),
        "an OIDC user logs no credential id"
    );

    // a service account impersonating: the credential stays the caller's bound token
    let ev = dec(&k8s(
        r#"{"username":"system:serviceaccount:ops:runner","extra":{"authentication.kubernetes.io/credential-id":["JTI=j-1"],"authentication.kubernetes.io/node-name":["node-a"]}},"impersonatedUser":{"username":"system:serviceaccount:payments:payments-api","groups":["system:serviceaccounts"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=other"]}}"#,
        "",
    ));
    assert_eq!(ev.actor.id, "system:serviceaccount:payments:payments-api");
    assert_eq!(ev.actor.name.as_deref(), Some("payments-api"));
    assert_eq!(
        ev.actor.impersonator.as_deref(),
        Some("system:serviceaccount:ops:runner")
    );
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "JTI=j-1");
    assert_eq!(c.bound_to.as_deref(), Some("node:node-a"));

    // an impersonatedUser without a username is no impersonation
    let ev = dec(&k8s(
        r#"{"username":"alice@example.com"},"impersonatedUser":{"groups":["x"]}"#,
        "",
    ));
    assert_eq!(ev.actor.id, "alice@example.com");
    assert_eq!(ev.actor.impersonator, None);
}

#[test]
fn legacy_secret_based_tokens_are_long_lived() {
    let user = r#"{"username":"system:serviceaccount:ci:legacy-deployer","groups":["system:serviceaccounts","system:serviceaccounts:ci","system:authenticated"]}"#;
    let ev = dec(&k8s(
        user,
        r#","annotations":{"authentication.k8s.io/legacy-token":"system:serviceaccount:ci:legacy-deployer","authentication.k8s.io/legacy-token-autogenerated-secret":"legacy-deployer-token-x7k2p","authorization.k8s.io/decision":"allow"}"#,
    ));
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "system:serviceaccount:ci:legacy-deployer");
    assert_eq!(c.kind, CredentialKind::ServiceAccountToken);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!(
        c.bound_to.as_deref(),
        Some("secret:ci/legacy-deployer-token-x7k2p")
    );

    let ev = dec(&k8s(
        user,
        r#","annotations":{"authentication.k8s.io/legacy-token-manual-secret":"deployer-manual"}"#,
    ));
    assert_eq!(
        ev.credential.unwrap().bound_to.as_deref(),
        Some("secret:ci/deployer-manual")
    );

    // older clusters: only the legacy-token annotation
    let ev = dec(&k8s(
        user,
        r#","annotations":{"authentication.k8s.io/legacy-token":"system:serviceaccount:ci:legacy-deployer"}"#,
    ));
    let c = ev.credential.unwrap();
    assert_eq!((c.long_lived, c.bound_to), (Some(true), None));

    // no annotation, no JTI, no pod binding: a secret-based token too
    let c = dec(&k8s(user, "")).credential.unwrap();
    assert_eq!(c.id, "system:serviceaccount:ci:legacy-deployer");
    assert_eq!(c.long_lived, Some(true));
}

#[test]
fn bound_tokens_without_a_jti_are_short_lived() {
    let ev = dec(&k8s(
        r#"{"username":"system:serviceaccount:monitoring:prometheus","extra":{"authentication.kubernetes.io/pod-name":"prometheus-k8s-0","authentication.kubernetes.io/pod-uid":["8f9e"]}}"#,
        "",
    ));
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "pod:monitoring/prometheus-k8s-0");
    assert_eq!(c.kind, CredentialKind::ServiceAccountToken);
    assert_eq!(c.long_lived, Some(false));
    assert_eq!(
        c.bound_to.as_deref(),
        Some("pod:monitoring/prometheus-k8s-0")
    );

    // a token bound to a node only
    let ev = dec(&k8s(
        r#"{"username":"system:serviceaccount:kube-system:csi","extra":{"authentication.kubernetes.io/credential-id":["JTI=n-1"],"authentication.kubernetes.io/node-name":["ip-10-0-1-5"]}}"#,
        "",
    ));
    let c = ev.credential.unwrap();
    assert_eq!(c.bound_to.as_deref(), Some("node:ip-10-0-1-5"));
    assert_eq!(c.long_lived, Some(false));

    // a JTI on a non-service-account (structured JWT authentication): a token of unknown life
    let ev = dec(&k8s(
        r#"{"username":"jwt:dave","extra":{"authentication.kubernetes.io/credential-id":["JTI=d-1"]}}"#,
        "",
    ));
    let c = ev.credential.unwrap();
    assert_eq!((c.kind, c.long_lived), (CredentialKind::Token, None));

    // an unknown credential-id scheme is kept as-is
    let ev = dec(&k8s(
        r#"{"username":"erin","extra":{"authentication.kubernetes.io/credential-id":["OPAQUE=abc"]}}"#,
        "",
    ));
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::Unknown);
}

#[test]
fn outcomes_from_status_and_decision() {
    let user = r#"{"username":"system:serviceaccount:web:default"}"#;
    let ev = dec(&k8s(
        user,
        r#","responseStatus":{"metadata":{},"status":"Failure","message":"secrets is forbidden: User \"system:serviceaccount:web:default\" cannot list resource \"secrets\" in API group \"\" at the cluster scope","reason":"Forbidden","code":403},"annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""}"#,
    ));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("403 Forbidden"));

    let ev = dec(&k8s(
        user,
        r#","annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":"denied by webhook"}"#,
    ));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("denied by webhook"));
    let ev = dec(&k8s(
        user,
        r#","annotations":{"authorization.k8s.io/decision":"forbid"}"#,
    ));
    assert_eq!(ev.action.error.as_deref(), Some("forbid"));

    let ev = dec(&k8s(
        user,
        r#","responseStatus":{"code":"409","message":"conflict"}"#,
    ));
    assert_eq!(ev.action.error.as_deref(), Some("409 conflict"));
    let long = "x".repeat(200);
    let ev = dec(&k8s(
        user,
        &format!(r#","responseStatus":{{"code":500,"message":"{long}"}}"#),
    ));
    assert_eq!(ev.action.error.as_deref(), Some("500"));

    let ev = dec(&k8s(
        user,
        r#","responseStatus":{"code":101},"annotations":{"authorization.k8s.io/decision":"allow"}"#,
    ));
    assert_eq!(
        (ev.action.outcome, ev.action.error),
        (Outcome::Success, None)
    );

    // allowed but not yet answered, or nothing logged
    let ev = dec(&k8s(
        user,
        r#","annotations":{"authorization.k8s.io/decision":"allow"}"#,
    ));
    assert_eq!(ev.action.outcome, Outcome::Unknown);
    let ev = dec(&k8s(user, r#","responseStatus":{"code":0}"#));
    assert_eq!(ev.action.outcome, Outcome::Unknown);
}

#[test]
fn stages_of_one_request_share_a_dedup_key() {
    let received = k8s(
        r#"{"username":"alice@example.com"}"#,
        r#","objectRef":{"resource":"pods","namespace":"payments","name":"api-0","subresource":"exec"}"#,
    )
    .replace(r#""stage":"ResponseComplete""#, r#""stage":"RequestReceived""#)
    .replace(r#""verb":"list""#, r#""verb":"create""#);
    let complete = received.replace(
        r#""stage":"RequestReceived""#,
        r#""stage":"ResponseComplete","responseStatus":{"code":101}"#,
    );
    let a = dec(&received);
    let b = dec(&complete);
    assert_eq!(a.action.outcome, Outcome::Unknown);
    assert_eq!(b.action.outcome, Outcome::Success);
    // the provisional stage is skipped (counted); the complete one is the event
    assert!(a.partial && !b.partial);
    let d = crate::decode::Decoder::new(None);
    assert!(matches!(
        d.decode(&received, origin()),
        Ok(crate::decode::Record::Skipped(
            "kubernetes_request_received_stage"
        ))
    ));
    assert!(matches!(
        d.decode(&complete, origin()),
        Ok(crate::decode::Record::Event(_))
    ));
    assert!(a.dedup.is_some());
    assert_eq!(a.dedup, b.dedup);
    assert_eq!(a.action.service.as_deref(), Some("pods/exec"));
    assert_eq!(a.action.resource.as_deref(), Some("payments/api-0"));
    assert_eq!(a.action.read_only, Some(false));

    let other = dec(&complete.replace(r#""auditID":"a-1""#, r#""auditID":"a-2""#));
    assert_ne!(other.dedup, a.dedup);
    let text = complete.replace(r#""auditID":"a-1","#, "");
    let none = decode(&text, origin()).unwrap();
    assert_eq!((none.id, none.dedup), (None, None));
}

#[test]
fn api_groups_subresources_and_cluster_scoped_objects() {
    let user = r#"{"username":"alice@example.com"}"#;
    let ev = dec(&k8s(
        user,
        r#","objectRef":{"resource":"clusterrolebindings","name":"payments-readonly","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"}"#,
    ));
    assert_eq!(
        ev.action.service.as_deref(),
        Some("rbac.authorization.k8s.io/clusterrolebindings")
    );
    assert_eq!(ev.action.resource.as_deref(), Some("payments-readonly"));
    let ev = dec(&k8s(
        user,
        r#","objectRef":{"resource":"deployments","namespace":"ci","name":"app","apiGroup":"apps","subresource":"scale"}"#,
    ));
    assert_eq!(ev.action.service.as_deref(), Some("apps/deployments/scale"));
    // non-resource requests: the path, without its query
    let ev =
        dec(&k8s(user, r#","objectRef":null"#)
            .replace("/api/v1/namespaces/web/pods", "/livez?verbose"));
    assert_eq!(ev.action.service, None);
    assert_eq!(ev.action.resource.as_deref(), Some("/livez"));
}

#[test]
fn only_the_last_source_ip_is_trusted() {
    let user = r#"{"username":"alice@example.com"}"#;
    let ev =
        dec(&k8s(user, "").replace(r#"["203.0.113.45"]"#, r#"["192.0.2.200","198.51.100.77"]"#));
    assert_eq!(ev.source.ip, Some("198.51.100.77".parse().unwrap()));
    assert_eq!(ev.source.raw.as_deref(), Some("198.51.100.77"));
    let ev = dec(&k8s(user, "").replace(r#"["203.0.113.45"]"#, r#"["2001:db8:4::17"]"#));
    assert_eq!(ev.source.ip, Some("2001:db8:4::17".parse().unwrap()));
    let ev = dec(&k8s(user, "").replace(r#"["203.0.113.45"]"#, r#""[2001:db8::1]:443""#));
    assert_eq!(ev.source.ip, Some("2001:db8::1".parse().unwrap()));
    let ev = dec(&k8s(user, "").replace(r#"["203.0.113.45"]"#, r#"["bastion.example.com"]"#));
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("bastion.example.com"));
    let ev = dec(&k8s(user, "").replace(r#"["203.0.113.45"]"#, "[]"));
    assert_eq!((ev.source.ip, ev.source.raw), (None, None));
}

#[test]
fn versions_and_odd_field_types() {
    // v1beta1 (with its `timestamp` and `metadata`) and no apiVersion/kind at all
    let v1beta1 = k8s(
        r#"{"username":"system:node:ip-10-0-3-17.ec2.internal","groups":["system:nodes","system:authenticated"]}"#,
        r#","metadata":{"creationTimestamp":"2026-03-02T00:00:01Z"},"timestamp":"2026-03-02T00:00:01Z""#,
    )
    .replace("audit.k8s.io/v1", "audit.k8s.io/v1beta1");
    assert_eq!(dec(&v1beta1).actor.kind, ActorKind::Service);
    let bare = k8s(r#"{"username":"alice@example.com"}"#, "")
        .replace(r#""kind":"Event","apiVersion":"audit.k8s.io/v1","#, "");
    assert_eq!(dec(&bare).actor.id, "alice@example.com");

    let ev = dec(&k8s(
        r#"{"username":"alice@example.com","uid":null,"groups":"solo","extra":null}"#,
        r#","impersonatedUser":null,"annotations":null,"responseStatus":{"code":"404","reason":"NotFound"}"#,
    ));
    assert_eq!(ev.actor.groups, ["solo"]);
    assert_eq!(ev.action.error.as_deref(), Some("404 NotFound"));
    let ev = dec(&k8s(
        r#"{"username":"alice@example.com","extra":[1,2]}"#,
        r#","annotations":"x","objectRef":[{"resource":"pods"}]"#,
    ));
    assert_eq!(ev.action.service, None);
    assert!(ev.credential.is_none());
    // only stageTimestamp
    let ev = dec(&k8s(r#"{"username":"a"}"#, "").replace(
        r#""requestReceivedTimestamp":"2026-03-02T00:00:01.000000Z","#,
        "",
    ));
    assert_eq!(ev.time, MAR2 + 1004);
}

#[test]
fn missing_and_invalid_required_fields_name_the_field() {
    let no_times = k8s(r#"{"username":"a"}"#, "")
        .replace(
            r#""requestReceivedTimestamp":"2026-03-02T00:00:01.000000Z","#,
            "",
        )
        .replace(r#","stageTimestamp":"2026-03-02T00:00:01.004000Z""#, "");
    let e = decode(&no_times, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("requestReceivedTimestamp"), "{e}");

    let bad = k8s(r#"{"username":"a"}"#, "").replace("2026-03-02T00:00:01.000000Z", "yesterday");
    let e = decode(&bad, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("requestReceivedTimestamp") && e.message.contains("yesterday"));

    for user in [r#"{"groups":["g"]}"#, "null", r#"{"username":""}"#] {
        let e = decode(&k8s(user, ""), origin()).unwrap_err();
        assert_eq!(e.reason, Reason::MissingField);
        assert!(e.message.contains("user.username"), "{e}");
    }
    let e = decode(
        &k8s(r#"{"username":"a"}"#, "").replace(r#""verb":"list","#, ""),
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("verb"), "{e}");
    let e = decode(r#"{"auditID":"x","verb":"get""#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

#[test]
fn realistic_record_is_sniffed_and_decoded_by_the_decoder() {
    let d = crate::decode::Decoder::new(None);
    match d.decode(BOUND_SA, origin()).unwrap() {
        crate::decode::Record::Event(ev) => assert_eq!(ev.format, Format::Kubernetes),
        other => panic!("{other:?}"),
    }
}

/// Every record of every fixture file decodes (JSON lines, and the items of EventList batches).
#[test]
fn fixtures_decode() {
    let records = crate::decode::fixtures::records("kubernetes");
    assert!(records.len() >= 16, "{}", records.len());
    for r in &records {
        assert_eq!(sniff(r), Some(Format::Kubernetes), "{r}");
        if let Err(e) = decode(r, origin()) {
            panic!("{e}: {r}");
        }
    }
}

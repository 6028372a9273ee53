use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;

fn fixture_lines() -> Vec<String> {
    crate::decode::fixtures::records("gcp")
}

/// The fixture record whose insertId is `id`.
fn fixture(id: &str) -> Event {
    let needle = format!("\"insertId\":\"{id}\"");
    let line = fixture_lines()
        .into_iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no fixture {id}"));
    decode(&line, origin()).unwrap()
}

fn entry(auth: &str, rest: &str) -> String {
    format!(
        r#"{{"protoPayload":{{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{auth},"serviceName":"storage.googleapis.com","methodName":"storage.objects.get","resourceName":"projects/_/buckets/b/objects/o"{rest}}},"insertId":"abc","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","timestamp":"2026-03-02T04:05:06.123456789Z"}}"#
    )
}

fn dec(auth: &str, rest: &str) -> Event {
    decode(&entry(auth, rest), origin()).unwrap()
}

#[test]
fn every_fixture_decodes_and_sniffs_as_gcp() {
    let lines = fixture_lines();
    assert!(lines.len() >= 8, "{}", lines.len());
    for line in &lines {
        assert_eq!(sniff(line), Some(Format::Gcp), "{line}");
        if let Err(e) = decode(line, origin()) {
            panic!("{e}: {line}");
        }
    }
}

#[test]
fn human_admin_activity() {
    let ev = fixture("-x3k7fle2d1ob");
    assert_eq!(ev.time, 1_772_442_843_401);
    assert_eq!(ev.format, Format::Gcp);
    assert_eq!(ev.actor.id, "alice@example.com");
    assert_eq!(ev.actor.name.as_deref(), Some("alice@example.com"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("user"));
    assert_eq!(ev.actor.account.as_deref(), Some("acme-prod"));
    assert_eq!(ev.actor.impersonator, None);
    assert!(ev.actor.groups.is_empty());
    assert_eq!(ev.credential, None);
    assert_eq!(ev.session, None);
    assert_eq!(ev.source.ip, Some("203.0.113.10".parse().unwrap()));
    assert_eq!(ev.source.raw.as_deref(), Some("203.0.113.10"));
    assert!(ev
        .source
        .user_agent
        .as_deref()
        .unwrap()
        .starts_with("google-cloud-sdk gcloud/462.0.1"));
    assert_eq!(ev.action.name, "SetIamPolicy");
    assert_eq!(
        ev.action.service.as_deref(),
        Some("cloudresourcemanager.googleapis.com")
    );
    assert_eq!(ev.action.resource.as_deref(), Some("projects/acme-prod"));
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.action.error, None);
    assert_eq!(ev.action.read_only, None);
    assert_eq!(ev.id.as_deref(), Some("-x3k7fle2d1ob"));
    assert_eq!(
        ev.dedup,
        Some(xxh3_64(
            b"gcp\0projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity\0-x3k7fle2d1ob"
        ))
    );
    assert_eq!(ev.region, None);
    assert_eq!(ev.assumed, None);
}

#[test]
fn service_account_key_is_a_standing_credential() {
    let ev = fixture("1b7q9c2e4h8k");
    assert_eq!(ev.time, 1_772_449_361_987);
    assert_eq!(ev.actor.id, "deployer@acme-prod.iam.gserviceaccount.com");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("service_account"));
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "//iam.googleapis.com/projects/acme-prod/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com/keys/8f2c1e4b7a9d03f6c5e1b2a4d6f8e0c1a3b5d7f9");
    assert_eq!(c.kind, CredentialKind::LongTermKey);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!((c.issued, c.expires, c.bound_to), (None, None, None));
    assert_eq!(ev.action.name, "storage.objects.create");
    // a write logged in data_access is not a read
    assert_eq!(ev.action.read_only, None);
    assert_eq!(ev.region.as_deref(), Some("us-central1"));
}

#[test]
fn impersonation_names_the_delegating_person() {
    let ev = fixture("-9h4c2re1a7qz");
    assert_eq!(ev.actor.id, "terraform@acme-prod.iam.gserviceaccount.com");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.impersonator.as_deref(), Some("alice@example.com"));
    assert_eq!(ev.credential, None);
    assert_eq!(ev.region.as_deref(), Some("europe-west1-b"));

    let ev = fixture("1h8v2d9e3c6p");
    assert_eq!(
        ev.actor.impersonator.as_deref(),
        Some("principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/subject/repo:example-org/app:ref:refs/heads/main")
    );
    assert_eq!(ev.action.outcome, Outcome::Success, "code \"0\" is OK");
    assert_eq!(ev.region.as_deref(), Some("europe-west1"));
}

#[test]
fn token_minting_takes_on_the_service_account() {
    let ev = fixture("ke9v0ed2b3jf");
    assert_eq!(ev.actor.id, "bob@example.com");
    assert_eq!(ev.actor.kind, ActorKind::Human);
    let a = ev.assumed.unwrap();
    assert_eq!(
        a.role,
        "projects/-/serviceAccounts/terraform@acme-prod.iam.gserviceaccount.com"
    );
    assert_eq!(
        ev.action.service.as_deref(),
        Some("iamcredentials.googleapis.com")
    );
}

#[test]
fn google_managed_accounts_and_internal_callers() {
    let ev = fixture("-r8i1nwe3x2mk");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("gce-internal-ip"));
    assert_eq!(ev.action.read_only, Some(true));
    assert_eq!(ev.region.as_deref(), Some("europe-west1-b"));

    let ev = fixture("1qv2x8ye5c4a9");
    assert_eq!(
        ev.actor.id,
        "service-123456789012@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
    );
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.source.raw.as_deref(), Some("private"));
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.user_agent, None);
    assert_eq!(ev.action.read_only, Some(true), "GetTable is a read");

    let ev = fixture("6d3b2a1f-4e5c-4a7b-9c8d-0e1f2a3b4c5d");
    assert_eq!(ev.actor.id, "system:serviceaccount:ci:deployer");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.source.ip, Some("10.24.0.17".parse().unwrap()));
    assert_eq!(ev.action.read_only, Some(true));
    assert_eq!(ev.region.as_deref(), Some("europe-west1"));

    let ev = fixture("-ub2x4te2kh1");
    assert_eq!(ev.actor.id, "system@google.com");
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("google_system"));
    assert_eq!(ev.source, Source::default(), "no requestMetadata");
    assert_eq!(
        ev.action.outcome,
        Outcome::Success,
        "a message without a code is OK"
    );
    assert_eq!(ev.region.as_deref(), Some("us-central1-a"));
}

#[test]
fn permission_denied() {
    let ev = fixture("1xpuwl7e9b2c");
    assert_eq!(ev.actor.id, "mallory@example.net");
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("PERMISSION_DENIED"));
    assert_eq!(ev.source.ip, Some("192.0.2.200".parse().unwrap()));

    // denied in authorizationInfo (single object) without a status
    let ev = dec(
        r#"{"principalEmail":"x@example.com"}"#,
        r#","authorizationInfo":{"permission":"storage.objects.get","granted":false}"#,
    );
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(
        ev.action.error.as_deref(),
        Some("permission denied: storage.objects.get")
    );
    // a code without a message
    let ev = dec(
        r#"{"principalEmail":"x@example.com"}"#,
        r#","status":{"code":"5"}"#,
    );
    assert_eq!(ev.action.error.as_deref(), Some("5"));

    // VPC Service Controls denial in the policy log, with a key
    let ev = fixture("-1kv3qze9b8d5");
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert!(ev
        .action
        .error
        .as_deref()
        .unwrap()
        .starts_with("Request is prohibited"));
    assert_eq!(ev.credential.unwrap().long_lived, Some(true));
}

#[test]
fn ipv6_caller() {
    let ev = fixture("tm9qkdc4z6l");
    assert_eq!(ev.source.ip, Some("2001:db8:4:1::1f".parse().unwrap()));
    assert_eq!(
        ev.action.read_only, None,
        "AccessSecretVersion is not a get/list"
    );
}

#[test]
fn single_object_authorization_info() {
    let ev = fixture("1c9ajkwe4m7r");
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(
        ev.action.name,
        "google.iam.admin.v1.CreateServiceAccountKey"
    );
}

#[test]
fn workload_identity_subject_and_receive_timestamp() {
    let ev = fixture("bq3c1ve8y2ts");
    assert_eq!(ev.time, 1_772_637_130_118, "falls back to receiveTimestamp");
    assert!(ev
        .actor
        .id
        .starts_with("principal://iam.googleapis.com/projects/123456789012/"));
    assert_eq!(ev.actor.name, None);
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("workload_identity"));

    let ev = dec(
        r#"{"principalSubject":"principal://iam.googleapis.com/locations/global/workforcePools/staff/subject/erin@example.com"}"#,
        "",
    );
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("workforce_identity"));
}

#[test]
fn organisation_logs_name_the_organisation() {
    let ev = fixture("c2yd5pe1f0ma");
    assert_eq!(
        ev.actor.account.as_deref(),
        Some("organizations/987654321098")
    );
    assert_eq!(log_name_owner("folders/42/logs/x"), Some("folders/42"));
    assert_eq!(log_name_owner("projects//logs/x"), None);
    assert_eq!(log_name_owner("organizations/"), None);
    assert_eq!(log_name_owner("nothing"), None);
}

#[test]
fn classification_negatives() {
    for (who, kind) in [
        ("svc-backup@example.com", ActorKind::Service),
        ("erin@example.com", ActorKind::Human),
        ("123@cloudservices.gserviceaccount.com", ActorKind::Service),
        ("my-app@appspot.gserviceaccount.com", ActorKind::Service),
        (
            "serviceAccount:x@p.iam.gserviceaccount.com",
            ActorKind::Service,
        ),
        ("user:erin@example.com", ActorKind::Human),
    ] {
        assert_eq!(classify(who).0, kind, "{who}");
    }
    assert!(is_read_method("google.iam.admin.v1.ListServiceAccounts"));
    assert!(is_read_method("GetIamPolicy"));
    assert!(!is_read_method("SetIamPolicy"));
    assert!(!is_read_method(""));
    assert!(!is_read_method("é"));
}

#[test]
fn awkward_values() {
    let ev = dec(
        r#"{"principalEmail":"x@example.com","serviceAccountDelegationInfo":{"firstPartyPrincipal":{"principalEmail":"y@example.com"}}}"#,
        r#","requestMetadata":{"callerIp":null,"callerSuppliedUserAgent":7},"status":null,"authorizationInfo":"weird","resourceLocation":{"currentLocations":"eu"}"#,
    );
    assert_eq!(ev.actor.impersonator.as_deref(), Some("y@example.com"));
    assert_eq!(ev.source, Source::default());
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.region.as_deref(), Some("eu"));
    assert_eq!(ev.actor.account.as_deref(), Some("p1"), "from logName");
    assert_eq!(ev.time, 1_772_424_306_123);

    let ev = dec(
        r#"{"principalEmail":"sa@p.iam.gserviceaccount.com","serviceAccountDelegationInfo":[{"thirdPartyPrincipal":{"thirdPartyClaims":{"sub":"ext-123"}}}]}"#,
        "",
    );
    assert_eq!(ev.actor.impersonator.as_deref(), Some("ext-123"));
    // no insertId: no id, no dedup
    let ev = decode(
        &entry(r#"{"principalEmail":"x@example.com"}"#, "").replace(r#""insertId":"abc","#, ""),
        origin(),
    )
    .unwrap();
    assert_eq!((ev.id, ev.dedup), (None, None));
}

#[test]
fn missing_and_invalid_fields() {
    let e = decode(
        &entry(r#"{"principalEmail":"x@example.com"}"#, "").replace("\"timestamp\"", "\"ts\""),
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("timestamp"), "{e}");

    let e = decode(
        &entry(r#"{"principalEmail":"x@example.com"}"#, "")
            .replace("2026-03-02T04:05:06.123456789Z", "yesterday"),
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(
        e.message.contains("timestamp") && e.message.contains("yesterday"),
        "{e}"
    );

    for auth in ["{}", "null", r#"{"principalEmail":""}"#] {
        let e = decode(&entry(auth, ""), origin()).unwrap_err();
        assert_eq!(e.reason, Reason::MissingField);
        assert!(e.message.contains("principalEmail"), "{e}");
    }

    let e = decode(
        &entry(r#"{"principalEmail":"x@example.com"}"#, "").replace("methodName", "method"),
        origin(),
    )
    .unwrap_err();
    assert!(e.message.contains("methodName"), "{e}");

    let e = decode(
        r#"{"timestamp":"2026-03-02T04:05:06Z","protoPayload":"x"}"#,
        origin(),
    )
    .unwrap_err();
    assert!(e.message.contains("protoPayload"), "{e}");

    let e = decode(
        r#"{"timestamp":"2026-03-02T04:05:06Z","protoPayload":{"@type":"type.googleapis.com/google.appengine.logging.v1.RequestLog"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::UnknownFormat);

    let e = decode(r#"{"timestamp":"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

use xxhash_rust::xxh3::xxh3_64;

use super::*;
use crate::decode::detect::sniff;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

/// Every record of every fixture file: JSON lines, or the elements of a Graph page
/// (`{"value":[...]}`) or an Event Hub batch (`{"records":[...]}`).
fn fixture_records() -> Vec<String> {
    crate::decode::fixtures::records("entra")
}

/// The fixture record (first match) whose sign-in id is `id`.
fn fixture(id: &str) -> Event {
    let needle = format!("\"id\":\"{id}\"");
    let rec = fixture_records()
        .into_iter()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no fixture {id}"));
    decode(&rec, origin()).unwrap()
}

fn dedup_of(id: &str) -> Option<u64> {
    Some(xxh3_64(format!("entra\0{id}").as_bytes()))
}

#[test]
fn every_fixture_decodes_and_sniffs_as_entra() {
    let recs = fixture_records();
    assert!(recs.len() >= 20, "{}", recs.len());
    for rec in &recs {
        assert_eq!(sniff(rec), Some(Format::Entra), "{rec}");
        if let Err(e) = decode(rec, origin()) {
            panic!("{e}: {rec}");
        }
    }
}

#[test]
fn interactive_user_with_mfa() {
    let ev = fixture("66ea54eb-6301-4ee5-be62-ff5a759b0100");
    assert_eq!(ev.time, 1_772_439_322_000);
    assert_eq!(ev.format, Format::Entra);
    assert_eq!(ev.actor.id, "alice@example.com");
    assert_eq!(ev.actor.name.as_deref(), Some("alice@example.com"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("member"));
    assert_eq!(
        ev.actor.account.as_deref(),
        Some("5f2b8c1e-7d34-4a90-b6e2-3c9d1f0a8e47")
    );
    assert!(ev.actor.groups.is_empty());
    assert_eq!(ev.actor.impersonator, None);
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "ZTE5YzRmMjMtOGJhMS00ZDlhLWE3NjEtM2Q0ZWNhYjU3OTAy");
    assert_eq!(c.kind, CredentialKind::Session);
    assert_eq!(c.long_lived, Some(false));
    assert_eq!((c.issued, c.expires, c.bound_to), (None, None, None));
    assert_eq!(
        ev.session.as_deref(),
        Some("8a1d0c33-4e2f-4b91-a7c6-2f3e4d5c6b7a")
    );
    assert_eq!(ev.mfa, Some(true));
    assert_eq!(ev.source.ip, Some("203.0.113.24".parse().unwrap()));
    assert_eq!(ev.source.raw.as_deref(), Some("203.0.113.24"));
    assert!(ev.source.user_agent.as_deref().unwrap().contains("Edg/122"));
    assert_eq!(ev.source.asn(), Some(64496));
    assert_eq!(ev.source.geo(), Some("US/Washington/Seattle"));
    assert_eq!(
        ev.source.device(),
        Some("3c9d1f0a-8e47-4b6e-92c3-5f2b8c1e7d34")
    );
    assert_eq!(ev.action.name, "sign-in");
    assert_eq!(ev.action.service.as_deref(), Some("Azure Portal"));
    assert_eq!(
        ev.action.resource.as_deref(),
        Some("Windows Azure Service Management API")
    );
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.action.error, None);
    assert_eq!(ev.action.read_only, None);
    assert_eq!(
        ev.id.as_deref(),
        Some("66ea54eb-6301-4ee5-be62-ff5a759b0100")
    );
    assert_eq!(ev.dedup, dedup_of("66ea54eb-6301-4ee5-be62-ff5a759b0100"));
}

#[test]
fn single_factor_and_failures() {
    let ev = fixture("a7c41e90-52d3-4f08-9b61-0c2d3e4f5a6b");
    assert_eq!(ev.time, 1_772_444_467_512);
    assert_eq!(ev.mfa, Some(false));
    assert_eq!(ev.source.device(), None, "an empty deviceId is no device");
    assert_eq!(ev.source.geo(), Some("NL/Noord-Holland/Amsterdam"));

    let ev = fixture("f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f");
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(
        ev.action.error.as_deref(),
        Some("50126: Error validating credentials due to invalid username or password.")
    );
    assert_eq!(ev.credential, None, "no token issued");
    assert_eq!(ev.session, None);

    // classic v1.0 fields only: MFA unknown, interrupted by an MFA requirement
    let ev = fixture("0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a");
    assert_eq!(ev.mfa, None);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("user"));
    assert_eq!(ev.actor.account, None);
    assert_eq!(ev.source.asn(), None);
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert!(ev.action.error.as_deref().unwrap().starts_with("50074: "));
}

#[test]
fn non_interactive_guest_and_ipv6_users() {
    let ev = fixture("2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b");
    assert_eq!(ev.action.name, "sign-in");
    assert_eq!(ev.action.service.as_deref(), Some("Microsoft Teams"));
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::Session);

    let ev = fixture("c8d9e0f1-a2b3-4c4d-8e5f-6a7b8c9d0e1f");
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("guest"));
    assert_eq!(
        ev.actor.account.as_deref(),
        Some("5f2b8c1e-7d34-4a90-b6e2-3c9d1f0a8e47"),
        "the resource tenant, not the guest's home"
    );
    assert_eq!(ev.source.asn(), Some(64505), "ASN as a string");
    assert_eq!(ev.source.geo(), Some("CA"));
    assert_eq!(ev.source.device(), None);

    let ev = fixture("b4c5d6e7-f8a9-4b0c-8d1e-2f3a4b5c6d7e");
    assert_eq!(
        ev.source.ip,
        Some("2001:db8:85a3::8a2e:370:7334".parse().unwrap())
    );
}

#[test]
fn service_principal_with_a_secret() {
    let ev = fixture("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f");
    assert_eq!(ev.actor.id, "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a");
    assert_eq!(ev.actor.name.as_deref(), Some("svc-backup-exporter"));
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("servicePrincipal"));
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "e4d3c2b1-a098-4f7e-8d6c-5b4a39281706");
    assert_eq!(c.kind, CredentialKind::LongTermKey);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!(ev.session, None);
    assert_eq!(ev.mfa, Some(false));
    assert_eq!(ev.action.name, "service-principal-sign-in");
    assert_eq!(ev.action.service.as_deref(), Some("svc-backup-exporter"));
    assert_eq!(ev.action.resource.as_deref(), Some("Microsoft Graph"));
    assert_eq!(ev.source.geo(), Some("IE/Dublin/Dublin"));
}

#[test]
fn certificates_federated_tokens_and_managed_identities() {
    let ev = fixture("d9e8f7a6-b5c4-4d3e-8f2a-1b0c9d8e7f6a");
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "3F2A9C1B7E5D4A6B8C0D2E4F6A8B0C2D4E6F8A0B");
    assert_eq!(c.kind, CredentialKind::Certificate);
    assert_eq!(c.long_lived, Some(true));
    assert_eq!(ev.source.geo(), None);

    let ev = fixture("f2a3b4c5-d6e7-4f8a-9b0c-1d2e3f4a5b6c");
    let c = ev.credential.unwrap();
    assert_eq!(c.id, "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b");
    assert_eq!(c.kind, CredentialKind::Token);
    assert_eq!(
        c.long_lived,
        Some(false),
        "federated tokens are short-lived"
    );
    assert_eq!(ev.actor.kind, ActorKind::Service);

    // each exchange's own token, not the federation configuration every CI job shares
    let rec = fixture_records()
        .into_iter()
        .find(|l| l.contains("\"id\":\"f2a3b4c5-d6e7-4f8a-9b0c-1d2e3f4a5b6c\""))
        .unwrap()
        .replace(
            "\"uniqueTokenIdentifier\":\"\"",
            "\"uniqueTokenIdentifier\":\"Z2hhLWpvYi00MTc\"",
        );
    let c = decode(&rec, origin()).unwrap().credential.unwrap();
    assert_eq!(c.id, "Z2hhLWpvYi00MTc");

    let ev = fixture("e7f6a5b4-c3d2-4e1f-9a0b-8c7d6e5f4a3b");
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("managedIdentity"));
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.credential, None);
    assert_eq!(ev.source.raw, None, "an empty ipAddress is no source");
    assert_eq!(ev.action.name, "service-principal-sign-in");
}

#[test]
fn azure_monitor_envelopes() {
    let ev = fixture("31f0c8d2-7a4e-4d3b-b9a1-6e5d4c3b2a10");
    assert_eq!(ev.time, 1_772_439_322_387, "7 fractional digits and +00:00");
    assert_eq!(ev.actor.id, "alice@example.com");
    assert_eq!(ev.mfa, Some(true));
    assert_eq!(ev.dedup, dedup_of("31f0c8d2-7a4e-4d3b-b9a1-6e5d4c3b2a10"));

    // the category makes it a service principal sign-in
    let ev = fixture("64c3fb05-ad71-4a6e-acd4-91b8a7f6e543");
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("servicePrincipal"));
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::LongTermKey);

    let ev = fixture("75d40c16-be82-4b7f-bde5-a2c9b8a7f654");
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("managedIdentity"));
    assert_eq!(ev.credential, None);
    assert_eq!(
        ev.source.ip,
        Some("10.1.4.22".parse().unwrap()),
        "callerIpAddress"
    );

    // no status in properties: resultType decides; the caller address has a port
    let ev = fixture("86e51d27-cf93-4c80-8ef6-b3dac9b8a765");
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert!(ev.action.error.as_deref().unwrap().starts_with("50140: "));
    assert_eq!(
        ev.source.ip,
        Some("2001:db8:85a3::8a2e:370:7334".parse().unwrap())
    );
}

#[test]
fn envelope_fallbacks() {
    let ev = decode(
        r#"{"time":"2026-03-02T04:05:06Z","category":"SignInLogs","tenantId":"t-1","resultType":0,"callerIpAddress":"192.0.2.1","properties":{"userPrincipalName":"x@example.com"}}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.time, 1_772_424_306_000);
    assert_eq!(ev.actor.account.as_deref(), Some("t-1"));
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.source.ip, Some("192.0.2.1".parse().unwrap()));
    assert_eq!((ev.id, ev.dedup), (None, None));

    let ev = decode(
        r#"{"createdDateTime":"2026-03-02T04:05:06Z","userPrincipalName":"x@example.com"}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.action.outcome, Outcome::Unknown);
}

#[test]
fn classification() {
    let sp = |extra: &str| {
        decode(
            &format!(
                r#"{{"createdDateTime":"2026-03-02T04:05:06Z","appId":"app-1","appDisplayName":"claude-code-agent"{extra}}}"#
            ),
            origin(),
        )
    };
    // an app named like an agent, no service principal id: the app id stands in
    let ev = sp(r#","signInEventTypes":"servicePrincipal""#).unwrap();
    assert_eq!(ev.actor.id, "app-1");
    assert_eq!(ev.actor.kind, ActorKind::Agent);
    // neither user nor service principal
    let e = sp("").unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("userPrincipalName"), "{e}");
    // a user with a service principal id is still a user
    let ev =
        sp(r#","userPrincipalName":"svc-sync@example.com","servicePrincipalId":"sp-9""#).unwrap();
    assert_eq!(ev.action.name, "sign-in");
    assert_eq!(ev.actor.kind, ActorKind::Service, "named like automation");
    // msiType none is no managed identity; a key id with certificate type is a certificate
    let ev = sp(r#","servicePrincipalId":"sp-9","managedServiceIdentity":{"msiType":"none"},"clientCredentialType":"certificate","servicePrincipalCredentialKeyId":"k-1""#).unwrap();
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("servicePrincipal"));
    let c = ev.credential.unwrap();
    assert_eq!(
        (c.id.as_str(), c.kind),
        ("k-1", CredentialKind::Certificate)
    );
    let ev = sp(r#","servicePrincipalId":"sp-9","managedIdentityType":"userAssigned""#).unwrap();
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("managedIdentity"));
    // no user principal name: the object id
    let ev = decode(
        r#"{"createdDateTime":"2026-03-02T04:05:06Z","userId":"0000-1111","userDisplayName":"Gail"}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.actor.id, "0000-1111");
    assert_eq!(ev.actor.name.as_deref(), Some("Gail"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
}

#[test]
fn awkward_values() {
    let ev = decode(
        r#"{"createdDateTime":"2026-03-02T04:05:06Z","userPrincipalName":"x@example.com","status":{"errorCode":"0"},"autonomousSystemNumber":-5,"location":"US","deviceDetail":[],"signInEventTypes":null,"ipAddress":"10.0.0.1:52344","properties":null}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.source.asn(), None);
    assert_eq!(ev.source.geo(), None);
    assert_eq!(ev.source.ip, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(ev.source.raw.as_deref(), Some("10.0.0.1:52344"));
}

#[test]
fn missing_and_invalid_fields() {
    let e = decode(r#"{"userPrincipalName":"x@example.com"}"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("createdDateTime"), "{e}");
    let e = decode(
        r#"{"createdDateTime":"03/02/2026 04:05","userPrincipalName":"x@example.com"}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(
        e.message.contains("createdDateTime") && e.message.contains("03/02/2026"),
        "{e}"
    );
    let e = decode(
        r#"{"time":"soon","category":"SignInLogs","properties":{"userPrincipalName":"x@example.com"}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("time"), "{e}");
    let e = decode(
        r#"{"time":"2026-03-02T04:05:06Z","category":"ServicePrincipalSignInLogs","properties":{}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("servicePrincipalId"), "{e}");
    let e = decode(r#"{"createdDateTime":"#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

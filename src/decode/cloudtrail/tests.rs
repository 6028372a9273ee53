use super::*;
use crate::decode::fixtures::origin;
use crate::decode::Reason;

fn ct(identity: &str, rest: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2026-03-02T04:05:06Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0","readOnly":true,"eventID":"e-1","recipientAccountId":"111122223333"{rest}}}"#
    )
}

fn dec(identity: &str, rest: &str) -> Event {
    decode(&ct(identity, rest), origin()).unwrap()
}

#[test]
fn iam_user_with_long_term_key() {
    let ev = dec(
        r#"{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"}"#,
        "",
    );
    assert_eq!(ev.time, 1_772_424_306_000);
    assert_eq!(ev.actor.id, "arn:aws:iam::111122223333:user/alice");
    assert_eq!(ev.actor.name.as_deref(), Some("alice"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    let c = ev.credential.unwrap();
    assert_eq!(
        (c.id.as_str(), c.kind),
        ("AKIAIOSFODNN7EXAMPLE", CredentialKind::LongTermKey)
    );
    assert_eq!(ev.session, None);
    assert_eq!(ev.source.ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(ev.action.name, "ListBuckets");
    assert_eq!(ev.action.service.as_deref(), Some("s3.amazonaws.com"));
    assert_eq!(ev.action.read_only, Some(true));
    assert_eq!(ev.action.outcome, Outcome::Success);
    assert_eq!(ev.id.as_deref(), Some("e-1"));
    assert!(ev.dedup.is_some());
}

#[test]
fn iam_user_named_like_a_service_is_a_service() {
    let ev = dec(
        r#"{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/svc-legacy-etl","accessKeyId":"AKIAEXAMPLE2","userName":"svc-legacy-etl"}"#,
        "",
    );
    assert_eq!(ev.actor.kind, ActorKind::Service);
}

#[test]
fn assumed_role_session_with_mfa_and_issue_time() {
    let ev = dec(
        r#"{"type":"AssumedRole","principalId":"AROAEXAMPLE:carol@corp.example","arn":"arn:aws:sts::111122223333:assumed-role/BreakGlassAdmin/carol@corp.example","accountId":"111122223333","accessKeyId":"ASIAEXAMPLESESSION01","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/BreakGlassAdmin","accountId":"111122223333","userName":"BreakGlassAdmin"},"attributes":{"creationDate":"2026-03-02T04:00:00Z","mfaAuthenticated":"true"}}}"#,
        "",
    );
    assert_eq!(ev.actor.name.as_deref(), Some("carol@corp.example"));
    assert_eq!(
        ev.actor.role.as_deref(),
        Some("arn:aws:iam::111122223333:role/BreakGlassAdmin")
    );
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.mfa, Some(true));
    let c = ev.credential.unwrap();
    assert_eq!(c.kind, CredentialKind::Session);
    assert_eq!(c.issued, Some(1_772_424_000_000));
    assert_eq!(ev.session.as_deref(), Some("ASIAEXAMPLESESSION01"));
}

#[test]
fn instance_profile_sessions_are_services() {
    let ev = dec(
        r#"{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/web/i-0abc123def4567890","accessKeyId":"ASIAX","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::111122223333:role/web"},"attributes":{"mfaAuthenticated":"false"}}}"#,
        "",
    );
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.mfa, Some(false));
}

#[test]
fn federated_saml_web_identity_users() {
    let ev = dec(
        r#"{"type":"FederatedUser","principalId":"111122223333:bob","arn":"arn:aws:sts::111122223333:federated-user/bob","accessKeyId":"ASIAFED","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/broker","userName":"broker"}}}"#,
        "",
    );
    assert_eq!(ev.actor.name.as_deref(), Some("bob"));
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(
        ev.actor.role.as_deref(),
        Some("arn:aws:iam::111122223333:user/broker")
    );

    let ev = dec(
        r#"{"type":"SAMLUser","principalId":"SAMLPID:dave@corp.example","userName":"dave@corp.example","identityProvider":"arn:aws:iam::111122223333:saml-provider/Okta"}"#,
        "",
    );
    assert_eq!(
        ev.actor.id,
        "arn:aws:iam::111122223333:saml-provider/Okta/dave@corp.example"
    );
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert!(ev.credential.is_none());

    let ev = dec(
        r#"{"type":"WebIdentityUser","principalId":"token.actions.githubusercontent.com:sts.amazonaws.com:repo:org/app:ref:refs/heads/main","userName":"repo:org/app:ref:refs/heads/main","identityProvider":"token.actions.githubusercontent.com"}"#,
        "",
    );
    assert_eq!(
        ev.actor.id,
        "token.actions.githubusercontent.com/repo:org/app:ref:refs/heads/main"
    );
    assert_eq!(ev.actor.vendor_type.as_deref(), Some("WebIdentityUser"));
}

#[test]
fn root_aws_service_and_identity_center() {
    let ev = dec(
        r#"{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""}"#,
        "",
    );
    assert_eq!(ev.actor.kind, ActorKind::Root);
    assert_eq!(ev.actor.id, "arn:aws:iam::111122223333:root");
    assert!(
        ev.credential.is_none(),
        "an empty accessKeyId is no credential"
    );

    let ev = decode(
        r#"{"eventVersion":"1.08","userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"},"eventTime":"2026-03-02T04:05:06Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","sourceIPAddress":"lambda.amazonaws.com","userAgent":"lambda.amazonaws.com","requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/fn","roleSessionName":"fn"},"responseElements":{"credentials":{"accessKeyId":"ASIANEW","sessionToken":"SECRET-TOKEN","expiration":"Mar 2, 2026, 5:05:06 PM"}}}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.actor.kind, ActorKind::Service);
    assert_eq!(ev.actor.id, "lambda.amazonaws.com");
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("lambda.amazonaws.com"));
    let a = ev.assumed.as_ref().unwrap();
    assert_eq!(a.role, "arn:aws:iam::111122223333:role/fn");
    assert_eq!(a.session_name.as_deref(), Some("fn"));
    assert_eq!(a.credential_id.as_deref(), Some("ASIANEW"));
    let json = serde_json::to_string(&ev).unwrap();
    assert!(
        !json.contains("SECRET-TOKEN"),
        "session tokens never leave the decoder"
    );

    let ev = dec(
        r#"{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"94482488-3041-7026-18f3-be45837cd0e4","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"},"credentialId":"EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"}"#,
        "",
    );
    assert_eq!(ev.actor.id, "94482488-3041-7026-18f3-be45837cd0e4");
    assert_eq!(ev.actor.kind, ActorKind::Human);
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::Session);
}

#[test]
fn console_login_mfa_and_failure() {
    let ev = decode(
        r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2026-03-02T04:05:06Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","sourceIPAddress":"198.51.100.9","userAgent":"Mozilla/5.0","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com","MobileVersion":"No","MFAUsed":"No"},"errorMessage":"Failed authentication"}"#,
        origin(),
    )
    .unwrap();
    assert_eq!(ev.mfa, Some(false));
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.credential.unwrap().kind, CredentialKind::Password);
}

#[test]
fn error_code_is_failure_and_odd_source_ips_are_kept_raw() {
    let mut text = ct(
        r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA1"}"#,
        r#","errorCode":"AccessDenied","errorMessage":"no""#,
    );
    text = text.replace("203.0.113.7", "08.1.250.216");
    let ev = decode(&text, origin()).unwrap();
    assert_eq!(ev.action.outcome, Outcome::Failure);
    assert_eq!(ev.action.error.as_deref(), Some("AccessDenied"));
    assert_eq!(ev.source.ip, None);
    assert_eq!(ev.source.raw.as_deref(), Some("08.1.250.216"));
    let ev = decode(&text.replace("08.1.250.216", "AWS Internal"), origin()).unwrap();
    assert_eq!(ev.source.raw.as_deref(), Some("AWS Internal"));
}

#[test]
fn odd_field_types_do_not_reject_the_record() {
    let ev = dec(
        r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA1","sessionContext":"weird"}"#,
        r#","requestParameters":{"roleArn":{"nested":true},"bucketName":"b"},"responseElements":null,"additionalEventData":"x""#,
    );
    assert_eq!(ev.action.resource.as_deref(), Some("b"));
}

#[test]
fn missing_and_invalid_required_fields_name_the_field() {
    let e = decode(
        r#"{"eventSource":"s","eventName":"X","userIdentity":{}}"#,
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::MissingField);
    assert!(e.message.contains("eventTime"), "{e}");
    let e = decode(
        &ct(r#"{"type":"Root"}"#, "").replace("2026-03-02T04:05:06Z", "2026-13-01T00:00:00Z"),
        origin(),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidField);
    assert!(e.message.contains("\"2026-13-01T00:00:00Z\""), "{e}");
    let e = decode(r#"{"eventTime":"2026-03-02T04:05:06Z""#, origin()).unwrap_err();
    assert_eq!(e.reason, Reason::MalformedJson);
}

//! A deterministic generator of CloudTrail JSON lines for benchmarks: a realistic day of mixed
//! traffic (SSO users, IAM users with long-term keys, instance-profile sessions, AWS services,
//! CI pipelines) with a handful of shared keys used from several networks; and one dense hour
//! over many long-term keys, either each key from one network (no finding due: what state costs)
//! or each from three networks within seconds (an alert storm: every key raises).

use std::fmt::Write;

#[path = "../rng.rs"]
mod rng;
pub use rng::Rng;

const ACTIONS: &[(&str, &str, bool)] = &[
    ("DescribeInstances", "ec2.amazonaws.com", true),
    ("GetObject", "s3.amazonaws.com", true),
    ("PutObject", "s3.amazonaws.com", false),
    ("ListBuckets", "s3.amazonaws.com", true),
    ("Decrypt", "kms.amazonaws.com", true),
    ("GetSecretValue", "secretsmanager.amazonaws.com", true),
    ("AssumeRole", "sts.amazonaws.com", false),
    ("GetCallerIdentity", "sts.amazonaws.com", true),
    (
        "UpdateFunctionCode20150331v2",
        "lambda.amazonaws.com",
        false,
    ),
    ("DescribeDBClusters", "rds.amazonaws.com", true),
    ("PutMetricData", "monitoring.amazonaws.com", false),
    ("ListUsers", "iam.amazonaws.com", true),
];

const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "aws-sdk-java/2.25.6 Linux/6.1.79-99.164.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.39.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.7 md/GOOS#linux md/GOARCH#amd64",
];

/// Day start: 2026-03-02T00:00:00Z.
pub const START: i64 = 1_772_409_600;

fn ts(out: &mut String, secs: i64) {
    let day_secs = secs.rem_euclid(86_400);
    let (h, m, s) = (day_secs / 3600, day_secs / 60 % 60, day_secs % 60);
    let day = 2 + (secs - START).div_euclid(86_400);
    let _ = write!(out, "2026-03-{day:02}T{h:02}:{m:02}:{s:02}Z");
}

/// Append record `i` of `n` (one line, no newline) to `out`.
pub fn record(rng: &mut Rng, i: u64, n: u64, out: &mut String) {
    let secs = START + (i as i64 * 86_400 / n.max(1) as i64);
    let (name, source, ro) = ACTIONS[rng.below(ACTIONS.len() as u64) as usize];
    let who = rng.below(100);
    // each kind of identity uses its own kind of client: people the console and the CLI,
    // instances an SDK, pipelines Terraform or boto3
    let pick = rng.below(2) as usize;
    let ua = match who {
        _ if who < 40 => [AGENTS[3], AGENTS[0]][pick],
        _ if who < 75 => AGENTS[1],
        _ => [AGENTS[4], AGENTS[2]][pick],
    };
    let shared = i % 50_000 < 6 && i > 50_000; // a few shared keys, each from 3 networks in seconds
    let mut bucket = rng.below(40);
    let (identity, ip): (String, String) = if shared {
        let k = i / 50_000;
        (
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDA3SHARED{k:08}","arn":"arn:aws:iam::111122223333:user/shared-{k}","accountId":"111122223333","accessKeyId":"AKIA3SHARED{k:09}","userName":"shared-{k}"}}"#
            ),
            format!("{}.{}.{}.{}", 20 + i % 3 * 40, 10 + k % 200, 7, 9),
        )
    } else if who < 40 {
        let u = rng.below(2000);
        (
            format!(
                r#"{{"type":"AssumedRole","principalId":"AROA3EXAMPLEDEVROLE:user{u}@corp.example","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Developer_0123456789abcdef/user{u}@corp.example","accountId":"111122223333","accessKeyId":"ASIA3SSO{u:012}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROA3EXAMPLEDEVROLE","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_0123456789abcdef","accountId":"111122223333","userName":"AWSReservedSSO_Developer_0123456789abcdef"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"2026-03-02T00:00:00Z","mfaAuthenticated":"false"}}}}}}"#
            ),
            format!("203.0.{}.{}", u % 250, 1 + u % 200),
        )
    } else if who < 75 {
        let inst = rng.below(5000);
        (
            format!(
                r#"{{"type":"AssumedRole","principalId":"AROA3EXAMPLEWEBROLE:i-0a1b2c3d{inst:09x}","arn":"arn:aws:sts::111122223333:assumed-role/web-app/i-0a1b2c3d{inst:09x}","accountId":"111122223333","accessKeyId":"ASIA3WEB{inst:012}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROA3EXAMPLEWEBROLE","arn":"arn:aws:iam::111122223333:role/web-app","accountId":"111122223333","userName":"web-app"}},"attributes":{{"creationDate":"2026-03-01T23:00:00Z","mfaAuthenticated":"false"}},"ec2RoleDelivery":"2.0"}}}}"#
            ),
            format!("10.0.{}.{}", inst % 16, inst % 250 + 1),
        )
    } else if who < 90 {
        let k = rng.below(500);
        // a pipeline works on its own two buckets
        bucket = (k + bucket % 2) % 40;
        (
            format!(
                r#"{{"type":"IAMUser","principalId":"AIDA3USER{k:010}","arn":"arn:aws:iam::111122223333:user/svc-pipeline-{k}","accountId":"111122223333","accessKeyId":"AKIA3PIPE{k:011}","userName":"svc-pipeline-{k}"}}"#
            ),
            format!("198.51.{}.{}", k % 100, 1 + rng.below(250)),
        )
    } else {
        (
            r#"{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}"#.to_string(),
            "lambda.amazonaws.com".to_string(),
        )
    };
    out.push_str(r#"{"eventVersion":"1.09","userIdentity":"#);
    out.push_str(&identity);
    out.push_str(r#","eventTime":""#);
    ts(out, secs);
    let _ = write!(
        out,
        r#"","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"{ua}","requestParameters":{{"bucketName":"corp-data-{b}","key":"reports/2026/03/02/part-{p:05}.parquet"}},"responseElements":null,"additionalEventData":{{"bytesTransferredOut":{bytes}}},"requestID":"{r:016X}","eventID":"{e:08x}-{f:04x}-4{g:03x}-8{h:03x}-{r:012x}","readOnly":{ro},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","clientProvidedHostHeader":"{svc}.us-east-1.amazonaws.com"}}}}"#,
        b = bucket,
        p = rng.below(100_000),
        r = rng.next() >> 16,
        bytes = rng.below(1 << 20),
        e = rng.next() as u32,
        f = rng.below(1 << 16),
        g = rng.below(1 << 12),
        h = rng.below(1 << 12),
        svc = source.trim_end_matches(".amazonaws.com"),
    );
}

/// One hour of `n` records over `keys` long-term keys. `storm`: each key's records come three in
/// a row from three networks (every key raises); otherwise each key stays inside its own /24 and
/// its uses are spread over the hour.
#[allow(dead_code)] // gencorpus uses it; the criterion benches read the realistic day
pub fn dense(rng: &mut Rng, i: u64, n: u64, keys: u64, storm: bool, out: &mut String) {
    let secs = START + (i as i64 * 3_600 / n.max(1) as i64);
    let (name, source, ro) = ACTIONS[rng.below(ACTIONS.len() as u64) as usize];
    let keys = keys.max(1);
    let (k, ip) = if storm {
        let k = (i / 3) % keys;
        let net = [20, 60, 100][(i % 3) as usize];
        (
            k,
            format!("{net}.{}.{}.{}", k % 200, k / 200 % 250, 1 + rng.below(250)),
        )
    } else {
        let k = rng.below(keys);
        (
            k,
            format!("10.{}.{}.{}", k % 250, k / 250 % 250, 1 + rng.below(250)),
        )
    };
    out.push_str(r#"{"eventVersion":"1.09","userIdentity":"#);
    let _ = write!(
        out,
        r#"{{"type":"IAMUser","principalId":"AIDA3DENSE{k:010}","arn":"arn:aws:iam::111122223333:user/svc-dense-{k}","accountId":"111122223333","accessKeyId":"AKIA3DENSE{k:010}","userName":"svc-dense-{k}"}}"#
    );
    out.push_str(r#","eventTime":""#);
    ts(out, secs);
    let _ = write!(
        out,
        r#"","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"{ua}","requestParameters":{{"bucketName":"corp-data-{b}"}},"responseElements":null,"requestID":"{r:016X}","eventID":"{e:08x}-{f:04x}-4{g:03x}-8{h:03x}-{r:012x}","readOnly":{ro},"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}"#,
        ua = AGENTS[2],
        b = k % 40,
        r = rng.next() >> 16,
        e = rng.next() as u32,
        f = rng.below(1 << 16),
        g = rng.below(1 << 12),
        h = rng.below(1 << 12),
    );
}

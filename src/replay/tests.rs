use super::*;

fn dec() -> DecodeOptions {
    DecodeOptions {
        format: None,
        inventory: Arc::default(),
        mappings: Arc::default(),
        since: None,
        until: None,
        max_line: 1 << 20,
    }
}

const REC: &str = r#"{"eventVersion":"1.08","eventTime":"2026-03-02T04:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"192.0.2.1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA1"}}"#;

fn doc(text: &str, truncated: Option<&str>) -> Batch {
    dec().decode(
        Piece::Document {
            path: Arc::from("d.json"),
            data: text.as_bytes().to_vec(),
            truncated: truncated.map(String::from),
        },
        0,
    )
}

fn lines(path: &str, first_line: u64, data: Vec<u8>) -> Piece {
    Piece::Lines {
        path: Arc::from(path),
        first_line,
        offset: 0,
        data,
    }
}

fn lines_at(b: &Batch) -> Vec<u64> {
    b.records
        .iter()
        .map(|r| match r {
            Record::Event(e) => match &e.origin {
                Origin::File { line, .. } => *line,
                _ => 0,
            },
            _ => 0,
        })
        .collect()
}

#[test]
fn records_document_and_array_with_positions() {
    let text = format!("{{\n  \"Records\": [\n    {REC},\n    {REC}\n  ]\n}}\n");
    let b = doc(&text, None);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(lines_at(&b), [3, 4]);
    if let Record::Event(e) = &b.records[1] {
        let Origin::File { offset, .. } = e.origin else {
            unreachable!()
        };
        assert_eq!(&text[offset as usize..][..REC.len()], REC);
    }
    let b = doc(&format!("[{REC},{REC},{REC}]"), None);
    assert_eq!(b.records.len(), 3);
    let b = doc("[]", None);
    assert!(b.records.is_empty() && b.errors.is_empty());
}

#[test]
fn bad_record_in_a_document_keeps_the_good_ones() {
    // a record that is valid JSON but not CloudTrail is one error; its neighbours still decode
    let b = doc(
        &format!("[{REC},{{\"eventTime\":\"2026-03-02T04:00:00Z\",\"eventSource\":\"x\"}},{REC}]"),
        None,
    );
    assert_eq!(b.records.len(), 2);
    assert_eq!(b.errors.len(), 1);
    assert!(
        b.errors[0].to_string().contains("no eventName"),
        "{}",
        b.errors[0]
    );
    // broken JSON ends the document (nothing to resynchronise on), after the records before it
    let b = doc(&format!("[{REC},{{\"eventTime\": nope}},{REC}]"), None);
    assert_eq!(b.records.len(), 1);
    assert_eq!(b.errors[0].error.reason, Reason::MalformedJson);
}

#[test]
fn truncated_document_keeps_records_before_the_cut() {
    let text = format!("{{\"Records\":[{REC},{REC},{}", &REC[..40]);
    let b = doc(&text, Some("gzip stream truncated"));
    assert_eq!(b.records.len(), 2);
    assert_eq!(b.errors.len(), 1);
    assert_eq!(b.errors[0].error.reason, Reason::TruncatedInput);
    assert!(b.errors[0].to_string().contains("gzip stream truncated"));
}

#[test]
fn lines_with_bad_utf8_bad_json_crlf_and_blank_lines() {
    let mut data = Vec::new();
    data.extend(REC.as_bytes());
    data.extend(b"\r\n\n   \n{\"eventTime\": \xff\xfe}\n{not json\n");
    data.extend(REC.as_bytes());
    let b = dec().decode(lines("l.jsonl", 10, data), 0);
    assert_eq!(lines_at(&b), [10, 15]);
    let errs: Vec<String> = b.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("l.jsonl:13: invalid UTF-8 at byte 14"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("l.jsonl:14: malformed JSON"),
        "{errs:?}"
    );
}

#[test]
fn byte_order_mark_at_stream_start_is_skipped() {
    let mut data = b"\xEF\xBB\xBF".to_vec();
    data.extend(REC.as_bytes());
    let b = dec().decode(lines("bom.jsonl", 1, data), 0);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(b.records.len(), 1);
}

#[test]
fn since_until_filter_is_counted() {
    let d = DecodeOptions {
        since: Some(1_772_424_000_001),
        ..dec()
    };
    let b = d.decode(lines("l", 1, REC.as_bytes().to_vec()), 0);
    assert!(b.records.is_empty());
    assert_eq!(b.filtered, 1);
}

#[test]
fn wrapper_objects_on_lines_of_a_lines_file_are_unwrapped() {
    let data = format!("{REC}\n{{\"records\":[{REC},{REC}]}}\n{REC}\n");
    let b = dec().decode(lines("mixed.jsonl", 1, data.into_bytes()), 0);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(lines_at(&b), [1, 2, 2, 3]);
}

use std::io::Write;

use super::*;

fn collect(input: &Input, opts: ReadOptions) -> Vec<Piece> {
    let mut out = Vec::new();
    read_input(input, opts, &Arc::new(AtomicU64::new(0)), &mut |p| {
        out.push(p)
    });
    out
}

/// Reassemble line pieces into (line number, offset, text) and errors.
fn lines_of(pieces: &[Piece]) -> (Vec<(u64, u64, String)>, Vec<String>) {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for p in pieces {
        match p {
            Piece::Lines {
                first_line,
                offset,
                data,
                ..
            } => {
                let mut off = *offset;
                for (n, l) in (*first_line..).zip(data.split_inclusive(|b| *b == b'\n')) {
                    let text = String::from_utf8_lossy(l).trim_end().to_string();
                    lines.push((n, off, text));
                    off += l.len() as u64;
                }
            }
            Piece::Error(e) => errors.push(e.to_string()),
            Piece::Document { .. } => panic!("not a document"),
        }
    }
    (lines, errors)
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, data).unwrap();
    p
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn lines_keep_numbers_and_offsets_across_small_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (1..=50).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let p = write(dir.path(), "a.jsonl", text.as_bytes());
    for chunk in [7, 64, 1 << 20] {
        let (lines, errors) = lines_of(&collect(
            &Input::File(p.clone()),
            ReadOptions {
                max_line: 1000,
                chunk,
            },
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(lines.len(), 50, "chunk {chunk}");
        for (i, (n, off, t)) in lines.iter().enumerate() {
            assert_eq!(*n, i as u64 + 1);
            assert_eq!(t, &format!("{{\"n\":{}}}", i + 1));
            assert_eq!(&text[*off as usize..][..t.len()], t.as_str());
        }
    }
}

#[test]
fn last_line_without_newline_and_gzip_by_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "no-extension", &gz(b"{\"a\":1}\n{\"a\":2}"));
    let (lines, errors) = lines_of(&collect(&Input::File(p), ReadOptions::default()));
    assert!(errors.is_empty());
    assert_eq!(
        lines.iter().map(|l| l.2.as_str()).collect::<Vec<_>>(),
        ["{\"a\":1}", "{\"a\":2}"]
    );
}

#[test]
fn overlong_line_is_reported_and_skipped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = b"{\"ok\":1}\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 5000));
    data.extend(b"\n{\"ok\":3}\n");
    let p = write(dir.path(), "long.jsonl", &data);
    let (lines, errors) = lines_of(&collect(
        &Input::File(p),
        ReadOptions {
            max_line: 100,
            chunk: 256,
        },
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("long.jsonl:2: line longer than 100 bytes"),
        "{errors:?}"
    );
    let kept: Vec<_> = lines.iter().map(|l| (l.0, l.2.as_str())).collect();
    assert_eq!(kept, [(1, "{\"ok\":1}"), (3, "{\"ok\":3}")]);
}

#[test]
fn truncated_gzip_keeps_whole_lines_and_reports_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (1..=2000)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "y".repeat(i % 50)))
        .collect();
    let full = gz(text.as_bytes());
    let p = write(dir.path(), "cut.json.gz", &full[..full.len() * 2 / 3]);
    let (lines, errors) = lines_of(&collect(
        &Input::File(p),
        ReadOptions {
            max_line: 1 << 20,
            chunk: 4096,
        },
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("gzip stream truncated"), "{errors:?}");
    assert!(lines.len() > 100 && lines.len() < 2000, "{}", lines.len());
    for (i, (n, _, t)) in lines.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1);
        assert!(
            t.starts_with(&format!("{{\"n\":{},", i + 1)),
            "line {n} intact"
        );
    }
}

#[test]
fn documents_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let doc = b"{\"Records\":[{\"a\":1},{\"a\":2}]}";
    let p = write(dir.path(), "ct.json.gz", &gz(doc));
    let pieces = collect(
        &Input::File(p),
        ReadOptions {
            max_line: 10,
            chunk: 8,
        },
    );
    assert_eq!(pieces.len(), 1);
    match &pieces[0] {
        Piece::Document {
            data, truncated, ..
        } => {
            assert_eq!(&data[..], doc, "a document is not cut at the line cap");
            assert!(truncated.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expand_sorts_dedups_walks_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "b/2.json", b"");
    write(d, "b/sub/1.json.gz", b"");
    write(d, "a.jsonl", b"");
    write(d, "b/.hidden", b"");
    let s = |p: &str| d.join(p).display().to_string();
    let got = expand(&[s("b"), s("a.jsonl"), s("*.jsonl"), s("b/2.json")]).unwrap();
    let want: Vec<Input> = ["a.jsonl", "b/2.json", "b/sub/1.json.gz"]
        .iter()
        .map(|p| Input::File(d.join(p)))
        .collect();
    assert_eq!(got, want);
    let errs = expand(&[s("missing.json"), s("*.nothing")]).unwrap_err();
    assert_eq!(errs.len(), 2);
    assert!(errs[0].contains("no such file"), "{errs:?}");
    assert!(errs[1].contains("no files match"), "{errs:?}");
}

#[test]
fn cloudtrail_deliveries_interleave_by_time_across_regions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = [
        "AWSLogs/1/CloudTrail/us-east-1/2026/03/02/1_CloudTrail_us-east-1_20260302T0415Z_b.json.gz",
        "AWSLogs/1/CloudTrail/us-east-1/2026/03/02/1_CloudTrail_us-east-1_20260302T0405Z_a.json.gz",
        "AWSLogs/1/CloudTrail/eu-west-1/2026/03/02/1_CloudTrail_eu-west-1_20260302T0410Z_c.json.gz",
        "approvals.jsonl",
    ];
    for n in names {
        write(d, n, b"");
    }
    let got: Vec<String> = expand(&[d.display().to_string()])
        .unwrap()
        .iter()
        .map(|i| i.label().rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        [
            "approvals.jsonl",
            "1_CloudTrail_us-east-1_20260302T0405Z_a.json.gz",
            "1_CloudTrail_eu-west-1_20260302T0410Z_c.json.gz",
            "1_CloudTrail_us-east-1_20260302T0415Z_b.json.gz",
        ]
    );
    assert_eq!(
        delivery_time(Path::new("x_20260302T0410Z_y")),
        Some(202603020410)
    );
    assert_eq!(delivery_time(Path::new("x_20260302T041Z_y")), None);
}

#[test]
fn missing_file_at_read_time_is_an_io_error_piece() {
    let pieces = collect(
        &Input::File(PathBuf::from("/nonexistent/x.json")),
        ReadOptions::default(),
    );
    assert!(matches!(&pieces[..], [Piece::Error(e)] if e.error.reason == Reason::Io));
}

#[test]
fn inputs_are_ordered_by_their_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let ct = |t: &str| {
        format!(
            r#"{{"eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}}}}"#
        )
    };
    let later = write(
        dir.path(),
        "a-later.jsonl",
        format!("{}\n", ct("2026-03-05T00:00:00Z")).as_bytes(),
    );
    let doc = format!("{{\"Records\":[{}]}}", ct("2026-03-03T00:00:00Z"));
    let middle = write(dir.path(), "b-middle.json.gz", &gz(doc.as_bytes()));
    let earlier = write(
        dir.path(),
        "c-earlier.jsonl",
        format!("not json\n{}\n", ct("2026-03-01T00:00:00Z")).as_bytes(),
    );
    let approvals = write(
        dir.path(),
        "z-approvals.jsonl",
        br#"{"kind":"approval","id":"A","scope":"break_glass","principal":"p","valid_from":"2026-03-01T00:00:00Z","valid_until":"2026-03-02T00:00:00Z"}"#,
    );
    let mut inputs: Vec<Input> = [&later, &middle, &earlier, &approvals]
        .iter()
        .map(|p| Input::File(p.to_path_buf()))
        .collect();
    order_by_first_event(&mut inputs, &Decoder::new(None));
    let names: Vec<String> = inputs
        .iter()
        .map(|i| match i {
            Input::File(p) => p.file_name().unwrap().to_string_lossy().to_string(),
            Input::Stdin => "-".into(),
        })
        .collect();
    assert_eq!(
        names,
        [
            "z-approvals.jsonl",
            "c-earlier.jsonl",
            "b-middle.json.gz",
            "a-later.jsonl"
        ]
    );
}

#[test]
fn raw_bytes_count_the_file_as_stored_plain_or_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..5000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let opts = ReadOptions {
        chunk: 4096,
        ..ReadOptions::default()
    };
    for (name, data) in [
        ("plain.jsonl", text.as_bytes().to_vec()),
        ("packed.jsonl.gz", gz(text.as_bytes())),
    ] {
        let p = write(dir.path(), name, &data);
        let raw = Arc::new(AtomicU64::new(0));
        let mut pieces = Vec::new();
        read_input(&Input::File(p), opts, &raw, &mut |x| pieces.push(x));
        let (lines, errors) = lines_of(&pieces);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(lines.len(), 5000, "{name}");
        assert_eq!(raw.load(Ordering::Relaxed), data.len() as u64, "{name}");
    }
}

use super::*;

fn open(dir: &Path, segment: u64, max: u64) -> (Spool, Reader) {
    // the metrics label is the directory: tests run in parallel
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    Spool::open(dir, &name, segment, max).unwrap()
}

fn gauges(dir: &Path) -> (i64, i64) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let m = metrics();
    (
        m.sink_queue.with_label_values(&[&name]).get(),
        m.sink_spool.with_label_values(&[&name]).get(),
    )
}

fn read_all(s: &Spool, r: &mut Reader) -> Vec<Line> {
    let mut out = VecDeque::new();
    s.read(r, usize::MAX, &mut out).unwrap();
    out.into()
}

fn text(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| String::from_utf8(l.bytes.clone()).unwrap())
        .collect()
}

fn segments(dir: &Path) -> Vec<u64> {
    list_segments(&dir.join("spool")).unwrap()
}

#[test]
fn records_come_back_in_order_across_segments_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, mut r) = open(d, 64, 1 << 20);
    let recs: Vec<String> = (0..10)
        .map(|i| format!("{{\"n\":{i:02},\"pad\":\"xxxxxxxx\"}}"))
        .collect();
    for rec in &recs {
        assert_eq!(s.append(rec.as_bytes()).unwrap(), Appended::Written);
    }
    // 26-byte lines (with the newline), 64-byte segments: two lines a segment
    assert_eq!(segments(d), [0, 1, 2, 3, 4]);
    assert_eq!(s.pending(), (10, 260));
    assert_eq!(gauges(d), (10, 260));
    let lines = read_all(&s, &mut r);
    assert_eq!(text(&lines), recs);
    assert_eq!(
        lines[4].at,
        Pos {
            segment: 2,
            offset: 0
        }
    );
    assert_eq!(
        lines[4].end,
        Pos {
            segment: 2,
            offset: 26
        }
    );
    // nothing more until something is appended
    assert!(read_all(&s, &mut r).is_empty());

    // the first five delivered: segments 0 and 1 go, the cursor is saved
    s.ack(lines[4].end, 5, 130).unwrap();
    assert_eq!(s.pending(), (5, 130));
    assert_eq!(segments(d), [2, 3, 4]);
    drop((s, r));

    let (s, mut r) = open(d, 64, 1 << 20);
    assert_eq!(s.pending(), (5, 130), "counted from disk");
    let lines = read_all(&s, &mut r);
    assert_eq!(text(&lines), recs[5..]);
    s.append(b"{\"n\":10}").unwrap();
    assert_eq!(text(&read_all(&s, &mut r)), ["{\"n\":10}"]);
    // everything delivered: only the segment being written stays
    s.ack(
        Pos {
            segment: 4,
            offset: 61,
        },
        6,
        139,
    )
    .unwrap();
    assert_eq!(s.pending(), (0, 0));
    assert_eq!(gauges(d), (0, 0));
    assert_eq!(segments(d), [4]);
    // the next line does not fit: a new segment
    s.append(b"{\"n\":11}").unwrap();
    let last = read_all(&s, &mut r);
    assert_eq!(
        last[0].at,
        Pos {
            segment: 5,
            offset: 0
        }
    );
    s.ack(last[0].end, 1, 9).unwrap();
    assert_eq!(segments(d), [5]);
}

#[test]
fn a_half_written_last_line_is_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, r) = open(d, 1 << 20, 1 << 20);
    s.append(b"{\"a\":1}").unwrap();
    s.append(b"{\"a\":2}").unwrap();
    drop((s, r));
    let seg = d.join("spool").join(format!("{:020}.jsonl", 0));
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(b"{\"a\":3, \"cut").unwrap();
    drop(f);

    let (s, mut r) = open(d, 1 << 20, 1 << 20);
    assert_eq!(s.pending(), (2, 16));
    s.append(b"{\"a\":4}").unwrap();
    assert_eq!(
        text(&read_all(&s, &mut r)),
        ["{\"a\":1}", "{\"a\":2}", "{\"a\":4}"]
    );
}

#[test]
fn a_full_spool_refuses_until_something_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (s, mut r) = open(dir.path(), 1 << 20, 20);
    assert_eq!(s.append(b"123456789").unwrap(), Appended::Written);
    assert_eq!(s.append(b"123456789").unwrap(), Appended::Written);
    assert_eq!(s.append(b"1").unwrap(), Appended::Full);
    let lines = read_all(&s, &mut r);
    assert_eq!(lines.len(), 2);
    s.ack(lines[0].end, 1, 10).unwrap();
    assert_eq!(s.append(b"1").unwrap(), Appended::Written);
    assert_eq!(gauges(dir.path()), (2, 12));
}

#[test]
fn a_bad_cursor_means_delivering_from_the_oldest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, mut r) = open(d, 1 << 20, 1 << 20);
    s.append(b"{\"a\":1}").unwrap();
    s.append(b"{\"a\":2}").unwrap();
    let lines = read_all(&s, &mut r);
    s.ack(lines[0].end, 1, 8).unwrap();
    drop((s, r));
    fs::write(d.join("cursor.json"), b"{\"segm").unwrap();
    let (s, mut r) = open(d, 1 << 20, 1 << 20);
    assert_eq!(read_all(&s, &mut r).len(), 2, "at least once");
}

#[test]
fn a_spool_open_in_another_process_or_handle_is_refused_until_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = open(d, 64, 1 << 20);
    let name = d.file_name().unwrap().to_string_lossy().into_owned();
    match Spool::open(d, &name, 64, 1 << 20) {
        Err(e @ SpoolError::InUse { .. }) => {
            assert!(e.to_string().contains("in use by another bypassd"), "{e}")
        }
        other => panic!("a second open must be refused: {:?}", other.map(|_| ())),
    }
    drop(first);
    open(d, 64, 1 << 20);
}

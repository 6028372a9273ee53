//! Unit tests of line splitting and content identity; behaviour on real files is in
//! `tests/tail.rs`.

use std::sync::Arc;

use super::identity::{best, Head, Known, MIN_MATCH};
use super::lines::{Lines, Out};
use super::Item;
use xxhash_rust::xxh3::xxh3_64;

/// (line, offset, text) of each line, and (offset, message) of each error.
type Got = (Vec<(u64, u64, String)>, Vec<(u64, String)>);

fn split(chunks: &[&[u8]], max_line: usize, finish: bool) -> (Got, Lines) {
    let path: Arc<str> = Arc::from("t.log");
    let mut got: Got = Default::default();
    let mut f = |item: Item| match item {
        Item::Line {
            line, offset, text, ..
        } => got
            .0
            .push((line, offset, String::from_utf8_lossy(text).into_owned())),
        Item::Error {
            offset, message, ..
        } => got.1.push((offset, message)),
    };
    let mut out = Out::new(&mut f);
    let mut lines = Lines::at(0, None);
    for c in chunks {
        lines.push(c, &path, max_line, &mut out);
    }
    if finish {
        lines.finish(&path, max_line, &mut out);
    }
    (got, lines)
}

#[test]
fn a_partial_line_is_held_and_the_offset_stays_before_it() {
    let ((lines, errors), state) = split(&[b"one\ntw", b"o\nthr"], 100, false);
    assert_eq!(lines, vec![(1, 0, "one".into()), (2, 4, "two".into())]);
    assert!(errors.is_empty());
    assert_eq!((state.offset, state.pos, state.line), (8, 11, 2));
    assert_eq!(state.pending, b"thr");
}

#[test]
fn an_overlong_line_is_one_error_and_skipped_to_its_newline() {
    let ((lines, errors), state) = split(&[b"ok\n0123456", b"789", b"abc\nnext\n"], 5, false);
    assert_eq!(lines, vec![(1, 0, "ok".into()), (3, 17, "next".into())]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 3);
    assert!(
        errors[0].1.contains("line 2 longer than 5 bytes"),
        "{errors:?}"
    );
    assert_eq!((state.offset, state.line), (22, 3));
    // a long line whose newline came in the same chunk is reported the same way
    let ((lines, errors), _) = split(&[b"0123456789\nok\n"], 5, false);
    assert_eq!((lines.len(), errors.len()), (1, 1));
}

#[test]
fn the_end_of_a_finished_stream_delivers_its_last_line() {
    let ((lines, _), state) = split(&[b"a\nb"], 100, true);
    assert_eq!(lines, vec![(1, 0, "a".into()), (2, 2, "b".into())]);
    assert_eq!((state.offset, state.pos), (3, 3));
}

fn known(head: Head, offset: u64) -> Known {
    Known {
        head,
        offset,
        lines: None,
        path: Arc::from("k"),
    }
}

#[test]
fn content_is_recognised_on_a_shared_prefix_of_at_least_min_match_bytes() {
    let text: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
    let bytes = known(Head::Bytes(text[..150].to_vec()), 150);
    assert_eq!(bytes.head.shared(&text), Some(150));
    // a prefix of the head: shared as far as it goes (the caller waits for more)
    assert_eq!(bytes.head.shared(&text[..100]), Some(100));
    assert_eq!(bytes.head.shared(&text[..MIN_MATCH - 1]), None);
    let mut other = text.clone();
    other[120] = b'#';
    assert_eq!(bytes.head.shared(&other), None);
    // a hash compares only on its own length
    let hash = known(
        Head::Hash {
            hash: xxh3_64(&text[..80]),
            len: 80,
        },
        80,
    );
    assert_eq!(hash.head.shared(&text), Some(80));
    assert_eq!(hash.head.shared(&text[..79]), None);
    // the longest shared prefix wins, then the furthest offset
    let shorter = known(Head::Bytes(text[..100].to_vec()), 900);
    let (k, n) = best([&hash, &bytes, &shorter].into_iter(), &text).unwrap();
    assert_eq!((k.offset, n), (150, 150));
}

//! The live tailer on real files: globs, partial lines, rename and copytruncate rotation,
//! deletion, identity across restarts, gzip, errors, notify wake-ups, and a model test of random
//! write/rotate/compress/restart sequences where every line must arrive exactly once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bypassd::sources::tail::{Item, Position, StartAt, TailOptions, Tailer};
use flate2::write::GzEncoder;
use proptest::prelude::*;

/// A delivered line or error: (path, line number, offset, text or message).
type Got = (String, u64, u64, String);

struct T {
    dir: tempfile::TempDir,
    opts: TailOptions,
    tailer: Tailer,
    lines: Vec<Got>,
    errors: Vec<Got>,
}

impl T {
    /// A tailer over `patterns` (relative to a new directory) that rescans at every poll, so the
    /// tests do not depend on when notify events arrive.
    fn new(patterns: &[&str], setup: impl FnOnce(&Path)) -> T {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let opts = TailOptions {
            patterns: (patterns.iter())
                .map(|p| dir.path().join(p).display().to_string())
                .collect(),
            rescan: Duration::ZERO,
            ..TailOptions::default()
        };
        let tailer = Tailer::new(opts.clone(), Vec::new()).unwrap();
        T {
            dir,
            opts,
            tailer,
            lines: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn append(&self, name: &str, text: &str) {
        append(&self.p(name), text);
    }

    /// Poll once; the texts of the lines delivered.
    fn poll(&mut self) -> Vec<String> {
        let before = self.lines.len();
        let (lines, errors) = (&mut self.lines, &mut self.errors);
        let base = format!("{}/", self.dir.path().display());
        self.tailer
            .poll(Duration::ZERO, &mut |item| {
                collect(item, &base, lines, errors)
            })
            .unwrap();
        self.lines[before..].iter().map(|l| l.3.clone()).collect()
    }

    /// Stop and start again from the positions it would have checkpointed.
    fn restart(&mut self, positions: Vec<Position>) {
        self.tailer = Tailer::new(self.opts.clone(), positions).unwrap();
    }
}

fn collect(item: Item, base: &str, lines: &mut Vec<Got>, errors: &mut Vec<Got>) {
    let short = |p: &str| p.strip_prefix(base).unwrap_or(p).to_string();
    match item {
        Item::Line {
            path,
            line,
            offset,
            text,
        } => lines.push((
            short(path),
            line,
            offset,
            String::from_utf8_lossy(text).into_owned(),
        )),
        Item::Error {
            path,
            offset,
            message,
        } => errors.push((short(path), 0, offset, message)),
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn gzip(from: &Path, to: &Path) {
    gzip_text(to, &fs::read_to_string(from).unwrap());
}

/// A line long enough for content recognition (64 bytes or more).
fn line(id: u64) -> String {
    format!("line {id:06} {}\n", "x".repeat(60))
}

fn lines(ids: std::ops::Range<u64>) -> String {
    ids.map(line).collect()
}

fn texts(ids: std::ops::Range<u64>) -> Vec<String> {
    ids.map(|i| line(i).trim_end().to_string()).collect()
}

#[test]
fn globs_pick_up_files_when_they_appear_in_existing_and_later_directories() {
    let mut t = T::new(&["*.log", "pods/*/audit.log"], |d| {
        append(&d.join("a.log"), "a1\n")
    });
    t.append("ignored.txt", "no\n");
    assert_eq!(t.poll(), ["a1"]);
    t.append("b.log", "b1\n");
    assert_eq!(t.poll(), ["b1"]);
    fs::create_dir_all(t.p("pods/web-1")).unwrap();
    t.append("pods/web-1/audit.log", "p1\n");
    assert_eq!(t.poll(), ["p1"]);
    assert_eq!(t.lines[2].0, "pods/web-1/audit.log");
    assert_eq!(t.tailer.stats().files_tracked, 3);
}

#[test]
fn a_partial_last_line_is_held_until_its_newline() {
    let mut t = T::new(&["app.log"], |_| {});
    t.append("app.log", "one\ntw");
    assert_eq!(t.poll(), ["one"]);
    assert_eq!(
        t.tailer.positions()[0].offset,
        4,
        "the position never passes a partial line"
    );
    assert_eq!(t.tailer.lag()[0].1, 0);
    t.append("app.log", "o\n");
    assert_eq!(t.poll(), ["two"]);
    assert_eq!(
        (t.lines[1].1, t.lines[1].2),
        (2, 4),
        "line number and offset of the line start"
    );
}

fn rename_rotation(rotated: &str) {
    let mut t = T::new(&["app.log*"], |d| fs::create_dir(d.join("old")).unwrap());
    t.append("app.log", &lines(0..3));
    assert_eq!(t.poll(), texts(0..3));
    // lines the tailer has not read when the file is renamed and a new one created
    t.append("app.log", &lines(3..5));
    fs::rename(t.p("app.log"), t.p(rotated)).unwrap();
    t.append("app.log", &lines(5..7));
    assert_eq!(
        t.poll(),
        texts(3..7),
        "old file read to its end first, then the new one from 0"
    );
    t.append("app.log", &lines(7..8));
    assert_eq!(t.poll(), texts(7..8));
    assert_eq!(t.tailer.stats().rotations, 1);
    let tracked = t.tailer.positions().len();
    assert_eq!(tracked, if rotated.starts_with("old") { 1 } else { 2 });
}

#[test]
fn rename_rotation_to_a_name_inside_the_glob() {
    rename_rotation("app.log.1");
}

#[test]
fn rename_rotation_to_a_name_outside_the_glob() {
    rename_rotation("old/app.log.1");
}

#[test]
fn copytruncate_restarts_at_zero_and_reads_only_the_unread_tail_of_the_copy() {
    let mut t = T::new(&["app.log*"], |_| {});
    t.append("app.log", &lines(0..3));
    assert_eq!(t.poll(), texts(0..3));
    t.append("app.log", &lines(3..5));
    fs::copy(t.p("app.log"), t.p("app.log.1")).unwrap();
    File::create(t.p("app.log")).unwrap(); // truncates
    t.append("app.log", &lines(5..6));
    let mut got = t.poll();
    got.sort();
    assert_eq!(
        got,
        texts(3..6),
        "the copy's unread tail and the new content, nothing twice"
    );
    assert_eq!(t.tailer.stats().truncations, 1);
    // the same inode rewritten to exactly the same size is seen by its fingerprint
    let size = fs::metadata(t.p("app.log")).unwrap().len();
    fs::write(t.p("app.log"), lines(6..7)).unwrap();
    assert_eq!(fs::metadata(t.p("app.log")).unwrap().len(), size);
    assert_eq!(t.poll(), texts(6..7));
    assert_eq!(t.tailer.stats().truncations, 2);
}

#[test]
fn a_deleted_file_is_read_to_its_end_then_forgotten() {
    let mut t = T::new(&["*.log"], |_| {});
    t.append("app.log", &lines(0..2));
    assert_eq!(t.poll(), texts(0..2));
    t.append("app.log", &lines(2..4));
    fs::remove_file(t.p("app.log")).unwrap();
    assert_eq!(t.poll(), texts(2..4));
    let stats = t.tailer.stats();
    assert_eq!(
        (stats.files_open, stats.files_tracked),
        (0, 0),
        "no handle on deleted files"
    );
    assert!(t.tailer.positions().is_empty());
}

#[test]
fn identity_follows_content_across_a_restart_with_rotation_while_down() {
    let mut t = T::new(&["app.log*"], |_| {});
    t.append("app.log", &lines(0..3));
    t.append("other.log", "x\n"); // outside the glob
    assert_eq!(t.poll(), texts(0..3));
    let saved = t.tailer.positions();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].lines, Some(3));
    // while down: more lines, rename rotation, a new file
    t.append("app.log", &lines(3..5));
    fs::rename(t.p("app.log"), t.p("app.log.1")).unwrap();
    t.append("app.log", &lines(5..6));
    t.restart(saved);
    let mut got = t.poll();
    got.sort();
    assert_eq!(got, texts(3..6));
    let by_path: BTreeMap<_, _> = t.lines[3..]
        .iter()
        .map(|l| (l.3.clone(), (l.0.clone(), l.1)))
        .collect();
    assert_eq!(
        by_path[&texts(3..4)[0]],
        ("app.log.1".to_string(), 4),
        "resumed with line numbers"
    );
    assert_eq!(
        by_path[&texts(5..6)[0]],
        ("app.log".to_string(), 1),
        "the new file from 0"
    );
}

#[test]
fn the_fingerprint_grows_with_a_short_file_and_a_new_inode_with_known_content_resumes() {
    let mut t = T::new(&["app.log*"], |_| {});
    t.append("app.log", &lines(0..1));
    t.poll();
    let short = t.tailer.positions()[0].fingerprint_len;
    t.append("app.log", &lines(1..30));
    t.poll();
    let grown = t.tailer.positions()[0].fingerprint_len;
    assert_eq!((short, grown), (line(0).len() as u32, 1024));
    // moved across file systems (copied, then removed): content already read under a new inode
    fs::copy(t.p("app.log"), t.p("app.log.copy")).unwrap();
    fs::remove_file(t.p("app.log")).unwrap();
    assert!(t.poll().is_empty());
    assert_eq!(t.tailer.stats().recognised, 1);
}

#[test]
fn start_at_end_applies_only_to_files_present_at_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    append(
        &dir.path().join("a.log"),
        &format!("{}partial", lines(0..2)),
    );
    gzip_text(&dir.path().join("a.log.1.gz"), &lines(20..22));
    let opts = TailOptions {
        patterns: vec![
            dir.path().join("a.log*").display().to_string(),
            dir.path().join("b.log").display().to_string(),
        ],
        start_at: StartAt::End,
        rescan: Duration::ZERO,
        ..TailOptions::default()
    };
    let mut tailer = Tailer::new(opts, Vec::new()).unwrap();
    append(&dir.path().join("a.log"), " done\n");
    append(&dir.path().join("b.log"), &lines(5..6));
    let mut got = Vec::new();
    tailer
        .poll(Duration::ZERO, &mut |item| {
            if let Item::Line { text, .. } = item {
                got.push(String::from_utf8_lossy(text).into_owned());
            }
        })
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], "partial done", "from after the last complete line");
    assert_eq!(
        got[1],
        texts(5..6)[0],
        "a file appearing later is read from 0"
    );
}

#[test]
fn gzip_is_read_once_and_a_compressed_rotated_file_only_for_its_unread_part() {
    let mut t = T::new(&["app.log*"], |_| {});
    t.append("app.log", &lines(0..3));
    assert_eq!(t.poll(), texts(0..3));
    let saved = t.tailer.positions();
    // while down: lines appended, rotated, compressed by name and the plain file removed
    t.append("app.log", &lines(3..5));
    fs::rename(t.p("app.log"), t.p("app.log.1")).unwrap();
    gzip(&t.p("app.log.1"), &t.p("app.log.1.gz"));
    fs::remove_file(t.p("app.log.1")).unwrap();
    // a gzip not named .gz is found by its magic bytes
    gzip_text(&t.p("app.log.zz"), &lines(10..12));
    t.restart(saved);
    let mut got = t.poll();
    got.sort();
    let mut want = texts(3..5);
    want.extend(texts(10..12));
    assert_eq!(got, want);
    assert!(t.poll().is_empty(), "gzip files are not tailed");
    let positions = t.tailer.positions();
    assert!(positions.iter().all(|p| p.gzip && p.done), "{positions:?}");
    assert_eq!(t.tailer.stats().files_open, 0);
}

fn gzip_text(to: &Path, text: &str) {
    let mut gz = GzEncoder::new(File::create(to).unwrap(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

#[test]
fn a_corrupt_gzip_keeps_the_lines_before_the_damage_and_reports_it_once() {
    let mut t = T::new(&["*.gz"], |_| {});
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(lines(0..200).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    fs::write(t.p("cut.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let got = t.poll();
    assert!(!got.is_empty() && got.len() < 200);
    assert_eq!(got[..], texts(0..got.len() as u64)[..]);
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    let (path, _, offset, message) = &t.errors[0];
    assert_eq!(path, "cut.gz");
    assert!(
        *offset >= t.lines.last().unwrap().2,
        "decompressed offset of the damage"
    );
    assert!(
        message.contains("gzip stream truncated or corrupt"),
        "{message}"
    );
    assert!(t.poll().is_empty());
    assert_eq!(t.errors.len(), 1, "reported once, not at every poll");
    // the rest of the stream arrives (a compressor still writing): retried, nothing twice
    let before = t.lines.len() as u64;
    fs::write(t.p("cut.gz"), &bytes).unwrap();
    assert_eq!(t.poll(), texts(before..200));
    assert!(t.tailer.positions()[0].done);
}

#[test]
fn an_unreadable_path_is_reported_once_and_retried_at_the_next_rescan() {
    let mut t = T::new(&["*.log"], |_| {});
    // a symlink loop cannot be opened, even by root
    std::os::unix::fs::symlink(t.p("loop.log"), t.p("loop.log")).unwrap();
    t.append("ok.log", &format!("{}{}\n", line(0), "y".repeat(2 << 20)));
    t.append("ok.log", &lines(1..2));
    assert_eq!(t.poll(), [texts(0..1), texts(1..2)].concat());
    t.poll();
    let errors: Vec<_> = t.errors.iter().map(|e| (e.0.as_str(), e.2)).collect();
    assert_eq!(errors.len(), 2, "{:?}", t.errors);
    assert!(errors.contains(&("loop.log", 0)));
    assert!(
        errors.contains(&("ok.log", line(0).len() as u64)),
        "the overlong line"
    );
    fs::remove_file(t.p("loop.log")).unwrap();
    t.append("loop.log", &lines(2..3));
    assert_eq!(t.poll(), texts(2..3));
}

#[test]
fn positions_keep_rotated_files_on_disk_and_drop_files_gone_once_read() {
    let mut t = T::new(&["app.log*"], |_| {});
    t.append("app.log", &lines(0..2));
    t.poll();
    fs::rename(t.p("app.log"), t.p("app.log.1")).unwrap();
    t.append("app.log", &lines(2..3));
    t.poll();
    let paths = |t: &T| {
        let mut p: Vec<String> = t
            .tailer
            .positions()
            .iter()
            .map(|p| p.path.clone())
            .collect();
        p.sort();
        p
    };
    assert_eq!(
        paths(&t),
        [
            t.p("app.log").display().to_string(),
            t.p("app.log.1").display().to_string()
        ]
    );
    fs::remove_file(t.p("app.log.1")).unwrap();
    t.poll();
    assert_eq!(paths(&t), [t.p("app.log").display().to_string()]);
}

#[test]
fn notify_wakes_the_poll_for_appends_and_rotation() {
    const N: u64 = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let opts = TailOptions {
        patterns: vec![log.display().to_string()],
        rescan: Duration::from_secs(10),
        ..TailOptions::default()
    };
    let mut tailer = Tailer::new(opts, Vec::new()).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let poll = |tailer: &mut Tailer, timeout, seen: &mut Vec<String>| {
        let mut add = |item: Item| {
            if let Item::Line { text, .. } = item {
                seen.push(String::from_utf8_lossy(text).into_owned());
            }
        };
        tailer.poll(timeout, &mut add).unwrap();
    };
    let (done_tx, done_rx) = mpsc::channel();
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        let open = || {
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(&writer_log)
        };
        let mut f = open().unwrap();
        for id in 0..N {
            if id == N / 2 {
                // rename rotation: the writer moves on to a new file of the same name
                fs::rename(&writer_log, writer_log.with_extension("log.1")).unwrap();
                f = open().unwrap();
            }
            f.write_all(line(id).as_bytes()).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    let (mut polls, deadline) = (0, Instant::now() + Duration::from_secs(60));
    while done_rx.try_recv().is_err() && Instant::now() < deadline {
        let before = seen.len();
        poll(&mut tailer, Duration::from_millis(200), &mut seen);
        polls += usize::from(seen.len() > before);
    }
    writer.join().unwrap();
    // the writer has finished: whatever is left is read by the next polls
    poll(&mut tailer, Duration::from_millis(200), &mut seen);
    poll(&mut tailer, Duration::from_millis(200), &mut seen);
    eprintln!("{polls} polls delivered lines while the writer ran");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (N as usize, N as usize),
        "every line exactly once"
    );
    let mut ids: Vec<u64> = seen.iter().map(|s| s[5..11].parse().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
    // an append to an idle file wakes a long poll long before the 10 s rescan
    let before = seen.len();
    let start = Instant::now();
    let appender = std::thread::spawn(move || append(&log, &line(N)));
    while seen.len() == before && start.elapsed() < Duration::from_secs(5) {
        poll(&mut tailer, Duration::from_secs(5), &mut seen);
    }
    appender.join().unwrap();
    assert_eq!(seen.len(), before + 1);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
    Append(u64),
    /// write the first part of a line, or complete the one begun
    Partial,
    Rotate {
        inside: bool,
    },
    CopyTruncate,
    /// compress the oldest plain rotated file inside the glob and delete it
    Gzip,
    Poll,
    /// the tailer stops here and starts again from its positions at the next poll
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u64..4).prop_map(Op::Append),
        1 => Just(Op::Partial),
        1 => any::<bool>().prop_map(|inside| Op::Rotate { inside }),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::Gzip),
        3 => Just(Op::Poll),
        1 => Just(Op::Restart),
    ]
}

/// The writer's side: which line ids each file on disk holds.
struct Model {
    t: T,
    /// path (relative) -> ids of its complete lines
    files: HashMap<String, Vec<u64>>,
    /// plain rotated files inside the glob, oldest first
    rotated: Vec<String>,
    next: u64,
    /// id of a line whose first part is written
    partial: Option<u64>,
    /// positions saved when the tailer stopped, while it is down
    down: Option<Vec<Position>>,
    /// `app.log` was created since the last poll
    fresh: bool,
    /// undelivered lines of files rotated out of the glob since the last poll
    unseen: Vec<u64>,
    /// lines that can never arrive: rotated out of the glob with a restart before the next poll
    lost: HashSet<u64>,
    rotations: u64,
}

impl Model {
    fn new() -> Model {
        let t = T::new(&["app.log*"], |d| {
            fs::create_dir(d.join("old")).unwrap();
            append(&d.join("app.log"), "");
        });
        Model {
            t,
            files: HashMap::from([("app.log".to_string(), Vec::new())]),
            rotated: Vec::new(),
            next: 0,
            partial: None,
            down: None,
            fresh: false,
            unseen: Vec::new(),
            lost: HashSet::new(),
            rotations: 0,
        }
    }

    fn write(&mut self, id: u64, text: &str) {
        self.t.append("app.log", text);
        if text.ends_with('\n') {
            self.files.get_mut("app.log").unwrap().push(id);
        }
    }

    fn complete_partial(&mut self) {
        if let Some(id) = self.partial.take() {
            self.write(id, &line(id)[30..]);
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(k) => {
                self.complete_partial();
                for _ in 0..*k {
                    self.next += 1;
                    self.write(self.next, &line(self.next));
                }
            }
            Op::Partial if self.partial.is_some() => self.complete_partial(),
            Op::Partial => {
                self.next += 1;
                self.partial = Some(self.next);
                self.write(self.next, &line(self.next)[..30]);
            }
            Op::Rotate { inside } => self.rotate(*inside),
            Op::CopyTruncate => {
                self.complete_partial();
                let to = self.rotated_name("app.log.c");
                fs::copy(self.t.p("app.log"), self.t.p(&to)).unwrap();
                File::create(self.t.p("app.log")).unwrap();
                let ids = std::mem::take(self.files.get_mut("app.log").unwrap());
                self.files.insert(to.clone(), ids);
                self.rotated.push(to);
            }
            Op::Gzip if !self.rotated.is_empty() => {
                let from = self.rotated.remove(0);
                gzip(&self.t.p(&from), &self.t.p(&format!("{from}.gz")));
                fs::remove_file(self.t.p(&from)).unwrap();
                let ids = self.files.remove(&from).unwrap();
                self.files.insert(format!("{from}.gz"), ids);
            }
            Op::Gzip => {}
            Op::Poll => self.poll(),
            Op::Restart if self.down.is_none() => self.down = Some(self.t.tailer.positions()),
            Op::Restart => {}
        }
    }

    fn rotated_name(&mut self, stem: &str) -> String {
        self.rotations += 1;
        format!("{stem}{}", self.rotations)
    }

    fn rotate(&mut self, inside: bool) {
        self.complete_partial();
        let to = self.rotated_name(if inside { "app.log.r" } else { "old/app.r" });
        fs::rename(self.t.p("app.log"), self.t.p(&to)).unwrap();
        File::create(self.t.p("app.log")).unwrap();
        let ids = self
            .files
            .insert("app.log".to_string(), Vec::new())
            .unwrap();
        if inside {
            self.rotated.push(to.clone());
        } else {
            let delivered: HashSet<u64> = self.t.lines.iter().map(|l| id_of(&l.3)).collect();
            let undelivered = ids.iter().filter(|id| !delivered.contains(id));
            if self.fresh {
                // in the glob only between two polls: no tailer can know it was there
                self.lost.extend(undelivered);
            } else {
                self.unseen.extend(undelivered);
            }
        }
        self.fresh = true;
        self.files.insert(to, ids);
    }

    fn poll(&mut self) {
        self.fresh = false;
        let unseen = std::mem::take(&mut self.unseen);
        if let Some(saved) = self.down.take() {
            // out of the glob before the tailer came back to read it
            self.lost.extend(unseen);
            self.t.restart(saved);
        }
        self.t.poll();
    }

    /// Every line written arrives exactly once, and the lines of each file in order.
    fn check(&mut self) -> Result<(), TestCaseError> {
        self.complete_partial();
        self.poll();
        self.poll();
        prop_assert!(self.t.errors.is_empty(), "errors: {:?}", self.t.errors);
        let mut count: HashMap<u64, usize> = HashMap::new();
        let mut last: HashMap<&str, u64> = HashMap::new();
        for (path, _, _, text) in &self.t.lines {
            let id = id_of(text);
            *count.entry(id).or_default() += 1;
            let before = last.insert(path, id).unwrap_or(0);
            prop_assert!(id > before, "{path}: line {id} after line {before}");
        }
        let twice: Vec<_> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id)
            .collect();
        prop_assert!(twice.is_empty(), "delivered more than once: {twice:?}");
        let missing: Vec<_> = (1..=self.next)
            .filter(|id| !count.contains_key(id) && !self.lost.contains(id))
            .collect();
        prop_assert!(missing.is_empty(), "never delivered: {missing:?}");
        Ok(())
    }
}

fn id_of(text: &str) -> u64 {
    text[5..11].parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_line_arrives_exactly_once_through_rotation_compression_and_restarts(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let mut m = Model::new();
        for op in &ops {
            m.apply(op);
        }
        m.check()?;
    }
}

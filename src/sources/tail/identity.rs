//! What the tailer remembers of content it has read: the first bytes of each file (or their
//! hash, after a restart) with the offset read to, so a copy, a renamed copy or a compressed copy
//! of that content is recognised and resumes where the original stopped.

use std::collections::VecDeque;
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

/// Fewest leading bytes two files must share to be taken as the same content: shorter prefixes
/// (an empty file, a common header) say too little to skip anything on their strength.
pub(super) const MIN_MATCH: usize = 64;

/// How many identities of files no longer tracked are kept for recognising copies.
const KEEP: usize = 1024;

/// The first bytes of some content (decompressed for gzip).
#[derive(Debug, Clone)]
pub(super) enum Head {
    Bytes(Vec<u8>),
    /// from a checkpoint: only the hash of the first `len` bytes is known
    Hash {
        hash: u64,
        len: usize,
    },
}

impl Head {
    pub(super) fn len(&self) -> usize {
        match self {
            Head::Bytes(b) => b.len(),
            Head::Hash { len, .. } => *len,
        }
    }

    /// How many leading bytes `prefix` (another file's first bytes, as many as it has up to the
    /// fingerprint size) is known to share with this head, if they agree on at least
    /// [`MIN_MATCH`]. A `prefix` shorter than the head can still agree with it (a copy being
    /// written, a new file that is not a copy yet): the caller waits for more before trusting it.
    pub(super) fn shared(&self, prefix: &[u8]) -> Option<usize> {
        let n = self.len().min(prefix.len());
        if n < MIN_MATCH {
            return None;
        }
        let same = match self {
            Head::Bytes(b) => b[..n] == prefix[..n],
            // a hash compares only over exactly the length it was taken on
            Head::Hash { hash, len } => n == *len && xxh3_64(&prefix[..n]) == *hash,
        };
        same.then_some(n)
    }
}

/// Content read before: its head and how far it was delivered.
#[derive(Debug, Clone)]
pub(super) struct Known {
    pub head: Head,
    pub offset: u64,
    /// lines before `offset`, when counted from the start
    pub lines: Option<u64>,
    pub path: Arc<str>,
}

/// The best known content `prefix` continues: the longest shared prefix wins, then the furthest
/// offset (the latest state of the same content).
pub(super) fn best<'k>(
    known: impl Iterator<Item = &'k Known>,
    prefix: &[u8],
) -> Option<(&'k Known, usize)> {
    known
        .filter_map(|k| k.head.shared(prefix).map(|n| (k, n)))
        .max_by_key(|(k, n)| (*n, k.offset))
}

/// Identities of content no longer tracked (rotated away, deleted, truncated, or restored from a
/// checkpoint and not found), oldest first, at most [`KEEP`].
#[derive(Debug, Default)]
pub(super) struct Retired {
    known: VecDeque<Known>,
    pub forgotten: u64,
}

impl Retired {
    pub(super) fn push(&mut self, k: Known) {
        // nothing was read from it: there is nothing to skip in a copy either
        if k.offset == 0 || k.head.len() < MIN_MATCH {
            return;
        }
        if self.known.len() == KEEP {
            self.known.pop_front();
            self.forgotten += 1;
        }
        self.known.push_back(k);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Known> {
        self.known.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.known.len()
    }
}

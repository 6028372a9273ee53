//! Change notification for the tailer: notify (inotify on Linux) watches the directories the
//! globs can match in, and wakes the polling thread through a bounded channel.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use notify::event::ModifyKind;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// What changed since the last wait, the strongest first in `Ord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Change {
    Nothing,
    /// data or attributes of some file: read the tracked files
    Data,
    /// names (created, removed, renamed) or lost events: rescan the globs too
    Names,
}

/// One directory to watch and the inode watched, so a directory removed and created again is
/// watched again.
struct Dir {
    path: PathBuf,
    mode: RecursiveMode,
    watched: Option<(u64, u64)>,
    warned: bool,
}

pub(super) struct Watch {
    watcher: RecommendedWatcher,
    rx: Receiver<Change>,
    /// set when the channel was full: some event was dropped, so rescan
    overflow: Arc<AtomicBool>,
    dirs: Vec<Dir>,
}

fn classify(res: notify::Result<Event>) -> Option<Change> {
    let ev = match res {
        Ok(ev) if !ev.need_rescan() => ev,
        _ => return Some(Change::Names),
    };
    match ev.kind {
        // our own opens and reads, and closes
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Metadata(_)) => Some(Change::Data),
        _ => Some(Change::Names),
    }
}

/// The directory a pattern's files are found under: the components before the first wildcard,
/// watched recursively when a wildcard names a directory.
fn root(pattern: &str) -> (PathBuf, RecursiveMode) {
    let comps: Vec<Component> = Path::new(pattern).components().collect();
    let wild = comps
        .iter()
        .position(|c| c.as_os_str().to_string_lossy().contains(['*', '?', '[']));
    let (base, mode) = match wild {
        Some(i) if i + 1 < comps.len() => (&comps[..i], RecursiveMode::Recursive),
        Some(i) => (&comps[..i], RecursiveMode::NonRecursive),
        None => (
            &comps[..comps.len().saturating_sub(1)],
            RecursiveMode::NonRecursive,
        ),
    };
    let base: PathBuf = base.iter().collect();
    if base.as_os_str().is_empty() {
        (PathBuf::from("."), mode)
    } else {
        (base, mode)
    }
}

impl Watch {
    pub(super) fn new(patterns: &[String]) -> notify::Result<Watch> {
        let (tx, rx) = sync_channel(256);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = overflow.clone();
        let watcher = notify::recommended_watcher(move |res| {
            if let Some(change) = classify(res) {
                if let Err(TrySendError::Full(_)) = tx.try_send(change) {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        })?;
        let mut dirs: Vec<Dir> = Vec::new();
        for (path, mode) in patterns.iter().map(|p| root(p)) {
            match dirs.iter_mut().find(|d| d.path == path) {
                Some(d) if mode == RecursiveMode::Recursive => d.mode = mode,
                Some(_) => {}
                None => dirs.push(Dir {
                    path,
                    mode,
                    watched: None,
                    warned: false,
                }),
            }
        }
        let mut watch = Watch {
            watcher,
            rx,
            overflow,
            dirs,
        };
        watch.refresh_dirs();
        Ok(watch)
    }

    /// Watch the directories that exist now and are not watched yet (created since, or removed
    /// and created again).
    pub(super) fn refresh_dirs(&mut self) {
        for d in &mut self.dirs {
            let now = std::fs::metadata(&d.path)
                .ok()
                .filter(|m| m.is_dir())
                .map(|m| (m.dev(), m.ino()));
            if now == d.watched {
                continue;
            }
            if d.watched.is_some() {
                // the inode is gone already; this only forgets notify's record of it
                let _ = self.watcher.unwatch(&d.path);
            }
            d.watched = None;
            if now.is_none() {
                continue;
            }
            match self.watcher.watch(&d.path, d.mode) {
                Ok(()) => d.watched = now,
                Err(err) if !d.warned => {
                    d.warned = true;
                    tracing::warn!(dir = %d.path.display(), error = %err,
                        "cannot watch directory, relying on the periodic rescan");
                }
                Err(_) => {}
            }
        }
    }

    /// Wait until something changes or `until`, then take every change already queued.
    pub(super) fn wait(&self, until: Instant) -> Change {
        let mut change = Change::Nothing;
        if let Some(left) = until.checked_duration_since(Instant::now()) {
            if let Ok(c) = self.rx.recv_timeout(left) {
                change = c;
            }
        }
        while let Ok(c) = self.rx.try_recv() {
            change = change.max(c);
        }
        if self.overflow.swap(false, Ordering::Relaxed) {
            change = Change::Names;
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_stop_at_the_first_wildcard() {
        let r = |p| root(p);
        assert_eq!(
            r("/var/log/audit/*.log*"),
            (PathBuf::from("/var/log/audit"), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            r("/var/log/*/audit.log"),
            (PathBuf::from("/var/log"), RecursiveMode::Recursive)
        );
        assert_eq!(
            r("/var/log/app.log"),
            (PathBuf::from("/var/log"), RecursiveMode::NonRecursive)
        );
        assert_eq!(
            r("app.log"),
            (PathBuf::from("."), RecursiveMode::NonRecursive)
        );
    }
}

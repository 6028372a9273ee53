//! The delivery thread's signals: a finding was appended, the sink is closing (finish by a
//! deadline), the thread is done, or `close` gave up on it.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct WakeState {
    /// bumped on every append
    pub(super) appended: u64,
    /// set by close: finish by then
    closing: Option<Instant>,
    /// close gave up waiting: the thread must not touch the spool again
    pub(super) abandoned: bool,
    done: bool,
}

/// What the writer and `close` signal to the delivery thread, and back.
#[derive(Default)]
pub struct Wake {
    state: Mutex<WakeState>,
    cv: Condvar,
}

impl Wake {
    pub(super) fn lock(&self) -> MutexGuard<'_, WakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A record was appended.
    pub fn appended(&self) {
        self.lock().appended += 1;
        self.cv.notify_all();
    }

    /// Ask the thread to finish by `deadline` (it sends what it can until then).
    pub fn close(&self, deadline: Instant) {
        let mut g = self.lock();
        g.closing = Some(g.closing.map_or(deadline, |d| d.min(deadline)));
        self.cv.notify_all();
    }

    /// Wait for the thread to finish until `deadline`; false if it is still busy then (it is
    /// cut off from the spool: it will not acknowledge anything any more).
    pub fn wait_done(&self, deadline: Instant) -> bool {
        let mut g = self.lock();
        while !g.done {
            let now = Instant::now();
            if now >= deadline {
                g.abandoned = true;
                return false;
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    pub(super) fn closing(&self) -> Option<Instant> {
        self.lock().closing
    }

    /// Wait until something is appended after `seen`, close is called, or `until`.
    pub(super) fn wait(&self, seen: u64, until: Option<Instant>) {
        let mut g = self.lock();
        while g.appended == seen && g.closing.is_none() {
            match until {
                None => g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let now = Instant::now();
                    if now >= t {
                        return;
                    }
                    g = self
                        .cv
                        .wait_timeout(g, t - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    /// Sleep for `d` unless close is called.
    pub(super) fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut g = self.lock();
        while g.closing.is_none() {
            let now = Instant::now();
            if now >= until {
                return;
            }
            g = self
                .cv
                .wait_timeout(g, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub(super) fn finished(&self) {
        self.lock().done = true;
        self.cv.notify_all();
    }
}

//! Engine state snapshots: everything correlation needs to resume after a restart or a reload
//! (windows, first-seen times, open sessions, pending absence checks, suppression and dedup
//! memory, held events, approvals), as plain JSON.
//!
//! Detector state is stored per detector id with the detector's state fingerprint: a detector
//! whose selection, kind or suppression changed starts afresh, every other keeps its state.

use super::*;

/// One detector's saved state.
#[derive(Serialize, Deserialize)]
struct SavedDetector {
    id: String,
    fingerprint: u64,
    state: Box<RawValue>,
}

/// An approval with the origin findings do not print.
#[derive(Serialize, Deserialize)]
struct SavedApproval {
    #[serde(flatten)]
    approval: Approval,
    origin: Origin,
}

/// A serialisable image of an [`Engine`].
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    lateness: Millis,
    hold: Millis,
    max_seen: Millis,
    released: Millis,
    watermark: Millis,
    last_sweep: Millis,
    /// held events, oldest first
    buffer: Vec<Arc<Event>>,
    detectors: Vec<SavedDetector>,
    approvals: Vec<SavedApproval>,
    /// findings inside their suppression period: (detector id, key, state)
    open: Vec<(String, Str, crate::alerts::dedup::Open)>,
    seen: Vec<(u64, Millis)>,
    stats: EngineStats,
}

/// What a restore kept and what it started afresh.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Restored {
    /// detectors whose state was put back
    pub kept: Vec<String>,
    /// detectors new to the snapshot or changed since it: they start empty
    pub fresh: Vec<String>,
    /// detectors in the snapshot that are no longer loaded: their state is dropped
    pub dropped: Vec<String>,
}

impl Engine {
    /// The engine's whole state.
    pub fn snapshot(&self) -> serde_json::Result<Snapshot> {
        let mut buffer: Vec<&Arc<Event>> = self.buffer.iter().collect();
        buffer.sort_by(|a, b| a.order(b));
        let detectors = self
            .detectors
            .iter()
            .map(|d| {
                Ok(SavedDetector {
                    id: d.spec.id.clone(),
                    fingerprint: d.spec.state_fingerprint(),
                    state: d.save()?,
                })
            })
            .collect::<serde_json::Result<_>>()?;
        let open = self
            .dedup
            .entries()
            .into_iter()
            .map(|(i, k, o)| (self.detectors[i].spec.id.clone(), k, o))
            .collect();
        // the generation shows as a time: the last sweep (current) or just before it (previous)
        let mut seen: Vec<_> = (self.seen.current.iter().map(|k| (*k, self.last_sweep)))
            .chain(
                self.seen
                    .previous
                    .iter()
                    .map(|k| (*k, self.last_sweep.saturating_sub(1))),
            )
            .collect();
        seen.sort_unstable();
        Ok(Snapshot {
            lateness: self.lateness,
            hold: self.hold,
            max_seen: self.max_seen,
            released: self.released,
            watermark: self.watermark,
            last_sweep: self.last_sweep,
            buffer: buffer.into_iter().cloned().collect(),
            detectors,
            approvals: self
                .approvals
                .all()
                .into_iter()
                .map(|a| SavedApproval {
                    approval: a.clone(),
                    origin: a.origin.clone(),
                })
                .collect(),
            open,
            seen,
            stats: self.stats.clone(),
        })
    }

    /// Put back a snapshot into this (freshly built) engine: its detectors keep their specs,
    /// state comes from the snapshot where the detector is unchanged. Lateness and hold stay as
    /// configured now.
    pub fn restore(&mut self, snap: Snapshot) -> serde_json::Result<Restored> {
        let mut report = Restored::default();
        let mut saved: BTreeMap<String, SavedDetector> = snap
            .detectors
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, d) in self.detectors.iter_mut().enumerate() {
            index.insert(d.spec.id.clone(), i);
            match saved.remove(&d.spec.id) {
                Some(s) if s.fingerprint == d.spec.state_fingerprint() => {
                    d.load(&s.state)?;
                    report.kept.push(d.spec.id.clone());
                }
                _ => report.fresh.push(d.spec.id.clone()),
            }
        }
        report.dropped = saved.into_keys().collect();
        self.max_seen = snap.max_seen;
        self.released = snap.released;
        self.watermark = snap.watermark;
        self.last_sweep = snap.last_sweep;
        self.buffer.clear();
        for ev in snap.buffer {
            self.buffer.push(Pending::new(ev));
        }
        for a in snap.approvals {
            let mut approval = a.approval;
            approval.origin = a.origin;
            self.approvals.insert(approval);
        }
        self.dedup = Default::default();
        for (id, k, o) in snap.open {
            if let Some(i) = index.get(&id) {
                self.dedup.restore(*i, k, o);
            }
        }
        self.seen = Seen::default();
        for (k, t) in snap.seen {
            if t >= snap.last_sweep {
                self.seen.current.insert(k);
            } else {
                self.seen.previous.insert(k);
            }
        }
        self.stats = snap.stats;
        // storm counts go on from the saved ones (the minute buckets start empty)
        for (d, w) in self.detectors.iter().zip(&mut self.storm) {
            *w = Default::default();
            if let Some(s) = self.stats.storms.get(&d.spec.id) {
                w.stats = s.clone();
            }
        }
        Ok(report)
    }
}

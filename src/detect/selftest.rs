//! Inline detector tests (`tests:` in each detector file), run by `bypassd check`: each case's
//! records go through the real decoders and a fresh engine holding only that detector.

use std::sync::Arc;

use super::spec::{Detector, TestCase};
use crate::decode::{Decoder, Record};
use crate::engine::{Engine, DEFAULT_LATENESS};
use crate::event::Origin;

/// Outcome of one inline test case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub detector: String,
    pub test: String,
    /// `None` when the case passed
    pub failure: Option<String>,
}

/// Run every inline test of every detector. Each case runs with its own `inventory:` (or none),
/// never the operator's, so a detector's tests mean the same everywhere.
pub fn run_all(detectors: &[Arc<Detector>]) -> Vec<TestResult> {
    detectors
        .iter()
        .flat_map(|d| d.tests.iter().map(move |t| run_one(d, t)))
        .collect()
}

fn run_one(d: &Arc<Detector>, t: &TestCase) -> TestResult {
    let failure = match findings_for(d, t) {
        Ok(n) if n == t.expect => None,
        Ok(n) => Some(format!("expected {} finding(s), got {n}", t.expect)),
        Err(e) => Some(e),
    };
    TestResult {
        detector: d.id.clone(),
        test: t.name.clone(),
        failure,
    }
}

/// The findings one case yields (its records through the real decoders and a fresh engine):
/// Creates only, since an Update is the same finding seen again.
pub fn findings_for(d: &Arc<Detector>, t: &TestCase) -> Result<usize, String> {
    let inventory = t.compiled_inventory.clone().unwrap_or_default();
    let mut engine =
        Engine::new(std::slice::from_ref(d), DEFAULT_LATENESS).with_inventory(inventory.clone());
    let mut out = Vec::new();
    let name: Arc<str> = Arc::from(t.name.as_str());
    let decoder = Decoder::new(None).with_inventory(inventory);
    for (i, v) in t.events.iter().enumerate() {
        let json = serde_json::to_string(v).map_err(|e| format!("event {i}: {e}"))?;
        let origin = Origin::Inline {
            test: name.clone(),
            index: i as u64,
        };
        match decoder.decode(&json, origin) {
            Ok(Record::Event(ev)) => engine.push(ev, &mut out),
            Ok(Record::Approval(a)) => engine.push_approval(*a),
            Ok(Record::Skipped(_)) => {}
            Err(e) => return Err(format!("event {i}: {e}")),
        }
    }
    engine.flush(&mut out);
    Ok(out.iter().filter(|f| f.activity_id == 1).count())
}

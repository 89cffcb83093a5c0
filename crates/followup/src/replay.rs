//! Follow-up's part of `referral replay`: folds every `followup-<case>` stream met on `$all`
//! with [`CaseState::evolve`] and writes each case's worklist items and case document with
//! [`projection::documents`], as the live component would after its last event.

use crate::core::CaseState;
use crate::projection::{self, COLLECTIONS};
use contracts::{CaseId, Envelope};
use eventstore::rebuild::{FoldBy, Folds, Rebuild};
use eventstore::subscription::ProjectionError;
use eventstore::DocumentOp;
use scoring::FollowUp as Policy;
use std::sync::Arc;

/// Rebuilds the `followup-item`, `followup-worklist` and `followup-case` documents.
#[derive(Debug)]
pub struct Replayer {
    policy: Arc<Policy>,
    cases: Folds<CaseState>,
}

impl Replayer {
    /// Nothing fed yet; the region's follow-up policy (the live component's).
    pub fn new(policy: Arc<Policy>) -> Self {
        Self {
            policy,
            cases: Folds::new(FoldBy::Stream("followup")),
        }
    }
}

impl Rebuild for Replayer {
    fn collections(&self) -> Vec<String> {
        COLLECTIONS.iter().map(|c| (*c).to_owned()).collect()
    }

    fn states(&self) -> usize {
        self.cases.len()
    }

    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        if let Some(state) = self.cases.state_of(event, |_| CaseState::default()) {
            state.evolve(event)?;
        }
        Ok(())
    }

    fn documents(self: Box<Self>) -> Box<dyn Iterator<Item = DocumentOp> + Send> {
        let policy = self.policy;
        Box::new(self.cases.into_states().flat_map(move |(case, state)| {
            CaseId::parse(&case)
                .map(|case| projection::diff(&[], &projection::documents(&case, &state, &policy)))
                .unwrap_or_default()
        }))
    }
}

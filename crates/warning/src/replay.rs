//! Warning's part of `referral replay`: folds every `warning-<case>` stream met on `$all` with
//! [`CaseState::evolve`] and writes each case's documents with [`projection::documents`], as
//! the live component would after its last event. Knows nothing of the store but the
//! [`Rebuild`] it implements.

use crate::core::CaseState;
use crate::projection::{self, COLLECTIONS};
use contracts::{CaseId, Envelope};
use eventstore::rebuild::{FoldBy, Folds, Rebuild};
use eventstore::subscription::ProjectionError;
use eventstore::DocumentOp;

/// Rebuilds the alert, inbox, case and register documents.
#[derive(Debug)]
pub struct Replayer {
    cases: Folds<CaseState>,
}

impl Default for Replayer {
    fn default() -> Self {
        Self {
            cases: Folds::new(FoldBy::Stream("warning")),
        }
    }
}

impl Replayer {
    /// Nothing fed yet.
    pub fn new() -> Self {
        Self::default()
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
        Box::new(self.cases.into_states().flat_map(|(case, state)| {
            CaseId::parse(&case)
                .map(|case| projection::diff(&[], &projection::documents(&case, &state)))
                .unwrap_or_default()
        }))
    }
}

//! Review's part of `referral replay`: folds every event of each case met on `$all` into its
//! [`CaseFacts`] one at a time (so only the facts, not the events, stay in memory) and writes
//! the case's documents with [`component::documents`], as the live refresh would; then moves
//! the review checkpoint to the replayed head.

use crate::component::{self, COMPONENT, DUE, FACTS};
use crate::facts::CaseFacts;
use crate::policy::ReviewPolicy;
use contracts::Envelope;
use eventstore::rebuild::{FoldBy, Folds, Rebuild};
use eventstore::subscription::ProjectionError;
use eventstore::DocumentOp;
use std::sync::Arc;

/// Rebuilds the `review-facts` and `review-due` documents.
#[derive(Debug)]
pub struct Replayer {
    policy: Arc<ReviewPolicy>,
    cases: Folds<CaseFacts>,
}

impl Replayer {
    /// Nothing fed yet.
    pub fn new(policy: Arc<ReviewPolicy>) -> Self {
        Self {
            policy,
            cases: Folds::new(FoldBy::Case),
        }
    }
}

impl Rebuild for Replayer {
    fn collections(&self) -> Vec<String> {
        vec![FACTS.to_owned(), DUE.to_owned()]
    }

    fn states(&self) -> usize {
        self.cases.len()
    }

    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        if let Some(facts) = self.cases.state_of(event, CaseFacts::new) {
            facts.apply(event);
        }
        Ok(())
    }

    fn documents(self: Box<Self>) -> Box<dyn Iterator<Item = DocumentOp> + Send> {
        let policy = self.policy;
        Box::new(
            self.cases
                .into_states()
                .flat_map(move |(_, facts)| component::documents(&policy, &facts.finish())),
        )
    }

    fn checkpoints(&self) -> Vec<String> {
        vec![COMPONENT.to_owned()]
    }
}

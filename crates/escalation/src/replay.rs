//! Escalation's part of `referral replay`: folds every `referral-<id>` stream met on `$all`
//! with [`ReferralState::evolve`] and writes each referral's documents (the referral and the
//! boards' rows) with [`projection::documents`], as the live component would after its last
//! event.

use crate::core::ReferralState;
use crate::projection::{self, COLLECTIONS};
use contracts::Envelope;
use eventstore::rebuild::{FoldBy, Folds, Rebuild};
use eventstore::subscription::ProjectionError;
use eventstore::DocumentOp;

/// Rebuilds the `referral`, `referral-district`, `referral-sender` and `referral-centre`
/// documents.
#[derive(Debug)]
pub struct Replayer {
    referrals: Folds<ReferralState>,
}

impl Default for Replayer {
    fn default() -> Self {
        Self {
            referrals: Folds::new(FoldBy::Stream("referral")),
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
        self.referrals.len()
    }

    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        if let Some(state) = self.referrals.state_of(event, |_| ReferralState::default()) {
            state.evolve(event)?;
        }
        Ok(())
    }

    fn documents(self: Box<Self>) -> Box<dyn Iterator<Item = DocumentOp> + Send> {
        Box::new(
            self.referrals
                .into_states()
                .flat_map(|(_, state)| projection::diff(&[], &projection::documents(&state))),
        )
    }
}

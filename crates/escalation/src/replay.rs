//! Escalation's part of `referral replay`: every `referral-<id>` stream met on `$all` folded
//! with [`ReferralState::evolve`], then each referral's documents (the referral and the boards'
//! rows) from [`projection::documents`], as the live component writes them after its last
//! event.

use crate::core::ReferralState;
use crate::projection::{self, COLLECTIONS};
use eventstore::rebuild::{Fold, FoldBy, Rebuild};

/// Rebuilds the `referral`, `referral-district`, `referral-sender` and `referral-centre`
/// documents.
pub fn replayer() -> impl Rebuild {
    Fold::new(
        FoldBy::Stream("referral"),
        &COLLECTIONS,
        |_| ReferralState::default(),
        ReferralState::evolve,
        |_, state| projection::diff(&[], &projection::documents(&state)),
    )
}

//! Follow-up's part of `referral replay`: every `followup-<case>` stream met on `$all` folded
//! with [`CaseState::evolve`], then each case's worklist items and case document from
//! [`projection::documents`], as the live component writes them after its last event.

use crate::core::CaseState;
use crate::projection::{self, COLLECTIONS};
use contracts::CaseId;
use eventstore::rebuild::{Fold, FoldBy, Rebuild};
use scoring::FollowUp as Policy;
use std::sync::Arc;

/// Rebuilds the `followup-item`, `followup-worklist` and `followup-case` documents with the
/// region's follow-up policy (the live component's).
pub fn replayer(policy: Arc<Policy>) -> impl Rebuild {
    Fold::new(
        FoldBy::Stream("followup"),
        &COLLECTIONS,
        |_| CaseState::default(),
        CaseState::evolve,
        move |case, state| {
            CaseId::parse(case)
                .map(|case| projection::diff(&[], &projection::documents(&case, &state, &policy)))
                .unwrap_or_default()
        },
    )
}

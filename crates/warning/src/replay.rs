//! Warning's part of `referral replay`: every `warning-<case>` stream met on `$all` folded with
//! [`CaseState::evolve`], then each case's documents from [`projection::documents`], as the
//! live component writes them after its last event.

use crate::core::CaseState;
use crate::projection::{self, COLLECTIONS};
use contracts::CaseId;
use eventstore::rebuild::{Fold, FoldBy, Rebuild};

/// Rebuilds the alert, inbox, case and register documents.
pub fn replayer() -> impl Rebuild {
    Fold::new(
        FoldBy::Stream("warning"),
        &COLLECTIONS,
        |_| CaseState::default(),
        CaseState::evolve,
        |case, state| {
            CaseId::parse(case)
                .map(|case| projection::diff(&[], &projection::documents(&case, &state)))
                .unwrap_or_default()
        },
    )
}

//! Review's part of `referral replay`: every event of each case met on `$all` folded into the
//! case's [`CaseFacts`] one at a time (only the facts stay in memory, not the events), then the
//! case's documents from [`component::documents`], as the live refresh writes them; and the
//! review checkpoint moved to the replayed head.

use crate::component::{self, COMPONENT, DUE, FACTS};
use crate::facts::CaseFacts;
use crate::policy::ReviewPolicy;
use eventstore::rebuild::{Fold, FoldBy, Rebuild};
use std::convert::Infallible;
use std::sync::Arc;

/// Rebuilds the `review-facts` and `review-due` documents.
pub fn replayer(policy: Arc<ReviewPolicy>) -> impl Rebuild {
    Fold::new(
        FoldBy::Case,
        &[FACTS, DUE],
        CaseFacts::new,
        |facts, event| {
            facts.apply(event);
            Ok::<_, Infallible>(())
        },
        move |_, facts| component::documents(&policy, &facts.finish()),
    )
    .checkpoint(COMPONENT)
}

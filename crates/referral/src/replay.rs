//! `referral replay`: every component's read models rebuilt in one pass over `$all`. Each
//! component's [`Rebuild`] lives in its own crate (`<component>::replay`), next to its rules;
//! this only names them, in a fixed order, for [`eventstore::rebuild::rebuild`].

use anyhow::Context;
use eventstore::rebuild::{rebuild_in_passes, Rebuild, Rebuilt};
use eventstore::subscription::SubscriptionError;
use eventstore::EventStore;
use std::sync::Arc;

/// The parts, in the order of [`parts`] and [`Rebuilt::states`].
pub const PARTS: [&str; 4] = ["warning", "followup", "escalation", "review"];

/// The warning, follow-up, escalation and review rebuilds, with the region's policy and the
/// review policy.
pub fn parts(policy: &scoring::Policy, review: Arc<review::ReviewPolicy>) -> Vec<Box<dyn Rebuild>> {
    vec![
        Box::new(warning::replay::replayer()),
        Box::new(followup::replay::replayer(Arc::new(
            policy.follow_up.clone(),
        ))),
        Box::new(escalation::replay::replayer()),
        Box::new(review::replay::replayer(review)),
    ]
}

/// [`parts`] with the region and review policies the configuration names.
pub fn configured_parts(config: &crate::Config) -> anyhow::Result<Vec<Box<dyn Rebuild>>> {
    let region = scoring::Region::load(&config.region_file)
        .with_context(|| format!("the region file {}", config.region_file))?;
    let review = review::ReviewPolicy::load(config.review_file())
        .with_context(|| format!("the review policy {}", config.review_file()))?;
    Ok(parts(&region.policy, Arc::new(review)))
}

/// Rebuilds the warning, follow-up, escalation and review read models from the log in
/// `passes` passes (1: one pass, all states in memory; n: 1/n of them at a time), then moves
/// review's checkpoint to the replayed head. `progress(position, head)` after each page.
/// Stop the service first; idempotent.
pub async fn replay_all<S: EventStore>(
    store: &S,
    policy: &scoring::Policy,
    review: Arc<review::ReviewPolicy>,
    passes: usize,
    progress: impl FnMut(i64, i64),
) -> Result<Rebuilt, SubscriptionError> {
    rebuild_in_passes(store, parts(policy, review), passes, progress).await
}

/// [`replay_all`] with the policies the configuration names (what `referral replay` runs).
pub async fn replay<S: EventStore>(
    store: &S,
    config: &crate::Config,
    passes: usize,
    progress: impl FnMut(i64, i64),
) -> anyhow::Result<Rebuilt> {
    Ok(rebuild_in_passes(store, configured_parts(config)?, passes, progress).await?)
}

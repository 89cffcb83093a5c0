//! `referral replay`: every component's read models rebuilt in one pass over `$all`. Each
//! component's [`Rebuild`](eventstore::rebuild::Rebuild) lives in its own crate, next to its
//! rules; this only names them, in a fixed order, for [`eventstore::rebuild::rebuild`].

use eventstore::rebuild::{rebuild, Rebuild, Rebuilt};
use eventstore::subscription::SubscriptionError;
use eventstore::EventStore;
use std::sync::Arc;

/// The parts, in the order of [`Rebuilt::states`].
pub const PARTS: [&str; 4] = ["warning", "followup", "escalation", "review"];

/// Rebuilds the warning, follow-up, escalation and review read models from the log in one
/// pass, then moves review's checkpoint to the replayed head. `progress(position, head)`
/// after each page. Stop the service first; idempotent.
pub async fn replay_all<S: EventStore>(
    store: &S,
    policy: &scoring::Policy,
    review: Arc<review::ReviewPolicy>,
    progress: impl FnMut(i64, i64),
) -> Result<Rebuilt, SubscriptionError> {
    let parts: Vec<Box<dyn Rebuild>> = vec![
        Box::new(warning::replay::Replayer::new()),
        Box::new(followup::replay::Replayer::new(Arc::new(
            policy.follow_up.clone(),
        ))),
        Box::new(escalation::replay::Replayer::new()),
        Box::new(review::replay::Replayer::new(review)),
    ];
    rebuild(store, parts, progress).await
}

/// [`replay_all`] with the region and review policies the configuration names (what
/// `referral replay` runs).
pub async fn replay<S: EventStore>(
    store: &S,
    config: &crate::Config,
    progress: impl FnMut(i64, i64),
) -> anyhow::Result<Rebuilt> {
    use anyhow::Context;
    let region = scoring::Region::load(&config.region_file)
        .with_context(|| format!("the region file {}", config.region_file))?;
    let review = Arc::new(
        review::ReviewPolicy::load(config.review_file())
            .with_context(|| format!("the review policy {}", config.review_file()))?,
    );
    Ok(replay_all(store, &region.policy, review, progress).await?)
}

//! `audit verify`: recompute the hash chain over the whole log and report the first
//! position that does not match, so a printed review pack can be checked against the log.

use crate::common::ChainCheck;
use crate::{EventStore, StoreError, VerifyReport};

/// Recomputes the chain from position 1 to the head, reading `batch` rows at a time and
/// calling `progress(checked, head)` after each batch.
pub async fn verify<S: EventStore>(
    store: &S,
    batch: u32,
    mut progress: impl FnMut(i64, i64),
) -> Result<VerifyReport, StoreError> {
    let (head_position, head_hash) = store.head().await?;
    let mut check = ChainCheck::default();
    let mut after = 0;
    loop {
        let rows = store.read_raw(after, batch.max(1)).await?;
        let Some(last) = rows.last() else { break };
        after = last.position;
        // Rows committed after the head was read are left for the next run.
        if !rows
            .iter()
            .filter(|r| r.position <= head_position)
            .all(|r| check.feed(r))
        {
            break;
        }
        progress(check.checked, head_position);
        if after >= head_position {
            break;
        }
    }
    Ok(check.finish(head_position, &head_hash))
}

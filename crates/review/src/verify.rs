//! Per-case log verification and the coverage a review pack records.
//!
//! For each of the case's positions `p` the stored row is re-hashed with the stored hash of
//! `p − 1` (`H(prev ‖ row)`, the store's chain rule) and compared with the hash stored at `p`;
//! the link to `p + 1` is checked the same way, so a row changed together with its own hash
//! still breaks the chain at the next row. The recomputed hashes of the case's rows are
//! digested (SHA-256 of their concatenation, in log order): a pack records that digest, the
//! recomputed hash of its last position and the log head, and a later check recomputes them.
//! Reads only the case's rows and their neighbours, never the whole log (`referral audit
//! verify` does that).

use eventstore::common::GENESIS_HASH;
use eventstore::{EventStore, RawRow, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What part of the log a pack covers, and the hashes to check it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The case's first log position.
    pub first_position: i64,
    /// The case's last log position the pack covers.
    pub last_position: i64,
    /// How many of the case's events.
    pub events: usize,
    /// SHA-256 over the recomputed chain hashes of the case's rows, hex.
    pub case_digest: String,
    /// The recomputed chain hash at `last_position`, hex.
    pub chain_hash_at_last: String,
    /// The log head when rendered.
    pub head_position: i64,
    /// Its hash, hex.
    pub head_hash: String,
    /// The first of the case's positions whose row or link does not match, and why.
    pub first_bad: Option<(i64, String)>,
}

/// Checks the case's positions (sorted, ascending) against the chain; see the module docs.
pub async fn coverage<S: EventStore>(store: &S, positions: &[i64]) -> Result<Coverage, StoreError> {
    let (head_position, head_hash) = store.head().await?;
    let rows = rows_around(store, positions, head_position).await?;
    let mut digest = Sha256::new();
    let mut first_bad = None;
    let mut last_hash = Vec::new();
    for &p in positions {
        let Some(row) = rows.get(&p) else {
            first_bad.get_or_insert((p, "the row is missing".to_owned()));
            continue;
        };
        let prev = if p == 1 {
            Some(GENESIS_HASH.to_vec())
        } else {
            rows.get(&(p - 1)).map(|r| r.hash.clone())
        };
        let Some(prev) = prev else {
            first_bad.get_or_insert((p - 1, "the row before is missing".to_owned()));
            continue;
        };
        let recomputed = row.chain_hash(&prev);
        digest.update(recomputed);
        last_hash = recomputed.to_vec();
        if recomputed.as_slice() != row.hash.as_slice() {
            first_bad.get_or_insert((
                p,
                "the row does not match its hash: it was changed after it was written".into(),
            ));
        } else if let Some(next) = rows.get(&(p + 1)) {
            if next.chain_hash(&row.hash).as_slice() != next.hash.as_slice() {
                first_bad.get_or_insert((
                    p + 1,
                    "the chain breaks after this case's row: a row or its hash was changed".into(),
                ));
            }
        }
    }
    Ok(Coverage {
        first_position: positions.first().copied().unwrap_or(0),
        last_position: positions.last().copied().unwrap_or(0),
        events: positions.len(),
        case_digest: hex::encode(digest.finalize()),
        chain_hash_at_last: hex::encode(last_hash),
        head_position,
        head_hash: hex::encode(head_hash),
        first_bad,
    })
}

/// Checks every row of a case (see the module docs): what `referral audit verify --case`
/// runs. `None` when the case has no events.
pub async fn verify_case<S: EventStore>(
    store: &S,
    case: &contracts::CaseId,
) -> Result<Option<Coverage>, StoreError> {
    let positions: Vec<i64> = crate::component::case_events(store, case)
        .await?
        .iter()
        .map(|e| e.position)
        .collect();
    if positions.is_empty() {
        return Ok(None);
    }
    coverage(store, &positions).await.map(Some)
}

/// The rows at `p − 1`, `p` and `p + 1` (up to the head) for every `p`, read in runs.
async fn rows_around<S: EventStore>(
    store: &S,
    positions: &[i64],
    head: i64,
) -> Result<BTreeMap<i64, RawRow>, StoreError> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &p in positions {
        let (a, b) = ((p - 1).max(1), (p + 1).min(head.max(p)));
        match runs.last_mut() {
            Some(r) if a <= r.1 + 1 => r.1 = r.1.max(b),
            _ => runs.push((a, b)),
        }
    }
    let mut rows = BTreeMap::new();
    for (a, b) in runs {
        let mut after = a - 1;
        while after < b {
            let want = u32::try_from(b - after).unwrap_or(u32::MAX).min(5000);
            let batch = store.read_raw(after, want).await?;
            let Some(last) = batch.last() else { break };
            after = last.position;
            for r in batch.into_iter().filter(|r| r.position <= b) {
                rows.insert(r.position, r);
            }
        }
    }
    Ok(rows)
}

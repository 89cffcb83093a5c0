//! The commit and firing logic both backends share, written once over [`TxOps`]: the
//! handful of SQL statements a backend supplies inside one open transaction. The order of
//! work is the store's main invariant: everything else first, the log head locked last,
//! then the events inserted and the head moved, then commit.

use crate::common::{
    check_expected, is_unique_violation, plan, truncate, validate, Found, Plan, RawRow,
};
use crate::{
    AppendResult, Commit, CommitOutcome, Deadline, DeadlineOp, DocumentOp, ExpectedVersion,
    StoreError,
};
use contracts::NewEvent;
use std::collections::HashMap;
use std::future::Future;
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The statements a backend runs inside one open write transaction.
pub(crate) trait TxOps: Send + Sized {
    /// Inserts the handled marker; false when it was there already.
    fn mark_handled(
        &mut self,
        consumer: &str,
        id: Uuid,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stored events with any of these ids.
    fn find(&mut self, ids: &[Uuid])
        -> impl Future<Output = Result<Vec<Found>, StoreError>> + Send;
    /// A stream's last version.
    fn stream_version(
        &mut self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// Upserts a document.
    fn put_document(
        &mut self,
        collection: &str,
        key: &str,
        scope: &str,
        body: &serde_json::Value,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Upserts several documents with distinct (collection, key), in as few statements as
    /// the backend allows.
    fn put_documents(
        &mut self,
        docs: &[DocPut<'_>],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes a document, or (key `None`) every document of the collection.
    fn delete_document(
        &mut self,
        collection: &str,
        key: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Arms a deadline (no-op when the id exists).
    fn arm(
        &mut self,
        d: &Deadline,
        event_json: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Cancels an armed deadline; true when it was armed.
    fn cancel(
        &mut self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Moves a checkpoint forward.
    fn checkpoint(
        &mut self,
        name: &str,
        position: i64,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Locks and reads the log head.
    fn lock_head(&mut self) -> impl Future<Output = Result<(i64, Vec<u8>), StoreError>> + Send;
    /// Inserts chained rows.
    fn insert(
        &mut self,
        rows: &[RawRow],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves the log head.
    fn set_head(
        &mut self,
        position: i64,
        hash: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Claims up to `limit` armed deadlines due at `now`: (id, event JSON).
    fn claim_due(
        &mut self,
        now: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<(Uuid, String)>, StoreError>> + Send;
    /// Marks a claimed deadline fired.
    fn mark_fired(
        &mut self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Commits.
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Rolls back.
    fn rollback(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A backend that can open a write transaction.
pub(crate) trait Backend: Send + Sync {
    /// Its transaction.
    type Tx: TxOps;
    /// Opens a write transaction.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
    /// The clock.
    fn now(&self) -> OffsetDateTime;
    /// The in-process append notifier.
    fn notifier(&self) -> &watch::Sender<i64>;
}

pub(crate) struct Applied {
    pub outcome: CommitOutcome,
    /// Nothing new to write (an exact retry, or a message handled before): roll back.
    pub replay: bool,
    pub last_position: Option<i64>,
}

/// Tells in-process tailers that positions up to `last` are committed.
fn notify(tx: &watch::Sender<i64>, last: Option<i64>) {
    if let Some(last) = last {
        tx.send_if_modified(|p| {
            let changed = last > *p;
            *p = (*p).max(last);
            changed
        });
    }
}

/// Validates, applies and commits, retrying when a concurrent append won a unique key.
pub(crate) async fn run_commit<B: Backend>(
    backend: &B,
    commit: Commit,
    mut gate: Option<oneshot::Receiver<bool>>,
) -> Result<CommitOutcome, StoreError> {
    validate(&commit)?;
    if commit.is_empty() {
        return Ok(CommitOutcome::default());
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let mut tx = backend.begin().await?;
            // First attempt: optimistic, no look-up of the ids (new events are the common
            // case); a stored id then fails the insert and the next attempt looks them up.
            let applied = match apply(&mut tx, backend.now(), &commit, attempt > 1).await {
                Ok(a) => a,
                Err(e) => {
                    tx.rollback().await.ok();
                    return Err(e);
                }
            };
            if applied.replay {
                tx.rollback().await?;
                return Ok(applied.outcome);
            }
            if let Some(gate) = gate.take() {
                if !gate.await.unwrap_or(false) {
                    tx.rollback().await?;
                    return Err(StoreError::Invalid("rolled back at the test gate".into()));
                }
            }
            tx.commit().await?;
            notify(backend.notifier(), applied.last_position);
            Ok(applied.outcome)
        }
        .await;
        match result {
            // A concurrent append took the same version or id first: the second pass
            // reports the conflict or the idempotent result.
            Err(StoreError::Database(e)) if is_unique_violation(&e) && attempt < 5 => continue,
            // The optimistic pass did not look up the ids: a retry of stored events fails the
            // version check first. Look them up before reporting a conflict.
            Err(StoreError::WrongExpectedVersion { .. }) if attempt == 1 => continue,
            other => return other,
        }
    }
}

/// Applies a commit inside an open transaction.
pub(crate) async fn apply<T: TxOps>(
    tx: &mut T,
    now: OffsetDateTime,
    commit: &Commit,
    look_up_ids: bool,
) -> Result<Applied, StoreError> {
    let now = truncate(now);
    let mut outcome = CommitOutcome::default();
    if let Some((consumer, event_id)) = &commit.handled {
        if !tx.mark_handled(consumer, *event_id, now).await? {
            outcome.already_handled = true;
            return Ok(Applied {
                outcome,
                replay: true,
                last_position: None,
            });
        }
    }

    // Which appends are new, which are exact retries; check versions of the new ones.
    let ids: Vec<Uuid> = commit
        .appends
        .iter()
        .flat_map(|a| a.events.iter().map(|e| e.event_id))
        .collect();
    let found = if ids.is_empty() || !look_up_ids {
        Vec::new()
    } else {
        tx.find(&ids).await?
    };
    let mut plans = Vec::with_capacity(commit.appends.len());
    for group in &commit.appends {
        let mine: Vec<Found> = found
            .iter()
            .filter(|f| group.events.iter().any(|e| e.event_id == f.event_id))
            .cloned()
            .collect();
        plans.push(plan(group, &mine)?);
    }
    let any_events = !ids.is_empty();
    if any_events && plans.iter().all(|p| matches!(p, Plan::Stored(_))) {
        outcome.appends = plans
            .into_iter()
            .filter_map(|p| match p {
                Plan::Stored(r) => Some(r),
                Plan::New => None,
            })
            .collect();
        return Ok(Applied {
            outcome,
            replay: true,
            last_position: None,
        });
    }

    // Runs of consecutive puts go in bulk; deletes and clears keep their place between runs.
    let mut run: Vec<DocPut<'_>> = Vec::new();
    for op in &commit.documents {
        match op {
            DocumentOp::Put {
                collection,
                key,
                scope,
                body,
            } => run.push(DocPut {
                collection,
                key,
                scope,
                body,
            }),
            DocumentOp::Delete { collection, key } => {
                put_run(tx, &mut run, now).await?;
                tx.delete_document(collection, Some(key)).await?
            }
            DocumentOp::Clear { collection } => {
                put_run(tx, &mut run, now).await?;
                tx.delete_document(collection, None).await?
            }
        }
    }
    put_run(tx, &mut run, now).await?;
    for op in &commit.deadlines {
        match op {
            DeadlineOp::Arm(d) => {
                d.event.check()?;
                let json = serde_json::to_string(&d.event)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                tx.arm(d, &json, now).await?;
            }
            DeadlineOp::Cancel(id) => {
                if tx.cancel(*id, now).await? {
                    outcome.cancelled.push(*id);
                }
            }
        }
    }
    if let Some((name, position)) = &commit.checkpoint {
        tx.checkpoint(name, *position, now).await?;
    }

    // Last step: lock the head, check the versions (no append can move them while the head
    // is held, so a check here never races), number the new events, chain, insert.
    let mut last_position = None;
    if any_events {
        let (mut position, mut hash) = tx.lock_head().await?;
        let mut versions: HashMap<&str, i64> = HashMap::new();
        for (group, p) in commit.appends.iter().zip(&plans) {
            if let Plan::Stored(r) = p {
                outcome.appends.push(r.clone());
                continue;
            }
            let key = group.stream_id.as_str();
            let actual = match versions.get(key) {
                Some(v) => Some(*v),
                None => tx.stream_version(key).await?,
            };
            if !group.events.is_empty() {
                check_expected(&group.stream_id, group.expected, actual)?;
            }
            let mut rows = Vec::with_capacity(group.events.len());
            let mut version = actual.unwrap_or(0);
            for ev in &group.events {
                position += 1;
                version += 1;
                let mut row = RawRow::new(ev, position, version, now)?;
                row.hash = row.chain_hash(&hash).to_vec();
                hash.clone_from(&row.hash);
                rows.push(row);
            }
            if !rows.is_empty() {
                tx.insert(&rows, now).await?;
                versions.insert(key, version);
            }
            outcome.appends.push(AppendResult {
                stream_id: group.stream_id.clone(),
                positions: rows.iter().map(|r| r.position).collect(),
                version,
                already_stored: false,
            });
        }
        tx.set_head(position, &hash).await?;
        last_position = Some(position);
    }
    Ok(Applied {
        outcome,
        replay: false,
        last_position,
    })
}

/// One document to upsert, borrowed from a [`DocumentOp::Put`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocPut<'a> {
    pub collection: &'a str,
    pub key: &'a str,
    pub scope: &'a str,
    pub body: &'a serde_json::Value,
}

/// Writes and empties a run of puts: one by one when it is a single document, else in bulk,
/// where the last put of a key wins, as it would one by one.
async fn put_run<T: TxOps>(
    tx: &mut T,
    run: &mut Vec<DocPut<'_>>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    match run.as_slice() {
        [] => {}
        [d] => {
            tx.put_document(d.collection, d.key, d.scope, d.body, now)
                .await?
        }
        _ => tx.put_documents(&last_of_each_key(run), now).await?,
    }
    run.clear();
    Ok(())
}

/// The run without earlier puts of a key it puts again (one statement may not upsert a row
/// twice on PostgreSQL).
fn last_of_each_key<'a>(run: &[DocPut<'a>]) -> Vec<DocPut<'a>> {
    let mut seen = std::collections::HashSet::with_capacity(run.len());
    let mut out: Vec<DocPut<'a>> = run
        .iter()
        .rev()
        .filter(|d| seen.insert((d.collection, d.key)))
        .copied()
        .collect();
    out.reverse();
    out
}

/// Fires up to `limit` due deadlines in one transaction: appends each one's event (unless
/// an earlier, interrupted firing stored it already) and marks it fired.
pub(crate) async fn fire_due<B: Backend>(backend: &B, limit: u32) -> Result<Vec<Uuid>, StoreError> {
    let now = truncate(backend.now());
    let mut tx = backend.begin().await?;
    let result = async {
        let due = tx.claim_due(now, limit).await?;
        let mut fired = Vec::with_capacity(due.len());
        let mut last = None;
        for (id, json) in due {
            let event: NewEvent = serde_json::from_str(&json).map_err(|e| {
                StoreError::Invalid(format!("deadline {id} holds an unreadable event: {e}"))
            })?;
            let commit = Commit::append(event.stream_id.clone(), ExpectedVersion::Any, vec![event]);
            let applied = apply(&mut tx, now, &commit, true).await?;
            last = applied.last_position.or(last);
            tx.mark_fired(id, now).await?;
            fired.push(id);
        }
        Ok::<_, StoreError>((fired, last))
    }
    .await;
    match result {
        Ok((fired, last)) if !fired.is_empty() => {
            tx.commit().await?;
            notify(backend.notifier(), last);
            Ok(fired)
        }
        Ok(_) => {
            tx.rollback().await?;
            Ok(Vec::new())
        }
        Err(e) => {
            tx.rollback().await.ok();
            Err(e)
        }
    }
}

//! The commit and firing logic both backends share, written once over [`TxOps`]: the
//! handful of SQL statements a backend supplies inside one open transaction. The order of
//! work is the store's main invariant: the log head is locked before anything is written
//! and held until commit, so versions are checked, positions numbered and the chain
//! extended by one writer at a time, and no reader of `$all` can pass an event that
//! commits late.
//!
//! Commits are grouped ([`group_commit`]): while one transaction commits, the commits that
//! arrive queue up, and the next transaction applies all of them in order, one after the
//! other, each exactly as it would alone, and commits once. Many concurrent writers (the
//! consumers' lanes, HTTP requests) then share one log-head lock and one disk flush instead
//! of queueing for one each. When any commit of a group fails, the group is rolled back and
//! each of its commits runs alone, so each caller gets its own answer, exactly as without
//! grouping.

use crate::common::{
    check_expected, is_unique_violation, plan, truncate, validate, Found, Plan, RawRow,
};
use crate::{
    AppendResult, Commit, CommitOutcome, Deadline, DeadlineOp, DocumentOp, ExpectedVersion,
    StoreError,
};
use contracts::NewEvent;
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, PoisonError};
use time::OffsetDateTime;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// The statements a backend runs inside one open write transaction.
pub(crate) trait TxOps: Send + Sized {
    /// Inserts the handled markers that are not there yet; returns those it inserted.
    fn mark_handled(
        &mut self,
        markers: &[(&str, Uuid)],
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<HashSet<(String, Uuid)>, StoreError>> + Send;
    /// Stored events with any of these ids.
    fn find(&mut self, ids: &[Uuid])
        -> impl Future<Output = Result<Vec<Found>, StoreError>> + Send;
    /// The last versions of these streams (those with events).
    fn stream_versions(
        &mut self,
        streams: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, i64>, StoreError>> + Send;
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
    /// The commits waiting for the next group.
    fn queue(&self) -> &GroupQueue;
}

/// Most commits applied in one group transaction.
const MAX_GROUP: usize = 256;

/// A commit waiting for its group, and where its answer goes.
type Waiting = (Commit, oneshot::Sender<Result<CommitOutcome, StoreError>>);

/// The commits waiting for the next group transaction, and whether a flusher runs.
#[derive(Default)]
pub(crate) struct GroupQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Waiting>,
    flushing: bool,
}

impl GroupQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next group, or None (and no flusher any more) when nothing waits.
    fn next_group(&self) -> Option<Vec<Waiting>> {
        let mut q = self.lock();
        if q.waiting.is_empty() {
            q.flushing = false;
            return None;
        }
        let n = q.waiting.len().min(MAX_GROUP);
        Some(q.waiting.drain(..n).collect())
    }
}

/// Commits `commit` in the next group transaction (see the module docs) and returns its
/// own outcome. The group runs in a task of its own, so a caller that stops waiting
/// (a dropped request) never aborts the other commits of its group.
pub(crate) async fn group_commit<B: Backend + Clone + 'static>(
    backend: &B,
    commit: Commit,
) -> Result<CommitOutcome, StoreError> {
    validate(&commit)?;
    if commit.is_empty() {
        return Ok(CommitOutcome::default());
    }
    let (reply, answer) = oneshot::channel();
    let start_flusher = {
        let mut q = backend.queue().lock();
        q.waiting.push((commit, reply));
        !std::mem::replace(&mut q.flushing, true)
    };
    if start_flusher {
        let backend = backend.clone();
        tokio::spawn(async move { flush(backend).await });
    }
    answer.await.unwrap_or_else(|_| {
        Err(StoreError::Invalid(
            "the commit's group was abandoned".into(),
        ))
    })
}

/// Runs groups until the queue is empty.
async fn flush<B: Backend>(backend: B) {
    // Should the task be dropped mid-group (its runtime shutting down), the queue must not
    // believe a flusher still runs: the next commit then starts one.
    struct Running<'a>(&'a GroupQueue, bool);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            if self.1 {
                self.0.lock().flushing = false;
            }
        }
    }
    let mut running = Running(backend.queue(), true);
    loop {
        let Some(group) = backend.queue().next_group() else {
            // `next_group` cleared the flag under the lock.
            running.1 = false;
            return;
        };
        // A panic must not leave the queue without a flusher: the group's callers get an
        // error (their senders drop) and the next group runs.
        if AssertUnwindSafe(run_group(&backend, group))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("a commit group panicked; its commits were rolled back");
        }
    }
}

/// Applies a group in one transaction; when that fails, each commit alone.
async fn run_group<B: Backend>(backend: &B, mut group: Vec<Waiting>) {
    if group.len() == 1 {
        if let Some((commit, reply)) = group.pop() {
            reply.send(commit_alone(backend, commit, None).await).ok();
        }
        return;
    }
    match try_group(backend, &group).await {
        Ok(outcomes) => {
            for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                reply.send(Ok(outcome)).ok();
            }
        }
        Err(e) => {
            tracing::debug!(commits = group.len(), error = %e, "group failed; committing one by one");
            for (commit, reply) in group {
                reply.send(commit_alone(backend, commit, None).await).ok();
            }
        }
    }
}

/// One transaction for the whole group. Ids are looked up (an exact retry is then an
/// idempotent no-op, not an error that would fail the group).
async fn try_group<B: Backend>(
    backend: &B,
    group: &[Waiting],
) -> Result<Vec<CommitOutcome>, StoreError> {
    let commits: Vec<&Commit> = group.iter().map(|(c, _)| c).collect();
    transact(backend, &commits, true, None).await
}

/// One transaction: applies `commits`, then rolls back (an error, or nothing to write) or,
/// once the test `gate` (if any) says so, commits and tells the tailers.
async fn transact<B: Backend>(
    backend: &B,
    commits: &[&Commit],
    look_up_ids: bool,
    gate: Option<oneshot::Receiver<bool>>,
) -> Result<Vec<CommitOutcome>, StoreError> {
    let mut tx = backend.begin().await?;
    let applied = match apply(&mut tx, backend.now(), commits, look_up_ids).await {
        Ok(a) => a,
        Err(e) => {
            tx.rollback().await.ok();
            return Err(e);
        }
    };
    if applied.replay {
        tx.rollback().await?;
        return Ok(applied.outcomes);
    }
    if let Some(gate) = gate {
        if !gate.await.unwrap_or(false) {
            tx.rollback().await?;
            return Err(StoreError::Invalid("rolled back at the test gate".into()));
        }
    }
    tx.commit().await?;
    notify(backend.notifier(), applied.last_position);
    Ok(applied.outcomes)
}

/// What [`apply`] did.
pub(crate) struct Applied {
    /// One per commit, in order.
    pub outcomes: Vec<CommitOutcome>,
    /// Nothing new to write (exact retries, or messages handled before): roll back.
    pub replay: bool,
    /// The last position inserted.
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
    gate: Option<oneshot::Receiver<bool>>,
) -> Result<CommitOutcome, StoreError> {
    validate(&commit)?;
    if commit.is_empty() {
        return Ok(CommitOutcome::default());
    }
    commit_alone(backend, commit, gate).await
}

/// Applies and commits a validated, non-empty commit in a transaction of its own, retrying
/// when a concurrent append won a unique key.
async fn commit_alone<B: Backend>(
    backend: &B,
    commit: Commit,
    mut gate: Option<oneshot::Receiver<bool>>,
) -> Result<CommitOutcome, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // First attempt: optimistic, no look-up of the ids (new events are the common
        // case); a stored id then fails the insert and the next attempt looks them up.
        let result = transact(backend, &[&commit], attempt > 1, gate.take())
            .await
            .map(|outcomes| outcomes.into_iter().next().unwrap_or_default());
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

/// Applies commits, in order, inside an open transaction, each exactly as it would be
/// alone, with a handful of statements for all of them: lock the head (when any commit
/// appends), insert the handled markers (a commit whose marker was there is a replay and
/// applies nothing), look up the event ids (a commit whose events are all stored is an
/// idempotent retry), read the streams' versions, write documents, deadlines and
/// checkpoints, then check each append's expected version (counting the earlier commits'
/// appends), number, chain and insert every new event in one statement, and move the head.
/// Any error fails all of them (the transaction must then be rolled back).
pub(crate) async fn apply<T: TxOps>(
    tx: &mut T,
    now: OffsetDateTime,
    commits: &[&Commit],
    look_up_ids: bool,
) -> Result<Applied, StoreError> {
    let now = truncate(now);
    let mut outcomes = vec![CommitOutcome::default(); commits.len()];
    let mut live = vec![true; commits.len()];
    let appends_any = commits
        .iter()
        .any(|c| c.appends.iter().any(|a| !a.events.is_empty()));
    let head = if appends_any {
        Some(tx.lock_head().await?)
    } else {
        None
    };

    // Handled markers: the first commit of a marker that was not there applies.
    let markers: Vec<(&str, Uuid)> = commits
        .iter()
        .filter_map(|c| c.handled.as_ref().map(|(name, id)| (name.as_str(), *id)))
        .collect();
    if !markers.is_empty() {
        let mut inserted = tx.mark_handled(&markers, now).await?;
        for (i, c) in commits.iter().enumerate() {
            if let Some((name, id)) = &c.handled {
                if !inserted.remove(&(name.clone(), *id)) {
                    outcomes[i].already_handled = true;
                    live[i] = false;
                }
            }
        }
    }

    // Which appends are new, which are exact retries.
    let ids: Vec<Uuid> = commits
        .iter()
        .zip(&live)
        .filter(|(_, live)| **live)
        .flat_map(|(c, _)| c.appends.iter())
        .flat_map(|a| a.events.iter().map(|e| e.event_id))
        .collect();
    let found = if ids.is_empty() || !look_up_ids {
        Vec::new()
    } else {
        tx.find(&ids).await?
    };
    let mut plans: Vec<Vec<Plan>> = Vec::with_capacity(commits.len());
    for (i, c) in commits.iter().enumerate() {
        let mut mine = Vec::with_capacity(c.appends.len());
        if live[i] {
            for group in &c.appends {
                let stored: Vec<Found> = found
                    .iter()
                    .filter(|f| group.events.iter().any(|e| e.event_id == f.event_id))
                    .cloned()
                    .collect();
                mine.push(plan(group, &stored)?);
            }
            let any_events = c.appends.iter().any(|a| !a.events.is_empty());
            if any_events && mine.iter().all(|p| matches!(p, Plan::Stored(_))) {
                outcomes[i].appends = mine
                    .drain(..)
                    .filter_map(|p| match p {
                        Plan::Stored(r) => Some(r),
                        Plan::New => None,
                    })
                    .collect();
                live[i] = false;
            }
        }
        plans.push(mine);
    }

    // Documents of every commit, in order: runs of consecutive puts go in bulk; deletes and
    // clears keep their place between runs.
    let mut run: Vec<DocPut<'_>> = Vec::new();
    for c in commits
        .iter()
        .zip(&live)
        .filter(|(_, l)| **l)
        .map(|(c, _)| c)
    {
        for op in &c.documents {
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
    }
    put_run(tx, &mut run, now).await?;
    for (i, c) in commits.iter().enumerate().filter(|(i, _)| live[*i]) {
        for op in &c.deadlines {
            match op {
                DeadlineOp::Arm(d) => {
                    d.event.check()?;
                    let json = serde_json::to_string(&d.event)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    tx.arm(d, &json, now).await?;
                }
                DeadlineOp::Cancel(id) => {
                    if tx.cancel(*id, now).await? {
                        outcomes[i].cancelled.push(*id);
                    }
                }
            }
        }
        if let Some((name, position)) = &c.checkpoint {
            tx.checkpoint(name, *position, now).await?;
        }
    }

    // The head is held: check the versions (no append can move them now), number the new
    // events, chain, insert them all at once, move the head.
    let mut last_position = None;
    if let Some((mut position, mut hash)) = head {
        let streams: Vec<&str> = commits
            .iter()
            .zip(&plans)
            .enumerate()
            .filter(|(i, _)| live[*i])
            .flat_map(|(_, (c, p))| c.appends.iter().zip(p))
            .filter(|(_, p)| matches!(p, Plan::New))
            .map(|(a, _)| a.stream_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut versions = if streams.is_empty() {
            HashMap::new()
        } else {
            tx.stream_versions(&streams).await?
        };
        let mut rows = Vec::new();
        for (i, c) in commits.iter().enumerate().filter(|(i, _)| live[*i]) {
            for (group, p) in c.appends.iter().zip(&plans[i]) {
                if let Plan::Stored(r) = p {
                    outcomes[i].appends.push(r.clone());
                    continue;
                }
                let key = group.stream_id.as_str();
                let actual = versions.get(key).copied();
                if !group.events.is_empty() {
                    check_expected(&group.stream_id, group.expected, actual)?;
                }
                let first = rows.len();
                let mut version = actual.unwrap_or(0);
                for ev in &group.events {
                    position += 1;
                    version += 1;
                    let mut row = RawRow::new(ev, position, version, now)?;
                    row.hash = row.chain_hash(&hash).to_vec();
                    hash.clone_from(&row.hash);
                    rows.push(row);
                }
                if rows.len() > first {
                    versions.insert(key.to_owned(), version);
                }
                outcomes[i].appends.push(AppendResult {
                    stream_id: group.stream_id.clone(),
                    positions: rows[first..].iter().map(|r| r.position).collect(),
                    version,
                    already_stored: false,
                });
            }
        }
        if !rows.is_empty() {
            tx.insert(&rows, now).await?;
            tx.set_head(position, &hash).await?;
            last_position = Some(position);
        }
    }
    Ok(Applied {
        outcomes,
        replay: !live.iter().any(|l| *l),
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
        // The head first, as every append takes it: a firing never holds a deadline row
        // while it waits for a group that cancels that deadline.
        tx.lock_head().await?;
        let due = tx.claim_due(now, limit).await?;
        let mut fired = Vec::with_capacity(due.len());
        let mut last = None;
        for (id, json) in due {
            let event: NewEvent = serde_json::from_str(&json).map_err(|e| {
                StoreError::Invalid(format!("deadline {id} holds an unreadable event: {e}"))
            })?;
            let commit = Commit::append(event.stream_id.clone(), ExpectedVersion::Any, vec![event]);
            let applied = apply(&mut tx, now, &[&commit], true).await?;
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

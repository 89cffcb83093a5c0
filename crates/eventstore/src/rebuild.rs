//! Rebuilding read models in one pass over `$all` (`referral replay`).
//!
//! Each component supplies a [`Rebuild`]: it folds the events it owns into per-stream (or
//! per-case) state in memory and, at the end, turns that state into its documents with the
//! same pure projection code its live handlers use. [`rebuild`] reads the log once, in large
//! pages (the next page is read while the current one is folded), feeds every event to every
//! part, then clears each part's collections and writes the documents in chunked commits
//! (the engine writes runs of puts as multi-row statements), and finally moves the parts'
//! checkpoints to the head it read up to.
//!
//! Memory: every state stays in memory until its documents are written (about 10 KB per
//! case for the four components). [`rebuild_in_passes`] bounds it: pass `k` of `n` reads
//! the whole log again but keeps only the states whose key hashes to `k`, then writes their
//! documents and drops them, so memory is about 1/n while reading costs n passes.
//!
//! What it does not do: decode payloads (the parts do), touch deadlines, handled markers or
//! the relay's checkpoint (a replay changes no event, so the consumers have nothing to redo),
//! or read past the head it found when it started (stop the service first).

use crate::subscription::{ProjectionError, SubscriptionError};
use crate::{Commit, DocumentOp, EventStore};
use contracts::Envelope;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

/// One component's read models, rebuilt from the log.
pub trait Rebuild: Send {
    /// The collections it owns: cleared before its documents are written.
    fn collections(&self) -> Vec<String>;
    /// Folds one event of `$all`, in log order (events not its own are ignored, and so are
    /// events of states outside the current pass).
    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError>;
    /// Keeps, from now on, only the states of pass `pass` of `passes` (see
    /// [`rebuild_in_passes`]). A part that cannot split keeps everything, every pass.
    fn select(&mut self, pass: usize, passes: usize) {
        let _ = (pass, passes);
    }
    /// Which rows of `$all` (by stream id and case id) this part folds in the current pass:
    /// the others are not even parsed. A part that cannot tell wants every row.
    fn wants(&self) -> Wants {
        Arc::new(|_: &str, _: Option<&str>| true)
    }
    /// Every document of what was fed since the last call, produced lazily (a chunk is
    /// written at a time); the states are dropped.
    fn take_documents(&mut self) -> Box<dyn Iterator<Item = DocumentOp> + Send>;
    /// States folded so far (cases, streams), for the report.
    fn states(&self) -> usize {
        0
    }
    /// Checkpoints its live documents are kept in step with: set to the replayed head.
    fn checkpoints(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A filter on rows of `$all` by stream id and case id (see [`Rebuild::wants`]).
pub type Wants = Arc<dyn Fn(&str, Option<&str>) -> bool + Send + Sync>;

/// How a rebuild went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rebuilt {
    /// The head position replayed up to (= events read: positions are dense from 1).
    pub head: i64,
    /// Documents written.
    pub documents: usize,
    /// Each part's [`Rebuild::states`], in the order given.
    pub states: Vec<usize>,
    /// Seconds reading and folding the log.
    pub read_secs: f64,
    /// Seconds writing the documents.
    pub write_secs: f64,
}

/// Events per page of `$all`.
pub const PAGE: u32 = 10_000;
/// Document operations per write transaction.
pub const CHUNK: usize = 20_000;

/// Rebuilds `parts` in one pass over the log up to its current head. `progress(position,
/// head)` after each page read. Idempotent: an interrupted run is finished by running it
/// again. Run it with the consumers stopped.
pub async fn rebuild<S: EventStore>(
    store: &S,
    parts: Vec<Box<dyn Rebuild>>,
    progress: impl FnMut(i64, i64),
) -> Result<Rebuilt, SubscriptionError> {
    rebuild_in_passes(store, parts, 1, progress).await
}

/// [`rebuild`] in `passes` passes over the log, each keeping about 1/`passes` of the
/// states in memory (see the module docs). `progress(position, head)` after each page.
pub async fn rebuild_in_passes<S: EventStore>(
    store: &S,
    mut parts: Vec<Box<dyn Rebuild>>,
    passes: usize,
    mut progress: impl FnMut(i64, i64),
) -> Result<Rebuilt, SubscriptionError> {
    let passes = passes.max(1);
    let (head, _) = store.head().await?;
    let checkpoints: Vec<String> = parts.iter().flat_map(|p| p.checkpoints()).collect();
    let mut ops: Vec<DocumentOp> = parts
        .iter()
        .flat_map(|p| p.collections())
        .map(|collection| DocumentOp::Clear { collection })
        .collect();
    let mut rebuilt = Rebuilt {
        head,
        states: vec![0; parts.len()],
        ..Rebuilt::default()
    };
    for pass in 0..passes {
        for part in &mut parts {
            part.select(pass, passes);
        }
        let read = Instant::now();
        let wants: Vec<Wants> = parts.iter().map(|p| p.wants()).collect();
        let wanted: Wants = Arc::new(move |stream, case| wants.iter().any(|w| w(stream, case)));
        read_and_feed(store, head, &mut parts, wanted, &mut progress).await?;
        rebuilt.read_secs += read.elapsed().as_secs_f64();
        let written = Instant::now();
        for (i, part) in parts.iter_mut().enumerate() {
            rebuilt.states[i] += part.states();
            for op in part.take_documents() {
                rebuilt.documents += 1;
                ops.push(op);
                if ops.len() >= CHUNK {
                    write(store, std::mem::take(&mut ops)).await?;
                }
            }
        }
        write(store, std::mem::take(&mut ops)).await?;
        rebuilt.write_secs += written.elapsed().as_secs_f64();
    }
    for name in checkpoints {
        store.reset_checkpoint(&name, head).await?;
    }
    Ok(rebuilt)
}

/// A page of `$all`: the events some part wants, parsed, and the page's last position.
type Page = Result<(Vec<Envelope>, i64), crate::StoreError>;

/// Reads the log up to `head` and feeds every event some part `wanted` to every part. The
/// reader runs ahead by one page and parses only the wanted rows, so reading, parsing and
/// folding overlap, and a pass that keeps a fraction of the states parses that fraction.
async fn read_and_feed<S: EventStore>(
    store: &S,
    head: i64,
    parts: &mut [Box<dyn Rebuild>],
    wanted: Wants,
    progress: &mut impl FnMut(i64, i64),
) -> Result<(), SubscriptionError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Page>(2);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut after = 0;
            while after < head {
                let page = store.read_raw(after, PAGE).await.and_then(|rows| {
                    after = rows.last().map_or(head, |r| r.position.min(head));
                    let events = rows
                        .into_iter()
                        .filter(|r| r.position <= head)
                        .filter(|r| wanted(&r.stream_id, r.case_id.as_deref()))
                        .map(crate::RawRow::into_envelope)
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((events, after))
                });
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        })
    };
    while let Some(page) = rx.recv().await {
        let (page, last) = page?;
        for event in &page {
            for part in parts.iter_mut() {
                part.feed(event)
                    .map_err(|source| SubscriptionError::Projection {
                        position: event.position,
                        source,
                    })?;
            }
        }
        progress(last, head);
    }
    reader.await.ok();
    Ok(())
}

async fn write<S: EventStore>(
    store: &S,
    documents: Vec<DocumentOp>,
) -> Result<(), SubscriptionError> {
    if !documents.is_empty() {
        store
            .commit(Commit {
                documents,
                ..Commit::default()
            })
            .await?;
    }
    Ok(())
}

/// Whose state an event belongs to, for a [`Fold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldBy {
    /// Each stream of a category (`<category>-<id>`): keyed by `<id>`.
    Stream(&'static str),
    /// Each case (every event with a case id): keyed by the case id.
    Case,
}

/// A component's [`Rebuild`] from its own pure pieces: per-stream (or per-case) state made by
/// `init(key)` and folded by `evolve` in log order, kept in memory, and turned into documents
/// by `documents(key, state)` at the end.
pub struct Fold<T, E, D> {
    by: FoldBy,
    collections: Vec<String>,
    checkpoints: Vec<String>,
    init: fn(&str) -> T,
    evolve: fn(&mut T, &Envelope) -> Result<(), E>,
    documents: Arc<D>,
    states: HashMap<String, T>,
    pass: (usize, usize),
}

impl<T, E, D> Fold<T, E, D>
where
    T: Send + 'static,
    E: Into<ProjectionError>,
    D: Fn(String, T) -> Vec<DocumentOp> + Send + Sync + 'static,
{
    /// A fold keyed `by`, owning `collections`.
    pub fn new(
        by: FoldBy,
        collections: &[&str],
        init: fn(&str) -> T,
        evolve: fn(&mut T, &Envelope) -> Result<(), E>,
        documents: D,
    ) -> Self {
        Self {
            by,
            collections: collections.iter().map(|c| (*c).to_owned()).collect(),
            checkpoints: Vec::new(),
            init,
            evolve,
            documents: Arc::new(documents),
            states: HashMap::new(),
            pass: (0, 1),
        }
    }

    /// Also moves the checkpoint `name` to the replayed head.
    pub fn checkpoint(mut self, name: &str) -> Self {
        self.checkpoints.push(name.to_owned());
        self
    }
}

impl<T, E, D> Rebuild for Fold<T, E, D>
where
    T: Send + 'static,
    E: Into<ProjectionError>,
    D: Fn(String, T) -> Vec<DocumentOp> + Send + Sync + 'static,
{
    fn collections(&self) -> Vec<String> {
        self.collections.clone()
    }

    fn states(&self) -> usize {
        self.states.len()
    }

    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError> {
        let case = event.case_id.as_ref().map(|c| c.as_str());
        let Some(key) = key_of(self.by, event.stream_id.as_str(), case) else {
            return Ok(());
        };
        if !in_pass(key, self.pass) {
            return Ok(());
        }
        if !self.states.contains_key(key) {
            self.states.insert(key.to_owned(), (self.init)(key));
        }
        match self.states.get_mut(key) {
            Some(state) => (self.evolve)(state, event).map_err(Into::into),
            None => Ok(()),
        }
    }

    fn select(&mut self, pass: usize, passes: usize) {
        self.pass = (pass, passes.max(1));
    }

    fn wants(&self) -> Wants {
        let (by, pass) = (self.by, self.pass);
        Arc::new(move |stream, case| key_of(by, stream, case).is_some_and(|k| in_pass(k, pass)))
    }

    fn take_documents(&mut self) -> Box<dyn Iterator<Item = DocumentOp> + Send> {
        let documents = Arc::clone(&self.documents);
        Box::new(
            std::mem::take(&mut self.states)
                .into_iter()
                .flat_map(move |(key, state)| documents(key, state)),
        )
    }

    fn checkpoints(&self) -> Vec<String> {
        self.checkpoints.clone()
    }
}

/// The key of a [`Fold`]'s state an event belongs to, if any.
fn key_of<'a>(by: FoldBy, stream: &'a str, case: Option<&'a str>) -> Option<&'a str> {
    match by {
        FoldBy::Stream(category) => stream
            .strip_prefix(category)
            .and_then(|rest| rest.strip_prefix('-')),
        FoldBy::Case => case,
    }
}

/// Whether a state's key belongs to `pass` = (k, n): its hash is k modulo n (the same
/// throughout a run).
fn in_pass(key: &str, (pass, passes): (usize, usize)) -> bool {
    if passes <= 1 {
        return true;
    }
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish() % passes as u64 == pass as u64
}

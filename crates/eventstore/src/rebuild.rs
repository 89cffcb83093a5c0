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
//! What it does not do: decode payloads (the parts do), touch deadlines, handled markers or
//! the relay's checkpoint (a replay changes no event, so the consumers have nothing to redo),
//! or read past the head it found when it started (stop the service first).

use crate::subscription::{ProjectionError, SubscriptionError};
use crate::{Commit, DocumentOp, EventStore};
use contracts::Envelope;
use std::time::Instant;

/// One component's read models, rebuilt from the log.
pub trait Rebuild: Send {
    /// The collections it owns: cleared before its documents are written.
    fn collections(&self) -> Vec<String>;
    /// Folds one event of `$all`, in log order (events not its own are ignored).
    fn feed(&mut self, event: &Envelope) -> Result<(), ProjectionError>;
    /// Every document of what was fed, produced lazily (a chunk is written at a time).
    fn documents(self: Box<Self>) -> Box<dyn Iterator<Item = DocumentOp> + Send>;
    /// States folded so far (cases, streams), for the report.
    fn states(&self) -> usize {
        0
    }
    /// Checkpoints its live documents are kept in step with: set to the replayed head.
    fn checkpoints(&self) -> Vec<String> {
        Vec::new()
    }
}

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
    mut parts: Vec<Box<dyn Rebuild>>,
    mut progress: impl FnMut(i64, i64),
) -> Result<Rebuilt, SubscriptionError> {
    let started = Instant::now();
    let (head, _) = store.head().await?;
    // The reader runs ahead by one page, so reading and folding overlap.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Envelope>, crate::StoreError>>(2);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut after = 0;
            while after < head {
                let page = store.read_all(after, PAGE).await;
                let page = match page {
                    Ok(mut page) => {
                        page.retain(|e| e.position <= head);
                        match page.last() {
                            Some(last) => after = last.position,
                            None => after = head,
                        }
                        Ok(page)
                    }
                    Err(e) => Err(e),
                };
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        })
    };
    while let Some(page) = rx.recv().await {
        let page = page?;
        for event in &page {
            for part in &mut parts {
                part.feed(event)
                    .map_err(|source| SubscriptionError::Projection {
                        position: event.position,
                        source,
                    })?;
            }
        }
        if let Some(last) = page.last() {
            progress(last.position, head);
        }
    }
    reader.await.ok();
    let read_secs = started.elapsed().as_secs_f64();

    let written = Instant::now();
    let checkpoints: Vec<String> = parts.iter().flat_map(|p| p.checkpoints()).collect();
    let states = parts.iter().map(|p| p.states()).collect();
    let mut ops: Vec<DocumentOp> = parts
        .iter()
        .flat_map(|p| p.collections())
        .map(|collection| DocumentOp::Clear { collection })
        .collect();
    let mut documents = 0;
    for part in parts {
        for op in part.documents() {
            documents += 1;
            ops.push(op);
            if ops.len() >= CHUNK {
                write(store, std::mem::take(&mut ops)).await?;
            }
        }
    }
    write(store, ops).await?;
    for name in checkpoints {
        store.reset_checkpoint(&name, head).await?;
    }
    Ok(Rebuilt {
        head,
        documents,
        states,
        read_secs,
        write_secs: written.elapsed().as_secs_f64(),
    })
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

/// Whose state an event belongs to, for a [`Folds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldBy {
    /// Each stream of a category (`<category>-<id>`): keyed by `<id>`.
    Stream(&'static str),
    /// Each case (every event with a case id): keyed by the case id.
    Case,
}

/// Per-stream or per-case state kept in memory during a rebuild: what a component's
/// [`Rebuild`] folds into.
#[derive(Debug)]
pub struct Folds<T> {
    by: FoldBy,
    states: std::collections::HashMap<String, T>,
}

impl<T> Folds<T> {
    /// Empty, keyed as `by` says.
    pub fn new(by: FoldBy) -> Self {
        Self {
            by,
            states: std::collections::HashMap::new(),
        }
    }

    /// The state `event` belongs to (made by `init(key)` on its first event), or `None` for
    /// an event that is not of this fold.
    pub fn state_of(&mut self, event: &Envelope, init: impl FnOnce(&str) -> T) -> Option<&mut T> {
        let key = match self.by {
            FoldBy::Stream(category) => event
                .stream_id
                .as_str()
                .strip_prefix(category)?
                .strip_prefix('-')?,
            FoldBy::Case => event.case_id.as_ref()?.as_str(),
        };
        if !self.states.contains_key(key) {
            self.states.insert(key.to_owned(), init(key));
        }
        self.states.get_mut(key)
    }

    /// States kept.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether none was kept.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Every (key, state), in no particular order.
    pub fn into_states(self) -> impl Iterator<Item = (String, T)> + Send
    where
        T: Send,
    {
        self.states.into_iter()
    }
}

//! The review component: keeps the per-case facts documents (for the indicators and review
//! lists) in step with the log, records reviewers' conclusions, and reads a case for its
//! timeline and review pack.
//!
//! It consumes every event on `referral.>` (one durable consumer). For an event of a case it
//! re-reads the case from the log and rewrites the case's documents from the case's events
//! alone, committing them with its checkpoint (the highest position handled) in one
//! transaction. Because the documents are a function of the log, handling a message twice, in
//! any order, or on two instances converges on the same documents: no handled marker is
//! needed, and `referral replay` rebuilds them ([`ReviewService::rebuild`]).
//!
//! Collections: `review-facts` (key `<district>:<year>/<case>`, scope `<district>:<year>`:
//! one copy per district and MCH statistical year the case's facts name, so a district-year
//! query reads only that year's women) and `review-due` (cases due for critical-case review: key
//! `d:<district>/<case>` scope `d:<district>`, and `f:<institution>/<case>` scope
//! `f:<institution>` for every institution involved).

use crate::events::{Avoidability, CaseReviewed, ReviewLevel};
use crate::facts::CaseFacts;
use crate::policy::ReviewPolicy;
use bus::{ConsumerConfig, Handler, HandlerError};
use contracts::{
    derive_event_id, CaseId, DistrictCode, Envelope, InstitutionCode, Metadata, NewEvent, StreamId,
    SUBJECT_ROOT,
};
use escalation::NearMissCatalogue;
use eventstore::{Commit, DocumentOp, EventStore, ExpectedVersion, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// The component's name in metadata and its checkpoint's name.
pub const COMPONENT: &str = "review";
/// Per-case facts, one copy per district.
pub const FACTS: &str = "review-facts";
/// Cases due for critical-case review.
pub const DUE: &str = "review-due";

/// The one durable consumer: every event.
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig::new("review", format!("{SUBJECT_ROOT}.>"))
}

/// Why a conclusion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No such case.
    #[error("no such case")]
    NotFound,
    /// A field is wrong.
    #[error("{1}")]
    Field(String, String),
    /// The same request id was used for another conclusion.
    #[error("this request id was already used for a different conclusion")]
    Conflict,
}

/// What the service can fail with.
pub type ReviewError = bus::ComponentError<Rejection>;

impl From<Rejection> for ReviewError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// A reviewer's conclusion, as posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conclusion {
    /// The client's request id (none: derived from the content, so an identical repeat is
    /// one conclusion).
    pub request_id: Option<Uuid>,
    /// Facility or district review.
    pub level: ReviewLevel,
    /// Avoidability.
    pub avoidability: Avoidability,
    /// Delays found (1, 2, 3).
    pub delays: Vec<u8>,
    /// Notes.
    pub notes: String,
    /// The pack's last position, if the reviewers quote it.
    pub pack_last_position: Option<i64>,
}

/// Every event of a case, in log order (read in pages of 1,000).
pub async fn case_events<S: EventStore>(
    store: &S,
    case: &CaseId,
) -> Result<Vec<Envelope>, StoreError> {
    let mut out: Vec<Envelope> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.position);
        let batch = store.read_case(case, after, 1000).await?;
        let done = batch.len() < 1000;
        out.extend(batch);
        if done {
            return Ok(out);
        }
    }
}

/// Cases whose facts documents were last written at most this many cases ago are
/// remembered (see [`ReviewService`]); beyond that the memory is cleared and re-learnt.
const REMEMBERED_CASES: usize = 100_000;

/// The document ops that make a case's documents reflect `facts` (the live refresh and the
/// replay both write these).
pub fn documents(policy: &ReviewPolicy, facts: &CaseFacts) -> Vec<DocumentOp> {
    let mut ops = Vec::new();
    let body = serde_json::to_value(facts).unwrap_or_default();
    for scope in facts.district_years(policy) {
        ops.push(DocumentOp::Put {
            collection: FACTS.into(),
            key: format!("{scope}/{}", facts.case_id),
            scope,
            body: body.clone(),
        });
    }
    if let Some((trigger, at)) = facts.review_trigger(policy) {
        let entry = json!({
            "case_id": facts.case_id,
            "trigger": trigger,
            "at": crate::timeline::rfc3339(at, policy.offset()),
            "residence_district": facts.residence,
            "institutions": facts.institutions(),
            "near_miss_centre": facts.near_miss_centre,
            "reviews": facts.reviews,
        });
        let mut scopes: BTreeSet<String> =
            facts.residence.iter().map(|d| format!("d:{d}")).collect();
        scopes.extend(facts.institutions().iter().map(|i| format!("f:{i}")));
        for scope in scopes {
            ops.push(DocumentOp::Put {
                collection: DUE.into(),
                key: format!("{scope}/{}", facts.case_id),
                scope,
                body: entry.clone(),
            });
        }
    }
    ops
}

/// The review service over a store.
///
/// The consumer remembers, per case, the last log position its committed facts documents
/// reflect. An event of that case at or before that position is then already in them (a
/// burst of a case's events is read once, not once per event), so it is acked without
/// reading the case again. The memory is only a shortcut: after a restart, or when it is
/// cleared, the case is read again and the same documents are written.
#[derive(Clone)]
pub struct ReviewService<S> {
    store: S,
    policy: Arc<ReviewPolicy>,
    near_miss: Option<Arc<NearMissCatalogue>>,
    written: Arc<Mutex<HashMap<CaseId, i64>>>,
}

impl<S: EventStore> ReviewService<S> {
    /// The service.
    pub fn new(
        store: S,
        policy: Arc<ReviewPolicy>,
        near_miss: Option<Arc<NearMissCatalogue>>,
    ) -> Self {
        Self {
            store,
            policy,
            near_miss,
            written: Arc::default(),
        }
    }

    /// The last position of `case` its committed documents reflect, as far as this
    /// service knows.
    fn written_up_to(&self, case: &CaseId) -> Option<i64> {
        let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        written.get(case).copied()
    }

    /// Remembers that `case`'s committed documents reflect its events up to `position`.
    fn remember(&self, case: &CaseId, position: i64) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() >= REMEMBERED_CASES && !written.contains_key(case) {
            written.clear();
        }
        let p = written.entry(case.clone()).or_insert(position);
        *p = (*p).max(position);
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The policy.
    pub fn policy(&self) -> &ReviewPolicy {
        &self.policy
    }

    /// The near-miss catalogue (names of criteria in the pack).
    pub fn near_miss(&self) -> Option<&NearMissCatalogue> {
        self.near_miss.as_deref()
    }

    /// Every event of the case, in log order.
    pub async fn case_events(&self, case: &CaseId) -> Result<Vec<Envelope>, StoreError> {
        case_events(&self.store, case).await
    }

    /// The document ops that make the case's documents reflect `facts`.
    pub fn documents(&self, facts: &CaseFacts) -> Vec<DocumentOp> {
        documents(&self.policy, facts)
    }

    /// Rewrites the case's documents from the log (idempotent). Skips the write when the
    /// stored documents already reflect a later position.
    pub async fn refresh(&self, case: &CaseId, checkpoint: Option<i64>) -> Result<(), ReviewError> {
        let events = self.case_events(case).await?;
        let facts = CaseFacts::fold(case.as_str(), &events);
        if let Some(scope) = facts.district_years(&self.policy).iter().next() {
            if let Some(doc) = self
                .store
                .document(FACTS, &format!("{scope}/{case}"))
                .await?
            {
                let stored = doc.body["as_of"].as_i64().unwrap_or(0);
                if stored > facts.as_of {
                    self.remember(case, stored);
                    return Ok(());
                }
            }
        }
        let documents = self.documents(&facts);
        let checkpoint = checkpoint.map(|p| (COMPONENT.to_owned(), p));
        if documents.is_empty() && checkpoint.is_none() {
            return Ok(());
        }
        self.store
            .commit(Commit {
                documents,
                checkpoint,
                ..Commit::default()
            })
            .await?;
        if let Some(last) = events.last() {
            self.remember(case, last.position);
        }
        Ok(())
    }

    /// Facts documents of a district with a fact in one of the statistical years the period
    /// touches (a case in two of them comes twice; the indicators count it once).
    pub async fn district_facts(
        &self,
        district: &str,
        period: crate::Period,
    ) -> Result<Vec<CaseFacts>, ReviewError> {
        let (first, last) = (
            self.policy.statistical_year_of(period.from),
            self.policy.statistical_year_of(period.to),
        );
        let mut out = Vec::new();
        for year in first..=last {
            let docs = self
                .store
                .documents(FACTS, Some(&format!("{district}:{year}")), u32::MAX)
                .await?;
            out.extend(
                docs.into_iter()
                    .filter_map(|d| serde_json::from_value(d.body).ok()),
            );
        }
        Ok(out)
    }

    /// Cases due for review in a scope (`d:<district>` or `f:<institution>`).
    pub async fn due(&self, scope: &str) -> Result<Vec<serde_json::Value>, ReviewError> {
        let docs = self.store.documents(DUE, Some(scope), u32::MAX).await?;
        Ok(docs.into_iter().map(|d| d.body).collect())
    }

    /// Records a conclusion (idempotent by request id) and refreshes the case's documents.
    pub async fn conclude(
        &self,
        case: &CaseId,
        c: Conclusion,
        reviewer: &str,
        institution: &InstitutionCode,
        district: &DistrictCode,
    ) -> Result<CaseReviewed, ReviewError> {
        let mut delays = c.delays.clone();
        delays.sort_unstable();
        delays.dedup();
        if let Some(bad) = delays.iter().find(|d| !(1..=3).contains(*d)) {
            return Err(Rejection::Field(
                "/delays".into(),
                format!("delay {bad}: each delay is 1, 2 or 3"),
            )
            .into());
        }
        if c.notes.chars().count() > 20_000 {
            return Err(
                Rejection::Field("/notes".into(), "at most 20,000 characters".into()).into(),
            );
        }
        let request_id = c.request_id.unwrap_or_else(|| {
            let mut h = Sha256::new();
            h.update(reviewer.as_bytes());
            h.update([0]);
            h.update(
                serde_json::to_vec(&(
                    &c.level,
                    &c.avoidability,
                    &delays,
                    &c.notes,
                    c.pack_last_position,
                ))
                .unwrap_or_default(),
            );
            let d = h.finalize();
            Uuid::from_slice(&d[..16]).unwrap_or_default()
        });
        let stream =
            StreamId::of("review", case).map_err(|e| Rejection::Field("".into(), e.to_string()))?;
        let event_id = derive_event_id(
            Uuid::new_v5(&Uuid::NAMESPACE_OID, case.as_str().as_bytes()),
            &format!("CaseReviewed/{request_id}"),
        );
        // A retry of the same request: answer with what is stored, if it is the same.
        let existing = self.store.read_whole_stream(&stream).await?;
        if let Some(e) = existing.iter().find(|e| e.event_id == event_id) {
            let stored: CaseReviewed = e.decode()?;
            let same = stored.level == c.level
                && stored.avoidability == c.avoidability
                && stored.delays == delays
                && stored.notes == c.notes
                && stored.reviewer == reviewer;
            return if same {
                Ok(stored)
            } else {
                Err(Rejection::Conflict.into())
            };
        }
        let events = self.case_events(case).await?;
        let facts = CaseFacts::fold(case.as_str(), &events);
        if facts.residence.is_none() {
            return Err(Rejection::NotFound.into());
        }
        let now = self.store.clock().now();
        let reviewed = CaseReviewed {
            review_id: request_id,
            case_id: case.clone(),
            level: c.level,
            avoidability: c.avoidability,
            delays,
            notes: c.notes,
            reviewer: reviewer.to_owned(),
            reviewer_institution: institution.clone(),
            reviewer_district: district.clone(),
            pack_last_position: c.pack_last_position,
            reviewed_at: now,
        };
        let metadata = Metadata {
            actor: Some(reviewer.to_owned()),
            institution: Some(institution.clone()),
            district: facts
                .residence
                .as_deref()
                .and_then(|d| DistrictCode::parse(d).ok()),
            ..Metadata::system(COMPONENT)
        };
        let event = NewEvent::from_domain(
            event_id,
            stream.clone(),
            Some(case.clone()),
            &reviewed,
            metadata,
            now,
        )?;
        // The documents, with the new conclusion folded in, in the same transaction.
        let mut after = facts;
        after.reviews.push(crate::facts::ReviewFact {
            review_id: reviewed.review_id,
            level: serde_json::to_value(reviewed.level)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            avoidability: reviewed.avoidability.as_str().to_owned(),
            delays: reviewed.delays.clone(),
            at: now,
        });
        let mut commit = Commit::append(stream, ExpectedVersion::Any, vec![event]);
        commit.documents = self.documents(&after);
        self.store.commit(commit).await?;
        tracing::info!(case_id = %case, review_id = %reviewed.review_id, "case reviewed");
        Ok(reviewed)
    }

    /// Rebuilds every review document from the log in one pass and moves the checkpoint to
    /// the replayed head (`referral replay` rebuilds them together with the other
    /// components' read models through [`crate::replay::replayer`]). `progress(position,
    /// head)` after each page. Returns the cases rebuilt. Idempotent.
    pub async fn rebuild(
        &self,
        progress: impl FnMut(i64, i64),
    ) -> Result<usize, eventstore::subscription::SubscriptionError> {
        let parts: Vec<Box<dyn eventstore::rebuild::Rebuild>> =
            vec![Box::new(crate::replay::replayer(self.policy.clone()))];
        let rebuilt = eventstore::rebuild::rebuild(&self.store, parts, progress).await?;
        Ok(rebuilt.states[0])
    }
}

impl<S: EventStore> Handler for ReviewService<S> {
    async fn handle(&self, event: &Envelope) -> Result<(), HandlerError> {
        let Some(case) = event.case_id.clone() else {
            return Ok(());
        };
        if self
            .written_up_to(&case)
            .is_some_and(|p| p >= event.position)
        {
            return Ok(());
        }
        self.refresh(&case, Some(event.position)).await?;
        Ok(())
    }
}

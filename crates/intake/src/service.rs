//! The thin IO shell of intake: validated cards and outcomes become commits to the event
//! store; case views are read back.
//!
//! What it owns: the submit loop (read her state, decide with [`crate::case`], append the
//! card and the link event with an expected version on `woman-<key>`, retry on a conflict),
//! idempotency (the same card again answers as the first time and stores nothing; the same
//! card id with other content is a 409 naming both content hashes), and the mapping of
//! rejections and store errors to [`ApiError`]. It logs case and event ids, never personal
//! data. It does not parse HTTP (see [`crate::http`]) and holds no rule of its own.

use crate::case::{self, CardDecision, LinkEvent, OutcomeDecision, WomanState, WOMEN};
use crate::validate::{self, Context, Rejection, ValidCard, ValidOutcome};
use crate::view;
use crate::wire::{
    BatchItem, BatchResponse, CardAccepted, CaseView, OutcomeAccepted, OutcomeRequest,
    RiskCardRequest,
};
use contracts::{
    CaseId, Clock, Envelope, Metadata, NewEvent, PregnancyOutcomeReported, RiskCardSubmitted,
    StreamId,
};
use edge::{ApiError, Principal, Role};
use eventstore::{Append, Commit, DocumentOp, EventStore, ExpectedVersion, Store, StoreError};
use futures::StreamExt;
use reference::ReferenceData;
use scoring::Catalogues;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

/// How often a submit re-decides after losing a race on her stream.
const MAX_ATTEMPTS: usize = 64;
/// The component name in event metadata.
pub const COMPONENT: &str = "intake";

/// What intake needs: the store, the clock, the reference data and the catalogues.
#[derive(Clone)]
pub struct IntakeState {
    /// The event store.
    pub store: Store,
    /// The clock (never the system time directly).
    pub clock: Arc<dyn Clock>,
    /// Districts and institutions.
    pub reference: Arc<ReferenceData>,
    /// Finding codes and plausible ranges.
    pub catalogues: Arc<Catalogues>,
}

impl axum::extract::FromRef<IntakeState> for Store {
    fn from_ref(s: &IntakeState) -> Store {
        s.store.clone()
    }
}

fn store_error(e: StoreError) -> ApiError {
    store_error_ref(&e)
}

fn store_error_ref(e: &StoreError) -> ApiError {
    if e.is_transient() {
        ApiError::unavailable(e)
    } else {
        ApiError::internal(e)
    }
}

fn rejection(r: Rejection) -> ApiError {
    match r {
        Rejection::Invalid(errors) => ApiError::invalid(errors),
        Rejection::Forbidden(detail) => ApiError::forbidden(detail),
    }
}

fn require_reporter(principal: &Principal) -> Result<(), ApiError> {
    match principal.role {
        Role::Hospital | Role::RescueCentre => Ok(()),
        _ => Err(ApiError::forbidden(
            "only hospital and rescue-centre keys report cards and outcomes",
        )),
    }
}

/// SHA-256 (hex) of a payload without the fields the service adds (`case_id`,
/// `received_at`): the content a hospital sent, for comparing resubmissions.
fn content_hash(payload: &serde_json::Value) -> String {
    let mut v = payload.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("case_id");
        o.remove("received_at");
    }
    // serde_json's map is ordered by key: the text is canonical.
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

fn event_payload(
    card: &ValidCard,
    case_id: CaseId,
    received_at: time::OffsetDateTime,
) -> RiskCardSubmitted {
    RiskCardSubmitted {
        card_id: card.card_id.clone(),
        case_id,
        institution: card.institution.clone(),
        institution_district: card.institution_district.clone(),
        assessor: card.assessor.clone(),
        assessed_at: card.assessed_at,
        received_at,
        woman: card.woman.clone(),
        pregnancy: card.pregnancy.clone(),
        measurements: card.measurements.clone(),
        findings: card.findings.clone(),
        declared_colour: card.declared_colour,
        critical: card.critical,
        note: card.note.clone(),
    }
}

fn metadata(principal: &Principal, card: &ValidCard, correlation: Uuid) -> Metadata {
    Metadata {
        actor: Some(principal.actor()),
        institution: Some(principal.institution.clone()),
        district: Some(card.woman.residence_district.clone()),
        causation_id: None,
        correlation_id: Some(correlation),
        component: COMPONENT.into(),
        trace: None,
    }
}

fn build<E: contracts::DomainEvent>(
    id: Uuid,
    stream: &StreamId,
    case_id: &CaseId,
    event: &E,
    meta: Metadata,
    at: time::OffsetDateTime,
) -> Result<NewEvent, ApiError> {
    NewEvent::from_domain(id, stream.clone(), Some(case_id.clone()), event, meta, at)
        .map_err(|e| ApiError::internal(&e))
}

async fn woman_state(store: &Store, key: &str) -> Result<Option<WomanState>, ApiError> {
    match store.document(WOMEN, key).await.map_err(store_error)? {
        None => Ok(None),
        Some(d) => serde_json::from_value(d.body)
            .map(Some)
            .map_err(|e| ApiError::internal(&format!("woman state document: {e}"))),
    }
}

async fn first_event(store: &Store, stream: &StreamId) -> Result<Option<Envelope>, ApiError> {
    Ok(store
        .read_stream(stream, 1, 1)
        .await
        .map_err(store_error)?
        .into_iter()
        .next())
}

/// The answer to a card stored before: the same answer when the content is the same, 409
/// naming both hashes when it is not.
fn answer_stored(
    stored: &Envelope,
    card: &ValidCard,
    new_payload: &serde_json::Value,
) -> Result<CardAccepted, ApiError> {
    let stored_hash = content_hash(&stored.payload);
    let new_hash = content_hash(new_payload);
    let case_id = stored
        .case_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if stored_hash != new_hash {
        return Err(ApiError::conflict(
            "a card with this card_id was already accepted with other content; give a new \
             card a new card_id",
        )
        .with_extra(serde_json::json!({
            "card_id": card.card_id,
            "stored_content_sha256": stored_hash,
            "submitted_content_sha256": new_hash,
        })));
    }
    Ok(CardAccepted {
        card_id: card.card_id.clone(),
        case_id,
        event_id: stored.event_id.to_string(),
        warnings: card.warnings.clone(),
    })
}

/// Validates and stores one card for `principal`. The same card again answers as the first
/// time and stores nothing.
pub async fn submit_card(
    state: &IntakeState,
    principal: &Principal,
    req: &RiskCardRequest,
) -> Result<CardAccepted, ApiError> {
    require_reporter(principal)?;
    let now = state.clock.now();
    let ctx = Context {
        reference: &state.reference,
        catalogues: &state.catalogues,
        now,
        caller: &principal.institution,
    };
    let card = validate::validate_card(req, &ctx).map_err(rejection)?;
    store_card(state, principal, &card).await
}

/// What storing one card takes, decided from the store's current state.
enum Prepared {
    /// Stored before: the answer of the first time.
    Answered(CardAccepted),
    /// A commit to make (expected versions inside), and the answer once it is made.
    Pending(Box<Commit>, CardAccepted, String),
}

/// Reads what the card needs (was it stored? her open case and stream version) and builds
/// the commit that stores it.
async fn prepare_card(
    state: &IntakeState,
    principal: &Principal,
    card: &ValidCard,
) -> Result<Prepared, ApiError> {
    let store = &state.store;
    let event_id = case::card_event_id(&card.institution, &card.card_id);
    let card_stream = case::card_stream(&card.institution, &card.card_id);
    let key = card.woman_key();
    let woman_stream = case::woman_stream(&key);
    let received_at = state.clock.now();
    if let Some(stored) = first_event(store, &card_stream).await? {
        let probe = serde_json::to_value(event_payload(
            card,
            stored
                .case_id
                .clone()
                .unwrap_or_else(|| case::new_case_id(&key, event_id)),
            received_at,
        ))
        .map_err(|e| ApiError::internal(&e))?;
        return Ok(Prepared::Answered(answer_stored(&stored, card, &probe)?));
    }
    let woman = woman_state(store, &key).await?;
    let decision = case::decide_card(woman.as_ref(), &key, event_id);
    let case_id = decision.case_id().clone();
    let meta = metadata(principal, card, event_id);
    let payload = event_payload(card, case_id.clone(), received_at);
    let card_event = build(
        event_id,
        &card_stream,
        &case_id,
        &payload,
        meta.clone(),
        card.assessed_at,
    )?;
    let (link_id, link) = case::card_link_event(&decision, event_id);
    let link_event = match &link {
        LinkEvent::Opened(e) => build(link_id, &woman_stream, &case_id, e, meta, received_at)?,
        LinkEvent::Joined(e) => build(link_id, &woman_stream, &case_id, e, meta, received_at)?,
        LinkEvent::Closed(e) => build(link_id, &woman_stream, &case_id, e, meta, received_at)?,
    };
    let expected = woman.as_ref().map_or(ExpectedVersion::NoStream, |w| {
        ExpectedVersion::Exact(w.version)
    });
    let next_version = woman.as_ref().map_or(1, |w| w.version + 1);
    let commit = Commit {
        appends: vec![
            Append {
                stream_id: card_stream,
                expected: ExpectedVersion::NoStream,
                events: vec![card_event],
            },
            Append {
                stream_id: woman_stream,
                expected,
                events: vec![link_event],
            },
        ],
        documents: vec![DocumentOp::Put {
            collection: WOMEN.into(),
            key: key.clone(),
            scope: card.woman.residence_district.to_string(),
            body: serde_json::to_value(case::next_state(Some(case_id.clone()), next_version))
                .map_err(|e| ApiError::internal(&e))?,
        }],
        ..Commit::default()
    };
    tracing::debug!(case_id = %case_id, event_id = %event_id, opened = matches!(decision, CardDecision::Open(_)), "card prepared");
    let accepted = CardAccepted {
        card_id: card.card_id.clone(),
        case_id: case_id.to_string(),
        event_id: event_id.to_string(),
        warnings: card.warnings.clone(),
    };
    Ok(Prepared::Pending(Box::new(commit), accepted, key))
}

/// Stores a validated card (see [`submit_card`]).
pub async fn store_card(
    state: &IntakeState,
    principal: &Principal,
    card: &ValidCard,
) -> Result<CardAccepted, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let (commit, accepted) = match prepare_card(state, principal, card).await? {
            Prepared::Answered(answer) => {
                tracing::info!(case_id = %answer.case_id, event_id = %answer.event_id, "card resubmitted; nothing stored");
                return Ok(answer);
            }
            Prepared::Pending(commit, accepted, _) => (commit, accepted),
        };
        match state.store.commit(*commit).await {
            // A concurrent identical submission stored it first: answer from the store.
            Ok(outcome) if outcome.appends.iter().all(|a| a.already_stored) => continue,
            Ok(_) => {
                tracing::info!(case_id = %accepted.case_id, event_id = %accepted.event_id, "card accepted");
                return Ok(accepted);
            }
            // Another card for her (or this card) was stored first: decide again.
            Err(
                StoreError::WrongExpectedVersion { .. } | StoreError::IdempotencyConflict { .. },
            ) => {
                yield_once().await;
                continue;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::unavailable(
        &"too many concurrent cards for one woman",
    ))
}

/// How many cards of a batch share one transaction.
const CARDS_PER_COMMIT: usize = 100;

/// How many cards of a batch are prepared (their reads) at once.
const PREPARED_AT_ONCE: usize = 8;

/// Stores validated cards, many per transaction: each card's commit is prepared as for a
/// single card, and up to [`CARDS_PER_COMMIT`] cards of distinct women are committed
/// together. When such a group loses any race (another card for one of them, or the same
/// card from a concurrent submission), its cards are stored one by one instead, which
/// decides again; a second card for the same woman in one batch also goes one by one, after
/// the group. The answers are those of storing each card alone.
async fn store_cards(
    state: &IntakeState,
    principal: &Principal,
    cards: &[&ValidCard],
) -> Vec<Result<CardAccepted, ApiError>> {
    let mut results: Vec<Option<Result<CardAccepted, ApiError>>> = vec![None; cards.len()];
    let mut later = Vec::new();
    let mut group: Vec<(usize, Commit, CardAccepted)> = Vec::new();
    let mut women = std::collections::HashSet::new();
    // The reads of several cards at once (in order): nothing is stored before they all
    // are, so reading them together decides exactly what reading them in turn would.
    let reads: Vec<_> = cards
        .iter()
        .map(|card| prepare_card(state, principal, card))
        .collect();
    let prepared: Vec<_> = futures::stream::iter(reads)
        .buffered(PREPARED_AT_ONCE)
        .collect()
        .await;
    for (i, prepared) in prepared.into_iter().enumerate() {
        match prepared {
            Ok(Prepared::Answered(a)) => results[i] = Some(Ok(a)),
            Ok(Prepared::Pending(commit, accepted, key)) => {
                if women.insert(key) {
                    group.push((i, *commit, accepted));
                } else {
                    later.push(i);
                }
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    for chunk in group.chunks(CARDS_PER_COMMIT) {
        let mut commit = Commit::default();
        for (_, c, _) in chunk {
            commit.merge(c.clone());
        }
        match state.store.commit(commit).await {
            Ok(outcome) if !outcome.appends.iter().any(|a| a.already_stored) => {
                for (i, _, accepted) in chunk {
                    results[*i] = Some(Ok(accepted.clone()));
                }
            }
            Ok(_)
            | Err(
                StoreError::WrongExpectedVersion { .. } | StoreError::IdempotencyConflict { .. },
            ) => later.extend(chunk.iter().map(|(i, _, _)| *i)),
            Err(e) => {
                for (i, _, _) in chunk {
                    results[*i] = Some(Err(store_error_ref(&e)));
                }
            }
        }
    }
    later.sort_unstable();
    for i in later {
        results[i] = Some(store_card(state, principal, cards[i]).await);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError::internal(&"card not processed"))))
        .collect()
}

/// Lets other tasks run between attempts (no runtime dependency: one cooperative yield).
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

/// One result of a batch item.
fn item(index: usize, row: Option<usize>, result: Result<CardAccepted, ApiError>) -> BatchItem {
    match result {
        Ok(a) => BatchItem {
            index,
            row,
            status: 202,
            accepted: Some(a),
            problem: None,
        },
        Err(e) => BatchItem {
            index,
            row,
            status: e.status().as_u16(),
            accepted: None,
            problem: Some(e.problem()),
        },
    }
}

fn summarise(results: Vec<BatchItem>) -> BatchResponse {
    let accepted = results.iter().filter(|r| r.status == 202).count();
    BatchResponse {
        accepted,
        rejected: results.len() - accepted,
        results,
    }
}

/// Stores each card of a batch on its own (one result per card, in order). Each element is
/// parsed here, so one malformed card does not refuse the others.
pub async fn submit_batch(
    state: &IntakeState,
    principal: &Principal,
    cards: &[serde_json::Value],
) -> Result<BatchResponse, ApiError> {
    require_reporter(principal)?;
    let ctx = Context {
        reference: &state.reference,
        catalogues: &state.catalogues,
        now: state.clock.now(),
        caller: &principal.institution,
    };
    let mut checked: Vec<Result<ValidCard, ApiError>> = Vec::with_capacity(cards.len());
    for value in cards {
        let parsed = serde_json::to_vec(value)
            .map_err(|e| ApiError::internal(&e))
            .and_then(|bytes| {
                edge::parse_json::<RiskCardRequest>(&bytes).map_err(ApiError::malformed)
            });
        checked.push(parsed.and_then(|req| validate::validate_card(&req, &ctx).map_err(rejection)));
    }
    let valid: Vec<&ValidCard> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
    let mut stored = store_cards(state, principal, &valid).await.into_iter();
    let mut results = Vec::with_capacity(cards.len());
    for (index, c) in checked.iter().enumerate() {
        let result = match c {
            Ok(_) => stored
                .next()
                .unwrap_or_else(|| Err(ApiError::internal(&"card not processed"))),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = &result {
            if e.status().is_server_error() {
                return Err(e.clone());
            }
        }
        results.push(item(index, None, result));
    }
    Ok(summarise(results))
}

/// Imports a CSV file of cards (see [`crate::csv_import`] for the columns): one result per
/// row, with its row number. Re-importing the same file stores nothing new.
pub async fn import_csv(
    state: &IntakeState,
    principal: &Principal,
    bytes: &[u8],
) -> Result<BatchResponse, ApiError> {
    import_csv_with_progress(state, principal, bytes, &mut |_, _| {}).await
}

/// [`import_csv`], calling `progress(done, total)` after each row (for a progress bar).
pub async fn import_csv_with_progress(
    state: &IntakeState,
    principal: &Principal,
    bytes: &[u8],
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<BatchResponse, ApiError> {
    require_reporter(principal)?;
    let rows = crate::csv_import::parse_csv(bytes).map_err(ApiError::malformed)?;
    let total = rows.len();
    let mut results = Vec::with_capacity(total);
    for (index, row) in rows.into_iter().enumerate() {
        let result = match row.card {
            Ok(req) => submit_card(state, principal, &req).await,
            Err(errors) => Err(ApiError::invalid(errors)),
        };
        if let Err(e) = &result {
            if e.status().is_server_error() {
                return Err(e.clone());
            }
        }
        results.push(item(index, Some(row.row), result));
        progress(index + 1, total);
    }
    Ok(summarise(results))
}

async fn case_events(store: &Store, case: &CaseId) -> Result<Vec<Envelope>, ApiError> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_case(case, after, 500)
            .await
            .map_err(store_error)?;
        let done = page.len() < 500;
        if let Some(last) = page.last() {
            after = last.position;
        }
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Validates and stores a pregnancy outcome, closing the case. The same report again
/// answers as the first time; an outcome for a case that is not open is a 409.
pub async fn submit_outcome(
    state: &IntakeState,
    principal: &Principal,
    req: &OutcomeRequest,
) -> Result<OutcomeAccepted, ApiError> {
    require_reporter(principal)?;
    let ctx = Context {
        reference: &state.reference,
        catalogues: &state.catalogues,
        now: state.clock.now(),
        caller: &principal.institution,
    };
    let outcome = validate::validate_outcome(req, &ctx).map_err(rejection)?;
    store_outcome(state, principal, &outcome).await
}

fn outcome_payload(o: &ValidOutcome) -> PregnancyOutcomeReported {
    PregnancyOutcomeReported {
        report_id: o.report_id.clone(),
        case_id: o.case_id.clone(),
        institution: o.institution.clone(),
        outcome: o.outcome,
        occurred_at: o.occurred_at,
        place: o.place.clone(),
        in_hospital: o.in_hospital,
        discharged_at: o.discharged_at,
        note: o.note.clone(),
    }
}

/// Stores a validated outcome (see [`submit_outcome`]).
pub async fn store_outcome(
    state: &IntakeState,
    principal: &Principal,
    o: &ValidOutcome,
) -> Result<OutcomeAccepted, ApiError> {
    let store = &state.store;
    let event_id = case::outcome_event_id(&o.institution, &o.report_id);
    let stream = case::outcome_stream(&o.institution, &o.report_id);
    let payload = outcome_payload(o);
    let value = serde_json::to_value(&payload).map_err(|e| ApiError::internal(&e))?;
    let accepted = OutcomeAccepted {
        report_id: o.report_id.clone(),
        case_id: o.case_id.to_string(),
        event_id: event_id.to_string(),
    };
    // The case's cards tell whose case it is (her key) and where she lives.
    let events = case_events(store, &o.case_id).await?;
    let Some(card) = events
        .iter()
        .rev()
        .find(|e| e.is::<RiskCardSubmitted>())
        .and_then(|e| e.decode::<RiskCardSubmitted>().ok())
    else {
        return Err(ApiError::not_found().with_detail("no such case"));
    };
    let key = validate::woman_key(card.woman.id_type, &card.woman.id_number);
    let woman_stream = case::woman_stream(&key);
    for _ in 0..MAX_ATTEMPTS {
        if let Some(stored) = first_event(store, &stream).await? {
            let (a, b) = (content_hash(&stored.payload), content_hash(&value));
            if a != b || stored.case_id.as_ref() != Some(&o.case_id) {
                return Err(ApiError::conflict(
                    "an outcome with this report_id was already accepted with other content",
                )
                .with_extra(serde_json::json!({
                    "report_id": o.report_id,
                    "stored_content_sha256": a,
                    "submitted_content_sha256": b,
                })));
            }
            return Ok(accepted);
        }
        let woman = woman_state(store, &key).await?;
        let OutcomeDecision::Close {
            event_id: closed_id,
            event: closed,
        } = case::decide_outcome(woman.as_ref(), &o.case_id, event_id)
        else {
            return Err(ApiError::conflict(
                "the case is not open: an outcome was already reported for it",
            ));
        };
        let version = woman.as_ref().map_or(0, |w| w.version);
        let meta = Metadata {
            actor: Some(principal.actor()),
            institution: Some(principal.institution.clone()),
            district: Some(card.woman.residence_district.clone()),
            causation_id: None,
            correlation_id: Some(event_id),
            component: COMPONENT.into(),
            trace: None,
        };
        let now = state.clock.now();
        let commit = Commit {
            appends: vec![
                Append {
                    stream_id: stream.clone(),
                    expected: ExpectedVersion::NoStream,
                    events: vec![build(
                        event_id,
                        &stream,
                        &o.case_id,
                        &payload,
                        meta.clone(),
                        o.occurred_at,
                    )?],
                },
                Append {
                    stream_id: woman_stream.clone(),
                    expected: ExpectedVersion::Exact(version),
                    events: vec![build(
                        closed_id,
                        &woman_stream,
                        &o.case_id,
                        &closed,
                        meta,
                        now,
                    )?],
                },
            ],
            documents: vec![DocumentOp::Put {
                collection: WOMEN.into(),
                key: key.clone(),
                scope: card.woman.residence_district.to_string(),
                body: serde_json::to_value(case::next_state(None, version + 1))
                    .map_err(|e| ApiError::internal(&e))?,
            }],
            ..Commit::default()
        };
        match store.commit(commit).await {
            Ok(r) if r.appends.iter().all(|a| a.already_stored) => continue,
            Ok(_) => {
                tracing::info!(case_id = %o.case_id, event_id = %event_id, "outcome accepted; case closed");
                return Ok(accepted);
            }
            Err(
                StoreError::WrongExpectedVersion { .. } | StoreError::IdempotencyConflict { .. },
            ) => {
                yield_once().await;
                continue;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::unavailable(
        &"too many concurrent changes to one case",
    ))
}

/// The case view, if `principal` may see it; otherwise (and when there is no such case) 404.
pub async fn case_view(
    state: &IntakeState,
    principal: &Principal,
    case_id: &str,
) -> Result<CaseView, ApiError> {
    let case = CaseId::parse(case_id).map_err(|_| ApiError::not_found())?;
    let events = case_events(&state.store, &case).await?;
    let folded = view::fold(case.as_str(), &events).ok_or_else(ApiError::not_found)?;
    if !view::may_see(principal, &folded) {
        tracing::info!(case_id = %case, key_id = %principal.key_id, "case view refused (404)");
        return Err(ApiError::not_found());
    }
    Ok(folded.view)
}

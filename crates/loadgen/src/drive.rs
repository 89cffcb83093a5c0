//! Driving the service over HTTP: API keys for every reporting institution and office,
//! single cards at a fixed rate or batches as fast as possible, retries with the same
//! `card_id` (idempotent) across faults, and the bookkeeping of what was accepted.

use crate::client::Api;
use anyhow::{Context, Result};
use edge::Role;
use eventstore::Store;
use reference::{InstitutionKind, ReferenceData};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use synth::{CardKind, SynthCard};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Bearer keys: one per reporting institution, one per office (by its district code).
#[derive(Clone, Default)]
pub struct Keys {
    /// Institution code → key.
    pub reporters: HashMap<String, String>,
    /// Office district code → key (district and city offices).
    pub offices: HashMap<String, String>,
}

/// Issues keys straight into the store (as `referral admin key create` does).
pub async fn issue_keys(store: &Store, reference: &ReferenceData) -> Result<Keys> {
    let mut keys = Keys::default();
    for i in reference.institutions() {
        let role = match i.kind {
            InstitutionKind::Hospital => Role::Hospital,
            InstitutionKind::RescueCentre => Role::RescueCentre,
            InstitutionKind::DistrictOffice => Role::DistrictOffice,
            InstitutionKind::CityOffice => Role::CityOffice,
            InstitutionKind::ProvinceOffice => continue,
        };
        let (_, key) = edge::issue_key(store, role, i.code.clone(), i.district.clone()).await?;
        match role {
            Role::DistrictOffice | Role::CityOffice => {
                keys.offices.insert(i.district.as_str().to_owned(), key);
            }
            _ => {
                keys.reporters.insert(i.code.as_str().to_owned(), key);
            }
        }
    }
    Ok(keys)
}

/// One card the service accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The stored `RiskCardSubmitted` id.
    pub event_id: Uuid,
    /// Its case.
    pub case_id: String,
    /// The card's assessment time (unix ns), to match alerts.
    pub assessed_ns: i128,
    /// When the first attempt was sent.
    pub sent: Instant,
    /// When the accepting answer arrived.
    pub answered: Instant,
    /// Whether it is a duplicate of an earlier card.
    pub duplicate: bool,
}

/// What a drive did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Accepted cards (valid and duplicates), in order of acceptance.
    pub accepted: Vec<Accepted>,
    /// Invalid cards refused as they should be.
    pub refused: usize,
    /// Answers that were wrong (an invalid card accepted, a valid one refused, a duplicate
    /// with another event id): each described, no personal data.
    pub wrong: Vec<String>,
    /// Attempts that failed (connection refused, 5xx) and were retried.
    pub retries: usize,
    /// Cards given up on (retry budget or time exhausted).
    pub given_up: usize,
}

impl Outcome {
    /// Event ids of every distinct accepted card.
    pub fn accepted_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.accepted.iter().map(|a| a.event_id).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// How to drive.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// Cards per second for single POSTs; `None`: as fast as possible.
    pub rate: Option<f64>,
    /// 1: `POST /v1/risk-cards` each; more: `:batch` of up to this many.
    pub batch: usize,
    /// Requests in flight at most.
    pub in_flight: usize,
    /// Stop sending new cards after this long.
    pub max: Duration,
    /// How long one card is retried before it is given up.
    pub retry_for: Duration,
}

fn assessed_ns(body: &Value) -> i128 {
    body["assessed_at"]
        .as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map_or(0, OffsetDateTime::unix_timestamp_nanos)
}

#[derive(Default)]
struct Shared {
    out: Outcome,
    duplicates_of: HashMap<(String, String), Uuid>,
}

fn record(shared: &Mutex<Shared>, card: &SynthCard, sent: Instant, status: u16, answer: &Value) {
    let mut s = shared.lock().expect("not poisoned");
    match (card.kind, status) {
        (CardKind::Invalid(_), 400) => s.out.refused += 1,
        (CardKind::Invalid(reason), _) => s.out.wrong.push(format!(
            "{}: invalid ({reason:?}) answered {status}",
            card.card_id
        )),
        (_, 202) | (_, 200) => {
            let event_id = answer["event_id"]
                .as_str()
                .and_then(|e| Uuid::parse_str(e).ok());
            let case_id = answer["case_id"].as_str().unwrap_or_default().to_owned();
            let Some(event_id) = event_id else {
                s.out
                    .wrong
                    .push(format!("{}: accepted without an event id", card.card_id));
                return;
            };
            let key = (card.institution.clone(), card.card_id.clone());
            let duplicate = matches!(card.kind, CardKind::Duplicate);
            if let Some(first) = s.duplicates_of.get(&key) {
                if *first != event_id {
                    s.out.wrong.push(format!(
                        "{}: resubmission stored as another event",
                        card.card_id
                    ));
                }
            } else {
                s.duplicates_of.insert(key, event_id);
            }
            s.out.accepted.push(Accepted {
                event_id,
                case_id,
                assessed_ns: assessed_ns(&card.body),
                sent,
                answered: Instant::now(),
                duplicate,
            });
        }
        (_, status) => s
            .out
            .wrong
            .push(format!("{}: valid card answered {status}", card.card_id)),
    }
}

fn retryable(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Sends `cards` as configured; returns when all are answered (or given up) or `max` passed.
pub async fn drive(
    api: &Api,
    keys: &Keys,
    cards: Vec<SynthCard>,
    cfg: &DriveConfig,
) -> Result<Outcome> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(cfg.in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    if cfg.batch <= 1 {
        let interval = cfg
            .rate
            .map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
        for (i, card) in cards.into_iter().enumerate() {
            if let Some(iv) = interval {
                let at = started + iv * i as u32;
                tokio::time::sleep_until(at.into()).await;
            }
            if started.elapsed() > cfg.max {
                break;
            }
            let permit = permits.clone().acquire_owned().await?;
            let key = keys
                .reporters
                .get(&card.institution)
                .cloned()
                .context("a key for the card's institution")?;
            let (api, shared, retry_for) = (api.clone(), shared.clone(), cfg.retry_for);
            tasks.spawn(async move {
                let sent = Instant::now();
                loop {
                    match api
                        .call("POST", "/v1/risk-cards", &key, Some(&card.body))
                        .await
                    {
                        Ok((status, answer)) if !retryable(status) => {
                            record(&shared, &card, sent, status, &answer);
                            break;
                        }
                        _ if sent.elapsed() > retry_for => {
                            shared.lock().expect("not poisoned").out.given_up += 1;
                            break;
                        }
                        _ => {
                            shared.lock().expect("not poisoned").out.retries += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
    } else {
        // Group by institution (a batch is one institution's), keep the order within each.
        let mut by_inst: HashMap<String, Vec<SynthCard>> = HashMap::new();
        let mut order = Vec::new();
        for c in cards {
            if !by_inst.contains_key(&c.institution) {
                order.push(c.institution.clone());
            }
            by_inst.entry(c.institution.clone()).or_default().push(c);
        }
        let mut batches: Vec<Vec<SynthCard>> = Vec::new();
        let mut iters: Vec<std::vec::IntoIter<SynthCard>> = order
            .iter()
            .filter_map(|i| by_inst.remove(i))
            .map(Vec::into_iter)
            .collect();
        loop {
            let mut any = false;
            for it in &mut iters {
                let b: Vec<SynthCard> = it.by_ref().take(cfg.batch).collect();
                if !b.is_empty() {
                    any = true;
                    batches.push(b);
                }
            }
            if !any {
                break;
            }
        }
        for batch in batches {
            if started.elapsed() > cfg.max {
                break;
            }
            let permit = permits.clone().acquire_owned().await?;
            let key = keys
                .reporters
                .get(&batch[0].institution)
                .cloned()
                .context("a key for the batch's institution")?;
            let (api, shared, retry_for) = (api.clone(), shared.clone(), cfg.retry_for);
            tasks.spawn(async move {
                let body =
                    json!({ "cards": batch.iter().map(|c| c.body.clone()).collect::<Vec<_>>() });
                let sent = Instant::now();
                loop {
                    match api
                        .call("POST", "/v1/risk-cards:batch", &key, Some(&body))
                        .await
                    {
                        Ok((status, answer)) if (200..300).contains(&status) => {
                            let results = answer["results"].as_array().cloned().unwrap_or_default();
                            let mut again = false;
                            for item in &results {
                                let i = item["index"].as_u64().unwrap_or(u64::MAX) as usize;
                                let status = item["status"].as_u64().unwrap_or(0) as u16;
                                if retryable(status) {
                                    again = true;
                                    continue;
                                }
                                if let Some(card) = batch.get(i) {
                                    let accepted =
                                        item.get("accepted").cloned().unwrap_or(Value::Null);
                                    record(&shared, card, sent, status, &accepted);
                                }
                            }
                            if !again || results.is_empty() {
                                break;
                            }
                            // Items that failed for a transient reason: the whole batch
                            // again (accepted ones answer the same, nothing new stored).
                            shared.lock().expect("not poisoned").out.retries += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        _ if sent.elapsed() > retry_for => {
                            shared.lock().expect("not poisoned").out.given_up += batch.len();
                            break;
                        }
                        _ => {
                            shared.lock().expect("not poisoned").out.retries += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
    }
    while tasks.join_next().await.is_some() {}
    let shared = Arc::try_unwrap(shared)
        .ok()
        .context("every task finished")?
        .into_inner()
        .expect("not poisoned");
    Ok(shared.out)
}

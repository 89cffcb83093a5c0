//! The replay figure: fill a store quickly with a realistic log (synthetic cards graded by
//! the real scoring engine; each case's warning, follow-up and green-channel events decided
//! by those components' real pure cores; committed a few hundred cards per transaction),
//! then time the rebuild `referral replay` runs (every projection, one pass:
//! [`referral::replay::replay_all`]) beside a plain sequential read of the same `events`
//! table with sqlx.
//!
//! What it does not: go through HTTP or NATS (that is [`crate::run`]); arm deadlines or write
//! read models while loading (the rebuild writes them).

use anyhow::{Context, Result};
use contracts::{
    CaseId, Colour, DistrictCode, Envelope, InstitutionCode, Metadata, NewEvent, StreamId,
};
use eventstore::{Append, Commit, EventStore, ExpectedVersion, Store};
use futures::TryStreamExt;
use reference::ReferenceData;
use scoring::{Catalogues, Policy, RiskAssessed};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use uuid::Uuid;
use warning::core::{on_assessed, CaseState};

const NS: Uuid = Uuid::from_u128(0x4c6f_6164_6765_6e00_0000_0000_0000_0001);

fn date(v: &Value) -> Option<Date> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(v.as_str()?, f).ok()
}

/// Grades a synthetic card body with the real engine (a load helper; intake is not involved).
fn assess(
    body: &Value,
    catalogues: &Catalogues,
    policy: &Policy,
) -> Result<(OffsetDateTime, scoring::Assessment)> {
    let at = OffsetDateTime::parse(body["assessed_at"].as_str().unwrap_or_default(), &Rfc3339)?;
    let m = &body["measurements"];
    let p = &body["pregnancy"];
    let card = scoring::Card {
        assessed_on: at.date(),
        findings: body["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        measurements: contracts::Measurements {
            birth_date: date(&body["woman"]["birth_date"]),
            height_cm: m["height_cm"].as_f64(),
            weight_kg: m["weight_kg"].as_f64(),
            systolic_mmhg: m["systolic_mmhg"].as_u64().map(|v| v as u16),
            diastolic_mmhg: m["diastolic_mmhg"].as_u64().map(|v| v as u16),
            hb_g_per_l: m["hb_g_per_l"].as_f64(),
            platelets_10e9_per_l: m["platelets_10e9_per_l"].as_f64(),
            gestational_weeks: p["gestational_weeks"].as_u64().map(|v| v as u8),
            gestational_days: p["gestational_days"].as_u64().map(|v| v as u8),
            fetuses: p["fetuses"].as_u64().map(|v| v as u8),
        },
        declared_colour: body["declared_colour"]
            .as_str()
            .and_then(|c| Colour::parse(c).ok()),
    };
    Ok((at, scoring::assess(&card, catalogues, policy)?))
}

/// One stream's events as the loader builds them: numbered, folded into the component's
/// state as they are made, collected for the commit.
struct StreamWriter {
    stream: StreamId,
    case: CaseId,
    version: i64,
    events: Vec<NewEvent>,
}

impl StreamWriter {
    fn new(stream: StreamId, case: &CaseId, version: i64) -> Self {
        Self {
            stream,
            case: case.clone(),
            version,
            events: Vec::new(),
        }
    }

    /// Appends one decided event (component `component`) and folds it with `evolve`.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        component: &str,
        event_id: Uuid,
        event_type: &str,
        payload: Value,
        occurred_at: OffsetDateTime,
        district: Option<DistrictCode>,
        evolve: impl FnOnce(&Envelope) -> Result<(), contracts::EnvelopeError>,
    ) -> Result<()> {
        self.version += 1;
        let mut metadata = Metadata::system(component);
        metadata.district = district;
        let event = NewEvent {
            event_id,
            stream_id: self.stream.clone(),
            case_id: Some(self.case.clone()),
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload,
            metadata,
            occurred_at,
        };
        evolve(&Envelope {
            event_id,
            stream_id: self.stream.clone(),
            version: self.version,
            position: 0,
            case_id: event.case_id.clone(),
            event_type: event.event_type.clone(),
            schema_version: 1,
            payload: event.payload.clone(),
            metadata: event.metadata.clone(),
            occurred_at,
            recorded_at: occurred_at,
        })?;
        self.events.push(event);
        Ok(())
    }

    fn append(self) -> Append {
        Append {
            stream_id: self.stream,
            expected: ExpectedVersion::Any,
            events: self.events,
        }
    }
}

/// A woman's states in the three components the loader decides for.
#[derive(Default)]
struct Woman {
    warning: CaseState,
    warning_version: i64,
    followup: followup::CaseState,
    followup_version: i64,
}

/// Appends about `target` events: per card a `RiskAssessed` and warning's decision on it;
/// follow-up's decisions on warning's `HighRiskCaseOpened` and `CaseTransferred` (her plan
/// and its scheduled calls); for a card flagged critical, the green channel escalation's
/// service would open, and then, alternately, the first centre accepting her or the
/// acceptance deadline firing and escalation moving her up the ladder. Every decision is the
/// components' own pure code. Returns the head position reached.
#[allow(clippy::too_many_arguments)]
pub async fn load(
    store: &Store,
    reference: &ReferenceData,
    catalogues: &Catalogues,
    policy: &Policy,
    escalation: &escalation::Escalation<Store>,
    target: i64,
    seed: u64,
    mut progress: impl FnMut(i64),
) -> Result<i64> {
    let mut config = synth::SynthConfig::history(seed, OffsetDateTime::now_utc());
    config.duplicate_share = 0.0;
    config.invalid_share = 0.0;
    config.active_women = 2_000;
    let mut gen = synth::Synth::new(reference, catalogues, config)?;
    let mut women: HashMap<u64, (CaseId, Woman)> = HashMap::new();
    let mut referrals = 0u64;
    let (mut head, _) = store.head().await?;
    while head < target {
        let mut appends = Vec::new();
        for _ in 0..300 {
            let card = gen.next_card();
            let (at, assessment) = assess(&card.body, catalogues, policy)?;
            let (case, woman) = women.entry(card.woman).or_insert_with(|| {
                let case = CaseId::parse(
                    Uuid::new_v5(&NS, format!("w{}", card.woman).as_bytes()).to_string(),
                )
                .expect("uuid case ids are valid");
                (case, Woman::default())
            });
            let case = case.clone();
            let card_event_id = Uuid::new_v5(&NS, format!("card/{}", card.card_id).as_bytes());
            let ra_id = contracts::derive_event_id(card_event_id, "RiskAssessed");
            let institution = InstitutionCode::parse(&card.institution)?;
            let institution_district = reference
                .institution(&institution)
                .map(|i| i.district.clone())
                .context("institution in the reference data")?;
            let home = DistrictCode::parse(&card.district)?;
            let ra = RiskAssessed {
                case_id: case.clone(),
                card_id: card.card_id.clone(),
                card_event_id,
                institution,
                institution_district,
                residence_district: home.clone(),
                assessed_at: at,
                received_at: at,
                critical: card.body["critical"].as_bool().unwrap_or(false),
                assessment,
            };
            let mut assessed = StreamWriter::new(StreamId::of("assessment", &case)?, &case, 0);
            assessed.push(
                "loadgen",
                ra_id,
                "RiskAssessed",
                serde_json::to_value(&ra)?,
                at,
                Some(home),
                |_| Ok(()),
            )?;
            appends.push(assessed.append());

            // Warning decides on the assessment.
            let decision = on_assessed(&woman.warning, &ra, ra_id, policy);
            let mut warned = StreamWriter::new(
                StreamId::of("warning", &case)?,
                &case,
                woman.warning_version,
            );
            let mut opened = Vec::new();
            for d in decision.events {
                if d.event_type == "HighRiskCaseOpened" || d.event_type == "CaseTransferred" {
                    opened.push((d.event_id, d.event_type, d.payload.clone()));
                }
                let state = &mut woman.warning;
                warned.push(
                    "warning",
                    d.event_id,
                    d.event_type,
                    d.payload,
                    d.occurred_at,
                    Some(d.district),
                    |e| state.evolve(e),
                )?;
            }
            woman.warning_version = warned.version;
            appends.push(warned.append());

            // Follow-up decides on warning's opening and transfers.
            let mut followed = StreamWriter::new(
                StreamId::of("followup", &case)?,
                &case,
                woman.followup_version,
            );
            for (cause, event_type, payload) in opened {
                let decision = if event_type == "HighRiskCaseOpened" {
                    followup::core::on_opened(
                        &woman.followup,
                        &serde_json::from_value(payload)?,
                        cause,
                        &policy.follow_up,
                    )
                } else {
                    followup::core::on_transferred(
                        &woman.followup,
                        &serde_json::from_value(payload)?,
                        cause,
                        &policy.follow_up,
                    )
                };
                for d in decision.events {
                    let state = &mut woman.followup;
                    followed.push(
                        "followup",
                        d.event_id,
                        d.event_type,
                        d.payload,
                        d.occurred_at,
                        d.district,
                        |e| state.evolve(e),
                    )?;
                }
            }
            woman.followup_version = followed.version;
            appends.push(followed.append());

            // Escalation opens a green channel for a critical card.
            if let Some(opening) = escalation.opening_for_assessment(ra_id, &ra)? {
                referrals += 1;
                appends.push(refer(
                    &case,
                    &opening,
                    escalation.timing(),
                    referrals.is_multiple_of(2),
                )?);
            }
        }
        appends.retain(|a| !a.events.is_empty());
        store
            .commit(Commit {
                appends,
                ..Commit::default()
            })
            .await?;
        head = store.head().await?.0;
        progress(head);
    }
    Ok(head)
}

/// A referral's stream: opened; then accepted by the first centre ten minutes later, or
/// (`escalate`) its acceptance deadline fired and escalation's decision on it.
fn refer(
    case: &CaseId,
    opening: &escalation::events::GreenChannelOpened,
    timing: escalation::Timing,
    escalate: bool,
) -> Result<Append> {
    use escalation::core::{on_accept, on_open, on_overdue, Decision, ReferralState};
    let mut state = ReferralState::default();
    let mut w = StreamWriter::new(
        escalation::Escalation::<Store>::stream(opening.referral_id),
        case,
        0,
    );
    let apply = |w: &mut StreamWriter, state: &mut ReferralState, d: Decision| {
        for e in d.events {
            w.push(
                "escalation",
                e.event_id,
                e.event_type,
                e.payload,
                e.occurred_at,
                Some(e.district),
                |env| state.evolve(env),
            )?;
        }
        anyhow::Ok(())
    };
    let opened = on_open(&state, opening);
    let deadline = opened.arm.first().cloned();
    apply(&mut w, &mut state, opened)?;
    match deadline {
        Some(fired) if escalate => {
            let overdue: escalation::events::ReferralAcceptanceOverdue =
                serde_json::from_value(fired.event.payload.clone())?;
            let cause = fired.event.event_id;
            apply(
                &mut w,
                &mut state,
                Decision {
                    events: vec![fired.event],
                    ..Decision::default()
                },
            )?;
            let d = on_overdue(&state, &overdue, cause, fired.due_at, timing);
            apply(&mut w, &mut state, d)?;
        }
        _ => {
            let accepted = on_accept(
                &state,
                &opening.target,
                "loadgen",
                opening.opened_at + time::Duration::minutes(10),
            )?;
            apply(&mut w, &mut state, accepted)?;
        }
    }
    Ok(w.append())
}

/// Replay figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayFigures {
    /// Backend.
    pub backend: String,
    /// Events in the log.
    pub events: i64,
    /// Passes over the log the replay made.
    pub passes: usize,
    /// Cases whose warning read models were rebuilt.
    pub cases: usize,
    /// States each part folded (warning cases, follow-up cases, referrals, review cases).
    pub parts: Vec<(String, usize)>,
    /// Documents the rebuild wrote.
    pub documents: usize,
    /// Seconds the rebuild took (all projections, one pass).
    pub replay_secs: f64,
    /// Of which reading and folding the log.
    pub replay_read_secs: f64,
    /// Of which writing the documents.
    pub replay_write_secs: f64,
    /// Events per second of the rebuild.
    pub replay_events_per_s: f64,
    /// Seconds a plain sequential sqlx read of the whole `events` table took.
    pub raw_read_secs: f64,
    /// Rows per second of that read.
    pub raw_read_rows_per_s: f64,
    /// replay ÷ raw read.
    pub ratio: f64,
    /// Peak RSS of the replaying process, MB.
    pub peak_rss_mb: f64,
}

/// Times the rebuild `referral replay` runs ([`referral::replay::replay_all`]: every
/// projection, one pass) and the raw read. Run it in a fresh process for a clean peak RSS.
pub async fn measure(
    url: &str,
    policy: Policy,
    review: review::ReviewPolicy,
    passes: usize,
) -> Result<ReplayFigures> {
    let store = Store::connect(url, Arc::new(contracts::SystemClock)).await?;
    store.migrate().await?;
    let (events, _) = store.head().await?;
    let (raw_rows, raw_secs) = raw_read(url).await?;
    let started = Instant::now();
    let rebuilt =
        referral::replay::replay_all(&store, &policy, Arc::new(review), passes, |_, _| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    let replay = events as f64 / secs.max(1e-9);
    let raw = raw_rows as f64 / raw_secs.max(1e-9);
    Ok(ReplayFigures {
        backend: store.backend().into(),
        events,
        passes,
        cases: rebuilt.states[0],
        parts: referral::replay::PARTS
            .iter()
            .map(|p| (*p).to_owned())
            .zip(rebuilt.states.iter().copied())
            .collect(),
        documents: rebuilt.documents,
        replay_secs: secs,
        replay_read_secs: rebuilt.read_secs,
        replay_write_secs: rebuilt.write_secs,
        replay_events_per_s: replay,
        raw_read_secs: raw_secs,
        raw_read_rows_per_s: raw,
        ratio: replay / raw,
        peak_rss_mb: crate::procs::own_peak_rss_kb().unwrap_or(0) as f64 / 1024.0,
    })
}

/// A plain sequential read of every column of `events` in position order (streamed).
pub async fn raw_read(url: &str) -> Result<(u64, f64)> {
    let started = Instant::now();
    let mut rows = 0u64;
    let mut bytes = 0usize;
    const SQL: &str = "SELECT position, event_id, stream_id, version, case_id, event_type, \
                       schema_version, payload, metadata, occurred_at, recorded_at, hash \
                       FROM events ORDER BY position";
    if url.starts_with("sqlite:") {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let mut s = sqlx::query(SQL).fetch(&pool);
        while let Some(r) = s.try_next().await? {
            let p: String = r.try_get("payload")?;
            bytes += p.len();
            rows += 1;
        }
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await?;
        let sql = SQL.replace(
            "payload, metadata",
            "payload::text AS payload, metadata::text AS metadata",
        );
        let mut s = sqlx::query(&sql).fetch(&pool);
        while let Some(r) = s.try_next().await? {
            let p: String = r.try_get("payload")?;
            bytes += p.len();
            rows += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok((rows, started.elapsed().as_secs_f64()))
}

//! Shared test fixtures: the real region policy, a store on a moved clock, and the input
//! events appended as their owners would append them, then read back as envelopes.
#![allow(dead_code)]

use bus::Handler;
use contracts::{
    CaseId, DistrictCode, DomainEvent, Envelope, IdType, InstitutionCode, ManualClock,
    Measurements, Metadata, NewEvent, OutcomeKind, Pregnancy, PregnancyOutcomeReported,
    RiskCardSubmitted, StreamId, Woman,
};
use eventstore::scheduler::Scheduler;
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use followup::FollowUpService;
use scoring::{FollowUp, Grade, Region};
use std::sync::{Arc, OnceLock};
use time::{Date, Duration, OffsetDateTime};
use warning::events::{CaseTransferred, HighRiskCaseOpened};

pub fn policy() -> &'static FollowUp {
    static P: OnceLock<FollowUp> = OnceLock::new();
    P.get_or_init(|| {
        Region::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/regions/default.toml"
        ))
        .unwrap()
        .policy
        .follow_up
    })
}

pub fn case(c: &str) -> CaseId {
    CaseId::parse(c).unwrap()
}

pub fn district(d: &str) -> DistrictCode {
    DistrictCode::parse(d).unwrap()
}

pub struct World {
    pub store: Store,
    pub clock: ManualClock,
    pub service: FollowUpService<Store>,
    /// The last log position pumped through the handler.
    pub cursor: i64,
    _db: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
}

pub async fn sqlite(start: OffsetDateTime) -> World {
    let f = testkit::SqliteFile::create().unwrap();
    world(f.url.clone(), (Some(f), None), start).await
}

pub async fn postgres(start: OffsetDateTime) -> World {
    let db = testkit::PgDatabase::create().await.unwrap();
    world(db.url.clone(), (None, Some(db)), start).await
}

async fn world(
    url: String,
    guard: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
    start: OffsetDateTime,
) -> World {
    let clock = ManualClock::new(start.to_offset(time::UtcOffset::UTC));
    let store = Store::connect(&url, Arc::new(clock.clone())).await.unwrap();
    store.migrate().await.unwrap();
    let service = FollowUpService::new(store.clone(), Arc::new(policy().clone()));
    World {
        store,
        clock,
        service,
        cursor: 0,
        _db: guard,
    }
}

impl World {
    /// The clock's now.
    pub fn now(&self) -> OffsetDateTime {
        contracts::Clock::now(&self.clock)
    }

    /// Appends an event as its owner would (stream `<category>-<case>`), returns it stored.
    pub async fn append<E: DomainEvent>(
        &self,
        category: &str,
        case: &CaseId,
        e: &E,
        at: OffsetDateTime,
    ) -> Envelope {
        let ne = NewEvent::from_domain(
            uuid::Uuid::new_v4(),
            StreamId::parse(format!("{category}-{case}")).unwrap(),
            Some(case.clone()),
            e,
            Metadata::system(category),
            at,
        )
        .unwrap();
        let out = self
            .store
            .commit(Commit::append(
                ne.stream_id.clone(),
                ExpectedVersion::Any,
                vec![ne],
            ))
            .await
            .unwrap();
        let p = out.appends[0].positions[0];
        self.store.read_all(p - 1, 1).await.unwrap().remove(0)
    }

    /// Fires due deadlines, then passes every new event in the log to the handler (as the
    /// consumers would), until nothing new appears. Returns the events seen.
    pub async fn pump(&mut self) -> Vec<Envelope> {
        let scheduler = Scheduler::new(self.store.clone(), std::time::Duration::ZERO);
        let mut seen = Vec::new();
        loop {
            scheduler.tick().await.unwrap();
            let batch = self.store.read_all(self.cursor, 1000).await.unwrap();
            let Some(last) = batch.last() else {
                return seen;
            };
            self.cursor = last.position;
            for e in &batch {
                self.service.handle(e).await.unwrap();
            }
            seen.extend(batch);
        }
    }

    pub async fn of_type(&self, ty: &str) -> Vec<Envelope> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let b = self.store.read_all(after, 500).await.unwrap();
            let Some(l) = b.last() else { return out };
            after = l.position;
            out.extend(b.into_iter().filter(|e| e.event_type == ty));
        }
    }

    pub async fn worklist(&self, district: &str, month: &str) -> Vec<serde_json::Value> {
        self.store
            .documents(
                "followup-item",
                Some(&format!("{district}|{month}")),
                10_000,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.body)
            .collect()
    }
}

pub fn grade(colour: contracts::Colour, infectious: bool, score: u32) -> Grade {
    Grade {
        colour,
        infectious,
        score,
        high_risk: true,
    }
}

pub fn card(
    case_id: &CaseId,
    home: &str,
    at: OffsetDateTime,
    lmp: Option<Date>,
    edd: Option<Date>,
) -> RiskCardSubmitted {
    RiskCardSubmitted {
        card_id: format!("card-{}", at.unix_timestamp()),
        case_id: case_id.clone(),
        institution: InstitutionCode::parse("H-01").unwrap(),
        institution_district: district("430102"),
        assessor: "dr-1".into(),
        assessed_at: at,
        received_at: at + Duration::minutes(5),
        woman: Woman {
            id_type: IdType::Passport,
            id_number: format!("P{}", case_id.as_str().len() * 1_000_003),
            name: format!("Woman {case_id}"),
            birth_date: time::macros::date!(1994 - 03 - 02),
            phone: Some(format!("138{:08}", case_id.as_str().len() * 7)),
            residence_district: district(home),
            address: None,
        },
        pregnancy: Pregnancy {
            lmp,
            edd,
            gravida: Some(1),
            para: Some(0),
        },
        measurements: Measurements::default(),
        findings: vec![],
        declared_colour: None,
        critical: false,
        note: None,
    }
}

pub fn opened(case_id: &CaseId, home: &str, g: Grade, at: OffsetDateTime) -> HighRiskCaseOpened {
    HighRiskCaseOpened {
        case_id: case_id.clone(),
        residence_district: district(home),
        grade: g,
        assessed_at: at,
        institution: InstitutionCode::parse("H-01").unwrap(),
    }
}

pub fn transferred(case_id: &CaseId, from: &str, to: &str, at: OffsetDateTime) -> CaseTransferred {
    CaseTransferred {
        case_id: case_id.clone(),
        from: district(from),
        to: district(to),
        at,
        reason: "new card with another residence".into(),
    }
}

pub fn outcome(
    case_id: &CaseId,
    kind: OutcomeKind,
    at: OffsetDateTime,
    discharged: Option<OffsetDateTime>,
) -> PregnancyOutcomeReported {
    PregnancyOutcomeReported {
        report_id: format!("out-{case_id}"),
        case_id: case_id.clone(),
        institution: InstitutionCode::parse("H-01").unwrap(),
        outcome: kind,
        occurred_at: at,
        place: "H-01".into(),
        in_hospital: true,
        discharged_at: discharged,
        note: None,
    }
}

/// A card then the opening, as intake and warning would append them, pumped through.
pub async fn open_case(
    w: &mut World,
    c: &CaseId,
    home: &str,
    g: Grade,
    at: OffsetDateTime,
    lmp: Option<Date>,
) {
    w.append("card", c, &card(c, home, at, lmp, None), at).await;
    w.append("warning", c, &opened(c, home, g, at), at).await;
    w.pump().await;
}

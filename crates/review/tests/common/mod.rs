//! Shared fixtures: the real region, reference data, near-miss catalogue and review policy;
//! stores on SQLite and PostgreSQL with a manual clock; every component's handler driven over
//! the log in order (what the relay and the consumers do, without NATS); requests through the
//! review router in process.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bus::Handler;
use contracts::{DistrictCode, Envelope, InstitutionCode, ManualClock};
use edge::Role;
use eventstore::{EventStore, Store};
use http_body_util::BodyExt;
use review::http::{router, ReviewState};
use review::{ReviewPolicy, ReviewService};
use std::sync::{Arc, Mutex, OnceLock};
use time::macros::datetime;
use time::OffsetDateTime;
use tower::ServiceExt;

pub const T0: OffsetDateTime = datetime!(2026-04-01 09:00 +08:00);

pub fn root(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

pub fn region() -> &'static scoring::Region {
    static R: OnceLock<scoring::Region> = OnceLock::new();
    R.get_or_init(|| scoring::Region::load(root("config/regions/default.toml")).unwrap())
}

pub fn catalogues() -> Arc<scoring::Catalogues> {
    static C: OnceLock<Arc<scoring::Catalogues>> = OnceLock::new();
    C.get_or_init(|| Arc::new(region().load_catalogues().unwrap()))
        .clone()
}

pub fn reference() -> Arc<reference::ReferenceData> {
    Arc::new(reference::ReferenceData::load(root("config/reference/demo-city.toml")).unwrap())
}

pub fn near_miss() -> Arc<escalation::NearMissCatalogue> {
    Arc::new(
        escalation::NearMissCatalogue::load(root("config/catalogues/near-miss/who-2011.toml"))
            .unwrap(),
    )
}

pub fn policy() -> Arc<ReviewPolicy> {
    Arc::new(ReviewPolicy::load(root("config/review/default.toml")).unwrap())
}

pub struct World {
    pub store: Store,
    pub clock: ManualClock,
    pub review: ReviewService<Store>,
    pub scoring: scoring::component::ScoringHandler<Store>,
    pub warning: warning::Warning<Store>,
    pub followup: followup::FollowUpService<Store>,
    pub escalation: escalation::Escalation<Store>,
    pub intake: intake::IntakeState,
    cursor: Mutex<i64>,
    pub _db: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
}

pub async fn sqlite() -> World {
    let f = testkit::SqliteFile::create().unwrap();
    world(f.url.clone(), (Some(f), None)).await
}

pub async fn postgres() -> World {
    let db = testkit::PgDatabase::create().await.unwrap();
    world(db.url.clone(), (None, Some(db))).await
}

async fn world(
    url: String,
    db: (Option<testkit::SqliteFile>, Option<testkit::PgDatabase>),
) -> World {
    let clock = ManualClock::new(T0.to_offset(time::UtcOffset::UTC));
    let store = Store::connect(&url, Arc::new(clock.clone())).await.unwrap();
    store.migrate().await.unwrap();
    let p = Arc::new(region().policy.clone());
    World {
        review: ReviewService::new(store.clone(), policy(), Some(near_miss())),
        scoring: scoring::component::ScoringHandler::new(store.clone(), catalogues(), p.clone()),
        warning: warning::Warning::new(store.clone(), p.clone()),
        followup: followup::FollowUpService::new(store.clone(), Arc::new(p.follow_up.clone())),
        escalation: escalation::Escalation::new(
            store.clone(),
            &p.green_channel,
            reference(),
            near_miss(),
        ),
        intake: intake::IntakeState {
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            reference: reference(),
            catalogues: catalogues(),
        },
        store,
        clock,
        cursor: Mutex::new(0),
        _db: db,
    }
}

impl World {
    /// Feeds every event after the cursor to every component, in log order, until the log
    /// stops growing (what relay + consumers do).
    pub async fn pump(&self) {
        loop {
            let after = *self.cursor.lock().unwrap();
            let batch = self.store.read_all(after, 500).await.unwrap();
            if batch.is_empty() {
                return;
            }
            for e in batch {
                self.scoring.handle(&e).await.unwrap();
                self.warning.handle(&e).await.unwrap();
                self.followup.handle(&e).await.unwrap();
                self.escalation.handle(&e).await.unwrap();
                self.review.handle(&e).await.unwrap();
                *self.cursor.lock().unwrap() = e.position;
            }
        }
    }

    /// Moves the clock, fires what fell due, and pumps.
    pub async fn advance(&self, by: time::Duration) {
        self.clock.advance(by);
        self.store.fire_due_deadlines(100).await.unwrap();
        self.pump().await;
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

    pub async fn key(&self, role: Role, inst: &str, district: &str) -> String {
        edge::issue_key(
            &self.store,
            role,
            InstitutionCode::parse(inst).unwrap(),
            DistrictCode::parse(district).unwrap(),
        )
        .await
        .unwrap()
        .1
    }

    pub fn router(&self) -> axum::Router {
        router(ReviewState {
            service: self.review.clone(),
            clock: Arc::new(self.clock.clone()),
        })
    }

    /// A request through the router: status, content type and body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, String, Vec<u8>) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.router().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, ct, bytes)
    }

    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let (s, _, b) = self.call(method, uri, key, body).await;
        (
            s,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }
}

pub fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Whether the pg tests run (`REFERRAL_TEST_PG` set).
pub fn pg() -> bool {
    std::env::var("REFERRAL_TEST_PG").is_ok()
}
pub mod synthetic;

//! Shared test fixtures: a clock standing still, the demo city's reference data, the seed
//! catalogues, resident IDs with correct check characters, a valid card, and an app on a
//! fresh SQLite or PostgreSQL store with keys for every role.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use contracts::{Clock, DistrictCode, InstitutionCode, ManualClock};
use edge::Role;
use eventstore::{EventStore, Store};
use intake::IntakeState;
use reference::ReferenceData;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use time::macros::datetime;
use tower::ServiceExt;

pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The clock of every test: 2026-03-10 12:00 in China.
pub fn now() -> time::OffsetDateTime {
    datetime!(2026-03-10 12:00 +08:00)
}

pub fn reference() -> Arc<ReferenceData> {
    static R: OnceLock<Arc<ReferenceData>> = OnceLock::new();
    R.get_or_init(|| {
        Arc::new(
            ReferenceData::load(format!("{ROOT}/config/reference/demo-city.toml"))
                .expect("demo city loads"),
        )
    })
    .clone()
}

pub fn catalogues() -> Arc<scoring::Catalogues> {
    static C: OnceLock<Arc<scoring::Catalogues>> = OnceLock::new();
    C.get_or_init(|| {
        let region = scoring::Region::load(format!("{ROOT}/config/regions/default.toml"))
            .expect("region loads");
        Arc::new(region.load_catalogues().expect("catalogues load"))
    })
    .clone()
}

/// A resident ID for `first17` with the right check character.
pub fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let c = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{c}")
}

/// Her resident ID: born 1994-05-14, even sequence digit (a woman's).
pub fn her_id(n: u32) -> String {
    resident_id(&format!("43010219940514{:02}{}", n % 100, 2 * (n % 5)))
}

/// A valid card from `institution` for the woman with ID `id`.
pub fn card(card_id: &str, institution: &str, id: &str) -> Value {
    json!({
        "card_id": card_id,
        "institution_code": institution,
        "assessed_at": "2026-03-09T09:30:00+08:00",
        "assessor": "dr-017",
        "woman": {
            "id_type": "resident_id",
            "id_number": id,
            "name": "张某某",
            "birth_date": "1994-05-14",
            "phone": "13812345678",
            "residence_district": "430102",
            "address": "东湖区某街道 1 号"
        },
        "pregnancy": {
            "lmp": "2025-12-01",
            "gestational_weeks": 14,
            "gestational_days": 1,
            "gravida": 2,
            "para": 1,
            "fetuses": 1
        },
        "measurements": { "height_cm": 160.0, "weight_kg": 58.5, "systolic_mmhg": 118, "diastolic_mmhg": 76 },
        "findings": ["O-CV-NYHA2"],
        "declared_colour": "orange",
        "critical": false,
        "note": null
    })
}

pub struct App {
    pub state: IntakeState,
    pub router: axum::Router,
    pub clock: ManualClock,
    _guard: Box<dyn std::any::Any + Send>,
}

/// An app on a fresh SQLite file.
pub async fn sqlite_app() -> App {
    let file = testkit::SqliteFile::create().expect("temp dir");
    let url = file.url.clone();
    app_on(&url, Box::new(file)).await
}

/// An app on a fresh PostgreSQL database.
pub async fn postgres_app() -> App {
    let db = testkit::PgDatabase::create()
        .await
        .expect("PostgreSQL for tests");
    let url = db.url.clone();
    app_on(&url, Box::new(db)).await
}

async fn app_on(url: &str, guard: Box<dyn std::any::Any + Send>) -> App {
    let clock = ManualClock::new(now());
    let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let store = Store::connect(url, dyn_clock.clone())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let state = IntakeState {
        store,
        clock: dyn_clock,
        reference: reference(),
        catalogues: catalogues(),
    };
    App {
        router: intake::router(state.clone()),
        state,
        clock,
        _guard: guard,
    }
}

impl App {
    /// Issues a key for `role` at `institution` (its district from the reference data).
    pub async fn key(&self, role: Role, institution: &str) -> String {
        let code = InstitutionCode::parse(institution).unwrap();
        let district = reference()
            .institution(&code)
            .map(|i| i.district.clone())
            .unwrap_or_else(|| DistrictCode::parse("430102").unwrap());
        edge::issue_key(&self.state.store, role, code, district)
            .await
            .expect("issue key")
            .1
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.raw(method, path, key, "application/json", bytes).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let problem = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            assert!(problem, "{status}: error bodies are problem+json: {value}");
        }
        (status, value)
    }

    /// The number of events in the log.
    pub async fn events(&self) -> i64 {
        self.state.store.head().await.unwrap().0
    }
}

/// The pointers of a problem body's `errors`.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["pointer"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

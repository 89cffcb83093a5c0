//! Shared fixtures: the real region policy, reference data and near-miss catalogue, stores on
//! SQLite and PostgreSQL with a manual clock.
#![allow(dead_code)]

use contracts::{CaseId, DistrictCode, InstitutionCode, ManualClock};
use escalation::events::{ClinicalState, Identity, ReferralForm, Transport};
use escalation::{Escalation, NearMissCatalogue, OpenRequest};
use eventstore::{EventStore, Store};
use reference::ReferenceData;
use scoring::{Policy, Region};
use std::sync::{Arc, OnceLock};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const T: OffsetDateTime = datetime!(2026-04-01 09:00 +08:00);

fn root(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

pub fn region() -> &'static Region {
    static R: OnceLock<Region> = OnceLock::new();
    R.get_or_init(|| Region::load(root("config/regions/default.toml")).unwrap())
}

pub fn policy() -> &'static Policy {
    &region().policy
}

pub fn reference() -> Arc<ReferenceData> {
    static R: OnceLock<Arc<ReferenceData>> = OnceLock::new();
    R.get_or_init(|| {
        Arc::new(ReferenceData::load(root("config/reference/demo-city.toml")).unwrap())
    })
    .clone()
}

pub fn near_miss() -> Arc<NearMissCatalogue> {
    Arc::new(NearMissCatalogue::load(root("config/catalogues/near-miss/who-2011.toml")).unwrap())
}

pub fn service(store: &Store) -> Escalation<Store> {
    Escalation::new(
        store.clone(),
        &policy().green_channel,
        reference(),
        near_miss(),
    )
}

pub struct World {
    pub store: Store,
    pub clock: ManualClock,
    pub url: String,
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
    let clock = ManualClock::new(T.to_offset(time::UtcOffset::UTC));
    let store = Store::connect(&url, Arc::new(clock.clone())).await.unwrap();
    store.migrate().await.unwrap();
    World {
        store,
        clock,
        url,
        _db: db,
    }
}

impl World {
    /// A second, independent service instance on its own connection (a restart, or another
    /// process).
    pub async fn restart(&self) -> Escalation<Store> {
        let store = Store::connect(&self.url, Arc::new(self.clock.clone()))
            .await
            .unwrap();
        service(&store)
    }

    pub async fn of_type(&self, ty: &str) -> Vec<contracts::Envelope> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let b = self.store.read_all(after, 500).await.unwrap();
            let Some(l) = b.last() else { return out };
            after = l.position;
            out.extend(b.into_iter().filter(|e| e.event_type == ty));
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

pub fn form() -> ReferralForm {
    ReferralForm {
        identity: Some(Identity {
            name: "测试孕妇".into(),
            age: Some(31),
            ethnicity: Some("汉".into()),
            education: None,
            address: None,
            relative: None,
            phone: None,
        }),
        clinical: Some(ClinicalState {
            complaint: "heavy bleeding after birth".into(),
            diagnosis: "postpartum haemorrhage".into(),
            blood_loss_ml: Some(1500),
            ..ClinicalState::default()
        }),
        reason: "needs transfusion and surgery".into(),
        treatment_en_route: None,
        referring_doctor: Some("dr-1".into()),
        escort: Some("midwife-7".into()),
        transport: Some(Transport::Ambulance),
    }
}

pub fn request(n: u128, named: Option<&str>) -> OpenRequest {
    OpenRequest {
        request_id: uuid::Uuid::from_u128(n),
        case_id: CaseId::parse(format!("case-{n}")).unwrap(),
        residence_district: DistrictCode::parse("430103").unwrap(),
        sending_institution: InstitutionCode::parse("H430103-01").unwrap(),
        named_centre: named.map(|c| InstitutionCode::parse(c).unwrap()),
        form: form(),
    }
}

pub fn code(c: &str) -> InstitutionCode {
    InstitutionCode::parse(c).unwrap()
}

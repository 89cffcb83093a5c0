//! The checker catches planted violations, and passes a clean log.

use super::*;
use serde_json::json;
use time::macros::datetime;

fn policy() -> Policy {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    scoring::Region::load(format!("{root}/config/regions/default.toml"))
        .expect("region")
        .policy
}

const CASE: &str = "case-0001";
const ASSESSED: OffsetDateTime = datetime!(2026-11-20 10:00 +8);

/// A hand-built log with a valid hash chain.
#[derive(Default)]
struct Log {
    rows: Vec<RawRow>,
}

impl Log {
    fn push(&mut self, event_type: &str, id: Uuid, payload: Value) -> Uuid {
        let position = self.rows.len() as i64 + 1;
        let mut row = RawRow {
            position,
            event_id: id,
            stream_id: format!("test-{position}"),
            version: 1,
            case_id: Some(CASE.into()),
            event_type: event_type.into(),
            schema_version: 1,
            payload: payload.to_string(),
            metadata: "{}".into(),
            occurred_us: eventstore::common::to_micros(ASSESSED),
            recorded_us: eventstore::common::to_micros(ASSESSED),
            hash: Vec::new(),
        };
        let prev = self
            .rows
            .last()
            .map_or(eventstore::common::GENESIS_HASH.to_vec(), |r| {
                r.hash.clone()
            });
        row.hash = row.chain_hash(&prev).to_vec();
        self.rows.push(row);
        id
    }

    fn head(&self) -> (i64, Vec<u8>) {
        let last = self.rows.last().expect("rows");
        (last.position, last.hash.clone())
    }
}

/// One orange card for a woman living where the hospital is: card, assessment, grading,
/// the alert, the follow-up plan with November's and December's calls.
fn clean() -> (Log, Uuid, Uuid) {
    let mut log = Log::default();
    let card = log.push("RiskCardSubmitted", Uuid::new_v4(), json!({}));
    let ra = log.push(
        "RiskAssessed",
        Uuid::new_v4(),
        json!({
            "case_id": CASE, "card_event_id": card, "assessed_at": "2026-11-20T10:00:00+08:00",
            "residence_district": "430102", "institution_district": "430102", "critical": false,
            "assessment": {"colour": "orange", "infectious": false, "score": 0, "high_risk": true},
        }),
    );
    log.push(
        "RiskGraded",
        Uuid::new_v4(),
        json!({"assessment_event_id": ra}),
    );
    log.push(
        "HighRiskCaseOpened",
        Uuid::new_v4(),
        json!({"assessed_at": "2026-11-20T10:00:00+08:00"}),
    );
    let alert = derive_event_id(ra, "alert/430102");
    log.push(
        "DistrictAlertRaised",
        alert,
        json!({
            "alert_id": alert, "district": "430102", "kind": "assessment",
            "due_at": "2026-11-22T10:00:00+08:00", "assessed_at": "2026-11-20T10:00:00+08:00",
        }),
    );
    log.push(
        "FollowUpOpened",
        Uuid::new_v4(),
        json!({"high_risk_since": "2026-11-20T10:00:00+08:00"}),
    );
    for month in ["2026-11", "2026-12"] {
        log.push(
            "FollowUpScheduled",
            Uuid::new_v4(),
            json!({"item_id": Uuid::new_v4(), "kind": "phone_call", "month": month}),
        );
    }
    (log, card, alert)
}

fn models(alert: Uuid, status: &str) -> ReadModels {
    let mut m = ReadModels::default();
    m.alert_status.insert(alert, status.into());
    m.deadlines
        .insert(warning::core::deadline_id(alert), "armed".into());
    m
}

fn run(log: &Log, models: &ReadModels, now: OffsetDateTime, accepted: Option<Vec<Uuid>>) -> Report {
    let mut c = Checker::new(policy());
    for r in &log.rows {
        c.feed(r);
    }
    c.finish(
        log.head(),
        models,
        &CheckOptions {
            now,
            grace: Duration::seconds(5),
            accepted_cards: accepted,
        },
    )
}

fn rules(r: &Report) -> Vec<Rule> {
    r.violations.iter().map(|v| v.rule).collect()
}

const BEFORE_DUE: OffsetDateTime = datetime!(2026-11-21 10:00 +8);
const AFTER_DUE: OffsetDateTime = datetime!(2026-11-23 10:00 +8);

#[test]
fn a_clean_log_has_no_violation() {
    let (log, card, alert) = clean();
    let r = run(&log, &models(alert, "open"), BEFORE_DUE, Some(vec![card]));
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!((r.cards, r.assessments, r.alerts), (1, 1, 1));
}

#[test]
fn a_lost_card_is_found() {
    let (log, card, alert) = clean();
    let r = run(
        &log,
        &models(alert, "open"),
        BEFORE_DUE,
        Some(vec![card, Uuid::new_v4()]),
    );
    assert_eq!(rules(&r), [Rule::CardLost]);
}

#[test]
fn a_missing_assessment_is_found_with_its_case() {
    let (mut log, _, alert) = clean();
    log.push("RiskCardSubmitted", Uuid::new_v4(), json!({}));
    let r = run(&log, &models(alert, "open"), BEFORE_DUE, None);
    assert_eq!(rules(&r), [Rule::CardNotAssessed]);
    assert_eq!(r.violations[0].case_id.as_deref(), Some(CASE));
}

#[test]
fn a_duplicated_alert_is_found() {
    let (mut log, _, alert) = clean();
    let twin = Uuid::new_v4();
    log.push(
        "DistrictAlertRaised",
        twin,
        json!({
            "alert_id": twin, "district": "430102", "kind": "assessment",
            "due_at": "2026-11-22T10:00:00+08:00", "assessed_at": "2026-11-20T10:00:00+08:00",
        }),
    );
    let mut m = models(alert, "open");
    m.alert_status.insert(twin, "open".into());
    m.deadlines
        .insert(warning::core::deadline_id(twin), "armed".into());
    let r = run(&log, &m, BEFORE_DUE, None);
    assert!(
        rules(&r).contains(&Rule::AlertDuplicated),
        "{:?}",
        r.violations
    );
    assert!(r
        .violations
        .iter()
        .all(|v| v.case_id.as_deref() == Some(CASE)));
}

#[test]
fn a_missing_alert_is_found() {
    let (log, _, alert) = clean();
    // Drop the alert row and rebuild the chain without it.
    let mut rebuilt = Log::default();
    for r in log
        .rows
        .iter()
        .filter(|r| r.event_type != "DistrictAlertRaised")
    {
        rebuilt.push(
            &r.event_type,
            r.event_id,
            serde_json::from_str(&r.payload).unwrap(),
        );
    }
    let r = run(&rebuilt, &models(alert, "open"), BEFORE_DUE, None);
    assert_eq!(rules(&r), [Rule::AlertMissing]);
}

#[test]
fn a_broken_chain_is_found() {
    let (mut log, _, alert) = clean();
    log.rows[1].payload = log.rows[1].payload.replace("orange", "yellow");
    let r = run(&log, &models(alert, "open"), BEFORE_DUE, None);
    assert!(rules(&r).contains(&Rule::ChainBroken), "{:?}", r.violations);
}

#[test]
fn a_forgotten_deadline_is_found_and_an_overdue_one_is_not() {
    let (mut log, _, alert) = clean();
    let r = run(&log, &models(alert, "open"), AFTER_DUE, None);
    assert_eq!(rules(&r), [Rule::AlertDeadlineForgotten]);

    log.push(
        "DistrictAlertOverdue",
        Uuid::new_v4(),
        json!({"alert_id": alert}),
    );
    // The overdue row's time is the assessment time here: before the deadline.
    let r = run(&log, &models(alert, "open"), AFTER_DUE, None);
    assert_eq!(rules(&r), [Rule::AlertOverdueWrong]);
}

#[test]
fn an_unarmed_deadline_and_a_stale_inbox_are_found() {
    let (log, _, alert) = clean();
    let mut m = models(alert, "acknowledged");
    m.deadlines.clear();
    let r = run(&log, &m, BEFORE_DUE, None);
    let mut got = rules(&r);
    got.sort();
    assert_eq!(got, [Rule::DeadlineNotArmed, Rule::ReadModelStale]);
}

#[test]
fn missing_and_duplicated_follow_ups_are_found() {
    let (mut log, _, alert) = clean();
    log.push(
        "FollowUpScheduled",
        Uuid::new_v4(),
        json!({"item_id": Uuid::new_v4(), "kind": "phone_call", "month": "2026-11"}),
    );
    let r = run(&log, &models(alert, "open"), BEFORE_DUE, None);
    assert_eq!(rules(&r), [Rule::FollowUpDuplicated]);

    let mut rebuilt = Log::default();
    for r in log.rows.iter().filter(|r| !r.payload.contains("2026-12")) {
        rebuilt.push(
            &r.event_type,
            r.event_id,
            serde_json::from_str(&r.payload).unwrap(),
        );
    }
    let r = run(&rebuilt, &models(alert, "open"), BEFORE_DUE, None);
    assert!(
        rules(&r).contains(&Rule::FollowUpMissing),
        "{:?}",
        r.violations
    );
}

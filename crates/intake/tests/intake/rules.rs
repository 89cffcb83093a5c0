//! The pure rules, one row per rule, valid and invalid: each row changes one thing in a valid
//! card and states exactly which pointers are reported (none = accepted).

use crate::helpers::*;
use contracts::InstitutionCode;
use intake::validate::{validate_card, validate_outcome, Context, Rejection};
use intake::wire::{OutcomeRequest, RiskCardRequest};
use serde_json::{json, Value};

const H1: &str = "H430102-01";

fn ctx_check(body: Value, caller: &str) -> Result<Vec<String>, Rejection> {
    let reference = reference();
    let catalogues = catalogues();
    let caller = InstitutionCode::parse(caller).unwrap();
    let ctx = Context {
        reference: &reference,
        catalogues: &catalogues,
        now: now(),
        caller: &caller,
    };
    let req: RiskCardRequest = serde_json::from_value(body).expect("structurally valid");
    validate_card(&req, &ctx).map(|c| {
        c.warnings
            .into_iter()
            .map(|w| format!("warn {}", w.pointer))
            .collect()
    })
}

/// Sets `pointer` in a valid card to `value` (`null` removes optional fields' values) and
/// checks the reported pointers.
fn check(pointer: &str, value: Value, expect: &[&str]) {
    let mut body = card("c-1", H1, &her_id(1));
    *body
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value.clone();
    let got = match ctx_check(body, H1) {
        Ok(_) => Vec::new(),
        Err(Rejection::Invalid(errors)) => errors.into_iter().map(|e| e.pointer).collect(),
        Err(Rejection::Forbidden(_)) => vec!["403".to_owned()],
    };
    assert_eq!(got, expect, "{pointer} = {value}");
}

#[test]
fn the_valid_card_is_valid() {
    assert_eq!(
        ctx_check(card("c-1", H1, &her_id(1)), H1).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn identifiers() {
    check("/card_id", json!("c-1.2_3:x"), &[]);
    check("/card_id", json!(""), &["/card_id"]);
    check("/card_id", json!("卡1"), &["/card_id"]);
    check("/card_id", json!("x".repeat(65)), &["/card_id"]);
    check("/institution_code", json!("h430102-01"), &[]);
    check("/institution_code", json!("H430103-01"), &["403"]);
    check("/institution_code", json!("H 1"), &["/institution_code"]);
    check("/assessor", json!("  "), &["/assessor"]);
}

#[test]
fn institutions_must_be_known_reporters() {
    let mut body = card("c-1", "MCH430102", &her_id(1));
    body["institution_code"] = json!("MCH430102");
    let Err(Rejection::Invalid(e)) = ctx_check(body, "MCH430102") else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/institution_code");
    let body = card("c-1", "H999999-01", &her_id(1));
    let Err(Rejection::Invalid(e)) = ctx_check(body, "H999999-01") else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/institution_code");
    assert!(e[0].message.contains("demo-city@1"));
}

#[test]
fn resident_ids() {
    check("/woman/id_number", json!(her_id(1).to_lowercase()), &[]);
    let wrong_check = {
        let id = her_id(1);
        let last = if id.ends_with('0') { '1' } else { '0' };
        format!("{}{last}", &id[..17])
    };
    check(
        "/woman/id_number",
        json!(wrong_check),
        &["/woman/id_number"],
    );
    check(
        "/woman/id_number",
        json!(resident_id("43010219941340002")),
        &["/woman/id_number"],
    );
    check(
        "/woman/id_number",
        json!("43010219940514"),
        &["/woman/id_number"],
    );
    // Valid, but born on another day than the card says.
    check(
        "/woman/id_number",
        json!(resident_id("43010219940515002")),
        &["/woman/birth_date"],
    );
    // An odd sequence digit is a warning, not an error.
    let mut body = card("c-1", H1, &resident_id("43010219940514003"));
    body["card_id"] = json!("c-2");
    assert_eq!(ctx_check(body, H1).unwrap(), ["warn /woman/id_number"]);
}

#[test]
fn other_documents() {
    let mut body = card("c-1", H1, "E12345678");
    body["woman"]["id_type"] = json!("passport");
    assert!(ctx_check(body.clone(), H1).is_ok());
    body["woman"]["id_number"] = json!("E 123");
    let Err(Rejection::Invalid(e)) = ctx_check(body, H1) else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/woman/id_number");
}

#[test]
fn dates_and_the_clock() {
    // 2026-03-10 12:00 +08:00 is now; five minutes of skew are tolerated.
    check("/assessed_at", json!("2026-03-10T12:04:00+08:00"), &[]);
    check(
        "/assessed_at",
        json!("2026-03-10T12:06:00+08:00"),
        &["/assessed_at"],
    );
    check("/assessed_at", json!("2026-03-10T04:04:00Z"), &[]);
    check("/assessed_at", json!("2026-03-10 09:00"), &["/assessed_at"]);
    check(
        "/assessed_at",
        json!("2026-03-09T09:30:00"),
        &["/assessed_at"],
    );
    check(
        "/woman/birth_date",
        json!("1994-02-30"),
        &["/woman/birth_date"],
    );
    check(
        "/woman/birth_date",
        json!("2027-01-01"),
        &["/woman/birth_date"],
    );
    check("/pregnancy/lmp", json!("2026-03-20"), &["/pregnancy/lmp"]);
    check("/pregnancy/lmp", json!("2026/01/01"), &["/pregnancy/lmp"]);
}

#[test]
fn assessed_after_lmp() {
    let mut body = card("c-1", H1, &her_id(1));
    body["assessed_at"] = json!("2025-11-30T09:00:00+08:00");
    body["pregnancy"]["gestational_weeks"] = Value::Null;
    body["pregnancy"]["gestational_days"] = Value::Null;
    let Err(Rejection::Invalid(e)) = ctx_check(body, H1) else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/assessed_at");
}

#[test]
fn gestation() {
    // LMP 2025-12-01, assessed 2026-03-09: 98 days; the card says weeks + 1 day.
    check("/pregnancy/gestational_weeks", json!(15), &[]);
    check(
        "/pregnancy/gestational_weeks",
        json!(16),
        &["/pregnancy/gestational_weeks"],
    );
    check("/pregnancy/gestational_weeks", json!(12), &[]);
    check(
        "/pregnancy/gestational_weeks",
        json!(11),
        &["/pregnancy/gestational_weeks"],
    );
    check(
        "/pregnancy/gestational_weeks",
        json!(46),
        &["/pregnancy/gestational_weeks"],
    );
    check(
        "/pregnancy/gestational_days",
        json!(7),
        &["/pregnancy/gestational_days"],
    );
    check("/pregnancy/gravida", json!(0), &["/pregnancy/gravida"]);
    check("/pregnancy/para", json!(2), &["/pregnancy/para"]);
    // EDD alone stands in for LMP; both must agree within two weeks.
    let mut body = card("c-1", H1, &her_id(1));
    body["pregnancy"]["lmp"] = Value::Null;
    body["pregnancy"]["edd"] = json!("2026-09-07");
    assert!(ctx_check(body.clone(), H1).is_ok());
    body["pregnancy"]["edd"] = json!("2026-10-07");
    let Err(Rejection::Invalid(e)) = ctx_check(body.clone(), H1) else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/pregnancy/gestational_weeks");
    body["pregnancy"]["edd"] = Value::Null;
    let Err(Rejection::Invalid(e)) = ctx_check(body.clone(), H1) else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/pregnancy/lmp");
    body["pregnancy"]["lmp"] = json!("2025-12-01");
    body["pregnancy"]["edd"] = json!("2026-10-07");
    let Err(Rejection::Invalid(e)) = ctx_check(body, H1) else {
        panic!()
    };
    assert_eq!(e[0].pointer, "/pregnancy/edd");
}

#[test]
fn phones() {
    for ok in [
        "13812345678",
        "+86 138 1234 5678",
        "8613812345678",
        "0731-84561234",
        "010-12345678",
        "073184561234",
        "0731-84561234-123",
    ] {
        check("/woman/phone", json!(ok), &[]);
    }
    for bad in [
        "12812345678",
        "1381234567",
        "phone",
        "731-84561234",
        "0731-123",
        "0731-84561234-x",
    ] {
        check("/woman/phone", json!(bad), &["/woman/phone"]);
    }
    check("/woman/phone", Value::Null, &[]);
}

#[test]
fn districts() {
    check("/woman/residence_district", json!("430105"), &[]);
    check(
        "/woman/residence_district",
        json!("430199"),
        &["/woman/residence_district"],
    );
    check(
        "/woman/residence_district",
        json!("430100"),
        &["/woman/residence_district"],
    );
    check(
        "/woman/residence_district",
        json!("4301"),
        &["/woman/residence_district"],
    );
}

#[test]
fn findings_and_measurements_through_scoring() {
    check("/findings", json!(["o-cv-nyha2", "Y-BAS-AGE35"]), &[]);
    check(
        "/findings",
        json!(["Y-BAS-AGE35", "NOPE", "ALSO-NOPE"]),
        &["/findings/1", "/findings/2"],
    );
    check(
        "/measurements/height_cm",
        json!(20.0),
        &["/measurements/height_cm"],
    );
    check(
        "/measurements/diastolic_mmhg",
        json!(130),
        &["/measurements/diastolic_mmhg"],
    );
    check("/pregnancy/fetuses", json!(0), &["/pregnancy/fetuses"]);
    check("/woman/name", json!(""), &["/woman/name"]);
    check("/note", json!("x".repeat(2001)), &["/note"]);
}

#[test]
fn outcomes() {
    let reference = reference();
    let catalogues = catalogues();
    let caller = InstitutionCode::parse(H1).unwrap();
    let ctx = Context {
        reference: &reference,
        catalogues: &catalogues,
        now: now(),
        caller: &caller,
    };
    let base = json!({
        "report_id": "o-1", "institution_code": H1, "case_id": "abc", "outcome": "maternal_death",
        "occurred_at": "2026-03-10T08:00:00+08:00", "place": "home", "in_hospital": false,
        "discharged_at": null, "note": null
    });
    let run = |patch: &dyn Fn(&mut Value)| {
        let mut b = base.clone();
        patch(&mut b);
        let req: OutcomeRequest = serde_json::from_value(b).unwrap();
        match validate_outcome(&req, &ctx) {
            Ok(_) => Vec::new(),
            Err(Rejection::Invalid(e)) => e.into_iter().map(|e| e.pointer).collect(),
            Err(Rejection::Forbidden(_)) => vec!["403".to_owned()],
        }
    };
    assert_eq!(run(&|_| {}), Vec::<String>::new());
    assert_eq!(
        run(&|b| b["occurred_at"] = json!("2026-03-11T08:00:00+08:00")),
        ["/occurred_at"]
    );
    assert_eq!(
        run(&|b| b["discharged_at"] = json!("2026-03-09T08:00:00+08:00")),
        ["/discharged_at"]
    );
    assert_eq!(run(&|b| b["place"] = json!("")), ["/place"]);
    assert_eq!(run(&|b| b["report_id"] = json!("o 1")), ["/report_id"]);
    assert_eq!(
        run(&|b| b["institution_code"] = json!("H430103-01")),
        ["403"]
    );
}

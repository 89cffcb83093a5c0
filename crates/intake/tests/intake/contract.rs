//! The wire contract in `proto/`: the JSON Schemas and the Rust request types accept and
//! reject the same example documents, and the committed OpenAPI document is the one the code
//! generates (regenerate with `UPDATE_OPENAPI=1 cargo test -p intake contract`).

use crate::helpers::*;
use intake::wire::{OutcomeRequest, RiskCardRequest};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!("{ROOT}/proto/{name}")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn same_verdicts<T: DeserializeOwned>(schema_file: &str, examples: Vec<(&str, Value, bool)>) {
    let validator = schema(schema_file);
    for (name, doc, valid) in examples {
        let by_schema = validator.is_valid(&doc);
        let by_rust = edge::parse_json::<T>(doc.to_string().as_bytes()).is_ok();
        assert_eq!(by_schema, valid, "{schema_file}: schema on `{name}`");
        assert_eq!(by_rust, valid, "{schema_file}: Rust type on `{name}`");
    }
}

fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(if parent.is_empty() { "" } else { parent })
        .and_then(Value::as_object_mut)
        .unwrap()
        .insert(key.to_owned(), value);
    doc
}

fn without(mut doc: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(if parent.is_empty() { "" } else { parent })
        .and_then(Value::as_object_mut)
        .unwrap()
        .remove(key);
    doc
}

#[test]
fn the_risk_card_schema_and_type_agree() {
    let full = card("c-1", "H430102-01", &her_id(1));
    let minimal = json!({
        "card_id": "c", "institution_code": "H", "assessed_at": "x", "assessor": "a",
        "woman": { "id_type": "passport", "id_number": "E1", "name": "n", "birth_date": "d", "residence_district": "430102" },
        "pregnancy": {}
    });
    let examples = vec![
        ("full", full.clone(), true),
        ("minimal", minimal.clone(), true),
        (
            "nulls for optionals",
            with(
                with(full.clone(), "/woman/phone", Value::Null),
                "/pregnancy/gravida",
                Value::Null,
            ),
            true,
        ),
        (
            "every id type",
            with(
                full.clone(),
                "/woman/id_type",
                json!("foreign_permanent_resident"),
            ),
            true,
        ),
        (
            "empty findings",
            with(full.clone(), "/findings", json!([])),
            true,
        ),
        (
            "purple",
            with(full.clone(), "/declared_colour", json!("purple")),
            true,
        ),
        ("missing card_id", without(full.clone(), "/card_id"), false),
        ("missing woman", without(full.clone(), "/woman"), false),
        (
            "missing residence",
            without(full.clone(), "/woman/residence_district"),
            false,
        ),
        (
            "unknown top-level field",
            with(full.clone(), "/colour", json!("red")),
            false,
        ),
        (
            "unknown woman field",
            with(full.clone(), "/woman/age", json!(31)),
            false,
        ),
        (
            "unknown measurement",
            with(full.clone(), "/measurements/bmi", json!(22.0)),
            false,
        ),
        (
            "weeks as text",
            with(full.clone(), "/pregnancy/gestational_weeks", json!("14")),
            false,
        ),
        (
            "negative weeks",
            with(full.clone(), "/pregnancy/gestational_weeks", json!(-1)),
            false,
        ),
        (
            "weeks over u8",
            with(full.clone(), "/pregnancy/gestational_weeks", json!(256)),
            false,
        ),
        (
            "systolic over u16",
            with(full.clone(), "/measurements/systolic_mmhg", json!(70000)),
            false,
        ),
        (
            "height as text",
            with(full.clone(), "/measurements/height_cm", json!("160")),
            false,
        ),
        (
            "blue",
            with(full.clone(), "/declared_colour", json!("blue")),
            false,
        ),
        (
            "unknown id type",
            with(full.clone(), "/woman/id_type", json!("ssn")),
            false,
        ),
        (
            "findings not a list",
            with(full.clone(), "/findings", json!("O-CV-NYHA2")),
            false,
        ),
        (
            "finding not a string",
            with(full.clone(), "/findings", json!([1])),
            false,
        ),
        (
            "critical as text",
            with(full.clone(), "/critical", json!("yes")),
            false,
        ),
        (
            "measurements null",
            with(full.clone(), "/measurements", Value::Null),
            false,
        ),
        (
            "note a number",
            with(full.clone(), "/note", json!(5)),
            false,
        ),
        ("an array", json!([full]), false),
    ];
    same_verdicts::<RiskCardRequest>("risk-card.schema.json", examples);
}

#[test]
fn the_outcome_schema_and_type_agree() {
    let full = json!({
        "report_id": "o-1", "institution_code": "H430102-01", "case_id": "c", "outcome": "delivery",
        "occurred_at": "2026-03-10T08:00:00+08:00", "place": "home", "in_hospital": true,
        "discharged_at": "2026-03-12T08:00:00+08:00", "note": "ok"
    });
    let examples = vec![
        ("full", full.clone(), true),
        (
            "no optionals",
            without(without(full.clone(), "/discharged_at"), "/note"),
            true,
        ),
        (
            "null discharge",
            with(full.clone(), "/discharged_at", Value::Null),
            true,
        ),
        (
            "maternal death",
            with(full.clone(), "/outcome", json!("maternal_death")),
            true,
        ),
        (
            "missing in_hospital",
            without(full.clone(), "/in_hospital"),
            false,
        ),
        ("missing case", without(full.clone(), "/case_id"), false),
        (
            "unknown outcome",
            with(full.clone(), "/outcome", json!("stillbirth")),
            false,
        ),
        (
            "unknown field",
            with(full.clone(), "/baby_weight_g", json!(3200)),
            false,
        ),
        (
            "in_hospital as text",
            with(full.clone(), "/in_hospital", json!("true")),
            false,
        ),
        (
            "place null",
            with(full.clone(), "/place", Value::Null),
            false,
        ),
    ];
    same_verdicts::<OutcomeRequest>("pregnancy-outcome.schema.json", examples);
}

#[test]
fn the_committed_openapi_is_current() {
    let path = format!("{ROOT}/proto/openapi.json");
    let generated = intake::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "proto/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p intake contract`"
    );
    let doc: Value = serde_json::from_str(&committed).unwrap();
    for path in [
        "/v1/risk-cards",
        "/v1/risk-cards:batch",
        "/v1/risk-cards:import",
        "/v1/pregnancy-outcomes",
        "/v1/cases/{case_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

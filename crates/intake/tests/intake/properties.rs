//! Arbitrary bodies never panic the parser or the rules, and anything invalid is a 4xx:
//! random JSON values, valid cards with one field replaced by a random value, and random
//! bytes through the HTTP router.

use crate::helpers::*;
use contracts::InstitutionCode;
use edge::Role;
use intake::validate::{validate_card, Context};
use intake::wire::RiskCardRequest;
use proptest::prelude::*;
use serde_json::{json, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        Just(json!("2026-03-09T09:30:00+08:00")),
        Just(json!("1994-05-14")),
        Just(json!(her_id(1))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("card_id".to_owned()),
                    Just("woman".to_owned()),
                    Just("pregnancy".to_owned()),
                    Just("findings".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const POINTERS: [&str; 16] = [
    "/card_id",
    "/institution_code",
    "/assessed_at",
    "/assessor",
    "/woman/id_type",
    "/woman/id_number",
    "/woman/birth_date",
    "/woman/phone",
    "/woman/residence_district",
    "/pregnancy/lmp",
    "/pregnancy/gestational_weeks",
    "/pregnancy/para",
    "/measurements/height_cm",
    "/measurements/systolic_mmhg",
    "/findings",
    "/declared_colour",
];

/// Parses and validates; panics only if the code under test does.
fn run(body: &Value) -> Option<Result<(), usize>> {
    let bytes = serde_json::to_vec(body).unwrap();
    let req: RiskCardRequest = edge::parse_json(&bytes).ok()?;
    let reference = reference();
    let catalogues = catalogues();
    let caller = InstitutionCode::parse("H430102-01").unwrap();
    let ctx = Context {
        reference: &reference,
        catalogues: &catalogues,
        now: now(),
        caller: &caller,
    };
    Some(validate_card(&req, &ctx).map(|_| ()).map_err(|e| match e {
        intake::validate::Rejection::Invalid(errors) => {
            assert!(
                !errors.is_empty(),
                "an invalid card names at least one field"
            );
            errors.len()
        }
        intake::validate::Rejection::Forbidden(_) => 0,
    }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_json_never_panics(body in any_json()) {
        let _ = run(&body);
        let _ = edge::parse_json::<intake::wire::OutcomeRequest>(body.to_string().as_bytes());
        let _ = intake::csv_import::parse_csv(body.to_string().as_bytes());
    }

    #[test]
    fn a_valid_card_with_one_random_field_never_panics(i in 0..POINTERS.len(), v in any_json()) {
        let mut body = card("c-1", "H430102-01", &her_id(1));
        *body.pointer_mut(POINTERS[i]).unwrap() = v;
        let _ = run(&body);
    }
}

#[test]
fn random_bodies_through_http_are_answered_with_a_4xx_or_202() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(sqlite_app());
    let key = rt.block_on(app.key(Role::Hospital, "H430102-01"));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (b, None)),
        (0..POINTERS.len(), any_json()).prop_map(|(i, v)| {
            let mut body = card("c-1", "H430102-01", &her_id(1));
            *body.pointer_mut(POINTERS[i]).unwrap() = v;
            (serde_json::to_vec(&body).unwrap(), Some(i))
        }),
    ];
    runner
        .run(&strategy, |(bytes, _)| {
            let (status, body) = rt.block_on(app.raw(
                "POST",
                "/v1/risk-cards",
                Some(&key),
                "application/json",
                bytes,
            ));
            prop_assert!(
                status.as_u16() == 202 || status.is_client_error(),
                "{status}: {body}"
            );
            Ok(())
        })
        .unwrap();
}

//! The case view: a case's events folded into what `GET /v1/cases/{case_id}` shows, and who
//! may see it.
//!
//! What it owns: the fold (cards, latest `RiskAssessed` read as JSON, outcome) and the
//! visibility rule (a hospital sees cases it reported; a district or city office sees cases
//! residing in its area; nobody else). It does no IO and shows no personal data: no name,
//! ID number, phone or address.

use crate::wire::{CardSummary, CaseView, OutcomeSummary};
use contracts::{
    DistrictCode, Envelope, InstitutionCode, PregnancyOutcomeReported, RiskCardSubmitted,
};
use edge::{Principal, Role};
use time::format_description::well_known::Rfc3339;

/// A folded case plus what visibility needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedCase {
    /// The view.
    pub view: CaseView,
    /// Every institution that reported a card or the outcome.
    pub reporters: Vec<InstitutionCode>,
    /// Her residence district on the latest card.
    pub residence: DistrictCode,
}

/// The fields of a `RiskAssessed` assessment the view shows.
const ASSESSMENT_FIELDS: [&str; 7] = [
    "colour",
    "infectious",
    "score",
    "score_band",
    "high_risk",
    "high_risk_reasons",
    "findings",
];

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Folds a case's events (in log order). `None` when it holds no card (no such case).
pub fn fold(case_id: &str, events: &[Envelope]) -> Option<FoldedCase> {
    let mut cards = Vec::new();
    let mut reporters: Vec<InstitutionCode> = Vec::new();
    let mut residence = None;
    let mut assessment = None;
    let mut outcome = None;
    for env in events {
        if env.is::<RiskCardSubmitted>() {
            let Ok(card) = env.decode::<RiskCardSubmitted>() else {
                continue;
            };
            residence = Some(card.woman.residence_district.clone());
            if !reporters.contains(&card.institution) {
                reporters.push(card.institution.clone());
            }
            cards.push(CardSummary {
                card_id: card.card_id,
                institution: card.institution.to_string(),
                assessed_at: rfc3339(card.assessed_at),
                received_at: rfc3339(card.received_at),
                findings: card.findings,
                declared_colour: card.declared_colour.map(|c| c.as_str().to_owned()),
                critical: card.critical,
            });
        } else if env.event_type == "RiskAssessed" {
            if let Some(a) = env.payload.get("assessment").and_then(|a| a.as_object()) {
                let mut shown = serde_json::Map::new();
                for k in ASSESSMENT_FIELDS {
                    if let Some(v) = a.get(k) {
                        shown.insert(k.to_owned(), v.clone());
                    }
                }
                if let Some(t) = env.payload.get("assessed_at") {
                    shown.insert("assessed_at".into(), t.clone());
                }
                assessment = Some(serde_json::Value::Object(shown));
            }
        } else if env.is::<PregnancyOutcomeReported>() {
            let Ok(o) = env.decode::<PregnancyOutcomeReported>() else {
                continue;
            };
            if !reporters.contains(&o.institution) {
                reporters.push(o.institution.clone());
            }
            outcome = Some(OutcomeSummary {
                outcome: serde_json::to_value(o.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                occurred_at: rfc3339(o.occurred_at),
                place: o.place,
                in_hospital: o.in_hospital,
                institution: o.institution.to_string(),
            });
        }
    }
    let residence = residence?;
    Some(FoldedCase {
        view: CaseView {
            case_id: case_id.to_owned(),
            status: if outcome.is_some() { "closed" } else { "open" }.into(),
            residence_district: residence.to_string(),
            assessment,
            cards,
            outcome,
        },
        reporters,
        residence,
    })
}

/// Whether `principal` may see the case.
pub fn may_see(principal: &Principal, case: &FoldedCase) -> bool {
    match principal.role {
        Role::Hospital => case.reporters.contains(&principal.institution),
        Role::DistrictOffice | Role::CityOffice => principal.may_see_district(&case.residence),
        Role::RescueCentre | Role::Reviewer | Role::Admin => false,
    }
}

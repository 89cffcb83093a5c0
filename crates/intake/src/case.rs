//! Case identity, decided purely: a case is one pregnancy of one woman. A card for a woman
//! with an open case joins it (from any hospital); a card for a woman without one opens a
//! new case; an outcome closes it.
//!
//! What it owns: the per-woman state kept as a document (`intake_women`, key = her hash,
//! never her number), the decision for a card or an outcome, and the derivation of every id
//! (card event, case, link events) from the request, so a retry derives the same ids. It
//! does no IO: [`crate::service`] reads the state, appends what is decided here with an
//! expected version, and decides again on a conflict.

use crate::events::{CardJoinedCase, CaseClosed, CaseOpened};
use contracts::{derive_event_id, CaseId, InstitutionCode, StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The document collection holding each woman's state.
pub const WOMEN: &str = "intake_women";

/// The namespace of every id intake derives (UUID v5).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6b1e_2f0a_4c1d_4e55_9a7b_1d3c_5e7f_9a01);

/// What intake remembers about one woman (by her key): her open case, and the version of
/// her stream that this state reflects (the expected version of the next append).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WomanState {
    /// Her open case, if any.
    pub open_case: Option<CaseId>,
    /// The version of `woman-<key>` after the event that produced this state.
    pub version: i64,
}

/// What a card does to her case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardDecision {
    /// She has an open case: the card joins it.
    Join(CaseId),
    /// She has none: the card opens this new one.
    Open(CaseId),
}

impl CardDecision {
    /// The case the card belongs to.
    pub fn case_id(&self) -> &CaseId {
        match self {
            Self::Join(c) | Self::Open(c) => c,
        }
    }
}

/// The id of a card's `RiskCardSubmitted`: UUID v5 of the institution and card id.
pub fn card_event_id(institution: &InstitutionCode, card_id: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("card/{institution}/{card_id}").as_bytes(),
    )
}

/// The id of an outcome's `PregnancyOutcomeReported`: UUID v5 of the institution and report id.
pub fn outcome_event_id(institution: &InstitutionCode, report_id: &str) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("outcome/{institution}/{report_id}").as_bytes(),
    )
}

/// The stream of a card: `card-<institution>-<card_id>`.
pub fn card_stream(institution: &InstitutionCode, card_id: &str) -> StreamId {
    StreamId::parse(format!("card-{institution}-{card_id}")).expect("checked card id and code")
}

/// The stream of an outcome: `outcome-<institution>-<report_id>`.
pub fn outcome_stream(institution: &InstitutionCode, report_id: &str) -> StreamId {
    StreamId::parse(format!("outcome-{institution}-{report_id}"))
        .expect("checked report id and code")
}

/// The per-woman stream: `woman-<key>`.
pub fn woman_stream(woman_key: &str) -> StreamId {
    StreamId::parse(format!("woman-{woman_key}")).expect("hex key")
}

/// A new case's id: UUID v5 of her key, in the namespace of the card that opens it.
pub fn new_case_id(woman_key: &str, card_event_id: Uuid) -> CaseId {
    CaseId::parse(Uuid::new_v5(&card_event_id, woman_key.as_bytes()).to_string())
        .expect("a uuid is a valid case id")
}

/// Decides what a card does, given her state (`None`: never seen).
pub fn decide_card(
    state: Option<&WomanState>,
    woman_key: &str,
    card_event_id: Uuid,
) -> CardDecision {
    match state.and_then(|s| s.open_case.clone()) {
        Some(case) => CardDecision::Join(case),
        None => CardDecision::Open(new_case_id(woman_key, card_event_id)),
    }
}

/// The event a card appends to her stream, with its derived id.
pub fn card_link_event(decision: &CardDecision, card_event_id: Uuid) -> (Uuid, LinkEvent) {
    let id = derive_event_id(card_event_id, "woman-link");
    let ev = match decision {
        CardDecision::Open(case_id) => LinkEvent::Opened(CaseOpened {
            case_id: case_id.clone(),
            card_event_id,
        }),
        CardDecision::Join(case_id) => LinkEvent::Joined(CardJoinedCase {
            case_id: case_id.clone(),
            card_event_id,
        }),
    };
    (id, ev)
}

/// One of the events on her stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A case opened.
    Opened(CaseOpened),
    /// A card joined.
    Joined(CardJoinedCase),
    /// A case closed.
    Closed(CaseClosed),
}

/// What an outcome does to her case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeDecision {
    /// The case is her open one: close it.
    Close {
        /// The id of the `CaseClosed` event.
        event_id: Uuid,
        /// The event.
        event: CaseClosed,
    },
    /// The case is not open (already closed, or a later case is open).
    NotOpen,
}

/// Decides what an outcome for `case` does, given her state.
pub fn decide_outcome(
    state: Option<&WomanState>,
    case: &CaseId,
    outcome_event_id: Uuid,
) -> OutcomeDecision {
    match state.and_then(|s| s.open_case.as_ref()) {
        Some(open) if open == case => OutcomeDecision::Close {
            event_id: derive_event_id(outcome_event_id, "case-closed"),
            event: CaseClosed {
                case_id: case.clone(),
                outcome_event_id,
            },
        },
        _ => OutcomeDecision::NotOpen,
    }
}

/// Her state after an append that left her stream at `version`.
pub fn next_state(open_case: Option<CaseId>, version: i64) -> WomanState {
    WomanState { open_case, version }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ab12";

    #[test]
    fn given_no_case_a_card_opens_one_and_the_next_joins_it() {
        let first = Uuid::from_u128(1);
        let d = decide_card(None, KEY, first);
        let CardDecision::Open(case) = d.clone() else {
            panic!("expected a new case, got {d:?}");
        };
        assert_eq!(case, new_case_id(KEY, first));
        let state = next_state(Some(case.clone()), 1);
        assert_eq!(
            decide_card(Some(&state), KEY, Uuid::from_u128(2)),
            CardDecision::Join(case.clone())
        );
        let (_, ev) = card_link_event(&d, first);
        assert!(matches!(ev, LinkEvent::Opened(ref o) if o.case_id == case));
    }

    #[test]
    fn an_outcome_closes_only_the_open_case_and_the_next_card_opens_another() {
        let first = Uuid::from_u128(1);
        let case = new_case_id(KEY, first);
        let open = next_state(Some(case.clone()), 3);
        let outcome = Uuid::from_u128(9);
        assert!(matches!(
            decide_outcome(Some(&open), &case, outcome),
            OutcomeDecision::Close { ref event, .. } if event.case_id == case
        ));
        let other = new_case_id(KEY, Uuid::from_u128(5));
        assert_eq!(
            decide_outcome(Some(&open), &other, outcome),
            OutcomeDecision::NotOpen
        );
        assert_eq!(
            decide_outcome(None, &case, outcome),
            OutcomeDecision::NotOpen
        );
        let closed = next_state(None, 4);
        let next = decide_card(Some(&closed), KEY, Uuid::from_u128(6));
        assert!(matches!(next, CardDecision::Open(ref c) if *c != case));
    }

    #[test]
    fn ids_are_derived_not_random() {
        let h = InstitutionCode::parse("H1").unwrap();
        let g = InstitutionCode::parse("H2").unwrap();
        assert_eq!(card_event_id(&h, "c1"), card_event_id(&h, "c1"));
        assert_ne!(card_event_id(&h, "c1"), card_event_id(&g, "c1"));
        assert_ne!(card_event_id(&h, "c1"), outcome_event_id(&h, "c1"));
        assert_ne!(
            new_case_id("a", Uuid::from_u128(1)),
            new_case_id("b", Uuid::from_u128(1))
        );
        assert_eq!(card_stream(&h, "c1").as_str(), "card-H1-c1");
    }
}

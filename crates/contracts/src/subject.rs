//! NATS subjects, built in this one place: `referral.<district>.<event-type>`, with the
//! woman's residence district (GB/T 2260) and the event type in kebab-case. A district
//! office's own system subscribes to `referral.<its code>.>` and sees nothing else.
//! Events without a district (system events) go to `referral.global.<event-type>`.

use crate::envelope::Envelope;
use crate::values::DistrictCode;

/// The JetStream stream that holds every event.
pub const STREAM_NAME: &str = "REFERRAL";
/// The root token of every subject.
pub const SUBJECT_ROOT: &str = "referral";
/// The district token of events that belong to no district.
pub const GLOBAL_TOKEN: &str = "global";

/// Subject builder.
#[derive(Debug, Clone, Copy)]
pub struct Subject;

impl Subject {
    /// `referral.>`: everything.
    pub fn all() -> String {
        format!("{SUBJECT_ROOT}.>")
    }

    /// The subject an event is published on.
    pub fn for_event(district: Option<&DistrictCode>, event_type: &str) -> String {
        let district = district.map_or(GLOBAL_TOKEN, DistrictCode::as_str);
        format!("{SUBJECT_ROOT}.{district}.{}", event_type_token(event_type))
    }

    /// The subject of a stored envelope.
    pub fn of(envelope: &Envelope) -> String {
        Self::for_event(envelope.metadata.district.as_ref(), &envelope.event_type)
    }

    /// Every event of one type, all districts: `referral.*.<event-type>`.
    pub fn event_type(event_type: &str) -> String {
        format!("{SUBJECT_ROOT}.*.{}", event_type_token(event_type))
    }

    /// Every event of one district: `referral.<district>.>`.
    pub fn district(district: &DistrictCode) -> String {
        format!("{SUBJECT_ROOT}.{}.>", district.as_str())
    }
}

/// `DistrictAlertRaised` → `district-alert-raised`. Only ASCII letters and digits survive,
/// so the token is always a valid NATS subject token.
pub fn event_type_token(event_type: &str) -> String {
    let mut out = String::with_capacity(event_type.len() + 4);
    let mut prev_lower_or_digit = false;
    for ch in event_type.chars().filter(char::is_ascii_alphanumeric) {
        if ch.is_ascii_uppercase() {
            if prev_lower_or_digit {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower_or_digit = false;
        } else {
            out.push(ch);
            prev_lower_or_digit = true;
        }
    }
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subjects() {
        let d = DistrictCode::parse("430102").unwrap();
        assert_eq!(
            Subject::for_event(Some(&d), "DistrictAlertRaised"),
            "referral.430102.district-alert-raised"
        );
        assert_eq!(
            Subject::for_event(None, "DeadlineFired"),
            "referral.global.deadline-fired"
        );
        assert_eq!(Subject::district(&d), "referral.430102.>");
        assert_eq!(
            Subject::event_type("RiskAssessed"),
            "referral.*.risk-assessed"
        );
    }

    proptest! {
        #[test]
        fn tokens_are_valid_subject_tokens(s in "\\PC{0,40}") {
            let t = event_type_token(&s);
            prop_assert!(!t.is_empty());
            prop_assert!(t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
}

//! Read models derived from a referral's state alone (so a replay rebuilds them exactly),
//! written in the same transaction as the events that change them, as a diff of the
//! referral's documents before and after.
//!
//! Collections (scope in brackets): `referral` [residence district] by referral id: the whole
//! referral, forms included (personal data: shown only to the parties); `referral-centre`
//! [centre] keyed `<centre>|<referral id>`, one per centre asked, for the centres' boards;
//! `referral-district` [residence district] and `referral-sender` [sending institution] by
//! referral id, for the offices' and the sender's boards. Board rows carry no identity.

use crate::core::ReferralState;
use eventstore::DocumentOp;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every collection this projection writes (a rebuild clears them first).
pub const COLLECTIONS: [&str; 4] = [
    "referral",
    "referral-district",
    "referral-sender",
    "referral-centre",
];

/// One read-model document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Collection.
    pub collection: &'static str,
    /// Key.
    pub key: String,
    /// Scope.
    pub scope: String,
    /// Body.
    pub body: Value,
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A referral as the boards show it: status, rung, centres, times; no identity.
pub fn summary(s: &ReferralState) -> Option<Value> {
    let o = s.opened.as_ref()?;
    let status = s.status()?.as_str();
    Some(json!({
        "referral_id": o.referral_id,
        "case_id": o.case_id,
        "status": status,
        "residence_district": o.residence_district,
        "sending_institution": o.sending_institution,
        "opened_by": o.opened_by,
        "opened_at": ts(o.opened_at),
        "reason": o.form.reason,
        "diagnosis": o.form.clinical.as_ref().map(|c| c.diagnosis.clone()),
        "ladder": o.ladder,
        "rung": s.rung,
        "target": s.target,
        "acceptance_due_at": s.acceptance_due_at.map(ts),
        "escalations": s.escalations.len(),
        "renotifications": s.renotified.len(),
        "accepted_by": s.accepted.as_ref().map(|a| a.centre.clone()),
        "receiving_doctor": s.accepted.as_ref().map(|a| a.receiving_doctor.clone()),
        "accepted_at": s.accepted.as_ref().map(|a| ts(a.at)),
        "departed_at": s.departed.as_ref().map(|d| ts(d.departed_at)),
        "arrived_at": s.arrived.as_ref().map(|a| ts(a.arrived_at)),
        "outcome": s.feedback.as_ref().map(|f| f.outcome),
        "timeliness": s.feedback.as_ref().map(|f| f.timeliness),
        "near_miss": !s.near_miss.is_empty(),
        "review_flagged": s.near_miss.iter().any(|n| n.review_flagged),
        "closed_at": s.closed.as_ref().map(|c| ts(c.at)),
    }))
}

/// The whole referral: the summary, the forms and the history of the ladder.
pub fn detail(s: &ReferralState) -> Option<Value> {
    let o = s.opened.as_ref()?;
    let mut body = summary(s)?;
    let extra = json!({
        "form": o.form,
        "escalation_history": s.escalations,
        "handed_on": s.handed_on,
        "renotified": s.renotified,
        "departure": s.departed,
        "arrival": s.arrived,
        "feedback": s.feedback,
        "near_miss_records": s.near_miss,
    });
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    Some(body)
}

/// Every document of one referral.
pub fn documents(s: &ReferralState) -> Vec<Doc> {
    let (Some(o), Some(summary), Some(detail)) = (s.opened.as_ref(), summary(s), detail(s)) else {
        return Vec::new();
    };
    let id = o.referral_id.to_string();
    let mut docs = vec![
        Doc {
            collection: "referral",
            key: id.clone(),
            scope: o.residence_district.to_string(),
            body: detail,
        },
        Doc {
            collection: "referral-district",
            key: id.clone(),
            scope: o.residence_district.to_string(),
            body: summary.clone(),
        },
        Doc {
            collection: "referral-sender",
            key: id.clone(),
            scope: o.sending_institution.to_string(),
            body: summary.clone(),
        },
    ];
    for centre in s.centres_asked() {
        let mut body = summary.clone();
        if let Some(b) = body.as_object_mut() {
            b.insert("centre".into(), json!(centre));
            b.insert(
                "asked_now".into(),
                json!(s.target.as_ref() == Some(&centre)),
            );
            b.insert(
                "may_accept".into(),
                json!(s.accepted.is_none() && s.may_accept(&centre)),
            );
        }
        docs.push(Doc {
            collection: "referral-centre",
            key: format!("{centre}|{id}"),
            scope: centre.to_string(),
            body,
        });
    }
    docs
}

/// The document operations that turn `before` into `after`: deletes for documents that are
/// gone and puts for every document of `after` (the stored ones may lag the state when the
/// scheduler appended an event, so unchanged-looking documents are written too).
pub fn diff(before: &[Doc], after: &[Doc]) -> Vec<DocumentOp> {
    let new: BTreeMap<(&str, &str), &Doc> = after
        .iter()
        .map(|d| ((d.collection, d.key.as_str()), d))
        .collect();
    let mut ops: Vec<DocumentOp> = before
        .iter()
        .filter(|d| !new.contains_key(&(d.collection, d.key.as_str())))
        .map(|d| DocumentOp::Delete {
            collection: d.collection.into(),
            key: d.key.clone(),
        })
        .collect();
    ops.extend(new.values().map(|d| DocumentOp::Put {
        collection: d.collection.into(),
        key: d.key.clone(),
        scope: d.scope.clone(),
        body: d.body.clone(),
    }));
    ops
}

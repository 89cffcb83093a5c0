//! Read models derived from a case's warning state alone (so a replay rebuilds them exactly):
//! the alert documents and the inbox index, and the three registers. Written in the same
//! transaction as the events that change them, as a diff of the case's documents before and
//! after.
//!
//! Collections (scope in brackets): `alert` [office] by alert id; `inbox` [`<office>|<status>`]
//! keyed `<due epoch seconds>|<alert id>` so that listing an office's open alerts in key order
//! puts the most overdue first; `register-high-risk`, `register-red`, `register-not-suitable`
//! and `case-warning` [district] by case id.

use crate::core::{Alert, AlertStatus, CaseState};
use contracts::CaseId;
use eventstore::DocumentOp;
use scoring::Grade;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every collection this projection writes (a rebuild clears them first).
pub const COLLECTIONS: [&str; 6] = [
    "alert",
    "inbox",
    "case-warning",
    "register-high-risk",
    "register-red",
    "register-not-suitable",
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

/// The status word of an alert.
pub fn status_word(status: &AlertStatus) -> &'static str {
    match status {
        AlertStatus::Open => "open",
        AlertStatus::Acknowledged { .. } => "acknowledged",
        AlertStatus::Closed { .. } => "closed",
    }
}

/// An alert as the inbox and the API show it.
pub fn alert_body(a: &Alert) -> Value {
    let r = &a.raised;
    let (by, at) = match &a.status {
        AlertStatus::Acknowledged { by, at } => (Some(by.clone()), Some(ts(*at))),
        _ => (None, None),
    };
    json!({
        "alert_id": r.alert_id,
        "case_id": r.case_id,
        "district": r.district,
        "kind": r.kind,
        "triggers": r.triggers,
        "colour": r.grade.colour,
        "infectious": r.grade.infectious,
        "score": r.grade.score,
        "high_risk": r.grade.high_risk,
        "assessed_at": ts(r.assessed_at),
        "received_at": ts(r.received_at),
        "due_at": r.due_at.map(ts),
        "reported_late": r.reported_late,
        "institution": r.institution,
        "residence_district": r.residence_district,
        "related_alert": r.related_alert,
        "status": status_word(&a.status),
        "overdue": a.overdue,
        "acknowledged_by": by,
        "acknowledged_at": at,
    })
}

/// The inbox key: due time first (alerts without a deadline last), then the id.
pub fn inbox_key(a: &Alert) -> String {
    let due = a
        .raised
        .due_at
        .map_or(i64::MAX, OffsetDateTime::unix_timestamp);
    format!("{due:020}|{}", a.raised.alert_id)
}

fn grade_json(g: &Grade) -> Value {
    json!({ "colour": g.colour, "infectious": g.infectious, "score": g.score, "high_risk": g.high_risk })
}

/// Every document of one case.
pub fn documents(case: &CaseId, s: &CaseState) -> Vec<Doc> {
    let mut docs = Vec::new();
    for a in s.alerts.values() {
        let body = alert_body(a);
        docs.push(Doc {
            collection: "alert",
            key: a.raised.alert_id.to_string(),
            scope: a.raised.district.to_string(),
            body: body.clone(),
        });
        docs.push(Doc {
            collection: "inbox",
            key: inbox_key(a),
            scope: format!("{}|{}", a.raised.district, status_word(&a.status)),
            body,
        });
    }
    let Some(district) = s.district.as_ref().map(ToString::to_string) else {
        return docs;
    };
    let history: Vec<Value> = s
        .history
        .iter()
        .map(|h| json!({ "assessed_at": ts(h.assessed_at), "grade": grade_json(&h.grade), "institution": h.institution, "catalogue": h.catalogue, "policy": h.policy }))
        .collect();
    let latest = s.history.iter().max_by_key(|h| h.assessed_at);
    if let Some((grade, at)) = s.current {
        docs.push(Doc {
            collection: "case-warning",
            key: case.to_string(),
            scope: district.clone(),
            body: json!({
                "case_id": case, "district": district, "grade": grade_json(&grade), "assessed_at": ts(at),
                "high_risk_since": s.high_risk_since.map(ts), "history": history,
                "transfers": s.transfers.iter().map(|t| json!({"from": t.from, "to": t.to, "at": ts(t.at)})).collect::<Vec<_>>(),
            }),
        });
        if let Some(since) = s.high_risk_since {
            docs.push(Doc {
                collection: "register-high-risk",
                key: case.to_string(),
                scope: district.clone(),
                body: json!({
                    "case_id": case, "district": district, "colour": grade.colour, "infectious": grade.infectious,
                    "score": grade.score, "high_risk_since": ts(since), "last_assessed_at": ts(at),
                    "institution": latest.map(|h| h.institution.clone()), "assessments": s.history.len(),
                }),
            });
        }
    }
    let red: Vec<String> = s
        .history
        .iter()
        .filter(|h| h.grade.colour == contracts::Colour::Red)
        .map(|h| ts(h.assessed_at))
        .collect();
    if !red.is_empty() {
        docs.push(Doc {
            collection: "register-red",
            key: case.to_string(),
            scope: district.clone(),
            body: json!({ "case_id": case, "district": district, "red_assessments": red, "current_colour": s.current.map(|(g, _)| g.colour) }),
        });
    }
    if !s.not_suitable.is_empty() {
        docs.push(Doc {
            collection: "register-not-suitable",
            key: case.to_string(),
            scope: district.clone(),
            body: json!({
                "case_id": case, "district": district,
                "judgements": s.not_suitable.iter().map(|n| json!({
                    "judged_by": n.judged_by, "title": n.title, "judged_at": ts(n.judged_at),
                    "reason": n.reason, "followed_by": n.followed_by, "recorded_by": n.recorded_by,
                })).collect::<Vec<_>>(),
            }),
        });
    }
    docs
}

/// The document operations that turn `before` into `after`: deletes for documents that are
/// gone and puts for every document of `after` (the stored ones may lag the state when the
/// scheduler appended an event, so unchanged-looking documents are written too).
pub fn diff(before: &[Doc], after: &[Doc]) -> Vec<DocumentOp> {
    let old: BTreeMap<(&str, &str), &Doc> = before
        .iter()
        .map(|d| ((d.collection, d.key.as_str()), d))
        .collect();
    let new: BTreeMap<(&str, &str), &Doc> = after
        .iter()
        .map(|d| ((d.collection, d.key.as_str()), d))
        .collect();
    let mut ops = Vec::new();
    for (k, d) in &old {
        if !new.contains_key(k) {
            ops.push(DocumentOp::Delete {
                collection: d.collection.into(),
                key: d.key.clone(),
            });
        }
    }
    for d in new.values() {
        {
            ops.push(DocumentOp::Put {
                collection: d.collection.into(),
                key: d.key.clone(),
                scope: d.scope.clone(),
                body: d.body.clone(),
            });
        }
    }
    ops
}

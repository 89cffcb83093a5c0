//! Read models derived from a case's follow-up state alone (so a replay rebuilds them
//! exactly), written in the same transaction as the events that change them, as a diff of the
//! case's documents before and after.
//!
//! Collections (scope in brackets):
//! - `followup-item` [`<district>|<YYYY-MM>`]: one per item, under the district that does it
//!   now and the month it is due (UTC+8), keyed by item id: a district's worklist for a month
//!   is one scope. The body carries what the worklist shows (name, phone, grade, last contact,
//!   attempts, due date, status, assignee) — personal data, access-controlled;
//! - `followup-worklist` [`<district>|<YYYY-MM>|<status>`]: the same body again, one per item,
//!   keyed so that a scope lists in worklist order ([`worklist_key`]: colour rank, due time,
//!   case id, item id). The open worklist of a month is one scope whose key-ordered prefix is
//!   the first page: within a colour the overdue items are exactly the earliest due ones, so
//!   due-time order already puts them first, whatever "now" is;
//! - `followup-case` [district]: one per woman under follow-up: grade, last contact, next due,
//!   missed months, lost to follow-up (the 高危台账's follow-up columns).
//!
//! Nothing here depends on the clock: "overdue" and "gestational age today" are computed when
//! the worklist is read.

use crate::core::{CaseState, Item, ItemStatus};
use contracts::{CaseId, Colour};
use eventstore::DocumentOp;
use scoring::FollowUp;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every collection this projection writes (a rebuild clears them first).
pub const COLLECTIONS: [&str; 3] = ["followup-item", "followup-worklist", "followup-case"];

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

/// The worklist scope of a district and month.
pub fn worklist_scope(district: &str, month: &str) -> String {
    format!("{district}|{month}")
}

/// The worklist scope of a district, month and item status (`open`, `done`, `closed`).
pub fn worklist_status_scope(district: &str, month: &str, status: &str) -> String {
    format!("{district}|{month}|{status}")
}

/// The statuses an item document can have, each a `followup-worklist` scope of its own.
pub const STATUSES: [&str; 3] = ["open", "done", "closed"];

/// The worklist rank of a grade: red → orange → purple → yellow → green (and ungraded last).
pub fn rank(colour: Option<Colour>, purple: bool) -> u8 {
    match colour {
        Some(Colour::Red) => 0,
        Some(Colour::Orange) => 1,
        _ if purple => 2,
        Some(Colour::Yellow) => 3,
        _ => 4,
    }
}

/// A `followup-worklist` key: sorts as text in worklist order (rank, due time, case id, item
/// id). Fields are separated by `!`, below every character a case id may hold, so a shorter
/// case id sorts before a longer one it prefixes, as the ids themselves do.
pub fn worklist_key(rank: u8, due_at: OffsetDateTime, case_id: &str, item_id: &str) -> String {
    let nanos = due_at.unix_timestamp_nanos().max(0);
    format!("{rank}!{nanos:020}!{case_id}!{item_id}")
}

/// The last four characters of an identity number, the rest masked.
fn masked(id: &str) -> String {
    let n = id.chars().count();
    id.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '*' } else { c })
        .collect()
}

fn item_body(s: &CaseState, i: &Item, policy: &FollowUp) -> Value {
    let (status, result) = i.status(policy);
    let grade = s.opened.as_ref().map(|o| o.grade);
    let details = s.details.as_ref();
    let last = s.last_attempt();
    let sc = &i.scheduled;
    json!({
        "item_id": sc.item_id,
        "case_id": sc.case_id,
        "kind": sc.kind,
        "month": sc.month,
        "due_date": sc.due_date.to_string(),
        "due_at": ts(sc.due_at),
        "district": i.district,
        "scheduled_district": sc.district,
        "status": status.as_str(),
        "result": result,
        "attempts": i.attempts.len(),
        "next_attempt_at": i.attempts.last().and_then(|a| a.next_attempt_at).map(ts),
        "assignee": i.assignee,
        "name": details.map(|d| d.name.clone()),
        "phone": details.and_then(|d| d.phone.clone()),
        "id_number_masked": details.map(|d| masked(&d.id_number)),
        "colour": grade.map(|g| g.colour),
        "purple": grade.map(|g| g.infectious),
        "score": grade.map(|g| g.score),
        "lmp": s.lmp(policy).map(|d| d.to_string()),
        "edd": s.edd(policy).map(|d| d.to_string()),
        "pregnancy_ended": s.ended.is_some(),
        "last_contact_at": last.map(|a| ts(a.at)),
        "last_contact_outcome": last.map(|a| a.outcome),
        "lost_to_follow_up": is_lost(s),
    })
}

/// Lost to follow-up and not found again since.
fn is_lost(s: &CaseState) -> bool {
    let Some(lost) = s.lost.last() else {
        return false;
    };
    !s.items
        .values()
        .flat_map(|i| i.attempts.iter())
        .any(|a| a.outcome.is_contact() && a.at >= lost.at)
}

/// Every document of one case.
pub fn documents(case: &CaseId, s: &CaseState, policy: &FollowUp) -> Vec<Doc> {
    let mut docs = Vec::new();
    let (Some(opened), Some(district)) = (s.opened.as_ref(), s.district()) else {
        return docs;
    };
    let rank = rank(Some(opened.grade.colour), opened.grade.infectious);
    for i in s.items.values() {
        let month = crate::core::YearMonth::of(i.scheduled.due_date).key();
        let item_id = i.scheduled.item_id.to_string();
        let body = item_body(s, i, policy);
        docs.push(Doc {
            collection: "followup-worklist",
            key: worklist_key(rank, i.scheduled.due_at, case.as_str(), &item_id),
            scope: worklist_status_scope(i.district.as_str(), &month, i.status(policy).0.as_str()),
            body: body.clone(),
        });
        docs.push(Doc {
            collection: "followup-item",
            key: item_id,
            scope: worklist_scope(i.district.as_str(), &month),
            body,
        });
    }
    let next_due = s
        .items
        .values()
        .filter(|i| i.status(policy).0 == ItemStatus::Open)
        .min_by_key(|i| i.scheduled.due_at);
    let last = s.last_attempt();
    docs.push(Doc {
        collection: "followup-case",
        key: case.to_string(),
        scope: district.to_string(),
        body: json!({
            "case_id": case,
            "district": district,
            "colour": opened.grade.colour,
            "purple": opened.grade.infectious,
            "score": opened.grade.score,
            "high_risk_since": ts(opened.high_risk_since),
            "last_contact_at": last.map(|a| ts(a.at)),
            "last_contact_outcome": last.map(|a| a.outcome),
            "next_due": next_due.map(|i| json!({"item_id": i.scheduled.item_id, "kind": i.scheduled.kind, "due_date": i.scheduled.due_date.to_string()})),
            "missed_months": s.missed.iter().map(|m| m.key()).collect::<Vec<_>>(),
            "lost_to_follow_up": is_lost(s),
            "pregnancy_ended": s.ended.as_ref().map(|e| ts(e.occurred_at)),
            "items": s.items.len(),
        }),
    });
    docs
}

/// The document operations that turn `before` into `after`: deletes for documents that are
/// gone (an item that moved district or month changes scope, not key, and is put again) and
/// puts for every document of `after`.
pub fn diff(before: &[Doc], after: &[Doc]) -> Vec<DocumentOp> {
    let new: BTreeMap<(&str, &str), &Doc> = after
        .iter()
        .map(|d| ((d.collection, d.key.as_str()), d))
        .collect();
    let mut ops = Vec::new();
    for d in before {
        if !new.contains_key(&(d.collection, d.key.as_str())) {
            ops.push(DocumentOp::Delete {
                collection: d.collection.into(),
                key: d.key.clone(),
            });
        }
    }
    for d in new.values() {
        ops.push(DocumentOp::Put {
            collection: d.collection.into(),
            key: d.key.clone(),
            scope: d.scope.clone(),
            body: d.body.clone(),
        });
    }
    ops
}

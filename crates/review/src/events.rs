//! The one event the review component appends: `CaseReviewed`, a reviewer's conclusion on a
//! critical case, on the stream `review-<case_id>`. Its id is derived from the case and the
//! request id (client-supplied, or derived from the conclusion's content), so a repeated POST
//! stores one conclusion.

use contracts::{CaseId, DistrictCode, DomainEvent, InstitutionCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Could the death or near miss have been avoided (可避免 / 创造条件可避免 / 不可避免).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Avoidability {
    /// Avoidable (可避免).
    Avoidable,
    /// Avoidable had conditions been created (创造条件可避免).
    AvoidableWithConditions,
    /// Unavoidable (不可避免).
    Unavoidable,
}

impl Avoidability {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avoidable => "avoidable",
            Self::AvoidableWithConditions => "avoidable_with_conditions",
            Self::Unavoidable => "unavoidable",
        }
    }

    /// The Chinese term.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Avoidable => "可避免",
            Self::AvoidableWithConditions => "创造条件可避免",
            Self::Unavoidable => "不可避免",
        }
    }

    /// The English term.
    pub fn en(self) -> &'static str {
        match self {
            Self::Avoidable => "avoidable",
            Self::AvoidableWithConditions => "avoidable had conditions been created",
            Self::Unavoidable => "unavoidable",
        }
    }
}

/// At which level the review was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewLevel {
    /// The hospital's quarterly review.
    Facility,
    /// The district's half-yearly review.
    District,
}

/// A reviewer concluded on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReviewed {
    /// The conclusion's id (the request id).
    pub review_id: Uuid,
    /// The case.
    pub case_id: CaseId,
    /// Facility or district review.
    pub level: ReviewLevel,
    /// Avoidability.
    pub avoidability: Avoidability,
    /// The delays found, each 1 (deciding to seek care), 2 (reaching care) or 3 (receiving
    /// adequate care); sorted, no duplicates; empty = none.
    pub delays: Vec<u8>,
    /// The reviewers' notes (free text; kept in the log, never logged).
    pub notes: String,
    /// The reviewer (`key:<key id>`).
    pub reviewer: String,
    /// The reviewer's institution or office.
    pub reviewer_institution: InstitutionCode,
    /// The reviewer's district.
    pub reviewer_district: DistrictCode,
    /// The last log position of the case the reviewers saw (the pack's), when given.
    pub pack_last_position: Option<i64>,
    /// When the conclusion was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub reviewed_at: OffsetDateTime,
}

impl DomainEvent for CaseReviewed {
    const EVENT_TYPE: &'static str = "CaseReviewed";
}

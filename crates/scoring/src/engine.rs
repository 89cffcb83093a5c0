//! The pure grading engine: `assess(card, catalogues, policy)` turns one card into one
//! [`Assessment`] value: the grade colour (highest wins), purple carried alongside as
//! `infectious`, the additive score and its band, high-risk with its reasons, every contributing
//! finding with its source, the versions used, the advice for the colour and any discrepancy
//! with the hospital's declared colour.
//!
//! This module owns the grading rules only. It does no IO, reads no clock (the date is on the
//! card), keeps no state and knows nothing of NATS, SQL or event ids: an assessment is a value,
//! recorded once as the payload of `RiskAssessed` and never recomputed when catalogues change.

use crate::card::Card;
use crate::catalogue::{
    Advice, CatalogueVersions, Catalogues, EntryRef, Measure, ScoreBand, Table, VersionId,
};
use crate::policy::Policy;
use crate::validate::{check, AssessError};
use contracts::Colour;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::Date;

/// The result of grading one card. Serializable: it is the payload of `RiskAssessed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The card's assessment date, `YYYY-MM-DD`.
    #[serde(with = "crate::card::iso_date")]
    pub assessed_on: Date,
    /// The grade: the highest of green < yellow < orange < red among the findings; green when
    /// nothing applies. Never purple: see `infectious`.
    pub colour: Colour,
    /// Purple: an infectious-disease finding, carried alongside `colour` (never hiding it).
    pub infectious: bool,
    /// Sum of the points of the score-table findings (each code counted once).
    pub score: u32,
    /// The band the score falls in, if any.
    pub score_band: Option<ScoreBand>,
    /// Any screening-table item present: refer for grading.
    pub screen_positive: bool,
    /// High-risk (专案) under the policy.
    pub high_risk: bool,
    /// Why she is high-risk (empty when she is not).
    pub high_risk_reasons: Vec<HighRiskReason>,
    /// Every finding that applies, declared or derived, sorted by table then code.
    pub findings: Vec<Finding>,
    /// Where care and delivery should happen, for `colour`.
    pub advice: Advice,
    /// The purple advice, when `infectious`.
    pub infectious_advice: Option<Advice>,
    /// The colour the hospital declared, if it did.
    pub declared_colour: Option<Colour>,
    /// Set when the declared colour differs from the computed grade.
    pub discrepancy: Option<Discrepancy>,
    /// The catalogue versions that produced this assessment.
    pub catalogues: CatalogueVersions,
    /// The policy version that produced `high_risk`.
    pub policy: VersionId,
}

/// One finding that applies to her.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Catalogue code.
    pub code: String,
    /// Which table it is from.
    pub table: Table,
    /// Its colour (five-colour table only).
    pub colour: Option<Colour>,
    /// Its points (score table only).
    pub points: Option<u32>,
    /// Where it came from: declared by the hospital, derived by rules, or both.
    pub sources: Vec<Source>,
}

/// Where a finding came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Ticked on the card by the hospital.
    Declared,
    /// Added by a derived-finding rule from measurements.
    Derived {
        /// The rule's id in the rules file.
        rule: String,
        /// The measures it tested.
        from: Vec<Measure>,
    },
}

/// Why she is high-risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HighRiskReason {
    /// The grade colour is one the policy lists.
    Colour {
        /// The grade.
        colour: Colour,
    },
    /// Infectious (purple), and the policy lists purple.
    Infectious,
    /// The score reaches the policy's threshold.
    Score {
        /// Her total.
        points: u32,
        /// The policy's threshold.
        min_score: u32,
    },
}

/// The hospital's declared colour differs from the computed grade. A data-quality signal for
/// the district, not a rejection. A declared purple is read as "green + infectious".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrepancy {
    /// What the hospital declared.
    pub declared: Colour,
    /// The computed grade.
    pub computed: Colour,
    /// Whether the computed result is infectious.
    pub computed_infectious: bool,
    /// Which way it differs.
    pub kind: DiscrepancyKind,
}

/// Which way a declared colour differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyKind {
    /// Declared lower than computed: the dangerous direction.
    UnderGraded,
    /// Declared higher than computed.
    OverGraded,
    /// Declared purple, but no infectious finding.
    NotInfectious,
}

/// Grades one card. Pure: the same card, catalogues and policy always give the same value.
///
/// Errors when the card has unknown codes or impossible measurements (all of them listed).
pub fn assess(
    card: &Card,
    catalogues: &Catalogues,
    policy: &Policy,
) -> Result<Assessment, AssessError> {
    let checked = check(card, catalogues)?;

    let mut found: BTreeMap<(Table, &str), (EntryRef, Vec<Source>)> = BTreeMap::new();
    let table_of = |r: EntryRef| match r {
        EntryRef::FiveColour(_) => Table::FiveColour,
        EntryRef::Score(_) => Table::Score,
        EntryRef::Screening(_) => Table::Screening,
    };
    for r in &checked.codes {
        // Use the catalogue's own string so the key borrows from `catalogues`.
        let code = code_of(catalogues, *r);
        let e = found
            .entry((table_of(*r), code))
            .or_insert((*r, Vec::new()));
        if !e.1.contains(&Source::Declared) {
            e.1.push(Source::Declared);
        }
    }
    for rule in catalogues.rules() {
        let fires = rule
            .when
            .iter()
            .all(|c| checked.values[c.measure.index()].is_some_and(|v| c.holds(v)));
        if !fires {
            continue;
        }
        let mut from: Vec<Measure> = rule.when.iter().map(|c| c.measure).collect();
        from.sort();
        from.dedup();
        for code in &rule.add {
            let Some(r) = catalogues.lookup(code) else {
                continue; // checked at load
            };
            let code = code_of(catalogues, r);
            let e = found.entry((table_of(r), code)).or_insert((r, Vec::new()));
            e.1.push(Source::Derived {
                rule: rule.id.clone(),
                from: from.clone(),
            });
        }
    }

    let mut rank = 0u8;
    let mut infectious = false;
    let mut score = 0u32;
    let mut screen_positive = false;
    let mut findings = Vec::with_capacity(found.len());
    for ((table, code), (r, mut sources)) in found {
        sources.sort();
        let (colour, points) = match r {
            EntryRef::FiveColour(i) => {
                let c = catalogues.five_colour_at(i).colour;
                match c.rank() {
                    Some(k) => rank = rank.max(k),
                    None => infectious = true,
                }
                (Some(c), None)
            }
            EntryRef::Score(i) => {
                let p = catalogues.score_at(i).points;
                score += p;
                (None, Some(p))
            }
            EntryRef::Screening(_) => {
                screen_positive = true;
                (None, None)
            }
        };
        findings.push(Finding {
            code: code.to_string(),
            table,
            colour,
            points,
            sources,
        });
    }
    let colour = Colour::ALL
        .into_iter()
        .find(|c| c.rank() == Some(rank))
        .unwrap_or(Colour::Green);

    let mut high_risk_reasons = Vec::new();
    if policy.high_risk.colours.contains(&colour) {
        high_risk_reasons.push(HighRiskReason::Colour { colour });
    }
    if infectious && policy.high_risk.colours.contains(&Colour::Purple) {
        high_risk_reasons.push(HighRiskReason::Infectious);
    }
    if let Some(min_score) = policy.high_risk.min_score {
        if score >= min_score {
            high_risk_reasons.push(HighRiskReason::Score {
                points: score,
                min_score,
            });
        }
    }

    let discrepancy = card.declared_colour.and_then(|declared| {
        let computed_rank = colour.rank().unwrap_or(0);
        let kind = match declared.rank() {
            Some(d) if d < computed_rank => Some(DiscrepancyKind::UnderGraded),
            Some(d) if d > computed_rank => Some(DiscrepancyKind::OverGraded),
            Some(_) => None,
            None if !infectious => Some(DiscrepancyKind::NotInfectious),
            None if computed_rank > 0 => Some(DiscrepancyKind::UnderGraded),
            None => None,
        };
        kind.map(|kind| Discrepancy {
            declared,
            computed: colour,
            computed_infectious: infectious,
            kind,
        })
    });

    Ok(Assessment {
        assessed_on: card.assessed_on,
        colour,
        infectious,
        score,
        score_band: catalogues.band_for(score).cloned(),
        screen_positive,
        high_risk: !high_risk_reasons.is_empty(),
        high_risk_reasons,
        findings,
        advice: catalogues.advice(colour).clone(),
        infectious_advice: infectious.then(|| catalogues.advice(Colour::Purple).clone()),
        declared_colour: card.declared_colour,
        discrepancy,
        catalogues: catalogues.versions().clone(),
        policy: policy.identity.clone(),
    })
}

fn code_of(catalogues: &Catalogues, r: EntryRef) -> &str {
    match r {
        EntryRef::FiveColour(i) => &catalogues.five_colour_at(i).code,
        EntryRef::Score(i) => &catalogues.score_at(i).code,
        EntryRef::Screening(i) => &catalogues.screening_at(i).code,
    }
}

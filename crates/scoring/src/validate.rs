//! Intake validation of a card against a catalogue set: unknown finding codes (with the close
//! valid codes) and impossible measurements (each naming its field). Every problem is returned,
//! not just the first.
//!
//! This module owns the card's rejection rules and the "did you mean" search. It does no IO and
//! reads no clock; plausible ranges come from the catalogue set's rules file. Messages never
//! repeat a measured value (health data stays out of logs); they name the field and the range.

use crate::card::{measure_values, Card};
use crate::catalogue::{Catalogues, EntryRef, Measure};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One reason a card cannot be assessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A finding code no table knows.
    UnknownCode {
        /// The code as given.
        code: String,
        /// Close valid codes, best first (at most five; may be empty).
        close: Vec<String>,
    },
    /// A measurement outside what is physically possible.
    Implausible {
        /// The card field (`measurements.height_cm`, …).
        field: String,
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// A measurement that contradicts another or is not a number.
    Inconsistent {
        /// The card field.
        field: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCode { code, close } if close.is_empty() => {
                write!(f, "unknown finding code `{code}`")
            }
            Self::UnknownCode { code, close } => write!(
                f,
                "unknown finding code `{code}`; close valid codes: {}",
                close.join(", ")
            ),
            Self::Implausible { field, min, max } => {
                write!(f, "{field} is impossible: accepted range is {min} to {max}")
            }
            Self::Inconsistent { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

/// A card that cannot be assessed, with every problem found (never empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub struct AssessError {
    /// The problems, findings first, then measurements in card order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for AssessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A card checked against a catalogue set: canonical codes resolved, measures computed.
pub(crate) struct Checked {
    pub codes: Vec<EntryRef>,
    pub values: [Option<f64>; 10],
}

/// The canonical spelling of a finding code: trimmed, uppercase.
pub fn canonical_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Checks a card for intake: `Ok` when [`crate::assess`] will accept it.
pub fn validate(card: &Card, catalogues: &Catalogues) -> Result<(), AssessError> {
    check(card, catalogues).map(|_| ())
}

pub(crate) fn check(card: &Card, catalogues: &Catalogues) -> Result<Checked, AssessError> {
    let mut problems = Vec::new();
    let mut codes = Vec::with_capacity(card.findings.len());
    for raw in &card.findings {
        let code = canonical_code(raw);
        match catalogues.lookup(&code) {
            Some(r) => codes.push(r),
            None => problems.push(Problem::UnknownCode {
                close: close_codes(&code, catalogues),
                code: raw.clone(),
            }),
        }
    }

    let m = &card.measurements;
    let values = measure_values(card);
    let field = |measure: Measure| match measure {
        Measure::AgeYears => "measurements.birth_date (age on assessed_on)".to_string(),
        Measure::Bmi => "bmi (from measurements.height_cm and weight_kg)".to_string(),
        other => format!("measurements.{other}"),
    };
    if let Some(b) = m.birth_date {
        if b > card.assessed_on {
            problems.push(Problem::Inconsistent {
                field: "measurements.birth_date".into(),
                reason: "is after assessed_on".into(),
            });
        }
    }
    for measure in Measure::ALL {
        let Some(v) = values[measure.index()] else {
            continue;
        };
        if measure == Measure::AgeYears && m.birth_date.is_some_and(|b| b > card.assessed_on) {
            continue;
        }
        if !v.is_finite() {
            problems.push(Problem::Inconsistent {
                field: field(measure),
                reason: "is not a finite number".into(),
            });
            continue;
        }
        let (min, max) = catalogues.plausible(measure);
        if v < min || v > max {
            // A BMI from an impossible height or weight says nothing more.
            let parts_bad = measure == Measure::Bmi
                && [Measure::HeightCm, Measure::WeightKg].iter().any(|p| {
                    let (lo, hi) = catalogues.plausible(*p);
                    values[p.index()].is_some_and(|x| !(lo..=hi).contains(&x))
                });
            if !parts_bad {
                problems.push(Problem::Implausible {
                    field: field(measure),
                    min,
                    max,
                });
            }
        }
    }
    if let (Some(s), Some(d)) = (m.systolic_mmhg, m.diastolic_mmhg) {
        if d >= s {
            problems.push(Problem::Inconsistent {
                field: "measurements.diastolic_mmhg".into(),
                reason: "must be below systolic_mmhg".into(),
            });
        }
    }
    if let Some(days) = m.gestational_days {
        if days > 6 {
            problems.push(Problem::Inconsistent {
                field: "measurements.gestational_days".into(),
                reason: "must be 0 to 6 (whole weeks go in gestational_weeks)".into(),
            });
        }
        if m.gestational_weeks.is_none() {
            problems.push(Problem::Inconsistent {
                field: "measurements.gestational_days".into(),
                reason: "needs gestational_weeks".into(),
            });
        }
    }

    if problems.is_empty() {
        Ok(Checked { codes, values })
    } else {
        Err(AssessError { problems })
    }
}

/// Valid codes close to `code` (canonical spelling), best first, at most five: those within a
/// small edit distance or containing it, else those sharing the longest prefix.
pub fn close_codes(code: &str, catalogues: &Catalogues) -> Vec<String> {
    let code = canonical_code(code);
    let limit = (code.chars().count() / 4).clamp(2, 3);
    let mut near: Vec<(usize, &str)> = catalogues
        .codes()
        .filter_map(|c| {
            let d = levenshtein(&code, c);
            let contains = code.len() >= 3 && c.contains(code.as_str());
            (d <= limit || contains).then_some((if contains { d.min(limit) } else { d }, c))
        })
        .collect();
    if near.is_empty() {
        let prefix = |c: &str| {
            code.bytes()
                .zip(c.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = catalogues.codes().map(prefix).max().unwrap_or(0);
        if best >= 2 {
            near = catalogues
                .codes()
                .filter(|c| prefix(c) == best)
                .map(|c| (0, c))
                .collect();
        }
    }
    near.sort();
    near.into_iter()
        .take(5)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Edit distance (insertions, deletions, substitutions) between two strings, by characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::levenshtein;

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("SC-1", "SC-01"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}

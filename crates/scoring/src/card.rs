//! The engine's input: what a hospital's risk card says about one woman on one date (declared
//! finding codes, optional measurements, optional declared colour).
//!
//! This module owns only the card's shape and the measures computed from it (age, BMI,
//! gestational weeks). It does no IO, reads no clock (the assessment date is on the card) and
//! holds no identity data: no name, no ID number, no address.

use crate::catalogue::Measure;
use contracts::Colour;
use serde::{Deserialize, Serialize};
use time::Date;

// Dates as `YYYY-MM-DD` in JSON (not `time`'s default tuple).
pub(crate) use contracts::events::iso_date;

/// A risk card, as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// The date of the assessment (ages are computed on it), `YYYY-MM-DD`.
    #[serde(with = "iso_date")]
    pub assessed_on: Date,
    /// Codes the hospital ticked, from any of the three tables. Case and surrounding space are
    /// ignored; order and repeats do not matter.
    #[serde(default)]
    pub findings: Vec<String>,
    /// Measurements, each optional.
    #[serde(default)]
    pub measurements: Measurements,
    /// The colour the hospital itself gave, compared with the computed one.
    #[serde(default)]
    pub declared_colour: Option<Colour>,
}

impl Card {
    /// A card for `assessed_on` with no findings and no measurements.
    pub fn new(assessed_on: Date) -> Self {
        Self {
            assessed_on,
            findings: Vec::new(),
            measurements: Measurements::default(),
            declared_colour: None,
        }
    }
}

/// Measurements the engine derives findings from (defined in `contracts`: the card's wire
/// shape and the engine's input are one type).
pub use contracts::Measurements;

/// Completed years between `birth` and `on` (a 29 February birthday falls on 1 March in other
/// years). Negative when `birth` is after `on`.
pub fn age_in_years(birth: Date, on: Date) -> i32 {
    let mut years = on.year() - birth.year();
    if (u8::from(on.month()), on.day()) < (u8::from(birth.month()), birth.day()) {
        years -= 1;
    }
    years
}

/// BMI in kg/m², rounded to one decimal as it is charted.
pub fn bmi(height_cm: f64, weight_kg: f64) -> f64 {
    let m = height_cm / 100.0;
    (weight_kg / (m * m) * 10.0).round() / 10.0
}

/// The value of every measure this card carries, indexed by [`Measure::index`].
pub(crate) fn measure_values(card: &Card) -> [Option<f64>; 10] {
    let m = &card.measurements;
    let mut v = [None; 10];
    v[Measure::AgeYears.index()] = m
        .birth_date
        .map(|b| f64::from(age_in_years(b, card.assessed_on)));
    v[Measure::Bmi.index()] = match (m.height_cm, m.weight_kg) {
        (Some(h), Some(w)) => Some(bmi(h, w)),
        _ => None,
    };
    v[Measure::HeightCm.index()] = m.height_cm;
    v[Measure::WeightKg.index()] = m.weight_kg;
    v[Measure::SystolicMmhg.index()] = m.systolic_mmhg.map(f64::from);
    v[Measure::DiastolicMmhg.index()] = m.diastolic_mmhg.map(f64::from);
    v[Measure::HbGPerL.index()] = m.hb_g_per_l;
    v[Measure::Platelets10e9PerL.index()] = m.platelets_10e9_per_l;
    v[Measure::GestationalWeeks.index()] = m
        .gestational_weeks
        .map(|w| f64::from(w) + f64::from(m.gestational_days.unwrap_or(0)) / 7.0);
    v[Measure::Fetuses.index()] = m.fetuses.map(f64::from);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn age_counts_completed_years() {
        assert_eq!(
            age_in_years(date!(1990 - 06 - 15), date!(2025 - 06 - 14)),
            34
        );
        assert_eq!(
            age_in_years(date!(1990 - 06 - 15), date!(2025 - 06 - 15)),
            35
        );
        assert_eq!(
            age_in_years(date!(1992 - 02 - 29), date!(2027 - 02 - 28)),
            34
        );
        assert_eq!(
            age_in_years(date!(1992 - 02 - 29), date!(2027 - 03 - 01)),
            35
        );
        assert_eq!(
            age_in_years(date!(2030 - 01 - 01), date!(2025 - 01 - 01)),
            -5
        );
    }

    #[test]
    fn bmi_is_rounded_to_one_decimal() {
        assert_eq!(bmi(200.0, 112.0), 28.0);
        assert_eq!(bmi(200.0, 111.6), 27.9);
        assert_eq!(bmi(160.0, 60.0), 23.4);
    }
}

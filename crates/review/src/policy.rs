//! The review policy (`config/review/*.toml`) and periods: calendar quarters and half-years
//! for the review lists, the MCH statistical year and free date ranges for the indicators.
//! Pure but for [`ReviewPolicy::load`], called once at start.

use serde::Deserialize;
use std::path::Path;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// What the review component's rules read from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewPolicy {
    /// Id.
    pub id: String,
    /// Version (bump with every edit).
    pub version: u32,
    /// The offset calendar questions are answered in (8: UTC+08:00).
    pub utc_offset_hours: i8,
    /// The month the MCH statistical year starts in (10: 1 October – 30 September).
    pub statistical_year_start_month: u8,
    /// A recorded near miss makes a case due for review.
    pub review_near_miss: bool,
    /// A maternal death makes a case due for review.
    pub review_maternal_death: bool,
}

/// The policy file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// Why.
    pub message: String,
}

impl ReviewPolicy {
    /// Reads and checks a policy file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let file = path.as_ref().display().to_string();
        let text = std::fs::read_to_string(path.as_ref()).map_err(|e| PolicyError {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and checks a policy's text.
    pub fn parse(text: &str, file: &str) -> Result<Self, PolicyError> {
        let bad = |message: String| PolicyError {
            file: file.to_owned(),
            message,
        };
        let p: Self = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if !(1..=12).contains(&p.statistical_year_start_month) {
            return Err(bad("statistical_year_start_month must be 1 to 12".into()));
        }
        if !(-12..=14).contains(&p.utc_offset_hours) {
            return Err(bad("utc_offset_hours must be -12 to 14".into()));
        }
        Ok(p)
    }

    /// `id@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The calendar offset.
    pub fn offset(&self) -> UtcOffset {
        UtcOffset::from_hms(self.utc_offset_hours, 0, 0).unwrap_or(UtcOffset::UTC)
    }

    /// The statistical year (named by the year it ends in) a day falls in.
    pub fn statistical_year_of(&self, d: Date) -> i32 {
        let m = self.statistical_year_start_month;
        if m == 1 || u8::from(d.month()) < m {
            d.year()
        } else {
            d.year() + 1
        }
    }

    /// The statistical year named by the year it ends in.
    pub fn statistical_year(&self, year: i32) -> Option<Period> {
        let m = self.statistical_year_start_month;
        let start_year = if m == 1 { year } else { year - 1 };
        let from = Date::from_calendar_date(start_year, Month::try_from(m).ok()?, 1).ok()?;
        let to = add_months(from, 12)?.previous_day()?;
        Some(Period { from, to })
    }
}

/// A closed range of calendar days (in the policy's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
}

fn add_months(d: Date, n: u32) -> Option<Date> {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + i32::try_from(n).ok()?;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    Date::from_calendar_date(y, Month::try_from(u8::try_from(m).ok()?).ok()?, 1).ok()
}

impl Period {
    /// A range; `None` when `to` is before `from`.
    pub fn new(from: Date, to: Date) -> Option<Self> {
        (from <= to).then_some(Self { from, to })
    }

    /// `2026Q3`: 1 July – 30 September 2026.
    pub fn quarter(s: &str) -> Option<Self> {
        let (y, q) = s.split_once(['Q', 'q'])?;
        let (y, q): (i32, u32) = (y.parse().ok()?, q.parse().ok()?);
        if !(1..=4).contains(&q) {
            return None;
        }
        let from =
            Date::from_calendar_date(y, Month::try_from(u8::try_from(q * 3 - 2).ok()?).ok()?, 1)
                .ok()?;
        Some(Self {
            from,
            to: add_months(from, 3)?.previous_day()?,
        })
    }

    /// `2026H2`: 1 July – 31 December 2026.
    pub fn half(s: &str) -> Option<Self> {
        let (y, h) = s.split_once(['H', 'h'])?;
        let (y, h): (i32, u32) = (y.parse().ok()?, h.parse().ok()?);
        if !(1..=2).contains(&h) {
            return None;
        }
        let from =
            Date::from_calendar_date(y, Month::try_from(u8::try_from(h * 6 - 5).ok()?).ok()?, 1)
                .ok()?;
        Some(Self {
            from,
            to: add_months(from, 6)?.previous_day()?,
        })
    }

    /// Whether the instant falls on a day of the period (in `offset`).
    pub fn contains(&self, t: OffsetDateTime, offset: UtcOffset) -> bool {
        let d = t.to_offset(offset).date();
        self.from <= d && d <= self.to
    }

    /// Whether the month `YYYY-MM` starts within the period.
    pub fn contains_month(&self, month: &str) -> bool {
        month_start(month).is_some_and(|d| self.from <= d && d <= self.to)
    }
}

/// The first day of `YYYY-MM`.
pub fn month_start(month: &str) -> Option<Date> {
    let (y, m) = month.split_once('-')?;
    let m: u8 = m.parse().ok()?;
    Date::from_calendar_date(y.parse().ok()?, Month::try_from(m).ok()?, 1).ok()
}

/// The instant the month `YYYY-MM` ends (the first instant of the next month, in `offset`).
pub fn month_end(month: &str, offset: UtcOffset) -> Option<OffsetDateTime> {
    let next = add_months(month_start(month)?, 1)?;
    Some(next.midnight().assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn policy() -> ReviewPolicy {
        ReviewPolicy::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/review/default.toml"
        ))
        .unwrap()
    }

    #[test]
    fn periods() {
        let p = policy();
        assert_eq!(
            p.statistical_year(2026),
            Some(Period {
                from: date!(2025 - 10 - 01),
                to: date!(2026 - 09 - 30)
            })
        );
        assert_eq!(
            Period::quarter("2026Q3"),
            Some(Period {
                from: date!(2026 - 07 - 01),
                to: date!(2026 - 09 - 30)
            })
        );
        assert_eq!(
            Period::quarter("2026Q4"),
            Some(Period {
                from: date!(2026 - 10 - 01),
                to: date!(2026 - 12 - 31)
            })
        );
        assert_eq!(
            Period::half("2026H1"),
            Some(Period {
                from: date!(2026 - 01 - 01),
                to: date!(2026 - 06 - 30)
            })
        );
        assert_eq!(Period::quarter("2026Q5"), None);
        assert_eq!(Period::half("2026"), None);
        // 16:30 UTC on 30 September is 1 October in UTC+8: outside the year ending then.
        let y = p.statistical_year(2026).unwrap();
        assert!(y.contains(datetime!(2026-09-30 15:59 UTC), p.offset()));
        assert!(!y.contains(datetime!(2026-09-30 16:30 UTC), p.offset()));
        assert!(y.contains_month("2025-10") && y.contains_month("2026-09"));
        assert!(!y.contains_month("2026-10"));
        assert_eq!(p.statistical_year_of(date!(2025 - 10 - 01)), 2026);
        assert_eq!(p.statistical_year_of(date!(2026 - 09 - 30)), 2026);
        assert_eq!(p.statistical_year_of(date!(2026 - 10 - 01)), 2027);
        assert_eq!(
            month_end("2026-12", p.offset()),
            Some(datetime!(2027-01-01 0:00 +08:00))
        );
        let mut bad = p.clone();
        bad.statistical_year_start_month = 13;
        assert!(ReviewPolicy::parse(&toml_of(&bad), "x").is_err());
    }

    fn toml_of(p: &ReviewPolicy) -> String {
        format!(
            "id = \"{}\"\nversion = {}\nutc_offset_hours = {}\nstatistical_year_start_month = {}\nreview_near_miss = true\nreview_maternal_death = true\n",
            p.id, p.version, p.utc_offset_hours, p.statistical_year_start_month
        )
    }
}

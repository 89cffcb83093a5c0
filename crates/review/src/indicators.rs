//! Quality indicators of one district over a period, computed from the district's
//! [`CaseFacts`] documents (never the log), each with its numerator and denominator so a user
//! can check it, and as CSV. Pure: `now` is an argument.
//!
//! Definitions (the rule book's working definitions, made exact; days and months in the
//! policy's offset, UTC+8):
//! - women graded: cases with an assessment dated in the period whose card gave her residence
//!   as the district; red (orange) share: of those, the women with such an assessment red
//!   (orange);
//! - 高危孕产妇管理率: high-risk women (an assessment as above that made her high-risk) whose
//!   alert the district acknowledged and who had at least one follow-up contact ÷ high-risk women;
//! - 上报及时率: alerts to the district with a deadline (assessment and transfer-in alerts)
//!   falling in the period, less those closed unacknowledged because she moved away; on time =
//!   acknowledged by the deadline from a card that was not itself late;
//! - 随访率: phone follow-up months starting in the period for which the district is
//!   responsible, that have ended (or had a contact), less months closed without contact
//!   because the pregnancy ended; contacted = at least one attempt reached her;
//! - 高危住院分娩率: deliveries dated in the period, of women ever high-risk, residing in the
//!   district then; in hospital ÷ all;
//! - lost to follow-up: women declared lost by the district in the period;
//! - green channel: referrals of women residing in the district opened in the period; median
//!   whole minutes opened → accepted, departed → arrived, opened → arrived; escalations.

use crate::facts::CaseFacts;
use crate::policy::{month_end, Period};
use serde::Serialize;
use std::collections::BTreeSet;
use time::{OffsetDateTime, UtcOffset};

/// A ratio with its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// Numerator.
    pub numerator: u64,
    /// Denominator.
    pub denominator: u64,
    /// numerator ÷ denominator (none when the denominator is 0).
    pub value: Option<f64>,
}

impl Ratio {
    fn of(numerator: u64, denominator: u64) -> Self {
        Self {
            numerator,
            denominator,
            value: (denominator > 0).then(|| numerator as f64 / denominator as f64),
        }
    }
}

/// A median of whole minutes, with how many values it is over.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Median {
    /// Values.
    pub n: u64,
    /// The median (the mean of the two middle values when `n` is even).
    pub minutes: Option<f64>,
}

/// The median of whole minutes.
pub fn median(mut v: Vec<i64>) -> Median {
    v.sort_unstable();
    let n = v.len();
    let minutes = match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2] as f64),
        _ => Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    };
    Median {
        n: n as u64,
        minutes,
    }
}

/// Green-channel timings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreenChannel {
    /// Referrals opened in the period.
    pub referrals: u64,
    /// Opened → accepted.
    pub opened_to_accepted: Median,
    /// Departed → arrived.
    pub departed_to_arrived: Median,
    /// Opened → arrived.
    pub opened_to_arrived: Median,
    /// Escalations of those referrals.
    pub escalations: u64,
}

/// Every indicator of one district and period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    /// The district.
    pub district: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The review policy (`id@version`).
    pub policy: String,
    /// Case documents read.
    pub cases_read: u64,
    /// 高危孕产妇管理率.
    pub high_risk_management: Ratio,
    /// 上报及时率.
    pub on_time_reporting: Ratio,
    /// 随访率 (woman-months).
    pub follow_up: Ratio,
    /// Women ever red ÷ women graded.
    pub red_share: Ratio,
    /// Women ever orange ÷ women graded.
    pub orange_share: Ratio,
    /// 高危住院分娩率.
    pub in_hospital_delivery: Ratio,
    /// Women lost to follow-up.
    pub lost_to_follow_up: u64,
    /// Green channel.
    pub green_channel: GreenChannel,
}

fn minutes(a: OffsetDateTime, b: OffsetDateTime) -> i64 {
    (b - a).whole_minutes()
}

/// Computes the indicators of `district` over `period` from the case facts (documents of any
/// district may be passed: only facts naming `district` count).
pub fn compute(
    district: &str,
    period: Period,
    offset: UtcOffset,
    now: OffsetDateTime,
    policy: &str,
    cases: &[CaseFacts],
) -> Indicators {
    let (mut graded, mut red, mut orange, mut high, mut managed) = (0, 0, 0, 0, 0);
    let (mut due, mut on_time, mut months, mut contacted) = (0, 0, 0, 0);
    let (mut delivered, mut in_hospital, mut lost) = (0, 0, 0);
    let (mut referrals, mut escalations) = (0, 0u64);
    let (mut to_accept, mut transit, mut to_arrive) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    for c in cases {
        if !seen.insert(c.case_id.as_str()) {
            continue;
        }
        let here: Vec<_> = c
            .assessments
            .iter()
            .filter(|a| a.district == district && period.contains(a.at, offset))
            .collect();
        if !here.is_empty() {
            graded += 1;
            red += u64::from(here.iter().any(|a| a.colour == "red"));
            orange += u64::from(here.iter().any(|a| a.colour == "orange"));
            if here.iter().any(|a| a.high_risk) {
                high += 1;
                let acked = c
                    .alerts
                    .iter()
                    .any(|a| a.district == district && a.acknowledged_at.is_some());
                managed += u64::from(acked && c.contacted);
            }
        }
        for a in &c.alerts {
            let Some(due_at) = a.due_at else { continue };
            if a.district != district
                || !matches!(a.kind.as_str(), "assessment" | "transfer_in")
                || !period.contains(due_at, offset)
                || (a.closed && a.acknowledged_at.is_none())
            {
                continue;
            }
            due += 1;
            on_time += u64::from(
                a.acknowledged_at.is_some_and(|t| t <= due_at)
                    && !a.acknowledged_late
                    && !a.reported_late,
            );
        }
        for m in &c.months {
            if m.district != district
                || !period.contains_month(&m.month)
                || (m.closed && !m.contacted)
            {
                continue;
            }
            let ended = month_end(&m.month, offset).is_some_and(|end| end <= now);
            if m.contacted || ended {
                months += 1;
                contacted += u64::from(m.contacted);
            }
        }
        if let Some(o) = &c.outcome {
            if o.kind == "delivery"
                && o.district.as_deref() == Some(district)
                && period.contains(o.at, offset)
                && c.assessments.iter().any(|a| a.high_risk)
            {
                delivered += 1;
                in_hospital += u64::from(o.in_hospital);
            }
        }
        lost += u64::from(
            c.lost
                .iter()
                .any(|l| l.district == district && period.contains(l.at, offset)),
        );
        for r in &c.referrals {
            if r.district != district || !period.contains(r.opened_at, offset) {
                continue;
            }
            referrals += 1;
            escalations += u64::from(r.escalations);
            if let Some(a) = r.accepted_at {
                to_accept.push(minutes(r.opened_at, a));
            }
            if let (Some(d), Some(a)) = (r.departed_at, r.arrived_at) {
                transit.push(minutes(d, a));
            }
            if let Some(a) = r.arrived_at {
                to_arrive.push(minutes(r.opened_at, a));
            }
        }
    }
    Indicators {
        district: district.to_owned(),
        from: period.from.to_string(),
        to: period.to.to_string(),
        policy: policy.to_owned(),
        cases_read: seen.len() as u64,
        high_risk_management: Ratio::of(managed, high),
        on_time_reporting: Ratio::of(on_time, due),
        follow_up: Ratio::of(contacted, months),
        red_share: Ratio::of(red, graded),
        orange_share: Ratio::of(orange, graded),
        in_hospital_delivery: Ratio::of(in_hospital, delivered),
        lost_to_follow_up: lost,
        green_channel: GreenChannel {
            referrals,
            opened_to_accepted: median(to_accept),
            departed_to_arrived: median(transit),
            opened_to_arrived: median(to_arrive),
            escalations,
        },
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.4}"))
}

/// The indicators as CSV: one row per indicator, `indicator,zh,numerator,denominator,value`
/// (medians: `n` as the denominator and the median as the value; counts: the count as the
/// numerator).
pub fn to_csv(i: &Indicators) -> String {
    let mut out = String::from("district,from,to,indicator,zh,numerator,denominator,value\n");
    let mut row = |key: &str, zh: &str, num: String, den: String, value: String| {
        out.push_str(&format!(
            "{},{},{},{key},{zh},{num},{den},{value}\n",
            i.district, i.from, i.to
        ));
    };
    for (key, zh, r) in [
        (
            "high_risk_management",
            "高危孕产妇管理率",
            i.high_risk_management,
        ),
        ("on_time_reporting", "上报及时率", i.on_time_reporting),
        ("follow_up", "随访率", i.follow_up),
        ("red_share", "红色预警占比", i.red_share),
        ("orange_share", "橙色预警占比", i.orange_share),
        (
            "in_hospital_delivery",
            "高危住院分娩率",
            i.in_hospital_delivery,
        ),
    ] {
        row(
            key,
            zh,
            r.numerator.to_string(),
            r.denominator.to_string(),
            opt(r.value),
        );
    }
    row(
        "lost_to_follow_up",
        "失访人数",
        i.lost_to_follow_up.to_string(),
        String::new(),
        String::new(),
    );
    let g = &i.green_channel;
    row(
        "green_channel_referrals",
        "绿色通道转诊数",
        g.referrals.to_string(),
        String::new(),
        String::new(),
    );
    for (key, zh, m) in [
        (
            "green_channel_opened_to_accepted_min",
            "开通至接收中位分钟",
            g.opened_to_accepted,
        ),
        (
            "green_channel_departed_to_arrived_min",
            "离院至到达中位分钟",
            g.departed_to_arrived,
        ),
        (
            "green_channel_opened_to_arrived_min",
            "开通至到达中位分钟",
            g.opened_to_arrived,
        ),
    ] {
        row(key, zh, String::new(), m.n.to_string(), opt(m.minutes));
    }
    row(
        "green_channel_escalations",
        "逐级上转次数",
        g.escalations.to_string(),
        String::new(),
        String::new(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]).minutes, None);
        assert_eq!(median(vec![5, 1, 3]).minutes, Some(3.0));
        assert_eq!(median(vec![4, 1, 3, 10]).minutes, Some(3.5));
        assert_eq!(Ratio::of(1, 0).value, None);
        assert_eq!(Ratio::of(1, 4).value, Some(0.25));
    }
}

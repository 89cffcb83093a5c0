//! Indicators on a synthetic history of 1,200 women: each numerator and denominator is
//! computed here from the generator's own model (not from the events, not with the crate's
//! code) and compared with `GET /v1/indicators/{district}`, for the statistical-year preset
//! and the same range given as dates, in JSON and CSV. The documents are built by the
//! component's replay (`rebuild`) and checked against those its handler writes.

mod common;

use common::synthetic::*;
use common::*;
use contracts::{Colour, OutcomeKind};
use edge::Role;
use eventstore::{Append, Commit, EventStore, ExpectedVersion};
use serde_json::Value;
use std::collections::BTreeMap;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime, UtcOffset};
use warning::events::AlertKind;

const WOMEN: usize = 1_200;

/// The expected (numerator, denominator) of each ratio, and the counts, from the model.
fn expected(
    women: &[Woman],
    from: Date,
    to: Date,
    now: OffsetDateTime,
) -> BTreeMap<&'static str, (u64, u64)> {
    let cn = UtcOffset::from_hms(8, 0, 0).unwrap();
    let inside = |t: OffsetDateTime| {
        let d = t.to_offset(cn).date();
        from <= d && d <= to
    };
    let m = std::cell::RefCell::new(BTreeMap::<&'static str, (u64, u64)>::new());
    let bump = |k: &'static str, num: bool| {
        let mut m = m.borrow_mut();
        let e = m.entry(k).or_default();
        e.0 += u64::from(num);
        e.1 += 1;
    };
    let bump_by = |k: &'static str, n: u64| m.borrow_mut().entry(k).or_default().0 += n;
    for w in women {
        let here: Vec<_> = w
            .assessments
            .iter()
            .filter(|a| a.1 == D && inside(a.0))
            .collect();
        if !here.is_empty() {
            bump("red_share", here.iter().any(|a| a.2 == Colour::Red));
            bump("orange_share", here.iter().any(|a| a.2 == Colour::Orange));
            if here.iter().any(|a| a.3) {
                let acked = w.alerts.iter().any(|a| a.0 == D && a.4.is_some());
                bump(
                    "high_risk_management",
                    acked && w.months.iter().any(|m| m.2),
                );
            }
        }
        for a in &w.alerts {
            if a.0 == D && a.1 == AlertKind::Assessment && inside(a.2) && !(a.5 && a.4.is_none()) {
                bump(
                    "on_time_reporting",
                    !a.3 && a.4.is_some_and(|(t, _)| t <= a.2),
                );
            }
        }
        for (month, d, contacted, closed) in &w.months {
            let first = review::policy::month_start(month).unwrap();
            let next = if first.month() == time::Month::December {
                Date::from_calendar_date(first.year() + 1, time::Month::January, 1).unwrap()
            } else {
                Date::from_calendar_date(first.year(), first.month().next(), 1).unwrap()
            };
            let ended = next.midnight().assume_offset(cn) <= now;
            if *d == D
                && from <= first
                && first <= to
                && (!*closed || *contacted)
                && (*contacted || ended)
            {
                bump("follow_up", *contacted);
            }
        }
        if let Some((OutcomeKind::Delivery, at, in_h, d)) = w.outcome {
            if d == D && inside(at) && w.assessments.iter().any(|a| a.3) {
                bump("in_hospital_delivery", in_h);
            }
        }
        if w.lost.is_some_and(|(d, at)| d == D && inside(at)) {
            bump("lost_to_follow_up", true);
        }
        if let Some((opened, _, _, _, esc)) = w.referral {
            if w.assessments[0].1 == D && inside(opened) {
                bump("green_channel_referrals", true);
                bump_by("green_channel_escalations", u64::from(esc));
            }
        }
    }
    m.into_inner()
}

fn median_of(
    women: &[Woman],
    from: Date,
    to: Date,
    f: impl Fn(
        &(
            OffsetDateTime,
            Option<OffsetDateTime>,
            Option<OffsetDateTime>,
            Option<OffsetDateTime>,
            u32,
        ),
    ) -> Option<i64>,
) -> (u64, Option<f64>) {
    let cn = UtcOffset::from_hms(8, 0, 0).unwrap();
    let mut v: Vec<i64> = women
        .iter()
        .filter(|w| w.assessments[0].1 == D)
        .filter_map(|w| w.referral.as_ref())
        .filter(|r| {
            let d = r.0.to_offset(cn).date();
            from <= d && d <= to
        })
        .filter_map(f)
        .collect();
    v.sort_unstable();
    let n = v.len();
    let m = if n == 0 {
        None
    } else if n % 2 == 1 {
        Some(v[n / 2] as f64)
    } else {
        Some((v[n / 2 - 1] + v[n / 2]) as f64 / 2.0)
    };
    (n as u64, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicators_match_an_independent_count_over_1200_women() {
    let w = sqlite().await;
    let now = datetime!(2026-11-01 00:00 UTC);
    w.clock.set(now);
    let women = generate(WOMEN);
    // Large commits: many streams per transaction.
    let mut commit = Commit::default();
    let mut count = 0;
    for woman in &women {
        // In the order things happened, as the components would have appended them.
        let mut evs = events(woman);
        evs.sort_by_key(|e| e.occurred_at);
        for e in evs {
            count += 1;
            commit.appends.push(Append {
                stream_id: e.stream_id.clone(),
                expected: ExpectedVersion::Any,
                events: vec![e],
            });
        }
        if count > 5_000 {
            w.store.commit(std::mem::take(&mut commit)).await.unwrap();
            count = 0;
        }
    }
    w.store.commit(commit).await.unwrap();
    let cases = w.review.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(cases, WOMEN);
    let reviewer = w.key(Role::Reviewer, "MCH430100", "430100").await;
    let office = w.key(Role::DistrictOffice, "MCH430103", "430103").await;
    let other_office = w.key(Role::DistrictOffice, "MCH430102", "430102").await;

    let (from, to) = (date!(2025 - 10 - 01), date!(2026 - 09 - 30));
    let exp = expected(&women, from, to, now);
    let (st, by_year) = w
        .json(
            "GET",
            &format!("/v1/indicators/{D}?year=2026"),
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 200, "{by_year}");
    assert_eq!(
        (by_year["from"].as_str(), by_year["to"].as_str()),
        (Some("2025-10-01"), Some("2026-09-30"))
    );
    let (_, by_dates) = w
        .json(
            "GET",
            &format!("/v1/indicators/{D}?from=2025-10-01&to=2026-09-30"),
            &office,
            None,
        )
        .await;
    assert_eq!(by_year, by_dates);
    for key in [
        "high_risk_management",
        "on_time_reporting",
        "follow_up",
        "red_share",
        "orange_share",
        "in_hospital_delivery",
    ] {
        let got = &by_year[key];
        let (num, den) = exp.get(key).copied().unwrap_or_default();
        assert_eq!(
            (got["numerator"].as_u64(), got["denominator"].as_u64()),
            (Some(num), Some(den)),
            "{key}"
        );
        assert!(
            den > 20,
            "{key}: the synthetic history exercises it ({den})"
        );
        assert!(
            num > 0 && num < den,
            "{key}: a ratio strictly between 0 and 1 ({num}/{den})"
        );
    }
    assert_eq!(
        by_year["lost_to_follow_up"].as_u64(),
        Some(exp["lost_to_follow_up"].0)
    );
    assert!(exp["lost_to_follow_up"].0 > 0);
    let g = &by_year["green_channel"];
    assert_eq!(
        g["referrals"].as_u64(),
        Some(exp["green_channel_referrals"].0)
    );
    assert_eq!(
        g["escalations"].as_u64(),
        Some(exp["green_channel_escalations"].0)
    );
    for (key, f) in [
        (
            "opened_to_accepted",
            (|r: &(
                OffsetDateTime,
                Option<OffsetDateTime>,
                Option<OffsetDateTime>,
                Option<OffsetDateTime>,
                u32,
            )| r.1.map(|a| (a - r.0).whole_minutes())) as fn(&_) -> _,
        ),
        ("departed_to_arrived", |r| {
            r.2.zip(r.3).map(|(d, a)| (a - d).whole_minutes())
        }),
        ("opened_to_arrived", |r| {
            r.3.map(|a| (a - r.0).whole_minutes())
        }),
    ] {
        let (n, m) = median_of(&women, from, to, f);
        assert!(n > 10, "{key}: {n}");
        assert_eq!(g[key]["n"].as_u64(), Some(n), "{key}");
        assert_eq!(g[key]["minutes"].as_f64(), m, "{key}");
    }

    // CSV: the same numbers.
    let (st, ct, csv) = w
        .call(
            "GET",
            &format!("/v1/indicators/{D}?year=2026&format=csv"),
            &reviewer,
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("text/csv"));
    let csv = String::from_utf8(csv).unwrap();
    let (num, den) = exp["follow_up"];
    assert!(
        csv.contains(&format!(
            "{D},2025-10-01,2026-09-30,follow_up,随访率,{num},{den},"
        )),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 6 + 2 + 3 + 1);

    // Another district's office may not read these; a bad range is refused.
    let (st, _) = w
        .json(
            "GET",
            &format!("/v1/indicators/{D}?year=2026"),
            &other_office,
            None,
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = w
        .json(
            "GET",
            &format!("/v1/indicators/{D}?from=2026-09-30&to=2025-10-01"),
            &office,
            None,
        )
        .await;
    assert_eq!(st, 400);

    // The handler writes what the replay wrote (one case, any of its events).
    let sample = &women[7].case;
    let before: Value = w
        .store
        .documents(review::component::FACTS, None, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.key.ends_with(&format!("/{sample}")))
        .map(|d| d.body)
        .next()
        .unwrap();
    w.review.refresh(sample, None).await.unwrap();
    let after: Value = w
        .store
        .documents(review::component::FACTS, None, u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.key.ends_with(&format!("/{sample}")))
        .map(|d| d.body)
        .next()
        .unwrap();
    assert_eq!(before, after);
}

//! A synthetic history: women with assessments, alerts, follow-up months, moves, losses,
//! referrals and outcomes, as a model (the truth tests count from) and as the events the
//! components would have appended. Shared by the indicator test and the benchmark.
#![allow(dead_code, clippy::type_complexity)]

use contracts::{
    CaseId, Colour, DistrictCode, DomainEvent, InstitutionCode, Metadata, NewEvent, OutcomeKind,
    PregnancyOutcomeReported, StreamId,
};
use escalation::events::{
    EscalationReason, GreenChannelOpened, OpenedBy, PatientArrived, PatientDeparted,
    ReferralAccepted, ReferralEscalated, ReferralForm,
};
use followup::events::{
    ContactOutcome, FollowUpAttempted, FollowUpClosed, FollowUpReassigned, FollowUpScheduled,
    ItemKind, LostToFollowUp,
};
use scoring::Grade;
use time::macros::datetime;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;
use warning::events::{
    AlertKind, CaseTransferred, DistrictAlertAcknowledged, DistrictAlertClosed,
    DistrictAlertRaised, RiskGraded,
};

pub const D: &str = "430103";
pub const OTHER: &str = "430102";

pub struct Rng(pub u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// The model of one woman: the truth the test computes the indicators from.
pub struct Woman {
    pub case: CaseId,
    /// (when, district, colour, high-risk)
    pub assessments: Vec<(OffsetDateTime, &'static str, Colour, bool)>,
    /// (district, kind, due, reported late, acknowledged (at, late), closed)
    pub alerts: Vec<(
        &'static str,
        AlertKind,
        OffsetDateTime,
        bool,
        Option<(OffsetDateTime, bool)>,
        bool,
    )>,
    /// (month, district responsible at the end, contacted, closed)
    pub months: Vec<(String, &'static str, bool, bool)>,
    pub moved: Option<(OffsetDateTime, &'static str, &'static str)>,
    pub lost: Option<(&'static str, OffsetDateTime)>,
    /// (opened, accepted, departed, arrived, escalations)
    pub referral: Option<(
        OffsetDateTime,
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        Option<OffsetDateTime>,
        u32,
    )>,
    /// (kind, at, in hospital, district then)
    pub outcome: Option<(OutcomeKind, OffsetDateTime, bool, &'static str)>,
}

pub fn month_key(t: OffsetDateTime) -> String {
    let l = t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
    format!("{:04}-{:02}", l.year(), u8::from(l.month()))
}

pub fn generate(n: usize) -> Vec<Woman> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let start = datetime!(2025-07-01 00:00 UTC);
    let colours = [Colour::Green, Colour::Yellow, Colour::Orange, Colour::Red];
    (0..n)
        .map(|i| {
            let home: &'static str = if r.chance(65) { D } else { OTHER };
            let away: &'static str = if home == D { OTHER } else { D };
            // First assessment anywhere from July 2025 to December 2026, to the minute.
            let first = start + Duration::minutes(r.below(18 * 30 * 24 * 60) as i64);
            let mut w = Woman {
                case: CaseId::parse(format!("syn-{i:05}")).unwrap(),
                assessments: vec![],
                alerts: vec![],
                months: vec![],
                moved: None,
                lost: None,
                referral: None,
                outcome: None,
            };
            let moved = r
                .chance(10)
                .then(|| first + Duration::days(20 + r.below(60) as i64));
            if let Some(at) = moved {
                w.moved = Some((at, home, away));
            }
            let district_at = |t: OffsetDateTime| match moved {
                Some(m) if t >= m => away,
                _ => home,
            };
            let k = 1 + r.below(3);
            for j in 0..k {
                let at = first + Duration::days(j as i64 * (15 + r.below(40) as i64));
                let colour = colours[r.below(4) as usize];
                let high = matches!(colour, Colour::Orange | Colour::Red) || r.chance(5);
                w.assessments.push((at, district_at(at), colour, high));
            }
            let high_risk = w.assessments.iter().any(|a| a.3);
            if high_risk {
                let (at, d, _, _) = *w.assessments.iter().find(|a| a.3).unwrap();
                let due = at + Duration::hours(48);
                let late = r.chance(5);
                let ack = (!late && r.chance(85)).then(|| {
                    let t = at + Duration::minutes(r.below(72 * 60) as i64);
                    (t, t > due)
                });
                let closed = ack.is_none() && r.chance(30);
                w.alerts
                    .push((d, AlertKind::Assessment, due, late, ack, closed));
                // A copy to the other district never counts.
                w.alerts.push((
                    if d == D { OTHER } else { D },
                    AlertKind::Copy,
                    due,
                    false,
                    None,
                    false,
                ));
                // Monthly calls from the month she became high-risk, 2 to 7 months.
                let months = 2 + r.below(6);
                let mut t = at;
                for _ in 0..months {
                    let key = month_key(t);
                    if !w.months.iter().any(|m| m.0 == key) {
                        let contacted = r.chance(75);
                        let closed = !contacted && r.chance(10);
                        w.months.push((key, district_at(t), contacted, closed));
                    }
                    t += Duration::days(31);
                }
                if r.chance(8) {
                    w.lost = Some((district_at(t), t));
                }
                if r.chance(30) {
                    let kind = if r.chance(90) {
                        OutcomeKind::Delivery
                    } else {
                        OutcomeKind::Miscarriage
                    };
                    w.outcome = Some((
                        kind,
                        t + Duration::days(3),
                        r.chance(92),
                        district_at(t + Duration::days(3)),
                    ));
                }
            }
            if r.chance(15) {
                let opened = first + Duration::minutes(r.below(600) as i64);
                let esc = r.below(3) as u32;
                let accepted = r
                    .chance(90)
                    .then(|| opened + Duration::minutes(5 + r.below(40) as i64));
                let departed = accepted
                    .filter(|_| r.chance(90))
                    .map(|a| a + Duration::minutes(r.below(30) as i64));
                let arrived = departed
                    .filter(|_| r.chance(95))
                    .map(|d| d + Duration::minutes(10 + r.below(90) as i64));
                w.referral = Some((opened, accepted, departed, arrived, esc));
            }
            w
        })
        .collect()
}

fn ev<E: DomainEvent>(w: &Woman, stream: &str, e: &E, at: OffsetDateTime) -> NewEvent {
    NewEvent::from_domain(
        Uuid::new_v4(),
        StreamId::parse(format!("{stream}-{}", w.case)).unwrap(),
        Some(w.case.clone()),
        e,
        Metadata::system("test"),
        at,
    )
    .unwrap()
}

pub fn dc(s: &str) -> DistrictCode {
    DistrictCode::parse(s).unwrap()
}

/// The model as events: warning, follow-up, escalation and intake payloads.
pub fn events(w: &Woman) -> Vec<NewEvent> {
    let inst = InstitutionCode::parse("H430103-01").unwrap();
    let mut out = Vec::new();
    let grade = |c: Colour, h: bool| Grade {
        colour: c,
        infectious: false,
        score: 0,
        high_risk: h,
    };
    for (at, d, c, h) in &w.assessments {
        out.push(ev(
            w,
            "warning",
            &RiskGraded {
                case_id: w.case.clone(),
                assessment_event_id: Uuid::new_v4(),
                grade: grade(*c, *h),
                assessed_at: *at,
                received_at: *at + Duration::hours(1),
                institution: inst.clone(),
                institution_district: dc(D),
                residence_district: dc(d),
                catalogue: "cn-nhc-2017@1".into(),
                policy: "seed-district@3".into(),
            },
            *at,
        ));
    }
    if let Some((at, from, to)) = w.moved {
        out.push(ev(
            w,
            "warning",
            &CaseTransferred {
                case_id: w.case.clone(),
                from: dc(from),
                to: dc(to),
                at,
                reason: "new card".into(),
            },
            at,
        ));
    }
    for (i, (d, kind, due, late, ack, closed)) in w.alerts.iter().enumerate() {
        let alert_id = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{}-{i}", w.case).as_bytes());
        let at = *due - Duration::hours(48);
        out.push(ev(
            w,
            "warning",
            &DistrictAlertRaised {
                alert_id,
                case_id: w.case.clone(),
                district: dc(d),
                kind: *kind,
                triggers: vec![],
                grade: grade(Colour::Red, true),
                assessed_at: at,
                received_at: at,
                due_at: (*kind != AlertKind::Copy).then_some(*due),
                reported_late: *late,
                institution: inst.clone(),
                residence_district: dc(d),
                related_alert: None,
            },
            at,
        ));
        if let Some((t, l)) = ack {
            out.push(ev(
                w,
                "warning",
                &DistrictAlertAcknowledged {
                    alert_id,
                    case_id: w.case.clone(),
                    district: dc(d),
                    by: "key:x".into(),
                    at: *t,
                    late: *l,
                },
                *t,
            ));
        }
        if *closed {
            out.push(ev(
                w,
                "warning",
                &DistrictAlertClosed {
                    alert_id,
                    case_id: w.case.clone(),
                    district: dc(d),
                    reason: "moved away".into(),
                },
                *due,
            ));
        }
    }
    for (j, (month, d, contacted, closed)) in w.months.iter().enumerate() {
        let item_id = Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("{}-{j}", w.case).as_bytes());
        let first = review::policy::month_start(month).unwrap();
        let due_at = first
            .midnight()
            .assume_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
        // Planned for her first district; moved later if she moved.
        let planned = w.moved.map_or(*d, |(_, from, _)| from);
        out.push(ev(
            w,
            "followup",
            &FollowUpScheduled {
                item_id,
                case_id: w.case.clone(),
                kind: ItemKind::PhoneCall,
                month: Some(month.clone()),
                due_date: first,
                due_at,
                district: dc(planned),
            },
            due_at,
        ));
        if planned != *d {
            out.push(ev(
                w,
                "followup",
                &FollowUpReassigned {
                    item_id,
                    case_id: w.case.clone(),
                    from: dc(planned),
                    to: dc(d),
                    at: due_at,
                },
                due_at,
            ));
        }
        // A failed attempt first, sometimes.
        let attempt = |n: u32, o: ContactOutcome| FollowUpAttempted {
            item_id,
            case_id: w.case.clone(),
            request_id: Uuid::new_v4(),
            outcome: o,
            attempt: n,
            note: None,
            danger_signs: vec![],
            new_district: None,
            next_attempt_at: None,
            by: "staff".into(),
            at: due_at + Duration::days(2),
        };
        if j % 2 == 0 {
            out.push(ev(
                w,
                "followup",
                &attempt(1, ContactOutcome::NotReached),
                due_at + Duration::days(2),
            ));
        }
        if *contacted {
            out.push(ev(
                w,
                "followup",
                &attempt(2, ContactOutcome::Reached),
                due_at + Duration::days(3),
            ));
        }
        if *closed {
            out.push(ev(
                w,
                "followup",
                &FollowUpClosed {
                    item_id,
                    case_id: w.case.clone(),
                    reason: "pregnancy ended".into(),
                    at: due_at + Duration::days(4),
                },
                due_at,
            ));
        }
    }
    if let Some((d, at)) = w.lost {
        out.push(ev(
            w,
            "followup",
            &LostToFollowUp {
                case_id: w.case.clone(),
                district: dc(d),
                months: vec![],
                at,
            },
            at,
        ));
    }
    if let Some((opened, accepted, departed, arrived, esc)) = w.referral {
        let referral_id = Uuid::new_v5(&Uuid::NAMESPACE_DNS, w.case.as_str().as_bytes());
        let centre = InstitutionCode::parse("RC430103").unwrap();
        let district = w.assessments[0].1;
        let mut r = |e: NewEvent| out.push(e);
        r(ev(
            w,
            "referral",
            &GreenChannelOpened {
                referral_id,
                case_id: w.case.clone(),
                residence_district: dc(district),
                opened_by: OpenedBy::Hospital,
                sending_institution: inst.clone(),
                form: ReferralForm {
                    identity: None,
                    clinical: None,
                    reason: "x".into(),
                    treatment_en_route: None,
                    referring_doctor: None,
                    escort: None,
                    transport: None,
                },
                ladder: vec![centre.clone()],
                rung: 1,
                target: centre.clone(),
                opened_at: opened,
                acceptance_due_at: opened + Duration::minutes(15),
            },
            opened,
        ));
        for k in 0..esc {
            let at = opened + Duration::minutes(15 * (i64::from(k) + 1));
            r(ev(
                w,
                "referral",
                &ReferralEscalated {
                    referral_id,
                    case_id: w.case.clone(),
                    from_rung: k + 1,
                    from_centre: centre.clone(),
                    to_rung: k + 2,
                    to_centre: centre.clone(),
                    reason: EscalationReason::Timeout,
                    at,
                    acceptance_due_at: at,
                    notified_offices: vec![],
                },
                at,
            ));
        }
        if let Some(at) = accepted {
            r(ev(
                w,
                "referral",
                &ReferralAccepted {
                    referral_id,
                    case_id: w.case.clone(),
                    centre: centre.clone(),
                    rung: 1,
                    receiving_doctor: "d".into(),
                    at,
                    minutes_from_opening: 0,
                },
                at,
            ));
        }
        if let Some(at) = departed {
            r(ev(
                w,
                "referral",
                &PatientDeparted {
                    referral_id,
                    case_id: w.case.clone(),
                    departed_at: at,
                    escort: "e".into(),
                    transport: None,
                    treatment_en_route: None,
                },
                at,
            ));
        }
        if let Some(at) = arrived {
            r(ev(
                w,
                "referral",
                &PatientArrived {
                    referral_id,
                    case_id: w.case.clone(),
                    centre: centre.clone(),
                    arrived_at: at,
                    escort: None,
                    received_by: "d".into(),
                },
                at,
            ));
        }
    }
    if let Some((kind, at, in_hospital, _)) = w.outcome {
        out.push(ev(
            w,
            "outcome",
            &PregnancyOutcomeReported {
                report_id: format!("o-{}", w.case),
                case_id: w.case.clone(),
                institution: inst.clone(),
                outcome: kind,
                occurred_at: at,
                place: "H430103-01".into(),
                in_hospital,
                discharged_at: None,
                note: None,
            },
            at,
        ));
    }
    out
}

//! The case timeline: every event of a case in log order, each with its time, actor,
//! institution, component and one human-readable line in Chinese and in English.
//!
//! What it owns: the wording. Lines are built from an allow-list of fields per event type
//! (codes, colours, times, institution codes, counts); they never carry a name, an identity
//! number, a phone number, an address or free text, whatever the payload holds. Pure: no IO.

use contracts::Envelope;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Log position.
    pub position: i64,
    /// Event id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Stream.
    pub stream_id: String,
    /// When it happened in the world (UTC+8).
    pub occurred_at: String,
    /// When the log recorded it (UTC+8).
    pub recorded_at: String,
    /// Who (`key:<id>` or `system:<component>`).
    pub actor: Option<String>,
    /// For which institution or office.
    pub institution: Option<String>,
    /// Which component appended it.
    pub component: String,
    /// The line in Chinese.
    pub zh: String,
    /// The line in English.
    pub en: String,
}

/// The timeline of a case's events (already in log order).
pub fn timeline(events: &[Envelope], offset: UtcOffset) -> Vec<TimelineEntry> {
    events
        .iter()
        .map(|e| {
            let (zh, en) = describe(e, offset);
            TimelineEntry {
                position: e.position,
                event_id: e.event_id.to_string(),
                event_type: e.event_type.clone(),
                stream_id: e.stream_id.to_string(),
                occurred_at: rfc3339(e.occurred_at, offset),
                recorded_at: rfc3339(e.recorded_at, offset),
                actor: e.metadata.actor.clone(),
                institution: e.metadata.institution.as_ref().map(ToString::to_string),
                component: e.metadata.component.clone(),
                zh,
                en,
            }
        })
        .collect()
}

/// RFC 3339 in `offset`.
pub fn rfc3339(t: OffsetDateTime, offset: UtcOffset) -> String {
    t.to_offset(offset).format(&Rfc3339).unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM` in `offset`.
pub fn minute(t: OffsetDateTime, offset: UtcOffset) -> String {
    let t = t.to_offset(offset);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

struct P<'a> {
    v: &'a Value,
    offset: UtcOffset,
}

impl P<'_> {
    /// A short code-like field (no spaces: codes, ids, enum values); "?" otherwise.
    fn code(&self, key: &str) -> String {
        match self.v.get(key) {
            Some(Value::String(s)) if is_code(s) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => "?".into(),
        }
    }
    fn time(&self, key: &str) -> String {
        self.v
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .map_or_else(|| "?".into(), |t| minute(t, self.offset))
    }
    fn bool(&self, key: &str) -> bool {
        self.v.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
    fn count(&self, key: &str) -> usize {
        self.v
            .get(key)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }
    fn grade(&self, key: &str) -> (String, String) {
        grade(self.v.get(key))
    }
}

/// Codes: letters, digits and `-_.@:` only, at most 64 characters (never free text).
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
}

fn colour_zh(c: &str) -> &'static str {
    match c {
        "green" => "绿色",
        "yellow" => "黄色",
        "orange" => "橙色",
        "red" => "红色",
        "purple" => "紫色",
        _ => "未知颜色",
    }
}

/// A grade object (`colour`, `infectious`, `score`) as (zh, en).
fn grade(g: Option<&Value>) -> (String, String) {
    let Some(g) = g else {
        return ("无".into(), "none".into());
    };
    let colour = g.get("colour").and_then(Value::as_str).unwrap_or("?");
    let colour = if is_code(colour) { colour } else { "?" };
    let purple = g
        .get("infectious")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let score = g.get("score").and_then(Value::as_u64).unwrap_or(0);
    let (pz, pe) = if purple {
        ("+紫色", "+purple")
    } else {
        ("", "")
    };
    (
        format!("{}{pz}，{score}分", colour_zh(colour)),
        format!("{colour}{pe}, {score} points"),
    )
}

fn outcome_zh(o: &str) -> &'static str {
    match o {
        "delivery" => "分娩",
        "miscarriage" => "流产",
        "termination" => "终止妊娠",
        "maternal_death" => "孕产妇死亡",
        "rescued" => "抢救成功",
        "rescue_failed" => "抢救失败",
        "dead_on_arrival" => "到达时已死亡",
        "reached" => "已联系上",
        "not_reached" => "未接通",
        "wrong_number" => "号码错误",
        "moved_away" => "已迁出",
        "pregnancy_ended" => "妊娠已结束",
        "declined" => "拒绝随访",
        "timely" => "及时",
        "delayed" => "延误",
        "to_be_corrected" => "需改进",
        _ => "其他",
    }
}

fn item_zh(k: &str) -> &'static str {
    match k {
        "phone_call" => "电话随访",
        "face_to_face" => "面访",
        "postpartum_visit" => "产后访视",
        "postnatal_check" => "产后42天检查",
        "outcome_unknown" => "妊娠结局核实",
        _ => "随访",
    }
}

/// The (zh, en) line of one event.
pub fn describe(e: &Envelope, offset: UtcOffset) -> (String, String) {
    let p = P {
        v: &e.payload,
        offset,
    };
    match e.event_type.as_str() {
        "RiskCardSubmitted" => {
            let crit = if p.bool("critical") {
                "，标记为危急"
            } else {
                ""
            };
            let crit_en = if p.bool("critical") {
                ", flagged critical"
            } else {
                ""
            };
            (
                format!(
                    "{} 上报妊娠风险预警报告卡（评估于 {}，{} 项发现{crit}）",
                    p.code("institution"),
                    p.time("assessed_at"),
                    p.count("findings")
                ),
                format!(
                    "{} reported a risk card (assessed {}, {} findings{crit_en})",
                    p.code("institution"),
                    p.time("assessed_at"),
                    p.count("findings")
                ),
            )
        }
        "CaseOpened" => ("建立个案".into(), "case opened".into()),
        "CardJoinedCase" => ("报告卡并入个案".into(), "card joined the case".into()),
        "CaseClosed" => ("个案结案".into(), "case closed".into()),
        "PregnancyOutcomeReported" => {
            let o = p.code("outcome");
            let where_zh = if p.bool("in_hospital") {
                "住院"
            } else {
                "非住院"
            };
            let where_en = if p.bool("in_hospital") {
                "in hospital"
            } else {
                "not in hospital"
            };
            (
                format!(
                    "{} 报告妊娠结局：{}（{}，{}）",
                    p.code("institution"),
                    outcome_zh(&o),
                    p.time("occurred_at"),
                    where_zh
                ),
                format!(
                    "{} reported the outcome: {} ({}, {})",
                    p.code("institution"),
                    o.replace('_', " "),
                    p.time("occurred_at"),
                    where_en
                ),
            )
        }
        "RiskAssessed" => {
            let (gz, ge) = grade(e.payload.get("assessment"));
            let hr = e
                .payload
                .pointer("/assessment/high_risk")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (
                format!(
                    "评估分级：{gz}{}（评估于 {}）",
                    if hr { "，高危专案" } else { "" },
                    p.time("assessed_at")
                ),
                format!(
                    "graded {ge}{} (assessed {})",
                    if hr { ", high-risk" } else { "" },
                    p.time("assessed_at")
                ),
            )
        }
        "RiskGraded" => {
            let (gz, ge) = p.grade("grade");
            (
                format!(
                    "分级记录：{gz}（评估于 {}，收到于 {}）",
                    p.time("assessed_at"),
                    p.time("received_at")
                ),
                format!(
                    "grading recorded: {ge} (assessed {}, received {})",
                    p.time("assessed_at"),
                    p.time("received_at")
                ),
            )
        }
        "ColourChanged" => {
            let (fz, fe) = p.grade("from");
            let (tz, te) = p.grade("to");
            (
                format!("预警颜色变化：{fz} → {tz}"),
                format!("colour changed: {fe} → {te}"),
            )
        }
        "HighRiskCaseOpened" => (
            format!(
                "纳入高危专案管理（居住地 {}）",
                p.code("residence_district")
            ),
            format!(
                "high-risk case management opened (residence {})",
                p.code("residence_district")
            ),
        ),
        "DistrictAlertRaised" => {
            let kind = p.code("kind");
            let (kz, ke) = match kind.as_str() {
                "copy" => ("抄送", "information copy"),
                "transfer_in" => ("迁入", "transfer-in"),
                "escalation" => ("逾期上报", "escalation"),
                _ => ("高危", "high-risk"),
            };
            let due = if e.payload.get("due_at").is_some_and(|d| !d.is_null()) {
                (
                    format!("，须于 {} 前签收", p.time("due_at")),
                    format!(", to acknowledge by {}", p.time("due_at")),
                )
            } else {
                (String::new(), String::new())
            };
            let late = if p.bool("reported_late") {
                ("（迟报）", " (reported late)")
            } else {
                ("", "")
            };
            (
                format!("向 {} 发出{kz}预警{}{}", p.code("district"), due.0, late.0),
                format!("{ke} alert to {}{}{}", p.code("district"), due.1, late.1),
            )
        }
        "DistrictAlertAcknowledged" => {
            let late = if p.bool("late") {
                ("（超时）", " (late)")
            } else {
                ("", "")
            };
            (
                format!(
                    "{} 于 {} 签收预警{}",
                    p.code("district"),
                    p.time("at"),
                    late.0
                ),
                format!(
                    "{} acknowledged the alert at {}{}",
                    p.code("district"),
                    p.time("at"),
                    late.1
                ),
            )
        }
        "DistrictAlertOverdue" => (
            format!(
                "{} 未在 {} 前签收，逾期上报 {}",
                p.code("district"),
                p.time("due_at"),
                p.code("escalate_to")
            ),
            format!(
                "{} did not acknowledge by {}; escalated to {}",
                p.code("district"),
                p.time("due_at"),
                p.code("escalate_to")
            ),
        ),
        "DistrictAlertClosed" => (
            format!("{} 的预警关闭（未签收）", p.code("district")),
            format!(
                "alert to {} closed without acknowledgement",
                p.code("district")
            ),
        ),
        "CaseTransferred" => (
            format!("居住地变更：{} → {}", p.code("from"), p.code("to")),
            format!("residence changed: {} → {}", p.code("from"), p.code("to")),
        ),
        "NotSuitableRecorded" => (
            format!("记录不宜继续妊娠判断（判断于 {}）", p.time("judged_at")),
            format!(
                "judged not suitable to continue the pregnancy ({})",
                p.time("judged_at")
            ),
        ),
        "CaseDetailsNoted" => (
            "随访登记个案信息".into(),
            "case details noted for follow-up".into(),
        ),
        "FollowUpOpened" => (
            format!("{} 开始随访", p.code("district")),
            format!("follow-up opened by {}", p.code("district")),
        ),
        "FollowUpScheduled" => {
            let k = p.code("kind");
            let month = p.code("month");
            let m = if month == "?" {
                String::new()
            } else {
                format!(" {month}")
            };
            (
                format!(
                    "安排{}{m}（{} 负责，截止 {}）",
                    item_zh(&k),
                    p.code("district"),
                    p.code("due_date")
                ),
                format!(
                    "{}{m} scheduled ({}, due {})",
                    k.replace('_', " "),
                    p.code("district"),
                    p.code("due_date")
                ),
            )
        }
        "FollowUpAttempted" => {
            let o = p.code("outcome");
            (
                format!(
                    "第 {} 次随访：{}（{}）",
                    p.code("attempt"),
                    outcome_zh(&o),
                    p.time("at")
                ),
                format!(
                    "follow-up attempt {}: {} ({})",
                    p.code("attempt"),
                    o.replace('_', " "),
                    p.time("at")
                ),
            )
        }
        "FollowUpAssigned" => ("随访任务已分派".into(), "follow-up item assigned".into()),
        "FollowUpReassigned" => (
            format!("随访任务转至 {}", p.code("to")),
            format!("follow-up item moved to {}", p.code("to")),
        ),
        "FollowUpClosed" => ("随访任务关闭".into(), "follow-up item closed".into()),
        "FollowUpMonthEnded" => (
            format!("{} 月随访期结束", p.code("month")),
            format!("follow-up month {} ended", p.code("month")),
        ),
        "FollowUpMissed" => (
            format!(
                "{} 月未随访到（连续 {} 个月）",
                p.code("month"),
                p.code("missed_in_a_row")
            ),
            format!(
                "month {} missed ({} in a row)",
                p.code("month"),
                p.code("missed_in_a_row")
            ),
        ),
        "LostToFollowUp" => (
            format!("失访（{} 负责）", p.code("district")),
            format!("lost to follow-up ({})", p.code("district")),
        ),
        "FollowUpAlertRaised" => (
            format!("向 {} 发出随访预警", p.code("district")),
            format!("follow-up alert to {}", p.code("district")),
        ),
        "TransferRequested" => (
            format!("随访获知迁居：{} → {}", p.code("from"), p.code("to")),
            format!(
                "follow-up learnt of a move: {} → {}",
                p.code("from"),
                p.code("to")
            ),
        ),
        "ReassessmentRequested" => (
            format!(
                "随访发现危险征象 {} 项，要求重新评估",
                p.count("danger_signs")
            ),
            format!(
                "{} danger sign(s) on follow-up: re-assessment requested",
                p.count("danger_signs")
            ),
        ),
        "OutcomeRequested" => ("要求报告妊娠结局".into(), "outcome asked for".into()),
        "OutcomeOverdue" => (
            format!("预产期 {} 后未报告结局", p.code("edd")),
            format!(
                "no outcome reported after the expected date {}",
                p.code("edd")
            ),
        ),
        "PregnancyEndedNoted" => {
            let o = p.code("outcome");
            (
                format!("随访记录妊娠结束：{}", outcome_zh(&o)),
                format!(
                    "follow-up noted the end of pregnancy: {}",
                    o.replace('_', " ")
                ),
            )
        }
        "FollowUpTransferred" => (
            format!("随访转移：{} → {}", p.code("from"), p.code("to")),
            format!(
                "follow-up transferred: {} → {}",
                p.code("from"),
                p.code("to")
            ),
        ),
        "GreenChannelOpened" => (
            format!(
                "{} 开通绿色通道，请 {}（第 {} 级）于 {} 前接收",
                p.code("sending_institution"),
                p.code("target"),
                p.code("rung"),
                p.time("acceptance_due_at")
            ),
            format!(
                "{} opened the green channel; {} (rung {}) to accept by {}",
                p.code("sending_institution"),
                p.code("target"),
                p.code("rung"),
                p.time("acceptance_due_at")
            ),
        ),
        "ReferralAcceptanceOverdue" => (
            format!(
                "{}（第 {} 级）未在 {} 前接收",
                p.code("centre"),
                p.code("rung"),
                p.time("due_at")
            ),
            format!(
                "{} (rung {}) did not accept by {}",
                p.code("centre"),
                p.code("rung"),
                p.time("due_at")
            ),
        ),
        "ReferralAccepted" => (
            format!(
                "{}（第 {} 级）于 {} 接收转诊，距开通 {} 分钟",
                p.code("centre"),
                p.code("rung"),
                p.time("at"),
                p.code("minutes_from_opening")
            ),
            format!(
                "{} (rung {}) accepted at {}, {} min after opening",
                p.code("centre"),
                p.code("rung"),
                p.time("at"),
                p.code("minutes_from_opening")
            ),
        ),
        "ReferralHandedOn" => (
            format!("{} 转交上一级", p.code("centre")),
            format!("{} handed her on", p.code("centre")),
        ),
        "ReferralEscalated" => {
            let why = p.code("reason");
            let (wz, we) = if why == "handed_on" {
                ("转交", "handed on")
            } else {
                ("超时未接收", "not accepted in time")
            };
            (
                format!(
                    "{}，由 {}（第 {} 级）升级至 {}（第 {} 级），须于 {} 前接收",
                    wz,
                    p.code("from_centre"),
                    p.code("from_rung"),
                    p.code("to_centre"),
                    p.code("to_rung"),
                    p.time("acceptance_due_at")
                ),
                format!(
                    "{}: escalated from {} (rung {}) to {} (rung {}), to accept by {}",
                    we,
                    p.code("from_centre"),
                    p.code("from_rung"),
                    p.code("to_centre"),
                    p.code("to_rung"),
                    p.time("acceptance_due_at")
                ),
            )
        }
        "ReferralRenotified" => (
            format!(
                "再次通知 {}（第 {} 次）",
                p.code("centre"),
                p.code("attempt")
            ),
            format!(
                "{} notified again (attempt {})",
                p.code("centre"),
                p.code("attempt")
            ),
        ),
        "PatientDeparted" => (
            format!("孕产妇于 {} 离开转出机构", p.time("departed_at")),
            format!(
                "she left the sending institution at {}",
                p.time("departed_at")
            ),
        ),
        "PatientArrived" => (
            format!(
                "孕产妇于 {} 到达 {}",
                p.time("arrived_at"),
                p.code("centre")
            ),
            format!(
                "she arrived at {} at {}",
                p.code("centre"),
                p.time("arrived_at")
            ),
        ),
        "ReferralFeedbackFiled" => {
            let o = p.code("outcome");
            let t = p.code("timeliness");
            (
                format!(
                    "{} 填写反馈单：{}，转诊{}",
                    p.code("centre"),
                    outcome_zh(&o),
                    outcome_zh(&t)
                ),
                format!(
                    "{} filed the feedback: {}, referral {}",
                    p.code("centre"),
                    o.replace('_', " "),
                    t.replace('_', " ")
                ),
            )
        }
        "NearMissRecorded" => {
            let codes: Vec<String> = e
                .payload
                .get("criteria")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter(|s| is_code(s))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            (
                format!(
                    "{} 记录危重孕产妇（符合 {}），纳入评审",
                    p.code("centre"),
                    codes.join("、")
                ),
                format!(
                    "{} recorded a near miss ({}); flagged for review",
                    p.code("centre"),
                    codes.join(", ")
                ),
            )
        }
        "GreenChannelClosed" => ("绿色通道关闭".into(), "green channel closed".into()),
        "CaseReviewed" => {
            let a = p.code("avoidability");
            let (az, ae) = match a.as_str() {
                "avoidable" => ("可避免", "avoidable"),
                "avoidable_with_conditions" => {
                    ("创造条件可避免", "avoidable had conditions been created")
                }
                _ => ("不可避免", "unavoidable"),
            };
            let delays: Vec<String> = e
                .payload
                .get("delays")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_u64)
                        .map(|d| d.to_string())
                        .collect()
                })
                .unwrap_or_default();
            let d = if delays.is_empty() {
                "无".to_owned()
            } else {
                delays.join("、")
            };
            let de = if delays.is_empty() {
                "none".to_owned()
            } else {
                delays.join(", ")
            };
            (
                format!("评审结论：{az}；延误 {d}"),
                format!("review conclusion: {ae}; delays {de}"),
            )
        }
        other => {
            let t = if is_code(other) { other } else { "?" };
            (format!("事件 {t}"), format!("event {t}"))
        }
    }
}

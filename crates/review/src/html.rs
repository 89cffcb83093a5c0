//! The review pack as a printable HTML page (zh-CN first, English beside it): one
//! self-contained document, no script, no external resource, every value escaped. The
//! coverage block at the top is what a reader checks a printed copy against the log with.

use crate::pack::ReviewPack;
use serde_json::Value;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn val(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => esc(s),
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{}: {}", esc(k), val(v)))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Array(a) => a.iter().map(val).collect::<Vec<_>>().join(", "),
        other => esc(&other.to_string()),
    }
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "—".into(), esc)
}

fn table(out: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\">无 / none</td></tr>",
            head.len()
        );
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// Renders the pack.
pub fn render(p: &ReviewPack) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>危重孕产妇评审资料 Critical-case review pack {id}</title>\
<style>body{{font-family:sans-serif;font-size:11pt;margin:1.5em}}table{{border-collapse:collapse;width:100%;margin-bottom:1em}}\
th,td{{border:1px solid #888;padding:2px 4px;vertical-align:top;font-size:9.5pt}}th{{background:#eee}}h2{{margin-top:1.2em;page-break-after:avoid}}\
.cov{{font-family:monospace;font-size:9pt;word-break:break-all}}@media print{{tr{{page-break-inside:avoid}}}}</style></head><body>",
        id = esc(&p.case_id)
    );
    let _ = write!(
        o,
        "<h1>危重孕产妇评审资料 / Critical-case review pack</h1><p>个案 Case <b id=\"case\">{}</b>；居住地 Residence {}；生成于 Generated {}</p>",
        esc(&p.case_id),
        opt(&p.residence_district),
        esc(&p.generated_at)
    );
    let c = &p.coverage;
    let _ = write!(
        o,
        "<h2>日志覆盖与校验 / Log coverage</h2><div class=\"cov\">\
<p>日志位置 Log positions: <span id=\"first-position\">{}</span> – <span id=\"last-position\">{}</span> ({} events)</p>\
<p>个案摘要 Case digest: <span id=\"case-digest\">{}</span></p>\
<p>末位链哈希 Chain hash at last position: <span id=\"chain-hash\">{}</span></p>\
<p>生成时日志头 Log head when rendered: <span id=\"head-position\">{}</span> <span id=\"head-hash\">{}</span></p>\
<p>校验 Verification: <span id=\"verification\">{}</span></p></div>",
        c.first_position,
        c.last_position,
        c.events,
        esc(&c.case_digest),
        esc(&c.chain_hash_at_last),
        c.head_position,
        esc(&c.head_hash),
        match &c.first_bad {
            None => "通过 verified".to_owned(),
            Some((pos, why)) => format!("失败 FAILED at position {pos}: {}", esc(why)),
        }
    );
    o.push_str("<h2>时间间隔（三个延误）/ Intervals (the three delays)</h2>");
    table(
        &mut o,
        &["项目 Interval", "起 From", "止 To", "分钟 Minutes"],
        p.intervals
            .iter()
            .map(|i| {
                vec![
                    format!("{} / {}", esc(&i.zh), esc(&i.en)),
                    esc(&i.from),
                    esc(&i.to),
                    i.minutes.to_string(),
                ]
            })
            .collect(),
    );
    o.push_str("<h2>评估分级史 / Grading history</h2>");
    table(
        &mut o,
        &[
            "评估 Assessed",
            "收到 Received",
            "机构 Institution",
            "颜色 Colour",
            "评分 Score",
            "高危 High-risk",
        ],
        p.grading_history
            .iter()
            .map(|g| {
                vec![
                    esc(&g.assessed_at),
                    esc(&g.received_at),
                    esc(&g.institution),
                    format!(
                        "{}{}",
                        esc(&g.colour),
                        if g.infectious { " + purple" } else { "" }
                    ),
                    g.score.to_string(),
                    if g.high_risk { "是 yes" } else { "否 no" }.into(),
                ]
            })
            .collect(),
    );
    o.push_str("<h2>预警 / Alerts</h2>");
    table(
        &mut o,
        &[
            "辖区 District",
            "类型 Kind",
            "发出 Raised",
            "时限 Due",
            "签收 Acknowledged",
            "逾期 Overdue",
        ],
        p.alerts
            .iter()
            .map(|a| {
                vec![
                    esc(&a.district),
                    esc(&a.kind),
                    esc(&a.raised_at),
                    opt(&a.due_at),
                    format!("{} {}", opt(&a.acknowledged_at), opt(&a.acknowledged_by)),
                    if a.overdue {
                        format!("是 yes → {}", opt(&a.escalated_to))
                    } else {
                        "否 no".into()
                    },
                ]
            })
            .collect(),
    );
    o.push_str("<h2>随访 / Follow-up contacts</h2>");
    table(
        &mut o,
        &[
            "时间 At",
            "类型 Kind",
            "月份 Month",
            "次数 Attempt",
            "结果 Outcome",
        ],
        p.follow_up
            .iter()
            .map(|f| {
                vec![
                    esc(&f.at),
                    esc(&f.kind),
                    opt(&f.month),
                    f.attempt.to_string(),
                    esc(&f.outcome),
                ]
            })
            .collect(),
    );
    o.push_str("<h2>转诊单与反馈单 / Referral and feedback forms</h2>");
    for r in &p.referrals {
        let _ = write!(
            o,
            "<h3>转诊 Referral {}</h3><p>转出 Sender {}；开通 Opened {}（{}）；梯队 Ladder {}</p>",
            esc(&r.referral_id.to_string()),
            esc(&r.sending_institution),
            esc(&r.opened_at),
            esc(&r.opened_by),
            esc(&r.ladder.join(" → "))
        );
        let mut rows = vec![vec!["转诊单 Form".into(), val(&r.form)]];
        for (i, e) in r.escalations.iter().enumerate() {
            rows.push(vec![format!("上转 Escalation {}", i + 1), val(e)]);
        }
        for (k, x) in [
            ("接收 Accepted", &r.accepted),
            ("离院 Departed", &r.departed),
            ("到达 Arrived", &r.arrived),
            ("反馈单 Feedback", &r.feedback),
        ] {
            rows.push(vec![k.into(), x.as_ref().map_or_else(|| "—".into(), val)]);
        }
        table(&mut o, &["", ""], rows);
    }
    o.push_str("<h2>危重孕产妇标准 / Near-miss criteria met</h2>");
    table(
        &mut o,
        &["记录 Recorded", "标准 Criteria"],
        p.near_miss
            .iter()
            .map(|n| {
                vec![
                    format!("{} {} ({})", esc(&n.at), esc(&n.centre), esc(&n.catalogue)),
                    n.criteria.iter().map(val).collect::<Vec<_>>().join("<br>"),
                ]
            })
            .collect(),
    );
    let _ = write!(
        o,
        "<h2>妊娠结局 / Outcome</h2><p>{}</p>",
        p.outcome.as_ref().map_or_else(|| "—".into(), val)
    );
    o.push_str("<h2>评审结论 / Conclusions</h2>");
    table(
        &mut o,
        &[
            "时间 At",
            "层级 Level",
            "可避免性 Avoidability",
            "延误 Delays",
            "备注 Notes",
        ],
        p.conclusions
            .iter()
            .map(|c| {
                vec![
                    esc(&crate::timeline::rfc3339(
                        c.reviewed_at,
                        contracts::china_offset(),
                    )),
                    esc(&serde_json::to_value(c.level)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()),
                    format!("{} / {}", c.avoidability.zh(), c.avoidability.en()),
                    c.delays
                        .iter()
                        .map(u8::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    esc(&c.notes),
                ]
            })
            .collect(),
    );
    o.push_str("<h2>时间线 / Timeline</h2>");
    table(
        &mut o,
        &[
            "位置 Pos.",
            "时间 Time",
            "操作者 Actor",
            "机构 Institution",
            "事件 Event",
        ],
        p.timeline
            .iter()
            .map(|t| {
                vec![
                    t.position.to_string(),
                    esc(&t.occurred_at),
                    opt(&t.actor),
                    opt(&t.institution),
                    format!("{}<br>{}", esc(&t.zh), esc(&t.en)),
                ]
            })
            .collect(),
    );
    o.push_str("</body></html>\n");
    o
}

//! Every user-facing string of the UI, in Simplified Chinese (the default) and English: one
//! message table ([`Msg`], each entry holds both languages, so a missing translation does not
//! compile) plus the few messages that carry a number ([`hours_left`], [`duration`]).
//!
//! What it does not own: domain words that come with data (district and institution names
//! from reference data, condition texts from the catalogue) are shown in the language the
//! data gives.

use contracts::Colour;

/// The UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Simplified Chinese (the default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh-CN` or `en`, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short code used in `?lang=` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// Parses `zh`, `zh-CN`, `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

macro_rules! messages {
    ($($name:ident => $zh:literal, $en:literal;)*) => {
        /// A user-facing message; [`Msg::text`] gives it in a language.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg {
            $(#[doc = $en] $name,)*
        }

        impl Msg {
            /// Every message (the table's completeness test walks it).
            pub const ALL: &'static [Msg] = &[$(Msg::$name,)*];

            /// The message in `lang`.
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$name, Lang::Zh) => $zh, (Msg::$name, Lang::En) => $en,)*
                }
            }
        }
    };
}

messages! {
    AppName => "高危孕产妇转诊平台", "High-risk pregnancy referral";
    SwitchLang => "English", "中文";
    SignIn => "登录", "Sign in";
    SignOut => "退出", "Sign out";
    SignInIntro => "请粘贴本机构的 API 密钥登录。密钥只用于登录，不会显示。", "Paste your institution's API key to sign in. The key is used only to sign in and is never shown.";
    ApiKey => "API 密钥", "API key";
    BadKey => "密钥无效或已吊销。", "The key is unknown or revoked.";
    SignedInAs => "当前用户", "Signed in as";
    NavInbox => "预警签收", "Alert inbox";
    NavWorklist => "随访工作表", "Follow-up worklist";
    NavRegisters => "台账", "Registers";
    NavReferrals => "转诊看板", "Referral board";
    NavIndicators => "质量指标", "Indicators";
    Inbox => "高危预警签收", "High-risk alert inbox";
    InboxOpen => "待签收", "Open";
    InboxAcknowledged => "已签收", "Acknowledged";
    NoAlerts => "没有预警。", "No alerts.";
    Colour => "分级", "Grade";
    Case => "个案", "Case";
    Kind => "类型", "Kind";
    AssessedAt => "评估时间", "Assessed at";
    DueAt => "签收期限", "Due";
    TimeLeft => "剩余时间", "Time left";
    Institution => "机构", "Institution";
    Score => "评分", "Score";
    Action => "操作", "Action";
    Acknowledge => "签收", "Acknowledge";
    Acknowledged => "已签收", "Acknowledged";
    AcknowledgedDone => "预警已签收。", "Alert acknowledged.";
    Overdue => "已超期", "Overdue";
    ReportedLate => "迟报", "Reported late";
    KindNew => "新预警", "New";
    KindCopy => "抄送", "Copy";
    KindTransferIn => "转入", "Moved in";
    KindEscalation => "逾期上报", "Escalated (overdue)";
    KindDeath => "孕产妇死亡报告", "Maternal death report";
    KindLost => "失访", "Lost to follow-up";
    KindOther => "预警", "Alert";
    Infectious => "传染病（紫色）", "Infectious (purple)";
    GreenL => "绿色", "Green";
    YellowL => "黄色", "Yellow";
    OrangeL => "橙色", "Orange";
    RedL => "红色", "Red";
    PurpleL => "紫色", "Purple";
    CasePage => "个案详情", "Case";
    CurrentGrade => "当前分级", "Current grade";
    HighRisk => "高危（专案管理）", "High risk (case management)";
    NotHighRisk => "非高危", "Not high risk";
    HighRiskReasons => "高危原因", "High-risk reasons";
    Findings => "评估发现（分级依据）", "Contributing findings";
    Code => "编码", "Code";
    Condition => "情况", "Condition";
    GradingHistory => "分级历史", "Grading history";
    Cards => "风险报告卡", "Risk cards";
    CardId => "报告卡编号", "Card";
    ReceivedAt => "接收时间", "Received at";
    Critical => "危急", "Critical";
    Outcome => "妊娠结局", "Pregnancy outcome";
    Timeline => "时间线", "Timeline";
    Event => "事件", "Event";
    Time => "时间", "Time";
    Actor => "操作者", "Actor";
    NoEvents => "没有事件。", "No events.";
    StatYear => "统计年度（截至该年9月30日）", "Statistical year (ending 30 September of)";
    Period => "统计期", "Period";
    Indicator => "指标", "Indicator";
    Numerator => "分子", "Numerator";
    Denominator => "分母", "Denominator";
    Value => "比率", "Rate";
    IndManagement => "高危孕产妇管理率", "High-risk case management rate";
    IndOnTime => "上报及时率", "On-time reporting rate";
    IndFollowUp => "随访率", "Follow-up rate";
    IndInHospital => "高危住院分娩率", "High-risk in-hospital delivery rate";
    IndRedShare => "红色占比", "Red share";
    IndOrangeShare => "橙色占比", "Orange share";
    IndLost => "失访人数", "Lost to follow-up";
    IndChart => "各项比率（%）", "Rates (%)";
    GcReferrals => "绿色通道转诊数", "Green-channel referrals";
    GcToAccept => "发起至接收（中位数，分钟）", "Opened to accepted (median, min)";
    GcTransit => "出发至到达（中位数，分钟）", "Departed to arrived (median, min)";
    GcEscalations => "逐级上报次数", "Escalations";
    Status => "状态", "Status";
    StatusOpenCase => "管理中", "Open";
    StatusClosedCase => "已结案", "Closed";
    Worklist => "随访工作表", "Follow-up worklist";
    Month => "月份", "Month";
    Show => "显示", "Show";
    Name => "姓名", "Name";
    Phone => "电话", "Phone";
    GestationalAge => "孕周", "Gestational age";
    ItemKind => "随访项目", "Item";
    DueDate => "应随访日期", "Due date";
    Attempts => "拨打次数", "Attempts";
    LastContact => "上次结果", "Last result";
    RecordOutcome => "记录结果", "Record outcome";
    CallOutcome => "随访结果", "Call outcome";
    Note => "备注", "Note";
    NewDistrict => "迁入区划代码（迁出时填写）", "New district code (moved away)";
    Save => "保存", "Save";
    OutcomeSaved => "随访结果已记录。", "Outcome recorded.";
    OutReached => "已联系上", "Reached";
    OutNotReached => "未接通", "Not reached";
    OutWrongNumber => "号码错误", "Wrong number";
    OutMovedAway => "已迁出", "Moved away";
    OutPregnancyEnded => "妊娠已结束", "Pregnancy ended";
    OutDeclined => "拒绝随访", "Declined";
    ExportCsv => "导出 CSV", "Export CSV";
    ExportXlsx => "导出 Excel", "Export XLSX";
    NoRows => "没有记录。", "Nothing here.";
    NextPage => "下一页", "Next page";
    ItemOpen => "待随访", "Open";
    ItemDone => "已完成", "Done";
    ItemClosed => "已关闭", "Closed";
    KindPhoneCall => "电话随访", "Phone call";
    KindFaceToFace => "面访", "Face-to-face visit";
    KindPostpartum => "产后访视", "Postpartum visit";
    KindPostnatal => "产后42天检查", "42-day check";
    KindOutcomeUnknown => "结局不明", "Outcome unknown";
    Registers => "台账", "Registers";
    RegHighRisk => "高危台账", "High-risk register";
    RegRed => "红色预警登记册", "Red register";
    RegNotSuitable => "不宜继续妊娠登记册", "Not-suitable register";
    HighRiskSince => "高危起始", "High risk since";
    LastAssessed => "最近评估", "Last assessed";
    Assessments => "评估次数", "Assessments";
    RedAssessments => "红色评估时间", "Red assessments";
    Judgements => "判定", "Judgements";
    JudgedBy => "判定医生", "Judged by";
    Reason => "原因", "Reason";
    FollowedBy => "后续处理", "What followed";
    Referrals => "绿色通道转诊看板", "Green-channel referral board";
    OpenedAt => "发起时间", "Opened at";
    SinceOpening => "已发起", "Since opening";
    District => "居住区", "Residence district";
    Sender => "转出机构", "Sending hospital";
    Diagnosis => "诊断", "Diagnosis";
    AcceptanceDeadline => "接收时限", "Acceptance deadline";
    RefAwaiting => "待接收", "Awaiting acceptance";
    RefAccepted => "已接收", "Accepted";
    RefClosed => "已结束", "Closed";
    Accept => "接收", "Accept";
    ReceivingDoctor => "接诊医生", "Receiving doctor";
    Depart => "记录出发", "Record departure";
    Escort => "护送人员", "Escort";
    Transport => "转运方式", "Transport";
    TrAmbulance => "救护车", "Ambulance";
    TrPrivate => "私家车", "Private vehicle";
    TrAir => "航空", "Air";
    TrOther => "其他", "Other";
    Arrive => "记录到达", "Record arrival";
    ReceivedBy => "接收人", "Received by";
    Feedback => "填写反馈单", "File feedback";
    Treatment => "治疗", "Treatment";
    RescueOutcome => "救治结果", "Outcome";
    OcRescued => "抢救成功", "Rescued";
    OcFailed => "抢救失败", "Rescue failed";
    OcDoa => "到达时已死亡", "Dead on arrival";
    Timeliness => "转诊及时性", "Timeliness";
    TmTimely => "及时", "Timely";
    TmDelayed => "延误", "Delayed";
    TmCorrect => "需改进", "To be corrected";
    Departed => "已出发", "Departed";
    Arrived => "已到达", "Arrived";
    FeedbackFiled => "已反馈", "Feedback filed";
    NoReferrals => "没有进行中的转诊。", "No open referrals.";
    ReferralSaved => "已保存。", "Saved.";
    Indicators => "质量指标", "Quality indicators";
    ErrNotFound => "未找到，或您无权查看。", "Not found, or not yours to see.";
    ErrForbidden => "无权执行此操作。", "You may not do this.";
    ErrInvalid => "填写有误，请检查。", "Some fields are wrong; please check.";
    ErrConflict => "操作与当前状态冲突。", "This conflicts with the current state.";
    ErrCsrf => "表单已失效，请返回页面重新提交。", "The form has expired; go back, reload and submit again.";
    ErrUnavailable => "服务暂时繁忙，请稍后再试。", "The service is busy; try again shortly.";
    ErrInternal => "服务出错，请稍后再试。", "Something went wrong; try again shortly.";
    Back => "返回", "Back";
    Home => "首页", "Home";
    Nothing => "—", "—";
    Yes => "是", "Yes";
    No => "否", "No";
    Filter => "筛选", "Filter";
}

/// A colour's label ("橙色" / "Orange").
pub fn colour_label(c: Colour, lang: Lang) -> &'static str {
    match c {
        Colour::Green => Msg::GreenL,
        Colour::Yellow => Msg::YellowL,
        Colour::Orange => Msg::OrangeL,
        Colour::Red => Msg::RedL,
        Colour::Purple => Msg::PurpleL,
    }
    .text(lang)
}

/// Time to a deadline as text: "剩余 31 小时" / "31 h left", or "已超期 5 小时" / "overdue by
/// 5 h" once past (whole hours, rounded towards the deadline; minutes under one hour).
pub fn hours_left(seconds: i64, lang: Lang) -> String {
    let overdue = seconds < 0;
    let span = duration(seconds.unsigned_abs(), lang);
    match (overdue, lang) {
        (false, Lang::Zh) => format!("剩余 {span}"),
        (false, Lang::En) => format!("{span} left"),
        (true, Lang::Zh) => format!("已超期 {span}"),
        (true, Lang::En) => format!("overdue by {span}"),
    }
}

/// A span of time as text: minutes under an hour, hours (and minutes under a day) above.
pub fn duration(seconds: u64, lang: Lang) -> String {
    let minutes = seconds / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    match lang {
        Lang::Zh if h == 0 => format!("{m} 分钟"),
        Lang::Zh if h >= 24 || m == 0 => format!("{h} 小时"),
        Lang::Zh => format!("{h} 小时 {m} 分钟"),
        Lang::En if h == 0 => format!("{m} min"),
        Lang::En if h >= 24 || m == 0 => format!("{h} h"),
        Lang::En => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages() {
        for m in Msg::ALL {
            assert!(!m.text(Lang::Zh).trim().is_empty(), "{m:?}");
            assert!(!m.text(Lang::En).trim().is_empty(), "{m:?}");
        }
        // The Chinese table really is Chinese where it is prose.
        assert!(Msg::Inbox.text(Lang::Zh).chars().any(|c| c > '\u{2e80}'));
    }

    #[test]
    fn time_left_reads_as_text() {
        let check = |secs, lang, want: &str| assert_eq!(hours_left(secs, lang), want);
        check(31 * 3600 + 59, Lang::Zh, "剩余 31 小时");
        check(31 * 3600, Lang::En, "31 h left");
        check(2 * 3600 + 30 * 60, Lang::En, "2 h 30 min left");
        check(45 * 60, Lang::Zh, "剩余 45 分钟");
        check(-5 * 3600, Lang::Zh, "已超期 5 小时");
        check(-90, Lang::En, "overdue by 1 min");
        assert_eq!(duration(3 * 86_400 + 120, Lang::En), "72 h");
    }

    #[test]
    fn languages_parse() {
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::default(), Lang::Zh);
    }
}

//! Synthetic but realistic risk cards and pregnancy outcomes, for demos, load and fault tests.
//!
//! What it owns: a seeded, deterministic generator ([`Synth`]) of the JSON bodies
//! `POST /v1/risk-cards` accepts (the wire format of `intake::wire::RiskCardRequest`), for the
//! hospitals and districts of a [`ReferenceData`]: women with valid resident IDs (GB 11643
//! check character), fictional Chinese names and mobile numbers, repeat visits over the
//! gestation, a configurable colour mix ([`ColourMix`]) whose findings are picked from the
//! scoring catalogue by colour (never hard-coded codes), critical flags, and a share of exact
//! duplicates and of invalid cards (each tagged with the reason it must be refused).
//!
//! What it does not: no IO, no clock (the time window is in [`SynthConfig`]), no HTTP. The
//! same seed and inputs always give the same cards, byte for byte. Everything it makes is
//! fictional; it never reads real personal data.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let reference = reference::ReferenceData::load("config/reference/demo-city.toml")?;
//! let catalogues = scoring::Region::load("config/regions/default.toml")?.load_catalogues()?;
//! let config = synth::SynthConfig::history(42, time::macros::datetime!(2026-11-01 08:00 +8));
//! let mut gen = synth::Synth::new(&reference, &catalogues, config)?;
//! for card in gen.by_ref().take(1_000) {
//!     // POST card.body with a key of card.institution
//!     let _ = (&card.institution, &card.body);
//! }
//! # Ok(()) }
//! ```

use contracts::Colour;
use reference::{InstitutionKind, ReferenceData};
use scoring::Catalogues;
use serde_json::{json, Value};
use std::collections::VecDeque;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// The relative weights of the colours women are graded to. Purple is infectious disease,
/// carried alongside a green or yellow grade; `critical` is the share of orange and red women
/// whose last card the hospital flags critical.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourMix {
    /// Green (low risk).
    pub green: f64,
    /// Yellow (general risk).
    pub yellow: f64,
    /// Orange (higher risk).
    pub orange: f64,
    /// Red (high risk).
    pub red: f64,
    /// Purple (infectious), on top of green or yellow.
    pub purple: f64,
    /// Share of orange and red women whose last card is flagged critical (0–1).
    pub critical: f64,
}

impl Default for ColourMix {
    /// Mostly green and yellow, some orange, few red and purple, a few critical.
    fn default() -> Self {
        Self {
            green: 45.0,
            yellow: 33.0,
            orange: 14.0,
            red: 5.0,
            purple: 3.0,
            critical: 0.05,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// The seed: same seed, same cards.
    pub seed: u64,
    /// Colour weights.
    pub mix: ColourMix,
    /// Visits (cards) per woman, inclusive range.
    pub visits: (u32, u32),
    /// Preferred time between a woman's visits (shrunk to fit `span`).
    pub visit_interval: Duration,
    /// The latest assessment time any card carries.
    pub end: OffsetDateTime,
    /// How far before `end` the first assessments may lie.
    pub span: Duration,
    /// How many women are "in care" at once; their visits interleave.
    pub active_women: usize,
    /// Share of cards that are exact resubmissions of an earlier valid card (0–1).
    pub duplicate_share: f64,
    /// Share of cards that intake must refuse (0–1).
    pub invalid_share: f64,
    /// Prefix of every card id (make it unique per run when several runs share a database).
    pub card_id_prefix: String,
}

impl SynthConfig {
    /// A realistic history: visits about every four weeks over the 200 days before `end`,
    /// 1–6 visits per woman, 2% duplicates, 1% invalid cards.
    pub fn history(seed: u64, end: OffsetDateTime) -> Self {
        Self {
            seed,
            mix: ColourMix::default(),
            visits: (1, 6),
            visit_interval: Duration::days(28),
            end,
            span: Duration::days(200),
            active_women: 200,
            duplicate_share: 0.02,
            invalid_share: 0.01,
            card_id_prefix: format!("S{seed}"),
        }
    }

    /// Cards as a live burst sends them: every assessment in the hour before `end` (so no
    /// 48 h alert deadline has passed yet), 1–3 visits per woman.
    pub fn live(seed: u64, end: OffsetDateTime) -> Self {
        Self {
            visits: (1, 3),
            span: Duration::hours(1),
            ..Self::history(seed, end)
        }
    }
}

/// Why a generated card must be refused by intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// The resident ID's check character is wrong.
    BadCheckDigit,
    /// A finding code that is in no catalogue.
    UnknownFinding,
    /// The assessment is a day after `end`.
    FutureAssessment,
    /// Neither LMP nor EDD.
    NoPregnancyDates,
    /// Diastolic pressure not below systolic.
    DiastolicAboveSystolic,
}

/// What a generated card is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// A valid card that should grade to `colour` (green … red) with `infectious` alongside.
    Valid {
        /// The intended grade (never purple).
        colour: Colour,
        /// Whether a purple (infectious) finding is on it.
        infectious: bool,
        /// Flagged critical by the hospital.
        critical: bool,
    },
    /// An exact resubmission of an earlier valid card (same `card_id`, same body).
    Duplicate,
    /// A card intake must refuse.
    Invalid(InvalidReason),
}

/// One generated card.
#[derive(Clone, PartialEq)]
pub struct SynthCard {
    /// The JSON body for `POST /v1/risk-cards` (or one element of a batch).
    pub body: Value,
    /// The reporting institution (the key to send it with must belong to it).
    pub institution: String,
    /// The card id (as in `body`).
    pub card_id: String,
    /// The woman's residence district (where the alert goes).
    pub district: String,
    /// Which woman (a running number within this generator).
    pub woman: u64,
    /// Her visit number, from 0.
    pub visit: u32,
    /// Whether this is her last visit.
    pub last_visit: bool,
    /// What the card is.
    pub kind: CardKind,
}

impl std::fmt::Debug for SynthCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body is fictional, but keep the habit: no personal data through Debug.
        f.debug_struct("SynthCard")
            .field("card_id", &self.card_id)
            .field("institution", &self.institution)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Why a generator cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthError(pub String);

impl std::fmt::Display for SynthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SynthError {}

/// A small deterministic PRNG (SplitMix64): stable across versions and platforms.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "邓", "冯", "曹", "彭", "曾",
    "肖", "田", "董", "潘", "袁", "蔡", "蒋", "余",
];
const GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "婷", "雪", "慧", "颖", "琳", "倩",
    "洁", "佳", "欣", "怡", "梅", "兰", "红", "晶", "悦", "璐", "瑶", "萍", "丹", "蕾",
];
const ROADS: &[&str] = &[
    "人民路",
    "解放路",
    "建设路",
    "湘江路",
    "芙蓉路",
    "中山路",
    "五一路",
    "新华街",
    "东风路",
    "桂花巷",
];

/// The GB 11643 check character of the first 17 digits of `digits17`.
pub fn resident_id_check_char(digits17: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits17
        .iter()
        .take(17)
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

/// A valid, female resident ID for `birth`, issued in `area` (6 digits), with `seq` (0–99)
/// choosing the first two sequence digits.
pub fn resident_id(area: &str, birth: Date, seq: u32, rng: &mut Rng) -> String {
    let female_digit = 2 * rng.range(0, 4);
    let mut s = format!(
        "{area}{:04}{:02}{:02}{:02}{female_digit}",
        birth.year(),
        u8::from(birth.month()),
        birth.day(),
        seq % 100
    );
    let c = resident_id_check_char(s.as_bytes());
    s.push(char::from(c));
    s
}

/// One woman's plan: who she is and her visits.
#[derive(Clone)]
struct Woman {
    number: u64,
    id_number: String,
    name: String,
    birth: Date,
    phone: String,
    district: String,
    address: String,
    hospital: usize,
    lmp: Date,
    ga0_days: i64,
    first: OffsetDateTime,
    interval: Duration,
    visits: u32,
    next_visit: u32,
    colour: Colour,
    infectious: bool,
    critical: bool,
    height: f64,
    weight: f64,
    gravida: u8,
    para: u8,
}

/// The seeded generator. An [`Iterator`] of [`SynthCard`]s without end; take what you need.
pub struct Synth {
    config: SynthConfig,
    rng: Rng,
    hospitals: Vec<(String, String)>,
    districts: Vec<(String, String)>,
    by_colour: [Vec<String>; 5],
    unknown_code: String,
    offset: UtcOffset,
    active: Vec<Woman>,
    women_made: u64,
    recent: VecDeque<SynthCard>,
    invalid_made: u64,
}

fn colour_index(c: Colour) -> usize {
    match c {
        Colour::Green => 0,
        Colour::Yellow => 1,
        Colour::Orange => 2,
        Colour::Red => 3,
        Colour::Purple => 4,
    }
}

impl Synth {
    /// A generator over the hospitals and districts of `reference`, picking findings from
    /// `catalogues` by colour. Errors when the reference data has no reporting institution or
    /// no district, or the catalogue lacks a colour.
    pub fn new(
        reference: &ReferenceData,
        catalogues: &Catalogues,
        config: SynthConfig,
    ) -> Result<Self, SynthError> {
        let hospitals: Vec<(String, String)> = reference
            .institutions()
            .filter(|i| {
                matches!(
                    i.kind,
                    InstitutionKind::Hospital | InstitutionKind::RescueCentre
                )
            })
            .map(|i| (i.code.as_str().to_owned(), i.district.as_str().to_owned()))
            .collect();
        let districts: Vec<(String, String)> = reference
            .districts()
            .filter(|d| !d.code.as_str().ends_with("00"))
            .map(|d| (d.code.as_str().to_owned(), d.name_zh.clone()))
            .collect();
        if hospitals.is_empty() || districts.is_empty() {
            return Err(SynthError(
                "reference data needs at least one hospital and one district".into(),
            ));
        }
        let mut by_colour: [Vec<String>; 5] = Default::default();
        for e in catalogues.five_colour() {
            by_colour[colour_index(e.colour)].push(e.code.clone());
        }
        for (i, name) in ["green", "yellow", "orange", "red", "purple"]
            .iter()
            .enumerate()
        {
            if by_colour[i].is_empty() {
                return Err(SynthError(format!("the catalogue has no {name} finding")));
            }
        }
        let mut unknown_code = String::from("X-SYN-UNKNOWN");
        while catalogues.table_of(&unknown_code).is_some() {
            unknown_code.push('X');
        }
        let offset = UtcOffset::from_hms(8, 0, 0).expect("UTC+8 is a valid offset");
        Ok(Self {
            rng: Rng::new(config.seed),
            config,
            hospitals,
            districts,
            by_colour,
            unknown_code,
            offset,
            active: Vec::new(),
            women_made: 0,
            recent: VecDeque::new(),
            invalid_made: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    fn pick_colour(&mut self) -> (Colour, bool) {
        let m = self.config.mix;
        let total = m.green + m.yellow + m.orange + m.red + m.purple;
        let mut x = self.rng.unit() * total;
        for (w, c) in [
            (m.green, Colour::Green),
            (m.yellow, Colour::Yellow),
            (m.orange, Colour::Orange),
            (m.red, Colour::Red),
        ] {
            if x < w {
                return (c, false);
            }
            x -= w;
        }
        let base = if self.rng.chance(0.7) {
            Colour::Green
        } else {
            Colour::Yellow
        };
        (base, true)
    }

    fn new_woman(&mut self) -> Woman {
        let number = self.women_made;
        self.women_made += 1;
        let r = &mut self.rng;
        let hospital = r.next_u64() as usize % self.hospitals.len();
        let own = &self.hospitals[hospital].1;
        let district = if r.chance(0.8) && self.districts.iter().any(|d| &d.0 == own) {
            own.clone()
        } else {
            r.pick(&self.districts).0.clone()
        };
        let district_name = self
            .districts
            .iter()
            .find(|d| d.0 == district)
            .map(|d| d.1.clone())
            .unwrap_or_default();
        let (lo, hi) = self.config.visits;
        let visits = self
            .rng
            .range(u64::from(lo.max(1)), u64::from(hi.max(lo).max(1))) as u32;
        let r = &mut self.rng;
        let span = self.config.span;
        let gaps = visits as i32 - 1;
        let interval = if gaps == 0 {
            self.config.visit_interval
        } else {
            std::cmp::min(self.config.visit_interval, span / gaps)
        };
        let window = span - interval * gaps;
        let window_s = window.whole_seconds().max(0) as u64;
        let first = self.config.end - span + Duration::seconds(r.range(0, window_s) as i64);
        let ga0_days = r.range(8 * 7, 16 * 7) as i64;
        let lmp = (first.to_offset(self.offset) - Duration::days(ga0_days)).date();
        // Age 21–33 at the first visit, so no age rule fires by itself.
        let age_days = r.range(21 * 365 + 10, 33 * 365) as i64;
        let birth = first.to_offset(self.offset).date() - Duration::days(age_days);
        let area = r.pick(&self.districts).0.clone();
        let id_number = resident_id(&area, birth, r.range(0, 99) as u32, r);
        let given: String = (0..r.range(1, 2)).map(|_| *r.pick(GIVEN)).collect();
        let name = format!("{}{}", r.pick(SURNAMES), given);
        let phone = format!(
            "1{}{:09}",
            r.pick(&['3', '5', '7', '8', '9']),
            r.range(0, 999_999_999)
        );
        let address = format!("{}{}{}号", district_name, r.pick(ROADS), r.range(1, 300));
        // BMI 19.5–24 and height 152–170: no BMI or height rule fires.
        let height = r.range(152, 170) as f64;
        let bmi = 19.5 + r.unit() * 4.5;
        let weight = (bmi * height * height / 10_000.0 * 10.0).round() / 10.0;
        let gravida = r.range(1, 3) as u8;
        let para = r.range(0, u64::from(gravida) - 1) as u8;
        let (colour, infectious) = self.pick_colour();
        let critical = matches!(colour, Colour::Orange | Colour::Red)
            && self.rng.chance(self.config.mix.critical);
        Woman {
            number,
            id_number,
            name,
            birth,
            phone,
            district,
            address,
            hospital,
            lmp,
            ga0_days,
            first,
            interval,
            visits,
            next_visit: 0,
            colour,
            infectious,
            critical,
            height,
            weight,
            gravida,
            para,
        }
    }

    fn findings(&mut self, colour: Colour, infectious: bool) -> Vec<String> {
        let mut out = Vec::new();
        let i = colour_index(colour);
        if colour == Colour::Green {
            if self.rng.chance(0.5) {
                out.push(self.rng.pick(&self.by_colour[0]).clone());
            }
        } else {
            for _ in 0..self.rng.range(1, 2) {
                out.push(self.rng.pick(&self.by_colour[i]).clone());
            }
            // Sometimes a lower-colour finding too (the highest still wins).
            if i > 1 && self.rng.chance(0.3) {
                let lower = self.rng.range(1, i as u64 - 1) as usize;
                out.push(self.rng.pick(&self.by_colour[lower]).clone());
            }
        }
        if infectious {
            out.push(self.rng.pick(&self.by_colour[4]).clone());
        }
        out.sort();
        out.dedup();
        out
    }

    fn visit_card(&mut self, w: &mut Woman) -> SynthCard {
        let visit = w.next_visit;
        w.next_visit += 1;
        let last = w.next_visit >= w.visits;
        let at = w.first + w.interval * visit as i32;
        let local = at.to_offset(self.offset);
        let ga_days = (local.date() - w.lmp).whole_days();
        // A woman graded high at the end was often lower at her first visits.
        let colour = if !last && visit == 0 && w.colour.rank() > Some(1) && self.rng.chance(0.3) {
            Colour::Yellow
        } else {
            w.colour
        };
        let critical = last && w.critical;
        let findings = self.findings(colour, w.infectious);
        let hospital = self.hospitals[w.hospital].0.clone();
        let card_id = format!("{}-{}-{}", self.config.card_id_prefix, w.number, visit);
        let r = &mut self.rng;
        let systolic = r.range(100, 130) as u16;
        let diastolic = r.range(60, 85) as u16;
        let weight = w.weight + (ga_days - w.ga0_days) as f64 / 7.0 * 0.3;
        let body = json!({
            "card_id": card_id,
            "institution_code": hospital,
            "assessed_at": local.format(&time::format_description::well_known::Rfc3339).expect("formats"),
            "assessor": format!("D{:04}", r.range(1, 9999)),
            "woman": {
                "id_type": "resident_id",
                "id_number": w.id_number,
                "name": w.name,
                "birth_date": iso(w.birth),
                "phone": w.phone,
                "residence_district": w.district,
                "address": w.address,
            },
            "pregnancy": {
                "lmp": iso(w.lmp),
                "edd": iso(w.lmp + Duration::days(280)),
                "gestational_weeks": ga_days / 7,
                "gestational_days": ga_days % 7,
                "gravida": w.gravida,
                "para": w.para,
                "fetuses": 1,
            },
            "measurements": {
                "height_cm": w.height,
                "weight_kg": (weight.min(w.height * w.height / 10_000.0 * 24.9) * 10.0).floor() / 10.0,
                "systolic_mmhg": systolic,
                "diastolic_mmhg": diastolic,
                "hb_g_per_l": r.range(115, 135) as f64,
                "platelets_10e9_per_l": r.range(150, 300) as f64,
            },
            "findings": findings,
            "declared_colour": colour.as_str(),
            "critical": critical,
        });
        SynthCard {
            body,
            institution: hospital,
            card_id,
            district: w.district.clone(),
            woman: w.number,
            visit,
            last_visit: last,
            kind: CardKind::Valid {
                colour,
                infectious: w.infectious,
                critical,
            },
        }
    }

    fn invalid_card(&mut self) -> SynthCard {
        let mut w = self.new_woman();
        w.visits = 1;
        let mut card = self.visit_card(&mut w);
        self.invalid_made += 1;
        card.card_id = format!("{}-bad-{}", self.config.card_id_prefix, self.invalid_made);
        card.body["card_id"] = json!(card.card_id);
        let reasons = [
            InvalidReason::BadCheckDigit,
            InvalidReason::UnknownFinding,
            InvalidReason::FutureAssessment,
            InvalidReason::NoPregnancyDates,
            InvalidReason::DiastolicAboveSystolic,
        ];
        let reason = *self.rng.pick(&reasons);
        let b = &mut card.body;
        match reason {
            InvalidReason::BadCheckDigit => {
                let id = w.id_number.as_bytes();
                let good = id[17];
                let wrong = b"10X98765432"
                    .iter()
                    .copied()
                    .find(|c| *c != good)
                    .unwrap_or(b'0');
                let mut s = w.id_number[..17].to_owned();
                s.push(char::from(wrong));
                b["woman"]["id_number"] = json!(s);
            }
            InvalidReason::UnknownFinding => {
                b["findings"]
                    .as_array_mut()
                    .expect("findings is an array")
                    .push(json!(self.unknown_code));
            }
            InvalidReason::FutureAssessment => {
                let t = (self.config.end + Duration::days(1)).to_offset(self.offset);
                b["assessed_at"] = json!(t
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats"));
            }
            InvalidReason::NoPregnancyDates => {
                b["pregnancy"]["lmp"] = Value::Null;
                b["pregnancy"]["edd"] = Value::Null;
            }
            InvalidReason::DiastolicAboveSystolic => {
                b["measurements"]["systolic_mmhg"] = json!(110);
                b["measurements"]["diastolic_mmhg"] = json!(120);
            }
        }
        card.kind = CardKind::Invalid(reason);
        card.last_visit = true;
        card
    }

    /// The next card: a duplicate, an invalid card, or the next visit of a woman in care.
    pub fn next_card(&mut self) -> SynthCard {
        if !self.recent.is_empty() && self.rng.chance(self.config.duplicate_share) {
            let i = self.rng.next_u64() as usize % self.recent.len();
            let mut c = self.recent[i].clone();
            c.kind = CardKind::Duplicate;
            return c;
        }
        if self.rng.chance(self.config.invalid_share) {
            return self.invalid_card();
        }
        let want = self.config.active_women.max(1);
        while self.active.len() < want {
            let w = self.new_woman();
            self.active.push(w);
        }
        let i = self.rng.next_u64() as usize % self.active.len();
        let mut w = self.active.swap_remove(i);
        let card = self.visit_card(&mut w);
        if w.next_visit < w.visits {
            self.active.push(w);
        }
        self.recent.push_back(card.clone());
        if self.recent.len() > 64 {
            self.recent.pop_front();
        }
        card
    }

    /// A pregnancy outcome body (`POST /v1/pregnancy-outcomes`) for `case_id`, reported by
    /// `institution`: a delivery in hospital mostly, sometimes a miscarriage, at `occurred_at`.
    pub fn outcome(
        &mut self,
        institution: &str,
        case_id: &str,
        occurred_at: OffsetDateTime,
    ) -> Value {
        let kind = if self.rng.chance(0.93) {
            "delivery"
        } else {
            "miscarriage"
        };
        let local = occurred_at.to_offset(self.offset);
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .expect("formats")
        };
        json!({
            "report_id": format!("{}-out-{}", self.config.card_id_prefix, self.rng.next_u64() % 1_000_000_000),
            "institution_code": institution,
            "case_id": case_id,
            "outcome": kind,
            "occurred_at": fmt(local),
            "place": institution,
            "in_hospital": true,
            "discharged_at": fmt(local + Duration::days(3)).to_string(),
        })
    }
}

impl Iterator for Synth {
    type Item = SynthCard;
    fn next(&mut self) -> Option<SynthCard> {
        Some(self.next_card())
    }
}

fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests;

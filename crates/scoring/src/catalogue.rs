//! The catalogues as loaded data: the five-colour table, the additive score table, the screening
//! table, the derived-finding rules and the grading presentation (score bands, advice per colour),
//! each with its version identity, and their parsing and validation from bytes.
//!
//! This module owns the shape of a catalogue set and every check made when one is loaded
//! (duplicate codes, unknown colours, unknown references, pinned content hashes), with messages
//! naming the file and line. It does no IO itself: files arrive through a `fetch` callback that
//! [`crate::load`] backs with the file system and tests back with memory. It knows nothing
//! of cards, the clock, NATS or SQL.

use crate::error::{LoadError, LoadProblem};
use contracts::Colour;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// The identity of one loaded catalogue (or policy): `id@version` plus the sha256 of its content.
///
/// Two different contents never share an identity: even if a file is edited and its version is
/// not bumped, the hash differs. Assessments record identities, so a reader can always tell which
/// exact text graded a woman.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionId {
    /// Stable name, e.g. `cn-nhc-2017-five-colour`.
    pub id: String,
    /// Bumped with every edit.
    pub version: u32,
    /// Lowercase hex sha256 of the content, CRLF read as LF (see [`content_sha256`]).
    pub sha256: String,
}

impl VersionId {
    /// `id@version`, the human label (without the hash).
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

impl fmt::Display for VersionId {
    /// `id@version#` and the first 12 hex digits of the hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        write!(f, "{}@{}#{}", self.id, self.version, short)
    }
}

/// The sha256 of a file's content as lowercase hex, with every CRLF read as LF so that a
/// checkout converting line endings does not change a catalogue's identity.
pub fn content_sha256(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    let mut rest = bytes;
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        hasher.update(&rest[..pos]);
        rest = &rest[pos + 1..];
    }
    hasher.update(rest);
    hex::encode(hasher.finalize())
}

/// The identities of every part of a catalogue set, as recorded in an assessment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CatalogueVersions {
    /// The set (its manifest, which pins every file's hash).
    pub set: VersionId,
    /// The five-colour assessment table.
    pub five_colour: VersionId,
    /// The additive score table.
    pub score: VersionId,
    /// The screening table.
    pub screening: VersionId,
    /// The derived-finding rules and plausible ranges.
    pub rules: VersionId,
    /// Score bands and advice per colour.
    pub grading: VersionId,
}

/// Which table a code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// The five-colour assessment table (附件2).
    FiveColour,
    /// The additive score table.
    Score,
    /// The screening table (附件1).
    Screening,
}

/// How sure the rebuilt rule book is of an entry's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Matches the official text.
    Confirmed,
    /// Partly rebuilt from reposts.
    Partial,
    /// Rebuilt, not verified.
    Unsure,
}

impl Confidence {
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "confirmed" => Some(Self::Confirmed),
            "partial" => Some(Self::Partial),
            "unsure" => Some(Self::Unsure),
            _ => None,
        }
    }
}

/// One condition of the five-colour table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiveColourEntry {
    /// Stable code, `<G/Y/O/R/P>-<group>-<name>`.
    pub code: String,
    /// The national item number, e.g. `Y‑1.1`.
    pub item: String,
    /// The colour the condition grades.
    pub colour: Colour,
    /// Category as printed.
    pub category: String,
    /// Chinese text.
    pub condition_zh: String,
    /// English text.
    pub condition_en: String,
    /// Source confidence.
    pub confidence: Confidence,
}

/// One item of the additive score table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreItem {
    /// `SC-01` … `SC-64`.
    pub code: String,
    /// Category as printed.
    pub category: String,
    /// Chinese text.
    pub item_zh: String,
    /// Points added when present.
    pub points: u32,
    /// Source confidence.
    pub confidence: Confidence,
}

/// One item of the screening table: any one positive item means refer for grading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreeningItem {
    /// Stable code, `S-…`.
    pub code: String,
    /// The national item number.
    pub item: String,
    /// Section as printed.
    pub section: String,
    /// Chinese text.
    pub item_zh: String,
    /// English text.
    pub item_en: String,
    /// Source confidence.
    pub confidence: Confidence,
}

/// A measured (or computed) quantity a derived-finding rule can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Completed years on the assessment date (from the birth date).
    AgeYears,
    /// Body-mass index in kg/m², rounded to 0.1 (from height and weight).
    Bmi,
    /// Height in cm.
    HeightCm,
    /// Weight in kg.
    WeightKg,
    /// Systolic blood pressure, mmHg.
    SystolicMmhg,
    /// Diastolic blood pressure, mmHg.
    DiastolicMmhg,
    /// Haemoglobin, g/L.
    HbGPerL,
    /// Platelets, ×10⁹/L.
    Platelets10e9PerL,
    /// Gestational age in weeks (weeks + days/7).
    GestationalWeeks,
    /// Number of fetuses.
    Fetuses,
}

impl Measure {
    /// Every measure, in a fixed order (the index of [`Measure::index`]).
    pub const ALL: [Measure; 10] = [
        Measure::AgeYears,
        Measure::Bmi,
        Measure::HeightCm,
        Measure::WeightKg,
        Measure::SystolicMmhg,
        Measure::DiastolicMmhg,
        Measure::HbGPerL,
        Measure::Platelets10e9PerL,
        Measure::GestationalWeeks,
        Measure::Fetuses,
    ];

    /// The snake_case name used in data files and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgeYears => "age_years",
            Self::Bmi => "bmi",
            Self::HeightCm => "height_cm",
            Self::WeightKg => "weight_kg",
            Self::SystolicMmhg => "systolic_mmhg",
            Self::DiastolicMmhg => "diastolic_mmhg",
            Self::HbGPerL => "hb_g_per_l",
            Self::Platelets10e9PerL => "platelets_10e9_per_l",
            Self::GestationalWeeks => "gestational_weeks",
            Self::Fetuses => "fetuses",
        }
    }

    /// Parses the snake_case name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Position in [`Measure::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bound test on one measure: `lower ≤/< value ≤/< upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// The measure tested.
    pub measure: Measure,
    /// Lower bound and whether it is inclusive.
    pub lower: Option<(f64, bool)>,
    /// Upper bound and whether it is inclusive.
    pub upper: Option<(f64, bool)>,
}

impl Condition {
    /// Whether `value` satisfies the bounds.
    pub fn holds(&self, value: f64) -> bool {
        let lower_ok = match self.lower {
            Some((b, true)) => value >= b,
            Some((b, false)) => value > b,
            None => true,
        };
        let upper_ok = match self.upper {
            Some((b, true)) => value <= b,
            Some((b, false)) => value < b,
            None => true,
        };
        lower_ok && upper_ok
    }
}

/// A derived-finding rule: when every condition holds, the codes are added as findings.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedRule {
    /// Stable rule name, recorded as the source of what it adds.
    pub id: String,
    /// All must hold.
    pub when: Vec<Condition>,
    /// Codes added (any table).
    pub add: Vec<String>,
}

/// A score band: a total at or above `min_points` (and below the next band) falls in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScoreBand {
    /// `light`, `medium`, `severe`.
    pub name: String,
    /// Chinese name.
    pub zh: String,
    /// Lowest total in the band.
    pub min_points: u32,
}

/// Management advice for one colour (the rule book's "Management by colour" table).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advice {
    /// What the colour means.
    pub meaning: String,
    /// Where care and delivery should happen.
    pub care_and_delivery: String,
    /// How she is managed.
    pub management: String,
    /// Whether the colour puts her under case management (专案).
    pub case_management: bool,
}

/// Where a code lives in the catalogue set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryRef {
    FiveColour(usize),
    Score(usize),
    Screening(usize),
}

/// A loaded, validated catalogue set. Immutable; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Catalogues {
    versions: CatalogueVersions,
    five_colour: Vec<FiveColourEntry>,
    score: Vec<ScoreItem>,
    screening: Vec<ScreeningItem>,
    rules: Vec<DerivedRule>,
    plausible: [(f64, f64); 10],
    bands: Vec<ScoreBand>,
    advice: [Advice; 5],
    index: HashMap<String, EntryRef>,
}

/// The manifest file's name inside a catalogue folder.
pub const MANIFEST_FILE: &str = "manifest.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    id: String,
    version: u32,
    five_colour: TableRef,
    score: TableRef,
    screening: TableRef,
    rules: TableRef,
    grading: TableRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableRef {
    id: String,
    version: u32,
    file: String,
    sha256: toml::Spanned<String>,
}

/// 1-based line of byte offset `pos` in `text`.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Turns a TOML error into a problem with its line.
pub(crate) fn toml_problem(file: &str, text: &str, e: &toml::de::Error) -> LoadProblem {
    let line = e.span().map(|s| line_of(text, s.start));
    LoadProblem::new(file, line, e.message().to_string())
}

fn utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, LoadError> {
    std::str::from_utf8(bytes)
        .map_err(|_| LoadError::one(LoadProblem::new(file, None, "not valid UTF-8".into())))
}

impl Catalogues {
    /// Builds a catalogue set from its manifest and files, obtained through `fetch` (given a file
    /// name relative to the set's folder, returns its bytes or a reason). `label` prefixes file
    /// names in messages (normally the folder path). Every problem found is returned, each naming
    /// its file and, where it has one, its line.
    pub fn from_sources(
        label: &str,
        fetch: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Self, LoadError> {
        let path = |f: &str| format!("{}/{}", label.trim_end_matches('/'), f);
        let manifest_path = path(MANIFEST_FILE);
        let manifest_bytes = fetch(MANIFEST_FILE)
            .map_err(|e| LoadError::one(LoadProblem::new(&manifest_path, None, e)))?;
        let manifest_text = utf8(&manifest_path, &manifest_bytes)?;
        let manifest: Manifest = toml::from_str(manifest_text)
            .map_err(|e| LoadError::one(toml_problem(&manifest_path, manifest_text, &e)))?;

        let mut problems = Vec::new();
        let mut table = |r: &TableRef| -> Option<(VersionId, String, String)> {
            let file = path(&r.file);
            let bytes = match fetch(&r.file) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(LoadProblem::new(&file, None, e));
                    return None;
                }
            };
            let sha = content_sha256(&bytes);
            if &sha != r.sha256.get_ref() {
                problems.push(LoadProblem::new(
                    &manifest_path,
                    Some(line_of(manifest_text, r.sha256.span().start)),
                    format!(
                        "{file} has sha256 {sha}, not the pinned one of {}@{}: an edited \
                         catalogue needs a new version (bump `version` and set `sha256 = \"{sha}\"`)",
                        r.id, r.version
                    ),
                ));
            }
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    problems.push(LoadProblem::new(&file, None, "not valid UTF-8".into()));
                    return None;
                }
            };
            let id = VersionId {
                id: r.id.clone(),
                version: r.version,
                sha256: sha,
            };
            Some((id, file, text))
        };
        let five = table(&manifest.five_colour);
        let score = table(&manifest.score);
        let screening = table(&manifest.screening);
        let rules = table(&manifest.rules);
        let grading = table(&manifest.grading);
        let (Some(five), Some(score), Some(screening), Some(rules), Some(grading)) =
            (five, score, screening, rules, grading)
        else {
            return Err(LoadError(problems));
        };

        // Codes of every row, also rows rejected for another reason, so that a broken row does
        // not also make each rule naming it "unknown".
        let mut seen = HashSet::new();
        let five_colour = parse_five_colour(&five.1, &five.2, &mut seen, &mut problems);
        let score_items = parse_score(&score.1, &score.2, &mut seen, &mut problems);
        let screening_items = parse_screening(&screening.1, &screening.2, &mut seen, &mut problems);

        // One code resolves to one entry across the three tables.
        let mut index = HashMap::new();
        let mut first_seen: HashMap<String, String> = HashMap::new();
        let all = five_colour
            .iter()
            .enumerate()
            .map(|(i, (l, e))| (e.code.clone(), EntryRef::FiveColour(i), &five.1, *l))
            .chain(
                score_items
                    .iter()
                    .enumerate()
                    .map(|(i, (l, e))| (e.code.clone(), EntryRef::Score(i), &score.1, *l)),
            )
            .chain(
                screening_items
                    .iter()
                    .enumerate()
                    .map(|(i, (l, e))| (e.code.clone(), EntryRef::Screening(i), &screening.1, *l)),
            );
        for (code, r, file, line) in all {
            if let Some(first) = first_seen.get(&code) {
                problems.push(LoadProblem::new(
                    file,
                    Some(line),
                    format!("duplicate code {code} (first at {first})"),
                ));
            } else {
                first_seen.insert(code.clone(), format!("{file}:{line}"));
                index.insert(code, r);
            }
        }

        let (rule_list, plausible) = parse_rules(&rules.1, &rules.2, &seen, &mut problems);
        let grading_parsed = parse_grading(&grading.1, &grading.2, &mut problems);

        if !problems.is_empty() {
            return Err(LoadError(problems));
        }
        let (Some(plausible), Some((bands, advice))) = (plausible, grading_parsed) else {
            return Err(LoadError(problems));
        };
        let versions = CatalogueVersions {
            set: VersionId {
                id: manifest.id,
                version: manifest.version,
                sha256: content_sha256(&manifest_bytes),
            },
            five_colour: five.0,
            score: score.0,
            screening: screening.0,
            rules: rules.0,
            grading: grading.0,
        };
        Ok(Self {
            versions,
            five_colour: five_colour.into_iter().map(|(_, e)| e).collect(),
            score: score_items.into_iter().map(|(_, e)| e).collect(),
            screening: screening_items.into_iter().map(|(_, e)| e).collect(),
            rules: rule_list,
            plausible,
            bands,
            advice,
            index,
        })
    }

    /// The identities of every part of this set.
    pub fn versions(&self) -> &CatalogueVersions {
        &self.versions
    }

    /// The five-colour table, in file order.
    pub fn five_colour(&self) -> &[FiveColourEntry] {
        &self.five_colour
    }

    /// The score table, in file order.
    pub fn score_items(&self) -> &[ScoreItem] {
        &self.score
    }

    /// The screening table, in file order.
    pub fn screening_items(&self) -> &[ScreeningItem] {
        &self.screening
    }

    /// The derived-finding rules, in file order.
    pub fn rules(&self) -> &[DerivedRule] {
        &self.rules
    }

    /// The plausible range `(min, max)`, both inclusive, of a measure.
    pub fn plausible(&self, measure: Measure) -> (f64, f64) {
        self.plausible[measure.index()]
    }

    /// Score bands, lowest first.
    pub fn bands(&self) -> &[ScoreBand] {
        &self.bands
    }

    /// The band a total falls in, if any.
    pub fn band_for(&self, points: u32) -> Option<&ScoreBand> {
        self.bands.iter().rev().find(|b| points >= b.min_points)
    }

    /// Management advice for a colour.
    pub fn advice(&self, colour: Colour) -> &Advice {
        &self.advice[colour_index(colour)]
    }

    /// Which table a code (canonical spelling) belongs to, if any.
    pub fn table_of(&self, code: &str) -> Option<Table> {
        self.index.get(code).map(|r| match r {
            EntryRef::FiveColour(_) => Table::FiveColour,
            EntryRef::Score(_) => Table::Score,
            EntryRef::Screening(_) => Table::Screening,
        })
    }

    /// Every valid code, five-colour first, then score, then screening.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.five_colour
            .iter()
            .map(|e| e.code.as_str())
            .chain(self.score.iter().map(|e| e.code.as_str()))
            .chain(self.screening.iter().map(|e| e.code.as_str()))
    }

    pub(crate) fn lookup(&self, code: &str) -> Option<EntryRef> {
        self.index.get(code).copied()
    }

    pub(crate) fn five_colour_at(&self, i: usize) -> &FiveColourEntry {
        &self.five_colour[i]
    }

    pub(crate) fn score_at(&self, i: usize) -> &ScoreItem {
        &self.score[i]
    }

    pub(crate) fn screening_at(&self, i: usize) -> &ScreeningItem {
        &self.screening[i]
    }
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

/// Reads a CSV with exactly the `expected` header; calls `row` with (line, fields) for each record.
fn read_csv(
    file: &str,
    text: &str,
    expected: &[&str],
    problems: &mut Vec<LoadProblem>,
    mut row: impl FnMut(usize, &csv::StringRecord, &mut Vec<LoadProblem>),
) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    match reader.headers() {
        Ok(h) if h.iter().map(str::trim).eq(expected.iter().copied()) => {}
        Ok(h) => {
            problems.push(LoadProblem::new(
                file,
                Some(1),
                format!(
                    "header is `{}`, expected `{}`",
                    h.iter().collect::<Vec<_>>().join(","),
                    expected.join(",")
                ),
            ));
            return;
        }
        Err(e) => {
            problems.push(LoadProblem::new(file, Some(1), e.to_string()));
            return;
        }
    }
    for rec in reader.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                row(line, &r, problems);
            }
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize);
                problems.push(LoadProblem::new(file, line, format!("unreadable row: {e}")));
            }
        }
    }
}

fn check_code(file: &str, line: usize, code: &str, problems: &mut Vec<LoadProblem>) -> bool {
    let ok = !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        problems.push(LoadProblem::new(
            file,
            Some(line),
            format!("code `{code}` must be non-empty and use only A-Z, 0-9, '-' and '.'"),
        ));
    }
    ok
}

fn confidence(
    file: &str,
    line: usize,
    s: &str,
    problems: &mut Vec<LoadProblem>,
) -> Option<Confidence> {
    let c = Confidence::parse(s);
    if c.is_none() {
        problems.push(LoadProblem::new(
            file,
            Some(line),
            format!("unknown source_confidence `{s}` (confirmed, partial or unsure)"),
        ));
    }
    c
}

fn parse_five_colour(
    file: &str,
    text: &str,
    seen: &mut HashSet<String>,
    problems: &mut Vec<LoadProblem>,
) -> Vec<(usize, FiveColourEntry)> {
    let mut out = Vec::new();
    let header = [
        "code",
        "item",
        "colour",
        "category",
        "condition_zh",
        "condition_en",
        "source_confidence",
    ];
    read_csv(file, text, &header, problems, |line, r, problems| {
        let code = r[0].trim();
        let code_ok = check_code(file, line, code, problems);
        if code_ok {
            seen.insert(code.to_string());
        }
        let colour = match Colour::parse(&r[2]) {
            Ok(c) => Some(c),
            Err(_) => {
                problems.push(LoadProblem::new(
                    file,
                    Some(line),
                    format!(
                        "unknown colour `{}` for {code} (green, yellow, orange, red or purple)",
                        r[2].trim()
                    ),
                ));
                None
            }
        };
        if let (Some(c), true) = (colour, code_ok) {
            let prefix = c.as_str()[..1].to_ascii_uppercase();
            if !code.starts_with(&format!("{prefix}-")) {
                problems.push(LoadProblem::new(
                    file,
                    Some(line),
                    format!("code {code} must start with `{prefix}-` for colour {c}"),
                ));
            }
        }
        let conf = confidence(file, line, &r[6], problems);
        if let (Some(colour), Some(confidence), true) = (colour, conf, code_ok) {
            out.push((
                line,
                FiveColourEntry {
                    code: code.to_string(),
                    item: r[1].trim().to_string(),
                    colour,
                    category: r[3].trim().to_string(),
                    condition_zh: r[4].trim().to_string(),
                    condition_en: r[5].trim().to_string(),
                    confidence,
                },
            ));
        }
    });
    out
}

fn parse_score(
    file: &str,
    text: &str,
    seen: &mut HashSet<String>,
    problems: &mut Vec<LoadProblem>,
) -> Vec<(usize, ScoreItem)> {
    let mut out = Vec::new();
    let header = ["code", "category", "item_zh", "points", "source_confidence"];
    read_csv(file, text, &header, problems, |line, r, problems| {
        let code = r[0].trim();
        let code_ok = check_code(file, line, code, problems);
        if code_ok {
            seen.insert(code.to_string());
        }
        let points = match r[3].trim().parse::<u32>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                problems.push(LoadProblem::new(
                    file,
                    Some(line),
                    format!(
                        "points `{}` for {code} must be a whole number above 0",
                        &r[3]
                    ),
                ));
                None
            }
        };
        let conf = confidence(file, line, &r[4], problems);
        if let (Some(points), Some(confidence), true) = (points, conf, code_ok) {
            out.push((
                line,
                ScoreItem {
                    code: code.to_string(),
                    category: r[1].trim().to_string(),
                    item_zh: r[2].trim().to_string(),
                    points,
                    confidence,
                },
            ));
        }
    });
    out
}

fn parse_screening(
    file: &str,
    text: &str,
    seen: &mut HashSet<String>,
    problems: &mut Vec<LoadProblem>,
) -> Vec<(usize, ScreeningItem)> {
    let mut out = Vec::new();
    let header = [
        "code",
        "item",
        "section",
        "item_zh",
        "item_en",
        "source_confidence",
    ];
    read_csv(file, text, &header, problems, |line, r, problems| {
        let code = r[0].trim();
        let code_ok = check_code(file, line, code, problems);
        if code_ok {
            seen.insert(code.to_string());
        }
        let conf = confidence(file, line, &r[5], problems);
        if let (Some(confidence), true) = (conf, code_ok) {
            out.push((
                line,
                ScreeningItem {
                    code: code.to_string(),
                    item: r[1].trim().to_string(),
                    section: r[2].trim().to_string(),
                    item_zh: r[3].trim().to_string(),
                    item_en: r[4].trim().to_string(),
                    confidence,
                },
            ));
        }
    });
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    plausible: BTreeMap<String, [f64; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: toml::Spanned<String>,
    when: Vec<toml::Spanned<RawCondition>>,
    add: Vec<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    measure: String,
    ge: Option<f64>,
    gt: Option<f64>,
    le: Option<f64>,
    lt: Option<f64>,
}

type PlausibleRanges = [(f64, f64); 10];

fn parse_rules(
    file: &str,
    text: &str,
    known: &HashSet<String>,
    problems: &mut Vec<LoadProblem>,
) -> (Vec<DerivedRule>, Option<PlausibleRanges>) {
    let raw: RulesFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            problems.push(toml_problem(file, text, &e));
            return (Vec::new(), None);
        }
    };
    let mut out = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for r in raw.rule {
        let line = line_of(text, r.id.span().start);
        let id = r.id.into_inner();
        if let Some(first) = ids.get(&id) {
            problems.push(LoadProblem::new(
                file,
                Some(line),
                format!("duplicate rule id `{id}` (first on line {first})"),
            ));
        }
        ids.insert(id.clone(), line);
        let mut when = Vec::new();
        if r.when.is_empty() {
            problems.push(LoadProblem::new(
                file,
                Some(line),
                format!("rule `{id}` has no condition"),
            ));
        }
        for c in r.when {
            let cline = line_of(text, c.span().start);
            let c = c.into_inner();
            let Some(measure) = Measure::parse(&c.measure) else {
                problems.push(LoadProblem::new(
                    file,
                    Some(cline),
                    format!("rule `{id}`: unknown measure `{}`", c.measure),
                ));
                continue;
            };
            let two = |a: Option<f64>, b: Option<f64>, what: &str, problems: &mut Vec<_>| {
                if a.is_some() && b.is_some() {
                    problems.push(LoadProblem::new(
                        file,
                        Some(cline),
                        format!("rule `{id}`: give one {what} bound, not both"),
                    ));
                }
            };
            two(c.ge, c.gt, "lower", problems);
            two(c.le, c.lt, "upper", problems);
            let lower = c.ge.map(|v| (v, true)).or(c.gt.map(|v| (v, false)));
            let upper = c.le.map(|v| (v, true)).or(c.lt.map(|v| (v, false)));
            let finite = [lower, upper].iter().flatten().all(|(v, _)| v.is_finite());
            if (lower.is_none() && upper.is_none()) || !finite {
                problems.push(LoadProblem::new(
                    file,
                    Some(cline),
                    format!("rule `{id}`: a condition needs a finite ge, gt, le or lt"),
                ));
            }
            if let (Some((lo, _)), Some((hi, _))) = (lower, upper) {
                if lo > hi {
                    problems.push(LoadProblem::new(
                        file,
                        Some(cline),
                        format!("rule `{id}`: lower bound {lo} above upper bound {hi}"),
                    ));
                }
            }
            when.push(Condition {
                measure,
                lower,
                upper,
            });
        }
        if r.add.is_empty() {
            problems.push(LoadProblem::new(
                file,
                Some(line),
                format!("rule `{id}` adds no code"),
            ));
        }
        let mut add = Vec::new();
        for code in r.add {
            let cline = line_of(text, code.span().start);
            let code = code.into_inner();
            if !known.contains(&code) {
                problems.push(LoadProblem::new(
                    file,
                    Some(cline),
                    format!(
                        "rule `{id}` names unknown code {code} (not in the five-colour, score or screening table)"
                    ),
                ));
            } else if !add.contains(&code) {
                add.push(code);
            }
        }
        out.push(DerivedRule { id, when, add });
    }

    let mut plausible = [(f64::NAN, f64::NAN); 10];
    let mut ok = true;
    for (name, [lo, hi]) in &raw.plausible {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with(name.as_str()))
            .map(|i| i + 1);
        match Measure::parse(name) {
            Some(m) if lo.is_finite() && hi.is_finite() && lo < hi => {
                plausible[m.index()] = (*lo, *hi);
            }
            Some(_) => {
                ok = false;
                problems.push(LoadProblem::new(
                    file,
                    line,
                    format!("[plausible] {name}: need finite min < max"),
                ));
            }
            None => {
                ok = false;
                problems.push(LoadProblem::new(
                    file,
                    line,
                    format!("[plausible] names unknown measure `{name}`"),
                ));
            }
        }
    }
    for m in Measure::ALL {
        if !raw.plausible.contains_key(m.as_str()) {
            ok = false;
            problems.push(LoadProblem::new(
                file,
                None,
                format!("[plausible] has no range for {m}: every measure needs one"),
            ));
        }
    }
    (out, ok.then_some(plausible))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GradingFile {
    band: Vec<toml::Spanned<ScoreBand>>,
    advice: BTreeMap<String, Advice>,
}

fn parse_grading(
    file: &str,
    text: &str,
    problems: &mut Vec<LoadProblem>,
) -> Option<(Vec<ScoreBand>, [Advice; 5])> {
    let raw: GradingFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            problems.push(toml_problem(file, text, &e));
            return None;
        }
    };
    let before = problems.len();
    let mut bands: Vec<ScoreBand> = Vec::new();
    for b in raw.band {
        let line = line_of(text, b.span().start);
        let b = b.into_inner();
        if let Some(prev) = bands.last() {
            if b.min_points <= prev.min_points {
                problems.push(LoadProblem::new(
                    file,
                    Some(line),
                    format!(
                        "band `{}` must start above band `{}` ({} points)",
                        b.name, prev.name, prev.min_points
                    ),
                ));
            }
        }
        bands.push(b);
    }
    let mut advice: [Option<Advice>; 5] = Default::default();
    for (name, a) in raw.advice {
        let line = text
            .lines()
            .position(|l| l.trim() == format!("[advice.{name}]"))
            .map(|i| i + 1);
        match Colour::parse(&name) {
            Ok(c) if c.as_str() == name => advice[colour_index(c)] = Some(a),
            _ => problems.push(LoadProblem::new(
                file,
                line,
                format!("advice for unknown colour `{name}`"),
            )),
        }
    }
    for c in Colour::ALL {
        if advice[colour_index(c)].is_none() {
            problems.push(LoadProblem::new(
                file,
                None,
                format!("no [advice.{c}]: every colour needs advice"),
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    let [Some(g), Some(y), Some(o), Some(r), Some(p)] = advice else {
        return None;
    };
    Some((bands, [g, y, o, r, p]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_reads_crlf_as_lf() {
        assert_eq!(content_sha256(b"a,b\r\nc\r\n"), content_sha256(b"a,b\nc\n"));
        assert_ne!(content_sha256(b"a,b\nc\n"), content_sha256(b"a,b\nd\n"));
        // A lone CR is content.
        assert_ne!(content_sha256(b"a\rb"), content_sha256(b"ab"));
    }

    #[test]
    fn conditions_respect_inclusive_and_exclusive_bounds() {
        let c = Condition {
            measure: Measure::HbGPerL,
            lower: Some((40.0, false)),
            upper: Some((60.0, false)),
        };
        assert!(!c.holds(40.0));
        assert!(c.holds(40.5));
        assert!(c.holds(59.9));
        assert!(!c.holds(60.0));
    }

    #[test]
    fn line_numbers_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}

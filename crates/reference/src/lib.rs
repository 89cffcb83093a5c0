//! Reference data: the districts (GB/T 2260 codes), the institutions (hospitals, MCH offices,
//! rescue centres, with level, kind and district) and each district's green-channel
//! rescue-centre ladder, read from one versioned TOML file (`config/reference/*.toml`, with
//! `id` and `version`, quoted as `id@version`).
//!
//! What it owns: the data model, its validation on load (unknown district, duplicate code,
//! a ladder naming an institution that is not a rescue centre, …, each problem reported with
//! its file and line) and the look-ups every component needs (is this district known, which
//! district is this institution in, does this area contain that district).
//! What it does not: it knows nothing of HTTP, SQL, NATS or the clock; [`ReferenceData::load`]
//! is its only IO, called once at start. It does not decide who may see what: the HTTP edge
//! does, using these look-ups.

use contracts::{DistrictCode, InstitutionCode};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use toml::Spanned;

/// The level of an institution (一级 / 二级 / 三级).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 一级: primary.
    Primary,
    /// 二级: secondary.
    Secondary,
    /// 三级: tertiary.
    Tertiary,
}

/// What an institution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionKind {
    /// A delivery hospital (助产机构).
    Hospital,
    /// A district / county MCH office (区/县妇幼保健所).
    DistrictOffice,
    /// A city MCH office.
    CityOffice,
    /// A province MCH office.
    ProvinceOffice,
    /// A critical-maternal rescue centre (危重孕产妇救治中心).
    RescueCentre,
}

/// A district, city or province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct District {
    /// GB/T 2260 code.
    pub code: DistrictCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// An institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Institution {
    /// Its code.
    pub code: InstitutionCode,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Level.
    pub level: Level,
    /// Kind.
    pub kind: InstitutionKind,
    /// The district it is in.
    pub district: DistrictCode,
}

/// One problem found while loading a reference file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given to the loader.
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Loading failed: every problem found (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError(pub Vec<Problem>);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The reference data of one region, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceData {
    id: String,
    version: u32,
    name: String,
    districts: BTreeMap<DistrictCode, District>,
    institutions: BTreeMap<InstitutionCode, Institution>,
    ladders: BTreeMap<DistrictCode, Vec<InstitutionCode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: String,
    version: u32,
    #[serde(default)]
    name: String,
    #[serde(default)]
    districts: Vec<RawDistrict>,
    #[serde(default)]
    institutions: Vec<RawInstitution>,
    #[serde(default)]
    ladders: Vec<RawLadder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistrict {
    code: Spanned<String>,
    name_zh: String,
    name_en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstitution {
    code: Spanned<String>,
    name_zh: String,
    name_en: String,
    level: Level,
    kind: InstitutionKind,
    district: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLadder {
    district: Spanned<String>,
    centres: Vec<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl ReferenceData {
    /// Reads and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            LoadError(vec![Problem {
                file: file.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }])
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and validates `text`, naming `file` in problems.
    pub fn parse(text: &str, file: &str) -> Result<Self, LoadError> {
        let problem = |line: Option<usize>, message: String| Problem {
            file: file.to_owned(),
            line,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            LoadError(vec![problem(line, e.message().to_owned())])
        })?;
        let mut problems = Vec::new();
        let at = |s: &Spanned<String>| Some(line_of(text, s.span().start));

        if raw.id.trim().is_empty() {
            problems.push(problem(None, "`id` must not be empty".into()));
        }
        let mut districts = BTreeMap::new();
        for d in &raw.districts {
            match DistrictCode::parse(d.code.get_ref()) {
                Ok(code) => {
                    if districts.contains_key(&code) {
                        problems.push(problem(
                            at(&d.code),
                            format!("duplicate district code {code}"),
                        ));
                    } else {
                        districts.insert(
                            code.clone(),
                            District {
                                code,
                                name_zh: d.name_zh.clone(),
                                name_en: d.name_en.clone(),
                            },
                        );
                    }
                }
                Err(e) => problems.push(problem(
                    at(&d.code),
                    format!("district code `{}`: {e}", d.code.get_ref()),
                )),
            }
        }
        // A district's parent (city, province) must be listed too.
        for d in &raw.districts {
            if let Ok(code) = DistrictCode::parse(d.code.get_ref()) {
                if let Some(parent) = code.parent() {
                    if !districts.contains_key(&parent) {
                        problems.push(problem(
                            at(&d.code),
                            format!("district {code}: its parent {parent} is not listed"),
                        ));
                    }
                }
            }
        }
        let known_district = |s: &Spanned<String>, what: &str, problems: &mut Vec<Problem>| {
            match DistrictCode::parse(s.get_ref()) {
                Ok(c) if districts.contains_key(&c) => Some(c),
                Ok(c) => {
                    problems.push(problem(at(s), format!("{what}: unknown district {c}")));
                    None
                }
                Err(e) => {
                    problems.push(problem(
                        at(s),
                        format!("{what}: district `{}`: {e}", s.get_ref()),
                    ));
                    None
                }
            }
        };

        let mut institutions = BTreeMap::new();
        for i in &raw.institutions {
            let code = match InstitutionCode::parse(i.code.get_ref()) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(problem(
                        at(&i.code),
                        format!("institution code `{}`: {e}", i.code.get_ref()),
                    ));
                    continue;
                }
            };
            let what = format!("institution {code}");
            let district = known_district(&i.district, &what, &mut problems);
            if institutions.contains_key(&code) {
                problems.push(problem(
                    at(&i.code),
                    format!("duplicate institution code {code}"),
                ));
                continue;
            }
            if let Some(district) = district {
                institutions.insert(
                    code.clone(),
                    Institution {
                        code,
                        name_zh: i.name_zh.clone(),
                        name_en: i.name_en.clone(),
                        level: i.level,
                        kind: i.kind,
                        district,
                    },
                );
            }
        }

        let mut ladders = BTreeMap::new();
        for l in &raw.ladders {
            let Some(district) = known_district(&l.district, "ladder", &mut problems) else {
                continue;
            };
            if ladders.contains_key(&district) {
                problems.push(problem(
                    at(&l.district),
                    format!("duplicate ladder for district {district}"),
                ));
                continue;
            }
            if l.centres.is_empty() {
                problems.push(problem(
                    at(&l.district),
                    format!("ladder of {district} names no rescue centre"),
                ));
            }
            let mut seen = HashSet::new();
            let mut centres = Vec::new();
            for c in &l.centres {
                let Ok(code) = InstitutionCode::parse(c.get_ref()) else {
                    problems.push(problem(
                        at(c),
                        format!(
                            "ladder of {district}: bad institution code `{}`",
                            c.get_ref()
                        ),
                    ));
                    continue;
                };
                match institutions.get(&code) {
                    None => problems.push(problem(
                        at(c),
                        format!("ladder of {district}: unknown institution {code}"),
                    )),
                    Some(i) if i.kind != InstitutionKind::RescueCentre => problems.push(problem(
                        at(c),
                        format!("ladder of {district}: {code} is not a rescue centre"),
                    )),
                    Some(_) if !seen.insert(code.clone()) => problems.push(problem(
                        at(c),
                        format!("ladder of {district}: {code} appears twice"),
                    )),
                    Some(_) => centres.push(code),
                }
            }
            ladders.insert(district, centres);
        }

        if problems.is_empty() {
            Ok(Self {
                id: raw.id,
                version: raw.version,
                name: raw.name,
                districts,
                institutions,
                ladders,
            })
        } else {
            Err(LoadError(problems))
        }
    }

    /// `id@version`, recorded wherever a decision used this data.
    pub fn version_id(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The region's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A district (or city, or province) by code.
    pub fn district(&self, code: &DistrictCode) -> Option<&District> {
        self.districts.get(code)
    }

    /// Every district, city and province, by code.
    pub fn districts(&self) -> impl Iterator<Item = &District> {
        self.districts.values()
    }

    /// An institution by code.
    pub fn institution(&self, code: &InstitutionCode) -> Option<&Institution> {
        self.institutions.get(code)
    }

    /// Every institution, by code.
    pub fn institutions(&self) -> impl Iterator<Item = &Institution> {
        self.institutions.values()
    }

    /// The district's rescue-centre ladder, nearest first (empty when it has none).
    pub fn ladder(&self, district: &DistrictCode) -> &[InstitutionCode] {
        self.ladders.get(district).map_or(&[], Vec::as_slice)
    }
}

/// Whether `district` lies within `area`: the same code, or `area` is its city or province.
pub fn is_within(district: &DistrictCode, area: &DistrictCode) -> bool {
    district == area || &district.city() == area || &district.province() == area
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "t"
version = 3
[[districts]]
code = "430000"
name_zh = "省"
name_en = "P"
[[districts]]
code = "430100"
name_zh = "市"
name_en = "C"
[[districts]]
code = "430102"
name_zh = "区"
name_en = "D"
[[institutions]]
code = "H1"
name_zh = "医院"
name_en = "H"
level = "secondary"
kind = "hospital"
district = "430102"
[[institutions]]
code = "RC1"
name_zh = "中心"
name_en = "RC"
level = "tertiary"
kind = "rescue_centre"
district = "430100"
[[ladders]]
district = "430102"
centres = ["RC1"]
"#;

    fn dc(s: &str) -> DistrictCode {
        DistrictCode::parse(s).unwrap()
    }

    fn problems(text: &str) -> Vec<String> {
        ReferenceData::parse(text, "f.toml")
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_loads_with_its_version() {
        let r = ReferenceData::parse(GOOD, "f.toml").unwrap();
        assert_eq!(r.version_id(), "t@3");
        let h = r
            .institution(&InstitutionCode::parse("h1").unwrap())
            .unwrap();
        assert_eq!(h.kind, InstitutionKind::Hospital);
        assert_eq!(h.district, dc("430102"));
        assert_eq!(r.ladder(&dc("430102")).len(), 1);
        assert!(r.ladder(&dc("430100")).is_empty());
        assert!(r.district(&dc("430103")).is_none());
    }

    #[test]
    fn problems_name_file_and_line() {
        let bad = GOOD.replace(
            "district = \"430102\"\n[[institutions]]",
            "district = \"430199\"\n[[institutions]]",
        );
        assert_eq!(
            problems(&bad),
            ["f.toml:22: institution H1: unknown district 430199"]
        );
        let ladder = GOOD.replace("centres = [\"RC1\"]", "centres = [\"H1\", \"NOPE\"]");
        assert_eq!(
            problems(&ladder),
            [
                "f.toml:32: ladder of 430102: H1 is not a rescue centre",
                "f.toml:32: ladder of 430102: unknown institution NOPE"
            ]
        );
    }

    #[test]
    fn duplicates_and_missing_parents_are_refused() {
        let dup = format!("{GOOD}\n[[institutions]]\ncode = \"H1\"\nname_zh = \"x\"\nname_en = \"x\"\nlevel = \"primary\"\nkind = \"hospital\"\ndistrict = \"430102\"\n");
        assert!(problems(&dup)
            .iter()
            .any(|m| m.contains("duplicate institution code H1")));
        let orphan = GOOD.replace("code = \"430100\"", "code = \"430200\"");
        let p = problems(&orphan);
        assert!(
            p.iter()
                .any(|m| m.contains("its parent 430100 is not listed")),
            "{p:?}"
        );
        assert!(problems("id = \"x\"\nversion = 1\nextra = 2\n")[0].starts_with("f.toml:3:"));
    }

    #[test]
    fn the_demo_city_file_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/reference/demo-city.toml"
        );
        let r = ReferenceData::load(path).unwrap();
        assert_eq!(r.version_id(), "demo-city@1");
        for d in ["430102", "430103", "430104", "430105"] {
            assert_eq!(r.ladder(&dc(d)).len(), 3, "{d}");
        }
    }

    #[test]
    fn areas_contain_their_districts() {
        assert!(is_within(&dc("430102"), &dc("430102")));
        assert!(is_within(&dc("430102"), &dc("430100")));
        assert!(is_within(&dc("430102"), &dc("430000")));
        assert!(!is_within(&dc("430102"), &dc("430103")));
        assert!(!is_within(&dc("430100"), &dc("430102")));
    }
}

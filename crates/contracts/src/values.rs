//! Value objects parsed once at the edge: resident ID (GB 11643), district code (GB/T 2260),
//! institution code and the five colours.
//!
//! [`ResidentId`] never prints its number through `Debug` or `Display`: health data and
//! identity numbers must not reach a log by accident. Use [`ResidentId::expose`] where the
//! number is really needed (storage, the worklist shown to authorised staff).

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, Month};

/// Why a value was rejected. The message is safe to show: it never repeats the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Resident ID: not 18 characters of 17 digits and a digit or `X`.
    #[error("a resident ID has 17 digits followed by a digit or X")]
    ResidentIdFormat,
    /// Resident ID: the birth date part is not a real date.
    #[error("the birth date in the resident ID is not a valid date")]
    ResidentIdBirthDate,
    /// Resident ID: the check character does not match.
    #[error("the check character of the resident ID is wrong")]
    ResidentIdCheck,
    /// District code: not 6 digits with a valid province prefix.
    #[error("a district code (GB/T 2260) has 6 digits and starts with a province code 11-82")]
    DistrictCode,
    /// Institution code: empty, too long, or with characters other than A-Z, 0-9, '-'.
    #[error("an institution code has 1 to 32 characters A-Z, 0-9 or '-'")]
    InstitutionCode,
    /// Colour: not one of the five.
    #[error("a colour is one of green, yellow, orange, red, purple")]
    Colour,
}

/// Something worth telling the sender about a resident ID that is still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentIdWarning {
    /// The sequence digit is odd, which GB 11643 assigns to men: probably a typo.
    OddSequenceDigit,
}

/// A PRC resident identity number (GB 11643-1999), checked.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

impl ResidentId {
    /// Parses an 18-character resident ID. A lowercase `x` is accepted and stored uppercase.
    /// Checks the format, the birth date and the check character.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !(b[17].is_ascii_digit() || b[17] == b'X')
        {
            return Err(ValueError::ResidentIdFormat);
        }
        Self::birth_date_of(b).ok_or(ValueError::ResidentIdBirthDate)?;
        if Self::check_char(b) != b[17] {
            return Err(ValueError::ResidentIdCheck);
        }
        Ok(Self(s))
    }

    /// The check character GB 11643 assigns to the first 17 digits of `b`.
    fn check_char(b: &[u8]) -> u8 {
        let sum: u32 = b[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        CHECK_CHARS[(sum % 11) as usize]
    }

    fn birth_date_of(b: &[u8]) -> Option<Date> {
        let num = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        let year = i32::try_from(num(6..10)).ok()?;
        if !(1900..=2200).contains(&year) {
            return None;
        }
        let month = Month::try_from(u8::try_from(num(10..12)).ok()?).ok()?;
        Date::from_calendar_date(year, month, u8::try_from(num(12..14)).ok()?).ok()
    }

    /// The birth date encoded in the number (the caller checks it is not in the future).
    pub fn birth_date(&self) -> Date {
        Self::birth_date_of(self.0.as_bytes()).expect("checked at parse")
    }

    /// Warnings about a number that is valid but suspicious.
    pub fn warnings(&self) -> Vec<ResidentIdWarning> {
        let seq = self.0.as_bytes()[16] - b'0';
        if seq % 2 == 1 {
            vec![ResidentIdWarning::OddSequenceDigit]
        } else {
            Vec::new()
        }
    }

    /// The full number. Only for storage and for display to authorised staff; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A masked form for screens that need a hint only: `4301**********123X`.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..4], "*".repeat(10), &self.0[14..])
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentId(<redacted>)")
    }
}

impl TryFrom<String> for ResidentId {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Self::parse(&s)
    }
}

impl From<ResidentId> for String {
    fn from(v: ResidentId) -> String {
        v.0
    }
}

/// A six-digit administrative division code (GB/T 2260): a district or county, a city
/// (`xxxx00`) or a province (`xx0000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DistrictCode(String);

impl DistrictCode {
    /// Parses a six-digit code whose first two digits are a province code (11 to 82).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(ValueError::DistrictCode);
        }
        let province = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
        if !(11..=82).contains(&province) || s.ends_with("0000") && s == "000000" {
            return Err(ValueError::DistrictCode);
        }
        Ok(Self(s.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The city (prefecture) this code belongs to: `xxxx00`. A city's city is itself.
    pub fn city(&self) -> DistrictCode {
        DistrictCode(format!("{}00", &self.0[..4]))
    }

    /// The province: `xx0000`.
    pub fn province(&self) -> DistrictCode {
        DistrictCode(format!("{}0000", &self.0[..2]))
    }

    /// The next level up: district → city → province; a province has none.
    pub fn parent(&self) -> Option<DistrictCode> {
        if self.0.ends_with("0000") {
            None
        } else if self.0.ends_with("00") {
            Some(self.province())
        } else {
            Some(self.city())
        }
    }
}

impl fmt::Display for DistrictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DistrictCode {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Self::parse(&s)
    }
}

impl From<DistrictCode> for String {
    fn from(v: DistrictCode) -> String {
        v.0
    }
}

/// The code of a health institution or office, as given in the reference data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstitutionCode(String);

impl InstitutionCode {
    /// Parses 1 to 32 characters of `A-Z`, `0-9` and `-` (lowercase letters are upcased).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let s = s.trim().to_ascii_uppercase();
        if s.is_empty()
            || s.len() > 32
            || !s
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ValueError::InstitutionCode);
        }
        Ok(Self(s))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for InstitutionCode {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, ValueError> {
        Self::parse(&s)
    }
}

impl From<InstitutionCode> for String {
    fn from(v: InstitutionCode) -> String {
        v.0
    }
}

/// The five colours of the national scheme. Green < yellow < orange < red by risk; purple
/// (infectious disease) is not on that scale: it is carried alongside the other colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// Low risk.
    Green,
    /// General risk.
    Yellow,
    /// Higher risk.
    Orange,
    /// High risk: continuing may endanger her life.
    Red,
    /// Infectious disease.
    Purple,
}

impl Colour {
    /// All five, in the order of the scheme.
    pub const ALL: [Colour; 5] = [
        Colour::Green,
        Colour::Yellow,
        Colour::Orange,
        Colour::Red,
        Colour::Purple,
    ];

    /// Parses `green`… or the single-letter code `G`/`Y`/`O`/`R`/`P`, any case.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "green" | "g" => Ok(Self::Green),
            "yellow" | "y" => Ok(Self::Yellow),
            "orange" | "o" => Ok(Self::Orange),
            "red" | "r" => Ok(Self::Red),
            "purple" | "p" => Ok(Self::Purple),
            _ => Err(ValueError::Colour),
        }
    }

    /// Risk rank on the green → red scale; `None` for purple, which is not on it.
    pub fn rank(self) -> Option<u8> {
        match self {
            Self::Green => Some(0),
            Self::Yellow => Some(1),
            Self::Orange => Some(2),
            Self::Red => Some(3),
            Self::Purple => None,
        }
    }

    /// The lowercase English name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Orange => "orange",
            Self::Red => "red",
            Self::Purple => "purple",
        }
    }

    /// The one-character Chinese name: 绿 黄 橙 红 紫.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Green => "绿",
            Self::Yellow => "黄",
            Self::Orange => "橙",
            Self::Red => "红",
            Self::Purple => "紫",
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Completes 17 digits with their check character.
    fn with_check(first17: &str) -> String {
        let c = ResidentId::check_char(first17.as_bytes()) as char;
        format!("{first17}{c}")
    }

    #[test]
    fn resident_id_check_character() {
        // The worked example of GB 11643: 11010519491231002X.
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.birth_date(), time::macros::date!(1949 - 12 - 31));
        assert!(id.warnings().is_empty());
        assert_eq!(
            ResidentId::parse("110105194912310021"),
            Err(ValueError::ResidentIdCheck)
        );
        assert_eq!(
            ResidentId::parse("1101051949123100"),
            Err(ValueError::ResidentIdFormat)
        );
        assert_eq!(
            ResidentId::parse("11010519491331002X"),
            Err(ValueError::ResidentIdBirthDate)
        );
        assert_eq!(
            ResidentId::parse(&with_check("43010219900230002")),
            Err(ValueError::ResidentIdBirthDate)
        );
        let male_digit = ResidentId::parse(&with_check("43010219900101001")).unwrap();
        assert_eq!(
            male_digit.warnings(),
            vec![ResidentIdWarning::OddSequenceDigit]
        );
    }

    #[test]
    fn resident_id_never_prints() {
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("1101"));
        assert_eq!(id.masked(), "1101**********002X");
    }

    #[test]
    fn district_codes() {
        let d = DistrictCode::parse("430102").unwrap();
        assert_eq!(d.city().as_str(), "430100");
        assert_eq!(d.parent().unwrap().as_str(), "430100");
        assert_eq!(d.city().parent().unwrap().as_str(), "430000");
        assert_eq!(d.province().parent(), None);
        for bad in ["43010", "4301021", "abcdef", "000000", "990102", "100000"] {
            assert!(DistrictCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn colours() {
        assert_eq!(Colour::parse("R").unwrap(), Colour::Red);
        assert_eq!(Colour::parse("Purple").unwrap(), Colour::Purple);
        assert!(Colour::parse("blue").is_err());
        assert!(Colour::Red.rank() > Colour::Orange.rank());
        assert_eq!(Colour::Purple.rank(), None);
        assert_eq!(
            serde_json::to_string(&Colour::Orange).unwrap(),
            "\"orange\""
        );
    }

    proptest! {
        #[test]
        fn any_valid_id_round_trips_and_any_single_digit_change_is_caught(
            area in 110000u32..830000, y in 1950i32..2020, m in 1u8..=12, d in 1u8..=28,
            seq in 0u32..1000, pos in 0usize..17, delta in 1u8..10,
        ) {
            let first = format!("{area:06}{y:04}{m:02}{d:02}{seq:03}");
            let id = with_check(&first);
            prop_assert!(ResidentId::parse(&id).is_ok());
            let mut bytes = id.clone().into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            // The weights make every single-digit change visible in the check character
            // (or it breaks the birth date first).
            prop_assert!(ResidentId::parse(&changed).is_err());
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,30}") {
            let _ = ResidentId::parse(&s);
            let _ = DistrictCode::parse(&s);
            let _ = InstitutionCode::parse(&s);
            let _ = Colour::parse(&s);
        }
    }
}

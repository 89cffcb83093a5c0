//! The pure core of intake: a request is checked once, here, and parsed into the values the
//! rest of the service uses ([`ValidCard`], [`ValidOutcome`]). Every wrong field is listed
//! with its JSON pointer, not just the first.
//!
//! What it owns: the card and outcome rules (resident ID, dates against the injected `now`,
//! gestation against LMP, phone format, reference data, finding codes and plausible
//! measurements through `scoring::validate`, the caller's institution). It does no IO and
//! reads no clock: `now` is an argument. It does not decide case identity ([`crate::case`])
//! and knows no HTTP status: a [`Rejection`] is mapped at the edge. Messages never repeat a
//! submitted value (they may end up in logs of the caller's system).

use crate::wire::{OutcomeRequest, RiskCardRequest, Warning};
use contracts::{
    Colour, DistrictCode, IdType, InstitutionCode, Measurements, OutcomeKind, Pregnancy,
    ResidentId, ResidentIdWarning, ValueError, Woman,
};
use edge::FieldError;
use reference::{InstitutionKind, ReferenceData};
use scoring::{Catalogues, Problem};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

/// How far in the future a time may be (clocks of hospital systems drift).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// The most findings one card may list.
pub const MAX_FINDINGS: usize = 200;
/// Gestational weeks accepted.
pub const MAX_GESTATIONAL_WEEKS: u8 = 45;
/// How far the stated gestation may differ from the one computed from the LMP.
pub const GESTATION_TOLERANCE_DAYS: i64 = 14;
/// Days from LMP to the expected date of delivery (Naegele).
pub const LMP_TO_EDD_DAYS: i64 = 280;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The listed fields are wrong (400).
    Invalid(Vec<FieldError>),
    /// The request names another institution than the caller's (403).
    Forbidden(String),
}

/// What the rules need besides the request.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Districts and institutions.
    pub reference: &'a ReferenceData,
    /// Finding codes and plausible ranges.
    pub catalogues: &'a Catalogues,
    /// The current time (from the injected clock).
    pub now: OffsetDateTime,
    /// The institution of the caller's key.
    pub caller: &'a InstitutionCode,
}

/// A card that passed every rule, parsed into values.
#[derive(Clone, PartialEq)]
pub struct ValidCard {
    /// The hospital's card id (checked charset).
    pub card_id: String,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// Its district.
    pub institution_district: DistrictCode,
    /// The assessor.
    pub assessor: String,
    /// When assessed.
    pub assessed_at: OffsetDateTime,
    /// The woman.
    pub woman: Woman,
    /// The pregnancy.
    pub pregnancy: Pregnancy,
    /// Measurements (birth date, gestation and fetuses filled in from the card).
    pub measurements: Measurements,
    /// Finding codes as sent.
    pub findings: Vec<String>,
    /// The hospital's colour.
    pub declared_colour: Option<Colour>,
    /// Flagged critical.
    pub critical: bool,
    /// Free text.
    pub note: Option<String>,
    /// Warnings returned with the 202.
    pub warnings: Vec<Warning>,
}

impl std::fmt::Debug for ValidCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidCard")
            .field("card_id", &self.card_id)
            .field("institution", &self.institution)
            .finish_non_exhaustive()
    }
}

impl ValidCard {
    /// The woman's key: SHA-256 (hex) of her document type and number. Never the number.
    pub fn woman_key(&self) -> String {
        woman_key(self.woman.id_type, &self.woman.id_number)
    }
}

/// SHA-256 (hex) of `<id_type>:<number>`, the number trimmed and uppercased.
pub fn woman_key(id_type: IdType, id_number: &str) -> String {
    let t = serde_json::to_value(id_type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(t.as_bytes());
    h.update(b":");
    h.update(id_number.trim().to_ascii_uppercase().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `id` is 1–64 characters `A-Z a-z 0-9 . _ : -` (hospital-side ids).
pub fn is_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Whether `phone` is a mainland mobile (`1[3-9]` + 9 digits, optional `+86`/`86`) or a
/// landline with area code (`0` + 2–3 digits, optional `-`, 7–8 digits, optional `-ext`).
pub fn is_phone(phone: &str) -> bool {
    let p: String = phone.chars().filter(|c| *c != ' ').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mobile = p
        .strip_prefix("+86")
        .or_else(|| p.strip_prefix("86").filter(|r| r.len() == 11))
        .unwrap_or(&p);
    if mobile.len() == 11
        && digits(mobile)
        && mobile.starts_with('1')
        && (b'3'..=b'9').contains(&mobile.as_bytes()[1])
    {
        return true;
    }
    let (main, ext) = match p.matches('-').count() {
        2 => {
            let (m, e) = p.rsplit_once('-').unwrap_or((&p, ""));
            (m.to_owned(), Some(e.to_owned()))
        }
        _ => (p.clone(), None),
    };
    if ext.as_deref().is_some_and(|e| !digits(e) || e.len() > 6) {
        return false;
    }
    let (area, number) = match main.split_once('-') {
        Some((a, n)) => (a.to_owned(), n.to_owned()),
        None if main.len() >= 10 => {
            // Without a dash: area code 3 digits (010, 02x) or 4 digits (0xxx).
            let cut = if main.starts_with("01") || main.starts_with("02") {
                3
            } else {
                4
            };
            // `split_at_checked`: a non-ASCII byte at the cut is not a phone number.
            match main.split_at_checked(cut) {
                Some((a, n)) => (a.to_owned(), n.to_owned()),
                None => return false,
            }
        }
        None => return false,
    };
    area.starts_with('0')
        && (3..=4).contains(&area.len())
        && digits(&area)
        && (7..=8).contains(&number.len())
        && digits(&number)
}

fn parse_date(s: &str) -> Option<Date> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), f).ok()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

fn text(
    errors: &mut Vec<FieldError>,
    pointer: &str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        if required {
            errors.push(FieldError::new(pointer, "must not be empty"));
        }
        return None;
    }
    if v.chars().count() > max_chars {
        errors.push(FieldError::new(
            pointer,
            format!("must be at most {max_chars} characters"),
        ));
        return None;
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        errors.push(FieldError::new(
            pointer,
            "must not contain control characters",
        ));
        return None;
    }
    Some(v.to_owned())
}

fn value_error_message(e: &ValueError) -> String {
    e.to_string()
}

/// Checks the caller may report for `institution_code`, and that it is a known institution
/// that reports (a hospital or rescue centre).
fn check_institution(
    ctx: &Context<'_>,
    code: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<(InstitutionCode, DistrictCode)>, Rejection> {
    let Ok(institution) = InstitutionCode::parse(code) else {
        errors.push(FieldError::new(
            "/institution_code",
            value_error_message(&ValueError::InstitutionCode),
        ));
        return Ok(None);
    };
    if &institution != ctx.caller {
        return Err(Rejection::Forbidden(format!(
            "this key reports for {}, not for {institution}",
            ctx.caller
        )));
    }
    match ctx.reference.institution(&institution) {
        None => {
            errors.push(FieldError::new(
                "/institution_code",
                format!(
                    "unknown institution (reference data {})",
                    ctx.reference.version_id()
                ),
            ));
            Ok(None)
        }
        Some(i)
            if !matches!(
                i.kind,
                InstitutionKind::Hospital | InstitutionKind::RescueCentre
            ) =>
        {
            errors.push(FieldError::new(
                "/institution_code",
                "only hospitals and rescue centres report cards and outcomes",
            ));
            Ok(None)
        }
        Some(i) => Ok(Some((institution, i.district.clone()))),
    }
}

/// The JSON pointer of a field `scoring::validate` names (`measurements.height_cm`, …).
fn scoring_pointer(field: &str) -> String {
    let name = field.split_whitespace().next().unwrap_or(field);
    match name.strip_prefix("measurements.").unwrap_or(name) {
        "birth_date" => "/woman/birth_date".into(),
        "bmi" => "/measurements/weight_kg".into(),
        f @ ("gestational_weeks" | "gestational_days" | "fetuses") => format!("/pregnancy/{f}"),
        f => format!("/measurements/{f}"),
    }
}

/// Checks a card against every rule.
pub fn validate_card(req: &RiskCardRequest, ctx: &Context<'_>) -> Result<ValidCard, Rejection> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let latest = ctx.now + CLOCK_SKEW;

    let institution = check_institution(ctx, &req.institution_code, &mut errors)?;
    if !is_client_id(&req.card_id) {
        errors.push(FieldError::new(
            "/card_id",
            "must be 1 to 64 characters A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        ));
    }
    let parsed_assessed_at = parse_time(&req.assessed_at);
    let assessed_at = match parsed_assessed_at {
        None => {
            errors.push(FieldError::new(
                "/assessed_at",
                "must be an RFC 3339 time with offset, e.g. 2026-03-01T09:30:00+08:00",
            ));
            None
        }
        Some(t) if t > latest => {
            errors.push(FieldError::new("/assessed_at", "is in the future"));
            None
        }
        Some(t) => Some(t),
    };
    // Checks against the assessment date run even when it is in the future (listed above).
    let assessed_on = parsed_assessed_at.map(|t| t.date());
    let assessor = text(&mut errors, "/assessor", &req.assessor, 100, true);

    // The woman.
    let w = &req.woman;
    let id_type: IdType = w.id_type.into();
    let birth_date = match parse_date(&w.birth_date) {
        None => {
            errors.push(FieldError::new(
                "/woman/birth_date",
                "must be a date YYYY-MM-DD",
            ));
            None
        }
        Some(d) if d > latest.date() => {
            errors.push(FieldError::new("/woman/birth_date", "is in the future"));
            None
        }
        Some(d) => Some(d),
    };
    let id_number = match id_type {
        IdType::ResidentId => match ResidentId::parse(&w.id_number) {
            Ok(id) => {
                for warning in id.warnings() {
                    match warning {
                        ResidentIdWarning::OddSequenceDigit => warnings.push(Warning {
                            pointer: "/woman/id_number".into(),
                            code: "odd_sequence_digit".into(),
                            message: "the sequence digit of the resident ID is odd (a male \
                                      number); please check the ID"
                                .into(),
                        }),
                    }
                }
                if birth_date.is_some_and(|b| b != id.birth_date()) {
                    errors.push(FieldError::new(
                        "/woman/birth_date",
                        "does not match the birth date in the resident ID",
                    ));
                }
                Some(id.expose().to_owned())
            }
            Err(e) => {
                errors.push(FieldError::new("/woman/id_number", value_error_message(&e)));
                None
            }
        },
        _ => {
            let n = w.id_number.trim().to_ascii_uppercase();
            if n.is_empty()
                || n.len() > 40
                || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                errors.push(FieldError::new(
                    "/woman/id_number",
                    "a document number has 1 to 40 characters A-Z, 0-9 or '-'",
                ));
                None
            } else {
                Some(n)
            }
        }
    };
    let name = text(&mut errors, "/woman/name", &w.name, 100, true);
    let phone = match w.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) if !is_phone(p) => {
            errors.push(FieldError::new(
                "/woman/phone",
                "must be a mainland mobile number (11 digits from 13–19, optional +86) or a \
                 landline with area code (0731-12345678)",
            ));
            None
        }
        p => p.map(str::to_owned),
    };
    let residence = match DistrictCode::parse(w.residence_district.trim()) {
        Err(e) => {
            errors.push(FieldError::new(
                "/woman/residence_district",
                value_error_message(&e),
            ));
            None
        }
        Ok(d) if ctx.reference.district(&d).is_none() => {
            errors.push(FieldError::new(
                "/woman/residence_district",
                format!(
                    "unknown district (reference data {})",
                    ctx.reference.version_id()
                ),
            ));
            None
        }
        Ok(d) if d.as_str().ends_with("00") => {
            errors.push(FieldError::new(
                "/woman/residence_district",
                "must be a district or county, not a city or province",
            ));
            None
        }
        Ok(d) => Some(d),
    };
    let address = w
        .address
        .as_deref()
        .and_then(|a| text(&mut errors, "/woman/address", a, 200, false));

    // The pregnancy.
    let p = &req.pregnancy;
    let mut date_field = |pointer: &str, v: &Option<String>| -> Option<Date> {
        let s = v.as_deref()?;
        match parse_date(s) {
            None => {
                errors.push(FieldError::new(pointer, "must be a date YYYY-MM-DD"));
                None
            }
            Some(d) => Some(d),
        }
    };
    let lmp = date_field("/pregnancy/lmp", &p.lmp);
    let edd = date_field("/pregnancy/edd", &p.edd);
    if p.lmp.is_none() && p.edd.is_none() {
        errors.push(FieldError::new("/pregnancy/lmp", "give lmp, edd or both"));
    }
    let lmp = match lmp {
        Some(l) if l > latest.date() => {
            errors.push(FieldError::new("/pregnancy/lmp", "is in the future"));
            None
        }
        other => other,
    };
    if let Some(l) = lmp {
        if assessed_on.is_some_and(|a| a <= l) {
            errors.push(FieldError::new("/assessed_at", "must be after the LMP"));
        } else if birth_date.is_some_and(|b| l <= b) {
            errors.push(FieldError::new(
                "/pregnancy/lmp",
                "must be after her birth date",
            ));
        }
    }
    if let (Some(l), Some(e)) = (lmp, edd) {
        let expected = l + Duration::days(LMP_TO_EDD_DAYS);
        if (e - expected).whole_days().abs() > GESTATION_TOLERANCE_DAYS {
            errors.push(FieldError::new(
                "/pregnancy/edd",
                format!(
                    "is not within {GESTATION_TOLERANCE_DAYS} days of LMP + {LMP_TO_EDD_DAYS} days"
                ),
            ));
        }
    }
    if let Some(weeks) = p.gestational_weeks {
        if weeks > MAX_GESTATIONAL_WEEKS {
            errors.push(FieldError::new(
                "/pregnancy/gestational_weeks",
                format!("must be 0 to {MAX_GESTATIONAL_WEEKS}"),
            ));
        } else if let Some(a) = assessed_on {
            let start = lmp.or_else(|| edd.map(|e| e - Duration::days(LMP_TO_EDD_DAYS)));
            if let Some(start) = start {
                let stated = i64::from(weeks) * 7 + i64::from(p.gestational_days.unwrap_or(0));
                let computed = (a - start).whole_days();
                if (stated - computed).abs() > GESTATION_TOLERANCE_DAYS {
                    errors.push(FieldError::new(
                        "/pregnancy/gestational_weeks",
                        format!(
                            "differs by more than {GESTATION_TOLERANCE_DAYS} days from the \
                             gestation computed from {} and assessed_at",
                            if lmp.is_some() { "lmp" } else { "edd" }
                        ),
                    ));
                }
            }
        }
    }
    if p.gravida == Some(0) {
        errors.push(FieldError::new(
            "/pregnancy/gravida",
            "counts this pregnancy, so it is at least 1",
        ));
    }
    if let (Some(g), Some(para)) = (p.gravida, p.para) {
        if g > 0 && para >= g {
            errors.push(FieldError::new(
                "/pregnancy/para",
                "previous deliveries must be fewer than gravida",
            ));
        }
    }

    // Findings and measurements, through the scoring engine's rules.
    if req.findings.len() > MAX_FINDINGS {
        errors.push(FieldError::new(
            "/findings",
            format!("at most {MAX_FINDINGS} findings"),
        ));
    }
    let m = &req.measurements;
    let measurements = Measurements {
        birth_date,
        height_cm: m.height_cm,
        weight_kg: m.weight_kg,
        systolic_mmhg: m.systolic_mmhg,
        diastolic_mmhg: m.diastolic_mmhg,
        hb_g_per_l: m.hb_g_per_l,
        platelets_10e9_per_l: m.platelets_10e9_per_l,
        gestational_weeks: p.gestational_weeks,
        gestational_days: p.gestational_days,
        fetuses: p.fetuses,
    };
    if let Some(on) = assessed_on {
        let card = scoring::Card {
            assessed_on: on,
            findings: req.findings.clone(),
            measurements: measurements.clone(),
            declared_colour: req.declared_colour.map(Into::into),
        };
        if let Err(e) = scoring::validate(&card, ctx.catalogues) {
            let mut next_unknown = 0usize;
            for problem in e.problems {
                match problem {
                    Problem::UnknownCode { ref code, .. } => {
                        let index = req.findings[next_unknown..]
                            .iter()
                            .position(|f| f == code)
                            .map(|i| i + next_unknown);
                        if let Some(i) = index {
                            next_unknown = i + 1;
                        }
                        let pointer =
                            index.map_or_else(|| "/findings".into(), |i| format!("/findings/{i}"));
                        errors.push(FieldError::new(pointer, problem_message(&problem)));
                    }
                    Problem::Implausible { ref field, .. }
                    | Problem::Inconsistent { ref field, .. } => {
                        let pointer = scoring_pointer(field);
                        if !errors.iter().any(|x| x.pointer == pointer) {
                            errors.push(FieldError::new(pointer, problem.to_string()));
                        }
                    }
                }
            }
        }
    }
    let note = req
        .note
        .as_deref()
        .and_then(|n| text(&mut errors, "/note", n, 2000, false));

    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    match (
        institution,
        assessed_at,
        assessor,
        birth_date,
        id_number,
        name,
        residence,
    ) {
        (
            Some((institution, institution_district)),
            Some(assessed_at),
            Some(assessor),
            Some(birth_date),
            Some(id_number),
            Some(name),
            Some(residence_district),
        ) => Ok(ValidCard {
            card_id: req.card_id.clone(),
            institution,
            institution_district,
            assessor,
            assessed_at,
            woman: Woman {
                id_type,
                id_number,
                name,
                birth_date,
                phone,
                residence_district,
                address,
            },
            pregnancy: Pregnancy {
                lmp,
                edd,
                gravida: p.gravida,
                para: p.para,
            },
            measurements,
            findings: req.findings.clone(),
            declared_colour: req.declared_colour.map(Into::into),
            critical: req.critical,
            note,
            warnings,
        }),
        // Every `None` above pushed an error.
        _ => Err(Rejection::Invalid(vec![FieldError::new(
            "",
            "the card is incomplete",
        )])),
    }
}

fn problem_message(p: &Problem) -> String {
    match p {
        Problem::UnknownCode { close, .. } if close.is_empty() => "unknown finding code".into(),
        Problem::UnknownCode { close, .. } => {
            format!(
                "unknown finding code; close valid codes: {}",
                close.join(", ")
            )
        }
        other => other.to_string(),
    }
}

/// An outcome that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidOutcome {
    /// The hospital's report id.
    pub report_id: String,
    /// The reporting institution.
    pub institution: InstitutionCode,
    /// The case.
    pub case_id: contracts::CaseId,
    /// What happened.
    pub outcome: OutcomeKind,
    /// When.
    pub occurred_at: OffsetDateTime,
    /// Where.
    pub place: String,
    /// In hospital.
    pub in_hospital: bool,
    /// Discharged.
    pub discharged_at: Option<OffsetDateTime>,
    /// Free text.
    pub note: Option<String>,
}

/// Checks an outcome against every rule.
pub fn validate_outcome(
    req: &OutcomeRequest,
    ctx: &Context<'_>,
) -> Result<ValidOutcome, Rejection> {
    let mut errors = Vec::new();
    let latest = ctx.now + CLOCK_SKEW;
    let institution = check_institution(ctx, &req.institution_code, &mut errors)?;
    if !is_client_id(&req.report_id) {
        errors.push(FieldError::new(
            "/report_id",
            "must be 1 to 64 characters A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        ));
    }
    let case_id = match contracts::CaseId::parse(req.case_id.trim()) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(FieldError::new("/case_id", e.to_string()));
            None
        }
    };
    let mut time_field = |pointer: &str, s: &str| match parse_time(s) {
        None => {
            errors.push(FieldError::new(
                pointer,
                "must be an RFC 3339 time with offset, e.g. 2026-03-01T09:30:00+08:00",
            ));
            None
        }
        Some(t) if t > latest => {
            errors.push(FieldError::new(pointer, "is in the future"));
            None
        }
        Some(t) => Some(t),
    };
    let occurred_at = time_field("/occurred_at", &req.occurred_at);
    let discharged_at = req
        .discharged_at
        .as_deref()
        .and_then(|d| time_field("/discharged_at", d));
    if let (Some(o), Some(d)) = (occurred_at, discharged_at) {
        if d < o {
            errors.push(FieldError::new("/discharged_at", "is before occurred_at"));
        }
    }
    let place = text(&mut errors, "/place", &req.place, 200, true);
    let note = req
        .note
        .as_deref()
        .and_then(|n| text(&mut errors, "/note", n, 2000, false));
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    match (institution, case_id, occurred_at, place) {
        (Some((institution, _)), Some(case_id), Some(occurred_at), Some(place)) => {
            Ok(ValidOutcome {
                report_id: req.report_id.clone(),
                institution,
                case_id,
                outcome: req.outcome.into(),
                occurred_at,
                place,
                in_hospital: req.in_hospital,
                discharged_at,
                note,
            })
        }
        _ => Err(Rejection::Invalid(vec![FieldError::new(
            "",
            "the outcome is incomplete",
        )])),
    }
}

#[cfg(test)]
mod phone_tests {
    use super::is_phone;

    #[test]
    fn a_multibyte_character_at_the_area_code_cut_is_refused_not_a_panic() {
        // Found by the property test: byte 4 fell inside 'Ú'.
        assert!(!is_phone("IrfÚ&{Ⱥ&¤ 1234"));
        assert!(!is_phone("01Ú23456789"));
        assert!(is_phone("0731-84561234"));
        assert!(is_phone("07318456123"));
    }
}

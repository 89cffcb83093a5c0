//! CSV import of risk cards: a spreadsheet export turned into the same [`RiskCardRequest`]s
//! the JSON API takes, with per-row errors by row number.
//!
//! The file is UTF-8, with or without a byte-order mark, comma-separated, with a header row
//! naming the columns (any order; unknown columns refuse the whole file; empty cells are
//! absent values). Row numbers count the header as row 1, as a spreadsheet shows them.
//!
//! | column | card field | |
//! |---|---|---|
//! | `card_id` | `/card_id` | required |
//! | `institution_code` | `/institution_code` | required |
//! | `assessed_at` | `/assessed_at` | required, RFC 3339 |
//! | `assessor` | `/assessor` | required |
//! | `id_type` | `/woman/id_type` | required: resident_id, passport, travel_permit, foreign_permanent_resident, other |
//! | `id_number`, `name`, `birth_date`, `phone`, `residence_district`, `address` | `/woman/…` | |
//! | `lmp`, `edd`, `gestational_weeks`, `gestational_days`, `gravida`, `para`, `fetuses` | `/pregnancy/…` | |
//! | `height_cm`, `weight_kg`, `systolic_mmhg`, `diastolic_mmhg`, `hb_g_per_l`, `platelets_10e9_per_l` | `/measurements/…` | |
//! | `findings` | `/findings` | codes separated by `;` |
//! | `declared_colour` | `/declared_colour` | green, yellow, orange, red, purple |
//! | `critical` | `/critical` | true/false, 1/0, yes/no, 是/否; empty = false |
//! | `note` | `/note` | |
//!
//! What it owns: the column layout and cell parsing. It does no IO and no validation beyond
//! cell types: each row then goes through the same rules as a JSON card.

use crate::wire::{ColourIn, IdTypeIn, MeasurementsIn, PregnancyIn, RiskCardRequest, WomanIn};
use edge::FieldError;
use std::collections::HashMap;

/// The most data rows one import takes.
pub const MAX_ROWS: usize = 1_000;

/// Every column, in the documented order.
pub const COLUMNS: [&str; 28] = [
    "card_id",
    "institution_code",
    "assessed_at",
    "assessor",
    "id_type",
    "id_number",
    "name",
    "birth_date",
    "phone",
    "residence_district",
    "address",
    "lmp",
    "edd",
    "gestational_weeks",
    "gestational_days",
    "gravida",
    "para",
    "fetuses",
    "height_cm",
    "weight_kg",
    "systolic_mmhg",
    "diastolic_mmhg",
    "hb_g_per_l",
    "platelets_10e9_per_l",
    "findings",
    "declared_colour",
    "critical",
    "note",
];

const REQUIRED: [&str; 9] = [
    "card_id",
    "institution_code",
    "assessed_at",
    "assessor",
    "id_type",
    "id_number",
    "name",
    "birth_date",
    "residence_district",
];

/// The JSON pointer of the card field a column fills.
pub fn pointer_of(column: &str) -> String {
    match column {
        "id_type" | "id_number" | "name" | "birth_date" | "phone" | "residence_district"
        | "address" => format!("/woman/{column}"),
        "lmp" | "edd" | "gestational_weeks" | "gestational_days" | "gravida" | "para"
        | "fetuses" => format!("/pregnancy/{column}"),
        "height_cm"
        | "weight_kg"
        | "systolic_mmhg"
        | "diastolic_mmhg"
        | "hb_g_per_l"
        | "platelets_10e9_per_l" => format!("/measurements/{column}"),
        other => format!("/{other}"),
    }
}

/// One data row: its number and its card, or what is wrong with its cells.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    /// Row number (the header is row 1).
    pub row: usize,
    /// The card, or the cells that could not be read.
    pub card: Result<RiskCardRequest, Vec<FieldError>>,
}

/// Parses a CSV file into cards. Errs (for the whole file) when it is not UTF-8 CSV, lacks
/// the header or a required column, names an unknown column, or has more than
/// [`MAX_ROWS`] rows.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<CsvRow>, FieldError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(FieldError::new("", "the file is not UTF-8"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| FieldError::new("", format!("the header row cannot be read: {e}")))?
        .clone();
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if !COLUMNS.contains(&h) {
            return Err(FieldError::new(
                "",
                format!("unknown column `{h}` (header column {})", i + 1),
            ));
        }
        if index.insert(h.to_owned(), i).is_some() {
            return Err(FieldError::new("", format!("column `{h}` appears twice")));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !index.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(FieldError::new(
            "",
            format!("required column(s) missing: {}", missing.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        if rows.len() >= MAX_ROWS {
            return Err(FieldError::new(
                "",
                format!("more than {MAX_ROWS} rows; split the file"),
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push(CsvRow {
                    row,
                    card: Err(vec![FieldError::new(
                        "",
                        format!("the row cannot be read: {e}"),
                    )]),
                });
                continue;
            }
        };
        let cell = |c: &str| -> Option<String> {
            index
                .get(c)
                .and_then(|i| record.get(*i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        rows.push(CsvRow {
            row,
            card: row_to_card(&cell),
        });
    }
    Ok(rows)
}

fn row_to_card(cell: &dyn Fn(&str) -> Option<String>) -> Result<RiskCardRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut req_text = |c: &str| -> String {
        cell(c).unwrap_or_else(|| {
            errors.push(FieldError::new(
                pointer_of(c),
                "required; the cell is empty",
            ));
            String::new()
        })
    };
    let card_id = req_text("card_id");
    let institution_code = req_text("institution_code");
    let assessed_at = req_text("assessed_at");
    let assessor = req_text("assessor");
    let id_number = req_text("id_number");
    let name = req_text("name");
    let birth_date = req_text("birth_date");
    let residence_district = req_text("residence_district");
    let id_type_text = req_text("id_type");

    let id_type = match enum_cell::<IdTypeIn>(&id_type_text) {
        Some(t) => Some(t),
        None if id_type_text.is_empty() => None,
        None => {
            errors.push(FieldError::new(
                "/woman/id_type",
                "must be resident_id, passport, travel_permit, foreign_permanent_resident or other",
            ));
            None
        }
    };
    let declared_colour = match cell("declared_colour") {
        None => None,
        Some(c) => match enum_cell::<ColourIn>(&c.to_ascii_lowercase()) {
            Some(v) => Some(v),
            None => {
                errors.push(FieldError::new(
                    "/declared_colour",
                    "must be green, yellow, orange, red or purple",
                ));
                None
            }
        },
    };
    let critical = match cell("critical")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "n" | "否") => false,
        Some("true" | "1" | "yes" | "y" | "是") => true,
        Some(_) => {
            errors.push(FieldError::new(
                "/critical",
                "must be true/false, 1/0, yes/no or 是/否",
            ));
            false
        }
    };
    let mut u8_cell = |c: &str| number::<u8>(cell(c), c, &mut errors);
    let pregnancy_numbers = (
        u8_cell("gestational_weeks"),
        u8_cell("gestational_days"),
        u8_cell("gravida"),
        u8_cell("para"),
        u8_cell("fetuses"),
    );
    let measurements = MeasurementsIn {
        height_cm: number::<f64>(cell("height_cm"), "height_cm", &mut errors),
        weight_kg: number::<f64>(cell("weight_kg"), "weight_kg", &mut errors),
        systolic_mmhg: number::<u16>(cell("systolic_mmhg"), "systolic_mmhg", &mut errors),
        diastolic_mmhg: number::<u16>(cell("diastolic_mmhg"), "diastolic_mmhg", &mut errors),
        hb_g_per_l: number::<f64>(cell("hb_g_per_l"), "hb_g_per_l", &mut errors),
        platelets_10e9_per_l: number::<f64>(
            cell("platelets_10e9_per_l"),
            "platelets_10e9_per_l",
            &mut errors,
        ),
    };
    let findings = cell("findings")
        .map(|f| {
            f.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(id_type) = id_type else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let (gestational_weeks, gestational_days, gravida, para, fetuses) = pregnancy_numbers;
    Ok(RiskCardRequest {
        card_id,
        institution_code,
        assessed_at,
        assessor,
        woman: WomanIn {
            id_type,
            id_number,
            name,
            birth_date,
            phone: cell("phone"),
            residence_district,
            address: cell("address"),
        },
        pregnancy: PregnancyIn {
            lmp: cell("lmp"),
            edd: cell("edd"),
            gestational_weeks,
            gestational_days,
            gravida,
            para,
            fetuses,
        },
        measurements,
        findings,
        declared_colour,
        critical,
        note: cell("note"),
    })
}

fn enum_cell<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

fn number<T: std::str::FromStr>(
    v: Option<String>,
    column: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let v = v?;
    match v.parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(
                pointer_of(column),
                "is not a number of the expected kind",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "card_id,institution_code,assessed_at,assessor,id_type,id_number,name,birth_date,residence_district,lmp,gestational_weeks,findings,critical\n";

    #[test]
    fn rows_become_cards_and_bad_cells_are_reported_by_row() {
        let csv = format!(
            "\u{feff}{HEADER}c1,H1,2026-03-01T09:00:00+08:00,dr1,resident_id,X,N,1990-01-01,430102,2025-12-01,12,O-CV-NYHA2; Y-AGE-35 ,是\n\
             c2,H1,2026-03-01T09:00:00+08:00,dr1,alien,X,N,1990-01-01,430102,,twelve,,maybe\n"
        );
        let rows = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        let card = rows[0].card.as_ref().unwrap();
        assert_eq!(card.findings, vec!["O-CV-NYHA2", "Y-AGE-35"]);
        assert!(card.critical);
        assert_eq!(card.pregnancy.gestational_weeks, Some(12));
        assert_eq!(rows[1].row, 3);
        let errors = rows[1].card.as_ref().unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/woman/id_type",
                "/critical",
                "/pregnancy/gestational_weeks"
            ]
        );
    }

    #[test]
    fn the_whole_file_is_refused_for_header_problems() {
        assert!(parse_csv(b"card_id,bogus\nx,y\n")
            .unwrap_err()
            .message
            .contains("unknown column `bogus`"));
        assert!(parse_csv(b"card_id\nx\n")
            .unwrap_err()
            .message
            .contains("required column(s) missing"));
        assert!(parse_csv(b"\xff\xfe").is_err());
        let many = format!(
            "{HEADER}{}",
            "a,b,c,d,e,f,g,h,i,j,k,l,m\n".repeat(MAX_ROWS + 1)
        );
        assert!(parse_csv(many.as_bytes())
            .unwrap_err()
            .message
            .contains("more than"));
    }
}

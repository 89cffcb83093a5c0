//! Derived findings at, and either side of, every boundary of the rules file: each row gives
//! measurements and exactly the codes the engine must derive from them.

use crate::{card, grade};
use contracts::Colour;
use scoring::{Measure, Measurements, Source};
use time::macros::date;
use time::Date;

/// The card is dated 2025-03-01; these birth dates give the named completed age on it.
fn born(age: i32, day_after_birthday: bool) -> Date {
    // Born on 2 March: one day short of the birthday.
    let day = if day_after_birthday { 1 } else { 2 };
    Date::from_calendar_date(2025 - age, time::Month::March, day).unwrap()
}

/// Derives from `m` and checks the derived codes are exactly `want` and the colour is `colour`.
#[track_caller]
fn check(label: &str, m: Measurements, want: &[&str], colour: Colour) {
    let mut c = card();
    c.measurements = m;
    let a = grade(&c);
    let mut got: Vec<&str> = a.findings.iter().map(|f| f.code.as_str()).collect();
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{label}");
    assert_eq!(a.colour, colour, "{label}");
    for f in &a.findings {
        assert!(
            f.sources
                .iter()
                .all(|s| matches!(s, Source::Derived { .. })),
            "{label}: {f:?}"
        );
    }
}

fn m() -> Measurements {
    Measurements::default()
}

#[test]
fn age_boundaries() {
    use Colour::*;
    let age = |years, on_birthday| Measurements {
        birth_date: Some(born(years, on_birthday)),
        ..m()
    };
    let y35 = ["Y-BAS-AGE35", "SC-01", "S-BAS-AGE"];
    check("34 (day before 35)", age(35, false), &[], Green);
    check("34", age(34, true), &[], Green);
    check("35", age(35, true), &y35, Yellow);
    check("36", age(36, true), &y35, Yellow);
    check("39", age(39, true), &y35, Yellow);
    check("39 (day before 40)", age(40, false), &y35, Yellow);
    check(
        "40",
        age(40, true),
        &["Y-BAS-AGE35", "SC-01", "S-BAS-AGE", "O-BAS-AGE40"],
        Orange,
    );
    check(
        "41",
        age(41, true),
        &["Y-BAS-AGE35", "SC-01", "S-BAS-AGE", "O-BAS-AGE40"],
        Orange,
    );
    check("19", age(19, true), &[], Green);
    check("18", age(18, true), &["Y-BAS-AGE35", "S-BAS-AGE"], Yellow);
    check("17", age(17, true), &["Y-BAS-AGE35", "S-BAS-AGE"], Yellow);
    check(
        "16",
        age(16, true),
        &["Y-BAS-AGE35", "S-BAS-AGE", "SC-01"],
        Yellow,
    );
}

#[test]
fn bmi_boundaries() {
    use Colour::*;
    // Height 160 cm: weight = BMI × 2.56.
    let bmi = |w: f64| Measurements {
        height_cm: Some(160.0),
        weight_kg: Some(w),
        ..m()
    };
    assert_eq!(scoring::bmi(160.0, 71.42), 27.9);
    assert_eq!(scoring::bmi(160.0, 71.68), 28.0);
    let y = ["Y-BAS-BMI", "S-BAS-BMI"];
    check("27.9", bmi(71.42), &y, Yellow);
    check(
        "27.95 charts as 28.0",
        bmi(71.56),
        &["Y-BAS-BMI", "S-BAS-BMI", "O-BAS-BMI28"],
        Orange,
    );
    check(
        "28.0",
        bmi(71.68),
        &["Y-BAS-BMI", "S-BAS-BMI", "O-BAS-BMI28"],
        Orange,
    );
    check(
        "28.1",
        bmi(71.94),
        &["Y-BAS-BMI", "S-BAS-BMI", "O-BAS-BMI28"],
        Orange,
    );
    check("25.0", bmi(64.0), &[], Green);
    check("25.1", bmi(64.26), &y, Yellow);
    check("18.5", bmi(47.36), &[], Green);
    check("18.4", bmi(47.1), &y, Yellow);
    // Height 200: 112 kg is BMI 28.0 and also weight >= 85 (SC-03).
    let tall = Measurements {
        height_cm: Some(200.0),
        weight_kg: Some(112.0),
        ..m()
    };
    check(
        "28.0 tall",
        tall,
        &["Y-BAS-BMI", "S-BAS-BMI", "O-BAS-BMI28", "SC-03"],
        Orange,
    );
}

#[test]
fn height_and_weight_boundaries() {
    use Colour::*;
    let h = |v| Measurements {
        height_cm: Some(v),
        ..m()
    };
    let w = |v| Measurements {
        weight_kg: Some(v),
        ..m()
    };
    check("height 145", h(145.0), &["SC-02", "S-BAS-HT"], Green);
    check("height 145.5", h(145.5), &[], Green);
    check("weight 40", w(40.0), &["SC-03"], Green);
    check("weight 40.1", w(40.1), &[], Green);
    check("weight 84.9", w(84.9), &[], Green);
    check("weight 85", w(85.0), &["SC-03"], Green);
}

#[test]
fn haemoglobin_boundaries() {
    use Colour::*;
    let hb = |v| Measurements {
        hb_g_per_l: Some(v),
        ..m()
    };
    check("Hb 39", hb(39.0), &["R-HEM-ANEM", "SC-17", "S-LAB-HB"], Red);
    check("Hb 40", hb(40.0), &["R-HEM-ANEM", "SC-17", "S-LAB-HB"], Red);
    check(
        "Hb 41",
        hb(41.0),
        &["O-HEM-ANEM", "SC-17", "S-LAB-HB"],
        Orange,
    );
    check(
        "Hb 59",
        hb(59.0),
        &["O-HEM-ANEM", "SC-17", "S-LAB-HB"],
        Orange,
    );
    check(
        "Hb 60",
        hb(60.0),
        &["Y-HEM-ANEM", "SC-16", "S-LAB-HB"],
        Yellow,
    );
    check(
        "Hb 61",
        hb(61.0),
        &["Y-HEM-ANEM", "SC-16", "S-LAB-HB"],
        Yellow,
    );
    check(
        "Hb 99",
        hb(99.0),
        &["Y-HEM-ANEM", "SC-16", "S-LAB-HB"],
        Yellow,
    );
    check("Hb 100", hb(100.0), &["Y-HEM-ANEM", "S-LAB-HB"], Yellow);
    check("Hb 101", hb(101.0), &["Y-HEM-ANEM", "S-LAB-HB"], Yellow);
    check("Hb 109", hb(109.0), &["Y-HEM-ANEM", "S-LAB-HB"], Yellow);
    check("Hb 110", hb(110.0), &[], Green);
    check("Hb 111", hb(111.0), &[], Green);
}

#[test]
fn haemoglobin_points_are_alternatives_not_a_sum() {
    let mut c = card();
    c.measurements.hb_g_per_l = Some(50.0);
    assert_eq!(grade(&c).score, 10);
    c.measurements.hb_g_per_l = Some(80.0);
    assert_eq!(grade(&c).score, 5);
}

#[test]
fn platelet_boundaries() {
    use Colour::*;
    let p = |v| Measurements {
        platelets_10e9_per_l: Some(v),
        ..m()
    };
    check("PLT 29", p(29.0), &["R-HEM-PLT", "S-LAB-PLT"], Red);
    check("PLT 30", p(30.0), &["O-HEM-PLT", "S-LAB-PLT"], Orange);
    check("PLT 31", p(31.0), &["O-HEM-PLT", "S-LAB-PLT"], Orange);
    check("PLT 49", p(49.0), &["O-HEM-PLT", "S-LAB-PLT"], Orange);
    check("PLT 50", p(50.0), &["Y-HEM-PLT", "S-LAB-PLT"], Yellow);
    check("PLT 51", p(51.0), &["Y-HEM-PLT", "S-LAB-PLT"], Yellow);
    check("PLT 99", p(99.0), &["Y-HEM-PLT", "S-LAB-PLT"], Yellow);
    check("PLT 100", p(100.0), &["Y-HEM-PLT", "S-LAB-PLT"], Yellow);
    check("PLT 101", p(101.0), &[], Green);
}

#[test]
fn blood_pressure_boundaries() {
    use Colour::*;
    let bp = |s, d, weeks| Measurements {
        systolic_mmhg: Some(s),
        diastolic_mmhg: Some(d),
        gestational_weeks: weeks,
        ..m()
    };
    let hdp = ["Y-OBS-HDP", "S-SX-CARD5"];
    check("139/89", bp(139, 89, None), &[], Green);
    check("140/80", bp(140, 80, None), &hdp, Yellow);
    check("130/90", bp(130, 90, None), &hdp, Yellow);
    check("150/95", bp(150, 95, None), &hdp, Yellow);
    check(
        "140/80 at 20 w",
        bp(140, 80, Some(20)),
        &["Y-OBS-HDP", "S-SX-CARD5", "SC-41"],
        Yellow,
    );
    check("130/90 at 19 w", bp(130, 90, Some(19)), &hdp, Yellow);
    check("139/89 at 30 w", bp(139, 89, Some(30)), &[], Green);
}

#[test]
fn gestation_and_fetus_boundaries() {
    use Colour::*;
    let ga = |w, d| Measurements {
        gestational_weeks: Some(w),
        gestational_days: Some(d),
        ..m()
    };
    check("40+6", ga(40, 6), &[], Green);
    check("41+0", ga(41, 0), &["SC-54"], Green);
    check("41+6", ga(41, 6), &["SC-54"], Green);
    check("42+0", ga(42, 0), &["SC-55"], Green);
    let f = |n| Measurements {
        fetuses: Some(n),
        ..m()
    };
    check("1 fetus", f(1), &[], Green);
    check(
        "twins",
        f(2),
        &["Y-OBS-TWIN", "SC-51", "S-HX-CURRENT"],
        Yellow,
    );
    check(
        "triplets",
        f(3),
        &["O-OBS-MULT3", "SC-51", "S-HX-CURRENT"],
        Orange,
    );
    check(
        "quads",
        f(4),
        &["O-OBS-MULT3", "SC-51", "S-HX-CURRENT"],
        Orange,
    );
}

#[test]
fn a_forgotten_tick_is_still_graded_and_a_ticked_one_keeps_both_sources() {
    let mut c = crate::card_with(&["Y-BAS-AGE35"]);
    c.measurements.birth_date = Some(date!(1984 - 01 - 01)); // 41 on 2025-03-01
    let a = grade(&c);
    assert_eq!(a.colour, Colour::Orange);
    assert!(a.high_risk);
    let age35 = a.findings.iter().find(|f| f.code == "Y-BAS-AGE35").unwrap();
    assert_eq!(
        age35.sources,
        vec![
            Source::Declared,
            Source::Derived {
                rule: "age-35-or-more".into(),
                from: vec![Measure::AgeYears]
            }
        ]
    );
    let age40 = a.findings.iter().find(|f| f.code == "O-BAS-AGE40").unwrap();
    assert_eq!(
        age40.sources,
        vec![Source::Derived {
            rule: "age-40-or-more".into(),
            from: vec![Measure::AgeYears]
        }]
    );
}

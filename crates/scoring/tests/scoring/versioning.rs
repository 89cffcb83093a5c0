//! Catalogue versions: an edit produces a new identity (and does not load until its version is
//! bumped), assessments made before keep the identity they recorded, and the loader names the
//! file and line of every broken entry.

use crate::{card_with, config_dir, seed};
use scoring::{assess, content_sha256, Catalogues, LoadError, Region};
use std::collections::HashMap;
use std::path::PathBuf;

const SET: &str = "catalogues/cn-nhc-2017";

/// The seed catalogue files, in memory.
fn files() -> HashMap<String, Vec<u8>> {
    let dir = config_dir().join(SET);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn load_mem(files: &HashMap<String, Vec<u8>>) -> Result<Catalogues, LoadError> {
    Catalogues::from_sources("mem", &mut |name| {
        files
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no file {name}"))
    })
}

fn edit(files: &mut HashMap<String, Vec<u8>>, name: &str, from: &str, to: &str) {
    let text = String::from_utf8(files[name].clone()).unwrap();
    assert!(text.contains(from), "{name} has no {from:?}");
    files.insert(name.into(), text.replacen(from, to, 1).into_bytes());
}

/// Re-pins `file` in the manifest (new sha256) and sets its entry's version and the set version.
fn repin(files: &mut HashMap<String, Vec<u8>>, file: &str, version: u32) {
    let sha = content_sha256(&files[file]);
    let manifest = String::from_utf8(files["manifest.toml"].clone()).unwrap();
    let mut out = String::new();
    let mut in_entry = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_entry = false;
        }
        if line == format!("file = \"{file}\"") {
            in_entry = true;
        }
        let line = if line.starts_with("version = ") && (in_entry || !out.contains('[')) {
            format!("version = {version}")
        } else if in_entry && line.starts_with("sha256 = ") {
            format!("sha256 = \"{sha}\"")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    // The entry's `version` line comes before `file`: fix it in a second pass.
    let out = out.replace(
        &format!("version = 1\nfile = \"{file}\""),
        &format!("version = {version}\nfile = \"{file}\""),
    );
    files.insert("manifest.toml".into(), out.into_bytes());
}

#[test]
fn the_loaded_files_match_the_seed_and_memory_loading() {
    let (_, seeded) = seed();
    let mem = load_mem(&files()).unwrap();
    assert_eq!(mem.versions(), seeded.versions());
}

#[test]
fn a_catalogue_edit_needs_a_new_version_and_old_assessments_keep_theirs() {
    let (region, before) = seed();
    let card = card_with(&["SC-01", "Y-BAS-SCAR"]);
    let old = assess(&card, before, &region.policy).unwrap();
    let old_json = serde_json::to_string(&old).unwrap();
    assert_eq!(old.score, 10);
    assert_eq!(old.catalogues.score.label(), "cn-nhc-2017-score@1");

    // Edit SC-01 from 10 to 15 points without touching the manifest: refused.
    let mut f = files();
    edit(
        &mut f,
        "score-items.csv",
        "SC-01,一般情况,年龄≤16岁或≥35岁,10,",
        "SC-01,一般情况,年龄≤16岁或≥35岁,15,",
    );
    let err = load_mem(&f).unwrap_err().to_string();
    assert!(err.contains("mem/manifest.toml:"), "{err}");
    assert!(err.contains("needs a new version"), "{err}");
    assert!(
        err.contains(&content_sha256(&f["score-items.csv"])),
        "{err}"
    );

    // Re-pinned but the version forgotten: loads, yet the identity still differs by its hash.
    let mut sneaky = f.clone();
    repin(&mut sneaky, "score-items.csv", 1);
    let same_label = load_mem(&sneaky).unwrap();
    assert_eq!(same_label.versions().score.label(), "cn-nhc-2017-score@1");
    assert_ne!(same_label.versions().score, before.versions().score);
    assert_ne!(same_label.versions().set, before.versions().set);

    // Properly versioned.
    repin(&mut f, "score-items.csv", 2);
    let after = load_mem(&f).unwrap();
    assert_eq!(after.versions().score.label(), "cn-nhc-2017-score@2");
    assert_eq!(after.versions().set.label(), "cn-nhc-2017@2");
    assert_eq!(after.versions().five_colour, before.versions().five_colour);
    let new = assess(&card, &after, &region.policy).unwrap();
    assert_eq!(new.score, 15);
    assert_eq!(new.catalogues, after.versions().clone());

    // The old assessment is a value: unchanged, still naming version 1, and so on re-reading.
    assert_eq!(serde_json::to_string(&old).unwrap(), old_json);
    assert_eq!(old.score, 10);
    assert_eq!(&old.catalogues, before.versions());
    let stored: scoring::Assessment = serde_json::from_str(&old_json).unwrap();
    assert_eq!(stored, old);
    assert_ne!(stored.catalogues, new.catalogues);
}

#[test]
fn an_edit_on_disk_is_caught_the_same_way() {
    let dir: PathBuf = std::env::temp_dir().join(format!("scoring-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut f = files();
    edit(
        &mut f,
        "five-colour.csv",
        "Y-BAS-SCAR,Y‑1.6,yellow,",
        "Y-BAS-SCAR,Y‑1.6,orange,",
    );
    for (name, bytes) in &f {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let err = Catalogues::load(&dir).unwrap_err();
    let text = err.to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    // Two problems: the prefix no longer matches the colour, and the pin.
    assert!(
        text.contains("five-colour.csv:8: code Y-BAS-SCAR must start with `O-`"),
        "{text}"
    );
    assert!(text.contains("manifest.toml:"), "{text}");
}

#[test]
fn duplicate_codes_are_named_with_both_lines() {
    let mut f = files();
    let mut text = String::from_utf8(f["five-colour.csv"].clone()).unwrap();
    text.push_str("Y-BAS-SCAR,Y‑1.6,yellow,基本情况,瘢痕子宫,scarred uterus,confirmed\n");
    f.insert("five-colour.csv".into(), text.into_bytes());
    repin(&mut f, "five-colour.csv", 2);
    let err = load_mem(&f).unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "mem/five-colour.csv:119: duplicate code Y-BAS-SCAR (first at mem/five-colour.csv:8)"
    );
}

#[test]
fn a_code_in_two_tables_is_a_duplicate() {
    let mut f = files();
    edit(&mut f, "screening-items.csv", "S-SX-DRUG,", "SC-64,");
    repin(&mut f, "screening-items.csv", 2);
    let err = load_mem(&f).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "mem/screening-items.csv:49: duplicate code SC-64 (first at mem/score-items.csv:65)"
        ),
        "{err}"
    );
}

#[test]
fn unknown_colours_and_bad_rows_are_named_with_their_line() {
    let mut f = files();
    edit(
        &mut f,
        "five-colour.csv",
        "Y-BAS-PELVIS,Y‑1.4,yellow,",
        "Y-BAS-PELVIS,Y‑1.4,blue,",
    );
    edit(
        &mut f,
        "score-items.csv",
        "SC-05,异常产史,自然流产≥2次,5,",
        "SC-05,异常产史,自然流产≥2次,five,",
    );
    edit(&mut f, "screening-items.csv", "S-BAS-HT,1.2,基本情况,身高≤145cm，或对生育可能有影响的躯体残疾,\"height ≤145 cm, or a physical disability that may affect childbirth\",confirmed", "S-BAS-HT,1.2,基本情况,x,y,maybe");
    repin(&mut f, "five-colour.csv", 2);
    repin(&mut f, "score-items.csv", 2);
    repin(&mut f, "screening-items.csv", 2);
    let err = load_mem(&f).unwrap_err().to_string();
    assert!(
        err.contains("mem/five-colour.csv:6: unknown colour `blue` for Y-BAS-PELVIS"),
        "{err}"
    );
    assert!(
        err.contains("mem/score-items.csv:6: points `five` for SC-05"),
        "{err}"
    );
    assert!(
        err.contains("mem/screening-items.csv:3: unknown source_confidence `maybe`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn rules_naming_unknown_codes_or_measures_are_named_with_their_line() {
    let mut f = files();
    edit(
        &mut f,
        "derived-rules.toml",
        "add = [\"O-BAS-AGE40\"]",
        "add = [\"O-BAS-AGE41\"]",
    );
    edit(
        &mut f,
        "derived-rules.toml",
        "measure = \"fetuses\", ge = 3.0",
        "measure = \"babies\", ge = 3.0",
    );
    repin(&mut f, "derived-rules.toml", 2);
    let err = load_mem(&f).unwrap_err();
    let text = String::from_utf8(f["derived-rules.toml"].clone()).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "mem/derived-rules.toml:{}: rule `age-40-or-more` names unknown code O-BAS-AGE41",
            line_of("O-BAS-AGE41")
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "mem/derived-rules.toml:{}: rule `triplets-or-more`: unknown measure `babies`",
            line_of("babies")
        )),
        "{msg}"
    );
}

#[test]
fn grading_needs_every_colour_and_rising_bands() {
    let mut f = files();
    edit(&mut f, "grading.toml", "[advice.purple]", "[advice.violet]");
    edit(&mut f, "grading.toml", "min_points = 10", "min_points = 5");
    repin(&mut f, "grading.toml", 2);
    let msg = load_mem(&f).unwrap_err().to_string();
    assert!(msg.contains("advice for unknown colour `violet`"), "{msg}");
    assert!(msg.contains("no [advice.purple]"), "{msg}");
    assert!(
        msg.contains("band `medium` must start above band `light`"),
        "{msg}"
    );
}

#[test]
fn a_region_must_get_the_catalogue_version_it_selects() {
    let text = std::fs::read_to_string(config_dir().join("regions/default.toml")).unwrap();
    let text = text.replace("version = 1\n\n[policy]", "version = 7\n\n[policy]");
    let mut region = Region::from_toml("r.toml", text.as_bytes()).unwrap();
    region.catalogues.dir = config_dir().join(SET);
    let err = region.load_catalogues().unwrap_err().to_string();
    assert!(
        err.contains("selects cn-nhc-2017@7 but the folder holds cn-nhc-2017@1"),
        "{err}"
    );
}

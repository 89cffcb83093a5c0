//! The near-miss criteria file: the WHO 2011 organ-dysfunction set loads with its identity;
//! a duplicate or blank criterion is refused.

use escalation::NearMissCatalogue;

#[test]
fn the_who_set_loads_and_bad_files_are_refused() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/catalogues/near-miss/who-2011.toml"
    );
    let c = NearMissCatalogue::load(path).unwrap();
    assert_eq!(c.label(), "who-2011@1");
    assert_eq!(c.criteria.len(), 25);
    for code in [
        "CV-SHOCK",
        "RESP-HYPOXAEMIA",
        "RENAL-AZOTAEMIA",
        "UTERINE-HYSTERECTOMY",
    ] {
        assert!(c.contains(code), "{code}");
    }
    assert!(!c.contains("cv-shock"));
    let groups: std::collections::BTreeSet<_> =
        c.criteria.iter().map(|k| k.group.as_str()).collect();
    assert_eq!(groups.len(), 7, "seven organ systems");

    let one = "[[criteria]]\ncode = \"A\"\ngroup = \"g\"\nen = \"a\"\nzh = \"甲\"\n";
    let ok = format!("id = \"x\"\nversion = 2\n{one}");
    assert_eq!(
        NearMissCatalogue::parse(&ok, "x.toml").unwrap().label(),
        "x@2"
    );
    let dup = format!("id = \"x\"\nversion = 1\n{one}{one}");
    let err = NearMissCatalogue::parse(&dup, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate criterion `A`"), "{err}");
    let blank = ok.replace("en = \"a\"", "en = \" \"");
    assert!(NearMissCatalogue::parse(&blank, "x.toml").is_err());
    assert!(
        NearMissCatalogue::parse("id = \"x\"\nversion = 1\ncriteria = []\n", "x.toml").is_err()
    );
}

//! The binary as an operator runs it: `migrate`, then `audit verify` on a clean and on a
//! tampered log (exit status and the first bad position).

use contracts::{ManualClock, Metadata, NewEvent, StreamId};
use eventstore::{Commit, EventStore, ExpectedVersion, Store};
use std::process::Command;
use std::sync::Arc;
use time::macros::datetime;

fn referral(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_referral"))
        .args(args)
        .env("REFERRAL_DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_then_verify_finds_tampering() {
    let db = testkit::SqliteFile::create().unwrap();
    let out = referral(&db.url, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::connect(
        &db.url,
        Arc::new(ManualClock::new(datetime!(2026-01-01 0:00 UTC))),
    )
    .await
    .unwrap();
    for n in 0..20 {
        let e = NewEvent {
            event_id: uuid::Uuid::new_v4(),
            stream_id: StreamId::parse("s-1").unwrap(),
            case_id: None,
            event_type: "Counted".into(),
            schema_version: 1,
            payload: serde_json::json!({ "n": n }),
            metadata: Metadata::system("test"),
            occurred_at: datetime!(2026-01-01 0:00 UTC),
        };
        store
            .commit(Commit::append(
                e.stream_id.clone(),
                ExpectedVersion::Any,
                vec![e],
            ))
            .await
            .unwrap();
    }
    let out = referral(&db.url, &["audit", "verify", "--batch", "7"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("the log verifies: 20 events"));

    let Store::Sqlite(s) = &store else {
        unreachable!()
    };
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(s.writer())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = '{\"n\":1000}' WHERE position = 13")
        .execute(s.writer())
        .await
        .unwrap();
    let out = referral(&db.url, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("first bad position 13"));
}

#[test]
fn catalogue_check_accepts_the_default_region_and_names_a_bad_line() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let region = format!("{root}/config/regions/default.toml");
    let out = referral("sqlite::memory:", &["catalogue", "check", &region]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("117 five-colour, 64 score, 48 screening"),
        "{stdout}"
    );
    let show = referral("sqlite::memory:", &["catalogue", "show", &region]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("SC-64"));

    // A region file with an unknown key: rejected, naming the file and the line.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&region).unwrap().replace(
        "dir = \"../catalogues/cn-nhc-2017\"",
        &format!("dir = \"{root}/config/catalogues/cn-nhc-2017\"\ncolour_of_sky = \"blue\""),
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text).unwrap();
    let out = referral(
        "sqlite::memory:",
        &["catalogue", "check", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("colour_of_sky"),
        "{stderr}"
    );
}

#[tokio::test]
async fn verify_one_case_names_its_changed_row_and_passes_another() {
    let db = testkit::SqliteFile::create().unwrap();
    assert!(referral(&db.url, &["migrate"]).status.success());
    let store = Store::connect(
        &db.url,
        Arc::new(ManualClock::new(datetime!(2026-01-01 0:00 UTC))),
    )
    .await
    .unwrap();
    // Positions 1–5: case c-2; 6–15: case c-1.
    for n in 0..15 {
        let case = if n < 5 { "c-2" } else { "c-1" };
        let e = NewEvent {
            event_id: uuid::Uuid::new_v4(),
            stream_id: StreamId::parse(format!("s-{case}")).unwrap(),
            case_id: Some(contracts::CaseId::parse(case).unwrap()),
            event_type: "Counted".into(),
            schema_version: 1,
            payload: serde_json::json!({ "n": n }),
            metadata: Metadata::system("test"),
            occurred_at: datetime!(2026-01-01 0:00 UTC),
        };
        store
            .commit(Commit::append(
                e.stream_id.clone(),
                ExpectedVersion::Any,
                vec![e],
            ))
            .await
            .unwrap();
    }
    let out = referral(&db.url, &["audit", "verify", "--case", "c-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("case c-1 verifies: 10 events, positions 6–15"));

    let Store::Sqlite(s) = &store else {
        unreachable!()
    };
    sqlx::query("DROP TRIGGER events_no_update")
        .execute(s.writer())
        .await
        .unwrap();
    sqlx::query("UPDATE events SET payload = '{\"n\":1000}' WHERE position = 10")
        .execute(s.writer())
        .await
        .unwrap();
    let out = referral(&db.url, &["audit", "verify", "--case", "c-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("case c-1: first bad position 10"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = referral(&db.url, &["audit", "verify", "--case", "c-2"]);
    assert!(out.status.success(), "the other case's rows are untouched");
    let out = referral(&db.url, &["audit", "verify", "--case", "c-9"]);
    assert!(!out.status.success(), "no such case");
}

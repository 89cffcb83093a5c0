//! Conventions checked as tests (invariants written as absences): every source file opens with
//! `//!` docs, only `load.rs` touches the file system, and nothing reads the clock, NATS or SQL.

use std::path::PathBuf;

fn sources() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sub in ["src", "benches", "tests/scoring"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                out.push((
                    format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    out
}

#[test]
fn every_module_opens_with_a_paragraph_of_docs() {
    for (name, text) in sources() {
        assert!(
            text.starts_with("//! "),
            "{name} must start with `//!` docs"
        );
    }
}

#[test]
fn only_the_loader_does_io_and_nothing_reads_the_clock() {
    for (name, text) in sources().into_iter().filter(|(n, _)| n.starts_with("src/")) {
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if name != "src/load.rs" {
            assert!(
                !code.contains("std::fs") && !code.contains("File::"),
                "{name} does IO"
            );
        }
        for banned in [
            "SystemTime",
            "now_utc",
            "now_local",
            "Instant::now",
            "async_nats",
            "sqlx",
            "tokio",
            "std::env",
        ] {
            assert!(!code.contains(banned), "{name} uses {banned}");
        }
    }
}

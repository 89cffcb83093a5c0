//! Benchmark of the pure engine: assessments per second on one core, for an empty card, a
//! typical card (a few declared codes and measurements) and a heavy one (many codes, every
//! measurement). Loads the seed configuration once; no IO inside the measured loop.

use criterion::{criterion_main, Criterion, Throughput};
use scoring::{assess, Card, Region};
use std::hint::black_box;
use std::path::PathBuf;
use time::macros::date;

fn bench(c: &mut Criterion) {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let region = Region::load(config.join("regions/default.toml")).unwrap();
    let catalogues = region.load_catalogues().unwrap();
    let policy = &region.policy;

    let empty = Card::new(date!(2025 - 03 - 01));
    let mut typical = empty.clone();
    typical.findings = ["Y-BAS-SCAR", "O-CV-NYHA2", "SC-21"]
        .map(String::from)
        .to_vec();
    typical.measurements.birth_date = Some(date!(1988 - 05 - 17));
    typical.measurements.height_cm = Some(158.0);
    typical.measurements.weight_kg = Some(72.0);
    typical.measurements.hb_g_per_l = Some(98.0);
    typical.declared_colour = Some(contracts::Colour::Yellow);
    let mut heavy = typical.clone();
    heavy.findings = catalogues.codes().step_by(8).map(String::from).collect();
    heavy.measurements.systolic_mmhg = Some(150);
    heavy.measurements.diastolic_mmhg = Some(95);
    heavy.measurements.platelets_10e9_per_l = Some(45.0);
    heavy.measurements.gestational_weeks = Some(33);
    heavy.measurements.fetuses = Some(2);

    let mut group = c.benchmark_group("assess");
    group.throughput(Throughput::Elements(1));
    for (name, card) in [("empty", &empty), ("typical", &typical), ("heavy", &heavy)] {
        assert!(assess(card, &catalogues, policy).is_ok());
        group.bench_function(name, |b| {
            b.iter(|| assess(black_box(card), black_box(&catalogues), black_box(policy)))
        });
    }
    group.finish();
}

/// Runs the group with settings from the command line (what `criterion_group!` generates,
/// written out so that it carries docs).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}

criterion_main!(benches);

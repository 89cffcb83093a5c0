//! Fuzzes the CSV import parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = intake::fuzzing::csv_body(bytes);
});

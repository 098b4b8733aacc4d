//! Fuzz target: `cargo_meshinsight::fuzzing::jaeger` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cargo_meshinsight::fuzzing::jaeger(data));

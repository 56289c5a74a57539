//! Fuzzes the `<filterbinding>` front end through the whole pipeline; seed
//! it with fuzz/seeds/filterbinding (see docs/fuzzing.md). The filter the
//! seeds refer to is compiled beside each input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fwc_fuzz::compile_with("filterbinding.xml", data, &[fwc_fuzz::BINDING_FILTER]);
});

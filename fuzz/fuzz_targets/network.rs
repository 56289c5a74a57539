//! Fuzzes the `<network>` front end through the whole pipeline; seed it
//! with libvirt's network corpus (see docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fwc_fuzz::compile_everywhere("network.xml", data);
});

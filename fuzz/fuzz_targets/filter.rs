//! Fuzzes the `<filter>` (nwfilter) front end through the whole pipeline;
//! seed it with libvirt's nwfilter tests and stock filters (docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fwc_fuzz::compile_everywhere("filter.xml", data);
});

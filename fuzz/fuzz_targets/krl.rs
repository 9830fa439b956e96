#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jit_fuzz::krl(&jit_fuzz::sample_ca_blob(), data);
});

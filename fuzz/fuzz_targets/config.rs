//! `Config::from_toml` on arbitrary text. Checks: no panic; an accepted
//! configuration has a non-empty, trimmed, lowercase host name.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = pillarbox::Config::from_toml(text, std::path::Path::new("fuzz.toml")) {
        assert!(!c.hostname.is_empty());
        assert_eq!(c.hostname, c.hostname.trim().to_ascii_lowercase());
    }
});

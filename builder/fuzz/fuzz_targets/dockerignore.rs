//! `.dockerignore` parsing and matching on arbitrary text: no panics, and a parsed file always
//! answers for any path.
#![no_main]

use std::path::Path;

use bale_builder::dockerignore::Dockerignore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rules, paths) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
    if let Ok(ignore) = Dockerignore::parse(rules, Path::new(".dockerignore")) {
        for path in paths.split('\n') {
            let _ = ignore.is_excluded(path);
        }
    }
});

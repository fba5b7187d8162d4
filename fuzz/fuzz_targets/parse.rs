//! Feeds arbitrary text to the Dockerfile syntax layer: it must return a tree or an error, never
//! panic, and every error must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match bale_parser::parse(&text) {
        Ok(dockerfile) => {
            // Every instruction lies inside the file, in order.
            let lines = text.split('\n').count();
            for node in &dockerfile.nodes {
                assert!(node.line() >= 1 && node.line() <= node.end_line && node.end_line <= lines);
            }
        }
        Err(e) => {
            let rendered = e.render("Dockerfile", &text);
            assert!(rendered.starts_with("Dockerfile"));
        }
    }
});

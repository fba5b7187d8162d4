//! Feeds arbitrary text to the Dockerfile syntax layer and types what parses: each step must
//! return a result or an error, never panic, and every error must render and point inside the
//! file.
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
            let escape = dockerfile.directives.escape_char();
            let mut typed = Vec::new();
            for node in &dockerfile.nodes {
                match bale_parser::type_node(node, escape) {
                    Ok(i) => {
                        let loc = i.loc();
                        assert_eq!((loc.pos, loc.end_line), (node.pos, node.end_line));
                        typed.push(i);
                    }
                    Err(e) => {
                        assert!(e.pos.line >= 1 && e.pos.line <= lines);
                        assert!(e.render("Dockerfile", &text).starts_with("Dockerfile:"));
                    }
                }
            }
            if let Err(e) = bale_parser::stages(&typed) {
                assert!(e.pos.line >= 1 && e.pos.line <= lines);
            }
        }
        Err(e) => {
            let rendered = e.render("Dockerfile", &text);
            assert!(rendered.starts_with("Dockerfile"));
        }
    }
});

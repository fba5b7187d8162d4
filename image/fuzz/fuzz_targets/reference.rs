//! Any text: parsing a reference never panics, and a parsed reference prints to a full form that
//! parses back to itself. The familiar form does too, except where docker's own familiar form is
//! ambiguous: a Docker Hub path whose first component looks like a host (`docker.io/a.b/c`
//! shows as `a.b/c`, which names the registry `a.b`), which bale reproduces as docker does.
#![no_main]

use bale_image::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(text) {
        assert_eq!(Reference::parse(&r.to_string()).as_ref(), Ok(&r));
        let familiar = r.familiar();
        let first = familiar.split('/').next().unwrap_or_default();
        let looks_like_host = familiar.contains('/')
            && (first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first);
        if !(r.domain() == "docker.io" && looks_like_host) {
            assert_eq!(Reference::parse(&familiar).as_ref(), Ok(&r));
        }
    }
});

//! Layer extraction on arbitrary bytes: it may fail, but must not panic, and must never touch
//! anything outside the rootfs it extracts into.
#![no_main]

use std::fs;

use bale_builder::extract::{ExtractOptions, extract_layer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let base = tempfile::tempdir().expect("tempdir");
    let root = base.path().join("root");
    fs::create_dir(&root).expect("root");
    let sentinel = base.path().join("sentinel");
    fs::write(&sentinel, b"untouched").expect("sentinel");
    let _ = extract_layer(data, &root, &ExtractOptions { same_owner: false });
    assert_eq!(fs::read(&sentinel).expect("sentinel survives"), b"untouched");
    let names: Vec<_> = fs::read_dir(base.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "something was created beside the rootfs: {names:?}");
});

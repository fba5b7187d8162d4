//! Any bytes as an image archive: `load` never panics, and when it fails it leaves the store
//! exactly as it was (no image, no blob, no temporary file).
#![no_main]

use bale_image::Store;
use bale_image::archive::load::load;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path().join("root")).expect("store");
    if load(&store, data).is_err() {
        assert!(store.images().expect("index").is_empty());
        let blobs = std::fs::read_dir(dir.path().join("root/blobs/sha256"))
            .expect("blobs")
            .count();
        assert_eq!(blobs, 0);
    }
});

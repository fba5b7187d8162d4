//! Container IDs (64 random hex digits) and docker-style generated names (`adjective_surname`).

use std::io::Read;

const ADJECTIVES: &[&str] = &[
    "admiring",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "charming",
    "clever",
    "cool",
    "dazzling",
    "determined",
    "eager",
    "ecstatic",
    "elegant",
    "epic",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "laughing",
    "loving",
    "modest",
    "nice",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "wizardly",
    "zealous",
];

const SURNAMES: &[&str] = &[
    "albattani",
    "allen",
    "archimedes",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "fermat",
    "feynman",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "mccarthy",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
];

/// `n` random bytes from the kernel.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        // SAFETY: the buffer is writable for the remaining length.
        let r = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), n - filled, 0) };
        if r > 0 {
            filled += r as usize;
        } else if std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf[filled..]))
            .is_ok()
        {
            break;
        }
    }
    buf
}

/// A new container (or volume) ID: 64 hex digits, never all digits (docker avoids IDs that
/// could be read as numbers, so a short ID is never mistaken for one).
pub(crate) fn new_id() -> String {
    loop {
        let id: String = random_bytes(32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// A random `adjective_surname`.
pub(crate) fn random_name() -> String {
    let r = random_bytes(2);
    format!(
        "{}_{}",
        ADJECTIVES[r[0] as usize % ADJECTIVES.len()],
        SURNAMES[r[1] as usize % SURNAMES.len()]
    )
}

/// docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading `/` is dropped).
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_names_valid() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(valid_name(&random_name()));
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
    }
}

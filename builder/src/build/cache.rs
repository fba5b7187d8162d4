//! Cache keys and why they miss.
//!
//! A step's key chains (DESIGN decision 4): `key(n) = sha256(key(n-1), canonical expanded
//! instruction, build args in scope, content digest of its sources)`. A stage's first key is
//! its base's: the base image's ID, or the key of the stage it starts from. What a step
//! produced is kept in the store under its key ([`bale_image::store::CacheRecord`]).
//!
//! To say why a key missed, the parts of every key of the last build of the same Dockerfile in
//! the same context are kept in a small notes file (`bale/cache/notes/<hash>.json`); a miss
//! compares its parts with the same step's last time: the instruction, an argument, a file of
//! the context, or an earlier step changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bale_parser::Instruction;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a step's key is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyParts {
    /// The previous step's key (the base's for a stage's first step).
    pub parent: String,
    /// The expanded instruction, without positions.
    pub instruction: String,
    /// The instruction as the progress shows it, for messages.
    pub display: String,
    /// The ARGs in scope that the step sees (RUN only), and settings of the build it depends on.
    pub args: BTreeMap<String, String>,
    /// The digest of the files it reads (COPY/ADD sources, RUN bind mounts), if any.
    pub content: Option<String>,
}

impl KeyParts {
    /// The key: SHA-256 over every part, each length-prefixed so no two part lists collide.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        let mut put = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        put("bale-cache-v1");
        put(&self.parent);
        put(&self.instruction);
        for (k, v) in &self.args {
            put(k);
            put(v);
        }
        put(self.content.as_deref().unwrap_or("-"));
        hex::encode(h.finalize())
    }
}

/// A stage's first key from what it starts from (`image:<id>`, `stage:<key>`, `scratch`), its
/// platform and the ONBUILD triggers it runs.
pub fn base_key(base: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"bale-base-v1\0");
    h.update(base.as_bytes());
    hex::encode(h.finalize())
}

/// The instruction as a cache key sees it: every field after expansion, positions left out, so
/// moving an instruction to another line (or adding a comment above it) keeps its key.
pub fn canonical(ins: &Instruction) -> String {
    use std::sync::OnceLock;
    static POS: OnceLock<regex::Regex> = OnceLock::new();
    let re = POS.get_or_init(|| {
        regex::Regex::new(r"(pos: Pos \{ line: \d+, column: \d+ \}|end_line: \d+)")
            .expect("a valid pattern")
    });
    re.replace_all(&format!("{ins:?}"), "_").into_owned()
}

/// The parts of every key of a Dockerfile's last build in a context, to explain misses.
pub struct Notes {
    path: PathBuf,
    old: BTreeMap<String, KeyParts>,
    new: Mutex<BTreeMap<String, KeyParts>>,
}

impl Notes {
    /// Opens the notes of the build of `dockerfile` (a name that identifies it, such as its
    /// path) in `context`, kept under `dir`.
    pub fn open(dir: &Path, context: &Path, dockerfile: &str) -> Notes {
        let mut h = Sha256::new();
        h.update(context.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        h.update(dockerfile.as_bytes());
        let path = dir.join(format!("{}.json", hex::encode(h.finalize())));
        let old = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Notes {
            path,
            old,
            new: Mutex::new(BTreeMap::new()),
        }
    }

    /// Remembers the parts of step `id` (a name stable across builds: stage and step number).
    pub fn record(&self, id: &str, parts: &KeyParts) {
        self.new
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), parts.clone());
    }

    /// Why step `id` missed the cache with these parts. `content_change` names the source path
    /// that changed, when the content hasher knows it. The step's own changes (instruction,
    /// arguments, files) are named before a change of an earlier step.
    /// `earlier` names the first config-only instruction of the stage whose key changed, when
    /// one did: it is the reason a later step's parent key differs.
    pub fn why(
        &self,
        id: &str,
        parts: &KeyParts,
        content_change: Option<String>,
        earlier: Option<&str>,
    ) -> String {
        let Some(old) = self.old.get(id) else {
            return "cache miss: no earlier build of this step".to_string();
        };
        if old.instruction != parts.instruction {
            return if old.display != parts.display {
                format!(
                    "cache miss: the instruction changed (it was: {})",
                    old.display
                )
            } else {
                "cache miss: the instruction's expanded values changed".to_string()
            };
        }
        if old.args != parts.args {
            for (k, v) in &parts.args {
                match old.args.get(k) {
                    None => return format!("cache miss: build argument {k} was added ({k}={v})"),
                    Some(was) if was != v => {
                        return format!(
                            "cache miss: build argument {k} changed ({k}={was} became {k}={v})"
                        );
                    }
                    _ => {}
                }
            }
            if let Some(k) = old.args.keys().find(|k| !parts.args.contains_key(*k)) {
                return format!("cache miss: build argument {k} was removed");
            }
        }
        if old.content != parts.content {
            return match content_change {
                Some(c) => format!("cache miss: {c}"),
                None => "cache miss: the files it uses changed".to_string(),
            };
        }
        if old.parent != parts.parent {
            return match earlier {
                Some(e) => format!("cache miss: an earlier instruction changed: {e}"),
                None => "cache miss: an earlier step or the base image changed".to_string(),
            };
        }
        "cache miss: the cached result was pruned or the cache was bypassed".to_string()
    }

    /// Writes the notes: this build's steps, and the earlier ones this build did not reach.
    pub fn save(&self) -> std::io::Result<()> {
        {
            let new = self.new.lock().unwrap_or_else(|e| e.into_inner());
            if new.iter().all(|(k, v)| self.old.get(k) == Some(v)) && self.path.exists() {
                return Ok(());
            }
        }
        let mut all = self.old.clone();
        all.extend(
            self.new
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec(&all).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(text: &str) -> Instruction {
        let df = bale_parser::parse(text).unwrap();
        bale_parser::type_dockerfile(&df).unwrap().pop().unwrap()
    }

    #[test]
    fn keys_ignore_positions_and_chain() {
        let a = canonical(&ins("FROM x\nRUN echo hi\n"));
        let b = canonical(&ins("FROM x\n\n# moved\nRUN   echo hi\n"));
        assert_eq!(a, b);
        assert_ne!(a, canonical(&ins("FROM x\nRUN echo ho\n")));
        let p = KeyParts {
            parent: base_key("scratch"),
            instruction: a,
            ..Default::default()
        };
        let mut q = p.clone();
        q.parent = base_key("image:sha256:1");
        assert_ne!(p.key(), q.key());
        assert_eq!(p.key().len(), 64);
    }

    #[test]
    fn misses_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Path::new("/ctx");
        let notes = Notes::open(dir.path(), ctx, "Dockerfile");
        let mut p = KeyParts {
            parent: "p".into(),
            instruction: "RUN x".into(),
            display: "RUN x".into(),
            ..Default::default()
        };
        p.args.insert("V".into(), "1".into());
        assert_eq!(
            notes.why("s/1", &p, None, None),
            "cache miss: no earlier build of this step"
        );
        notes.record("s/1", &p);
        notes.save().unwrap();
        let notes = Notes::open(dir.path(), ctx, "Dockerfile");
        let mut q = p.clone();
        q.args.insert("V".into(), "2".into());
        assert_eq!(
            notes.why("s/1", &q, None, None),
            "cache miss: build argument V changed (V=1 became V=2)"
        );
        let mut q = p.clone();
        q.content = Some("sha256:x".into());
        assert_eq!(
            notes.why("s/1", &q, Some("src/a.txt changed".into()), None),
            "cache miss: src/a.txt changed"
        );
        let mut q = p.clone();
        q.display = "RUN y".into();
        q.instruction = "RUN y".into();
        assert_eq!(
            notes.why("s/1", &q, None, None),
            "cache miss: the instruction changed (it was: RUN x)"
        );
        let mut q = p.clone();
        q.parent = "other".into();
        assert_eq!(
            notes.why("s/1", &q, None, Some("ENV A=2 (line 3)")),
            "cache miss: an earlier instruction changed: ENV A=2 (line 3)"
        );
    }
}

//! A build's outputs (`build -o/--output`, buildx's grammar) and the exporters that write an
//! image from the store in each form:
//!
//! | `type=` | what is written | default `dest` |
//! | --- | --- | --- |
//! | `image` | nothing beyond the store (the image and its `name=` tags) | none allowed |
//! | `docker` | a docker archive that is also an OCI layout ([`crate::archive::save`]) | the store, as `docker load` would |
//! | `oci` | an OCI image layout as a tar | standard output |
//! | `tar` | the final root filesystem as one tar ([`crate::flatten`]) | standard output |
//! | `local` | the final root filesystem, extracted into the directory `dest` | required |
//!
//! `-o DIR` is short for `type=local,dest=DIR` and `-o -` for `type=tar,dest=-`, as buildx
//! reads them. Everything streams: layers go from the store to the output without being held
//! in memory. Writing to files and refusing a terminal are the caller's business; these
//! functions write to any `Write` or directory they are given.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::archive::save::{SaveItem, save, save_oci};
use crate::error::{Error, Result};
use crate::extract::{ExtractOptions, extract_layer};
use crate::reference::Reference;
use crate::store::{Image, Store};

pub use crate::flatten::flatten;

/// The exporter an output uses (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// The image store.
    Image,
    /// An OCI image layout tar.
    Oci,
    /// A docker archive (also an OCI layout).
    Docker,
    /// The final root filesystem as a tar.
    Tar,
    /// The final root filesystem in a directory.
    Local,
}

impl OutputKind {
    /// The name `type=` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Image => "image",
            OutputKind::Oci => "oci",
            OutputKind::Docker => "docker",
            OutputKind::Tar => "tar",
            OutputKind::Local => "local",
        }
    }

    /// The keys this type accepts besides `type`.
    fn keys(self) -> &'static [&'static str] {
        match self {
            OutputKind::Image => &["name", "push"],
            OutputKind::Oci | OutputKind::Docker => &["dest", "name", "tar"],
            OutputKind::Tar | OutputKind::Local => &["dest"],
        }
    }
}

impl fmt::Display for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (`dest=-`).
    Stdout,
    /// A file (`oci`, `docker`, `tar`) or a directory (`local`).
    Path(PathBuf),
}

/// One `-o/--output` value, parsed and checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The exporter.
    pub kind: OutputKind,
    /// `dest=`; `None` when not given (the store for `docker`, standard output for `oci` and
    /// `tar`; `local` always has one).
    pub dest: Option<Destination>,
    /// `name=`: names for the image (`image`, `oci`, `docker`), comma-separated in the value.
    /// Empty when not given: the build's `-t` tags are used.
    pub names: Vec<String>,
}

impl OutputSpec {
    /// Where the bytes of a file output go: `dest`, or standard output when absent. `None` for
    /// outputs that write no stream (`image`, `local`, and `docker` into the store).
    pub fn stream(&self) -> Option<Destination> {
        match (self.kind, &self.dest) {
            (OutputKind::Image | OutputKind::Local, _) | (OutputKind::Docker, None) => None,
            (_, Some(d)) => Some(d.clone()),
            (_, None) => Some(Destination::Stdout),
        }
    }

    /// Whether the image ends up named in the store (`type=image`, or `type=docker` without a
    /// destination, which docker loads into its image store).
    pub fn stores_image(&self) -> bool {
        matches!(
            (self.kind, &self.dest),
            (OutputKind::Image, _) | (OutputKind::Docker, None)
        )
    }
}

/// A `-o` value that does not parse; the message names the bad key or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --output {spec:?}: {reason}")]
pub struct OutputSpecError {
    /// The value as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Splits a CSV record as Go's encoding/csv does for one line: commas separate fields, a field
/// that starts with `"` runs to the closing quote, and `""` inside it is one quote.
fn csv_fields(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field has no closing quote".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => return Err(format!("unexpected {c:?} after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some(c) => field.push(c),
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                }
            }
        }
        fields.push(field);
    }
}

/// Go's `strconv.ParseBool`, which buildx uses for boolean attributes.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl FromStr for OutputSpec {
    type Err = OutputSpecError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let err = |reason: String| OutputSpecError {
            spec: s.to_string(),
            reason,
        };
        let fields = csv_fields(s).map_err(err)?;
        // buildx: one plain field that is not `type=...` is a directory, or stdout for `-`.
        if fields.len() == 1 && fields[0] == s && !s.starts_with("type=") {
            if s.is_empty() {
                return Err(err("empty value: give DIR, - or type=TYPE,...".into()));
            }
            return Ok(if s == "-" {
                OutputSpec {
                    kind: OutputKind::Tar,
                    dest: Some(Destination::Stdout),
                    names: Vec::new(),
                }
            } else {
                OutputSpec {
                    kind: OutputKind::Local,
                    dest: Some(Destination::Path(PathBuf::from(s))),
                    names: Vec::new(),
                }
            });
        }
        let mut kind = None;
        let mut attrs: Vec<(String, String)> = Vec::new();
        for field in &fields {
            let Some((k, v)) = field.split_once('=') else {
                return Err(err(format!("{field:?} is not KEY=VALUE")));
            };
            let k = k.trim().to_ascii_lowercase();
            if k == "type" {
                kind = Some(match v {
                    "image" => OutputKind::Image,
                    "oci" => OutputKind::Oci,
                    "docker" => OutputKind::Docker,
                    "tar" => OutputKind::Tar,
                    "local" => OutputKind::Local,
                    "registry" => {
                        return Err(err(
                            "type=registry (push) is not supported: build, then run `bale push NAME`"
                                .into(),
                        ));
                    }
                    other => {
                        return Err(err(format!(
                            "unknown type {other:?}: use image, oci, docker, tar or local"
                        )));
                    }
                });
            } else {
                attrs.push((k, v.to_string()));
            }
        }
        let kind = kind.ok_or_else(|| err("type is required for output".into()))?;
        let mut spec = OutputSpec {
            kind,
            dest: None,
            names: Vec::new(),
        };
        for (k, v) in attrs {
            if !kind.keys().contains(&k.as_str()) {
                return Err(err(format!(
                    "unknown key {k:?} for type={kind} (it takes {})",
                    kind.keys().join(", ")
                )));
            }
            match k.as_str() {
                "dest" => {
                    if v.is_empty() {
                        return Err(err("dest is empty".into()));
                    }
                    spec.dest = Some(if v == "-" {
                        Destination::Stdout
                    } else {
                        Destination::Path(PathBuf::from(v))
                    });
                }
                "name" => {
                    for n in v.split(',').filter(|n| !n.is_empty()) {
                        Reference::parse(n).map_err(|e| {
                            err(format!("name {n:?} is not a valid reference: {e}"))
                        })?;
                        spec.names.push(n.to_string());
                    }
                }
                "push" => match parse_bool(&v) {
                    Some(false) => {}
                    Some(true) => {
                        return Err(err(
                            "push=true is not supported: build, then run `bale push NAME`".into(),
                        ));
                    }
                    None => return Err(err(format!("push={v:?} is not a boolean"))),
                },
                "tar" => match parse_bool(&v) {
                    Some(true) => {}
                    Some(false) => {
                        return Err(err(format!(
                            "tar=false is not supported for type={kind}: it always writes a tar"
                        )));
                    }
                    None => return Err(err(format!("tar={v:?} is not a boolean"))),
                },
                _ => unreachable!("keys() lists only the keys handled here"),
            }
        }
        if kind == OutputKind::Local && spec.dest.is_none() {
            return Err(err("type=local needs dest=DIR".into()));
        }
        if kind == OutputKind::Local && spec.dest == Some(Destination::Stdout) {
            return Err(err(
                "type=local writes a directory; use type=tar for standard output".into(),
            ));
        }
        Ok(spec)
    }
}

/// The names an exported archive records: `name=` when given, else the image's own.
fn archive_item(image: &Image, names: &[String]) -> Result<SaveItem> {
    let names = if names.is_empty() {
        image.names.clone()
    } else {
        names
            .iter()
            .map(|n| Reference::parse_tagged(n).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?
    };
    Ok(SaveItem {
        image: image.clone(),
        names,
    })
}

/// Writes `image` as an OCI layout tar, naming it `names` (its own names when empty).
pub fn export_oci(store: &Store, image: &Image, names: &[String], out: impl Write) -> Result<()> {
    save_oci(store, &[archive_item(image, names)?], out)
}

/// Writes `image` as a docker archive (that is also an OCI layout), as `bale save` does.
pub fn export_docker(
    store: &Store,
    image: &Image,
    names: &[String],
    out: impl Write,
) -> Result<()> {
    save(store, &[archive_item(image, names)?], out)
}

/// Writes the final root filesystem of `image` as one tar: [`flatten`].
pub fn export_tar(store: &Store, image: &Image, out: impl Write) -> Result<()> {
    flatten(store, image, out)
}

/// Writes the final root filesystem of `image` into `dir` (created when missing): the
/// flattened tar is streamed through a pipe into the layer extractor, so owners (when root),
/// modes, links, times and extended attributes are kept and nothing lands outside `dir`.
pub fn export_local(store: &Store, image: &Image, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let (reader, writer) =
        std::io::pipe().map_err(|e| Error::io("creating a pipe".to_string(), e))?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let out = std::io::BufWriter::with_capacity(1 << 20, writer);
            flatten(store, image, out)
        });
        let extracted = extract_layer(
            std::io::BufReader::with_capacity(1 << 20, reader),
            dir,
            &ExtractOptions::default(),
        );
        let produced = producer
            .join()
            .expect("the flattening thread does not panic");
        match (produced, extracted) {
            // A failed read of the store is the cause; the extractor only saw the pipe close.
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(Error::invalid(
                format!("writing the rootfs into {}", dir.display()),
                e.to_string(),
            )),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> OutputSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn fail(s: &str) -> String {
        s.parse::<OutputSpec>().unwrap_err().to_string()
    }

    fn path(p: &str) -> Option<Destination> {
        Some(Destination::Path(PathBuf::from(p)))
    }

    #[test]
    fn shorthands_are_buildx_ones() {
        assert_eq!(
            parse("out"),
            OutputSpec {
                kind: OutputKind::Local,
                dest: path("out"),
                names: vec![]
            }
        );
        assert_eq!(
            parse("-"),
            OutputSpec {
                kind: OutputKind::Tar,
                dest: Some(Destination::Stdout),
                names: vec![]
            }
        );
        // A single field that is not `type=` is a directory, even with `=` in it.
        assert_eq!(parse("dest=x").dest, path("dest=x"));
    }

    #[test]
    fn every_type_parses_with_its_keys() {
        assert_eq!(
            parse("type=oci,dest=img.tar,name=app:1.0"),
            OutputSpec {
                kind: OutputKind::Oci,
                dest: path("img.tar"),
                names: vec!["app:1.0".into()]
            }
        );
        let d = parse("type=docker,\"name=a:1,b:2\"");
        assert_eq!(d.names, ["a:1", "b:2"]);
        assert_eq!(d.dest, None);
        assert!(d.stores_image());
        assert_eq!(d.stream(), None);
        let t = parse("type=tar");
        assert_eq!(t.stream(), Some(Destination::Stdout));
        assert_eq!(parse("type=tar,dest=-").dest, Some(Destination::Stdout));
        assert_eq!(parse("type=local,dest=/tmp/r").dest, path("/tmp/r"));
        let i = parse("type=image,name=x:1,push=false");
        assert!(i.stores_image());
        assert_eq!(i.stream(), None);
        assert_eq!(parse(" TYPE=oci,Dest=o.tar").dest, path("o.tar"));
        assert_eq!(parse("type=oci,tar=true").kind, OutputKind::Oci);
    }

    #[test]
    fn errors_name_the_bad_key_or_value() {
        assert_eq!(
            fail("type=tar,name=x"),
            "invalid --output \"type=tar,name=x\": unknown key \"name\" for type=tar (it takes dest)"
        );
        assert!(fail("type=image,dest=x").contains("unknown key \"dest\" for type=image"));
        assert!(fail("type=oci,compression=zstd").contains("\"compression\""));
        assert!(fail("type=zip").contains("unknown type \"zip\""));
        assert!(fail("dest=a,name=b").contains("type is required"));
        assert!(fail("type=oci,dest").contains("\"dest\" is not KEY=VALUE"));
        assert!(fail("type=local").contains("needs dest=DIR"));
        assert!(fail("type=local,dest=-").contains("use type=tar"));
        assert!(fail("type=image,push=true").contains("bale push"));
        assert!(fail("type=image,push=maybe").contains("not a boolean"));
        assert!(fail("type=registry").contains("bale push"));
        assert!(fail("type=oci,tar=false").contains("tar=false"));
        assert!(fail("type=oci,name=UPPER:x").contains("name \"UPPER:x\""));
        assert!(fail("type=oci,\"dest=x").contains("closing quote"));
        assert!(fail("").contains("empty"));
    }

    #[test]
    fn csv_follows_go() {
        assert_eq!(csv_fields("a,b").unwrap(), ["a", "b"]);
        assert_eq!(csv_fields("\"a,\"\"b\"\"\",c").unwrap(), ["a,\"b\"", "c"]);
        assert_eq!(csv_fields("a,").unwrap(), ["a", ""]);
    }
}

//! The store's `index.json`: which manifests are images and which names point at them.
//!
//! Each tag is an index entry whose `org.opencontainers.image.ref.name` holds the full normalised
//! reference (`docker.io/library/busybox:latest`). skopeo (`oci:ROOT:NAME`) and umoci
//! (`--image ROOT:NAME`) look a name up by exact string match, so every tag gets further entries
//! for the other spellings a user types, marked with [`ANNOTATION_ALIAS`]: the familiar form
//! (`busybox:latest`) and, for `latest`, the bare repository (`busybox`). An image with no tag (dangling)
//! keeps one entry with no ref name, which the layout allows.

use std::collections::HashMap;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::digest::Digest;
use crate::reference::Reference;

/// The OCI annotation that names an index entry.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Marks an entry that only repeats another entry's name in familiar form.
pub const ANNOTATION_ALIAS: &str = "io.bale.ref.alias";

/// The index of the store, being read or edited under [`super::Store::update`].
#[derive(Debug, Clone)]
pub struct StoreIndex {
    index: ImageIndex,
    list: Vec<Descriptor>,
    dirty: bool,
    tagged: Vec<Digest>,
}

/// One manifest in the index with every name pointing at it.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its descriptor (media type, size), without names.
    pub descriptor: Descriptor,
    /// Its names, full and normalised, sorted.
    pub names: Vec<Reference>,
}

impl IndexEntry {
    /// A name for messages.
    pub fn display_name(&self) -> String {
        self.names
            .first()
            .map_or_else(|| self.digest.to_string(), Reference::familiar)
    }
}

impl StoreIndex {
    pub(super) fn parse(bytes: &[u8]) -> Result<StoreIndex, String> {
        let mut index: ImageIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        for d in index.manifests() {
            Digest::try_from(d.digest()).map_err(|e| e.to_string())?;
        }
        // The entries live in `list` alone; `index` keeps the document's other fields.
        let list = index.manifests().clone();
        index.set_manifests(Vec::new());
        Ok(StoreIndex {
            list,
            index,
            dirty: false,
            tagged: Vec::new(),
        })
    }

    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut index = self.index.clone();
        index.set_manifests(self.list.clone());
        serde_json::to_vec(&index).expect("an index always encodes")
    }

    pub(super) fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub(super) fn tagged(&self) -> &[Digest] {
        &self.tagged
    }

    /// The index's entries as OCI descriptors, names included.
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.list
    }

    /// Every manifest in the index, in the order first listed, with its names.
    pub fn entries(&self) -> Vec<IndexEntry> {
        let mut order: Vec<Digest> = Vec::new();
        let mut by_digest: HashMap<Digest, IndexEntry> = HashMap::new();
        for d in &self.list {
            let digest = digest_of(d);
            let entry = by_digest.entry(digest.clone()).or_insert_with(|| {
                order.push(digest.clone());
                IndexEntry {
                    digest: digest.clone(),
                    descriptor: unnamed(d),
                    names: Vec::new(),
                }
            });
            if let Some(name) = canonical_name(d)
                && !entry.names.contains(&name)
            {
                entry.names.push(name);
            }
        }
        order
            .into_iter()
            .map(|d| {
                let mut e = by_digest.remove(&d).expect("listed");
                e.names.sort();
                e
            })
            .collect()
    }

    /// The entry for a manifest digest.
    pub fn entry(&self, manifest: &Digest) -> Option<IndexEntry> {
        self.entries().into_iter().find(|e| &e.digest == manifest)
    }

    /// The manifest a name points at.
    pub fn lookup(&self, reference: &Reference) -> Option<Digest> {
        self.list
            .iter()
            .find(|d| canonical_name(d).as_ref() == Some(reference))
            .map(digest_of)
    }

    /// Points `reference` at `manifest`. Returns the manifest it pointed at before, if another.
    pub fn set_tag(&mut self, reference: &Reference, manifest: &Descriptor) -> Option<Digest> {
        let target = digest_of(manifest);
        let previous = self.remove_tag(reference);
        let list = &mut self.list;
        // The image is tagged now: its dangling entry, if any, goes.
        list.retain(|d| !(digest_of(d) == target && ref_name(d).is_none()));
        list.push(named(manifest, &reference.to_string(), false));
        for alias in aliases(reference) {
            list.push(named(manifest, &alias, true));
        }
        self.dirty = true;
        self.tagged.push(target.clone());
        previous.filter(|p| p != &target)
    }

    /// Removes the name `reference`. Returns the manifest it pointed at; that manifest stays in
    /// the index, as dangling when this was its last name.
    pub fn remove_tag(&mut self, reference: &Reference) -> Option<Digest> {
        let target = self.lookup(reference)?;
        let aliases = aliases(reference);
        let list = &mut self.list;
        let first = list
            .iter()
            .position(|d| canonical_name(d).as_ref() == Some(reference))
            .expect("looked up");
        let keep_descriptor = unnamed(&list[first]);
        list.retain(|d| {
            let is_name = canonical_name(d).as_ref() == Some(reference);
            let is_alias =
                is_alias(d) && ref_name(d).is_some_and(|n| aliases.iter().any(|a| a == n));
            !(digest_of(d) == target && (is_name || is_alias))
        });
        if !list.iter().any(|d| digest_of(d) == target) {
            list.push(keep_descriptor);
        }
        self.dirty = true;
        Some(target)
    }

    /// Adds `manifest` as a dangling image unless the index already lists it.
    pub fn add_untagged(&mut self, manifest: &Descriptor) {
        let target = digest_of(manifest);
        let list = &mut self.list;
        if !list.iter().any(|d| digest_of(d) == target) {
            list.push(unnamed(manifest));
            self.dirty = true;
        }
    }

    /// Removes a manifest and every name pointing at it. Returns the names removed.
    pub fn remove_manifest(&mut self, manifest: &Digest) -> Vec<Reference> {
        let names = self.entry(manifest).map(|e| e.names).unwrap_or_default();
        let list = &mut self.list;
        let before = list.len();
        list.retain(|d| &digest_of(d) != manifest);
        self.dirty |= list.len() != before;
        names
    }
}

/// The other spellings of a name users type to skopeo and umoci: the familiar form
/// (`busybox:latest`) and, for `latest`, the bare repository (`busybox`), when they differ from
/// the full form.
fn aliases(reference: &Reference) -> Vec<String> {
    let full = reference.to_string();
    let mut out = vec![reference.familiar()];
    if reference.tag() == Some(crate::reference::DEFAULT_TAG) && reference.digest().is_none() {
        out.push(reference.familiar_repository());
    }
    out.retain(|a| *a != full);
    out
}

fn digest_of(d: &Descriptor) -> Digest {
    Digest::try_from(d.digest()).expect("index digests are checked when the index is read")
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

fn is_alias(d: &Descriptor) -> bool {
    d.annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_ALIAS))
}

/// The name an entry gives its manifest: its ref name, normalised, unless it is an alias. Entries
/// written by other tools (`skopeo copy ... oci:ROOT:app:1`) count too.
fn canonical_name(d: &Descriptor) -> Option<Reference> {
    if is_alias(d) {
        return None;
    }
    let name = ref_name(d)?;
    Reference::parse_tagged(name)
        .ok()
        .filter(|r| r.tag().is_some())
}

fn unnamed(d: &Descriptor) -> Descriptor {
    let mut out = d.clone();
    let mut annotations = out.annotations().clone().unwrap_or_default();
    annotations.remove(ANNOTATION_REF_NAME);
    annotations.remove(ANNOTATION_ALIAS);
    out.set_annotations((!annotations.is_empty()).then_some(annotations));
    out
}

fn named(d: &Descriptor, name: &str, alias: bool) -> Descriptor {
    let mut out = unnamed(d);
    let mut annotations = out.annotations().clone().unwrap_or_default();
    annotations.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
    if alias {
        annotations.insert(ANNOTATION_ALIAS.to_string(), "true".to_string());
    }
    out.set_annotations(Some(annotations));
    out
}

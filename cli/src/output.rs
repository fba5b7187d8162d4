//! `bale build -o/--output`: checks the outputs a build was given before it starts, and writes
//! the built image to them once it is done. The formats themselves are
//! [`bale_image::export`]'s; this module decides where bytes go (a file written beside its
//! destination and renamed into place, standard output, a directory, the store's names).

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use bale_image::export::{
    Destination, OutputKind, OutputSpec, export_docker, export_local, export_oci, export_tar,
};
use bale_image::{Image, Reference, Store};

/// Refuses what docker refuses before any work is done: more than one output, and an archive
/// bound for standard output when that is a terminal.
pub fn check(outputs: &[OutputSpec]) -> anyhow::Result<()> {
    check_with(outputs, io::stdout().is_terminal())
}

fn check_with(outputs: &[OutputSpec], stdout_is_terminal: bool) -> anyhow::Result<()> {
    if outputs.len() > 1 {
        bail!("multiple outputs are not supported: give a single -o/--output");
    }
    for o in outputs {
        if o.stream() == Some(Destination::Stdout) && stdout_is_terminal {
            bail!(
                "dest file is required for {} exporter. refusing to write to console",
                o.kind
            );
        }
    }
    Ok(())
}

/// Writes `image` to every output: names it in the store (`type=image`, and `type=docker`
/// without `dest`), or writes the archive or root filesystem where `dest` says.
pub fn export(store: &Store, image: &Image, outputs: &[OutputSpec]) -> anyhow::Result<()> {
    for o in outputs {
        export_one(store, image, o).with_context(|| format!("exporting to type={}", o.kind))?;
    }
    Ok(())
}

fn export_one(store: &Store, image: &Image, o: &OutputSpec) -> anyhow::Result<()> {
    if o.stores_image() {
        for n in &o.names {
            let r = Reference::parse_tagged(n).with_context(|| format!("name {n:?}"))?;
            store.tag(image, &r)?;
        }
        return Ok(());
    }
    if o.kind == OutputKind::Local {
        let Some(Destination::Path(dir)) = &o.dest else {
            bail!("type=local needs dest=DIR");
        };
        export_local(store, image, dir)?;
        return Ok(());
    }
    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        match o.kind {
            OutputKind::Oci => export_oci(store, image, &o.names, out)?,
            OutputKind::Docker => export_docker(store, image, &o.names, out)?,
            OutputKind::Tar => export_tar(store, image, out)?,
            OutputKind::Image | OutputKind::Local => unreachable!("handled above"),
        }
        Ok(())
    };
    match o.stream() {
        Some(Destination::Path(path)) => write_file(&path, write),
        _ => {
            let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
            write(&mut out)?;
            out.flush().context("writing to stdout")?;
            Ok(())
        }
    }
}

/// Writes `path` whole or not at all: into a temporary file beside it, synced, then renamed.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("invalid output file {}", path.display()))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| -> anyhow::Result<()> {
        let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", temp.display()))?;
        file.sync_all()
            .with_context(|| format!("syncing {}", temp.display()))?;
        fs::rename(&temp, path)
            .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use bale_image::{ImageConfig, manifest};

    use super::*;

    fn spec(s: &str) -> OutputSpec {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let e = check_with(&[spec("type=tar,dest=a"), spec("b")], false).unwrap_err();
        assert!(e.to_string().contains("multiple outputs"), "{e}");
        let e = check_with(&[spec("type=oci")], true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dest file is required for oci exporter. refusing to write to console"
        );
        check_with(&[spec("-")], false).unwrap();
        check_with(&[spec("type=docker")], true).unwrap();
        check_with(&[spec("type=tar,dest=x.tar")], true).unwrap();
        check_with(&[], true).unwrap();
    }

    /// A one-layer image holding `hello`, named `hello:1.0`.
    fn image(store: &Store) -> Image {
        let lease = store.lease().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_mode(0o640);
        tar.append_data(&mut h, "hello", &b"hello\n"[..]).unwrap();
        let layer = tar.into_inner().unwrap();
        let diff_id = lease.put_blob(&layer, None).unwrap();
        let mut config = ImageConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..ImageConfig::default()
        };
        config.rootfs.diff_ids.push(diff_id.clone());
        let bytes = config.to_vec();
        let config_digest = lease.put_blob(&bytes, None).unwrap();
        let m = manifest::build(
            (&config_digest, bytes.len() as u64),
            &[(diff_id, layer.len() as u64)],
        );
        lease
            .commit_image(&m, &[Reference::parse_tagged("hello:1.0").unwrap()])
            .unwrap()
    }

    #[test]
    fn writes_files_directories_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let img = image(&store);

        let rootfs = dir.path().join("rootfs.tar");
        export(
            &store,
            &img,
            &[spec(&format!("type=tar,dest={}", rootfs.display()))],
        )
        .unwrap();
        let mut a = tar::Archive::new(File::open(&rootfs).unwrap());
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap(), Path::new("hello"));
        let mut text = String::new();
        e.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello\n");
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);

        let local = dir.path().join("local");
        export(&store, &img, &[spec(local.to_str().unwrap())]).unwrap();
        assert_eq!(fs::read(local.join("hello")).unwrap(), b"hello\n");

        export(&store, &img, &[spec("type=image,name=again:2")]).unwrap();
        assert_eq!(store.resolve("again:2").unwrap().id, img.id);

        let missing = dir.path().join("no/such/dir/x.tar");
        let e = export(
            &store,
            &img,
            &[spec(&format!("type=oci,dest={}", missing.display()))],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("no/such/dir"), "{e:#}");
    }
}

//! COPY and ADD through the build: context files with `.dockerignore`, `--chown` names from the
//! image's `/etc/passwd`, `--chmod`, wildcards, heredocs, `--from` a stage and an image, and
//! ADD of a local archive; each image run with podman.

use crate::build_util::{BuildEnv, assert_all_cached};

#[test]
fn copy_and_add_land_as_docker_puts_them() {
    let Some(b) = BuildEnv::new() else { return };
    let ctx = b.write_context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox:local AS gen\n\
                 RUN mkdir -p /out && echo generated > /out/gen.txt\n\
                 FROM busybox:local\n\
                 COPY --chown=app:app --chmod=640 app/ /srv/app/\n\
                 COPY *.conf /etc/demo/\n\
                 COPY --from=gen /out/gen.txt /srv/\n\
                 COPY --from=busybox:local /etc/group /srv/group-from-image\n\
                 COPY <<EOF /srv/inline.txt\n\
                 inline $HOSTNAME-less\n\
                 EOF\n\
                 ADD bundle.tar /srv/unpacked/\n\
                 CMD [\"sh\", \"-c\", \"cd /srv && stat -c '%U:%G %a %n' app/main.sh && cat app/main.sh gen.txt inline.txt unpacked/inside.txt && ls /etc/demo && head -1 group-from-image && ls app\"]\n",
            ),
            ("app/main.sh", "echo main\n"),
            ("app/secret.key", "never copied\n"),
            ("a.conf", "a\n"),
            ("b.conf", "b\n"),
            (".dockerignore", "app/*.key\n"),
        ],
    );
    {
        let mut t = tar::Builder::new(std::fs::File::create(ctx.join("bundle.tar")).unwrap());
        let body = "from the archive\n";
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        t.append_data(&mut h, "inside.txt", body.as_bytes())
            .unwrap();
        t.finish().unwrap();
    }
    let (id, _) = b.build(&ctx, &["-t", "copies:1"]);
    let (again, progress) = b.build(&ctx, &["-t", "copies:1"]);
    assert_eq!(again, id);
    assert_all_cached(&progress);
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(
            out,
            "app:app 640 app/main.sh\necho main\ngenerated\ninline -less\nfrom the archive\na.conf\nb.conf\nroot:x:0:\nmain.sh\n"
        );
    }
}

#[test]
fn add_fetches_urls_with_mode_600_and_checks_checksums() {
    let Some(b) = BuildEnv::new() else { return };
    let body = b"downloaded over http\n".to_vec();
    let served = body.clone();
    let server = crate::registry_util::FakeServer::start(move |req| {
        if req.target == "/files/data.txt" {
            (
                200,
                vec![("Content-Type".into(), "text/plain".into())],
                served.clone(),
            )
        } else {
            (404, Vec::new(), b"not found".to_vec())
        }
    });
    let sum = crate::registry_util::sha256(&body);
    let ctx = b.write_context(
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox:local\n\
                 ADD http://{addr}/files/data.txt /srv/\n\
                 ADD --checksum={sum} http://{addr}/files/data.txt /srv/pinned.txt\n\
                 CMD [\"sh\", \"-c\", \"stat -c '%a %n' /srv/data.txt /srv/pinned.txt && cat /srv/data.txt\"]\n",
                addr = server.addr
            ),
        )],
    );
    let (id, _) = b.build(&ctx, &[]);
    if let Some(out) = b.podman_run(&id, &[]) {
        assert_eq!(
            out,
            "600 /srv/data.txt\n600 /srv/pinned.txt\ndownloaded over http\n"
        );
    }
    let bad = b.write_context(
        "bad",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox:local\nADD --checksum=sha256:{} http://{}/files/data.txt /srv/x\n",
                "0".repeat(64),
                server.addr
            ),
        )],
    );
    let err = b.build_fails(&bad, &[]);
    assert!(err.contains("Dockerfile:2:1: "), "{err}");
    assert!(err.to_lowercase().contains("checksum"), "{err}");
}

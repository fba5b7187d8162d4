//! Parses and types a generated 5,000-line multi-stage Dockerfile that uses every instruction,
//! flags, continuations and heredocs. Target: under 5 ms per file.

use criterion::{Criterion, criterion_group, criterion_main};

/// A Dockerfile of at least `lines` lines, built from stages that use every instruction kind.
fn generate(lines: usize) -> String {
    let mut s =
        String::from("# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\nARG VERSION=1.0\n");
    let mut stage = 0;
    while s.lines().count() < lines {
        s.push_str(&format!(
            concat!(
                "FROM --platform=$BUILDPLATFORM ${{BASE}} AS stage{n}\n",
                "LABEL org.opencontainers.image.title=\"stage {n}\" version=$VERSION\n",
                "MAINTAINER someone <someone@example.com>\n",
                "ENV PATH=/usr/local/bin:$PATH \\\n    HOME=/home/app \\\n    N={n}\n",
                "ARG TARGETOS TARGETARCH CGO_ENABLED=0\n",
                "WORKDIR /src/{n}\n",
                "USER 1000:1000\n",
                "SHELL [\"/bin/sh\", \"-ec\"]\n",
                "RUN --mount=type=cache,target=/root/.cache,id=c{n},sharing=locked \\\n",
                "    --mount=type=secret,id=token,env=TOKEN,required \\\n",
                "    --network=none --security=sandbox \\\n",
                "    apk add --no-cache git make && \\\n",
                "    make -j4 build\n",
                "RUN <<EOF\nset -e\necho building {n}\nls -la /src\nEOF\n",
                "RUN [\"/bin/echo\", \"exec\", \"form\"]\n",
                "COPY --from=stage0 --chown=1000:1000 --chmod=u+x,g-w --link --exclude=*.md --exclude=.git /out /app/\n",
                "COPY --parents --chmod=0755 a/ b/ c/ /dst/\n",
                "COPY <<EOF /etc/config.ini\n[main]\nname={n}\nEOF\n",
                "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d --keep-git-dir=true https://example.com/x.git /x\n",
                "ADD [\"a.tar.gz\", \"/opt/\"]\n",
                "EXPOSE 80 443/tcp 53/udp 8000-8010\n",
                "VOLUME [\"/data\", \"/logs\"]\n",
                "STOPSIGNAL SIGTERM\n",
                "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=1s --retries=3 \\\n",
                "    CMD wget -q -O- http://localhost/ || exit 1\n",
                "ONBUILD RUN echo triggered {n}\n",
                "ONBUILD COPY . /src\n",
                "ENTRYPOINT [\"/app/run\"]\n",
                "CMD [\"--serve\", \"--port=80\"]\n",
                "\n",
            ),
            n = stage
        ));
        stage += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = generate(5_000);
    let lines = text.lines().count();
    let df = bale_parser::parse(&text).expect("the generated Dockerfile parses");
    let typed = bale_parser::type_dockerfile(&df).expect("and types");
    bale_parser::stages(&typed).expect("and groups into stages");
    c.bench_function(&format!("parse and type {lines} lines"), |b| {
        b.iter(|| {
            let df = bale_parser::parse(std::hint::black_box(&text)).expect("parses");
            bale_parser::type_dockerfile(&df).expect("types")
        })
    });
    c.bench_function(&format!("type {lines} lines (already parsed)"), |b| {
        b.iter(|| bale_parser::type_dockerfile(std::hint::black_box(&df)).expect("types"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

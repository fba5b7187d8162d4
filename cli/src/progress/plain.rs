//! `--progress plain`: BuildKit's plain printer. Every line starts with its step number, so
//! steps of parallel stages can interleave and still be read apart:
//!
//! ```text
//! #1 [internal] load build definition from Dockerfile
//! #1 DONE 0.0s
//!
//! #5 [build 2/3] RUN make
//! #5 cache miss: src/main.c changed
//! #5 0.215 cc -o app main.c
//! #5 ...
//!
//! #6 [2/2] COPY . /src
//! #6 CACHED
//!
//! #5 [build 2/3] RUN make
//! #5 1.734 done
//! #5 DONE 1.8s
//! ```
//!
//! A blank line comes before each step's header. When another step's event arrives while a
//! step is still running, that step gets `#N ...` and its header is printed again when it
//! comes back, as BuildKit does. Output lines carry the seconds since the step started; a
//! line that arrived in pieces is printed whole again after an interruption.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use bale_builder::progress::{Event, Progress};

use super::{Renderer, log_time};

/// The plain printer; see the module documentation for its output.
pub struct PlainRenderer {
    state: Mutex<State>,
}

struct Vertex {
    name: String,
    /// The unfinished last output line as printed so far, prefix included.
    partial: Option<Vec<u8>>,
}

struct State {
    out: Box<dyn Write + Send>,
    /// What one event prints, written in one call when the event is done.
    pending: Vec<u8>,
    vertices: HashMap<usize, Vertex>,
    /// The step whose lines were printed last, while it is still running.
    current: Option<usize>,
    not_first: bool,
    finished: bool,
}

impl PlainRenderer {
    /// A printer writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> PlainRenderer {
        PlainRenderer {
            state: Mutex::new(State {
                out,
                pending: Vec::new(),
                vertices: HashMap::new(),
                current: None,
                not_first: false,
                finished: false,
            }),
        }
    }
}

// Write errors are ignored throughout: progress text that cannot be shown (a closed pipe) must
// not fail the build.
impl State {
    fn write(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    fn flush(&mut self) {
        let _ = self.out.write_all(&self.pending);
        let _ = self.out.flush();
        self.pending.clear();
    }

    fn vertex(&mut self, id: usize) -> &mut Vertex {
        self.vertices.entry(id).or_insert_with(|| Vertex {
            name: String::new(),
            partial: None,
        })
    }

    /// Makes `id` the step being printed: closes the previous one's block with `#N ...` and
    /// prints `id`'s header (and its unfinished line) after a blank line.
    fn switch_to(&mut self, id: usize) {
        if self.current == Some(id) {
            return;
        }
        if let Some(old) = self.current.take() {
            if self.vertex(old).partial.is_some() {
                self.write(b"\n");
            }
            self.write(format!("#{old} ...\n").as_bytes());
        }
        if self.not_first {
            self.write(b"\n");
        }
        self.not_first = true;
        let v = self.vertex(id);
        let header = format!("#{id} {}\n", v.name);
        let partial = v.partial.clone();
        self.write(header.as_bytes());
        if let Some(p) = partial {
            self.write(&p);
        }
        self.current = Some(id);
    }

    /// Ends an unfinished output line of `id` before a line of another kind.
    fn end_partial(&mut self, id: usize) {
        if self.vertex(id).partial.take().is_some() {
            self.write(b"\n");
        }
    }

    fn line(&mut self, id: usize, text: &str) {
        self.switch_to(id);
        self.end_partial(id);
        self.write(format!("#{id} {text}\n").as_bytes());
    }

    /// A final line (`CACHED`, `DONE`, `ERROR`): the step's block is over.
    fn last_line(&mut self, id: usize, text: &str) {
        self.line(id, text);
        self.current = None;
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Start { id, name } => {
                self.vertex(id).name = name;
                self.switch_to(id);
            }
            Event::Status { id, message } => {
                for l in message.lines() {
                    self.line(id, l);
                }
            }
            Event::Output {
                id, elapsed, data, ..
            } => {
                self.switch_to(id);
                for piece in data.split_inclusive(|&b| b == b'\n') {
                    let (text, ends) = match piece.strip_suffix(b"\n") {
                        Some(t) => (t, true),
                        None => (piece, false),
                    };
                    let mut line = match self.vertex(id).partial.take() {
                        Some(p) => {
                            self.write(text);
                            p
                        }
                        None => {
                            let prefix = format!("#{id} {} ", log_time(elapsed));
                            self.write(prefix.as_bytes());
                            self.write(text);
                            prefix.into_bytes()
                        }
                    };
                    line.extend_from_slice(text);
                    if ends {
                        self.write(b"\n");
                    } else {
                        self.vertex(id).partial = Some(line);
                    }
                }
            }
            Event::Cached { id } => self.last_line(id, "CACHED"),
            Event::Done { id, elapsed } => {
                self.last_line(id, &format!("DONE {:.1}s", elapsed.as_secs_f64()))
            }
            Event::Error { id, message } => self.last_line(id, &format!("ERROR: {message}")),
        }
        self.flush();
    }
}

impl Progress for PlainRenderer {
    fn event(&self, event: Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.finished {
            state.event(event);
        }
    }
}

impl Renderer for PlainRenderer {
    fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.finished {
            return;
        }
        state.finished = true;
        if let Some(id) = state.current {
            state.end_partial(id);
        }
        state.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bale_builder::progress::Stream;

    use super::*;

    /// A `Write` whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn render(events: Vec<Event>) -> String {
        let out = Shared::default();
        let r = PlainRenderer::new(Box::new(out.clone()));
        for e in events {
            r.event(e);
        }
        r.finish();
        r.finish();
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn start(id: usize, name: &str) -> Event {
        Event::Start {
            id,
            name: name.into(),
        }
    }

    fn out(id: usize, ms: u64, data: &str) -> Event {
        Event::Output {
            id,
            stream: Stream::Stdout,
            elapsed: Duration::from_millis(ms),
            data: data.as_bytes().to_vec(),
        }
    }

    fn done(id: usize, ms: u64) -> Event {
        Event::Done {
            id,
            elapsed: Duration::from_millis(ms),
        }
    }

    fn status(id: usize, message: &str) -> Event {
        Event::Status {
            id,
            message: message.into(),
        }
    }

    #[test]
    fn sequential_build_reads_like_buildkit() {
        let text = render(vec![
            start(1, "[internal] load build definition from Dockerfile"),
            status(1, "transferring dockerfile: 96B done"),
            done(1, 12),
            start(2, "[1/3] FROM docker.io/library/busybox:latest"),
            Event::Cached { id: 2 },
            start(3, "[2/3] RUN echo hello && echo world >&2"),
            status(3, "cache miss: build arg VERSION changed"),
            out(3, 215, "hello\n"),
            Event::Output {
                id: 3,
                stream: Stream::Stderr,
                elapsed: Duration::from_millis(1234),
                data: b"world\n".to_vec(),
            },
            done(3, 1260),
            start(4, "[3/3] COPY app /app"),
            Event::Cached { id: 4 },
            start(5, "exporting to image"),
            status(5, "writing image sha256:0123abcd done"),
            done(5, 50),
        ]);
        assert_eq!(
            text,
            "#1 [internal] load build definition from Dockerfile\n\
             #1 transferring dockerfile: 96B done\n\
             #1 DONE 0.0s\n\
             \n\
             #2 [1/3] FROM docker.io/library/busybox:latest\n\
             #2 CACHED\n\
             \n\
             #3 [2/3] RUN echo hello && echo world >&2\n\
             #3 cache miss: build arg VERSION changed\n\
             #3 0.215 hello\n\
             #3 1.234 world\n\
             #3 DONE 1.3s\n\
             \n\
             #4 [3/3] COPY app /app\n\
             #4 CACHED\n\
             \n\
             #5 exporting to image\n\
             #5 writing image sha256:0123abcd done\n\
             #5 DONE 0.1s\n"
        );
    }

    #[test]
    fn parallel_stages_interleave_with_prefixes() {
        let text = render(vec![
            start(4, "[a 2/2] RUN sleep 1; echo a"),
            start(5, "[b 2/2] RUN echo b"),
            out(5, 12, "b\n"),
            done(5, 40),
            out(4, 1010, "a\n"),
            done(4, 1030),
        ]);
        assert_eq!(
            text,
            "#4 [a 2/2] RUN sleep 1; echo a\n\
             #4 ...\n\
             \n\
             #5 [b 2/2] RUN echo b\n\
             #5 0.012 b\n\
             #5 DONE 0.0s\n\
             \n\
             #4 [a 2/2] RUN sleep 1; echo a\n\
             #4 1.010 a\n\
             #4 DONE 1.0s\n"
        );
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_reprinted_after_interruption() {
        let text = render(vec![
            start(1, "[a 1/1] RUN x"),
            out(1, 100, "one\ntw"),
            out(1, 150, "o\nthr"),
            start(2, "[b 1/1] RUN y"),
            Event::Cached { id: 2 },
            out(1, 300, "ee\nfour"),
            Event::Error {
                id: 1,
                message: "process \"/bin/sh -c x\" did not complete successfully: exit code: 1"
                    .into(),
            },
        ]);
        assert_eq!(
            text,
            "#1 [a 1/1] RUN x\n\
             #1 0.100 one\n\
             #1 0.100 two\n\
             #1 0.150 thr\n\
             #1 ...\n\
             \n\
             #2 [b 1/1] RUN y\n\
             #2 CACHED\n\
             \n\
             #1 [a 1/1] RUN x\n\
             #1 0.150 three\n\
             #1 0.300 four\n\
             #1 ERROR: process \"/bin/sh -c x\" did not complete successfully: exit code: 1\n"
        );
    }

    #[test]
    fn finish_ends_an_unfinished_line_once() {
        let text = render(vec![start(1, "[1/1] RUN printf x"), out(1, 5, "x")]);
        assert_eq!(text, "#1 [1/1] RUN printf x\n#1 0.005 x\n");
    }

    #[test]
    fn events_after_finish_print_nothing() {
        let out = Shared::default();
        let r = PlainRenderer::new(Box::new(out.clone()));
        r.event(start(1, "[1/1] RUN true"));
        r.finish();
        r.event(done(1, 1));
        assert_eq!(&*out.0.lock().unwrap(), b"#1 [1/1] RUN true\n");
    }
}

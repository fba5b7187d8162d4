//! What a build reports while it runs: one stream of [`Event`]s, in BuildKit's vertex model.
//!
//! Every unit of work (loading the Dockerfile, resolving a base image, one instruction of one
//! stage, exporting the image) is a *vertex* with a number that is unique within the build and
//! stays the same from its [`Event::Start`] to its [`Event::Done`], [`Event::Cached`] or
//! [`Event::Error`]. Vertices of independent stages interleave. Rendering (plain lines, a live
//! terminal view, nothing at all) is the receiver's business: the engine only emits.

use std::time::Duration;

/// Which output stream of a RUN a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error.
    Stderr,
}

/// One thing that happened during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A vertex began. `name` is what BuildKit prints for it, e.g. `[internal] load build
    /// definition from Dockerfile` or `[build 2/5] RUN make`.
    Start {
        /// The vertex number.
        id: usize,
        /// The vertex's display name.
        name: String,
    },
    /// A one-line status of a running vertex: a transfer, or why the cache missed
    /// (`cache miss: src/main.rs changed`).
    Status {
        /// The vertex number.
        id: usize,
        /// The line, without a trailing newline.
        message: String,
    },
    /// Bytes a RUN wrote, in the chunks they arrived in, at `elapsed` since the vertex started.
    Output {
        /// The vertex number.
        id: usize,
        /// Which stream.
        stream: Stream,
        /// Time since the vertex started.
        elapsed: Duration,
        /// The bytes, not necessarily whole lines.
        data: Vec<u8>,
    },
    /// The vertex's result came from the cache; nothing ran.
    Cached {
        /// The vertex number.
        id: usize,
    },
    /// The vertex finished after running for `elapsed`.
    Done {
        /// The vertex number.
        id: usize,
        /// Its wall time.
        elapsed: Duration,
    },
    /// The vertex failed; `message` is the whole error, possibly several lines.
    Error {
        /// The vertex number.
        id: usize,
        /// The error text.
        message: String,
    },
}

/// Receives a build's events. Called from several threads when stages run in parallel, so
/// implementations serialise what they print.
pub trait Progress: Send + Sync {
    /// Takes one event.
    fn event(&self, event: Event);
}

/// Drops every event: `--progress quiet` and library callers that do not care.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _event: Event) {}
}

/// Collects every event in order; for tests of the engine.
#[derive(Debug, Default)]
pub struct Recorder {
    events: std::sync::Mutex<Vec<Event>>,
}

impl Recorder {
    /// The events received so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Progress for Recorder {
    fn event(&self, event: Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_order() {
        let r = Recorder::default();
        r.event(Event::Start {
            id: 1,
            name: "[internal] load".into(),
        });
        r.event(Event::Cached { id: 1 });
        assert_eq!(
            r.events(),
            vec![
                Event::Start {
                    id: 1,
                    name: "[internal] load".into()
                },
                Event::Cached { id: 1 }
            ]
        );
    }
}

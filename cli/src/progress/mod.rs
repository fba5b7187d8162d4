//! Renderers of a build's progress events ([`bale_builder::progress::Event`]) as BuildKit shows
//! them: `--progress plain` (numbered lines, one per thing that happened), `tty` (a live view
//! redrawn in place that folds finished steps) and `quiet` (nothing). `auto` picks `tty` when
//! standard error is a terminal and `plain` otherwise.
//!
//! This module owns only the text: the engine emits events and never formats them, and the
//! build command decides where the text goes (standard error).

mod plain;
mod tty;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bale_builder::progress::{Event, Progress};

pub use plain::PlainRenderer;
pub use tty::TtyRenderer;

/// How a build shows its progress (`--progress`, or `BUILDKIT_PROGRESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// `tty` when standard error is a terminal, else `plain`.
    #[default]
    Auto,
    /// One line per event, each prefixed with its step number.
    Plain,
    /// A live view redrawn in place.
    Tty,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// The mode `auto` stands for here: `tty` when standard error is a terminal (and `TERM` is
    /// not `dumb`), else `plain`. Other modes are returned as they are.
    pub fn resolve(self) -> Mode {
        match self {
            Mode::Auto => {
                let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
                if std::io::stderr().is_terminal() && !dumb {
                    Mode::Tty
                } else {
                    Mode::Plain
                }
            }
            m => m,
        }
    }
}

/// A [`Progress`] receiver that prints; [`Renderer::finish`] ends its output (the final
/// summary of the live view, a pending partial line) once the build is over, whether it
/// succeeded or not. Finishing twice prints nothing more.
pub trait Renderer: Progress {
    /// Ends the output.
    fn finish(&self);
}

/// The renderer for `mode`, writing to `out` (standard error, for the build command).
pub fn renderer(mode: Mode, out: Box<dyn Write + Send>) -> Box<dyn Renderer> {
    match mode.resolve() {
        Mode::Plain => Box::new(PlainRenderer::new(out)),
        Mode::Tty => Box::new(TtyRenderer::new(
            out,
            Arc::new(SystemClock::new()),
            stderr_size,
        )),
        Mode::Quiet | Mode::Auto => Box::new(QuietRenderer),
    }
}

/// Prints nothing: `--progress quiet` (the build prints only the image ID).
#[derive(Debug, Default, Clone, Copy)]
pub struct QuietRenderer;

impl Progress for QuietRenderer {
    fn event(&self, _event: Event) {}
}

impl Renderer for QuietRenderer {
    fn finish(&self) {}
}

/// Where the live view reads the time, so tests can fix it.
pub trait Clock: Send + Sync {
    /// Time since a fixed origin (the clock's creation, for the real one).
    fn now(&self) -> Duration;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// The terminal size of standard error as (columns, rows), 80x24 when it has none.
pub fn stderr_size() -> (usize, usize) {
    match rustix::termios::tcgetwinsize(std::io::stderr()) {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => (ws.ws_col as usize, ws.ws_row as usize),
        _ => (80, 24),
    }
}

/// A BuildKit log timestamp: seconds since the step started, three decimals below 10 s, two
/// below 100 s, one above.
fn log_time(elapsed: Duration) -> String {
    let s = elapsed.as_secs_f64();
    if s < 10.0 {
        format!("{s:.3}")
    } else if s < 100.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_lose_precision_as_they_grow() {
        assert_eq!(log_time(Duration::from_millis(123)), "0.123");
        assert_eq!(log_time(Duration::from_millis(12_345)), "12.35");
        assert_eq!(log_time(Duration::from_millis(123_456)), "123.5");
    }

    #[test]
    fn explicit_modes_stay_as_they_are() {
        assert_eq!(Mode::Plain.resolve(), Mode::Plain);
        assert_eq!(Mode::Quiet.resolve(), Mode::Quiet);
        assert_eq!(Mode::Tty.resolve(), Mode::Tty);
        assert_ne!(Mode::Auto.resolve(), Mode::Auto);
    }

    #[test]
    fn mode_names_are_buildkits() {
        use clap::ValueEnum;
        let names: Vec<String> = Mode::value_variants()
            .iter()
            .map(|m| m.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["auto", "plain", "tty", "quiet"]);
    }
}

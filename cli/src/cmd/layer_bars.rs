//! Per-layer status lines for `pull` and `push`, as the docker CLI draws them. On a terminal
//! every layer has a line from the start (`Pulling fs layer`, `Preparing`), redrawn in place
//! with a progress bar while its bytes move (`Downloading [==>   ]  1.2MB/4.5MB`) and its final
//! word once settled. Anywhere else only the final words are printed, one line per layer in
//! the order layers settle, so logs and pipes read as docker's non-terminal output.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::units::human_size_with_precision;

/// The least time between two redraws caused by byte counts (status changes draw at once).
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// The bar's width between the brackets, as docker's.
const BAR_WIDTH: usize = 50;

/// The lines of one transfer.
pub struct LayerBars {
    quiet: bool,
    live: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Short layer IDs in display order, with their current text.
    lines: Vec<(String, String)>,
    /// How many lines the last redraw left on the screen.
    drawn: usize,
    last_draw: Option<Instant>,
}

/// Docker's short layer ID: the first 12 hex digits of a digest.
pub fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// `[=====>     ]  12.3MB/45.6MB`.
pub fn bar(done: u64, total: u64) -> String {
    let total = total.max(1);
    let filled = ((done.min(total) as u128 * BAR_WIDTH as u128) / total as u128) as usize;
    let mut bar = "=".repeat(filled);
    if filled < BAR_WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat(BAR_WIDTH - filled - 1));
    }
    format!(
        "[{bar}] {:>8}/{}",
        human_size_with_precision(done, 3),
        human_size_with_precision(total, 3)
    )
}

impl LayerBars {
    /// Lines drawn live when stdout is a terminal and `quiet` is off; final words only when it
    /// is not; nothing at all when `quiet`.
    pub fn new(quiet: bool) -> LayerBars {
        LayerBars {
            quiet,
            live: !quiet && std::io::stdout().is_terminal(),
            state: Mutex::new(State::default()),
        }
    }

    /// Starts a line for each layer with `text` (live mode only). Starts a new block below
    /// whatever was printed before.
    pub fn start(&self, digests: &[(String, u64)], text: &str) {
        if !self.live {
            return;
        }
        let mut state = self.lock();
        state.lines.clear();
        state.drawn = 0;
        for (digest, _) in digests {
            let id = short(digest).to_string();
            if !state.lines.iter().any(|(i, _)| *i == id) {
                state.lines.push((id, text.to_string()));
            }
        }
        self.redraw(&mut state);
    }

    /// A layer's bytes moved: `verb [bar] done/total`, redrawn at most every 100 ms.
    pub fn progress(&self, digest: &str, verb: &str, done: u64, total: u64) {
        if !self.live {
            return;
        }
        let mut state = self.lock();
        let id = short(digest);
        // Only layers have lines; a config on its way has none.
        let Some(changed_kind) = state
            .lines
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, t)| !t.starts_with(verb))
        else {
            return;
        };
        let text = format!("{verb} {}", bar(done, total));
        set(&mut state.lines, id, text);
        let due = state.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
        if changed_kind || due {
            self.redraw(&mut state);
        }
    }

    /// A layer is settled with `text` (`Pull complete`): redrawn at once, or printed as its own
    /// line when not live.
    pub fn done(&self, digest: &str, text: &str) {
        if self.quiet {
            return;
        }
        let mut state = self.lock();
        if self.live {
            set(&mut state.lines, short(digest), text.to_string());
            self.redraw(&mut state);
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}: {text}", short(digest));
        }
    }

    /// Ends the block: what follows prints below it.
    pub fn finish(&self) {
        let mut state = self.lock();
        state.lines.clear();
        state.drawn = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn redraw(&self, state: &mut State) {
        let mut text = String::new();
        if state.drawn > 0 {
            // Back to the block's first line.
            text.push_str(&format!("\x1b[{}A", state.drawn));
        }
        for (id, line) in &state.lines {
            // Clear each line before writing it: the new text may be shorter.
            text.push_str(&format!("\r\x1b[2K{id}: {line}\n"));
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        state.drawn = state.lines.len();
        state.last_draw = Some(Instant::now());
    }
}

fn set(lines: &mut Vec<(String, String)>, id: &str, text: String) {
    match lines.iter_mut().find(|(i, _)| i == id) {
        Some((_, t)) => *t = text,
        None => lines.push((id.to_string(), text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_as_docker_draws_them() {
        assert_eq!(bar(0, 1000), format!("[>{}]       0B/1kB", " ".repeat(49)));
        assert_eq!(
            bar(500_000, 1_000_000),
            format!("[{}>{}]    500kB/1MB", "=".repeat(25), " ".repeat(24))
        );
        assert_eq!(bar(7, 7), format!("[{}]       7B/7B", "=".repeat(50)));
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}

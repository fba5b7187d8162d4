//! `--progress tty`: BuildKit's live terminal view, redrawn in place ten times a second:
//!
//! ```text
//! [+] Building 3.2s (4/6)
//!  => [internal] load build definition from Dockerfile                 0.0s
//!  => CACHED [1/4] FROM docker.io/library/busybox:latest                0.0s
//!  => [2/4] RUN make                                                    2.9s
//!  => => # cc -c main.c
//!  => => # cc -o app main.o
//! ```
//!
//! Finished steps fold to one line; running steps show their last few output lines. While
//! running, only as many lines as the terminal has rows are drawn (the oldest go first);
//! once the build is over the whole view is printed one last time, followed by the output of
//! every failed step between `------` rules, as BuildKit prints it. Lines are cut to the
//! terminal's width, dropping the time column when there is no room for it.
//!
//! [`frame`] is a pure function of the state, the time and the size, so tests pin it.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bale_builder::progress::{Event, Progress};

use super::{Clock, Renderer, log_time};

/// Output lines shown under a running step.
const LIVE_LOG_LINES: usize = 6;
/// Output lines kept for the report of a failed step.
const ERROR_LOG_LINES: usize = 10;
/// How often the view is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// Where a step is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Running,
    Cached,
    Done(Duration),
    /// Failed after this long.
    Error(Duration),
}

/// One step as the view knows it.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) name: String,
    /// When it started, on the renderer's clock.
    pub(crate) started: Duration,
    pub(crate) phase: Phase,
    pub(crate) statuses: Vec<String>,
    /// The last complete output lines, each with its timestamp.
    pub(crate) logs: VecDeque<String>,
    /// The unfinished last output line.
    pub(crate) partial: Option<String>,
}

/// Everything the view shows.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// When the build started, on the renderer's clock.
    pub(crate) started: Duration,
    pub(crate) steps: Vec<Step>,
    index: HashMap<usize, usize>,
}

impl View {
    fn step(&mut self, id: usize, now: Duration) -> &mut Step {
        let i = *self.index.entry(id).or_insert_with(|| {
            self.steps.push(Step {
                name: String::new(),
                started: now,
                phase: Phase::Running,
                statuses: Vec::new(),
                logs: VecDeque::new(),
                partial: None,
            });
            self.steps.len() - 1
        });
        &mut self.steps[i]
    }

    pub(crate) fn apply(&mut self, event: Event, now: Duration) {
        match event {
            Event::Start { id, name } => {
                let s = self.step(id, now);
                s.name = name;
                s.started = now;
                s.phase = Phase::Running;
            }
            Event::Status { id, message } => {
                let s = self.step(id, now);
                s.statuses.extend(message.lines().map(clean));
            }
            Event::Output {
                id, elapsed, data, ..
            } => {
                let s = self.step(id, now);
                let text = String::from_utf8_lossy(&data);
                for piece in text.split_inclusive('\n') {
                    let (body, ends) = match piece.strip_suffix('\n') {
                        Some(b) => (b, true),
                        None => (piece, false),
                    };
                    let mut line = s
                        .partial
                        .take()
                        .unwrap_or_else(|| format!("{} ", log_time(elapsed)));
                    line.push_str(body);
                    if ends {
                        s.logs.push_back(clean(&line));
                        if s.logs.len() > ERROR_LOG_LINES {
                            s.logs.pop_front();
                        }
                    } else {
                        s.partial = Some(line);
                    }
                }
            }
            Event::Cached { id } => self.step(id, now).phase = Phase::Cached,
            Event::Done { id, elapsed } => self.step(id, now).phase = Phase::Done(elapsed),
            Event::Error { id, .. } => {
                let s = self.step(id, now);
                s.phase = Phase::Error(now.saturating_sub(s.started));
            }
        }
    }

    fn finished(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.phase != Phase::Running)
            .count()
    }
}

/// Text fit for one terminal line: a carriage return keeps what follows it (a progress bar
/// redrawing itself), tabs become spaces, other control characters go.
fn clean(line: &str) -> String {
    let line = line.rsplit('\r').find(|p| !p.is_empty()).unwrap_or("");
    line.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// `text` cut to `width` characters, with `...` marking the cut when there is room for it.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width <= 3 {
        return text.chars().take(width).collect();
    }
    let mut s: String = text.chars().take(width - 3).collect();
    s.push_str("...");
    s
}

/// `left` and `right` on one line of `width` characters, `right` against the right edge; when
/// both do not fit, `left` is cut, and `right` is dropped if `left` would keep fewer than 12
/// characters.
fn align(left: &str, right: &str, width: usize) -> String {
    let (l, r) = (left.chars().count(), right.chars().count());
    if l + 1 + r <= width {
        return format!("{left}{}{right}", " ".repeat(width - l - r));
    }
    if width >= r + 1 + 12 {
        return format!("{} {right}", cut(left, width - r - 1));
    }
    cut(left, width)
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The lines of the view at `now` for a terminal of `width` columns and `height` rows. While
/// the build runs (`last` false) at most `height - 1` lines are returned, so the cursor stays
/// on screen: running steps show fewer output lines first, then the oldest lines go. The last
/// frame returns every step and no output.
pub(crate) fn frame(
    view: &View,
    now: Duration,
    width: usize,
    height: usize,
    last: bool,
) -> Vec<String> {
    let width = width.max(1);
    let mut header = format!(
        "[+] Building {} ({}/{})",
        seconds(now.saturating_sub(view.started)),
        view.finished(),
        view.steps.len()
    );
    if last {
        header.push_str(" FINISHED");
    }
    let room = height.saturating_sub(2);
    let mut logs = if last { 0 } else { LIVE_LOG_LINES };
    let mut body = body(view, now, width, logs);
    while !last && body.len() > room && logs > 0 {
        logs -= 1;
        body = self::body(view, now, width, logs);
    }
    let mut lines = vec![cut(&header, width)];
    if !last {
        let skip = body.len().saturating_sub(room);
        body.drain(..skip);
    }
    lines.extend(body);
    lines
}

/// One line per step (and its statuses), with up to `logs` output lines under running steps.
fn body(view: &View, now: Duration, width: usize, logs: usize) -> Vec<String> {
    let mut body = Vec::new();
    for s in &view.steps {
        let (tag, time) = match &s.phase {
            Phase::Running => ("", now.saturating_sub(s.started)),
            Phase::Cached => ("CACHED ", Duration::ZERO),
            Phase::Done(d) => ("", *d),
            Phase::Error(d) => ("ERROR ", *d),
        };
        body.push(align(
            &format!(" => {tag}{}", s.name),
            &seconds(time),
            width,
        ));
        for st in &s.statuses {
            body.push(cut(&format!(" => => {st}"), width));
        }
        if s.phase == Phase::Running {
            let shown: Vec<&String> = s.logs.iter().chain(s.partial.iter()).collect();
            let from = shown.len().saturating_sub(logs);
            for l in &shown[from..] {
                body.push(cut(&format!(" => => # {}", clean(l)), width));
            }
        }
    }
    body
}

/// The report printed after the last frame for every failed step: its last output lines.
pub(crate) fn error_report(view: &View) -> String {
    let mut text = String::new();
    for s in &view.steps {
        if !matches!(s.phase, Phase::Error(_)) {
            continue;
        }
        text.push_str("------\n");
        text.push_str(&format!(" > {}:\n", s.name));
        for l in s.logs.iter().chain(s.partial.iter()) {
            text.push_str(l);
            text.push('\n');
        }
        text.push_str("------\n");
    }
    text
}

struct Shared {
    state: Mutex<TtyState>,
    wake: Condvar,
    clock: Arc<dyn Clock>,
    size: fn() -> (usize, usize),
}

struct TtyState {
    out: Box<dyn Write + Send>,
    view: View,
    /// Lines drawn by the last frame, which the next one overwrites.
    drawn: usize,
    dirty: bool,
    stop: bool,
    finished: bool,
}

impl Shared {
    fn draw(&self, state: &mut TtyState, last: bool) {
        let (width, height) = (self.size)();
        let lines = frame(&state.view, self.clock.now(), width, height, last);
        let mut buf = String::new();
        if state.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A\r", state.drawn));
        }
        for l in &lines {
            buf.push_str("\x1b[2K");
            buf.push_str(l);
            buf.push('\n');
        }
        buf.push_str("\x1b[J");
        if last {
            buf.push_str("\x1b[?25h");
            buf.push_str(&error_report(&state.view));
        } else if state.drawn == 0 {
            buf = format!("\x1b[?25l{buf}");
        }
        let _ = state.out.write_all(buf.as_bytes());
        let _ = state.out.flush();
        state.drawn = lines.len();
        state.dirty = false;
    }
}

/// The live view; see the module documentation.
pub struct TtyRenderer {
    shared: Arc<Shared>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl TtyRenderer {
    /// A live view on `out`, timed by `clock`, sized by `size` (columns, rows), redrawn by a
    /// thread of its own until [`Renderer::finish`].
    pub fn new(
        out: Box<dyn Write + Send>,
        clock: Arc<dyn Clock>,
        size: fn() -> (usize, usize),
    ) -> TtyRenderer {
        let view = View {
            started: clock.now(),
            ..View::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(TtyState {
                out,
                view,
                drawn: 0,
                dirty: true,
                stop: false,
                finished: false,
            }),
            wake: Condvar::new(),
            clock,
            size,
        });
        let worker = Arc::clone(&shared);
        let ticker = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let mut state = worker.state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (next, _) = worker
                        .wake
                        .wait_timeout(state, REDRAW)
                        .unwrap_or_else(|e| e.into_inner());
                    state = next;
                    if state.stop {
                        return;
                    }
                    // Running steps' times move even without events.
                    let running = state.view.steps.iter().any(|s| s.phase == Phase::Running);
                    if state.dirty || running {
                        worker.draw(&mut state, false);
                    }
                }
            })
            .ok();
        TtyRenderer {
            shared,
            ticker: Mutex::new(ticker),
        }
    }
}

impl Progress for TtyRenderer {
    fn event(&self, event: Event) {
        let now = self.shared.clock.now();
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.finished {
            state.view.apply(event, now);
            state.dirty = true;
        }
    }
}

impl Renderer for TtyRenderer {
    fn finish(&self) {
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.finished {
            state.finished = true;
            self.shared.draw(&mut state, true);
        }
    }
}

impl Drop for TtyRenderer {
    /// A build that returns early still leaves a whole view and a visible cursor.
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use bale_builder::progress::Stream;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn view(events: Vec<(u64, Event)>) -> View {
        let mut v = View::default();
        for (at, e) in events {
            v.apply(e, ms(at));
        }
        v
    }

    fn start(id: usize, name: &str) -> Event {
        Event::Start {
            id,
            name: name.into(),
        }
    }

    fn out(id: usize, data: &str) -> Event {
        Event::Output {
            id,
            stream: Stream::Stdout,
            elapsed: ms(40),
            data: data.as_bytes().to_vec(),
        }
    }

    fn sample() -> View {
        view(vec![
            (
                0,
                start(1, "[internal] load build definition from Dockerfile"),
            ),
            (
                1,
                Event::Status {
                    id: 1,
                    message: "transferring dockerfile: 96B".into(),
                },
            ),
            (
                20,
                Event::Done {
                    id: 1,
                    elapsed: ms(20),
                },
            ),
            (20, start(2, "[1/3] FROM docker.io/library/busybox:latest")),
            (21, Event::Cached { id: 2 }),
            (21, start(3, "[2/3] RUN make")),
            (60, out(3, "cc -c a.c\ncc -c b.c\n")),
            (80, out(3, "1\n2\n3\n4\n5\nlinking")),
        ])
    }

    #[test]
    fn running_frame_folds_finished_steps_and_tails_output() {
        let lines = frame(&sample(), ms(1_500), 60, 40, false);
        assert_eq!(
            lines,
            [
                "[+] Building 1.5s (2/3)",
                " => [internal] load build definition from Dockerfile    0.0s",
                " => => transferring dockerfile: 96B",
                " => CACHED [1/3] FROM docker.io/library/busybox:latest  0.0s",
                " => [2/3] RUN make                                      1.5s",
                " => => # 0.040 1",
                " => => # 0.040 2",
                " => => # 0.040 3",
                " => => # 0.040 4",
                " => => # 0.040 5",
                " => => # 0.040 linking",
            ]
        );
    }

    #[test]
    fn partial_line_is_shown_last() {
        let v = view(vec![(0, start(1, "[1/1] RUN x")), (5, out(1, "a\npart"))]);
        let lines = frame(&v, ms(100), 40, 20, false);
        assert_eq!(lines.last().unwrap(), " => => # 0.040 part");
    }

    #[test]
    fn last_frame_shows_everything_and_no_output() {
        let mut v = sample();
        v.apply(
            Event::Done {
                id: 3,
                elapsed: ms(2_250),
            },
            ms(2_271),
        );
        let lines = frame(&v, ms(2_300), 60, 3, true);
        assert_eq!(
            lines,
            [
                "[+] Building 2.3s (3/3) FINISHED",
                " => [internal] load build definition from Dockerfile    0.0s",
                " => => transferring dockerfile: 96B",
                " => CACHED [1/3] FROM docker.io/library/busybox:latest  0.0s",
                " => [2/3] RUN make                                      2.2s",
            ]
        );
    }

    #[test]
    fn short_terminal_shows_fewer_output_lines_then_the_newest_lines() {
        let lines = frame(&sample(), ms(1_500), 60, 8, false);
        assert_eq!(
            lines[1..],
            [
                " => [internal] load build definition from Dockerfile    0.0s",
                " => => transferring dockerfile: 96B",
                " => CACHED [1/3] FROM docker.io/library/busybox:latest  0.0s",
                " => [2/3] RUN make                                      1.5s",
                " => => # 0.040 5",
                " => => # 0.040 linking",
            ]
        );
        let lines = frame(&sample(), ms(1_500), 60, 4, false);
        assert_eq!(
            lines,
            [
                "[+] Building 1.5s (2/3)",
                " => CACHED [1/3] FROM docker.io/library/busybox:latest  0.0s",
                " => [2/3] RUN make                                      1.5s",
            ]
        );
    }

    #[test]
    fn narrow_terminal_cuts_names_then_drops_times() {
        let lines = frame(&sample(), ms(1_500), 30, 40, false);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:#?}");
        assert_eq!(lines[1], " => [internal] load bu... 0.0s");
        let lines = frame(&sample(), ms(1_500), 14, 40, false);
        assert!(lines.iter().all(|l| l.chars().count() <= 14), "{lines:#?}");
        assert_eq!(lines[1], " => [intern...");
        let lines = frame(&sample(), ms(1_500), 0, 0, false);
        assert_eq!(lines, ["["]);
    }

    #[test]
    fn failed_step_is_marked_and_reported_with_its_output() {
        let mut v = view(vec![
            (0, start(7, "[2/2] RUN false")),
            (10, out(7, "about to fail\n")),
        ]);
        v.apply(
            Event::Error {
                id: 7,
                message: "exit code: 1".into(),
            },
            ms(310),
        );
        let lines = frame(&v, ms(400), 40, 20, true);
        assert_eq!(lines[1], " => ERROR [2/2] RUN false           0.3s");
        assert_eq!(
            error_report(&v),
            "------\n > [2/2] RUN false:\n0.040 about to fail\n------\n"
        );
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        assert_eq!(clean("10%\r50%\r100%"), "100%");
        assert_eq!(clean("a\tb\x1b[31mred"), "a b[31mred");
        assert_eq!(clean("ends\r"), "ends");
    }

    #[test]
    fn renderer_draws_in_place_and_finishes_once() {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        struct Fixed(Mutex<Duration>);
        impl Clock for Fixed {
            fn now(&self) -> Duration {
                *self.0.lock().unwrap()
            }
        }
        let sink = Sink::default();
        let clock = Arc::new(Fixed(Mutex::new(Duration::ZERO)));
        let r = TtyRenderer::new(Box::new(sink.clone()), clock.clone(), || (50, 20));
        r.event(start(1, "[1/1] RUN true"));
        *clock.0.lock().unwrap() = ms(700);
        r.event(Event::Done {
            id: 1,
            elapsed: ms(700),
        });
        r.finish();
        r.finish();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("FINISHED").count(), 1, "{text:?}");
        assert!(
            text.ends_with(
                "\x1b[2K[+] Building 0.7s (1/1) FINISHED\n\
             \x1b[2K => [1/1] RUN true                            0.7s\n\
             \x1b[J\x1b[?25h"
            ),
            "{text:?}"
        );
    }
}

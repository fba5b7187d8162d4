//! The container log, in docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`, in the
//! container's directory. The supervisor appends; `logs` reads, and follows while the container
//! runs.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::IoContext;
use crate::model::Container;
use crate::{Containers, Result};

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The text, with its newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When it was written, RFC 3339 with nanoseconds.
    pub time: String,
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep printing new records until the container stops.
    pub follow: bool,
    /// Only the last N records.
    pub tail: Option<usize>,
}

/// Appends records to a container's log; cloned into each output pump. The file is created
/// with the first record, so a container that prints nothing costs no file.
#[derive(Clone)]
pub(crate) struct LogWriter {
    path: std::path::PathBuf,
    file: Arc<Mutex<Option<File>>>,
}

impl LogWriter {
    pub(crate) fn open(c: &Container) -> Result<LogWriter> {
        Ok(LogWriter {
            path: c.log_path(),
            file: Arc::new(Mutex::new(None)),
        })
    }

    /// Appends `data` from `stream`, one record per line (a last piece without a newline is a
    /// record of its own, as docker's json-file driver writes partial lines).
    pub(crate) fn write(&self, stream: &str, data: &[u8]) {
        let time = bale_image::time::now();
        let mut out = Vec::new();
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let rec = LogLine {
                log: String::from_utf8_lossy(piece).into_owned(),
                stream: stream.to_string(),
                time: time.clone(),
            };
            if serde_json::to_writer(&mut out, &rec).is_ok() {
                out.push(b'\n');
            }
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        // A full disk loses log lines, never the container.
        if let Some(f) = f.as_mut() {
            let _ = f.write_all(&out);
        }
    }
}

fn parse(line: &[u8]) -> Option<LogLine> {
    serde_json::from_slice(line).ok()
}

impl Containers<'_> {
    /// Sends the container's log records to `emit`, following new ones while it runs when
    /// `opts.follow`.
    pub fn logs(
        &self,
        c: &Container,
        opts: &LogOptions,
        emit: &mut dyn FnMut(&LogLine) -> io::Result<()>,
    ) -> Result<()> {
        let path = c.log_path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !opts.follow => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Not started yet: wait for the supervisor to create it.
                loop {
                    std::thread::sleep(Duration::from_millis(20));
                    if let Ok(f) = File::open(&path) {
                        break f;
                    }
                    if !self.load(&c.id)?.state.is_running() {
                        return Ok(());
                    }
                }
            }
            Err(e) => return Err(crate::Error::io("opening the log", &path, e)),
        };
        let mut reader = BufReader::new(file);
        let mut all: Vec<LogLine> = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).at("reading", &path)?;
            if n == 0 {
                break;
            }
            if buf.ends_with(b"\n") {
                if let Some(l) = parse(&buf) {
                    all.push(l);
                }
            } else {
                // A record being written: leave it for the follow loop.
                let back = n as i64;
                reader.seek(SeekFrom::Current(-back)).at("reading", &path)?;
                break;
            }
        }
        let skip = opts.tail.map_or(0, |t| all.len().saturating_sub(t));
        for l in &all[skip..] {
            emit(l).map_err(|e| crate::Error::sys("writing the log", e))?;
        }
        if !opts.follow {
            return Ok(());
        }
        let mut pending = Vec::new();
        loop {
            let mut chunk = Vec::new();
            reader
                .by_ref()
                .read_to_end(&mut chunk)
                .at("reading", &path)?;
            if chunk.is_empty() {
                if !self.load(&c.id)?.state.is_running() {
                    // One last read: the supervisor writes the last records before the exit.
                    reader
                        .by_ref()
                        .read_to_end(&mut chunk)
                        .at("reading", &path)?;
                    if chunk.is_empty() {
                        return Ok(());
                    }
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
            pending.extend_from_slice(&chunk);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                if let Some(l) = parse(&line) {
                    emit(&l).map_err(|e| crate::Error::sys("writing the log", e))?;
                }
            }
        }
    }
}

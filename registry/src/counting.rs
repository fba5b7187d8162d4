//! A reader that reports how much has passed through it, for pull and push progress.

use std::io::Read;

/// Counts what passes through to `report(done, total)`, at most every 256 KiB and once at the
/// end; `total` grows to what was read when the expected size was short.
pub(crate) struct Counting<'a, R> {
    inner: R,
    done: u64,
    reported: u64,
    total: u64,
    report: Box<dyn FnMut(u64, u64) + Send + 'a>,
}

impl<'a, R> Counting<'a, R> {
    /// Wraps `inner`, expected to yield `total` bytes.
    pub(crate) fn new(inner: R, total: u64, report: impl FnMut(u64, u64) + Send + 'a) -> Self {
        Counting {
            inner,
            done: 0,
            reported: 0,
            total,
            report: Box::new(report),
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= 256 << 10 || (n == 0 && self.done != self.reported) {
            self.reported = self.done;
            (self.report)(self.done, self.total.max(self.done));
        }
        Ok(n)
    }
}

//! `--frame-log FILE`: every frame's duration and every tile's arrival, as CSV, so anyone can
//! check responsiveness and time-to-first-tile on their own machine.
//!
//! Lines are `frame,<ms since start>,<ui time ms>,<ms since the previous frame>`,
//! `tile,<ms since start>,<job>,<block>`, `partial,<ms since start>,<job>,<fraction done>` for
//! each snapshot of a reduction part-way, `pick,<ms>,<row>,<col>` and `series,<ms>,<row>,<col>`
//! when a pixel is clicked and when its time series is drawn, `day,<ms>,<day>,` when the day
//! changes, `done,<ms since start>,<job>,<job seconds>` when a
//! job ends, `filled,<ms since start>,<job>,<blocks kept>` when the cache fill after a job
//! ends (see `KeepDecoded::After`), and `renderer,<ms since start>,<name>,<software or gpu>` once. The ui time is the
//! app's own work per frame (what must stay under ~16 ms); the interval also includes drawing,
//! which happens outside the app (on the GPU, or in software where there is none).
//! Writes are buffered; the buffer is flushed every second and when the app exits.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct FrameLog {
    out: BufWriter<std::fs::File>,
    start: Instant,
    last_flush: Instant,
    last_frame: Option<Instant>,
}

impl FrameLog {
    /// Creates (or truncates) the log file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> std::io::Result<FrameLog> {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "kind,t_ms,a,b")?;
        let now = Instant::now();
        Ok(FrameLog { out, start: now, last_flush: now, last_frame: None })
    }

    fn ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e3
    }

    pub fn frame(&mut self, duration: Duration) {
        let t = self.ms();
        let now = Instant::now();
        let interval = self.last_frame.map_or(String::new(), |l| format!("{:.3}", (now - l).as_secs_f64() * 1e3));
        self.last_frame = Some(now);
        let _ = writeln!(self.out, "frame,{t:.3},{:.3},{interval}", duration.as_secs_f64() * 1e3);
        if self.last_flush.elapsed() > Duration::from_secs(1) {
            let _ = self.out.flush();
            self.last_flush = Instant::now();
        }
    }

    pub fn tile(&mut self, job: u64, block: usize) {
        let t = self.ms();
        let _ = writeln!(self.out, "tile,{t:.3},{job},{block}");
    }

    /// A snapshot of a reduction part-way was drawn: `fraction` of its records in.
    pub fn partial(&mut self, job: u64, fraction: f64) {
        let t = self.ms();
        let _ = writeln!(self.out, "partial,{t:.3},{job},{fraction:.4}");
    }

    /// A pixel was clicked for its time series.
    pub fn pick(&mut self, row: usize, col: usize) {
        let t = self.ms();
        let _ = writeln!(self.out, "pick,{t:.3},{row},{col}");
    }

    /// A pixel's time series arrived and is drawn from this frame on.
    pub fn series(&mut self, row: usize, col: usize) {
        let t = self.ms();
        let _ = writeln!(self.out, "series,{t:.3},{row},{col}");
        let _ = self.out.flush();
    }

    /// The day (index along the first axis) changed.
    pub fn day(&mut self, day: usize) {
        let t = self.ms();
        let _ = writeln!(self.out, "day,{t:.3},{day},");
    }

    /// A job finished (done, failed or cancelled) after `seconds`.
    pub fn done(&mut self, job: u64, seconds: f64) {
        let t = self.ms();
        let _ = writeln!(self.out, "done,{t:.3},{job},{seconds:.4}");
        let _ = self.out.flush();
    }

    /// The cache fill after job `job` ended, having kept `blocks` blocks.
    pub fn filled(&mut self, job: u64, blocks: usize) {
        let t = self.ms();
        let _ = writeln!(self.out, "filled,{t:.3},{job},{blocks}");
        let _ = self.out.flush();
    }

    /// What draws the window.
    pub fn renderer(&mut self, renderer: &crate::app::Renderer) {
        let t = self.ms();
        let name = renderer.name.replace(',', ";");
        let _ = writeln!(self.out, "renderer,{t:.3},{name},{}", if renderer.software { "software" } else { "gpu" });
    }
}

impl Drop for FrameLog {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

//! Progress on stderr: one line per artifact on a terminal, tracing events otherwise.

use crate::manifest::{ArtifactEntry, Manifest, Status};
use std::io::Write;
use std::time::Instant;

/// Reports artifact progress.
pub struct Progress {
    terminal: bool,
    total: usize,
    index: usize,
    started: Instant,
    /// Artifacts under way: their number and name.
    running: Vec<(usize, String)>,
}

impl Progress {
    /// `terminal`: stderr is a terminal (draw lines) rather than a log.
    pub fn new(terminal: bool, total: usize) -> Self {
        Self {
            terminal,
            total,
            index: 0,
            started: Instant::now(),
            running: Vec::new(),
        }
    }

    /// An artifact starts; returns its number, for [`Progress::done`].
    pub fn start(&mut self, name: &str) -> usize {
        self.index += 1;
        self.running.push((self.index, name.to_owned()));
        self.draw_running();
        tracing::debug!(artifact = name, "collecting");
        self.index
    }

    /// The line of the artifacts under way (on a terminal).
    fn draw_running(&self) {
        if !self.terminal {
            return;
        }
        if let Some((first, _)) = self.running.first() {
            let names: Vec<&str> = self.running.iter().map(|(_, n)| n.as_str()).collect();
            let _ = write!(
                std::io::stderr(),
                "\r\x1b[2K[{first}/{}] {} ...",
                self.total,
                names.join(", ")
            );
        }
    }

    /// An artifact was skipped.
    pub fn skipped(&mut self, name: &str, why: &str) {
        self.index += 1;
        if self.terminal {
            let _ = writeln!(
                std::io::stderr(),
                "\r\x1b[2K[{}/{}] {name}: skipped ({why})",
                self.index,
                self.total
            );
        } else {
            tracing::warn!(artifact = name, reason = why, "skipped");
        }
        self.draw_running();
    }

    /// An artifact finished; `position` is what [`Progress::start`] returned for it.
    pub fn done(&mut self, e: &ArtifactEntry, position: usize) {
        self.running.retain(|(i, _)| *i != position);
        let ms = e.duration_ms.unwrap_or(0);
        let records = e.records.unwrap_or(0);
        if self.terminal {
            let status = match e.status {
                Status::Ok => "ok".to_owned(),
                other => format!("{other:?}: {}", e.error.as_deref().unwrap_or("")).to_lowercase(),
            };
            let _ = writeln!(
                std::io::stderr(),
                "\r\x1b[2K[{}/{}] {}: {records} records, {} bytes stored, {ms} ms — {status}",
                position,
                self.total,
                e.name,
                e.stored_bytes.unwrap_or(0)
            );
        } else if e.status == Status::Ok {
            tracing::info!(artifact = %e.name, records, ms, "collected");
        } else {
            tracing::warn!(artifact = %e.name, status = ?e.status, error = e.error.as_deref().unwrap_or(""), "collected with problems");
        }
        self.draw_running();
    }

    /// The run finished.
    pub fn finish(&mut self, m: &Manifest) {
        let c = m.counts();
        let secs = self.started.elapsed().as_secs_f64();
        if self.terminal {
            let _ = writeln!(
                std::io::stderr(),
                "done in {secs:.2}s: {} artifacts stored, {} partial, {} errors, {} skipped",
                c.stored,
                c.partial,
                c.errors,
                c.skipped
            );
        }
    }
}

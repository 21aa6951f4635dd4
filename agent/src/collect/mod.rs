//! Collectors: each turns the host into records or bytes, and nothing else.
//!
//! To add one: write `collect/<kind>.rs` with a `collect(ctx, options, out)` function, add the
//! kind to `collector-spec`, and register it in [`run`] below.

mod cloud_identity;
mod connections;
mod fd_tables;
mod files;
mod hidden_processes;
mod kernel_modules;
mod logins;
mod memory_maps;
mod open_files;
mod process_memory;
mod processes;
mod ram;
pub(crate) mod system;
mod users;

use crate::manifest::{ArtifactEntry, Status};
use crate::pipeline::{ArtifactWriter, Encoding, Finished, PipelineError, RecordWriter};
use crate::sink::Sink;
use collector_spec::CollectorSpec;
use serde::Serialize;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use thiserror::Error;

pub use memory_maps::mapping_lines;
pub use users::UserNames;

/// Why a collector stopped early.
#[derive(Debug, Error)]
pub enum CollectError {
    /// The run asked it to stop (timeout, deadline, signal).
    #[error("cancelled")]
    Cancelled,
    /// Storing failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The collector could not do its work at all.
    #[error("{0}")]
    Failed(String),
}

/// What collectors read from: the host's pseudo-filesystems and shared lookups.
#[derive(Debug)]
pub struct Context {
    /// procfs mount (normally `/proc`).
    pub proc: PathBuf,
    /// sysfs mount (normally `/sys`).
    pub sys: PathBuf,
    /// Host configuration directory (normally `/etc`).
    pub etc: PathBuf,
    /// Where host files are read from (normally `/`; a mounted image or a test tree with
    /// `collect --root`). Collectors of files, logins and users read below it.
    pub root: PathBuf,
    /// vestige's own pid, so records can mark it.
    pub self_pid: u32,
    /// Most threads one collector may use (`collect --threads`).
    pub threads: usize,
    users: OnceLock<UserNames>,
    boot_time: OnceLock<Option<i64>>,
    /// Whether `connections` keeps the descriptor tables it reads for a later `open_files`.
    share_fd_tables: bool,
    fd_tables: Mutex<Option<fd_tables::FdTables>>,
    /// vestige's own executable's SHA-256 once the run has hashed it (for the manifest), so
    /// `processes` need not hash the same file again for vestige's own record.
    own_exe_sha256: Arc<OnceLock<Option<String>>>,
}

impl Context {
    /// A context reading the live host.
    pub fn host() -> Self {
        Self::with_roots("/proc", "/sys", "/etc")
    }

    /// A context reading other roots (fixtures, mounted images).
    pub fn with_roots(
        proc: impl Into<PathBuf>,
        sys: impl Into<PathBuf>,
        etc: impl Into<PathBuf>,
    ) -> Self {
        Self {
            proc: proc.into(),
            sys: sys.into(),
            etc: etc.into(),
            root: PathBuf::from("/"),
            self_pid: std::process::id(),
            threads: default_threads(),
            users: OnceLock::new(),
            boot_time: OnceLock::new(),
            share_fd_tables: false,
            fd_tables: Mutex::new(None),
            own_exe_sha256: Arc::new(OnceLock::new()),
        }
    }

    /// The same context told where vestige's own executable's hash will be put.
    pub fn with_own_exe_sha256(mut self, slot: Arc<OnceLock<Option<String>>>) -> Self {
        self.own_exe_sha256 = slot;
        self
    }

    /// vestige's own executable's SHA-256, when it has been hashed already.
    pub fn own_exe_sha256(&self) -> Option<&str> {
        self.own_exe_sha256.get()?.as_deref()
    }

    /// The same context reading host files below `root`.
    pub fn with_host_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The same context with collectors limited to `threads` threads (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The root a collector reads host files below: its spec's `root` when set, else the
    /// context's.
    pub fn root_for(&self, spec_root: Option<&str>) -> PathBuf {
        spec_root.map_or_else(|| self.root.clone(), PathBuf::from)
    }

    /// Lets `connections` keep the descriptor tables it reads for an `open_files` artifact
    /// later in the same run (which then need not read every link again).
    pub fn with_shared_fd_tables(mut self, share: bool) -> Self {
        self.share_fd_tables = share;
        self
    }

    /// Keeps descriptor tables for a later collector (when sharing is on).
    fn keep_fd_tables(&self, tables: fd_tables::FdTables) {
        if let Ok(mut slot) = self.fd_tables.lock() {
            *slot = Some(tables);
        }
    }

    /// Takes the kept descriptor tables, if any were kept and are still fresh.
    fn take_fd_tables(&self) -> Option<fd_tables::FdTables> {
        self.fd_tables
            .lock()
            .ok()?
            .take()?
            .usable(fd_tables::MAX_AGE)
    }

    /// uid → user name from /etc/passwd (read once).
    pub fn users(&self) -> &UserNames {
        self.users
            .get_or_init(|| UserNames::load(&self.etc.join("passwd")))
    }

    /// Boot time in seconds since the epoch (`btime` of /proc/stat).
    pub fn boot_time(&self) -> Option<i64> {
        *self.boot_time.get_or_init(|| {
            let stat = crate::procfs::read::read_small(&self.proc.join("stat")).ok()?;
            let text = String::from_utf8_lossy(&stat);
            text.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        })
    }
}

/// Threads a collector may use unless told otherwise: the CPUs available, at most 4.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// How far workers of [`ordered_parallel`] may run ahead of the item being emitted: bounds
/// the results held in memory while keeping every thread busy.
const PARALLEL_WINDOW: usize = 64;

/// Most items one worker of [`ordered_parallel`] takes at once: results travel to the
/// emitting thread a chunk at a time, so a hand-off (and its wake-up) is paid per chunk, not
/// per process.
const MAX_CHUNK: usize = 8;

/// Runs `work` over `items` on up to `threads` threads and passes the results to `emit` in
/// the items' order, on the calling thread, while the workers go on with later items (at most
/// [`PARALLEL_WINDOW`] ahead, so that many results at most are held at once). Workers take
/// small chunks of consecutive items. Stops at the first `emit` error or when `cancel` is set.
pub fn ordered_parallel<T, R, W, E>(
    items: &[T],
    threads: usize,
    cancel: &AtomicBool,
    work: W,
    emit: E,
) -> Result<(), CollectError>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    E: FnMut(R) -> Result<(), CollectError>,
{
    ordered_parallel_window(items, threads, PARALLEL_WINDOW, cancel, work, emit)
}

/// [`ordered_parallel`] with workers at most `window` items ahead of emission.
pub fn ordered_parallel_window<T, R, W, E>(
    items: &[T],
    threads: usize,
    window: usize,
    cancel: &AtomicBool,
    work: W,
    mut emit: E,
) -> Result<(), CollectError>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    E: FnMut(R) -> Result<(), CollectError>,
{
    let window = window.max(MAX_CHUNK);
    let threads = threads.max(1).min(items.len());
    if threads <= 1 {
        for item in items {
            if cancel.load(Ordering::Relaxed) {
                return Err(CollectError::Cancelled);
            }
            emit(work(item))?;
        }
        return Ok(());
    }
    // Small inputs get small chunks, so every thread still has work.
    let chunk = (items.len() / (threads * 16)).clamp(1, MAX_CHUNK);
    let chunks: Vec<&[T]> = items.chunks(chunk).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // How many items were emitted, and a signal when that moves (sent only while a worker
    // waits for it: a wake-up costs a system call).
    let emitted = Mutex::new(0usize);
    let waiting = std::sync::atomic::AtomicUsize::new(0);
    let moved = std::sync::Condvar::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<R>)>(window);
    let halted = || stop.load(Ordering::Relaxed) || cancel.load(Ordering::Relaxed);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, emitted, waiting, moved, work, halted, chunks) =
                (&next, &emitted, &waiting, &moved, &work, &halted, &chunks);
            scope.spawn(move || loop {
                if halted() {
                    break;
                }
                let c = next.fetch_add(1, Ordering::Relaxed);
                let Some(part) = chunks.get(c) else {
                    break;
                };
                // Wait while this chunk's last item is more than a window past what was emitted.
                let end = c.saturating_add(1).saturating_mul(chunk);
                if let Ok(mut at) = emitted.lock() {
                    if end > at.saturating_add(window) {
                        waiting.fetch_add(1, Ordering::SeqCst);
                        while end > at.saturating_add(window) && !halted() {
                            match moved.wait_timeout(at, std::time::Duration::from_millis(20)) {
                                Ok((guard, _)) => at = guard,
                                Err(_) => return,
                            }
                        }
                        waiting.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let mut results = Vec::with_capacity(part.len());
                for item in *part {
                    if halted() {
                        return;
                    }
                    results.push(work(item));
                }
                if tx.send((c, results)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut ready: std::collections::BTreeMap<usize, Vec<R>> =
            std::collections::BTreeMap::new();
        let (mut want, mut done) = (0usize, 0usize);
        let mut result = Ok(());
        for (c, rs) in rx.iter() {
            if result.is_err() {
                continue; // drain, so no worker blocks on a full channel
            }
            ready.insert(c, rs);
            'emit: while let Some(rs) = ready.remove(&want) {
                want += 1;
                for r in rs {
                    let res = if cancel.load(Ordering::Relaxed) {
                        Err(CollectError::Cancelled)
                    } else {
                        emit(r)
                    };
                    if let Err(e) = res {
                        result = Err(e);
                        stop.store(true, Ordering::Relaxed);
                        ready.clear();
                        break 'emit;
                    }
                    done += 1;
                }
            }
            if let Ok(mut at) = emitted.lock() {
                *at = done;
                if waiting.load(Ordering::SeqCst) > 0 || result.is_err() {
                    moved.notify_all();
                }
            }
        }
        if result.is_ok() && cancel.load(Ordering::Relaxed) {
            result = Err(CollectError::Cancelled);
        }
        result
    })
}

/// One process's records, serialized on a worker thread by [`push_record`].
#[derive(Debug, Default)]
pub struct ProcessLines {
    /// JSON lines, each ending in `\n`.
    pub lines: Vec<u8>,
    /// Records in `lines`.
    pub count: u64,
    /// A problem met while reading this process.
    pub warning: Option<String>,
}

/// Lists the processes and runs `read` for each on up to `ctx.threads` threads; their records
/// and warnings reach `out` in pid order.
pub fn per_process<F>(ctx: &Context, out: &mut Output, read: F) -> Result<(), CollectError>
where
    F: Fn(u32) -> Result<ProcessLines, CollectError> + Sync,
{
    let pids = crate::procfs::read::list_pids(&ctx.proc)
        .map_err(|e| CollectError::Failed(format!("listing {}: {e}", ctx.proc.display())))?;
    let cancel = out.cancel_flag();
    ordered_parallel(
        &pids,
        ctx.threads,
        &cancel,
        |&pid| read(pid),
        |res| {
            let p = res?;
            if let Some(w) = p.warning {
                out.warn(w);
            }
            if p.count > 0 {
                out.record_lines(&p.lines, p.count)?;
            }
            Ok(())
        },
    )
}

/// Serializes one record as a JSON line onto `buf` (for workers of [`ordered_parallel`]).
pub fn push_record<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    record: &T,
) -> Result<(), CollectError> {
    serde_json::to_writer(&mut *buf, record)
        .map_err(|e| CollectError::Failed(format!("serializing a record: {e}")))?;
    buf.push(b'\n');
    Ok(())
}

/// Most warnings kept per artifact; the rest are counted.
const MAX_WARNINGS: usize = 20;

/// Where a collector puts what it finds. It never learns which sink is behind it.
pub struct Output {
    sink: Arc<dyn Sink>,
    encoding: Encoding,
    artifact: String,
    kind: &'static str,
    records: RecordWriter,
    extras: Arc<Mutex<Vec<ArtifactEntry>>>,
    warnings: Vec<String>,
    warning_count: u64,
    cancel: Arc<AtomicBool>,
    /// Why the run asked to stop (set before `cancel`), for messages about what it cut short.
    stop_reason: Arc<Mutex<Option<String>>>,
}

impl Output {
    /// Opens the artifact's record stream at `artifacts/<name>.jsonl.zst`.
    pub fn open(
        sink: Arc<dyn Sink>,
        encoding: impl Into<Encoding>,
        artifact: &str,
        kind: &'static str,
        extras: Arc<Mutex<Vec<ArtifactEntry>>>,
        cancel: Arc<AtomicBool>,
    ) -> Result<Self, PipelineError> {
        let path = format!("artifacts/{artifact}.jsonl.zst");
        let encoding = encoding.into();
        let writer = ArtifactWriter::create(sink.as_ref(), &path, encoding.for_records())?;
        Ok(Self {
            sink,
            encoding,
            artifact: artifact.to_owned(),
            kind,
            records: RecordWriter::new(writer),
            extras,
            warnings: Vec::new(),
            warning_count: 0,
            cancel,
            stop_reason: Arc::new(Mutex::new(None)),
        })
    }

    /// Shares the cell where the run writes why it stops this collector.
    pub fn with_stop_reason(mut self, reason: Arc<Mutex<Option<String>>>) -> Self {
        self.stop_reason = reason;
        self
    }

    /// Why the run asked this collector to stop (`cancelled` when it did not say).
    pub fn stop_reason(&self) -> String {
        self.stop_reason
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_else(|| CollectError::Cancelled.to_string())
    }

    /// Appends a record. Fails with [`CollectError::Cancelled`] once the run asks to stop.
    pub fn record<T: Serialize + ?Sized>(&mut self, record: &T) -> Result<(), CollectError> {
        self.check_cancel()?;
        self.records.write(record)?;
        Ok(())
    }

    /// Appends a record even after the run asked to stop: only for the one record that says
    /// what the stop cut short (a file archived in part), so the index names it.
    pub fn record_at_stop<T: Serialize + ?Sized>(
        &mut self,
        record: &T,
    ) -> Result<(), CollectError> {
        self.records.write(record)?;
        Ok(())
    }

    /// Appends `count` records serialized by [`push_record`]. Fails with
    /// [`CollectError::Cancelled`] once the run asks to stop.
    pub fn record_lines(&mut self, lines: &[u8], count: u64) -> Result<(), CollectError> {
        self.check_cancel()?;
        self.records.write_lines(lines, count)?;
        Ok(())
    }

    /// Fails with [`CollectError::Cancelled`] once the run asks to stop.
    pub fn check_cancel(&self) -> Result<(), CollectError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(CollectError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The run's stop flag, for collectors that fan work out to threads of their own.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Notes a non-fatal problem; the artifact becomes `partial`.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warning_count += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message.into());
        }
    }

    /// Stores up to `limit` bytes from `reader` as an extra artifact at `path` (e.g. a
    /// recovered executable), listed in the manifest under `name`.
    pub fn store_bytes(
        &mut self,
        name: &str,
        path: &str,
        reader: &mut dyn Read,
        limit: u64,
    ) -> Result<Finished, CollectError> {
        self.check_cancel()?;
        match self.store_bytes_inner(path, reader, limit) {
            Ok(fin) => {
                self.push_extra(ArtifactEntry::stored(name, self.kind, &fin));
                Ok(fin)
            }
            // A store that failed is listed as an error of its own; the collector goes on.
            Err(CollectError::Pipeline(e)) => {
                let msg = e.to_string();
                self.push_extra(ArtifactEntry::empty(
                    name,
                    self.kind,
                    crate::manifest::Status::Error,
                    Some(msg.clone()),
                ));
                Err(CollectError::Failed(msg))
            }
            Err(e) => Err(e),
        }
    }

    fn push_extra(&self, entry: ArtifactEntry) {
        if let Ok(mut extras) = self.extras.lock() {
            extras.push(entry);
        }
    }

    fn store_bytes_inner(
        &mut self,
        path: &str,
        reader: &mut dyn Read,
        limit: u64,
    ) -> Result<Finished, CollectError> {
        let mut w = ArtifactWriter::create(self.sink.as_ref(), path, self.encoding.clone())?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut limited = reader.take(limit);
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CollectError::Failed(format!("reading for {path}: {e}"))),
            };
            w.write_raw(buf.get(..n).unwrap_or_default())?;
            self.check_cancel()?;
        }
        Ok(w.finish()?)
    }

    /// Opens a second stream beside the record stream (e.g. a file group's tar), stored at
    /// `path` and listed in the manifest under `name` once [`Stream::finish`] is called. zstd
    /// may use `workers` threads of its own for it.
    pub fn open_stream(
        &mut self,
        name: &str,
        path: &str,
        workers: u32,
    ) -> Result<Stream, CollectError> {
        self.check_cancel()?;
        let mut writer = ArtifactWriter::create(self.sink.as_ref(), path, self.encoding.clone())?;
        writer.with_workers(workers);
        Ok(Stream {
            writer,
            name: name.to_owned(),
            kind: self.kind,
            extras: self.extras.clone(),
        })
    }

    /// The artifact's name.
    pub fn artifact(&self) -> &str {
        &self.artifact
    }

    /// Completes the record stream.
    pub fn finish(self) -> Result<Completed, PipelineError> {
        let (finished, records) = self.records.finish()?;
        Ok(Completed {
            finished,
            records,
            warnings: self.warnings,
            warning_count: self.warning_count,
        })
    }
}

/// An extra artifact being written (see [`Output::open_stream`]). Dropped unfinished, its
/// object is discarded by the sink and nothing is listed.
pub struct Stream {
    writer: ArtifactWriter,
    name: String,
    kind: &'static str,
    extras: Arc<Mutex<Vec<ArtifactEntry>>>,
}

impl Stream {
    /// Commits the object and lists it in the manifest with `status` (and `error`, when the
    /// stream is incomplete).
    pub fn finish(self, status: Status, error: Option<String>) -> Result<Finished, CollectError> {
        let fin = self.writer.finish()?;
        let mut entry = ArtifactEntry::stored(&self.name, self.kind, &fin);
        entry.status = status;
        entry.error = error;
        if let Ok(mut extras) = self.extras.lock() {
            extras.push(entry);
        }
        Ok(fin)
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A completed record artifact.
#[derive(Debug)]
pub struct Completed {
    /// Hashes and path.
    pub finished: Finished,
    /// Records written.
    pub records: u64,
    /// First warnings.
    pub warnings: Vec<String>,
    /// All warnings.
    pub warning_count: u64,
}

/// Runs the collector a spec entry names. This match is the collector registry.
pub fn run(spec: &CollectorSpec, ctx: &Context, out: &mut Output) -> Result<(), CollectError> {
    match spec {
        CollectorSpec::Processes(o) => processes::collect(ctx, o, out),
        CollectorSpec::HiddenProcesses(o) => hidden_processes::collect(ctx, o, out),
        CollectorSpec::Connections(o) => connections::collect(ctx, o, out),
        CollectorSpec::MemoryMaps(o) => memory_maps::collect(ctx, o, out),
        CollectorSpec::OpenFiles(o) => open_files::collect(ctx, o, out),
        CollectorSpec::KernelModules(o) => kernel_modules::collect(ctx, o, out),
        CollectorSpec::System(o) => system::collect(ctx, o, out),
        CollectorSpec::Files(o) => files::collect(ctx, o, out),
        CollectorSpec::Logins(o) => logins::collect(ctx, o, out),
        CollectorSpec::Users(o) => users::collect(ctx, o, out),
        CollectorSpec::CloudIdentity(o) => cloud_identity::collect(ctx, o, out),
        CollectorSpec::ProcessMemory(o) => process_memory::collect(ctx, o, out),
        CollectorSpec::Ram(o) => ram::collect(ctx, o, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record streams take the record compression; stored bytes and streams beside them the
    /// artifact compression.
    #[test]
    fn records_and_bytes_are_compressed_as_their_encodings_say() {
        use crate::pipeline::Compression;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("c");
        let sink = Arc::new(crate::sink::dir::DirSink::create_root(&root).unwrap());
        let encoding =
            Encoding::from(Compression::Zstd(3)).with_record_compression(Compression::None);
        let extras = Arc::new(Mutex::new(Vec::new()));
        let mut out = Output::open(
            sink,
            encoding,
            "x",
            "processes",
            extras.clone(),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        out.record(&serde_json::json!({"pid": 1})).unwrap();
        let bytes = vec![b'a'; 100_000];
        let stored = out
            .store_bytes("copy", "artifacts/copy.zst", &mut bytes.as_slice(), 1 << 20)
            .unwrap();
        let done = out.finish().unwrap();
        assert_eq!(done.finished.form.encoding(), "none");
        assert_eq!(
            done.finished.digest.raw_sha256,
            done.finished.digest.stored_sha256
        );
        let records = std::fs::read(root.join("artifacts/x.jsonl.zst")).unwrap();
        assert_eq!(records, b"{\"pid\":1}\n");
        assert_eq!(stored.form.encoding(), "zstd");
        assert!(stored.digest.stored_bytes < 1000, "{:?}", stored.digest);
    }

    /// Parallel work with uneven durations is emitted in input order on 1, 2, 3 and 8 threads.
    #[test]
    fn ordered_parallel_keeps_order_on_any_thread_count() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let cancel = AtomicBool::new(false);
            ordered_parallel(
                &items,
                threads,
                &cancel,
                |&i| {
                    // Uneven work, so workers finish out of order.
                    if i % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    i * 2
                },
                |r| {
                    seen.push(r);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(
                seen,
                items.iter().map(|i| i * 2).collect::<Vec<_>>(),
                "{threads}"
            );
        }
    }

    /// Workers never run more than a window ahead of emission, even when emission is slow.
    #[test]
    fn ordered_parallel_holds_at_most_a_window_of_results() {
        use std::sync::atomic::AtomicUsize;
        let items: Vec<u32> = (0..2000).collect();
        let started = AtomicUsize::new(0);
        let most_ahead = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let mut emitted = 0usize;
        ordered_parallel(
            &items,
            4,
            &cancel,
            |_| started.fetch_add(1, Ordering::SeqCst),
            |_| {
                emitted += 1;
                let ahead = started.load(Ordering::SeqCst) - emitted;
                most_ahead.fetch_max(ahead, Ordering::SeqCst);
                if emitted.is_multiple_of(100) {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(emitted, items.len());
        let ahead = most_ahead.load(Ordering::SeqCst);
        assert!(
            ahead <= PARALLEL_WINDOW + 4,
            "{ahead} results ahead of emission"
        );
    }

    /// [fault] Parallel work stops within a window of a cancellation, and at the first emit error.
    #[test]
    fn ordered_parallel_stops_on_cancel_and_on_emit_errors() {
        let items: Vec<u32> = (0..1000).collect();
        let cancel = AtomicBool::new(false);
        let mut n = 0;
        let res = ordered_parallel(
            &items,
            2,
            &cancel,
            |&i| i,
            |_| {
                n += 1;
                if n == 100 {
                    cancel.store(true, Ordering::Relaxed);
                }
                Ok(())
            },
        );
        assert!(matches!(res, Err(CollectError::Cancelled)));
        assert!(n < 200, "stopped within the window: {n}");
        let cancel = AtomicBool::new(false);
        let res = ordered_parallel(
            &items,
            2,
            &cancel,
            |&i| i,
            |i| {
                if i == 5 {
                    Err(CollectError::Failed("stop".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(res, Err(CollectError::Failed(_))));
    }
}

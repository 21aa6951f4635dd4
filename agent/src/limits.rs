//! Self-limits: vestige runs on a production host that may be serving customers, so by
//! default it lowers its own CPU and I/O priority before collecting; on request it also runs
//! under a CPU quota in a cgroup of its own ([`cgroup`]).

pub mod cgroup;

use thiserror::Error;

/// A limit that could not be applied.
#[derive(Debug, Error)]
#[error("{what}: {source}")]
pub struct LimitError {
    what: &'static str,
    source: std::io::Error,
}

/// I/O scheduling class (see ioprio_set(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoPriority {
    /// Best effort with a level 0 (highest) to 7 (lowest).
    BestEffort(u8),
    /// Only when the disk is otherwise idle.
    Idle,
}

impl IoPriority {
    /// Parses `idle` or `be:N` (N in 0..=7).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "idle" {
            return Ok(IoPriority::Idle);
        }
        let level = s
            .strip_prefix("be:")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n <= 7)
            .ok_or_else(|| format!("invalid I/O priority `{s}`: use idle or be:0 … be:7"))?;
        Ok(IoPriority::BestEffort(level))
    }

    /// The value ioprio_set(2) takes.
    fn raw(self) -> libc::c_int {
        const CLASS_SHIFT: libc::c_int = 13;
        match self {
            IoPriority::BestEffort(l) => (2 << CLASS_SHIFT) | libc::c_int::from(l),
            IoPriority::Idle => 3 << CLASS_SHIFT,
        }
    }
}

/// Most malloc arenas: glibc gives each new thread an arena of its own (up to 8 per CPU),
/// and memory freed in one stays there. Collectors run on short-lived threads, two
/// artifacts at a time, so without a cap the freed buffers of every artifact add up.
pub const MALLOC_ARENAS: i32 = 4;

/// Freed memory above this at the top of a heap goes back to the system (glibc's default
/// threshold grows with the largest block freed, so pages of big buffers freed once stay).
pub const MALLOC_TRIM_BYTES: i32 = 256 * 1024;

/// Keeps the allocator's idle memory bounded ([`MALLOC_ARENAS`], [`MALLOC_TRIM_BYTES`]).
/// Call first, before any thread starts. Returns whether glibc took both settings.
pub fn bound_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes two integers and only changes glibc's allocator parameters;
        // it is called before any other thread exists.
        let arenas = unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
        // SAFETY: as above.
        let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_TRIM_BYTES) };
        arenas == 1 && trim == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Sets this process's nice value (all threads created afterwards inherit it).
pub fn set_nice(nice: i32) -> Result<(), LimitError> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(LimitError {
            what: "setpriority",
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Sets this process's I/O priority.
pub fn set_io_priority(p: IoPriority) -> Result<(), LimitError> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, p.raw()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(LimitError {
            what: "ioprio_set",
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Reads back this process's I/O priority as `(class, level)`.
pub fn io_priority() -> Option<(i32, i32)> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_get takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    let v = i32::try_from(rc).ok().filter(|v| *v >= 0)?;
    Some((v >> 13, v & 0x1fff))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc takes the arena cap and the trim threshold.
    #[test]
    fn allocator_bounds_are_taken() {
        assert!(bound_allocator());
    }

    /// I/O priorities parse as idle or best-effort 0-7; out of range and real-time are refused.
    #[test]
    fn parses_io_priorities() {
        assert_eq!(IoPriority::parse("idle"), Ok(IoPriority::Idle));
        assert_eq!(IoPriority::parse("be:7"), Ok(IoPriority::BestEffort(7)));
        assert!(IoPriority::parse("be:8").is_err());
        assert!(IoPriority::parse("rt:0").is_err());
    }

    /// A best-effort I/O priority is applied to the process and read back.
    #[test]
    fn io_priority_is_applied_and_read_back() {
        // Runs in its own test thread; ioprio applies to the calling thread's process
        // (pid 0 = caller), so read it back right away.
        set_io_priority(IoPriority::BestEffort(6)).unwrap();
        assert_eq!(io_priority(), Some((2, 6)));
    }
}

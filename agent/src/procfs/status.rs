//! /proc/PID/status (the fields `stat` lacks: ids, capabilities, memory).

use super::{fields, num};

/// Selected fields of /proc/PID/status. Missing lines stay `None` (older kernels lack some).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Thread group id (equals pid for a process, differs for a thread).
    pub tgid: Option<i64>,
    /// Real, effective, saved, filesystem uid.
    pub uids: Option<[u32; 4]>,
    /// Real, effective, saved, filesystem gid.
    pub gids: Option<[u32; 4]>,
    /// Resident set, bytes.
    pub vm_rss: Option<u64>,
    /// Virtual size, bytes.
    pub vm_size: Option<u64>,
    /// Capability sets as hex strings: inheritable, permitted, effective, bounding, ambient.
    pub cap_inh: Option<String>,
    /// Permitted set.
    pub cap_prm: Option<String>,
    /// Effective set.
    pub cap_eff: Option<String>,
    /// Bounding set.
    pub cap_bnd: Option<String>,
    /// Ambient set.
    pub cap_amb: Option<String>,
    /// Pid in each nested pid namespace, outermost first.
    pub nspid: Option<Vec<i64>>,
    /// Seccomp mode (0 none, 1 strict, 2 filter).
    pub seccomp: Option<u8>,
}

fn four(v: &[u8]) -> Option<[u32; 4]> {
    let mut it = fields(v).map(num::<u32>);
    Some([it.next()??, it.next()??, it.next()??, it.next()??])
}

fn kib(v: &[u8]) -> Option<u64> {
    let n: u64 = num(fields(v).next()?)?;
    n.checked_mul(1024)
}

fn text(v: &[u8]) -> Option<String> {
    std::str::from_utf8(v.trim_ascii()).ok().map(str::to_owned)
}

impl Status {
    /// Parses the file; unknown and malformed lines are ignored.
    pub fn parse(buf: &[u8]) -> Status {
        let mut s = Status::default();
        for line in buf.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let (key, value) = (
                line.get(..colon).unwrap_or_default(),
                line.get(colon + 1..).unwrap_or_default(),
            );
            match key {
                b"Tgid" => s.tgid = num(value.trim_ascii()),
                b"Uid" => s.uids = four(value),
                b"Gid" => s.gids = four(value),
                b"VmRSS" => s.vm_rss = kib(value),
                b"VmSize" => s.vm_size = kib(value),
                b"CapInh" => s.cap_inh = text(value),
                b"CapPrm" => s.cap_prm = text(value),
                b"CapEff" => s.cap_eff = text(value),
                b"CapBnd" => s.cap_bnd = text(value),
                b"CapAmb" => s.cap_amb = text(value),
                b"NSpid" => s.nspid = fields(value).map(num).collect(),
                b"Seccomp" => s.seccomp = num(value.trim_ascii()),
                _ => {}
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A current /proc/PID/status gives tgid, uids, gids, memory sizes, namespace pids,
    /// capabilities and seccomp.
    #[test]
    fn parses_modern_status() {
        let buf = b"Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nNgid:\t0\nPid:\t42\nPPid:\t1\nUid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nVmSize:\t    8000 kB\nVmRSS:\t     960 kB\nNSpid:\t4242\t42\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nSeccomp:\t2\n";
        let s = Status::parse(buf);
        assert_eq!(s.tgid, Some(42));
        assert_eq!(s.uids, Some([1000, 1001, 1002, 1003]));
        assert_eq!(s.gids, Some([100, 101, 102, 103]));
        assert_eq!(s.vm_size, Some(8000 * 1024));
        assert_eq!(s.vm_rss, Some(960 * 1024));
        assert_eq!(s.nspid, Some(vec![4242, 42]));
        assert_eq!(s.cap_eff.as_deref(), Some("000001ffffffffff"));
        assert_eq!(s.seccomp, Some(2));
    }

    /// A 2.6-era status of a kernel thread (no CapAmb, NSpid, Seccomp or Vm lines) parses with
    /// those left out.
    #[test]
    fn old_kernel_without_newer_lines_and_kernel_threads() {
        // 2.6-era status: no CapAmb, no NSpid, no Seccomp; kernel threads have no Vm* lines.
        let buf = b"Name:\tkthreadd\nState:\tS (sleeping)\nTgid:\t2\nPid:\t2\nPPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\tffffffffffffffff\n";
        let s = Status::parse(buf);
        assert_eq!(s.uids, Some([0; 4]));
        assert_eq!(s.vm_rss, None);
        assert_eq!(s.cap_amb, None);
        assert_eq!(s.nspid, None);
    }

    /// [hostile] Garbage status lines and a truncated Uid line are ignored.
    #[test]
    fn garbage_is_ignored() {
        let s = Status::parse(b"Uid:\tx y\nVmRSS: lots\n\xff\xfe:\n:::\nTgid:");
        assert_eq!(s, Status::default());
        assert_eq!(
            Status::parse(b"Uid:\t1 2 3\n").uids,
            None,
            "truncated id line"
        );
    }
}

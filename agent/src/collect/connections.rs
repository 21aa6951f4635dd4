//! `connections`: every socket of every network namespace, with its owning pids.

use super::fd_tables::FdTables;
use super::{CollectError, Context, Output};
use crate::procfs::net::{self, Family};
use crate::procfs::pid_dir::{FdEntry, PidDir};
use crate::procfs::read::{is_gone, list_pids, read_small};
use crate::procfs::text::lossy;
use collector_spec::{ConnectionsOptions, SocketTable};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// One socket.
#[derive(Debug, Serialize)]
pub struct ConnectionRecord {
    pub protocol: &'static str,
    pub family: &'static str,
    pub local_address: Option<String>,
    pub local_port: Option<u16>,
    pub remote_address: Option<String>,
    pub remote_port: Option<u16>,
    pub state: &'static str,
    pub inode: u64,
    pub pids: Vec<u32>,
    pub uid: Option<u32>,
    pub netns: Option<u64>,
    pub tx_queue: Option<u64>,
    pub rx_queue: Option<u64>,
    pub socket_type: Option<&'static str>,
    pub path_hex: Option<String>,
}

/// Socket inode → owning pids, and net namespace → one pid inside it.
#[derive(Debug, Default)]
pub struct SocketOwners {
    /// Owners of each socket inode.
    pub by_inode: HashMap<u64, Vec<u32>>,
    /// A representative pid per network namespace inode.
    pub netns: BTreeMap<u64, u32>,
}

/// What one process's fd table says about sockets.
#[derive(Default)]
struct ProcessSockets {
    pid: u32,
    netns: Option<u64>,
    inodes: Vec<u64>,
    /// The whole table, when it is kept for `open_files`.
    table: Option<Vec<FdEntry>>,
    warning: Option<String>,
}

fn process_sockets(ctx: &Context, pid: u32, keep: bool) -> ProcessSockets {
    let mut found = ProcessSockets {
        pid,
        ..Default::default()
    };
    let Ok(dir) = PidDir::open(ctx.proc.join(pid.to_string())) else {
        return found; // exited
    };
    found.netns = dir.readlink("ns/net").ok().and_then(|ns| bracketed(&ns));
    let table = match dir.fd_table() {
        Ok(t) => t,
        Err(e) => {
            // Kernel threads and zombies have no readable fd table; only permission matters.
            if !is_gone(&e) && e.kind() == std::io::ErrorKind::PermissionDenied {
                found.warning = Some(format!("pid {pid}: fd: {e}"));
            }
            return found;
        }
    };
    for entry in &table {
        if let Some(ino) = entry
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix(b"socket:"))
            .and_then(bracketed)
        {
            found.inodes.push(ino);
        }
    }
    if keep {
        found.table = Some(table);
    }
    found
}

/// Walks /proc/*/fd once, on up to `ctx.threads` threads. When the context shares descriptor
/// tables, the tables read are kept for a later `open_files`.
pub fn socket_owners(ctx: &Context, out: &mut Output) -> Result<SocketOwners, CollectError> {
    let mut owners = SocketOwners::default();
    let pids = list_pids(&ctx.proc)
        .map_err(|e| CollectError::Failed(format!("listing {}: {e}", ctx.proc.display())))?;
    let cancel = out.cancel_flag();
    let keep = ctx.share_fd_tables;
    let mut tables = FdTables::default();
    super::ordered_parallel(
        &pids,
        ctx.threads,
        &cancel,
        |&pid| process_sockets(ctx, pid, keep),
        |found| {
            if let Some(w) = found.warning {
                out.warn(w);
            }
            if let Some(ino) = found.netns {
                owners.netns.entry(ino).or_insert(found.pid);
            }
            for ino in found.inodes {
                let list = owners.by_inode.entry(ino).or_default();
                if list.last() != Some(&found.pid) {
                    list.push(found.pid);
                }
            }
            if let Some(table) = found.table {
                tables.insert(found.pid, table);
            }
            Ok(())
        },
    )?;
    if keep {
        ctx.keep_fd_tables(tables);
    }
    Ok(owners)
}

/// `[12345]` (possibly after a `name:` prefix) → 12345.
fn bracketed(b: &[u8]) -> Option<u64> {
    let open = b.iter().position(|c| *c == b'[')?;
    let close = b.iter().rposition(|c| *c == b']')?;
    std::str::from_utf8(b.get(open + 1..close)?)
        .ok()?
        .parse()
        .ok()
}

/// Collects sockets.
pub fn collect(
    ctx: &Context,
    opts: &ConnectionsOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let owners = socket_owners(ctx, out)?;
    // Read each namespace's tables through a process inside it; our own namespace too.
    let mut sources: Vec<(Option<u64>, PathBuf)> = owners
        .netns
        .iter()
        .map(|(ns, pid)| (Some(*ns), ctx.proc.join(pid.to_string()).join("net")))
        .collect();
    if sources.is_empty() {
        sources.push((None, ctx.proc.join("net")));
    }
    // The kernel renders each table as it is read (the bulk of the time with thousands of
    // sockets): tables are read on up to `ctx.threads` threads, emitted in order.
    let reads: Vec<(Option<u64>, SocketTable, PathBuf)> = sources
        .iter()
        .flat_map(|(netns, dir)| {
            opts.tables
                .iter()
                .map(move |t| (*netns, *t, dir.join(t.file_name())))
        })
        .collect();
    let cancel = out.cancel_flag();
    super::ordered_parallel(
        &reads,
        ctx.threads,
        &cancel,
        |(_, _, path)| read_small(path),
        {
            let mut at = reads.iter();
            move |buf: std::io::Result<Vec<u8>>| {
                let Some((netns, table, path)) = at.next() else {
                    return Ok(());
                };
                match buf {
                    Ok(b) => emit_table(*table, &b, *netns, &owners, out),
                    // Table absent (no IPv6) or its process gone.
                    Err(e) if is_gone(&e) => Ok(()),
                    Err(e) => {
                        out.warn(format!("{}: {e}", path.display()));
                        Ok(())
                    }
                }
            }
        },
    )
}

fn emit_table(
    table: SocketTable,
    buf: &[u8],
    netns: Option<u64>,
    owners: &SocketOwners,
    out: &mut Output,
) -> Result<(), CollectError> {
    let pids = |inode: u64| owners.by_inode.get(&inode).cloned().unwrap_or_default();
    if table == SocketTable::Unix {
        let (socks, bad) = net::parse_unix(buf);
        if bad > 0 {
            out.warn(format!(
                "unix: {bad} malformed lines (paths with newlines?)"
            ));
        }
        for s in socks {
            let (path, path_hex) = if s.path.is_empty() {
                (None, None)
            } else {
                let (t, h) = lossy(&s.path);
                (Some(t), h)
            };
            out.record(&ConnectionRecord {
                protocol: "unix",
                family: "unix",
                local_address: path,
                local_port: None,
                remote_address: None,
                remote_port: None,
                state: s.state_name(),
                inode: s.inode,
                pids: pids(s.inode),
                uid: None,
                netns,
                tx_queue: None,
                rx_queue: None,
                socket_type: Some(s.type_name()),
                path_hex,
            })?;
        }
        return Ok(());
    }
    let (protocol, family) = match table {
        SocketTable::Tcp => ("tcp", Family::Inet),
        SocketTable::Tcp6 => ("tcp", Family::Inet6),
        SocketTable::Udp => ("udp", Family::Inet),
        SocketTable::Udp6 => ("udp", Family::Inet6),
        SocketTable::Raw => ("raw", Family::Inet),
        SocketTable::Raw6 | SocketTable::Unix => ("raw", Family::Inet6),
    };
    let (socks, bad) = net::parse_inet(buf, family);
    if bad > 0 {
        out.warn(format!("{}: {bad} malformed lines", table.file_name()));
    }
    for s in socks {
        let state = if protocol == "tcp" {
            net::tcp_state(s.state)
        } else {
            net::dgram_state(s.state)
        };
        out.record(&ConnectionRecord {
            protocol,
            family: if family == Family::Inet {
                "inet"
            } else {
                "inet6"
            },
            local_address: Some(s.local_address),
            local_port: Some(s.local_port),
            remote_address: Some(s.remote_address),
            remote_port: Some(s.remote_port),
            state,
            inode: s.inode,
            pids: pids(s.inode),
            uid: Some(s.uid),
            netns,
            tx_queue: Some(s.tx_queue),
            rx_queue: Some(s.rx_queue),
            socket_type: None,
            path_hex: None,
        })?;
    }
    Ok(())
}

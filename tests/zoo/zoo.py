#!/usr/bin/env python3
"""Process zoo for vestige's end-to-end tests.

`zoo.py run --vestige BIN --work DIR [-- COLLECT_ARGS...]` must run as pid 1 of a private PID
and mount namespace (`unshare --pid --fork --mount-proc --kill-child python3 zoo.py run ...`).
It starts one process per kind of evidence vestige must find, waits until each is ready, runs
`vestige collect` inside the same namespace, writes DIR/zoo.json describing the members, then
kills them. When this process (pid 1 of the namespace) exits, the kernel kills whatever is left,
so the zoo cannot leak processes onto the host.

Members (`zoo.py member KIND ...`) print one JSON line on stdout when ready, then wait.
"""

import ctypes
import hashlib
import json
import mmap
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

# Whole-zoo watchdog: the run never outlives this, whatever hangs.
WATCHDOG_SECONDS = 150
READY_SECONDS = 20
VESTIGE_SECONDS = 120


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def wait_forever():
    while True:
        signal.pause()


# ---------------------------------------------------------------------------------------------
# Members


def member_tcp_server():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    emit({"port": srv.getsockname()[1]})
    conn, peer = srv.accept()
    emit({"accepted_from": peer[1], "port": conn.getsockname()[1]})
    keep = (srv, conn)  # noqa: F841 - both sockets stay open while we wait
    wait_forever()


def member_tcp_client(port):
    c = socket.create_connection(("127.0.0.1", int(port)), timeout=READY_SECONDS)
    emit({"local_port": c.getsockname()[1]})
    wait_forever()


def member_udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    # A forked child shares the socket: it has two owners.
    child = os.fork()
    if child == 0:
        wait_forever()
    emit({"port": u.getsockname()[1], "child": child})
    wait_forever()


def member_udp_any():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 0))
    emit({"port": u.getsockname()[1]})
    wait_forever()


def member_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    emit({"path": path})
    wait_forever()


def member_rwx():
    prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    m = mmap.mmap(-1, 4 * mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=prot)
    # A known pattern over every page (which also makes them really there): `ret` bytes,
    # then a marker unique to this run, repeated. A memory dump must hold it at this address.
    marker = b"vestige-zoo-rwx:" + os.urandom(8).hex().encode() + b";"
    pattern = (b"\xc3" * 16 + marker * (len(m) // len(marker) + 1))[:len(m)]
    m.write(pattern)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    emit({"addr": addr, "len": len(m), "pattern_sha256": hashlib.sha256(pattern).hexdigest(),
          "marker": marker.decode()})
    wait_forever()


def member_deleted_file(path):
    f = open(path, "wb")
    f.write(b"evidence that was unlinked while open\n")
    f.flush()
    os.unlink(path)
    emit({"fd": f.fileno(), "path": path})
    wait_forever()


def member_threads(count):
    for _ in range(int(count)):
        threading.Thread(target=wait_forever, daemon=True).start()
    emit({"tids": sorted(int(t) for t in os.listdir("/proc/self/task"))})
    wait_forever()


def member_comm(hex_name):
    # The kernel keeps 15 bytes; these fit. ") R 1 (" imitates the fields after comm in stat.
    with open("/proc/self/comm", "wb") as f:
        f.write(bytes.fromhex(hex_name))
    emit({})
    wait_forever()


def member_idle():
    emit({})
    wait_forever()


MEMBERS = {
    "tcp-server": member_tcp_server,
    "tcp-client": member_tcp_client,
    "udp": member_udp,
    "udp-any": member_udp_any,
    "unix": member_unix,
    "rwx": member_rwx,
    "deleted-file": member_deleted_file,
    "threads": member_threads,
    "comm": member_comm,
    "idle": member_idle,
}


# ---------------------------------------------------------------------------------------------
# The launcher


class ZooError(Exception):
    pass


class Zoo:
    def __init__(self, work):
        self.work = work
        self.procs = []
        self.buffers = {}
        self.mounts = []

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, **kw)
        self.procs.append(p)
        self.buffers[p.pid] = b""
        return p

    def member(self, kind, *args, argv_tail=()):
        argv = [sys.executable, os.path.abspath(__file__), "member", kind, *args, *argv_tail]
        return self.spawn(argv), argv

    def ready_line(self, p, what):
        """The next JSON line a member prints, within READY_SECONDS."""
        deadline = time.monotonic() + READY_SECONDS
        fd = p.stdout.fileno()
        while b"\n" not in self.buffers[p.pid]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ZooError(f"{what} (pid {p.pid}) not ready after {READY_SECONDS}s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise ZooError(f"{what} (pid {p.pid}) exited early: {p.wait()}")
                self.buffers[p.pid] += chunk
        line, _, rest = self.buffers[p.pid].partition(b"\n")
        self.buffers[p.pid] = rest
        return json.loads(line)

    def wait_exec(self, p, prefix, what):
        """Waits until the child has executed something whose exe link starts with prefix."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise ZooError(f"{what} (pid {p.pid}) exited early: {p.returncode}")
            try:
                link = os.readlink(os.fsencode(f"/proc/{p.pid}/exe"))
                if link.startswith(os.fsencode(prefix)):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise ZooError(f"{what} (pid {p.pid}) did not exec {prefix}")

    def cleanup(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", m], check=False)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def executable_copy(tag):
    """Bytes of the host's sleep binary with a unique trailer, so their SHA-256 is this run's."""
    src = shutil.which("sleep")
    if src is None:
        raise ZooError("no sleep binary on PATH")
    with open(os.path.realpath(src), "rb") as f:
        data = f.read()
    return data + b"\0vestige-zoo-" + tag.encode() + b"-" + os.urandom(16).hex().encode() + b"\n"


def write_file(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def build(zoo, work):
    desc = {"members": {}}
    members = desc["members"]

    # A process whose executable was deleted after exec. The reference copy is never executed.
    data = executable_copy("deleted")
    write_file(os.path.join(work, "deleted-exe.ref"), data)
    exe = os.path.join(work, "bin", "zoo-deleted-sleep")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    write_file(exe, data, 0o755)
    p = zoo.spawn([exe, "3600"])
    zoo.wait_exec(p, exe, "deleted-exe")
    os.unlink(exe)
    members["deleted_exe"] = {"pid": p.pid, "path": exe, "reference": "deleted-exe.ref"}

    # Run from a path that is then removed while a second hard link keeps the file alive.
    data = executable_copy("linked")
    write_file(os.path.join(work, "linked-exe.ref"), data)
    exe = os.path.join(work, "bin", "zoo-linked-sleep")
    kept = os.path.join(work, "zoo-linked-sleep.kept")
    write_file(exe, data, 0o755)
    os.link(exe, kept)
    p = zoo.spawn([exe, "3600"])
    zoo.wait_exec(p, exe, "linked-exe")
    os.unlink(exe)
    members["linked_exe"] = {"pid": p.pid, "path": exe, "kept": kept,
                             "reference": "linked-exe.ref"}

    # A binary whose real name ends in " (deleted)", still on disk; the name also holds a
    # newline and a byte that is not UTF-8.
    data = executable_copy("literal")
    write_file(os.path.join(work, "literal-exe.ref"), data)
    exe = os.path.join(os.fsencode(work), b"bin", b"zoo sleep\n\xff (deleted)")
    write_file(exe, data, 0o755)
    p = zoo.spawn([exe, b"3600"])
    zoo.wait_exec(p, exe, "literal-exe")
    members["literal_exe"] = {"pid": p.pid, "path_hex": exe.hex(),
                              "reference": "literal-exe.ref"}

    # A process executed from a memfd (nothing on disk at any time).
    data = executable_copy("memfd")
    write_file(os.path.join(work, "memfd-exe.ref"), data)
    fd = os.memfd_create("vestige-zoo", 0)
    os.write(fd, data)
    p = zoo.spawn([f"/proc/self/fd/{fd}", "3600"], pass_fds=(fd,))
    os.close(fd)
    zoo.wait_exec(p, "/memfd:vestige-zoo", "memfd-exe")
    members["memfd_exe"] = {"pid": p.pid, "name": "vestige-zoo", "reference": "memfd-exe.ref"}

    # A TCP listener with one established client connection.
    server, _ = zoo.member("tcp-server")
    port = zoo.ready_line(server, "tcp-server")["port"]
    client, _ = zoo.member("tcp-client", str(port))
    client_port = zoo.ready_line(client, "tcp-client")["local_port"]
    accepted = zoo.ready_line(server, "tcp-server")
    if accepted["accepted_from"] != client_port:
        raise ZooError(f"server accepted {accepted} but the client is on {client_port}")
    members["tcp_server"] = {"pid": server.pid, "port": port}
    members["tcp_client"] = {"pid": client.pid, "port": client_port}

    p, _ = zoo.member("udp")
    info = zoo.ready_line(p, "udp")
    members["udp"] = {"pid": p.pid, "port": info["port"], "child": info["child"]}

    # A socket in a network namespace of its own (unshare execs, so the pid is the member's).
    p = zoo.spawn(["unshare", "--net", sys.executable, os.path.abspath(__file__),
                   "member", "udp-any"])
    port = zoo.ready_line(p, "netns-udp")["port"]
    members["netns_udp"] = {"pid": p.pid, "port": port,
                            "netns": os.stat(f"/proc/{p.pid}/ns/net").st_ino,
                            "zoo_netns": os.stat("/proc/self/ns/net").st_ino}

    sock_path = os.path.join(work, "zoo.sock")
    p, _ = zoo.member("unix", sock_path)
    members["unix"] = {"pid": p.pid, "path": zoo.ready_line(p, "unix")["path"]}

    # A long command line with newlines, an empty argument and bytes that are not UTF-8.
    long_arg = "\n".join(f"line {i} of a long argument" for i in range(800)).encode()
    tail = [long_arg, b"", b"not-utf8-\xff\xfe-\xc3(", b"last\narg"]
    p, argv = zoo.member("idle", argv_tail=tail)
    zoo.ready_line(p, "cmdline")
    raw = b"".join(os.fsencode(a) + b"\0" for a in argv)
    members["cmdline"] = {"pid": p.pid, "cmdline_hex": raw.hex()}

    # A process name made to confuse stat parsers, with a newline and a non-UTF-8 byte.
    comm = b"z) R 1 (\n\xff"
    p, _ = zoo.member("comm", comm.hex())
    zoo.ready_line(p, "comm")
    members["comm"] = {"pid": p.pid, "comm_hex": comm.hex()}

    p, _ = zoo.member("rwx")
    info = zoo.ready_line(p, "rwx")
    members["rwx"] = {"pid": p.pid, "addr": info["addr"], "len": info["len"],
                      "pattern_sha256": info["pattern_sha256"], "marker": info["marker"]}

    p, _ = zoo.member("deleted-file", os.path.join(work, "zoo-unlinked.txt"))
    info = zoo.ready_line(p, "deleted-file")
    members["deleted_file"] = {"pid": p.pid, "fd": info["fd"], "path": info["path"]}

    # Threads are not listed in /proc but answer kill(tid, 0): they must not look hidden.
    p, _ = zoo.member("threads", "3")
    members["threads"] = {"pid": p.pid, "tids": zoo.ready_line(p, "threads")["tids"]}

    # A process whose /proc entry is hidden by a bind mount of an empty directory.
    p, _ = zoo.member("idle")
    zoo.ready_line(p, "masked")
    empty = os.path.join(work, "empty")
    os.makedirs(empty, exist_ok=True)
    target = f"/proc/{p.pid}"
    subprocess.run(["mount", "--bind", empty, target], check=True)
    zoo.mounts.append(target)
    if os.listdir(target):
        raise ZooError(f"{target} still shows the process after the bind mount")
    members["masked"] = {"pid": p.pid}
    return desc


def run(argv):
    if os.getpid() != 1:
        sys.exit("zoo.py run must be pid 1 of a private namespace: "
                 "unshare --pid --fork --mount-proc --kill-child python3 zoo.py run ...")
    args = {"--vestige": None, "--work": None}
    rest = list(argv)
    collect_args = []
    if "--" in rest:
        i = rest.index("--")
        rest, collect_args = rest[:i], rest[i + 1:]
    while rest:
        key = rest.pop(0)
        if key not in args or not rest:
            sys.exit(f"usage: zoo.py run --vestige BIN --work DIR [-- COLLECT_ARGS...] ({key}?)")
        args[key] = rest.pop(0)
    if None in args.values():
        sys.exit("usage: zoo.py run --vestige BIN --work DIR [-- COLLECT_ARGS...]")
    work = os.path.abspath(args["--work"])
    os.makedirs(work, exist_ok=True)
    # A host of its own: run with `unshare --uts --net ...` too, and name it here.
    hostname = os.environ.get("VESTIGE_ZOO_HOSTNAME")
    if hostname:
        socket.sethostname(hostname)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    def on_alarm(_sig, _frame):
        raise ZooError(f"watchdog: the zoo ran longer than {WATCHDOG_SECONDS}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WATCHDOG_SECONDS)

    zoo = Zoo(work)
    desc = {"error": None, "started_at": time.time()}
    try:
        desc.update(build(zoo, work))
        out = os.path.join(work, "out")
        cmd = [args["--vestige"], "collect", "--out", out, "--quiet", *collect_args]
        started = time.monotonic()
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=VESTIGE_SECONDS)
        desc["vestige"] = {
            "argv": cmd,
            "exit_code": res.returncode,
            "stdout": res.stdout.decode("utf-8", "replace"),
            "stderr": res.stderr.decode("utf-8", "replace"),
            "seconds": round(time.monotonic() - started, 3),
            "finished_at": time.time(),
        }
        dead = [p.pid for p in zoo.procs if p.poll() is not None]
        if dead:
            raise ZooError(f"members exited during the collection: {dead}")
    except Exception as e:  # the test reads the cause from zoo.json
        desc["error"] = f"{type(e).__name__}: {e}"
    finally:
        signal.alarm(0)
        zoo.cleanup()
    with open(os.path.join(work, "zoo.json"), "w") as f:
        json.dump(desc, f, indent=1)
    return 0 if desc["error"] is None else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2:]))
    if len(sys.argv) >= 3 and sys.argv[1] == "member" and sys.argv[2] in MEMBERS:
        fn = MEMBERS[sys.argv[2]]
        nargs = fn.__code__.co_argcount
        fn(*sys.argv[3:3 + nargs])
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()

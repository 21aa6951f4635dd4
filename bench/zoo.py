#!/usr/bin/env python3
"""A process zoo for benchmarks: N processes, each holding a TCP listener, a UDP socket, a
unix socket, an open file and a few extra mappings, all asleep until killed.

Usage: zoo.py N READY_FILE   (writes READY_FILE with the pids once every member is up)
"""
import mmap
import os
import signal
import socket
import sys
import tempfile


def member(i, workdir):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(os.path.join(workdir, f"s{i}"))
    unix.listen(1)
    f = open(os.path.join(workdir, f"f{i}"), "w")
    maps = [mmap.mmap(-1, 65536) for _ in range(4)]
    for m in maps:
        m[0:1] = b"x"
    keep = (tcp, udp, unix, f, maps)
    signal.pause()
    return keep


def main():
    n = int(sys.argv[1])
    ready = sys.argv[2]
    workdir = tempfile.mkdtemp(prefix="vestige-zoo-")
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            try:
                member(i, workdir)
            finally:
                os._exit(0)
        pids.append(pid)
    # Members are up once their unix sockets exist.
    import time
    deadline = time.time() + 120
    while time.time() < deadline:
        if all(os.path.exists(os.path.join(workdir, f"s{i}")) for i in range(n)):
            break
        time.sleep(0.1)
    with open(ready, "w") as out:
        out.write("\n".join(map(str, pids)))

    def stop(*_):
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in pids:
            try:
                os.waitpid(p, 0)
            except ChildProcessError:
                pass
        for name in os.listdir(workdir):
            os.unlink(os.path.join(workdir, name))
        os.rmdir(workdir)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()

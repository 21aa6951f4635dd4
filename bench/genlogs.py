#!/usr/bin/env python3
"""Writes about SIZE_MB of syslog/auth/nginx/kern-like text logs under DIR/var/log.

Usage: genlogs.py DIR [SIZE_MB]. Deterministic (fixed seed) so runs compare.
"""
import os
import random
import sys

root = sys.argv[1]
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rng = random.Random(20261204)
logdir = os.path.join(root, "var/log")
os.makedirs(os.path.join(logdir, "nginx"), exist_ok=True)

hosts = ["ip-10-0-1-17", "ip-10-0-1-18"]
users = ["root", "ubuntu", "ec2-user", "deploy", "alice", "bob", "admin", "test", "oracle", "postgres"]
procs = ["systemd", "sshd", "cron", "kernel", "dockerd", "containerd", "amazon-ssm-agent", "chronyd", "rsyslogd", "nginx"]
paths = ["/", "/index.html", "/api/v1/orders", "/api/v1/users/42", "/login", "/static/app.js", "/health", "/wp-login.php", "/.env", "/admin"]
agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "curl/8.5.0", "python-requests/2.31.0", "ELB-HealthChecker/2.0", "Go-http-client/1.1"]
months = ["Nov", "Dec"]

def ip():
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

def ts():
    return f"{rng.choice(months)} {rng.randint(1, 30):2d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"

def syslog_line():
    p = rng.choice(procs)
    msgs = [
        f"Started Session {rng.randint(1, 99999)} of User {rng.choice(users)}.",
        f"({rng.choice(users)}) CMD (run-parts /etc/cron.hourly)",
        f"Received disconnect from {ip()} port {rng.randint(1024, 65535)}:11: disconnected by user",
        f"[{rng.randint(0, 99999)}.{rng.randint(0, 999999):06d}] EXT4-fs (nvme0n1p1): re-mounted. Quota mode: none.",
        f"time=\"2026-12-0{rng.randint(1, 4)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z\" level=info msg=\"container {rng.getrandbits(64):016x} exited\" status={rng.randint(0, 137)}",
        f"Selected source {ip()} (2.amazon.pool.ntp.org)",
        f"INFO [MessagingDeliveryService] [Association] Schedule manager refreshed with {rng.randint(0, 9)} associations",
    ]
    return f"{ts()} {rng.choice(hosts)} {p}[{rng.randint(100, 65000)}]: {rng.choice(msgs)}\n"

def auth_line():
    u = rng.choice(users)
    msgs = [
        f"Failed password for invalid user {u} from {ip()} port {rng.randint(1024, 65535)} ssh2",
        f"Accepted publickey for {u} from {ip()} port {rng.randint(1024, 65535)} ssh2: ED25519 SHA256:{rng.getrandbits(128):032x}",
        f"pam_unix(sshd:session): session opened for user {u}(uid={rng.randint(0, 1005)}) by (uid=0)",
        f"Invalid user {u}{rng.randint(0, 99)} from {ip()} port {rng.randint(1024, 65535)}",
        f"{u} : TTY=pts/{rng.randint(0, 5)} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
    ]
    return f"{ts()} {rng.choice(hosts)} sshd[{rng.randint(100, 65000)}]: {rng.choice(msgs)}\n"

def nginx_line():
    return (f'{ip()} - - [0{rng.randint(1, 4)}/Dec/2026:{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0000] '
            f'"{rng.choice(["GET", "GET", "GET", "POST"])} {rng.choice(paths)}?id={rng.randint(0, 100000)} HTTP/1.1" '
            f'{rng.choice([200, 200, 200, 301, 404, 500])} {rng.randint(0, 50000)} "-" "{rng.choice(agents)}"\n')

plan = [("syslog", syslog_line), ("syslog.1", syslog_line), ("auth.log", auth_line), ("auth.log.1", auth_line),
        ("nginx/access.log", nginx_line), ("nginx/access.log.1", nginx_line), ("kern.log", syslog_line),
        ("daemon.log", syslog_line), ("messages", syslog_line), ("cloud-init.log", syslog_line)]
per_file = size_mb * (1 << 20) // len(plan)
for name, gen in plan:
    path = os.path.join(logdir, name)
    with open(path, "w") as f:
        written = 0
        while written < per_file:
            # 64 Ki lines of fresh text, then repeat with small variations.
            chunk = "".join(gen() for _ in range(20000))
            f.write(chunk)
            written += len(chunk)
print(sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(logdir) for fn in fns))

"""A tiny authoritative DNS responder for tests: answers A queries for one name with one
address, an empty NOERROR for other types of that name, NXDOMAIN for anything else. Logs each
query name to LOG. Usage: fake_dns.py ADDR PORT NAME IPV4 LOG READY_FILE"""
import socket
import struct
import sys

addr, port, name, ipv4, log, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3].lower().rstrip("."), sys.argv[4], sys.argv[5], sys.argv[6]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((addr, port))
open(ready, "w").close()


def parse_question(msg):
    labels, i = [], 12
    while msg[i] != 0:
        n = msg[i]
        labels.append(msg[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", msg[i + 1 : i + 5])
    return ".".join(labels).lower(), qtype, qclass, msg[12 : i + 5]


while True:
    msg, peer = sock.recvfrom(512)
    if len(msg) < 17:
        continue
    qid, flags = struct.unpack("!HH", msg[:4])
    qname, qtype, qclass, question = parse_question(msg)
    with open(log, "a") as f:
        f.write(f"{qname} {qtype}\n")
    answers = b""
    rcode = 0
    if qname != name:
        rcode = 3
    elif qtype == 1:
        # Name pointer to the question (offset 12), A, IN, TTL 60, 4 bytes.
        answers = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(ipv4)
    rflags = 0x8400 | (flags & 0x0100) | rcode  # response, authoritative, echo RD
    header = struct.pack("!HHHHHH", qid, rflags, 1, 1 if answers else 0, 0, 0)
    sock.sendto(header + question + answers, peer)

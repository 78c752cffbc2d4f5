"""Event fan-out latency of the socket publisher with many clients.

The real SocketPublisher (asyncio thread, as in `signd run`) publishes gesture events at a
steady rate; the clients live in separate processes (so their reading does not share the
daemon's GIL), each watching its sockets with a selector and stamping every line with
time.monotonic(), which is one clock for the whole machine. Latency = receive - publish.

    python bench/fanout.py [--clients 50] [--events 500] [--rate 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import selectors
import socket
import sys
import tempfile
import time

import numpy as np

from signd.daemon.config import SocketConfig
from signd.daemon.events import GestureEvent
from signd.daemon.protocol import DescribeEvent, HelloEvent, StatusEvent
from signd.daemon.publishers.socket import SocketPublisher


def client_proc(path: str, n: int, events: int, out: mp.Queue, ready: mp.Event) -> None:
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
        socks.append(s)
    ready.set()
    # Stamp first, parse later: the stamp should say when the bytes arrived, not when this
    # process got round to a socket after parsing the others.
    stamped: list[tuple[bytes, float]] = []
    seen = 0
    while seen < n * events:
        for key, _ in sel.select(timeout=5):
            chunk = key.fileobj.recv(65536)
            now = time.monotonic()
            buf = key.data
            buf += chunk
            *lines, rest = bytes(buf).split(b"\n")
            buf[:] = rest
            for line in lines:
                if b'"type":"gesture"' in line:
                    stamped.append((line, now))
                    seen += 1
    out.put([(json.loads(line)["seq"], t) for line, t in stamped])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0, help="events per second")
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    path = os.path.join(tempfile.mkdtemp(), "events.sock")
    status = StatusEvent("running", 0.0, {}, 0, 0, 0, 0, 0, 0, "open", 0.0, "bench")
    pub = SocketPublisher(SocketConfig(path=path), lambda: HelloEvent(1, "bench", {}, "bench"),
                          lambda: status, lambda: DescribeEvent("bench", 1, {}, "bench", {}))
    pub.start()
    out: mp.Queue = mp.Queue()
    per = [args.clients // args.procs + (i < args.clients % args.procs) for i in range(args.procs)]
    readies = [mp.Event() for _ in per]
    procs = [mp.Process(target=client_proc, args=(path, n, args.events, out, r)) for n, r in zip(per, readies, strict=True)]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(30)
    while pub.client_count < args.clients:
        time.sleep(0.01)
    sent: dict[int, float] = {}
    interval = 1.0 / args.rate
    t_next = time.monotonic()
    for seq in range(1, args.events + 1):
        t_next += interval
        time.sleep(max(0.0, t_next - time.monotonic()))
        ev = GestureEvent("hello", 0.95, {"hello": 0.95, "thanks": 0.03, "iloveyou": 0.02}, seq * 30, time.time(), 30.0, ["hello"], seq)
        sent[seq] = time.monotonic()
        pub.publish(ev)
    received = [row for _ in procs for row in out.get(timeout=60)]
    for p in procs:
        p.join(10)
    pub.close()
    lat = np.array([(t - sent[seq]) * 1e3 for seq, t in received])
    last = {}
    for seq, t in received:
        last[seq] = max(last.get(seq, 0.0), t)
    complete = np.array([(last[s] - sent[s]) * 1e3 for s in sent])
    report = {
        "clients": args.clients, "events": args.events, "rate_per_s": args.rate,
        "deliveries": int(lat.size), "expected": args.clients * args.events,
        "per_client_ms": {"p50": round(float(np.percentile(lat, 50)), 3), "p95": round(float(np.percentile(lat, 95)), 3),
                          "max": round(float(lat.max()), 3)},
        "last_client_ms": {"p50": round(float(np.percentile(complete, 50)), 3),
                           "p95": round(float(np.percentile(complete, 95)), 3)},
        "dropped": pub.dropped, "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"fan-out to {args.clients} clients, {args.events} events at {args.rate:g}/s: "
              f"{report['deliveries']}/{report['expected']} delivered, {pub.dropped} dropped")
        print(f"  publish -> one client:   p50 {report['per_client_ms']['p50']:.3f} ms  p95 {report['per_client_ms']['p95']:.3f} ms  max {report['per_client_ms']['max']:.3f} ms")
        print(f"  publish -> last client:  p50 {report['last_client_ms']['p50']:.3f} ms  p95 {report['last_client_ms']['p95']:.3f} ms")
    return 0 if report["deliveries"] == report["expected"] else 1


if __name__ == "__main__":
    sys.exit(main())

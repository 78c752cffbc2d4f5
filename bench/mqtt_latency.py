"""Event latency from the pipeline to an MQTT subscriber, beside the event socket, on loopback.

A real Mosquitto (its own config, a free loopback port), a real `signd run` replaying keypoints
at their own 30 fps (about one sign a second) with --mqtt and --socket, a paho subscriber and a
socket client in this process. Each gesture's `t` is the wall clock when the pipeline made it
(rounded to 1 ms), so event -> receiver = receive time - t, for both receivers. The same
rounding is in both: the per-event difference MQTT - socket is exact.

    python bench/mqtt_latency.py [--events 60] [--model M.tflite --source S.npz] [--json]

Without --model, and while the shipped model is missing, it fits the test suite's small
synthetic model and recording first (needs the convert extra).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp: Path) -> tuple[subprocess.Popen, int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def synthetic(tmp: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from modelkit import save_npz, synthetic_recording, train_tflite

    rec = synthetic_recording()
    return save_npz(rec, tmp / "synthetic.npz"), train_tflite(rec, tmp / "synthetic.tflite", epochs=60)


def socket_reader(path: str, got: dict[int, float], stop: threading.Event) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(600):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    s.settimeout(0.2)
    buf = b""
    while not stop.is_set():
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        now = time.time()
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if b'"type":"gesture"' in line:
                e = json.loads(line)
                got[e["seq"]] = (now - e["t"]) * 1e3
    s.close()


def summary(ms: np.ndarray) -> dict[str, float]:
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "max": round(float(ms.max()), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60, help="gestures to measure (about one a second)")
    ap.add_argument("--model", help="a .tflite with its manifest (default: the shipped model, else a synthetic one)")
    ap.add_argument("--source", help="a replay the model recognises (default: demo, or the synthetic recording)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="signd-mqtt-bench-"))
    load_before = os.getloadavg()[0]
    model, source = args.model, args.source or "demo"
    if model is None and not (ROOT / "models" / "default" / "default.tflite").exists():
        npz, tfl = synthetic(tmp)
        model, source = str(tfl), args.source or str(npz)
    broker, port = start_broker(tmp)
    mqtt_ms: dict[int, float] = {}

    def on_message(c, u, m) -> None:
        now = time.time()
        e = json.loads(m.payload)
        mqtt_ms[e["seq"]] = (now - e["t"]) * 1e3

    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscribed = threading.Event()
    sub.on_connect = lambda c, u, f, r, p: c.subscribe("signd/bench/gesture", qos=1)
    sub.on_subscribe = lambda c, u, mid, r, p: subscribed.set()
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    subscribed.wait(10)
    sock = str(tmp / "events.sock")
    repeat = max(1, -(-args.events // 30) + 1)
    cmd = [str(Path(sys.executable).parent / "signd"), "run", "--source", source, "--repeat", str(repeat),
           "--mqtt", f"mqtt://127.0.0.1:{port}", "--mqtt-device", "bench", "--socket", sock]
    if model:
        cmd += ["--model", model]
    with open(tmp / "signd.log", "w") as log:
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    sock_ms: dict[int, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=socket_reader, args=(sock, sock_ms, stop), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30 + 3 * args.events
        while len(mqtt_ms) < args.events and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)
        stop.set()
        reader.join(2)
        sub.disconnect()
        sub.loop_stop()
        broker.terminate()
        broker.wait(10)
    both = sorted(set(mqtt_ms) & set(sock_ms))
    if not both:
        print((tmp / "signd.log").read_text(), file=sys.stderr)
        raise SystemExit("no events measured")
    m = np.array([mqtt_ms[s] for s in both])
    k = np.array([sock_ms[s] for s in both])
    report = {
        "events": len(both), "mqtt_ms": summary(m), "socket_ms": summary(k),
        "mqtt_minus_socket_ms": summary(m - k),
        "ratio_p50": round(float(np.percentile(m, 50) / max(np.percentile(k, 50), 1e-9)), 2),
        "cpus": os.cpu_count(), "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"{len(both)} gestures, event made (t) -> receiver, loopback, {report['cpus']} cpus, "
              f"load {report['load_1min'][0]} -> {report['load_1min'][1]}:")
        for name, key in (("MQTT subscriber", "mqtt_ms"), ("socket client", "socket_ms"),
                          ("MQTT - socket, per event", "mqtt_minus_socket_ms")):
            r = report[key]
            print(f"  {name:26s} p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  max {r['max']:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

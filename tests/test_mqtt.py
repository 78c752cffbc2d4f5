"""MQTT against a real Mosquitto broker on loopback: every gesture arrives with the right topic
and payload, the last will says `offline` when the daemon dies, a broker outage loses nothing
that fits in the queue and counts what did not, TLS and passwords work.

Each test starts its own broker (a generated config, a free loopback port, never the system
one) and stops it at the end. The subscribers are real paho clients in this process.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from signd.daemon.config import MqttConfig
from signd.daemon.events import GestureEvent
from signd.daemon.protocol import HelloEvent, StatusEvent
from signd.daemon.publishers.mqtt import MqttPublisher

from daemonkit import Daemon, wait_until, write_config

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto of our own: persistence in `tmp` (so a stop and start keeps sessions, as a
    real deployment's broker does), optional passwords and TLS."""

    def __init__(self, tmp: Path, users: dict[str, str] | None = None, tls: dict[str, Path] | None = None) -> None:
        self.dir = tmp
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {tmp}/",
                 f"user {getpass.getuser()}", "log_dest stderr"]
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        if users:
            passwd = tmp / "passwd"
            passwd.touch(mode=0o600)
            for user, pw in users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b",
                                str(passwd), user, pw], check=True, capture_output=True, timeout=10)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = tmp / "mosquitto.log"

    def start(self) -> Broker:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited:\n{self.log.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return True
            return False

        assert wait_until(listening, 10), self.log.read_text()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: Mosquitto saves its persistence file and exits, like `systemctl stop mosquitto`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def broker_factory(tmp_path):
    brokers: list[Broker] = []

    def make(**kw) -> Broker:
        d = tmp_path / f"broker{len(brokers)}"
        d.mkdir()
        brokers.append(Broker(d, **kw))
        return brokers[-1]

    yield make
    for b in brokers:
        b.stop(signal.SIGKILL)


class Subscriber:
    """A paho client that records every message under `topic`. `session` names a persistent
    session: the broker keeps QoS 1 messages for it while it is away."""

    def __init__(self, port: int, topic: str = "#", session: str | None = None,
                 auth: tuple[str, str] | None = None, tls_ca: Path | None = None) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session or "", clean_session=session is None)
        if auth:
            self.c.username_pw_set(*auth)
        if tls_ca:
            self.c.tls_set(ca_certs=str(tls_ca))
        self.c.reconnect_delay_set(0.1, 0.3)
        self.c.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda c, u, mid, r, p: self.subscribed.set()
        self.c.on_message = lambda c, u, m: self.messages.append(m)
        self.c.connect_async("localhost" if tls_ca else "127.0.0.1", port, 10)
        self.c.loop_start()
        assert self.subscribed.wait(10), "the subscriber could not subscribe"

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in list(self.messages) if m.topic == topic]

    def events(self, topic: str) -> list[dict]:
        return [json.loads(p) for p in self.payloads(topic)]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def retained(port: int, topics: list[str], auth: tuple[str, str] | None = None) -> dict[str, bytes]:
    """What a client that connects now is told on `topics` (the retained messages)."""
    s = Subscriber(port, "#", auth=auth)
    try:
        wait_until(lambda: all(s.payloads(t) for t in topics), 5)
        return {m.topic: m.payload for m in s.messages if m.retain}
    finally:
        s.close()




# -- the daemon as a fleet member ----------------------------------------------------------


def test_a_subscriber_receives_every_gesture_with_its_topic_and_payload(tmp_path, broker_factory,
                                                                         synthetic_npz, synthetic_model):
    broker = broker_factory(users={"kiosk": "pa ss:word#1", "watcher": "w"}).start()
    (tmp_path / "mqtt-password").write_text("pa ss:word#1\n")
    cfg = write_config(tmp_path / "signd.toml", mqtt={
        "url": f"mqtt://127.0.0.1:{broker.port}", "device": "kiosk-1", "username": "kiosk",
        "password_file": str(tmp_path / "mqtt-password"), "discovery": True})
    sub = Subscriber(broker.port, auth=("watcher", "w"))
    d = Daemon(tmp_path, "--config", str(cfg), "--source", str(synthetic_npz), "--model", str(synthetic_model),
               "--fast", "--repeat", "3")
    try:
        assert d.wait(120) == 0, d.stderr
    finally:
        d.stop()
    stdout = d.gestures()
    assert len(stdout) == 90  # 30 clips, three times, one event each
    base = "signd/kiosk-1"
    assert wait_until(lambda: sub.payloads(f"{base}/availability")[-1:] == [b"offline"], 10)
    sub.close()
    # every event, in order, byte for byte the JSON line that stdout printed
    assert sub.payloads(f"{base}/gesture") == [line.encode() for line in d.stdout_lines]
    topics = {m.topic for m in sub.messages}
    discovery = "homeassistant/event/signd_kiosk-1/gesture/config"
    assert topics == {f"{base}/{t}" for t in ("gesture", "status", "hello", "availability")} | {discovery}
    assert sub.payloads(f"{base}/availability") == [b"online", b"offline"]
    hello = json.loads(sub.payloads(f"{base}/hello")[0])
    assert hello["type"] == "hello" and hello["model"]["labels"] == ["hello", "iloveyou", "thanks"]
    final = json.loads(sub.payloads(f"{base}/status")[-1])
    assert final["type"] == "status" and final["state"] == "stopping"
    assert final["events"] == 90 and final["dropped_events"] == 0
    ha = json.loads(sub.payloads(discovery)[0])
    assert ha["state_topic"] == f"{base}/gesture" and ha["event_types"] == ["hello", "iloveyou", "thanks"]
    assert ha["availability_topic"] == f"{base}/availability" and ha["unique_id"] == "signd_kiosk-1_gesture"
    # what a dashboard that connects later is told: retained, not replayed events
    kept = retained(broker.port, [f"{base}/availability", f"{base}/status", discovery], auth=("watcher", "w"))
    assert kept[f"{base}/availability"] == b"offline" and json.loads(kept[f"{base}/status"]) == final
    assert json.loads(kept[discovery]) == ha and f"{base}/hello" in kept and f"{base}/gesture" not in kept
    assert f"mqtt: connected to mqtt://127.0.0.1:{broker.port}" in d.stderr
    assert "mqtt: 90 events delivered" in d.stderr and "pa ss" not in d.stderr


def test_availability_flips_to_offline_when_the_daemon_is_killed(tmp_path, broker_factory, synthetic_npz,
                                                                 synthetic_model):
    broker = broker_factory().start()
    avail = "signd/pi-7/availability"
    sub = Subscriber(broker.port, avail)
    errors = Subscriber(broker.port, "signd/pi-7/error")
    model = tmp_path / "model.tflite"
    shutil.copy(synthetic_model, model)
    shutil.copy(synthetic_model.with_suffix(".json"), model.with_suffix(".json"))
    d = Daemon(tmp_path, "--source", str(synthetic_npz), "--model", str(model),
               "--mqtt", f"mqtt://127.0.0.1:{broker.port}", "--mqtt-device", "pi-7")
    try:
        d.wait_ready()
        assert wait_until(lambda: sub.payloads(avail) == [b"online"], 10)
        assert retained(broker.port, [avail])[avail] == b"online"
        # errors reach the fleet too: a reload with a broken model
        model.write_bytes(model.read_bytes()[:2000])
        d.signal(signal.SIGHUP)
        assert wait_until(lambda: errors.payloads("signd/pi-7/error"), 20), d.stderr
        assert errors.events("signd/pi-7/error")[0]["code"] == "reload_failed"
        d.signal(signal.SIGKILL)  # no goodbye: only the broker's last will can tell
        assert d.wait(10) == -signal.SIGKILL
        assert wait_until(lambda: sub.payloads(avail) == [b"online", b"offline"], 10), sub.payloads(avail)
        assert retained(broker.port, [avail])[avail] == b"offline"
    finally:
        d.stop()
        sub.close()
        errors.close()


def test_a_broker_outage_loses_nothing_that_fits_the_queue_and_counts_the_rest(tmp_path, broker_factory,
                                                                               synthetic_npz, synthetic_model):
    queue = 5
    broker = broker_factory().start()
    base = "signd/pi-3"
    cfg = write_config(tmp_path / "signd.toml", socket={"heartbeat": 0.5}, mqtt={
        "url": f"mqtt://127.0.0.1:{broker.port}", "device": "pi-3", "queue": queue,
        "reconnect_min": 0.1, "reconnect_max": 0.5})
    # A persistent session: the broker keeps what arrives while this subscriber reconnects.
    sub = Subscriber(broker.port, f"{base}/#", session="integrator")
    # paced at 30 fps: about one event a second (a busy machine may drop a frame and so a clip)
    d = Daemon(tmp_path, "--config", str(cfg), "--source", str(synthetic_npz), "--model", str(synthetic_model),
               "--repeat", "3")
    made = lambda: len(d.stdout_lines)  # noqa: E731
    try:
        d.wait_ready()
        assert wait_until(lambda: len(sub.payloads(f"{base}/gesture")) >= 2, 20)

        def outage(events: int) -> tuple[int, int]:
            """Stop the broker until `events` more were made; the seqs made meanwhile."""
            broker.stop()
            before = made()
            assert wait_until(lambda: made() >= before + events, 60), (before, made(), d.stderr)
            broker.start()
            return before + 1, made()

        short = outage(queue - 3)  # fits in the queue
        assert wait_until(lambda: len(sub.payloads(f"{base}/gesture")) >= short[1], 20)
        long = outage(queue + 4)  # four more than the queue holds
        assert wait_until(lambda: json.loads(sub.payloads(f"{base}/status")[-1])["dropped_events"] > 0, 20)
        n = made()
        assert wait_until(lambda: max((g["seq"] for g in sub.events(f"{base}/gesture")), default=0) >= n, 20)
        d.signal(signal.SIGTERM)
        assert d.wait(20) == 0, d.stderr
        assert wait_until(lambda: sub.payloads(f"{base}/availability")[-1:] == [b"offline"], 10)
    finally:
        d.stop()
        sub.close()
    made_seqs = [json.loads(line)["seq"] for line in d.stdout_lines]
    got: dict[int, bytes] = {}
    for p in sub.payloads(f"{base}/gesture"):
        got.setdefault(json.loads(p)["seq"], p)  # QoS 1 is at least once: a resend may repeat one
    # everything received is exactly what was made
    by_seq = {json.loads(line)["seq"]: line.encode() for line in d.stdout_lines}
    assert all(got[s] == by_seq[s] for s in got)
    missing = [s for s in made_seqs if s not in got]
    # the short outage lost nothing; the long one lost a run of its oldest events: those made
    # before the broker was back (by `n` at the latest) that did not fit in the queue
    assert not [s for s in missing if s <= short[1]]
    assert missing and missing == list(range(missing[0], missing[-1] + 1))
    assert long[0] <= missing[0] and len(missing) <= n - long[0] + 1 - queue
    waiting, dropped = map(int, re.search(r"reconnected to \S+ after [\d.]+ s: sending (\d+) waiting events; "
                                          r"([1-9]\d*) dropped meanwhile", d.stderr).groups())
    assert waiting >= queue and dropped == len(missing)  # the full queue went out, the rest was counted
    # ... and every one of them is reported: status, log
    final = json.loads(sub.payloads(f"{base}/status")[-1])
    assert final["state"] == "stopping" and final["dropped_events"] == len(missing)
    assert f"mqtt: {len(made_seqs) - len(missing)} events delivered to mqtt://127.0.0.1:{broker.port}, " \
           f"{len(missing)} dropped" in d.stderr
    assert "dropping the oldest" in d.stderr
    assert d.stderr.count("mqtt: lost the broker") == 2
    avail = sub.payloads(f"{base}/availability")
    assert avail[-1] == b"offline" and avail.count(b"online") >= 3  # back online after each restart


# -- the publisher in this process: queue semantics, TLS ------------------------------------


def hello() -> HelloEvent:
    return HelloEvent(1, "test", {"name": "m", "labels": ["a", "b"]}, "test")


def status() -> StatusEvent:
    return StatusEvent("running", 30.0, {"p50": 1.0, "p95": 2.0}, 0, 0, 0, 0, 0, 0, "open", 0.0, "m")


def gesture(seq: int) -> GestureEvent:
    return GestureEvent("a", 0.9, {"a": 0.9, "b": 0.1}, seq * 30, time.time(), 1.0, ["a"], seq)


def test_while_the_broker_is_away_the_newest_events_wait_and_the_oldest_are_counted(tmp_path, broker_factory):
    broker = broker_factory()  # not started yet: signd comes up first, as after a power cut
    pub = MqttPublisher(MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}", device="t", queue=3,
                                   reconnect_min=0.1, reconnect_max=0.2), hello, status)
    pub.start()
    try:
        for i in range(1, 6):
            pub.publish(gesture(i))  # returns at once: nothing listens
        assert pub.dropped == 2
        broker.start()
        sub = Subscriber(broker.port, "signd/t/gesture")
        assert wait_until(lambda: pub.delivered == 3, 10)
        assert wait_until(lambda: len(sub.payloads("signd/t/gesture")) == 3, 5)
        assert [g["seq"] for g in sub.events("signd/t/gesture")] == [3, 4, 5]
        pub.publish(gesture(6))
        assert wait_until(lambda: len(sub.payloads("signd/t/gesture")) == 4, 5)
        sub.close()
    finally:
        pub.close()
    assert pub.dropped == 2 and pub.delivered == 4


def test_closing_with_the_broker_away_counts_what_never_left(tmp_path):
    pub = MqttPublisher(MqttConfig(url=f"mqtt://127.0.0.1:{free_port()}", device="t", queue=10), hello, status)
    pub.start()
    for i in range(1, 5):
        pub.publish(gesture(i))
    pub.close()
    assert pub.dropped == 4 and pub.delivered == 0


def make_certs(d: Path) -> dict[str, Path]:
    """A CA and a server certificate for `localhost`, made with the openssl command."""
    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30, cwd=d)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=signd test CA",
         "-keyout", "ca.key", "-out", "ca.crt")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    return {"ca": d / "ca.crt", "cert": d / "server.crt", "key": d / "server.key"}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_mqtts_with_a_private_ca(tmp_path, broker_factory, caplog):
    certs = make_certs(tmp_path)
    broker = broker_factory(tls=certs).start()
    sub = Subscriber(broker.port, "signd/#", tls_ca=certs["ca"])
    pub = MqttPublisher(MqttConfig(url=f"mqtts://localhost:{broker.port}", device="t", ca_file=str(certs["ca"])),
                        hello, status)
    pub.start()
    try:
        pub.publish(gesture(1))
        assert wait_until(lambda: sub.payloads("signd/t/gesture"), 10)
        assert [g["seq"] for g in sub.events("signd/t/gesture")] == [1]
    finally:
        pub.close()
        sub.close()
    assert pub.delivered == 1
    # the system's CAs do not know this one: no connection, said once, nothing delivered
    other = MqttPublisher(MqttConfig(url=f"mqtts://localhost:{broker.port}", device="u", reconnect_min=0.2),
                          hello, status)
    with caplog.at_level("WARNING", logger="signd.daemon.publishers.mqtt"):
        other.start()
        other.publish(gesture(1))
        other.close()
    assert other.delivered == 0 and other.dropped == 1
    assert "cannot reach the broker at mqtts://localhost" in caplog.text


def test_a_wrong_password_is_logged_once_and_nothing_is_lost_silently(tmp_path, broker_factory, caplog):
    broker = broker_factory(users={"kiosk": "right"}).start()
    (tmp_path / "pw").write_text("wrong\n")
    pub = MqttPublisher(MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}", device="t", username="kiosk",
                                   password_file=str(tmp_path / "pw"), reconnect_min=0.1, reconnect_max=0.2),
                        hello, status)
    with caplog.at_level("WARNING", logger="signd.daemon.publishers.mqtt"):
        pub.start()
        pub.publish(gesture(1))
        time.sleep(1.0)  # several refused attempts
        pub.close()
    refused = [r.getMessage() for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(refused) == 1 and "127.0.0.1" in refused[0], caplog.text
    # the refusal is the one error: paho's own chatter during reconnect waits stays at debug level
    assert [r.levelname for r in caplog.records if "refused" not in r.getMessage()] == ["WARNING"], caplog.text
    assert "wrong" not in caplog.text
    assert pub.delivered == 0 and pub.dropped == 1

"""MQTT: the same v1 events, published to a broker so that many Pis report to one place.

Topics, under `<topic_prefix>/<device>/` (default `signd/<hostname>/`), docs/mqtt.md:

    gesture        every gesture event (QoS 1)
    error          error events such as a failed reload (QoS 1)
    status         the latest status heartbeat (retained)
    hello          the running model and signd version (retained, sent again after a reload)
    availability   `online` (retained) once connected; `offline` when signd stops, and as the
                   last will when it dies or its network goes away

`publish` only appends to a bounded queue and wakes the sender thread: the pipeline never waits
on the broker. The sender hands events to paho while connected, at most WINDOW of them
unacknowledged; paho keeps those across a reconnect and sends them again. While the broker is
away the queue keeps the newest `mqtt.queue` events; older ones are dropped, counted in
`dropped` (and so in the status heartbeat's `dropped_events`) and logged.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from signd.daemon.config import MqttConfig
from signd.daemon.errors import ConfigError
from signd.daemon.events import Event, GestureEvent
from signd.daemon.mqtt_settings import check_tls_files, default_device, parse_url, password
from signd.daemon.protocol import ErrorEvent, HelloEvent, StatusEvent

from .base import Publisher
from .hass import discovery_topic, gesture_entity

log = logging.getLogger(__name__)

WINDOW = 20
"""Messages handed to paho and not yet acknowledged by the broker, at most."""
START_WAIT = 2.0
"""start() waits this long for the first connection, so a reachable broker is there before READY."""
FLUSH_TIMEOUT = 1.0
"""close(): time for queued events to reach a connected broker (SIGTERM gives every stage 1.5 s)."""
CLOSE_TIMEOUT = 0.3


class MqttPublisher(Publisher):
    name = "mqtt"

    def __init__(self, config: MqttConfig, hello: Callable[[], HelloEvent],
                 status: Callable[[], StatusEvent]) -> None:
        self.config = config
        self.address = parse_url(config.url)
        self.device = config.device or default_device()
        base = f"{config.topic_prefix}/{self.device}"
        self.topics = {t: f"{base}/{t}" for t in ("gesture", "error", "status", "hello", "availability")}
        self.discovery_topic = discovery_topic(config.discovery_prefix, self.device)
        self.hello_fn, self.status_fn = hello, status
        self.dropped = 0
        self.delivered = 0
        """Events the broker acknowledged."""
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, bytes]] = deque()
        self._retained: dict[str, bytes] = {}  # topic -> latest payload, sent again on every connect
        self._dirty: list[str] = []  # retained topics to (re)send, in order
        self._unacked: dict[int, bool] = {}  # mid -> is an event
        self._early_acks: set[int] = set()  # acks that beat the sender's bookkeeping
        self._handing = 0
        self._connected = False
        self._stop = False
        self._closed = False
        self._ever_connected = False
        self._first_result = threading.Event()
        self._down_since: float | None = time.monotonic()
        self._dropped_at_down = 0
        self._warned = False  # about this outage (unreachable, queue full)
        self._queue_full_warned = False
        self.client = self._make_client(password(config))
        self._sender = threading.Thread(target=self._send_loop, name="signd-mqtt", daemon=True)

    def _make_client(self, secret: str | None) -> mqtt.Client:
        cfg = self.config
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"signd-{self.device}", protocol=mqtt.MQTTv311)
        c.on_log = self._on_log
        c.suppress_exceptions = True  # a failing callback is logged; it must not end the network thread
        if cfg.username:
            c.username_pw_set(cfg.username, secret)
        if self.address.tls:
            c.tls_set_context(self._tls_context())
        c.will_set(self.topics["availability"], "offline", qos=1, retain=True)
        c.reconnect_delay_set(cfg.reconnect_min, cfg.reconnect_max)  # type: ignore[arg-type]
        c.max_inflight_messages_set(WINDOW + 8)  # our window plus the retained topics
        c.max_queued_messages_set(0)  # the bound is ours (self._queue), with drops counted
        c.on_connect, c.on_disconnect = self._on_connect, self._on_disconnect
        c.on_connect_fail, c.on_publish = self._on_connect_fail, self._on_publish
        return c

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        check_tls_files(cfg)
        try:
            ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"mqtt.ca_file: {cfg.ca_file} holds no usable CA certificate ({exc})") from None
        if cfg.cert_file:
            try:
                ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"mqtt.cert_file/key_file: {cfg.cert_file} with {cfg.key_file} "
                                  f"is not a usable certificate and key ({exc})") from None
        return ctx

    # -- the publisher interface (pipeline's publishing thread) --------------------------

    def wants(self, event: Event) -> bool:
        return isinstance(event, (GestureEvent, ErrorEvent, StatusEvent, HelloEvent))

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, self.config.keepalive)
        self.client.loop_start()
        self._sender.start()
        if not self._first_result.wait(START_WAIT) and not self._warned:
            self._warned = True
            log.warning("mqtt: no answer from %s yet; retrying in the background, keeping up to %d events",
                        self.address, self.config.queue)

    def publish(self, event: Event) -> None:
        payload = event.to_json().encode()
        full = False
        with self._cond:
            if isinstance(event, StatusEvent):
                self._set_retained(self.topics["status"], payload)
            elif isinstance(event, HelloEvent):
                self._set_hello(event)
            else:
                if len(self._queue) >= self.config.queue:
                    self._queue.popleft()
                    self.dropped += 1
                    full = not self._queue_full_warned
                    self._queue_full_warned = True
                self._queue.append((self.topics[event.type], payload))
            self._cond.notify_all()
        if full:
            log.warning("mqtt: %d events are waiting for the broker at %s: dropping the oldest from now on "
                        "(counted in dropped_events)", self.config.queue, self.address)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + FLUSH_TIMEOUT
        with self._cond:
            while self._connected and (self._queue or self._dirty or self._unacked or self._handing):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._stop = True
            self._cond.notify_all()
            lost = len(self._queue) + sum(self._unacked.values())
            self._queue.clear()
            self.dropped += lost
            connected = self._connected
        if self._sender.is_alive():
            self._sender.join(CLOSE_TIMEOUT)
        if lost:
            log.warning("mqtt: %d events had not reached the broker at %s at shutdown: dropped", lost, self.address)
        if connected:
            try:
                final = replace(self.status_fn(), state="stopping")
                self.client.publish(self.topics["status"], final.to_json(), qos=1, retain=True)
                info = self.client.publish(self.topics["availability"], "offline", qos=1, retain=True)
                info.wait_for_publish(CLOSE_TIMEOUT)
            except Exception as exc:  # the broker went away meanwhile: the will says offline
                log.debug("mqtt: final status/offline not sent: %r", exc)
        self.client.disconnect()
        stopper = threading.Thread(target=self.client.loop_stop, daemon=True)  # paho may sit in a
        stopper.start()  # reconnect wait or a TCP connect: never let that hold up the exit
        stopper.join(CLOSE_TIMEOUT)
        log.info("mqtt: %d events delivered to %s, %d dropped", self.delivered, self.address, self.dropped)

    # -- retained topics (with self._cond held) -------------------------------------------

    def _set_retained(self, topic: str, payload: bytes) -> None:
        self._retained[topic] = payload
        if topic not in self._dirty:
            self._dirty.append(topic)

    def _set_hello(self, hello: HelloEvent) -> None:
        self._set_retained(self.topics["hello"], hello.to_json().encode())
        if self.config.discovery:
            entity = gesture_entity(self.device, self.topics["gesture"], self.topics["availability"], hello)
            self._set_retained(self.discovery_topic, json.dumps(entity).encode())

    # -- the sender thread ------------------------------------------------------------------

    def _next(self) -> tuple[str, bytes, bool] | None:
        """What to send now (with self._cond held), or None to wait."""
        if not self._connected:
            return None
        if self._dirty:
            topic = self._dirty.pop(0)
            return topic, self._retained[topic], True
        if self._queue and len(self._unacked) + self._handing < WINDOW:
            topic, payload = self._queue.popleft()
            return topic, payload, False
        return None

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (item := self._next()) is None:
                    self._cond.wait()
                if self._stop:
                    return
                self._handing += 1
            topic, payload, retain = item
            # Outside the lock: paho takes its own locks, and its thread calls _on_publish.
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            with self._cond:
                self._handing -= 1
                if info.mid in self._early_acks:
                    self._early_acks.discard(info.mid)
                    self.delivered += not retain
                else:
                    self._unacked[info.mid] = not retain
                self._cond.notify_all()

    # -- paho's network thread --------------------------------------------------------------

    @staticmethod
    def _on_log(client: mqtt.Client, userdata: Any, level: int, text: str) -> None:
        # paho calls "not connected" during a reconnect wait an error; our own lines say what
        # matters (lost, refused, back). A failing callback of ours is an error, though.
        if text.startswith("Caught exception"):
            log.error("mqtt: %s", text)
        else:
            log.debug("mqtt (paho): %s", text)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._cond:
            if mid in self._unacked:
                self.delivered += self._unacked.pop(mid)
            else:
                self._early_acks.add(mid)
            self._cond.notify_all()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            if not self._warned:
                self._warned = True
                log.error("mqtt: the broker at %s refused the connection: %s", self.address, reason)
            self._first_result.set()
            return
        try:
            hello: HelloEvent | None = self.hello_fn()
            status: StatusEvent | None = self.status_fn()
        except Exception:
            log.exception("mqtt: cannot describe the daemon for the retained topics")
            hello = status = None
        with self._cond:
            self._connected = True
            # A restarted broker without persistence forgot the retained topics: send them all again.
            self._dirty = [self.topics["availability"]]
            self._retained[self.topics["availability"]] = b"online"
            if hello is not None:
                self._set_hello(hello)
            if status is not None:
                self._set_retained(self.topics["status"], status.to_json().encode())
            self._cond.notify_all()
            down, self._down_since = self._down_since, None
            lost = self.dropped - self._dropped_at_down
            waiting = len(self._queue) + len(self._unacked)
        self._warned = self._queue_full_warned = False
        if not self._ever_connected:
            self._ever_connected = True
            log.info("mqtt: connected to %s, publishing to %s/#", self.address, self.topics["gesture"].rsplit("/", 1)[0])
        else:
            away = time.monotonic() - down if down is not None else 0.0
            log.info("mqtt: reconnected to %s after %.1f s: sending %d waiting events; %d dropped meanwhile",
                     self.address, away, waiting, lost)
        self._first_result.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        with self._cond:
            was, self._connected = self._connected, False
            if was:
                self._down_since = time.monotonic()
                self._dropped_at_down = self.dropped
        if was and not self._closed:
            self._warned = True
            log.warning("mqtt: lost the broker at %s (%s); keeping up to %d events until it is back",
                        self.address, reason, self.config.queue)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._warned:
            self._warned = True
            log.warning("mqtt: cannot reach the broker at %s; retrying every %g-%g s, keeping up to %d events",
                        self.address, self.config.reconnect_min, self.config.reconnect_max, self.config.queue)
        self._first_result.set()

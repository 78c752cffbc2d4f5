"""The `[mqtt]` settings and their checks: where the broker is, this Pi's device name, how signd
logs in, and the password, read from its file.

The password never travels on the command line (it would show in `ps` and in shell history):
it comes from `mqtt.password_file`, or from systemd's credential `mqtt-password`
(`LoadCredential=mqtt-password:/etc/signd/mqtt-password` puts it in `$CREDENTIALS_DIRECTORY`).
Everything wrong here is a ConfigError naming the key and the value or file: exit 78.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .textfile import read_text


@dataclass(frozen=True)
class MqttConfig:
    url: str = ""
    """mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883); empty = no MQTT."""
    device: str = ""
    """This Pi's name in topics (signd/<device>/gesture); empty = the hostname."""
    topic_prefix: str = "signd"
    username: str = ""
    password_file: str = ""
    """A file whose first line is the password; empty = systemd's credential mqtt-password, if any."""
    ca_file: str = ""
    """mqtts: CA certificates to trust (PEM); empty = the system's."""
    cert_file: str = ""
    """mqtts: a client certificate (PEM), for brokers that ask for one; with key_file."""
    key_file: str = ""
    queue: int = 1000
    """Events kept while the broker is away; beyond that the oldest are dropped and counted."""
    keepalive: int = 30
    """Seconds between pings when idle; a dead connection is noticed within 1.5 times this."""
    reconnect_min: float = 1.0
    """Seconds before the first reconnect attempt; doubled after each failure ..."""
    reconnect_max: float = 60.0
    """... up to this."""
    discovery: bool = False
    """Publish a Home Assistant discovery message (retained), so gestures show up as an entity."""
    discovery_prefix: str = "homeassistant"


DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
SECRET_MAX_BYTES = 64 * 1024
CREDENTIAL_NAME = "mqtt-password"
"""The systemd credential read when mqtt.password_file is empty and mqtt.username is set."""

_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOPIC_LEVELS = re.compile(r"[^/#+\x00]+(/[^/#+\x00]+)*")


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; ConfigError naming `mqtt.url` otherwise."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"mqtt.url: {why}, got {url!r} (expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT])")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # a port that is not a number or out of range
        raise bad(str(exc)) from None
    if parts.scheme not in DEFAULT_PORTS:
        raise bad(f"unknown scheme {parts.scheme!r}" if parts.scheme else "no scheme")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("mqtt.url: no user name or password in the URL (it shows in `ps` and in logs); "
                          "set mqtt.username and mqtt.password_file instead")
    if not parts.hostname:
        raise bad("no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("a broker URL has no path or query")
    if port == 0:
        raise bad("port 0")
    return BrokerAddress(parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts")


def default_device() -> str:
    """The hostname's first label, with anything a topic or Home Assistant id dislikes replaced."""
    name = socket.gethostname().split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64] or "signd"


def check_mqtt(cfg: MqttConfig) -> None:
    """Values and combinations of [mqtt]; files are read later, by `password`."""
    if not cfg.url:
        return
    address = parse_url(cfg.url)
    if cfg.device and not _DEVICE.fullmatch(cfg.device):
        raise ConfigError(f"mqtt.device: letters, digits, '-' and '_' only (1-64), got {cfg.device!r}")
    for key in ("topic_prefix", "discovery_prefix"):
        value = getattr(cfg, key)
        if not _TOPIC_LEVELS.fullmatch(value) or value.startswith("$"):
            raise ConfigError(f"mqtt.{key}: topic levels without '+', '#', empty levels or a leading '$', got {value!r}")
    rules = [
        ("queue", 1 <= cfg.queue <= 1_000_000, "must be within 1..1000000"),
        ("keepalive", 5 <= cfg.keepalive <= 65535, "must be within 5..65535 seconds"),
        ("reconnect_min", 0 < cfg.reconnect_min <= 3600, "must be > 0 and <= 3600 seconds"),
        ("reconnect_max", cfg.reconnect_min <= cfg.reconnect_max <= 86400,
         "must be >= mqtt.reconnect_min and <= 86400 seconds"),
    ]
    for key, ok, why in rules:
        if not ok:
            raise ConfigError(f"mqtt.{key}: {why}")
    if not address.tls:
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(cfg, key):
                raise ConfigError(f"mqtt.{key}: only used with an mqtts:// URL (mqtt.url is {cfg.url!r})")
    if bool(cfg.cert_file) != bool(cfg.key_file):
        raise ConfigError("mqtt.cert_file and mqtt.key_file: a client certificate needs both")
    if cfg.password_file and not cfg.username:
        raise ConfigError("mqtt.password_file: set mqtt.username too")


def _read_secret(path: Path, key: str) -> str:
    text = read_text(path, key, ConfigError, SECRET_MAX_BYTES)
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"{key}: {path} is empty (the password is its first line)")
    return lines[0]


def password(cfg: MqttConfig) -> str | None:
    """The broker password: mqtt.password_file, else the systemd credential, else none."""
    if cfg.password_file:
        return _read_secret(Path(cfg.password_file), "mqtt.password_file")
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if cfg.username and creds and (Path(creds) / CREDENTIAL_NAME).exists():
        return _read_secret(Path(creds) / CREDENTIAL_NAME, f"credential {CREDENTIAL_NAME}")
    return None


def check_tls_files(cfg: MqttConfig) -> None:
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(cfg, key)
        if not path:
            continue
        if not os.path.exists(path):
            raise ConfigError(f"mqtt.{key}: file not found: {path}")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"mqtt.{key}: cannot read {path}: permission denied")

"""[mqtt] configuration: the broker URL, device and topic names, credentials from a file or from
systemd's credentials directory, TLS files. Bad ones are one line naming the culprit, exit 78."""

from __future__ import annotations

import pytest

from signd.daemon.config import MqttConfig, load_config
from signd.daemon.errors import ConfigError
from signd.daemon.mqtt_settings import BrokerAddress, default_device, parse_url, password
from signd.daemon.publishers.mqtt import MqttPublisher

from conftest import run_signd


@pytest.mark.parametrize("url, address", [
    ("mqtt://broker.lan", BrokerAddress("broker.lan", 1883, False)),
    ("mqtt://10.0.0.5:1884", BrokerAddress("10.0.0.5", 1884, False)),
    ("mqtts://broker.lan", BrokerAddress("broker.lan", 8883, True)),
    ("mqtt://[::1]:1883/", BrokerAddress("::1", 1883, False)),
])
def test_broker_urls(url, address):
    assert parse_url(url) == address
    assert str(address).startswith("mqtt")


@pytest.mark.parametrize("url, message", [
    ("broker.lan:1883", "no scheme|unknown scheme"),
    ("tcp://broker.lan", "unknown scheme 'tcp'"),
    ("mqtt://", "no host"),
    ("mqtt://broker.lan:http", "Port could not be cast"),
    ("mqtt://broker.lan:70000", "Port out of range"),
    ("mqtt://broker.lan:0", "port 0"),
    ("mqtt://broker.lan/signd", "no path or query"),
    ("mqtt://me:secret@broker.lan", "no user name or password in the URL"),
])
def test_bad_broker_urls(url, message):
    import re

    with pytest.raises(ConfigError, match=message) as exc:
        load_config(None, {"mqtt": {"url": url}})
    assert str(exc.value).startswith("mqtt.url: ")
    assert "secret" not in str(exc.value)  # a refused password is not echoed into the journal
    assert re.search(message, str(exc.value))


@pytest.mark.parametrize("mqtt, message", [
    ({"device": "kiosk/1"}, "mqtt.device: letters, digits"),
    ({"device": "a" * 65}, "mqtt.device"),
    ({"topic_prefix": "museum/+"}, "mqtt.topic_prefix"),
    ({"topic_prefix": "/signd"}, "mqtt.topic_prefix"),
    ({"discovery_prefix": "$SYS"}, "mqtt.discovery_prefix"),
    ({"queue": 0}, "mqtt.queue: must be within 1..1000000"),
    ({"keepalive": 1}, "mqtt.keepalive"),
    ({"reconnect_min": 0}, "mqtt.reconnect_min: must be > 0"),
    ({"reconnect_min": 5.0, "reconnect_max": 2.0}, "mqtt.reconnect_max: must be >= mqtt.reconnect_min"),
    ({"ca_file": "/etc/ssl/ca.pem"}, "mqtt.ca_file: only used with an mqtts:// URL"),
    ({"url": "mqtts://b", "cert_file": "/c.pem"}, "mqtt.cert_file and mqtt.key_file"),
    ({"password_file": "/etc/signd/pw"}, "mqtt.password_file: set mqtt.username too"),
    ({"passwd": "x"}, "mqtt.passwd: unknown key"),
])
def test_bad_mqtt_settings_name_the_key(mqtt, message):
    with pytest.raises(ConfigError, match=message.replace("+", r"\+").replace("$", r"\$")):
        load_config(None, {"mqtt": {"url": "mqtt://b", **mqtt}})


def test_without_a_url_mqtt_is_off_and_nothing_is_checked():
    cfg = load_config(None, {"mqtt": {"device": "not/checked"}})
    assert cfg.mqtt.url == ""


def test_the_device_defaults_to_a_topic_safe_hostname(monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "Kiosk Room.3.local")
    assert default_device() == "Kiosk-Room"


def test_password_from_a_file_or_from_systemd_credentials(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\nignored\n")
    assert password(MqttConfig(url="mqtt://b", username="u", password_file=str(tmp_path / "pw"))) == "s3cret"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert password(MqttConfig(url="mqtt://b", username="u")) == "from-systemd"
    assert password(MqttConfig(url="mqtt://b")) is None  # no user, no password
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert password(MqttConfig(url="mqtt://b", username="u")) is None


def test_a_publisher_is_made_without_touching_the_network():
    # construction reads files and checks values only; the connection is made by start()
    pub = MqttPublisher(MqttConfig(url="mqtt://no-such-host.invalid", device="d1", topic_prefix="museum/signd",
                                   discovery=True), lambda: None, lambda: None)
    assert pub.topics["gesture"] == "museum/signd/d1/gesture"
    assert pub.discovery_topic == "homeassistant/event/signd_d1/gesture/config"
    pub.close()


# -- the command line: one line, exit 78 ------------------------------------------------------


def one_config_error(p, pattern: str) -> None:
    import re

    assert p.returncode == 78, (p.returncode, p.stderr)
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("signd run: error: "), p.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert "Traceback" not in p.stderr and p.stdout == ""


@pytest.mark.parametrize("url, pattern", [
    ("ftp://broker.lan", r"mqtt\.url: unknown scheme 'ftp'"),
    ("mqtt://broker.lan:99999", r"mqtt\.url: .*Port out of range"),
    ("mqtt://signd:hunter2@broker.lan", r"mqtt\.url: no user name or password in the URL"),
])
def test_a_bad_url_on_the_command_line(url, pattern):
    p = run_signd("run", "--mqtt", url, timeout=60)
    one_config_error(p, pattern)
    assert "hunter2" not in p.stderr


@pytest.mark.parametrize("setup, pattern", [
    ("missing", r"mqtt\.password_file not found: .*/nope"),
    ("empty", r"mqtt\.password_file: .*/pw is empty"),
    ("unreadable", r"mqtt\.password_file .*/pw cannot be read: Is a directory"),
    ("bad_ca", r"mqtt\.ca_file: .*/ca\.pem holds no usable CA certificate"),
    ("missing_key", r"mqtt\.key_file: file not found: .*/key\.pem"),
])
def test_a_bad_credentials_file(tmp_path, setup, pattern):
    mqtt = {"url": "mqtt://127.0.0.1:1", "username": "signd", "password_file": str(tmp_path / "pw")}
    if setup == "missing":
        mqtt["password_file"] = str(tmp_path / "nope")
    elif setup == "empty":
        (tmp_path / "pw").write_text("\n")
    elif setup == "unreadable":
        (tmp_path / "pw").mkdir()  # root reads any file: a directory fails for everyone
    else:
        (tmp_path / "pw").write_text("pw\n")
        (tmp_path / "ca.pem").write_text("not a certificate\n")
        mqtt.update(url="mqtts://127.0.0.1:1", ca_file=str(tmp_path / "ca.pem"))
        if setup == "missing_key":
            (tmp_path / "cert.pem").write_text("x")
            mqtt.update(ca_file="", cert_file=str(tmp_path / "cert.pem"), key_file=str(tmp_path / "key.pem"))
    cfg = tmp_path / "signd.toml"
    cfg.write_text("[mqtt]\n" + "".join(f'{k} = "{v}"\n' for k, v in mqtt.items()))
    p = run_signd("run", "--config", str(cfg), timeout=60)  # refused before any model or camera is opened
    one_config_error(p, pattern)


def test_the_example_config_mqtt_section_is_valid(tmp_path):
    from conftest import ROOT

    text = (ROOT / "deploy" / "signd.toml").read_text()
    block = text[text.index("# [mqtt]"):]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in block.splitlines())
    example = tmp_path / "signd.toml"
    example.write_text(text[:text.index("# [mqtt]")] + uncommented + "\n")
    cfg = load_config(example)
    assert cfg.mqtt.url == "mqtt://broker.lan:1883" and cfg.mqtt.password_file == "/etc/signd/mqtt-password"

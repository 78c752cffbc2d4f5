"""The command parser and the socket's line handling, fuzzed: no crash, no hang."""

import asyncio
import json
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signd.daemon.config import SocketConfig
from signd.daemon.events import parse_event
from signd.daemon.protocol import (
    MAX_LINE,
    DescribeEvent,
    HelloEvent,
    ProtocolError,
    StatusEvent,
    parse_command,
)
from signd.daemon.publishers.socket import SocketPublisher

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
commands = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["watch", "status", "describe", "ping", "nope", ""])},
    optional={"id": json_values, "types": json_values, "min_score": json_values, "x": json_values},
)


@settings(max_examples=1500, deadline=200)
@given(st.binary(max_size=600) | st.text(max_size=600) | commands.map(json.dumps))
def test_parse_command_never_crashes(line):
    try:
        cmd = parse_command(line)
    except ProtocolError as exc:
        assert exc.code in {"bad_json", "bad_command", "unknown_command", "line_too_long"}
        parse_event(exc.event().to_json())  # the reply itself is a valid v1 event
    else:
        assert cmd.cmd in {"watch", "status", "describe", "ping"}


def test_valid_commands():
    assert parse_command(b'{"cmd": "ping", "id": 3}').id == 3
    w = parse_command('{"cmd": "watch", "types": ["gesture", "keypoints"], "min_score": 0.5}')
    assert w.types == ["gesture", "keypoints"] and w.min_score == 0.5
    with pytest.raises(ProtocolError, match="at most 4096 bytes"):
        parse_command(b" " * MAX_LINE)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("s") / "e.sock")
    status = StatusEvent("running", 0.0, {"p50": 0.0, "p95": 0.0}, 0, 0, 0, 0, 0, 0, "open", 0.0, "m")
    pub = SocketPublisher(
        SocketConfig(path=path),
        hello=lambda: HelloEvent(1, "test", {"name": "m"}, "demo"),
        status=lambda: status,
        describe=lambda: DescribeEvent("test", 1, {}, "demo", {}),
    )
    pub.start()
    yield pub, path
    pub.close()


def roundtrip(path, payload: bytes) -> list[dict]:
    """Send `payload`, then a ping; everything the server said until the pong."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(payload + b"\n" + b'{"cmd":"ping","id":"end"}\n')
    buf = b""
    while b'"id":"end"' not in buf:
        chunk = s.recv(65536)
        assert chunk, "server closed the connection"
        buf += chunk
    s.close()
    return [json.loads(line) for line in buf.splitlines() if line]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3 * MAX_LINE))
def test_socket_survives_any_bytes(server, payload):
    _, path = server
    replies = roundtrip(path, payload)
    assert replies[0]["type"] == "hello" and replies[-1] == {"v": 1, "type": "pong", "id": "end"}
    assert all(r["type"] in {"hello", "error", "pong", "status", "describe", "watching"} for r in replies)


def test_many_clients_and_a_broadcast(server):
    pub, path = server
    socks = []
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        socks.append(s)
    assert asyncio.run(_wait(lambda: pub.client_count >= 20))
    from signd.daemon.events import GestureEvent

    pub.publish(GestureEvent("hello", 0.9, {"hello": 0.9}, 29, 0.0, 1.0, ["hello"], 1))
    for s in socks:
        buf = b""
        while buf.count(b"\n") < 2:
            buf += s.recv(65536)
        lines = [json.loads(x) for x in buf.splitlines()]
        assert [x["type"] for x in lines] == ["hello", "gesture"]
        s.close()


async def _wait(cond, timeout=10.0):
    for _ in range(int(timeout / 0.01)):
        if cond():
            return True
        await asyncio.sleep(0.01)
    return False


def test_oversized_event_is_not_sent(server, caplog):
    pub, _ = server
    from signd.daemon.events import GestureEvent

    pub.publish(GestureEvent("x" * 5000, 0.9, {}, 0, 0.0, 0.0))
    assert "over the 4096-byte line limit" in caplog.text
    assert threading.active_count() >= 1


def test_a_client_that_only_closed_its_sending_side_still_gets_the_stream(server):
    """`socat - UNIX-CONNECT:...` with stdin at its end shuts down writing, not reading."""
    pub, path = server
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.shutdown(socket.SHUT_WR)
    buf = s.recv(65536)
    assert b'"type":"hello"' in buf
    from signd.daemon.events import GestureEvent

    pub.publish(GestureEvent("thanks", 0.9, {"thanks": 0.9}, 29, 0.0, 1.0, ["thanks"], 2))
    while b'"type":"gesture"' not in buf:
        buf += s.recv(65536)
    s.close()


def test_keypoints_and_probs_streams_only_for_watchers(tmp_path, synthetic_npz, synthetic_model):
    from daemonkit import Client, Daemon

    sock = str(tmp_path / "events.sock")
    d = Daemon(tmp_path, "--source", str(synthetic_npz), "--model", str(synthetic_model), "--socket", sock, "--repeat", "5")
    try:
        d.wait_ready()
        plain = Client(sock)
        kiosk = Client(sock)
        kiosk.send({"cmd": "watch", "types": ["gesture", "keypoints", "probs"]})
        assert kiosk.wait_for(lambda ev: len([e for e in ev if e["type"] == "probs"]) >= 3)
        assert kiosk.wait_for(lambda ev: len([e for e in ev if e["type"] == "keypoints"]) >= 60)
        assert plain.wait_for(lambda ev: any(e["type"] == "gesture" for e in ev))
        assert not plain.of_type("keypoints") and not plain.of_type("probs")
        kp = kiosk.of_type("keypoints")[-1]
        assert len(kp["pose"]) == 33 and len(kp["right_hand"]) == 21 and kp["left_hand"] is None
        frames = [e["frame"] for e in kiosk.of_type("keypoints")]
        assert frames == list(range(frames[0], frames[0] + len(frames)))  # every frame, in order
        pr = kiosk.of_type("probs")[-1]
        assert set(pr["probs"]) == {"hello", "iloveyou", "thanks"} and abs(sum(pr["probs"].values()) - 1) < 0.01
    finally:
        assert d.stop() == 0

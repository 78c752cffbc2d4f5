import json

import pytest

from signd.daemon.events import GestureEvent, parse_event


def make():
    return GestureEvent("thanks", 0.93, {"thanks": 0.95, "hello": 0.04}, 59, 1700000000.5, 12.5,
                        ["hello", "thanks"], 2)


def test_one_line_with_version_and_type():
    line = make().to_json()
    assert "\n" not in line
    d = json.loads(line)
    assert d["v"] == 1 and d["type"] == "gesture"
    assert set(d) >= {"label", "score", "top", "t", "frame", "latency_ms", "sentence", "seq"}
    assert list(d["top"]) == ["thanks", "hello"]


def test_round_trip():
    assert parse_event(make().to_json()) == make()


@pytest.mark.parametrize("line", ['[1]', '{"v": 2, "type": "gesture"}', '{"v": 1, "type": "nope"}'])
def test_parse_rejects(line):
    with pytest.raises(ValueError):
        parse_event(line)

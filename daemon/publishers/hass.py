"""Home Assistant MQTT discovery: the retained message that makes a Pi's gestures an entity.

One `event` entity per device (Home Assistant 2023.8 and later), whose event types are the
model's labels; it is unavailable while the device's availability topic says `offline`.
"""

from __future__ import annotations

from typing import Any

from signd.daemon import __version__
from signd.daemon.protocol import HelloEvent


def discovery_topic(prefix: str, device: str) -> str:
    return f"{prefix}/event/signd_{device}/gesture/config"


def gesture_entity(device: str, gesture_topic: str, availability_topic: str, hello: HelloEvent) -> dict[str, Any]:
    uid = f"signd_{device}"
    return {
        "name": "Gesture",
        "unique_id": f"{uid}_gesture",
        "state_topic": gesture_topic,
        "event_types": list(hello.model.get("labels", [])),
        # The event platform wants {"event_type": ...}; the rest become the event's attributes.
        "value_template": '{"event_type": "{{ value_json.label }}", "score": {{ value_json.score }}, '
                          '"seq": {{ value_json.seq }}}',
        "availability_topic": availability_topic,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "device": {"identifiers": [uid], "name": f"signd {device}", "manufacturer": "signd",
                   "model": str(hello.model.get("name", "")), "sw_version": __version__},
        "origin": {"name": "signd", "sw": __version__},
    }

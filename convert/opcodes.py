"""What a `.tflite` asks of its runtime: the operator codes and versions in its flatbuffer.

A runtime registers each builtin op for a range of versions; a model that needs a newer
version than the runtime knows fails at `allocate_tensors` ("Didn't find op for builtin opcode
'FULLY_CONNECTED' version '12'"). Reading the versions from the file tells us that before
any runtime is involved, so `--target tflite-runtime-2.14` can be checked even where that
runtime is not installed. The reader follows the flatbuffer wire format directly (a few
offsets), so it needs neither TensorFlow nor the `flatbuffers` package.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

# Model table fields (tensorflow/lite/schema/schema.fbs).
_MODEL_OPERATOR_CODES = 1
_MODEL_SUBGRAPHS = 2
# OperatorCode fields.
_OPCODE_DEPRECATED_BUILTIN = 0
_OPCODE_CUSTOM = 1
_OPCODE_VERSION = 2
_OPCODE_BUILTIN = 3
# SubGraph and Operator fields.
_SUBGRAPH_OPERATORS = 3
_OPERATOR_OPCODE_INDEX = 0


@dataclass(frozen=True)
class OpUse:
    """One operator code of a model: its name, version, and how many operators use it."""

    name: str
    version: int
    count: int
    custom: bool = False

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field `index` of the table at `table`, or None when absent."""
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        vsize = struct.unpack_from("<H", self.buf, vtable)[0]
        slot = 4 + 2 * index
        if slot >= vsize:
            return None
        off = struct.unpack_from("<H", self.buf, vtable + slot)[0]
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def target(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else pos + self.u32(pos)

    def tables(self, table: int, index: int) -> list[int]:
        vec = self.target(table, index)
        if vec is None:
            return []
        n = self.u32(vec)
        return [vec + 4 + 4 * i + self.u32(vec + 4 + 4 * i) for i in range(n)]

    def string(self, table: int, index: int) -> str | None:
        pos = self.target(table, index)
        if pos is None:
            return None
        n = self.u32(pos)
        return self.buf[pos + 4 : pos + 4 + n].decode("utf-8", "replace")


def _builtin_names() -> dict[int, str]:
    # The generated schema is plain Python in ai-edge-litert (and TensorFlow); importing it
    # loads no TFLite library.
    for module in ("ai_edge_litert.schema_py_generated", "tflite_runtime.schema_py_generated"):
        try:
            mod = __import__(module, fromlist=["BuiltinOperator"])
        except ImportError:
            continue
        ops = mod.BuiltinOperator
        return {v: k for k, v in vars(ops).items() if not k.startswith("_") and isinstance(v, int)}
    return {}


_NAMES: dict[int, str] | None = None


def op_name(code: int) -> str:
    global _NAMES
    if _NAMES is None:
        _NAMES = _builtin_names()
    return _NAMES.get(code, f"BUILTIN_{code}")


def read_ops(content: bytes) -> list[OpUse]:
    """The operator codes of a TFLite flatbuffer with their versions and use counts."""
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no TFL3 file identifier)")
    r = _Reader(content)
    try:
        model = r.u32(0)
        codes = []
        for oc in r.tables(model, _MODEL_OPERATOR_CODES):
            # Builtin codes above 127 live in `builtin_code`; older files only fill the
            # deprecated int8 field, so the larger of the two is the real code.
            code = max(
                r.scalar(oc, _OPCODE_DEPRECATED_BUILTIN, "b", 0),
                r.scalar(oc, _OPCODE_BUILTIN, "i", 0),
            )
            custom = r.string(oc, _OPCODE_CUSTOM)
            version = r.scalar(oc, _OPCODE_VERSION, "i", 1)
            codes.append((custom or op_name(code), version, custom is not None))
        used: Counter[int] = Counter()
        for sg in r.tables(model, _MODEL_SUBGRAPHS):
            for op in r.tables(sg, _SUBGRAPH_OPERATORS):
                used[r.scalar(op, _OPERATOR_OPCODE_INDEX, "I", 0)] += 1
    except (struct.error, IndexError) as exc:
        raise ValueError(f"truncated or corrupt TFLite flatbuffer ({exc})") from None
    return [
        OpUse(name, version, used.get(i, 0), custom)
        for i, (name, version, custom) in enumerate(codes)
    ]


def subgraph_count(content: bytes) -> int:
    """How many subgraphs the model has (a WHILE loop adds a condition and a body)."""
    r = _Reader(content)
    return len(r.tables(r.u32(0), _MODEL_SUBGRAPHS))

"""Reading a `.tflite` file's bytes without a runtime: is it whole, and which ops does it use.

Runtimes differ in how they take a damaged file: ai-edge-litert verifies the flatbuffer and
raises, tensorflow.lite's interpreter crashes the whole process (SIGSEGV) on a truncated one.
Walking the tables whose offsets could point past the end turns a cut-off download or copy
into a one-line error on every runtime. The same reader lists the operator codes and their
versions: a runtime registers each builtin op for a range of versions, and a model needing a
newer one fails at `allocate_tensors` ("Didn't find op for builtin opcode 'FULLY_CONNECTED'
version '12'"), which `signd convert --target` checks before any runtime is involved. The
wire format is followed directly (a few offsets): no TensorFlow, no `flatbuffers` package.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

# Model table fields (tensorflow/lite/schema/schema.fbs)
_MODEL_OPERATOR_CODES = 1
_MODEL_SUBGRAPHS = 2
_MODEL_BUFFERS = 4
# OperatorCode fields
_OPCODE_DEPRECATED_BUILTIN = 0
_OPCODE_CUSTOM = 1
_OPCODE_VERSION = 2
_OPCODE_BUILTIN = 3
# SubGraph and Operator fields
_SUBGRAPH_OPERATORS = 3
_OPERATOR_OPCODE_INDEX = 0
# Buffer table fields
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


class FlatbufferError(ValueError):
    """The bytes are not a whole TFLite flatbuffer."""


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
    """Flatbuffer access where every read is bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > self.n:
            raise FlatbufferError(f"{what} at byte {pos} (+{size}) lies past the end ({self.n} bytes): truncated file")

    def unpack(self, fmt: str, pos: int, what: str = "value") -> int:
        self.need(pos, struct.calcsize(fmt), what)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def u32(self, pos: int) -> int:
        return self.unpack("I", pos, "offset")

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field `index` of the table at `table`, or None if absent."""
        vtable = table - self.unpack("i", table, "table")
        vt_size = self.unpack("H", vtable, "vtable")
        self.need(vtable, vt_size, "vtable")
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = self.unpack("H", vtable + slot, "vtable")
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        return default if pos is None else self.unpack(fmt, pos)

    def target(self, table: int, index: int) -> int | None:
        """Where the offset stored in field `index` points, or None if absent."""
        pos = self.field(table, index)
        return None if pos is None else pos + self.u32(pos)

    def vector(self, start: int, elem_size: int, what: str) -> tuple[int, int]:
        """(first element, count) of the vector at `start`."""
        count = self.u32(start)
        self.need(start + 4, count * elem_size, what)
        return start + 4, count

    def tables(self, table: int, index: int, what: str = "table list") -> list[int]:
        vec = self.target(table, index)
        if vec is None:
            return []
        first, count = self.vector(vec, 4, what)
        return [first + 4 * i + self.u32(first + 4 * i) for i in range(count)]

    def string(self, table: int, index: int) -> str | None:
        pos = self.target(table, index)
        if pos is None:
            return None
        first, n = self.vector(pos, 1, "string")
        return self.data[first : first + n].decode("utf-8", "replace")


def _model(data: bytes) -> tuple[_Reader, int]:
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise FlatbufferError("not a TFLite model (no TFL3 file identifier)")
    r = _Reader(data)
    return r, r.u32(0)


def check_tflite_bytes(data: bytes) -> None:
    """Raise FlatbufferError unless `data` looks like a whole TFLite model."""
    r, model = _model(data)
    subgraphs = r.tables(model, _MODEL_SUBGRAPHS, "subgraph list")
    if not subgraphs:
        raise FlatbufferError("the model has no subgraph")
    for sg in subgraphs:
        r.field(sg, 0)  # the subgraph table and its vtable are in range
    for i, buf in enumerate(r.tables(model, _MODEL_BUFFERS, "buffer list")):
        data_pos = r.target(buf, _BUFFER_DATA)
        if data_pos is not None:
            r.vector(data_pos, 1, f"buffer {i}")
        off_pos, size_pos = r.field(buf, _BUFFER_OFFSET), r.field(buf, _BUFFER_SIZE)
        if off_pos is not None and size_pos is not None:
            # Large models keep weights after the flatbuffer, addressed from the file start.
            r.need(r.unpack("Q", off_pos), r.unpack("Q", size_pos), f"buffer {i}")


def _builtin_names() -> dict[int, str]:
    # The generated schema is plain Python in ai-edge-litert (and tflite-runtime); importing
    # it loads no TFLite library.
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


def read_ops(data: bytes) -> list[OpUse]:
    """The operator codes of a TFLite flatbuffer with their versions and use counts."""
    r, model = _model(data)
    codes = []
    for oc in r.tables(model, _MODEL_OPERATOR_CODES):
        # Builtin codes above 127 live in `builtin_code`; older files only fill the
        # deprecated int8 field, so the larger of the two is the real code.
        code = max(r.scalar(oc, _OPCODE_DEPRECATED_BUILTIN, "b", 0), r.scalar(oc, _OPCODE_BUILTIN, "i", 0))
        custom = r.string(oc, _OPCODE_CUSTOM)
        version = r.scalar(oc, _OPCODE_VERSION, "i", 1)
        codes.append((custom or op_name(code), version, custom is not None))
    used: Counter[int] = Counter()
    for sg in r.tables(model, _MODEL_SUBGRAPHS):
        for op in r.tables(sg, _SUBGRAPH_OPERATORS):
            used[r.scalar(op, _OPERATOR_OPCODE_INDEX, "I", 0)] += 1
    return [OpUse(name, version, used.get(i, 0), custom) for i, (name, version, custom) in enumerate(codes)]


def subgraph_count(data: bytes) -> int:
    """How many subgraphs the model has (a WHILE loop adds a condition and a body)."""
    r, model = _model(data)
    return len(r.tables(model, _MODEL_SUBGRAPHS))

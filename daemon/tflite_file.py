"""Checks on a `.tflite` file's bytes before any runtime sees them.

Runtimes differ in how they take a damaged file: ai-edge-litert verifies the flatbuffer and
raises, tensorflow.lite's interpreter crashes the whole process (SIGSEGV) on a truncated one.
Walking the few tables whose offsets could point past the end turns a cut-off download or
copy into a one-line error on every runtime.
"""

from __future__ import annotations

import struct

# Model table fields (tensorflow/lite/schema/schema.fbs)
_MODEL_SUBGRAPHS = 2
_MODEL_BUFFERS = 4
# Buffer table fields
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2


class FlatbufferError(ValueError):
    """The bytes are not a whole TFLite flatbuffer."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def _need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or pos + size > self.n:
            raise FlatbufferError(f"{what} at byte {pos} (+{size}) lies past the end ({self.n} bytes): truncated file")

    def u16(self, pos: int) -> int:
        self._need(pos, 2, "field")
        return struct.unpack_from("<H", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        self._need(pos, 4, "offset")
        return struct.unpack_from("<I", self.data, pos)[0]

    def u64(self, pos: int) -> int:
        self._need(pos, 8, "value")
        return struct.unpack_from("<Q", self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field `index` of the table at `table`, or None if absent."""
        vtable = table - struct.unpack_from("<i", self.data, table)[0] if table + 4 <= self.n else -1
        self._need(vtable, 4, "vtable")
        vt_size = self.u16(vtable)
        self._need(vtable, vt_size, "vtable")
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = self.u16(vtable + slot)
        return table + off if off else None

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start of elements, count) of the vector referenced at `pos`."""
        v = self.indirect(pos)
        count = self.u32(v)
        self._need(v + 4, count * elem_size, what)
        return v + 4, count


def check_tflite_bytes(data: bytes) -> None:
    """Raise FlatbufferError unless `data` looks like a whole TFLite model."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise FlatbufferError("not a TFLite model (no TFL3 file identifier)")
    r = _Reader(data)
    model = r.indirect(0)
    subgraphs = r.field(model, _MODEL_SUBGRAPHS)
    if subgraphs is None:
        raise FlatbufferError("the model has no subgraph")
    start, count = r.vector(subgraphs, 4, "subgraph list")
    for i in range(count):
        r.field(r.indirect(start + 4 * i), 0)  # the subgraph table and its vtable are in range
    buffers = r.field(model, _MODEL_BUFFERS)
    if buffers is None:
        return
    start, count = r.vector(buffers, 4, "buffer list")
    for i in range(count):
        buf = r.indirect(start + 4 * i)
        data_pos = r.field(buf, _BUFFER_DATA)
        if data_pos is not None:
            r.vector(data_pos, 1, f"buffer {i}")
        off_pos, size_pos = r.field(buf, _BUFFER_OFFSET), r.field(buf, _BUFFER_SIZE)
        if off_pos is not None and size_pos is not None:
            # Large models keep weights after the flatbuffer, addressed from the file start.
            r._need(r.u64(off_pos), r.u64(size_pos), f"buffer {i}")

"""Which builtin op versions a runtime registers, and whether a model fits in them.

A runtime can only be asked by loading a model into it; `measure` does exactly that, with
one tiny model per (op, version) that holds nothing but the operator code, and records which
ones register. `TFLITE_RUNTIME_2_14` is that measurement for tflite-runtime 2.14.0 (x86_64,
the wheel of the Pi's older installs), so `--target tflite-runtime-2.14` is checked even where
that runtime is not installed; a test re-measures it where it is.
Regenerate: `python -m signd.convert.compat tflite-runtime`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from signd.daemon.tflite_file import OpUse

_TFLITE_RUNTIME_2_14 = """
ABS:1-5 ADD:1-5 ADD_N:1 ARG_MAX:1-3 ARG_MIN:1-3 ASSIGN_VARIABLE:1 ATAN2:1
AVERAGE_POOL_2D:1-3 BATCH_MATMUL:1-4 BATCH_TO_SPACE_ND:1-4 BIDIRECTIONAL_SEQUENCE_LSTM:1-3
BIDIRECTIONAL_SEQUENCE_RNN:1-3 BITCAST:1 BITWISE_XOR:1 BROADCAST_ARGS:1 BROADCAST_TO:2-3
BUCKETIZE:1 CALL_ONCE:1 CAST:1-5 CEIL:1 COMPLEX_ABS:1 CONCATENATION:1-4 CONV_2D:1-7
CONV_3D:1 CONV_3D_TRANSPOSE:1 COS:1 CUMSUM:1 DENSIFY:1 DEPTHWISE_CONV_2D:1-7
DEPTH_TO_SPACE:1-2 DEQUANTIZE:1-5 DIV:1-2 DYNAMIC_UPDATE_SLICE:1 ELU:1 EMBEDDING_LOOKUP:1-3
EMBEDDING_LOOKUP_SPARSE:1 EQUAL:1-4 EXP:1-2 EXPAND_DIMS:1 FAKE_QUANT:1-2 FILL:1-4 FLOOR:1
FLOOR_DIV:1-3 FLOOR_MOD:1-2 FULLY_CONNECTED:1-10 GATHER:1-6 GATHER_ND:1-4 GELU:1-2
GREATER:1-2 GREATER_EQUAL:1-3 HARD_SWISH:1 HASHTABLE:1 HASHTABLE_FIND:1 HASHTABLE_IMPORT:1
HASHTABLE_LOOKUP:1 HASHTABLE_SIZE:1 IF:1 IMAG:1 L2_NORMALIZATION:1-2 L2_POOL_2D:1
LEAKY_RELU:1-2 LESS:1-3 LESS_EQUAL:1-2 LOCAL_RESPONSE_NORMALIZATION:1 LOG:1 LOGICAL_AND:1
LOGICAL_NOT:1 LOGICAL_OR:1 LOGISTIC:1-3 LOG_SOFTMAX:1-2 LSH_PROJECTION:1 LSTM:1-4
MATRIX_DIAG:1 MATRIX_SET_DIAG:1 MAXIMUM:1-4 MAX_POOL_2D:1-3 MEAN:1-3 MINIMUM:1-4
MIRROR_PAD:1-3 MUL:1-7 MULTINOMIAL:1 NEG:1 NON_MAX_SUPPRESSION_V4:1 NON_MAX_SUPPRESSION_V5:1
NOT_EQUAL:1-3 ONE_HOT:1 PACK:1-4 PAD:1-4 PADV2:1-4 POW:1 PRELU:1 QUANTIZE:1-3
RANDOM_STANDARD_NORMAL:1 RANDOM_UNIFORM:1 RANGE:1-2 RANK:1 READ_VARIABLE:1 REAL:1
REDUCE_ALL:1 REDUCE_ANY:1 REDUCE_MAX:1-3 REDUCE_MIN:1-3 REDUCE_PROD:1-2 RELU:1-3 RELU6:1-3
RELU_0_TO_1:1 RELU_N1_TO_1:1 RESHAPE:1 RESIZE_BILINEAR:1-4 RESIZE_NEAREST_NEIGHBOR:1-4
REVERSE_SEQUENCE:1 REVERSE_V2:1-3 RFFT2D:1 RIGHT_SHIFT:1 RNN:1-3 ROUND:1 RSQRT:1-2
SCATTER_ND:1 SEGMENT_SUM:1 SELECT:1-4 SELECT_V2:1-2 SHAPE:1 SIGN:1-2 SIN:1 SKIP_GRAM:1
SLICE:1-6 SOFTMAX:1-3 SPACE_TO_BATCH_ND:1-4 SPACE_TO_DEPTH:1-2 SPARSE_TO_DENSE:1-3 SPLIT:1-4
SPLIT_V:1-2 SQRT:1 SQUARE:1 SQUARED_DIFFERENCE:1-2 SQUEEZE:1-2 STRIDED_SLICE:1-8 SUB:1-5
SUM:1-2 SVDF:1-4 TANH:1-3 TILE:1-3 TOPK_V2:1-3 TRANSPOSE:1-6 TRANSPOSE_CONV:1-4
UNIDIRECTIONAL_SEQUENCE_LSTM:1-4 UNIDIRECTIONAL_SEQUENCE_RNN:1-3 UNIQUE:1 UNPACK:1-4
UNSORTED_SEGMENT_MAX:1 UNSORTED_SEGMENT_MIN:1 UNSORTED_SEGMENT_PROD:1 UNSORTED_SEGMENT_SUM:1
VAR_HANDLE:1 WHERE:1-2 WHILE:1 ZEROS_LIKE:1
"""

MAX_PROBED_VERSION = 19


def parse_table(text: str) -> dict[str, tuple[int, int]]:
    table = {}
    for entry in text.split():
        name, _, span = entry.partition(":")
        lo, _, hi = span.partition("-")
        table[name] = (int(lo), int(hi or lo))
    return table


def format_table(table: dict[str, tuple[int, int]]) -> str:
    import textwrap

    parts = [f"{k}:{a}-{b}" if a != b else f"{k}:{a}" for k, (a, b) in sorted(table.items())]
    return textwrap.fill(" ".join(parts), 92)


TFLITE_RUNTIME_2_14 = parse_table(_TFLITE_RUNTIME_2_14)


@dataclass(frozen=True)
class Target:
    """Where a converted model must load."""

    name: str  # as on the command line
    runtime: str  # the runtime name in signd.daemon.interpreter
    version_prefix: str  # an installed runtime whose version starts with this is the target itself
    ops: dict[str, tuple[int, int]] | None  # registered op versions, when known without loading


TARGETS: dict[str, Target] = {
    "ai-edge-litert": Target("ai-edge-litert", "ai-edge-litert", "", None),
    "tflite-runtime-2.14": Target("tflite-runtime-2.14", "tflite-runtime", "2.14.", TFLITE_RUNTIME_2_14),
}


def unsupported(ops: list[OpUse], table: dict[str, tuple[int, int]], runtime: str) -> list[str]:
    """One phrase per op the runtime lacks, e.g. 'FULLY_CONNECTED v12 (tflite-runtime 2.14 has v1-v10)'."""
    missing = []
    for op in ops:
        if op.custom:
            missing.append(f"custom op {op.name} ({runtime} runs builtin ops only)")
            continue
        span = table.get(op.name)
        if span is None:
            missing.append(f"{op} ({runtime} does not have this op)")
        elif not span[0] <= op.version <= span[1]:
            missing.append(f"{op} ({runtime} has v{span[0]}-v{span[1]})")
    return missing


def _probe_model(code: int, version: int) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, 127)  # 127: "look in builtin_code"
    opcode.version = version
    model.operatorCodes = [opcode]
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = [], [], [], []
    model.subgraphs = [graph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def measure(runtime_name: str) -> dict[str, tuple[int, int]]:
    """The builtin op versions that the named runtime registers (loads it in this process)."""
    from ai_edge_litert import schema_py_generated as schema

    from signd.daemon.interpreter import load_runtime

    interpreter_cls = load_runtime(runtime_name).interpreter_cls
    # Registration is looked up when the interpreter is built, before any tensor exists; these
    # are the messages of a code or version that is not registered.
    absent = ("Didn't find op", "custom_code", "out of range")
    table = {}
    for name, code in vars(schema.BuiltinOperator).items():
        if name.startswith("_") or not isinstance(code, int):
            continue
        versions = []
        for v in range(1, MAX_PROBED_VERSION + 1):
            try:
                interpreter_cls(model_content=_probe_model(code, v))
            except (ValueError, RuntimeError) as exc:
                if any(a in str(exc) for a in absent):
                    continue
                raise
            versions.append(v)
        if versions:
            table[name] = (min(versions), max(versions))
    return table


if __name__ == "__main__":
    print(format_table(measure(sys.argv[1] if len(sys.argv) > 1 else "tflite-runtime")))

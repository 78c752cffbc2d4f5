"""The shape of the package: no import circles, every setting's default defined once (in the
config section that owns it), frozen settings, and what a model recommends typed and checked."""

from __future__ import annotations

import ast
import dataclasses
import json
import threading
from pathlib import Path

import pytest

from signd.daemon import config as config_module
from signd.daemon import mqtt_settings
from signd.daemon.assemble import build_pipeline, recognition
from signd.daemon.classifier import Classifier
from signd.daemon.config import (
    KeypointsConfig,
    RunConfig,
    SourceConfig,
    WindowConfig,
    default_model_path,
    load_config,
)
from signd.daemon.errors import DataError
from signd.daemon.recognizer import Recognition
from signd.daemon.smoothing import SmoothingConfig, SmoothingOverrides
from signd.daemon.sources import make_source
from signd.models.manifest import Manifest, RuntimeHints, read_manifest

from conftest import ROOT, shared_path

PACKAGES = {"signd.daemon": ROOT / "daemon", "signd.models": ROOT / "models", "signd.convert": ROOT / "convert"}
OWNERS = {"daemon/config.py", "daemon/smoothing.py", "daemon/mqtt_settings.py"}
"""Where settings and their defaults live."""


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, root in PACKAGES.items():
        for p in root.rglob("*.py"):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([pkg, *parts])] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its body (lazy imports and
    TYPE_CHECKING blocks count: a circle drawn lazily is still a circle)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                b = base
                for _ in range(max(node.level - 1, 0)):
                    b = b.rpartition(".")[0]
                m = (f"{b}.{node.module}" if node.module else b) if node.level else (node.module or "")
                candidates = [m] + [f"{m}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            for c in candidates:
                while c and c not in mods:
                    c = c.rpartition(".")[0]
                if c and c != name:
                    deps.add(c)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert len(graph) > 80 and "signd.daemon.config" in graph["signd.daemon.pipeline"] | {
        d for m in graph["signd.daemon.pipeline"] for d in graph[m]}
    assert cycles(graph) == []


def test_the_walk_finds_a_circle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _knobs() -> set[str]:
    """Every setting's name in the configuration."""
    names: set[str] = set()
    sections = [t for t in (getattr(config_module, n) for n in dir(config_module))
                if dataclasses.is_dataclass(t) and t.__module__ == config_module.__name__]
    for cls in [*sections, mqtt_settings.MqttConfig, SmoothingConfig]:
        names |= {f.name for f in dataclasses.fields(cls)}
    return names - {"path", "labels", "runtime", "source", "model", "keypoints", "window", "smoothing",
                    "socket", "mqtt"}  # names that also mean other things; checked below by value


def test_no_setting_has_a_default_outside_its_config_section():
    """A function or class that takes a setting takes it without a default of its own (None,
    meaning "not given", aside): the value comes from its config section, so the two can never
    disagree."""
    knobs = _knobs()
    found = []
    for name, path in _modules().items():
        rel = path.relative_to(ROOT).as_posix()
        if rel in OWNERS or name.startswith("signd.convert"):  # convert takes no runtime setting
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            pairs = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pos = a.posonlyargs + a.args
                pairs += list(zip(pos[len(pos) - len(a.defaults):], a.defaults, strict=True))
                pairs += [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
                pairs = [(arg.arg, d) for arg, d in pairs]
            elif isinstance(node, ast.ClassDef):
                pairs = [(st.target.id, st.value) for st in node.body
                         if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None]
            for name, default in pairs:
                text = ast.unparse(default)
                if name in knobs and text != "None" and "Config." not in text:
                    found.append(f"{rel}:{default.lineno} {name}={text}")
    assert found == []


def test_runtime_objects_built_from_an_empty_config_carry_its_defaults(tmp_path):
    cfg = RunConfig()
    cam = make_source(SourceConfig(uri="camera:0"), threading.Event())
    s = cfg.source
    assert (cam.width, cam.height, cam.fps, cam.max_width) == (s.camera_width, s.camera_height, s.camera_fps, s.max_width)
    video = make_source(SourceConfig(uri=str(shared_path("videos", "hello.mp4"))), threading.Event())
    assert (video.max_width, video.repeat, video.live) == (s.max_width, s.repeat, not s.fast)
    # the recognizer: the user's window and smoothing (none given), then the model's, then built-in
    clf = Classifier.load(default_model_path())
    rec = recognition(cfg, clf)
    hints = clf.manifest.runtime
    assert rec.window == dataclasses.replace(cfg.window, seconds=hints.window_seconds)
    assert rec.smoothing == hints.smoothing.apply(SmoothingConfig())
    assert Recognition.resolve(cfg.window, cfg.smoothing, RuntimeHints()).smoothing == SmoothingConfig()
    # the pipeline takes the sections themselves
    p = build_pipeline(load_config(None, {"source": {"uri": str(shared_path("videos", "hello.mp4"))}}), [])
    try:
        assert p.keypoints == KeypointsConfig() and p.recognition == rec
    finally:
        p.source.close()
    assert dataclasses.fields(SmoothingOverrides) and {f.name for f in dataclasses.fields(SmoothingOverrides)} == \
        {f.name for f in dataclasses.fields(SmoothingConfig)}
    assert all(f.default is None for f in dataclasses.fields(SmoothingOverrides))


def test_settings_are_frozen_and_a_reload_replaces_them():
    cfg = RunConfig()
    for section in [cfg, *(getattr(cfg, f.name) for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name)))]:
        field = dataclasses.fields(section)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(section, field, getattr(section, field))
    assert WindowConfig().seconds is None  # unset: the model's recommendation decides


def _manifest(tmp_path: Path, runtime: object, key: str = "runtime") -> Path:
    d = json.loads((ROOT / "models" / "default" / "default.json").read_text())
    d.pop("runtime")
    if key == "runtime":
        d["runtime"] = runtime
    else:
        d["extra"].update(runtime)  # type: ignore[arg-type]
    (tmp_path / "m.json").write_text(json.dumps(d))
    return tmp_path / "m.tflite"


@pytest.mark.parametrize("runtime, culprit", [
    ({"smoothing": {"majorty": 10}}, "runtime.smoothing.majorty: unknown key"),
    ({"window_secs": 1.0}, "runtime.window_secs: unknown key"),
    ({"smoothing": {"threshold": "high"}}, "runtime.smoothing.threshold: expected a number"),
    ({"smoothing": {"threshold": 1.5}}, "threshold must be within 0..1"),
    ({"smoothing": {"majority": True}}, "runtime.smoothing.majority: expected an integer"),
    ({"window_seconds": -1}, "runtime.window_seconds must be within 0..60"),
    ({"window_seconds": 1e9}, "runtime.window_seconds must be within 0..60"),
    ({"smoothing": {"cooldown": float("nan")}}, "runtime.smoothing.cooldown: expected a finite number"),
    ({"smoothing": {"rest_labels": "blank"}}, "runtime.smoothing.rest_labels: expected a list"),
    ([1, 2], "key 'runtime' must be an object"),
])
def test_what_a_model_recommends_is_checked_on_load(tmp_path, runtime, culprit):
    with pytest.raises(DataError, match="m.json: .*" + culprit.replace("(", r"\(").replace(".", r"\.")):
        read_manifest(_manifest(tmp_path, runtime))


def test_a_manifest_from_before_runtime_hints_keeps_them(tmp_path):
    m = read_manifest(_manifest(tmp_path, {"window_seconds": 1.5, "smoothing": {"threshold": 0.9,
                                           "rest_labels": ["blank"]}}, key="extra"))
    assert m is not None and m.runtime == RuntimeHints(1.5, SmoothingOverrides(threshold=0.9, rest_labels=("blank",)))
    assert "smoothing" not in m.extra and "window_seconds" not in m.extra
    with pytest.raises(DataError, match="runtime.smoothing.majorty"):
        read_manifest(_manifest(tmp_path, {"smoothing": {"majorty": 3}}, key="extra"))


def test_runtime_hints_round_trip():
    m = Manifest(labels=["a"], runtime=RuntimeHints(1.0, SmoothingOverrides(threshold=0.8)))
    d = m.to_dict()
    assert d["runtime"] == {"window_seconds": 1.0, "smoothing": {"threshold": 0.8}}
    assert Manifest.from_dict(d).runtime == m.runtime
    assert Manifest(labels=["a"]).to_dict()["runtime"] == {}

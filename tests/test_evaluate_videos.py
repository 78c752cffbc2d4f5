"""signd evaluate --videos: verdicts and edit distance (no MediaPipe), manifests and folders,
bad input, and two real clips through the real pipeline, consistent with `signd run --fast`.

The shipped model is being replaced, so nothing here asserts which signs it recognises."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from signd.daemon.cli import main
from signd.models.videos import (
    ClipEvent,
    ClipResult,
    VideoReport,
    edit_distance,
    format_report,
    judge,
    load_clips,
)

from conftest import shared_path, signd_cmd

KNOWN = {"hello", "thanks", "iloveyou"}
# Short clips: hello.mp4 has 37 frames, sharkawy-goodbye.mp4 53 (the suite's time is tight).
CLIPS = {"hello.mp4": "hello", "sharkawy-goodbye.mp4": "goodbye"}


# -- verdicts, without MediaPipe ---------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "d"), [
    ([], [], 0), (["a"], [], 1), ([], ["a", "b"], 2), (["a", "b"], ["a", "b"], 0),
    (["a", "x", "b"], ["a", "b"], 1), (["a", "b"], ["b", "a"], 2), (["x", "y", "z"], ["a"], 3),
    (["hello", "thanks", "thanks", "thanks", "iloveyou"], ["hello", "sorry", "thanks", "help", "goodbye"], 3),
])
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


@pytest.mark.parametrize(("signs", "events", "expected"), [
    (["hello"], ["hello"], ("known", "right", None, None)),
    (["hello"], ["hello", "hello"], ("known", "right", None, None)),  # held: fired twice
    (["hello"], ["hello", "thanks"], ("known", "wrong", None, None)),
    (["hello"], ["thanks"], ("known", "wrong", None, None)),
    (["hello"], [], ("known", "none", None, None)),
    (["drink"], [], ("other", "silent", None, None)),
    (["drink"], ["hello"], ("other", "fired", None, None)),
    (["blank"], ["hello"], ("other", "fired", None, None)),  # a rest label is no sign to hit
    (["hello", "thanks"], ["hello", "thanks"], ("sentence", "right", 0, 0)),
    (["hello", "thanks"], [], ("sentence", "wrong", 2, 2)),
    (["hello", "sorry", "thanks"], ["hello", "thanks"], ("sentence", "wrong", 1, 0)),
])
def test_judge(signs, events, expected):
    assert judge(signs, events, KNOWN) == expected


def _result(file, signs, events, verdict, kind="known", distance=None, known=None):
    return ClipResult(file, tuple(signs), kind, tuple(ClipEvent(e, 30 + i, 0.9) for i, e in enumerate(events)),
                      verdict, distance, known, 40, 1.5)


def test_summary_and_table():
    report = VideoReport("m.tflite", ("blank", "hello", "thanks"), ("blank",), (
        _result("a.mp4", ["hello"], ["hello"], "right"),
        _result("b.mp4", ["hello"], [], "none"),
        _result("c.mp4", ["drink"], ["thanks"], "fired", "other"),
        _result("d.mp4", ["drink"], [], "silent", "other"),
        _result("e.mp4", ["drink"], [], "silent", "other"),
        _result("f.mp4", ["hello", "drink"], ["hello"], "wrong", "sentence", 1, 0),
    ))
    s = report.summary()
    assert s["known"] == {"clips": 2, "right": 1, "share_right": 0.5}
    assert s["other"] == {"clips": 3, "fired": 1, "share_fired": 0.3333}
    assert s["sentence"] == {"clips": 1, "right": 0, "mean_distance": 1.0}
    d = json.loads(json.dumps(report.to_dict()))
    assert [c["file"] for c in d["clips"]] == [f"{x}.mp4" for x in "abcdef"] and d["clips"][0]["events"][0]["label"] == "hello"
    text = format_report(report)
    assert "known signs right: 1/2 (50%)" in text and "other signs fired: 1/3 (33%)" in text
    assert "wrong (distance 1, 0 on known signs)" in text and "sentences right: 0/1" in text


# -- where clips come from -------------------------------------------------------------------


def test_a_folder_of_clips_named_by_sign(tmp_path):
    for name in ("hello.mp4", "hello-2.mp4", "thanks_anna.mp4", "iloveyou-b_c.MOV", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    clips = load_clips(tmp_path)
    assert [(c.name, c.signs) for c in clips] == [
        ("hello-2.mp4", ("hello",)), ("hello.mp4", ("hello",)),
        ("iloveyou-b_c.MOV", ("iloveyou",)), ("thanks_anna.mp4", ("thanks",))]


def test_a_manifest_paths_relative_to_its_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.mp4").write_bytes(b"")
    (tmp_path / "hello.mp4").write_bytes(b"")  # beside a manifest, names do not count
    (tmp_path / "MANIFEST.tsv").write_text(
        "source\tsigns\tfile\n\nsomewhere\thello  sorry thanks\tsub/x.mp4\n-\tdrink\tsub/x.mp4\n")
    for given in (tmp_path, tmp_path / "MANIFEST.tsv"):
        clips = load_clips(given)
        assert [(c.path, c.signs) for c in clips] == [
            (tmp_path / "sub" / "x.mp4", ("hello", "sorry", "thanks")), (tmp_path / "sub" / "x.mp4", ("drink",))]


def _error(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["evaluate", *argv])
    lines = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(lines) == 1, lines
    return rc, lines[0]


def test_bad_input_is_one_line_naming_the_culprit(tmp_path, capsys):
    (tmp_path / "hello.mp4").write_bytes(b"")
    m = tmp_path / "clips.tsv"
    m.write_text("file\tsigns\tsource\nhello.mp4\thello\t-\ngone.mp4\tthanks\t-\n")
    rc, line = _error(capsys, "--videos", str(m))
    assert rc == 66 and str(m) in line and "row 2" in line and "gone.mp4" in line
    m.write_text("clip\tlabel\nhello.mp4\thello\n")
    rc, line = _error(capsys, "--videos", str(m))
    assert rc == 65 and str(m) in line and "file or signs" in line
    (tmp_path / "empty").mkdir()
    rc, line = _error(capsys, "--videos", str(tmp_path / "empty"))
    assert rc == 66 and "empty" in line and "no clips" in line
    rc, line = _error(capsys, "--videos", str(tmp_path / "hello.mp4"), "--stream")
    assert rc == 78 and "--stream" in line
    rc, line = _error(capsys)
    assert rc == 66 and "--videos" in line


# -- real clips, real MediaPipe ----------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """`signd evaluate --videos` on a manifest of two short shared clips, linked beside it."""
    folder = tmp_path_factory.mktemp("clips")
    rows = ["file\tsigns\tsource"]
    for name, sign in CLIPS.items():
        (folder / name).symlink_to(shared_path("videos", name))
        rows.append(f"{name}\t{sign}\tshared")
    (folder / "MANIFEST.tsv").write_text("\n".join(rows) + "\n")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["evaluate", "--videos", str(folder), "--json"])
    assert rc == 0, err.getvalue()[-2000:]
    return json.loads(out.getvalue()), err.getvalue()


def test_every_clip_judged_by_the_models_labels(evaluated):
    result, err = evaluated
    assert result["mode"] == "videos" and "blank" in result["labels"]
    assert "evaluate:" not in err  # no progress bar when stderr is not a terminal
    known = set(result["labels"]) - set(result["rest_labels"])
    assert [c["file"] for c in result["clips"]] == list(CLIPS)
    for c in result["clips"]:
        labels = [e["label"] for e in c["events"]]
        assert (c["kind"], c["verdict"], c["distance"], c["distance_known"]) == judge(c["signs"], labels, known)
        assert not set(labels) & set(result["rest_labels"]) and set(labels) <= known
        assert c["frames"] > 30 and c["seconds"] > 0
        assert all(e["frame"] < c["frames"] for e in c["events"])
    s = result["summary"]
    assert s["known"]["clips"] + s["other"]["clips"] == len(CLIPS) and s["sentence"]["clips"] == 0


def test_the_same_events_as_signd_run(evaluated):
    import subprocess

    clip = shared_path("videos", "hello.mp4")
    proc = subprocess.run([*signd_cmd(), "run", "--source", str(clip), "--fast"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ran = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    ours = next(c for c in evaluated[0]["clips"] if c["file"] == "hello.mp4")
    assert ours["events"] == [{"label": e["label"], "frame": e["frame"], "score": e["score"]} for e in ran]

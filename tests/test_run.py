"""`signd run` as users run it: a real subprocess, events on stdout, logs on stderr."""

import json
import shutil

import numpy as np

from signd.daemon.recordings import load_npz

from conftest import run_signd, shared_path
from modelkit import save_mp_data, save_npz, synthetic_recording


def events_of(proc):
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    events = [json.loads(line) for line in lines]  # every stdout line is one JSON event
    assert all(e["v"] == 1 and e["type"] == "gesture" for e in events)
    return events


def expected(rec):
    return [(rec.label_of(i), 30 * i + 29) for i in range(len(rec.y))]


def test_npz_replay_one_event_per_sign(synthetic_npz, synthetic_model, synthetic_rec):
    p = run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast")
    events = events_of(p)
    assert [(e["label"], e["frame"]) for e in events] == expected(synthetic_rec)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "INFO" in p.stderr and "windows 30, events 30" in p.stderr


def test_mp_data_replay_one_event_per_sign(tmp_path, synthetic_model, synthetic_rec):
    root = save_mp_data(synthetic_rec, tmp_path / "MP_Data")
    events = events_of(run_signd("run", "--source", str(root), "--model", str(synthetic_model), "--fast"))
    assert [(e["label"], e["frame"]) for e in events] == expected(synthetic_rec)


def test_shared_signer_replay(signer_model):
    path = shared_path("signers", "jonathanroddy.npz")
    rec = load_npz(path)
    # The fixture model is small and fit in seconds; 0.5 keeps the check about the pipeline
    # (one event per clip, right label) rather than about how confident that model came out.
    p = run_signd("run", "--source", str(path), "--model", str(signer_model), "--fast", "--threshold", "0.5")
    events = events_of(p)
    assert [(e["label"], e["frame"]) for e in events] == expected(rec)
    for e in events:
        assert e["score"] >= 0.5 and list(e["top"])[0] == e["label"] and e["latency_ms"] >= 0


def test_sentence_rides_along(synthetic_npz, synthetic_model):
    events = events_of(run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast"))
    assert events[-1]["sentence"][-1] == events[-1]["label"]
    assert len(events[-1]["sentence"]) <= 5


def test_bare_model_with_labels(tmp_path, synthetic_npz, synthetic_model, synthetic_rec):
    bare = tmp_path / "action.tflite"
    shutil.copy(synthetic_model, bare)
    p = run_signd("run", "--source", str(synthetic_npz), "--model", str(bare), "--fast",
                  "--labels", ",".join(synthetic_rec.labels))
    assert len(events_of(p)) == len(synthetic_rec.y)


# -- bad input: one line naming the culprit, a non-zero exit -------------------------------


def one_error_line(p, code, pattern):
    import re

    assert p.returncode == code, (p.returncode, p.stderr)
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, p.stderr
    assert re.search(pattern, errors[0]), errors[0]
    assert "Traceback" not in p.stderr
    assert p.stdout == ""


def test_missing_source(synthetic_model, tmp_path):
    p = run_signd("run", "--source", str(tmp_path / "gone.mp4"), "--model", str(synthetic_model))
    one_error_line(p, 66, r"source not found: .*gone\.mp4")


def test_video_without_frames(tmp_path, synthetic_model):
    import cv2

    v = tmp_path / "empty.mp4"
    cv2.VideoWriter(str(v), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48)).release()
    one_error_line(run_signd("run", "--source", str(v), "--model", str(synthetic_model)), 65, r"empty\.mp4: no frames")


def test_ragged_mp_data(tmp_path, synthetic_model):
    root = save_mp_data(synthetic_recording(n_per_class=2), tmp_path / "MP_Data")
    (root / "hello" / "1" / "0.npy").unlink()
    one_error_line(run_signd("run", "--source", str(root), "--model", str(synthetic_model)), 65,
                   r"MP_Data/hello/1: ragged sequence")


def test_wrong_frame_length(tmp_path, synthetic_model):
    root = save_mp_data(synthetic_recording(n_per_class=2), tmp_path / "MP_Data")
    np.save(root / "thanks" / "0" / "12.npy", np.zeros(1000, np.float32))
    one_error_line(run_signd("run", "--source", str(root), "--model", str(synthetic_model)), 65,
                   r"MP_Data/thanks/0/12\.npy: frame has 1000 values")


def test_signer_file_with_nan(tmp_path, synthetic_model):
    rec = synthetic_recording(n_per_class=2)
    rec.X[1, 2, 3] = np.nan
    bad = save_npz(rec, tmp_path / "signer.npz")
    one_error_line(run_signd("run", "--source", str(bad), "--model", str(synthetic_model)), 65,
                   r"signer\.npz: non-finite value .*hello/1")


def test_model_missing(synthetic_npz, tmp_path):
    one_error_line(run_signd("run", "--source", str(synthetic_npz), "--model", str(tmp_path / "none.tflite")),
                   66, r"model not found: .*none\.tflite")


def test_model_truncated(synthetic_npz, synthetic_model, tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(synthetic_model.read_bytes()[:30000])
    one_error_line(run_signd("run", "--source", str(synthetic_npz), "--model", str(cut), "--labels", "a,b,c"),
                   65, r"cut\.tflite: .*truncated")


def test_model_not_tflite(synthetic_npz, tmp_path):
    h5 = tmp_path / "action.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    one_error_line(run_signd("run", "--source", str(synthetic_npz), "--model", str(h5), "--labels", "a,b,c"),
                   65, r"action\.h5: not a TFLite model")


def test_model_input_shape_does_not_match_features(tmp_path, synthetic_npz):
    from signd.models.manifest import read_manifest, write_manifest

    from modelkit import tutorial_sized_tflite

    m = tutorial_sized_tflite(tmp_path / "action.tflite", dim=1662)
    man = read_manifest(m)
    man.layout = "pose-hands-258"
    write_manifest(m, man)
    one_error_line(run_signd("run", "--source", str(synthetic_npz), "--model", str(m)), 65,
                   r"action\.tflite: model input shape \[1, 30, 1662\] does not match the features \[1, 30, 258\]")


def test_source_layout_cannot_feed_model(tmp_path, synthetic_npz):
    from modelkit import tutorial_sized_tflite

    m = tutorial_sized_tflite(tmp_path / "action.tflite", dim=1662)
    one_error_line(run_signd("run", "--source", str(synthetic_npz), "--model", str(m)), 65,
                   r"synthetic\.npz: the source gives pose-hands-258 keypoints but the model .* needs tutorial-1662")


def test_window_in_seconds_equals_the_frame_window_at_the_recordings_rate(synthetic_npz, synthetic_model):
    a = events_of(run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast"))
    p = run_signd("run", "--source", str(synthetic_npz), "--model", str(synthetic_model), "--fast", "--window-seconds", "1")
    b = events_of(p)
    assert "window: 30 rows over 1 s" in p.stderr
    assert [(e["label"], e["frame"], e["score"]) for e in a] == [(e["label"], e["frame"], e["score"]) for e in b]


def test_window_span_comes_from_the_model_unless_configured(synthetic_model):
    from dataclasses import replace

    from signd.daemon.assemble import recognition
    from signd.daemon.classifier import Classifier
    from signd.daemon.config import load_config

    def seconds(cfg, c):
        return recognition(cfg, c).window.seconds

    c = Classifier.load(synthetic_model)
    assert seconds(load_config(None), c) == 0  # no recommendation: frames
    c.manifest.runtime = replace(c.manifest.runtime, window_seconds=1.0)
    assert seconds(load_config(None), c) == 1.0
    assert seconds(load_config(None, {"window": {"seconds": 0}}), c) == 0
    assert seconds(load_config(None, {"window": {"seconds": 2}}), c) == 2.0

"""`signd bench` as a user runs it: a real subprocess, its JSON report checked for what each
figure needs (no wall-clock assertion: the figures themselves are for the notes)."""

import json

from conftest import run_signd, shared_path


def report(*args: str) -> dict:
    r = run_signd("bench", *args, "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_replay_is_timed_per_stage_without_a_mediapipe_peer(synthetic_npz, synthetic_model):
    r = report("--source", str(synthetic_npz), "--model", str(synthetic_model), "--rounds", "2")
    (m,) = r["models"]
    assert m["frames"] > 0 and m["windows"] > 0 and len(m["fps"]) == 2
    assert m["frames_dropped"] == 0 and m["events_dropped"] == 0
    for stage in ("inference", "smoothing", "handoff", "post_extraction"):
        t = m["timings_ms"][stage]
        assert 0 <= t["p50"] <= t["p95"] <= t["max"] and t["n"] > 0
    assert {"warm_mb", "end_mb", "growth_mb"} <= set(m["rss"])
    assert "holistic_alone" not in r and "throughput_ratio" not in r


def test_a_video_gets_holistic_alone_on_either_side_of_every_round(synthetic_model):
    video = shared_path("videos", "hello.mp4")
    r = report("--source", str(video), "--rounds", "2", "--compare-model", str(synthetic_model))
    assert len(r["models"]) == 2  # the shipped model and the compared one, alternating
    shipped = r["models"][0]
    assert shipped["frames"] == 37 and len(shipped["fps"]) == 2
    assert shipped["timings_ms"]["extraction"]["n"] == 2 * 37
    alone = r["holistic_alone"]["fps"]
    assert len(alone) == 3 and all(f > 0 for f in alone)  # before round 1, after each round
    per_round = r["throughput_ratio"]["per_round"]
    want = [round(shipped["fps"][i] / ((alone[i] + alone[i + 1]) / 2), 3) for i in range(2)]
    assert per_round == want
    assert len(r["graph_alone"]["fps"]) == 2 and len(r["throughput_vs_graph_alone"]["per_round"]) == 2
    assert len(r["sequential_loop"]["fps"]) == 2

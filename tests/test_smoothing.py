import numpy as np
import pytest

from signd.daemon.smoothing import Smoother, SmoothingConfig

LABELS = ["hello", "thanks", "iloveyou", "blank"]


def probs(label, p=0.9):
    if label is None:
        return np.full(len(LABELS), 1 / len(LABELS), np.float32)
    v = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1), np.float32)
    v[LABELS.index(label)] = p
    return v


def feed(sm, seq, fps=30.0, start=0, p=0.9):
    out = []
    for i, label in enumerate(seq, start):
        d = sm.update(probs(label, p), i, i / fps, i / fps)
        if d is not None:
            out.append((i, d.label))
    return out


def test_held_pose_gives_one_event():
    sm = Smoother(LABELS)
    assert feed(sm, ["hello"] * 300) == [(2, "hello")]


def test_same_sign_twice_after_release_gives_two_events():
    sm = Smoother(LABELS)
    seq = ["hello"] * 20 + [None] * 20 + ["hello"] * 20
    assert [lab for _, lab in feed(sm, seq)] == ["hello", "hello"]


def test_flicker_is_ignored():
    sm = Smoother(LABELS)
    seq = [None] * 5 + ["thanks"] * 2 + [None] * 5 + ["iloveyou"] + [None] * 20
    assert feed(sm, seq) == []


def test_below_threshold_never_fires():
    sm = Smoother(LABELS, SmoothingConfig(threshold=0.7))
    assert feed(sm, ["hello"] * 50, p=0.6) == []


def test_two_different_signs_back_to_back():
    sm = Smoother(LABELS)
    events = feed(sm, ["hello"] * 30 + ["thanks"] * 30)
    assert [lab for _, lab in events] == ["hello", "thanks"]
    # thanks needs the majority of the last 10 windows: 6 of them
    assert events[1][0] == 30 + 5


def test_cooldown_delays_the_next_event():
    sm = Smoother(LABELS, SmoothingConfig(cooldown=2.0))
    events = feed(sm, ["hello"] * 30 + ["thanks"] * 60 + [None] * 5, fps=30)
    assert [lab for _, lab in events] == ["hello", "thanks"]
    assert events[1][0] - events[0][0] == 60  # exactly 2 s of media time later


def test_rest_label_never_fires():
    sm = Smoother(LABELS)
    assert feed(sm, ["blank"] * 100) == []


def test_end_segment_fires_a_short_clip_once():
    sm = Smoother(LABELS)
    assert feed(sm, ["iloveyou"]) == []
    d = sm.end_segment()
    assert d is not None and d.label == "iloveyou" and d.frame == 0
    assert sm.end_segment() is None


def test_end_segment_does_not_repeat_a_fired_sign_or_fire_noise():
    sm = Smoother(LABELS)
    feed(sm, ["hello"] * 10)
    assert sm.end_segment() is None  # already fired
    feed(sm, ["thanks"], p=0.5, start=100)
    assert sm.end_segment() is None  # below threshold
    feed(sm, [None, None, "thanks"], start=200)
    assert sm.end_segment() is None  # no majority


def test_sentence_keeps_last_five_distinct_words():
    sm = Smoother(LABELS, SmoothingConfig(cooldown=0))
    words = ["hello", "thanks", "hello", "iloveyou", "thanks", "hello", "iloveyou"]
    seq = []
    for w in words:
        seq += [w] * 15 + [None] * 15
    events = feed(sm, seq)
    assert [lab for _, lab in events] == words
    d = None
    sm2 = Smoother(LABELS, SmoothingConfig(cooldown=0))
    for i, label in enumerate(seq):
        d = sm2.update(probs(label), i, 0, i / 30) or d
    assert d.sentence == words[-5:]


def test_score_is_mean_of_deciding_windows():
    sm = Smoother(LABELS)
    d = None
    for i, p in enumerate([0.8, 0.9, 1.0]):
        d = sm.update(probs("hello", p), i, 0, i / 30)
    assert d is not None and d.score == pytest.approx(0.9, abs=1e-6)


@pytest.mark.parametrize("bad", [dict(majority=0), dict(threshold=1.5), dict(cooldown=-1)])
def test_bad_config(bad):
    with pytest.raises(ValueError):
        SmoothingConfig(**bad)
